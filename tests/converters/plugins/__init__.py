"""Converters used by the tests; the pool loads them by file path (``file.py:Class``)."""
