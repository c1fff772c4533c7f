"""gc.while_loop: a loop whose number of iterations is decided at run time.

``while_loop(cond_fn, body_fn, init, max_iterations=None)`` runs ``vars = body_fn(vars)``
while ``cond_fn(vars)`` is true (tf.while_loop / jax.lax.while_loop; ``vars`` a pytree
of arrays whose types the body keeps). Both functions are traced once into Graphs
whose uses of enclosing values become captures. The ``while_loop`` node's inputs are
the initial vars, the cond's captures, then the body's; its tuple type holds the final
vars, the iteration count (int64), and, when ``max_iterations`` is given, the vars as
each iteration read them, stacked along a leading axis of length ``max_iterations``
(zeros past the last iteration). With ``max_iterations`` the loop also stops after that
many iterations (TF's ``maximum_iterations``).

Gradient (reverse mode). With ``max_iterations`` (as TF does it): the forward stack
holds every iteration's input vars; the backward is a reverse scan over the
``max_iterations`` rows whose body is a ``cond``: rows past the iteration count are
skipped (nothing is computed for them), the others recompute that iteration's body and
apply reverse mode to it. Without it: a ``while_grad`` node (while_grad.py) re-runs the
pure body from the initial vars, keeping a checkpoint every 128 iterations, and walks
back through each 128-iteration segment with the body's reverse mode.

Variables assigned in the body (TF 1.x's assign inside a loop, e.g. a counter): each
becomes an extra loop variable (both functions are traced again with it), read as the
current iteration's value in the body and the cond, and assigned its final value when
the loop ends, so every iteration's assignment takes effect. The cond may not assign.

Lowering (CPU, graphc/codegen/cond_lowering.py): a native loop calling the cond's and
the body's programs. It has no GPU kernel: the placer keeps it on the CPU (like scan).
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError, TraceError, user_source_line
from ..ir import TensorType, TupleType
from ..pytree import flatten, unflatten
from ..tracing import Tensor, as_node, bind, current_trace
from .control import BodyTrace, TupleGrad, _backprop_body, _Env, _zeros, scan, tuple_get
from .registry import defop


class LoopTrace(BodyTrace):
    """The cond or the body of a while_loop. The Variables it assigns are recorded in
    ``writes`` (not refused as in a scan body); a Variable in ``carried`` is an extra
    loop variable: read as this iteration's value (a parameter after the user's loop
    variables) until assigned, and its last assignment is the next iteration's value."""

    def __init__(self, outer, name):
        super().__init__(outer, name)
        self.writes: dict = {}     # Variable -> Node of its new value, in assignment order
        self.carried: dict = {}    # Variable -> its loop-variable parameter

    def read_variable(self, var):
        node = self.writes.get(var)
        if node is None:
            node = self.carried.get(var)
        return node if node is not None else self.capture(var)

    def write_variable(self, var, node):
        self.writes[var] = node


def _trace_fn(fn, carry_types, carry_tree, outer, name, carried=()):
    with LoopTrace(outer, name) as bt:
        carry = [Tensor(bt._new_param(t, None), bt) for t in carry_types]
        for var in carried:
            bt.carried[var] = bt._new_param(TensorType(var.shape, var.dtype), None)
        result = fn(unflatten(carry_tree, carry))
        leaves, tree = flatten(result)
        nodes = [as_node(v, bt) for v in leaves] + [bt.read_variable(var) for var in carried]
    bt.graph.outputs = nodes
    bt.graph.sort()
    return bt, tree


def _while_infer(types, attrs):
    cond_g, body_g = attrs["cond"], attrs["body"]
    nc, ncc, max_it = attrs["n_carry"], attrs["n_cond_caps"], attrs["max_iterations"]
    carries = list(types[:nc])
    want = carries + [p.type for p in cond_g.params[nc:]] + [p.type for p in body_g.params[nc:]]
    if list(types) != want or len(cond_g.params) != nc + ncc:
        raise ShapeError(f"while_loop inputs {list(map(str, types))} do not match its functions' "
                         f"parameters {list(map(str, want))}")
    if [p.type for p in body_g.params[:nc]] != carries or [p.type for p in cond_g.params[:nc]] != carries:
        raise ShapeError("while_loop: the functions' loop variables do not match the initial values")
    if [o.type for o in cond_g.outputs] != [TensorType((), "bool")]:
        raise ShapeError(f"while_loop: cond must return one bool scalar, got {[str(o.type) for o in cond_g.outputs]}")
    if [o.type for o in body_g.outputs] != carries:
        raise ShapeError(f"while_loop: the body returns {[str(o.type) for o in body_g.outputs]}, "
                         f"the loop variables are {[str(t) for t in carries]}")
    parts = carries + [TensorType((), "int64")]
    if max_it is not None:
        parts += [TensorType((max_it,) + t.shape, t.dtype) for t in carries]
    return TupleType(tuple(parts))


def _while_impl(attrs, *arrays):
    from ..interpreter import interpret

    nc, ncc, max_it = attrs["n_carry"], attrs["n_cond_caps"], attrs["max_iterations"]
    carry = [np.asarray(a) for a in arrays[:nc]]
    cond_caps, body_caps = arrays[nc:nc + ncc], arrays[nc + ncc:]
    stacked = [np.zeros((max_it,) + c.shape, c.dtype) for c in carry] if max_it is not None else []
    i = 0
    while (max_it is None or i < max_it) and bool(np.asarray(interpret(attrs["cond"], *carry, *cond_caps)[0])):
        for k, c in enumerate(carry):
            if stacked:
                stacked[k][i] = c
        carry = [np.asarray(r) for r in interpret(attrs["body"], *carry, *body_caps)]
        i += 1
    return tuple(carry) + (np.int64(i),) + tuple(stacked)


def _while_vjp(g, ins, out, attrs):
    """A reverse scan over the stacked iterations; rows at or past the count are a cond's
    no-op branch."""
    from ..dtypes import is_float
    from .creation import arange

    nc, ncc, max_it = attrs["n_carry"], attrs["n_cond_caps"], attrs["max_iterations"]
    g = g if isinstance(g, dict) else TupleGrad()
    types = out.node.type.types
    flt = [k for k in range(nc) if is_float(types[k].dtype)]
    seeded = [k for k in flt if g.get(k) is not None]
    body = attrs["body"]
    body_caps = list(ins[nc + ncc:])
    cap_f = [j for j, c in enumerate(body_caps) if is_float(c.node.type.dtype)]
    # (higher order) gradients of the stacked input vars: row t adds to iteration t's
    stack_g = {k: g.get(nc + 1 + k) for k in flt if max_it is not None and g.get(nc + 1 + k) is not None}
    if not seeded and not stack_g:
        return [None] * len(ins)
    count = tuple_get(out, nc)
    if max_it is None:   # no bound on a stack: recompute the iterations from the initial state
        from .while_grad import while_grad

        d_final = [g.get(k) if g.get(k) is not None else _zeros(types[k]) for k in flt]
        d_init, d_caps = while_grad(ins[:nc], body_caps, count, d_final, body, flt, cap_f, current_trace())
        grads = [None] * len(ins)
        for k, d in zip(flt, d_init):
            grads[k] = d
        for j, d in zip(cap_f, d_caps):
            grads[nc + ncc + j] = d
        return grads
    stacked = [tuple_get(out, nc + 1 + k) for k in range(nc)]

    init = ([g.get(k) if g.get(k) is not None else _zeros(types[k]) for k in flt],
            [_zeros(body_caps[j].node.type) for j in cap_f])
    steps = arange(0, max_it, 1, "int64")
    (d_init, d_caps), _ = scan(_backward_step(nc, flt, cap_f, body, body_caps, count, types, list(stack_g)),
                               init, (stacked, steps, list(stack_g.values())), reverse=True)
    grads = [None] * len(ins)
    for k, d in zip(flt, d_init):
        grads[k] = d
    for j, d in zip(cap_f, d_caps):
        grads[nc + ncc + j] = d
    return grads


def _backward_step(nc, flt, cap_f, body, body_caps, count, types, stack_keys=()):
    """The reverse scan's body: one iteration's gradient, or nothing past the count. The
    gradient given to row t of the stacked vars of carries ``stack_keys`` (a second
    derivative reads them) adds to the gradient of iteration t's input vars."""
    from .cond import cond
    from .elementwise import add, less

    params = body.params

    def step(carry, x):
        d_carry, d_caps = carry
        c_t, t, gs_t = x

        def active():
            trace = current_trace()
            given = {params[k].id: c_t[k] for k in range(nc)}
            given.update({params[nc + j].id: body_caps[j] for j in range(len(body_caps))})
            env = _Env(given, trace)
            grads, _ = _backprop_body(body, env, dict(zip(flt, d_carry)), [p.id for p in params], {})
            new_d = [grads.get(params[k].id) if grads.get(params[k].id) is not None else _zeros(types[k])
                     for k in flt]
            for k, gs in zip(stack_keys, gs_t):
                new_d[flt.index(k)] = add(new_d[flt.index(k)], gs)
            new_caps = []
            for acc, j in zip(d_caps, cap_f):
                gj = grads.get(params[nc + j].id)
                new_caps.append(acc if gj is None else add(acc, gj))
            return new_d, new_caps

        def idle():
            return list(d_carry), list(d_caps)

        return cond(less(t, count), active, idle), ()

    return step


class _WhileKernel:
    """Whole-step lowering (graphc/codegen/cond_lowering.py)."""

    symbolic = True  # lowers programs with symbolic dimensions too (sizes computed in code)

    def plan(self, node, lowering):
        from ..codegen.cond_lowering import plan_while

        return plan_while(node, lowering)

    def emit(self, target, module, builder, step, pointer, symbolic=None):
        from ..codegen.cond_lowering import emit_while

        return emit_while(target, module, builder, step, pointer, symbolic)


defop("while_loop", "opaque", _while_infer, _while_impl, vjp=_while_vjp, kernel=_WhileKernel())


def while_loop(cond_fn, body_fn, init, max_iterations: int | None = None):
    """Run ``vars = body_fn(vars)`` while ``cond_fn(vars)``; returns the final ``vars``.

    The number of iterations is decided at run time (a native loop, not unrolled). With
    ``max_iterations`` the loop stops after at most that many iterations (as TF's
    maximum_iterations). It is differentiable (reverse mode) with respect to the
    initial vars and every float value the body uses, with or without
    ``max_iterations`` (without it the backward pass recomputes the iterations).
    The body may assign Variables: every iteration's assignment takes effect."""
    if max_iterations is not None:
        max_iterations = int(max_iterations)
        if max_iterations < 0:
            raise ShapeError(f"while_loop: max_iterations must be >= 0, got {max_iterations}")
    trace = current_trace()
    if trace is None:
        from ..compiler import CompiledFunction

        return CompiledFunction(lambda v: while_loop(cond_fn, body_fn, v, max_iterations))(init)
    leaves, tree = flatten(init)
    nodes = [as_node(x, trace) for x in leaves]
    carry_types = [n.type for n in nodes]
    cond_bt, cond_tree = _trace_fn(cond_fn, carry_types, tree, trace, "while_cond")
    body_bt, body_tree = _trace_fn(body_fn, carry_types, tree, trace, "while_body")
    if cond_bt.writes:
        raise TraceError(f"while_loop: the cond assigns variable '{next(iter(cond_bt.writes)).name}'; assign "
                         f"variables in the body\n  at {user_source_line()}")
    written = list(body_bt.writes)
    if written:   # assigned Variables become loop variables: trace both functions again with them
        cond_bt, cond_tree = _trace_fn(cond_fn, carry_types, tree, trace, "while_cond", written)
        body_bt, body_tree = _trace_fn(body_fn, carry_types, tree, trace, "while_body", written)
        if set(body_bt.writes) != set(written) or cond_bt.writes:
            raise TraceError(f"while_loop: the body assigned different variables when traced again "
                             f"({sorted(v.name for v in written)} then "
                             f"{sorted(v.name for v in body_bt.writes)})\n  at {user_source_line()}")
    if body_tree != tree:
        raise TraceError(f"while_loop: the body changed the loop variables' structure: {tree} -> {body_tree}\n"
                         f"  at {user_source_line()}")
    for k, (o, t) in enumerate(zip(body_bt.graph.outputs, carry_types)):
        if o.type != t:
            raise ShapeError(f"while_loop: the body returns loop variable {k} as {o.type}, it entered as {t} "
                             f"(shapes and dtypes must stay the same)\n  at {user_source_line()}")
    outs = cond_bt.graph.outputs
    if len(outs) != 1 + len(written) or outs[0].type != TensorType((), "bool"):
        raise ShapeError(f"while_loop: cond must return one bool scalar, got "
                         f"{[str(o.type) for o in outs[:len(outs) - len(written)]]}\n  at {user_source_line()}")
    cond_bt.graph.outputs = outs[:1]   # the carried variables' values were only there to be read
    n_user = len(nodes)
    nodes += [trace.read_variable(var) for var in written]
    node = bind("while_loop", [Tensor(n, trace) for n in nodes] + list(cond_bt.captured) + list(body_bt.captured),
                cond=cond_bt.graph, body=body_bt.graph, n_carry=len(nodes), n_cond_caps=len(cond_bt.captured),
                max_iterations=max_iterations)
    parts = [tuple_get(node, k) for k in range(len(nodes))]
    for var, value in zip(written, parts[n_user:]):   # each iteration's assignments, applied in turn
        var.assign(value)
    return unflatten(tree, parts[:n_user])


from . import while_grad as _while_grad  # noqa: F401,E402  (registers the unbounded gradient op)
