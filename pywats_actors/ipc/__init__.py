"""The node's control plane: a msgpack-RPC server on a local socket, and its client.

``docs/ipc.md`` is the protocol for GUI authors in any language.
"""

from ._client import IpcClient as IpcClient
from ._client import call_ipc as call_ipc
from ._client import find_instance as find_instance
from ._client import open_ipc_client as open_ipc_client
from ._discovery import Discovered as Discovered
from ._discovery import discovery_dir as discovery_dir
from ._discovery import discovery_path as discovery_path
from ._discovery import list_instances as list_instances
from ._errors import FrameInvalid as FrameInvalid
from ._errors import FrameTooLarge as FrameTooLarge
from ._errors import IpcCallError as IpcCallError
from ._errors import IpcConnectionError as IpcConnectionError
from ._errors import IpcError as IpcError
from ._framing import Framer as Framer
from ._methods import METHODS as METHODS
from ._protocol import API_LEVEL as API_LEVEL
from ._protocol import COMPATIBLE_LEVELS as COMPATIBLE_LEVELS
from ._protocol import ErrorCode as ErrorCode
from ._server import instance_paths as instance_paths
from ._server import run_ipc_server as run_ipc_server
from ._token import TOKEN_FILE_NAME as TOKEN_FILE_NAME
from ._token import ensure_token as ensure_token
from ._token import read_ipc_token as read_ipc_token
from ._token import rotate_token as rotate_token

__all__ = [
    "API_LEVEL",
    "COMPATIBLE_LEVELS",
    "METHODS",
    "TOKEN_FILE_NAME",
    "Discovered",
    "ErrorCode",
    "FrameInvalid",
    "FrameTooLarge",
    "Framer",
    "IpcCallError",
    "IpcClient",
    "IpcConnectionError",
    "IpcError",
    "call_ipc",
    "discovery_dir",
    "discovery_path",
    "ensure_token",
    "find_instance",
    "instance_paths",
    "list_instances",
    "open_ipc_client",
    "read_ipc_token",
    "rotate_token",
    "run_ipc_server",
]
