"""gc.cond: a real conditional. Only the taken branch runs (its cost and its effects).

``cond(pred, true_fn, false_fn)`` traces each branch (a function of no arguments, or of
``*operands``) into its own Graph; values of the enclosing trace a branch uses become
its *captures* (as in gc.scan). The ``cond`` node's inputs are the predicate, the true
branch's captures, then the false branch's; its tuple type holds the branch results
(which must have equal types in both branches), then the new value of every Variable
either branch assigns: the branch that does not assign it returns the value it read,
and the enclosing trace records the part as the variable's update. So an assign inside
a branch happens only when that branch is taken, as in TF's tf.cond.

Lowering (CPU, graphc/codegen/cond_lowering.py): each branch is a nested Program; the
entry loads the predicate and calls one of them, writing straight into the node's
tuple buffer. It has no GPU kernel: the placer keeps it on the CPU (like scan).

Gradient: another cond on the same predicate whose branches recompute their forward
branch and apply reverse mode to it, giving every float capture its gradient (zero
for the captures of the branch not taken).
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError, TraceError, user_source_line
from ..ir import TensorType, TupleType
from ..pytree import flatten, unflatten
from ..tracing import Tensor, as_node, bind, current_trace
from .control import BodyTrace, TupleGrad, _backprop_body, _Env, _zeros, tuple_get
from .registry import defop


class BranchTrace(BodyTrace):
    """A branch body: outer values and Variables are captured; assigns are recorded
    (and turned into extra outputs) instead of being refused as in a scan body."""

    runs_once = True   # at most once per call of the enclosing trace: random ops may draw here

    def __init__(self, outer, name):
        super().__init__(outer, name)
        self.writes: dict = {}    # Variable -> Node of its new value, in assignment order

    def read_variable(self, var):
        node = self.writes.get(var)
        return node if node is not None else self.capture(var)

    def write_variable(self, var, node):
        self.writes[var] = node


def _trace_branch(fn, operands, outer, name):
    with BranchTrace(outer, name) as bt:
        result = fn(*operands)
        leaves, tree = flatten(result)
        nodes = [as_node(v, bt) for v in leaves]
    return bt, nodes, tree


def _unify(nodes_t, nodes_f, bt_t, bt_f):
    """Give Python-scalar results the other branch's dtype; then the types must agree."""
    from .common import cast_to

    for k, (a, b) in enumerate(zip(nodes_t, nodes_f)):
        if a.type == b.type:
            continue
        if a.op == "constant" and a.type.shape == () and b.type.shape == ():
            with bt_t:
                nodes_t[k] = as_node(cast_to(a.attrs["value"].item(), b.type.dtype), bt_t)
        elif b.op == "constant" and a.type.shape == () and b.type.shape == ():
            with bt_f:
                nodes_f[k] = as_node(cast_to(b.attrs["value"].item(), a.type.dtype), bt_f)
        if nodes_t[k].type != nodes_f[k].type:
            raise ShapeError(f"cond: the branches return different types for result {k}: "
                             f"{nodes_t[k].type} and {nodes_f[k].type}\n  at {user_source_line()}")


def _cond_infer(types, attrs):
    t_body, f_body, nt = attrs["true_body"], attrs["false_body"], attrs["n_true"]
    pred = types[0]
    if pred.shape != () or pred.dtype != "bool":
        raise ShapeError(f"cond: the predicate must be a bool scalar, got {pred}")
    caps = types[1:]
    if len(caps) != len(t_body.params) + len(f_body.params) or nt != len(t_body.params):
        raise ShapeError(f"cond has {len(caps)} captured inputs, its branches take "
                         f"{len(t_body.params)} + {len(f_body.params)}")
    for k, (t, p) in enumerate(zip(caps, list(t_body.params) + list(f_body.params))):
        if t != p.type:
            raise ShapeError(f"cond input {k + 1} has type {t}, its branch expects {p.type}")
    out_t = [o.type for o in t_body.outputs]
    out_f = [o.type for o in f_body.outputs]
    if out_t != out_f:
        raise ShapeError(f"cond branches return different types: {out_t} and {out_f}")
    return TupleType(tuple(out_t))


def _cond_impl(attrs, pred, *caps):
    from ..interpreter import interpret

    nt = attrs["n_true"]
    if bool(np.asarray(pred)):
        res = interpret(attrs["true_body"], *caps[:nt])
    else:
        res = interpret(attrs["false_body"], *caps[nt:])
    return tuple(np.asarray(r) for r in res)


def _cond_vjp(g, ins, out, attrs):
    """d(captures) = cond(pred, backprop(true branch), backprop(false branch))."""
    from ..dtypes import is_float

    g = g if isinstance(g, dict) else TupleGrad()
    n_out = attrs["n_out"]
    seeds = {k: g[k] for k in range(n_out) if g.get(k) is not None}
    nt = attrs["n_true"]
    pred, caps = ins[0], list(ins[1:])
    floats = [k for k, c in enumerate(caps) if is_float(c.node.type.dtype)]
    if not seeds or not floats:
        return [None] * len(ins)
    t_body, f_body = attrs["true_body"], attrs["false_body"]

    def backprop(body, first):
        def branch():
            trace = current_trace()
            params = body.params
            env = _Env({p.id: caps[first + j] for j, p in enumerate(params)}, trace)
            grads, _ = _backprop_body(body, env, seeds, [p.id for p in params], {})
            result = []
            for k in floats:
                j = k - first
                gk = grads.get(params[j].id) if 0 <= j < len(params) else None
                result.append(gk if gk is not None else _zeros(caps[k].node.type))
            return result
        return branch

    d = cond(pred, backprop(t_body, 0), backprop(f_body, nt))
    out_grads = [None] * len(ins)
    for k, dk in zip(floats, d):
        out_grads[1 + k] = dk
    return out_grads


class _CondKernel:
    """Whole-step lowering (graphc/codegen/cond_lowering.py)."""

    symbolic = True  # lowers programs with symbolic dimensions too (sizes computed in code)

    def plan(self, node, lowering):
        from ..codegen.cond_lowering import plan_cond

        return plan_cond(node, lowering)

    def emit(self, target, module, builder, step, pointer, symbolic=None):
        from ..codegen.cond_lowering import emit_cond

        return emit_cond(target, module, builder, step, pointer, symbolic)


defop("cond", "opaque", _cond_infer, _cond_impl, vjp=_cond_vjp, kernel=_CondKernel())


def cond(pred, true_fn, false_fn, *operands):
    """``true_fn(*operands)`` if ``pred`` else ``false_fn(*operands)``, evaluating only the
    branch taken (tf.cond / jax.lax.cond). ``pred``: a bool scalar. Both branches must
    return the same structure of arrays with equal shapes and dtypes. Variables may be
    assigned inside a branch: the assignment happens only when that branch runs.
    Differentiable with respect to every float value the branches use."""
    trace = current_trace()
    if trace is not None and getattr(pred, "_graphc_variable", False):
        pred = pred.value()
    if trace is None or not isinstance(pred, Tensor):
        # a known predicate (eagerly, or a Python/numpy value while tracing): pick now
        taken = bool(np.asarray(pred.numpy() if hasattr(pred, "numpy") else pred))
        return true_fn(*operands) if taken else false_fn(*operands)
    pred_node = as_node(pred, trace)
    if pred_node.type != TensorType((), "bool"):
        raise ShapeError(f"cond: the predicate must be a bool scalar, got {pred_node.type}\n  at {user_source_line()}")
    bt_t, nodes_t, tree_t = _trace_branch(true_fn, operands, trace, "cond_true")
    bt_f, nodes_f, tree_f = _trace_branch(false_fn, operands, trace, "cond_false")
    if tree_t != tree_f:
        raise TraceError(f"cond: the branches return different structures: {tree_t} and {tree_f}\n"
                         f"  at {user_source_line()}")
    _unify(nodes_t, nodes_f, bt_t, bt_f)
    written = list(dict.fromkeys(list(bt_t.writes) + list(bt_f.writes)))
    for bt, nodes in ((bt_t, nodes_t), (bt_f, nodes_f)):
        bt.graph.outputs = nodes + [bt.read_variable(v) for v in written]
        bt.graph.sort()
    node = bind("cond", [pred] + list(bt_t.captured) + list(bt_f.captured), true_body=bt_t.graph,
                false_body=bt_f.graph, n_true=len(bt_t.captured), n_out=len(nodes_t))
    parts = [tuple_get(node, k) for k in range(len(nodes_t) + len(written))]
    for var, value in zip(written, parts[len(nodes_t):]):
        var.assign(value)
    return unflatten(tree_t, parts[:len(nodes_t)])
