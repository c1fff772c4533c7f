"""tf.cond and tf.while_loop on graphc's real control flow (gc.cond, gc.while_loop).

Building: the branch / cond / body functions run once at graph construction, as in TF,
and record their ops into the graph like any others. The ops a branch (or the loop's
cond or body) needs are then *owned* by one ``Cond`` / ``While`` operation, whose
inputs are the outside tensors those ops read; the session replays only that
operation, and its replay re-plays the owned ops inside gc.cond's branch functions (or
gc.while_loop's cond and body). So only the taken branch executes, its assigns happen
only when it is taken, and a loop runs as many iterations as the data asks.

tf.while_loop's loop variables are stand-in tensors while the functions are built;
at replay they are bound to gc.while_loop's carries. A gradient through a while loop
works with or without ``maximum_iterations`` (with it, the iterations' values are kept
on a stack of that size; without it, the backward pass recomputes them from the
initial values in 128-iteration segments: graphc/ops/while_grad.py).
"""
from __future__ import annotations

import numpy as np

import graphc as gc
from . import dtypes
from .convert import as_operand, is_graph_value
from .graph import Operation, Ref, Spec, Tensor, _is_variable, get_default_graph
from .record import record
from .shapes import TensorShape
from .tree import flatten, unflatten


class _SessionContext:
    """Gives a Cond/While op the context its owned ops replay with: the session's
    (variable reads, references) at run time, a probe's while static shapes are found
    (so the probe's outputs depend on the inputs, and tf.gradients sees the path)."""

    def __init__(self, graph):
        self.graph = graph

    def _for_session(self, session):
        from .session import _Context

        return _Context(session)

    def _for_probe(self):
        return _ProbeContext(self.graph)


class _ProbeContext:
    """Replay context inside a probe trace (the probe is the one being traced)."""

    def __init__(self, graph):
        self.graph = graph

    @property
    def probe(self):
        from ...tracing import current_trace

        trace = current_trace()
        while trace is not None and not any(p.trace is trace for p in self.graph._probes):
            trace = getattr(trace, "outer", None)       # inside a branch or loop body
        return next(p for p in self.graph._probes if p.trace is trace)

    def read(self, var):
        return self.probe.resolve(var)

    def ref(self, obj):
        if not _is_variable(obj):
            return obj._for_probe()
        stand_ins = self.probe.__dict__.setdefault("variable_stand_ins", {})
        if obj not in stand_ins:    # assigns in a branch update a throwaway graphc Variable
            stand_ins[obj] = gc.Variable(np.zeros(obj.shape.as_list(), obj.dtype.as_numpy_dtype), trainable=False)
        return stand_ins[obj]


def _is_leaf(x):
    return isinstance(x, Operation) or is_graph_value(x)


def _owned_ops(graph, start, end, roots, bound=()):
    """The ops created in [start, end) that ``roots`` need (dependencies first), and the
    outside tensors they read (excluding ``bound`` ones, set at replay)."""
    created = set(graph._ops[start:end])
    bound = set(bound)
    order, seen, outside, controls = [], set(), [], []
    stack = []
    for r in reversed(roots):          # results: tensors (or ops) made inside, or outside tensors
        op = r.op if isinstance(r, Tensor) else r
        if op in created:
            stack.append((op, False))
        elif isinstance(r, Tensor) and r not in bound and r not in outside:
            outside.append(r)
    while stack:
        op, done = stack.pop()
        if done:
            order.append(op)
            continue
        if op in seen:
            continue
        seen.add(op)
        stack.append((op, True))
        for c in op.control_inputs:
            if c in created:
                stack.append((c, False))
            elif c not in controls:
                controls.append(c)
        for t in op.inputs:
            if t in bound:
                continue
            if t.op in created:
                stack.append((t.op, False))
            elif t not in outside:
                outside.append(t)
    return order, outside, controls


def _roots(leaves):
    return [x for x in leaves if isinstance(x, (Tensor, Operation))]


def _merged_shape(a, b):
    if a.dims_ is None or b.dims_ is None or len(a.dims_) != len(b.dims_):
        return TensorShape(None)
    return TensorShape([x if x == y else None for x, y in zip(a.dims_, b.dims_)])


def _value(x, env, ctx):
    if isinstance(x, Tensor):
        return env[x]
    if _is_variable(x):
        return ctx.read(x)
    return x


def _replay(ops, env_outer, ctx, bound=(), bound_values=()):
    """Replay owned ops in a copy of the outer environment; returns that environment."""
    env = dict(env_outer)
    env.update(zip(bound, bound_values))
    for op in ops:
        op._replay(env, ctx)
    return env


def cond(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """Only the branch ``pred`` selects runs (cost and side effects), as in TF."""
    true_fn = true_fn or fn1
    false_fn = false_fn or fn2
    if not is_graph_value(pred):
        return true_fn() if pred else false_fn()
    if pred.dtype != dtypes.bool:
        raise TypeError(f"pred must be a bool tensor, got {pred.dtype.name}")
    graph = get_default_graph()
    with graph.name_scope(name or "cond"):
        start = len(graph._ops)
        with graph.name_scope("true"):
            t_out = true_fn()
        mid = len(graph._ops)
        with graph.name_scope("false"):
            f_out = false_fn()
        end = len(graph._ops)
        t_leaves, t_tree = flatten(t_out, is_leaf=_is_leaf)
        f_leaves, f_tree = flatten(f_out, is_leaf=_is_leaf)
        if t_tree != f_tree:
            raise ValueError("true_fn and false_fn must return the same structure")
        t_ops, t_outside, t_ctl = _owned_ops(graph, start, mid, _roots(t_leaves))
        f_ops, f_outside, f_ctl = _owned_ops(graph, mid, end, _roots(f_leaves))
        # results: values (Tensors, Variables, Python values); Operations only run
        kinds = []
        specs = []
        for a, b in zip(t_leaves, f_leaves):
            if isinstance(a, Operation) or isinstance(b, Operation):
                kinds.append(None)
                continue
            a, b = [as_operand(v) if not is_graph_value(v) else v for v in (a, b)]
            da = a.dtype if is_graph_value(a) else dtypes.as_dtype(a.dtype)
            db = b.dtype if is_graph_value(b) else dtypes.as_dtype(b.dtype)
            if da != db:
                raise TypeError(f"true_fn and false_fn return different dtypes: {da.name} and {db.name}")
            sa = a.get_shape() if is_graph_value(a) else TensorShape(a.shape)
            sb = b.get_shape() if is_graph_value(b) else TensorShape(b.shape)
            kinds.append((a, b))
            specs.append(Spec(_merged_shape(sa, sb), da))
        outside = list(dict.fromkeys(t_outside + f_outside))
        reads = set().union(*[op._reads for op in t_ops + f_ops]) if t_ops or f_ops else set()
        pairs = [k for k in kinds if k is not None]

        def run(pred_value, ctx, outside_values):
            env0 = dict(zip(outside, outside_values))

            def branch(ops, side):
                def fn():
                    env = _replay(ops, env0, ctx)
                    return [_value(p[side], env, ctx) for p in pairs]
                return fn
            result = gc.cond(pred_value, branch(t_ops, 0), branch(f_ops, 1))
            return tuple(result)

        controls = list(dict.fromkeys(t_ctl + f_ctl))
        out = record("Cond", run, (pred, Ref(_SessionContext(graph)), outside), name="Merge", reads=reads,
                     control_inputs=controls, fallback=lambda: tuple(specs))
    op = out.op if isinstance(out, Tensor) else (out[0].op if isinstance(out, tuple) and out else out)
    _pass_static_inputs(op, t_ops + f_ops)
    values = list(out) if isinstance(out, tuple) else []
    results = []
    for k in kinds:
        results.append(op if k is None else values.pop(0))
    return unflatten(t_tree, results)


def _pass_static_inputs(op, owned):
    """Inputs an owned op needs as Python numbers (a fed keep_prob) are needed by the
    Cond/While op that replays it, so the session passes them as numbers."""
    op._static_inputs = frozenset().union(op._static_inputs, *[o._static_inputs for o in owned])


def _stand_in_error(*_):
    raise RuntimeError("a while_loop variable was used outside its loop")


def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10, back_prop=True,
               swap_memory=False, name=None, maximum_iterations=None, return_same_structure=False):
    """``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)``; iterations decided at run time."""
    graph = get_default_graph()
    leaves, tree = flatten(loop_vars, is_leaf=_is_leaf)
    leaves = [v if is_graph_value(v) else as_operand(v) for v in leaves]
    single = not isinstance(loop_vars, (list, tuple)) or len(leaves) == 1 and not return_same_structure
    with graph.name_scope(name or "while"):
        stand_ins = []
        for k, v in enumerate(leaves):
            dt = v.dtype if is_graph_value(v) else dtypes.as_dtype(v.dtype)
            shape = v.get_shape() if is_graph_value(v) else TensorShape(v.shape)
            stand_ins.append(record("Enter", _stand_in_error, name=f"Enter_{k}" if k else "Enter",
                                    out=Spec(shape, dt)))
        args = unflatten(tree, stand_ins)
        call_args = list(args) if isinstance(loop_vars, (list, tuple)) else [args]
        start = len(graph._ops)
        pred = cond(*call_args)
        mid = len(graph._ops)
        new = body(*call_args)
        end = len(graph._ops)
        if not is_graph_value(pred) or pred.dtype != dtypes.bool:
            raise TypeError(f"while_loop: cond must return a bool tensor, got {pred!r}")
        if isinstance(loop_vars, (list, tuple)) and len(leaves) == 1 and not isinstance(new, (list, tuple)):
            new = [new]
        new_leaves, new_tree = flatten(new, is_leaf=_is_leaf)
        if len(new_leaves) != len(leaves):       # lists and tuples are interchangeable, as in TF
            raise ValueError(f"while_loop: body returned {len(new_leaves)} values for {len(leaves)} loop variables")
        new_leaves = [v if is_graph_value(v) else as_operand(v, s.dtype) for v, s in zip(new_leaves, stand_ins)]
        for k, (v, s) in enumerate(zip(new_leaves, stand_ins)):
            if v.dtype != s.dtype:
                raise TypeError(f"while_loop: loop variable {k} enters as {s.dtype.name} and the body returns "
                                f"{v.dtype.name}")
        c_ops, c_outside, c_ctl = _owned_ops(graph, start, mid, [pred], bound=stand_ins)
        b_ops, b_outside, b_ctl = _owned_ops(graph, mid, end, _roots(new_leaves), bound=stand_ins)
        outside = list(dict.fromkeys(c_outside + b_outside))
        reads = set().union(*[op._reads for op in c_ops + b_ops]) if c_ops or b_ops else set()
        max_it = None if maximum_iterations is None else int(maximum_iterations)

        def run(init, ctx, outside_values):
            env0 = dict(zip(outside, outside_values))

            def cond_fn(values):
                return _value(pred, _replay(c_ops, env0, ctx, stand_ins, values), ctx)

            def body_fn(values):
                env = _replay(b_ops, env0, ctx, stand_ins, values)
                return [_value(v, env, ctx) for v in new_leaves]
            return tuple(gc.while_loop(cond_fn, body_fn, list(init), max_iterations=max_it))

        specs = tuple(Spec(s.get_shape(), s.dtype) for s in stand_ins)
        out = record("While", run, (list(leaves), Ref(_SessionContext(graph)), outside), name="Exit", reads=reads,
                     control_inputs=list(dict.fromkeys(c_ctl + b_ctl)), fallback=lambda: specs)
    _pass_static_inputs(out[0].op, c_ops + b_ops)
    out = list(out)
    if single and len(out) == 1:
        return out[0]
    return unflatten(tree, out)
