"""The message shapes of the IPC protocol (msgpack-RPC) and its error codes.

A request is ``[0, msgid, method, params]``, a response ``[1, msgid, error, result]`` and a
notification ``[2, method, params]``. ``params`` is an array of positional arguments; every
method of this API takes at most one, a map (a bare map is accepted as well). An error is
``[code, message, data]`` with one of the codes of :class:`ErrorCode`.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ._errors import IpcCallError

__all__ = [
    "API_LEVEL",
    "COMPATIBLE_LEVELS",
    "ErrorCode",
    "Notification",
    "Request",
    "Response",
    "decode_message",
    "encode_response",
    "error_value",
    "single_map",
]

API_LEVEL = 1
"""The protocol level this server speaks (``hello`` answers it as ``api_level``)."""

COMPATIBLE_LEVELS = (1,)
"""The ``protocol_version`` values of clients this server accepts."""

MsgId = Annotated[int, Meta(ge=0, le=0xFFFFFFFF)]


class ErrorCode(enum.IntEnum):
    """The codes of structured errors (``docs/ipc.md`` lists them with their meaning)."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL = -32603
    UNAUTHORIZED = 1
    INCOMPATIBLE_VERSION = 2
    HANDSHAKE_REQUIRED = 3
    RATE_LIMITED = 4
    TOO_LARGE = 5
    TOO_MANY_CONNECTIONS = 6
    TIMEOUT = 7


class Request(msgspec.Struct, array_like=True, tag=0, frozen=True):
    """``[0, msgid, method, params]``."""

    msgid: MsgId
    method: str
    params: msgspec.Raw


class Response(msgspec.Struct, array_like=True, tag=1, frozen=True):
    """``[1, msgid, error, result]``; *msgid* is nil for an error about a message whose id
    could not be read."""

    msgid: MsgId | None
    error: Any
    result: Any


class Notification(msgspec.Struct, array_like=True, tag=2, frozen=True):
    """``[2, method, params]``."""

    method: str
    params: msgspec.Raw


_DECODER = msgspec.msgpack.Decoder(Request | Response | Notification)
_ANY = msgspec.msgpack.Decoder()
_ENCODER = msgspec.msgpack.Encoder()


def decode_message(data: bytes) -> Request | Response | Notification:
    """One message, checked against the three shapes.

    Raises:
        IpcCallError: ``INVALID_REQUEST`` with msgspec's description of what is wrong.
    """
    try:
        message: Request | Response | Notification = _DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise IpcCallError(ErrorCode.INVALID_REQUEST, f"not a request: {exc}") from None
    return message


def encode_response(msgid: int | None, error: list[Any] | None, result: Any) -> bytes:
    """``[1, msgid, error, result]`` as bytes."""
    return _ENCODER.encode(Response(msgid, error, result))


def error_value(code: ErrorCode, message: str, data: Any = None) -> list[Any]:
    """``[code, message, data]``."""
    return [int(code), message, data]


def single_map(params: msgspec.Raw) -> dict[str, Any]:
    """The one map argument of a method: ``[{...}]``, ``{...}``, or nothing (``[]``, nil).

    Raises:
        IpcCallError: ``INVALID_PARAMS`` for anything else.
    """
    value = _ANY.decode(params)
    if value is None or value == []:
        return {}
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise IpcCallError(
            ErrorCode.INVALID_PARAMS, "params must be [] or [{...}]: one map with string keys"
        )
    return value
