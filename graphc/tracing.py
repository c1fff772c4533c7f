"""Tracing: running the user's Python function on symbolic Tensors to build a Graph.

Every graphc op function calls ``bind(op_name, inputs, **attrs)``. Inside a trace it
infers the output type with the op's shape rule (so errors surface at the user's line),
appends a Node and returns a ``Tensor`` wrapping it. Outside a trace (plain numpy
arguments) it runs the op's numpy reference instead, so ``gc.exp(np_array)`` works
eagerly just as the compiled version would.
"""
from __future__ import annotations

import math
import threading

import numpy as np

from . import dtypes, numpy_interop
from .errors import GraphcError, ShapeError, TraceError, user_source_line
from .ir import Graph, Node, TensorType
from .ops.registry import get_op

# The traces under construction, innermost last, per thread: two threads compiling at
# once each see only their own (a shared stack would hand one thread's ops to the other).
_local = threading.local()


def _trace_stack() -> list:
    stack = getattr(_local, "traces", None)
    if stack is None:
        stack = _local.traces = []
    return stack


class Trace:
    """The graph under construction plus per-trace state (variables, device scope)."""

    def __init__(self, name="main"):
        self.graph = Graph(name)
        self.var_values: dict = {}     # Variable -> current Node (after assigns)
        self.device_stack: list[str] = []
        self.meta: dict = {}           # extension state (optimizers, collections, rng)

    def add(self, node: Node) -> Node:
        if self.device_stack and node.device is None:
            node.device = self.device_stack[-1]
        self.graph.nodes.append(node)
        return node

    def read_variable(self, var) -> Node:
        node = self.var_values.get(var)
        if node is None:
            node = Node("read_variable", [], {"var": var}, TensorType(var.shape, var.dtype), user_source_line())
            self.graph.var_reads[var] = node
            self.add(node)
            self.var_values[var] = node
        return node

    def write_variable(self, var, node: Node) -> None:
        self.var_values[var] = node
        self.graph.var_updates[var] = node

    def __enter__(self):
        _trace_stack().append(self)
        return self

    def __exit__(self, *exc):
        _trace_stack().remove(self)


def current_trace() -> Trace | None:
    stack = _trace_stack()
    return stack[-1] if stack else None


class Tensor:
    """A symbolic value inside a trace; supports numpy-style operators and methods."""

    __slots__ = ("node", "trace", "__weakref__")
    __array_priority__ = 1000  # so ndarray + Tensor defers to Tensor.__radd__

    def __init__(self, node: Node, trace: Trace):
        self.node = node
        self.trace = trace

    # -- static information ----------------------------------------------------------
    @property
    def shape(self):
        return self.node.type.shape

    @property
    def dtype(self):
        return np.dtype(self.node.type.dtype)

    @property
    def ndim(self):
        return len(self.node.type.shape)

    @property
    def size(self):
        return self.node.type.size

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self):
        return f"Tensor({self.node.type}, op={self.node.op})"

    def __bool__(self):
        raise TraceError("the truth value of a traced Tensor is not known at trace time; "
                         f"use gc.where or gc.scan instead of Python control flow\n  at {user_source_line()}")

    # numpy on a traced value: a NumpyOnTracedValueError naming the numpy function and the
    # graphc one to use (ndarray-operator ufuncs run the Tensor's operator): numpy_interop.py
    __array__ = numpy_interop.array
    __array_ufunc__ = numpy_interop.array_ufunc
    __array_function__ = numpy_interop.array_function

    def __hash__(self):
        return id(self)

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    # operators and methods are attached in graphc/ops/methods.py (they need the ops)


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def _trace_of(inputs) -> Trace | None:
    """The trace an op on ``inputs`` belongs to: the current trace when it is a nested
    body (outer values it uses become captures), else the trace of the first Tensor."""
    current = current_trace()
    traces = [x.trace for x in inputs if isinstance(x, Tensor)]
    if not traces:
        return current
    if current is not None and (current in traces or hasattr(current, "capture")):
        return current
    return traces[0]


def constant_node(value, trace: Trace, dtype=None) -> Node:
    arr = np.asarray(value, dtype=dtype)
    name = dtypes.canonical(arr.dtype)
    arr = np.array(arr, dtype=name, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
    arr.setflags(write=False)
    node = Node("constant", [], {"value": arr}, TensorType(arr.shape, name), user_source_line())
    return trace.add(node)


def as_node(x, trace: Trace) -> Node:
    """The Node for an op operand: a Tensor's node, a Variable's current value, or a constant."""
    if isinstance(x, Tensor):
        if x.trace is not trace and hasattr(trace, "capture"):
            return trace.capture(x)
        if x.trace is not trace:
            raise TraceError("a Tensor from another trace was used (a traced value leaked "
                             f"out of its compiled function?)\n  at {user_source_line()}")
        return x.node
    if getattr(x, "_graphc_variable", False):
        return trace.read_variable(x)
    if isinstance(x, (np.ndarray, np.generic, bool, int, float, list, tuple)):
        try:
            return constant_node(x, trace)
        except GraphcError:
            raise
        except Exception as e:
            raise TraceError(f"cannot use {type(x).__name__} as a graph value: {e}\n  at {user_source_line()}") from None
    raise TraceError(f"cannot use an object of type {type(x).__name__} as a graph value\n  at {user_source_line()}")


def _type_of(x) -> TensorType:
    if isinstance(x, Tensor):
        return x.node.type
    if getattr(x, "_graphc_variable", False):
        return TensorType(x.shape, x.dtype)
    arr = np.asarray(x)
    return TensorType(arr.shape, dtypes.canonical(arr.dtype))


# The largest array numpy (and graphc's 64-bit index arithmetic) can address, in bytes.
MAX_ARRAY_BYTES = np.iinfo(np.intp).max


def check_array_size(t: TensorType) -> None:
    """Refuse a result whose byte size does not fit in a signed 64-bit integer (numpy's
    "array is too big"): index arithmetic would wrap and the loops run nearly forever."""
    if t.dtype == "tuple":
        return
    elements = math.prod(int(d) for d in t.shape if not isinstance(d, str))  # symbols: checked per call
    if elements * np.dtype(t.dtype).itemsize > MAX_ARRAY_BYTES:
        raise ShapeError(f"array is too big: {t.dtype}{list(t.shape)} has {elements} elements, "
                         f"more than 64-bit sizes can address")


def infer_checked(opname: str, types, attrs, loc: str | None = None) -> TensorType:
    """Run the op's shape rule, re-raising its error with the op, operand types and line.

    Results are memoized by (op, operand types, attributes) when the attributes are
    hashable: a deep model applies the same op to the same types again and again (the
    64 layers of an Adam step), and the shape rules were half of tracing time."""
    key = _infer_key(opname, types, attrs)
    if key is not None:
        out = _infer_memo.get(key)
        if out is not None:
            return out
    op = get_op(opname)
    try:
        out = op.infer(list(types), attrs)
        check_array_size(out)
        if key is not None:
            if len(_infer_memo) >= _INFER_MEMO_MAX:
                _infer_memo.clear()
            _infer_memo[key] = out
        return out
    except GraphcError as e:
        where = loc or user_source_line()
        operands = ", ".join(str(t) for t in types)
        raise type(e)(f"{opname}: {e} (operands: {operands})\n  at {where}") from None


_INFER_MEMO_MAX = 1 << 14
_infer_memo: dict = {}
_MEMO_ATTR_TYPES = (int, float, str, bool, type(None), tuple, TensorType)


def _infer_key(opname, types, attrs):
    """A hashable key for a shape-rule call, or None (an attribute that is not a plain
    value, e.g. an array constant or a function, is not worth hashing)."""
    try:
        if attrs:
            items = tuple(sorted((k, _tagged(v)) for k, v in attrs.items()))
            key = (opname, tuple(types), items)
        else:
            key = (opname, tuple(types))
        hash(key)
        return key
    except (TypeError, _NotMemoizable):  # unhashable, unorderable or not a plain value
        return None


class _NotMemoizable(Exception):
    pass


def _tagged(v):
    """``v`` with the type of every scalar in it, so that values equal in Python but
    treated differently by a shape rule (1, 1.0 and True) never share a key."""
    t = type(v)
    if t is tuple:
        return tuple(_tagged(x) for x in v)
    if t not in _MEMO_ATTR_TYPES:
        raise _NotMemoizable
    return (t.__name__, v)


def bind(opname: str, inputs, **attrs):
    """Apply op ``opname`` to ``inputs``: symbolically inside a trace, else with numpy."""
    op = get_op(opname)
    trace = _trace_of(inputs)
    if trace is None:
        arrays = [x.numpy() if getattr(x, "_graphc_variable", False) else np.asarray(x) for x in inputs]
        out_type = infer_checked(opname, [_type_of(a) for a in arrays], attrs)
        out = np.asarray(op.reference(attrs, *arrays))
        if dtypes.is_narrow_float(out_type.dtype) and out.dtype != out_type.dtype:
            out = out.astype(out_type.dtype)  # computed in float32: round once, as compiled code
        return out
    nodes = [as_node(x, trace) for x in inputs]
    loc = user_source_line()
    out_type = infer_checked(opname, [n.type for n in nodes], attrs, loc)
    node = trace.add(Node(opname, nodes, attrs, out_type, loc))
    return Tensor(node, trace)


def static_type(x) -> TensorType:
    """Type of any operand (Tensor, Variable, array, scalar) without binding it."""
    return _type_of(x)
