"""tf.errors: the exception classes TF 1.x raises from Session.run.

InvalidArgumentError also derives from ValueError so a caller catching the Python
builtin still sees bad feeds.
"""
from __future__ import annotations


class OpError(Exception):
    """An error raised while running a graph (TF's base class)."""

    def __init__(self, node_def=None, op=None, message=""):
        super().__init__(message)
        self.node_def = node_def
        self.op = op
        self.message = message

    def __str__(self):
        return self.message


class InvalidArgumentError(OpError, ValueError):
    """A missing feed or a feed of the wrong shape/dtype."""


class FailedPreconditionError(OpError):
    """An uninitialized variable was read."""


class NotFoundError(OpError):
    """A checkpoint or file does not exist."""


class OutOfRangeError(OpError):
    """An input is exhausted."""


class UnimplementedError(OpError):
    """The operation is not supported by graphc."""


class InternalError(OpError):
    """graphc failed to compile or run the graph."""


class CancelledError(OpError):
    """An operation was cancelled (an enqueue to a closed queue, or pending when the
    queue was closed with cancel_pending_enqueues, or its session closed)."""


class AbortedError(OpError):
    """An operation was aborted."""
