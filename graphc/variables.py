"""Variables: named mutable state owned by the runtime, read and updated by compiled code.

A Variable's value lives in an aligned numpy buffer; compiled functions receive its
address and update it in place, so a training step never copies parameters between
Python and native code. Inside a trace, reading a Variable yields a ``read_variable``
node (never a constant) and ``assign`` records the new value as a variable update.
"""
from __future__ import annotations

import itertools

import numpy as np

from . import dtypes
from ._runtime.buffers import aligned_copy
from .errors import ShapeError

_uids = itertools.count()


class Variable:
    """Mutable state of a model (weights, optimizer slots, counters).

    ``gc.Variable(initial_value, name=None, trainable=True, dtype=None)`` holds an array
    that compiled functions read and update in place (``v.assign(x)``,
    ``v.assign_add(x)``, an optimizer's ``minimize``); ``v.numpy()`` returns its value.
    Inside a compiled function a Variable behaves like an array of its shape and dtype.
    Raises ``DTypeError`` for an unsupported dtype.

        w = gc.Variable(np.zeros((3, 2), np.float32), name="w")
        f = gc.compile(lambda x: x @ w)
    """

    _graphc_variable = True

    def __init__(self, initial_value, name: str | None = None, trainable: bool = True, dtype=None):
        value = np.asarray(initial_value if not callable(initial_value) else initial_value(), dtype=dtype)
        if value.dtype == np.float64 and dtype is None and not isinstance(initial_value, np.ndarray):
            value = value.astype(np.float32)  # Python floats become float32 variables, as in TF
        dt = dtypes.canonical(value.dtype)
        self._value = aligned_copy(value.astype(dt))
        self.uid = next(_uids)
        self.name = name or f"Variable_{self.uid}"
        self.trainable = trainable
        from .device import current_device

        self.device = current_device()  # gc.device(...) around the creation pins it
        self._device_copy = None  # a GPU-resident copy (graphc._runtime.gpu_executable)

    # -- static info -----------------------------------------------------------------------
    @property
    def shape(self):
        return self._value.shape

    @property
    def dtype(self):
        from .dtypes import dtype_name

        return dtype_name(self._value.dtype)

    @property
    def ndim(self):
        return self._value.ndim

    def __repr__(self):
        return f"<graphc.Variable '{self.name}' {self.dtype}{list(self.shape)}>"

    def __hash__(self):
        return hash(self.uid)

    def __eq__(self, other):
        return self is other

    # -- host access -----------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A copy of the current value."""
        return self._host_value().copy()

    def _storage_for_call(self) -> np.ndarray:
        """The buffer compiled code reads and writes in place."""
        return self._host_value(write=True)

    def _host_value(self, write: bool = False) -> np.ndarray:
        """The host buffer, first made current when a GPU-resident copy is newer; ``write``
        means the caller will modify it, which makes the GPU copy stale."""
        copy = getattr(self, "_device_copy", None)
        if copy is not None:
            copy.sync_host(self._value, write)
        return self._value

    def _check(self, value):
        value = np.asarray(value)
        if value.shape != self.shape:
            raise ShapeError(f"cannot assign a value of shape {value.shape} to variable '{self.name}' of shape {self.shape}")
        return value.astype(self.dtype, copy=False)

    # -- assignment (eager outside a trace, recorded inside one) ------------------------------
    def _traced(self, value, combine):
        from .tracing import Tensor, current_trace
        from .ops.elementwise import add, subtract

        trace = value.trace if isinstance(value, Tensor) else current_trace()
        if trace is None:
            return None
        from .ops.common import cast_to
        from .ops.shape_ops import broadcast_to

        current = self.value()
        value = cast_to(value, self.dtype)
        if combine == "add":
            value = add(current, value)
        elif combine == "sub":
            value = subtract(current, value)
        value = broadcast_to(value, self.shape)
        from .tracing import as_node

        trace.write_variable(self, as_node(value, trace))
        return self.value()

    def assign(self, value):
        """Set the value (inside a compiled function: recorded as an update)."""
        r = self._traced(value, None)
        if r is not None:
            return r
        self._host_value(write=True)[...] = self._check(value)
        return self

    def assign_add(self, delta):
        r = self._traced(delta, "add")
        if r is not None:
            return r
        host = self._host_value(write=True)
        host[...] = host + self._check(delta)
        return self

    def assign_sub(self, delta):
        r = self._traced(delta, "sub")
        if r is not None:
            return r
        host = self._host_value(write=True)
        host[...] = host - self._check(delta)
        return self

    def value(self):
        """The current value: a Tensor inside a trace, a numpy copy outside."""
        from .tracing import Tensor, current_trace

        trace = current_trace()
        if trace is None:
            return self.numpy()
        return Tensor(trace.read_variable(self), trace)

    # -- operators: a Variable behaves like its value ---------------------------------------
    def _v(self):
        return self.value()


def _forward(name):
    def method(self, *args, **kwargs):
        return getattr(self._v(), name)(*args, **kwargs)
    method.__name__ = name
    return method


for _name in ["__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
              "__rtruediv__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__neg__", "__getitem__",
              "__lt__", "__le__", "__gt__", "__ge__", "reshape", "sum", "mean", "max", "min", "astype", "transpose"]:
    setattr(Variable, _name, _forward(_name))
Variable.T = property(lambda self: self._v().T)
Variable.__array_priority__ = 1000
