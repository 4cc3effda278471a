"""The converter SDK: the protocol a converter implements, built-in converters, and the sandbox.

Converters turn one test-result file into one or more WATS reports. They run in sandboxed worker
processes, so a malformed file or a faulty plug-in can never take the node down.
"""

from __future__ import annotations

from ._errors import ConverterError as ConverterError

__all__ = ["ConverterError"]
