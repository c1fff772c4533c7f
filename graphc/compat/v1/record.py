"""Recording ops, and their static shapes from two probe traces.

``record(op_type, fn, args)`` adds an Operation that will call the graphc function
``fn`` at replay. Static shapes (``get_shape()``) come from graphc's shape rules: every
graph keeps two *probe* traces in which each new op is applied once, with every
unknown (None) dimension set to a different sentinel size in each; a dimension that
comes out equal in both is known, one that differs depends on an unknown one and is
reported as None (so ``reshape(x, [-1])`` of a ``(?, 3)`` tensor is ``(?,)``).
"""
from __future__ import annotations

import numpy as np

from ... import dtypes as gc_dtypes
from ...ir import Node, TensorType
from ...tracing import Tensor as GcTensor, Trace
from . import dtypes
from .graph import Operation, Ref, Spec, Tensor, _as_operation, _is_graph_leaf, _is_variable, get_default_graph
from .shapes import TensorShape
from .tree import flatten, unflatten

PROBE_SIZES = (2520, 5040)   # lcm(1..10) and twice it: reshapes to [-1, k] divide evenly
UNKNOWN = object()           # probe value of a tensor whose static shape is not known


class Probe:
    """One probe trace: static shapes of the graph's tensors at sentinel size ``size``."""

    def __init__(self, size):
        self.size = size
        self.trace = Trace("probe")
        self.values: dict = {}
        self.var_values: dict = {}

    def param(self, shape: TensorShape, dtype: dtypes.DType):
        """A stand-in of this shape (unknown dims at the sentinel size; unknown rank: a
        rank-1 guess, see _probe)."""
        if dtype.name not in gc_dtypes.SUPPORTED:
            return UNKNOWN
        dims = (self.size,) if shape.dims_ is None else tuple(self.size if d is None else d for d in shape.dims_)
        t = TensorType(dims, dtype.name)
        node = self.trace.add(Node("param", [], {"index": -1, "_type": t}, t, "probe"))
        return GcTensor(node, self.trace)

    def resolve(self, leaf):
        if isinstance(leaf, Tensor):
            return self.values[leaf]
        if _is_variable(leaf):
            v = self.var_values.get(leaf)
            if v is None:
                v = self.var_values[leaf] = self.param(leaf.get_shape(), leaf.dtype)
            return v
        if isinstance(leaf, Ref):
            stand_in = getattr(leaf.obj, "_for_probe", None)
            if stand_in is None:
                raise TypeError("ops with session references must declare their outputs")
            return stand_in()
        return leaf


def new_probes():
    return [Probe(s) for s in PROBE_SIZES]


def _graph_of(leaves):
    for x in leaves:
        if isinstance(x, Tensor):
            return x.graph
        if _is_variable(x):
            return x.graph
        if isinstance(x, Ref) and _is_variable(x.obj):
            return x.obj.graph
    return get_default_graph()


def _static(values):
    """(TensorShape, DType) of one output from its value in each probe."""
    if any(v is UNKNOWN for v in values):
        return None
    shapes, dts = [], []
    for v in values:
        if isinstance(v, GcTensor):
            shapes.append(tuple(v.shape))
            dts.append(v.dtype.name)
        elif isinstance(v, (bytes, str)):
            shapes.append(())
            dts.append("string")
        else:
            a = np.asarray(v)
            shapes.append(a.shape)
            dts.append(dtypes.dtype_of_value(v).name if not isinstance(v, (np.ndarray, np.generic)) else a.dtype.name)
    if len({len(s) for s in shapes}) > 1:
        return TensorShape(None), dtypes.as_dtype(dts[0])
    dims = [d[0] if len(set(d)) == 1 else None for d in zip(*shapes)]
    return TensorShape(dims), dtypes.as_dtype(dts[0])


def record(op_type, fn, args=(), kwargs=None, name=None, *, out=None, reads=(), writes=(), host=False,
           control_inputs=(), exact_name=False, static=None, fallback=None):
    """Record ``fn(*args, **kwargs)`` as an op of the default (or inputs') graph.

    ``out``: a tree of Spec declaring the outputs (else they are found by probing).
    ``reads``/``writes``: variables the op reads/initializes besides its Variable leaves.
    ``host``: the op runs in Python on fetched values after the native call (summaries).
    ``static``: {input Tensor: example value} for inputs fn needs as Python numbers (a fed
    keep_prob): fed ones are passed as constants and the program is specialized per
    value; the example value stands in for them while probing shapes.
    ``fallback``: () -> tree of Spec, the outputs to assume when probing fails because
    an input's unknown dimension met a concrete one (checked at run time instead).
    Returns fn's result structure with Tensors as leaves, or the Operation if it has none.
    """
    leaves, tree = flatten((tuple(args), dict(kwargs or {})), is_leaf=_is_graph_leaf)
    if any(isinstance(x, GcTensor) for x in leaves):
        # Called on graphc values inside a trace (an activation passed to an RNN cell
        # or a layer runs at replay): just apply the graphc function.
        a, k = unflatten(tree, leaves)
        return fn(*a, **k)
    graph = _graph_of(leaves)
    for x in leaves:
        if isinstance(x, Tensor) and x.graph is not graph:
            raise ValueError(f"Tensor {x.name} must be from the same graph as the other inputs of {op_type}.")
    op_name = name if exact_name else graph.unique_name(name or op_type)
    controls = graph._current_control_inputs() + [c for c in (_as_operation(x) for x in control_inputs)]
    device = graph._device_stack[-1] if graph._device_stack else ""
    device_fn = device if callable(device) else None     # tf.device(fn): fn(op) names each op's device
    if device_fn is not None:
        device = ""
    var_reads = {x for x in leaves if _is_variable(x)} | set(reads)
    op = Operation(graph, op_type, op_name, fn, leaves, tree, controls, device, var_reads, writes, host)
    static = {t: v for t, v in (static or {}).items() if isinstance(t, Tensor)}
    op._static_inputs = frozenset(static)

    if out is not None:
        specs, out_tree = flatten(out, is_leaf=lambda s: isinstance(s, Spec))
        statics = [(s.shape, s.dtype) for s in specs]
        probe_vals = [[p.param(s.shape, s.dtype) for s in specs] for p in graph._probes]
        unknown = [s.shape.dims_ is None for s in specs]
    else:
        statics, probe_vals, out_tree, unknown = _probe(graph, fn, leaves, tree, static, fallback)
    op.outputs = [Tensor(op, i, dt, shape) for i, (shape, dt) in enumerate(statics)]
    graph._unknown.update(t for t, u in zip(op.outputs, unknown) if u)
    for p, vals in zip(graph._probes, probe_vals):
        for t, v in zip(op.outputs, vals):
            p.values[t] = v
    op._out_tree = out_tree
    if device_fn is not None:
        op.device = str(device_fn(op) or "")
    graph._add_op(op)
    if not op.outputs:
        return op
    return unflatten(out_tree, op.outputs)


def _probe(graph, fn, leaves, tree, static, fallback=None):
    """Apply fn in each probe trace: (statics, probe values, output tree, unknown flags).

    Inputs of unknown rank are probed with a rank-1 guess: the outputs' dtypes and
    structure come out right, their shapes are reported unknown. If fn fails on a guess,
    or (for ops that give a ``fallback``) on a sentinel size where an unknown dimension
    met a concrete one, or an input has no probe value at all, the outputs are
    ``fallback()``'s, else one output of unknown shape and the first input's dtype; a
    real mismatch then fails at run time. Other failures are build-time errors, as TF's
    static shape checks are.
    """
    tensors = [x for x in leaves if isinstance(x, Tensor) and x not in static]
    guessed = any(x in graph._unknown for x in tensors)
    if not any(graph._probes[0].values[x] is UNKNOWN for x in tensors):
        try:
            probe_vals, out_tree = [], None
            for p in graph._probes:
                a, k = unflatten(tree, [static[x] if isinstance(x, Tensor) and x in static else p.resolve(x)
                                        for x in leaves])
                with p.trace:
                    result = fn(*a, **k)
                vals, out_tree = flatten(result)
                probe_vals.append(vals)
            statics = [_static(vs) or (TensorShape(None), dtypes.float32) for vs in zip(*probe_vals)]
            if guessed:
                statics = [(TensorShape(None), dt) for _, dt in statics]
            return statics, probe_vals, out_tree, [guessed] * len(statics)
        except Exception:
            if not (guessed or (fallback is not None and any(None in (x.get_shape().dims_ or (None,))
                                                             for x in tensors))):
                raise
    if fallback is not None:
        specs, out_tree = flatten(fallback(), is_leaf=lambda s: isinstance(s, Spec))
        return ([(s.shape, s.dtype) for s in specs], [[p.param(s.shape, s.dtype) for s in specs] for p in graph._probes],
                out_tree, [s.shape.dims_ is None for s in specs])
    first = next((x for x in leaves if isinstance(x, Tensor) or _is_variable(x)), None)
    dt = first.dtype if first is not None else dtypes.float32
    return [(TensorShape(None), dt)], [[UNKNOWN] for _ in graph._probes], ("leaf",), [True]
