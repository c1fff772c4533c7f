"""tf.Graph, tf.Operation and tf.Tensor: a lazily recorded graph of graphc op calls.

An Operation stores the graphc function it stands for and its arguments (a tree whose
leaves may be Tensors, Variables or session ``Ref``s); nothing is computed when it is
recorded (record.py). ``Session.run`` later replays the needed operations inside one
graphc trace (session.py), so the ops, shape rules, gradients and codegen are graphc's.
"""
from __future__ import annotations

import contextlib
import itertools
import re

from ...device import device as gc_device
from . import dtypes
from .shapes import TensorShape
from .tree import flatten, unflatten

_ids = itertools.count()


class Spec:
    """An output declared up front (shape, dtype) instead of being probed."""

    def __init__(self, shape, dtype):
        self.shape = TensorShape(shape)
        self.dtype = dtypes.as_dtype(dtype)


class Ref:
    """An argument resolved per session at replay: a Variable's graphc.Variable, an
    optimizer's graphc optimizer... (``ctx.ref(obj)``); while probing shapes, the
    object's ``_for_probe()`` stand-in (an RNN cell with throwaway variables)."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj


# -- default graph ------------------------------------------------------------------------

_graph_stack: list["Graph"] = []
_global_default: list["Graph"] = []


def get_default_graph() -> "Graph":
    if _graph_stack:
        return _graph_stack[-1]
    if not _global_default:
        _global_default.append(Graph())
    return _global_default[0]


def reset_default_graph():
    """Start a fresh global default graph (not allowed inside ``with g.as_default()``)."""
    if _graph_stack:
        raise AssertionError("Do not use tf.reset_default_graph() to clear nested graphs. "
                             "If you need a cleared graph, exit the nesting and create a new graph.")
    _global_default[:] = [Graph()]


def _is_variable(x) -> bool:
    return getattr(x, "_v1_variable", False)


def _is_graph_leaf(x) -> bool:
    return isinstance(x, (Tensor, Ref)) or _is_variable(x)


class Graph:
    """Operations in creation order, names, scopes, collections and control contexts."""

    def __init__(self):
        self._ops: list[Operation] = []
        self._ops_by_name: dict[str, Operation] = {}
        self._names_in_use: dict[str, int] = {}
        self._name_stack = ""
        self._control_stack: list = []
        self._device_stack: list = []
        self._collections: dict = {}
        self._var_store: dict = {}
        self._var_scope_stack: list = []
        from .record import new_probes

        self._probes = new_probes()
        self._unknown: set = set()   # tensors of unknown static shape
        self._finalized = False
        self.seed = None
        self._version = 0

    # -- context ------------------------------------------------------------------------
    @contextlib.contextmanager
    def as_default(self):
        _graph_stack.append(self)
        try:
            yield self
        finally:
            _graph_stack.pop()

    def finalize(self):
        self._finalized = True

    @property
    def finalized(self):
        return self._finalized

    # -- names ----------------------------------------------------------------------------
    def unique_name(self, name: str, mark_as_used: bool = True) -> str:
        """``scope/name``, with ``_1``, ``_2``... appended when taken (TF's rule)."""
        if self._name_stack:
            name = self._name_stack + "/" + name
        key = name.lower()
        i = self._names_in_use.get(key, 0)
        if mark_as_used:
            self._names_in_use[key] = i + 1
        if i > 0:
            base = key
            while key in self._names_in_use:
                key = f"{base}_{i}"
                i += 1
            if mark_as_used:
                self._names_in_use[key] = 1
            name = f"{name}_{i - 1}"
        return name

    def get_name_scope(self) -> str:
        return self._name_stack

    @contextlib.contextmanager
    def name_scope(self, name):
        """Enter a name scope; yields the scope string ending in '/' (``loss/``)."""
        old = self._name_stack
        if name is None or name == "":
            new = ""
        elif name.endswith("/"):
            new = name[:-1]          # an absolute scope, re-entered as is
        else:
            new = self.unique_name(name)
        self._name_stack = new
        try:
            yield (new + "/") if new else ""
        finally:
            self._name_stack = old

    # -- control dependencies and devices ---------------------------------------------------
    @contextlib.contextmanager
    def control_dependencies(self, control_inputs):
        if control_inputs is None:
            saved, self._control_stack = self._control_stack, []
            try:
                yield
            finally:
                self._control_stack = saved
            return
        ops = []
        for c in control_inputs:
            op = _as_operation(c)
            if op is not None:
                ops.append(op)
        self._control_stack.append(ops)
        try:
            yield
        finally:
            self._control_stack.pop()

    def _current_control_inputs(self):
        out = []
        for ops in self._control_stack:
            for op in ops:
                if op not in out:
                    out.append(op)
        return out

    @contextlib.contextmanager
    def device(self, name):
        self._device_stack.append(name)
        try:
            yield
        finally:
            self._device_stack.pop()

    # -- collections --------------------------------------------------------------------------
    def add_to_collection(self, name, value):
        self._collections.setdefault(name, []).append(value)

    def add_to_collections(self, names, value):
        for n in ([names] if isinstance(names, str) else names):
            self.add_to_collection(n, value)

    def get_collection_ref(self, name):
        return self._collections.setdefault(name, [])

    def get_collection(self, name, scope=None):
        items = list(self._collections.get(name, []))
        if scope is None:
            return items
        pattern = re.compile(scope)
        return [i for i in items if getattr(i, "name", None) is not None and pattern.match(i.name)]

    def get_all_collection_keys(self):
        return list(self._collections)

    # -- lookup -------------------------------------------------------------------------------
    def get_operations(self):
        return list(self._ops)

    def get_operation_by_name(self, name):
        try:
            return self._ops_by_name[name]
        except KeyError:
            raise KeyError(f"The name '{name}' refers to an Operation not in the graph.") from None

    def get_tensor_by_name(self, name):
        if ":" not in name:
            raise ValueError(f"The name '{name}' looks like an (invalid) Operation name, not a Tensor. "
                             "Tensor names must be of the form \"<op_name>:<output_index>\".")
        op_name, index = name.rsplit(":", 1)
        op = self.get_operation_by_name(op_name)
        variable = getattr(op, "_variable", None)
        if variable is not None and index == "0":
            return variable                      # "w:0" names the variable itself, as in TF
        try:
            return op.outputs[int(index)]
        except IndexError:
            raise KeyError(f"The name '{name}' refers to a Tensor which does not exist.") from None

    def as_graph_element(self, obj):
        if isinstance(obj, str):
            return self.get_tensor_by_name(obj) if ":" in obj else self.get_operation_by_name(obj)
        return obj

    # -- recording ----------------------------------------------------------------------------
    def _add_op(self, op: "Operation"):
        if self._finalized:
            raise RuntimeError("Graph is finalized and cannot be modified.")
        self._ops.append(op)
        self._ops_by_name[op.name] = op
        self._version += 1


def _as_operation(x):
    if isinstance(x, Operation):
        return x
    if isinstance(x, Tensor):
        return x.op
    if _is_variable(x):
        return x.op
    raise TypeError(f"Can not convert a {type(x).__name__} into an Operation")


class Operation:
    """One recorded op application (``fn``) with its inputs and outputs."""

    def __init__(self, graph, op_type, name, fn, leaves, tree, control_inputs, device, reads, writes, host):
        self.graph = graph
        self.type = op_type
        self.name = name
        self._fn = fn
        self._leaves = leaves
        self._tree = tree
        self.inputs = [x for x in leaves if isinstance(x, Tensor)]
        self.control_inputs = list(control_inputs)
        self.device = device or ""
        self._reads = frozenset(reads)
        self._writes = frozenset(writes)
        self._host = host
        self._static_inputs = frozenset()
        self.outputs: list[Tensor] = []
        self._id = next(_ids)

    def values(self):
        return tuple(self.outputs)

    def run(self, feed_dict=None, session=None):
        """Run this op in ``session`` (default: the default session)."""
        from .session import _session_for

        _session_for(session, self.graph).run(self, feed_dict)

    def _replay(self, env, ctx):
        vals = []
        for leaf in self._leaves:
            if isinstance(leaf, Tensor):
                vals.append(env[leaf])
            elif isinstance(leaf, Ref):
                vals.append(ctx.ref(leaf.obj))
            elif _is_variable(leaf):
                vals.append(ctx.read(leaf))
            else:
                vals.append(leaf)
        args, kwargs = unflatten(self._tree, vals)
        if self.device and ctx is not None:
            with gc_device(self.device):             # tf.device pins: graphc's placer honours them
                result = self._fn(*args, **kwargs)
        else:
            result = self._fn(*args, **kwargs)
        if self.outputs:
            out, _ = flatten(result)
            if len(out) != len(self.outputs):
                raise RuntimeError(f"op '{self.name}' produced {len(out)} values, expected {len(self.outputs)}")
            for t, v in zip(self.outputs, out):
                env[t] = v

    def __repr__(self):
        return f"<tf.Operation '{self.name}' type={self.type}>"


class _Operators:
    """Python operators for Tensor and Variable (recorded as TF ops)."""

    __array_priority__ = 1000

    def _math(self, name, other, reverse=False):
        from . import math_ops

        return math_ops.binary_operator(name, other, self) if reverse else math_ops.binary_operator(name, self, other)

    def __add__(self, o): return self._math("add", o)
    def __radd__(self, o): return self._math("add", o, True)
    def __sub__(self, o): return self._math("sub", o)
    def __rsub__(self, o): return self._math("sub", o, True)
    def __mul__(self, o): return self._math("mul", o)
    def __rmul__(self, o): return self._math("mul", o, True)
    def __truediv__(self, o): return self._math("truediv", o)
    def __rtruediv__(self, o): return self._math("truediv", o, True)
    def __floordiv__(self, o): return self._math("floordiv", o)
    def __rfloordiv__(self, o): return self._math("floordiv", o, True)
    def __mod__(self, o): return self._math("mod", o)
    def __rmod__(self, o): return self._math("mod", o, True)
    def __pow__(self, o): return self._math("pow", o)
    def __rpow__(self, o): return self._math("pow", o, True)
    def __matmul__(self, o): return self._math("matmul", o)
    def __rmatmul__(self, o): return self._math("matmul", o, True)
    def __lt__(self, o): return self._math("Less", o)
    def __le__(self, o): return self._math("LessEqual", o)
    def __gt__(self, o): return self._math("Greater", o)
    def __ge__(self, o): return self._math("GreaterEqual", o)
    def __and__(self, o): return self._math("LogicalAnd", o)
    def __rand__(self, o): return self._math("LogicalAnd", o, True)
    def __or__(self, o): return self._math("LogicalOr", o)
    def __ror__(self, o): return self._math("LogicalOr", o, True)

    def __neg__(self):
        from . import math_ops
        return math_ops.negative(self)

    def __abs__(self):
        from . import math_ops
        return math_ops.abs(self)

    def __invert__(self):
        from . import math_ops
        return math_ops.logical_not(self)

    def __getitem__(self, key):
        from . import array_ops
        return array_ops.getitem(self, key)

    def __bool__(self):
        raise TypeError("Using a `tf.Tensor` as a Python `bool` is not allowed. Use `if t is not None:` instead "
                        "of `if t:` to test if a tensor is defined, and use TensorFlow ops such as tf.cond to "
                        "execute subgraphs conditioned on the value of a tensor.")

    def __iter__(self):
        shape = self.get_shape()
        if shape.ndims is None or shape.dims_[0] is None:
            raise TypeError("Tensor objects are only iterable when the first dimension is known.")
        return (self[i] for i in range(shape.dims_[0]))

    __hash__ = object.__hash__


class Tensor(_Operators):
    """A symbolic output of an Operation: static dtype and (partly known) shape."""

    def __init__(self, op: Operation, value_index: int, dtype, shape):
        self.op = op
        self.value_index = value_index
        self._dtype = dtypes.as_dtype(dtype)
        self._shape = TensorShape(shape)
        self._id = next(_ids)

    @property
    def name(self):
        return f"{self.op.name}:{self.value_index}"

    @property
    def graph(self):
        return self.op.graph

    @property
    def device(self):
        return self.op.device

    @property
    def dtype(self):
        return self._dtype

    @property
    def shape(self):
        return self._shape

    def get_shape(self):
        return self._shape

    def set_shape(self, shape):
        shape = TensorShape(shape)
        if not self._shape.is_compatible_with(shape):
            raise ValueError(f"Shapes {self._shape} and {shape} are incompatible")
        if self._shape.dims_ is None:
            self._shape = shape
        elif shape.dims_ is not None:
            self._shape = TensorShape([a if a is not None else b for a, b in zip(self._shape.dims_, shape.dims_)])

    def consumers(self):
        return [op for op in self.graph._ops if self in op.inputs]

    def eval(self, feed_dict=None, session=None):
        """The value of this tensor in ``session`` (default: the default session)."""
        from .session import _session_for

        return _session_for(session, self.graph).run(self, feed_dict)

    def __repr__(self):
        return f"<tf.Tensor '{self.name}' shape={self._shape} dtype={self._dtype.name}>"
