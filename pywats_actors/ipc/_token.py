"""The shared secret of an instance's IPC socket: 256 random bits in a 0600 file.

The node creates the file at its first start and reads it again at every handshake, so that
``pywats-node token rotate`` takes effect for the next connection without a restart.
Comparison is in constant time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from ..config import write_config_atomically

__all__ = ["TOKEN_FILE_NAME", "ensure_token", "read_ipc_token", "rotate_token", "token_matches"]

TOKEN_FILE_NAME = "ipc.token"
"""The token file's name in the instance's data folder."""


def read_ipc_token(path: str | os.PathLike[str]) -> str:
    """The token in *path* (64 hex digits).

    Raises:
        OSError: the file cannot be read.
        ValueError: it does not hold a token.
    """
    text = Path(path).read_text(encoding="ascii", errors="replace").strip()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"{path} does not hold an IPC token (64 hex digits)")
    return text


def ensure_token(path: str | os.PathLike[str]) -> str:
    """The token in *path*, created (mode 0600, with its folder) if there is none."""
    try:
        return read_ipc_token(path)
    except FileNotFoundError:
        return rotate_token(path)


def rotate_token(path: str | os.PathLike[str]) -> str:
    """Write a new random token to *path* atomically (mode 0600) and return it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_hex(32)  # 256 bits
    write_config_atomically(target, token + "\n", mode=0o600)
    return token


def token_matches(path: str | os.PathLike[str], offered: object) -> bool:
    """Whether *offered* is the token now in *path*, compared in constant time; a file that
    cannot be read matches nothing."""
    try:
        expected = read_ipc_token(path)
    except (OSError, ValueError):
        return False
    if not isinstance(offered, str):
        return False
    return hmac.compare_digest(expected.encode(), offered.encode("utf-8", "replace"))
