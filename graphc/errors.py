"""Exceptions raised by graphc.

Every error a user can trigger while tracing or calling a compiled function is a
``GraphcError`` subclass whose message names the op, the operand shapes/dtypes and the
user's source line (captured when the node was traced), so a mistake deep inside a
model points back at the line that caused it.
"""
from __future__ import annotations

import os
import sys

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


class GraphcError(Exception):
    """Base class of graphc's errors."""


class ShapeError(GraphcError, ValueError):
    """Operand shapes are incompatible with the op."""


class IndexingError(ShapeError, IndexError):
    """An index is out of bounds or malformed (numpy raises IndexError, so this is one;
    it is also a ShapeError)."""


class DTypeError(GraphcError, TypeError):
    """An operand dtype is not supported by the op."""


class ArgumentError(GraphcError, TypeError):
    """A non-array argument of an op (a shape entry, an axis) has the wrong Python type
    (numpy raises TypeError there, so this is one too)."""


class InvalidValueError(GraphcError, ValueError):
    """An operand's value is outside what the op accepts (numpy raises ValueError, e.g.
    integers to negative integer powers)."""


class ScalarOverflowError(GraphcError, OverflowError):
    """A Python int operand does not fit the array's integer dtype (numpy raises
    OverflowError: ``int32_array + 2**40``)."""


class UnknownOpError(GraphcError, KeyError):
    """An op name is not in the registry."""

    def __str__(self):  # KeyError would repr() the message
        return self.args[0] if self.args else ""


class TraceError(GraphcError):
    """The traced Python function did something a graph cannot express."""


class VerificationError(GraphcError):
    """The IR violates an invariant (a bug in a pass, reported with the pass name)."""


class CompileError(GraphcError):
    """Code generation or native compilation failed."""


class DeviceError(GraphcError):
    """A device is missing or an op has no kernel for the requested device."""


class ExportError(GraphcError):
    """The function cannot be exported ahead of time, or an exported library cannot be loaded."""


class OutOfMemoryError(GraphcError, MemoryError):
    """A buffer (an output, a workspace, a contiguous copy of an input) is larger than the
    machine's memory; raised before allocating, instead of paging or failing later."""


class CheckpointError(GraphcError):
    """A checkpoint file is missing, truncated, corrupted or does not match the variables;
    the message names the file and what is wrong. Restoring raises it before assigning
    anything, so every variable keeps its value."""


def user_source_line() -> str:
    """Return "file:line" of the innermost stack frame outside the graphc package.

    Why: errors must point at the user's model code, not at graphc internals.
    """
    frame = sys._getframe(1)
    while frame is not None:
        code_file = frame.f_code.co_filename
        internal = _internal_files.get(code_file)
        if internal is None:  # abspath per frame made this a tenth of tracing time: memoized per file
            filename = os.path.abspath(code_file)
            internal = _internal_files[code_file] = (
                filename.startswith(_PKG_DIR) or "/_pytest/" in filename or "pluggy" in filename)
        if not internal:
            return f"{code_file}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown>"


_internal_files: dict = {}  # co_filename -> whether it is graphc's (or pytest's) own
