"""OTP-style supervision for Trio.

Children are async functions described by :class:`ChildSpec`; a :class:`Supervisor` starts
them in order, restarts them by its :class:`Strategy` and their :class:`Restart` type, gives
up (and escalates) when restarts exceed its intensity, and stops them in reverse order, each
by its shutdown spec. A child's exception is contained and reported as an :class:`ExitReason`;
cancellation always propagates. See ``docs/supervisors.md``.
"""

from __future__ import annotations

from ._backoff import Backoff as Backoff
from ._context import ChildContext as ChildContext
from ._context import current_child as current_child
from ._context import current_child_or_none as current_child_or_none
from ._errors import ChildStartError as ChildStartError
from ._errors import DeadChannel as DeadChannel
from ._errors import InvalidSpec as InvalidSpec
from ._errors import MaxChildrenReached as MaxChildrenReached
from ._errors import ProcessExited as ProcessExited
from ._errors import SupervisorError as SupervisorError
from ._errors import SupervisorGaveUp as SupervisorGaveUp
from ._errors import UnknownChild as UnknownChild
from ._errors import describe_returncode as describe_returncode
from ._events import ChildExited as ChildExited
from ._events import ChildRestarting as ChildRestarting
from ._events import ChildStarted as ChildStarted
from ._events import ChildState as ChildState
from ._events import ChildStatistics as ChildStatistics
from ._events import EventObserver as EventObserver
from ._events import SupervisorEvent as SupervisorEvent
from ._events import SupervisorGaveUpEvent as SupervisorGaveUpEvent
from ._events import SupervisorStatistics as SupervisorStatistics
from ._events import SupervisorStopped as SupervisorStopped
from ._frames import FRAME_HEADER as FRAME_HEADER
from ._frames import FrameError as FrameError
from ._frames import FrameReader as FrameReader
from ._frames import pipe_error as pipe_error
from ._frames import write_all as write_all
from ._open import open_supervisor as open_supervisor
from ._process import open_supervised_process as open_supervised_process
from ._process import process_child as process_child
from ._process import process_spec as process_spec
from ._reasons import ExitKind as ExitKind
from ._reasons import ExitReason as ExitReason
from ._reasons import NormalShutdown as NormalShutdown
from ._spec import BRUTAL_KILL as BRUTAL_KILL
from ._spec import INFINITY as INFINITY
from ._spec import AutoShutdown as AutoShutdown
from ._spec import BrutalKill as BrutalKill
from ._spec import ChildSpec as ChildSpec
from ._spec import Clone as Clone
from ._spec import Infinity as Infinity
from ._spec import Restart as Restart
from ._spec import ShutdownSpec as ShutdownSpec
from ._spec import Strategy as Strategy
from ._spec import Timeout as Timeout
from ._supervisor import DynamicSupervisor as DynamicSupervisor
from ._supervisor import Supervisor as Supervisor
from ._supervisor import TaskContextFactory as TaskContextFactory

__all__ = [
    "BRUTAL_KILL",
    "FRAME_HEADER",
    "INFINITY",
    "AutoShutdown",
    "Backoff",
    "BrutalKill",
    "ChildContext",
    "ChildExited",
    "ChildRestarting",
    "ChildSpec",
    "ChildStartError",
    "ChildStarted",
    "ChildState",
    "ChildStatistics",
    "Clone",
    "DeadChannel",
    "DynamicSupervisor",
    "EventObserver",
    "ExitKind",
    "ExitReason",
    "FrameError",
    "FrameReader",
    "Infinity",
    "InvalidSpec",
    "MaxChildrenReached",
    "NormalShutdown",
    "ProcessExited",
    "Restart",
    "ShutdownSpec",
    "Strategy",
    "Supervisor",
    "SupervisorError",
    "SupervisorEvent",
    "SupervisorGaveUp",
    "SupervisorGaveUpEvent",
    "SupervisorStatistics",
    "SupervisorStopped",
    "TaskContextFactory",
    "Timeout",
    "UnknownChild",
    "current_child",
    "current_child_or_none",
    "describe_returncode",
    "open_supervised_process",
    "open_supervisor",
    "pipe_error",
    "process_child",
    "process_spec",
    "write_all",
]
