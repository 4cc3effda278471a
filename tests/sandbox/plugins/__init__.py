"""Hostile converter plug-ins (see hostile.py)."""
