"""``while_grad``: reverse mode through a while_loop that has no ``max_iterations``.

Without a bound the forward loop cannot keep every iteration's values in a buffer of
fixed size (how the bounded gradient in while_loop.py works). The body is pure, so the
backward pass recomputes them instead, from the initial loop state and the iteration
count N the forward loop reports:

1. re-run the body N times from the initial state, keeping a *checkpoint* of the loop
   state every ``SEGMENT`` (128) iterations (ceil(N / 128) states);
2. for each segment, last first: re-run the body from its checkpoint to get the
   segment's (at most 128) states, then walk them backwards calling the body's VJP
   program (d_carry, d_captures) <- vjp(state_i, d_carry, captures, d_captures).

So memory is O(N / 128 + 128) loop states (TF keeps all N on its stacks) and the cost is
about two forward loops plus one VJP loop. The checkpoints live in memory allocated
when the loop runs (N is known only then); if that allocation fails the gradients are
NaN rather than wrong numbers.

The node's inputs: the initial carries, the body's captures, the count N (int64), the
gradient of each float final carry, then the VJP graph's own captures (normally none);
its tuple type: the gradient of each float initial carry, then of each float capture.
It is CPU-only (graphc/codegen/while_grad_lowering.py), like while_loop. It has no
gradient rule of its own (a second derivative needs ``max_iterations``).
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..ir import TensorType, TupleType
from ..tracing import Tensor, as_node, bind
from .control import BodyTrace, _backprop_body, _Env, _zeros, tuple_get
from .registry import defop

SEGMENT = 128   # iterations per checkpoint: the states recomputed and held at once in the backward pass


def vjp_graph(body, nc, flt, cap_f, outer):
    """Trace the body's reverse mode as a Graph.

    Params: the iteration's input carries (all nc), the gradient of the float ones (flt),
    the body's captures, the running gradient of the float captures (cap_f). Outputs:
    the gradient of the iteration's float input carries, the captures' running gradient
    plus this iteration's contribution. Returns (graph, outer values it captured)."""
    from .elementwise import add

    params = body.params
    with BodyTrace(outer, "while_vjp") as bt:
        new = lambda t: Tensor(bt._new_param(t, None), bt)  # noqa: E731
        carry = [new(p.type) for p in params[:nc]]
        d = [new(params[k].type) for k in flt]
        caps = [new(p.type) for p in params[nc:]]
        acc = [new(params[nc + j].type) for j in cap_f]
        env = _Env({p.id: v for p, v in zip(params, carry + caps)}, bt)
        grads, _ = _backprop_body(body, env, dict(zip(flt, d)), [p.id for p in params], {})
        outs = []
        for k in flt:
            gk = grads.get(params[k].id)
            outs.append(gk if gk is not None else _zeros(params[k].type))
        for a, j in zip(acc, cap_f):
            gj = grads.get(params[nc + j].id)
            outs.append(a if gj is None else add(a, gj))
        nodes = [as_node(o, bt) for o in outs]
    bt.graph.outputs = nodes
    bt.graph.sort()
    return bt.graph, list(bt.captured)


def _grad_infer(types, attrs):
    body, vjp = attrs["body"], attrs["vjp"]
    nc, flt, cap_f = attrs["n_carry"], attrs["flt"], attrs["cap_f"]
    nb = len(body.params) - nc
    carries = [p.type for p in body.params[:nc]]
    caps = [p.type for p in body.params[nc:]]
    want = carries + caps + [TensorType((), "int64")] + [carries[k] for k in flt] + \
        [p.type for p in vjp.params[nc + len(flt) + nb + len(cap_f):]]
    if list(types) != want:
        raise ShapeError(f"while_grad inputs {list(map(str, types))} do not match {list(map(str, want))}")
    return TupleType(tuple([carries[k] for k in flt] + [caps[j] for j in cap_f]))


def _grad_impl(attrs, *arrays):
    """Reference: keep every state (the interpreter has no memory concern)."""
    from ..interpreter import interpret

    body, vjp = attrs["body"], attrs["vjp"]
    nc, flt, cap_f = attrs["n_carry"], attrs["flt"], attrs["cap_f"]
    nb = len(body.params) - nc
    carry = [np.asarray(a) for a in arrays[:nc]]
    caps = arrays[nc:nc + nb]
    count = int(arrays[nc + nb])
    d = [np.asarray(a) for a in arrays[nc + nb + 1:nc + nb + 1 + len(flt)]]
    vjp_caps = arrays[nc + nb + 1 + len(flt):]
    acc = [np.zeros(caps[j].shape, caps[j].dtype) for j in cap_f]
    states = []
    for _ in range(count):
        states.append(carry)
        carry = [np.asarray(r) for r in interpret(body, *carry, *caps)]
    for state in reversed(states):
        res = [np.asarray(r) for r in interpret(vjp, *state, *d, *caps, *acc, *vjp_caps)]
        d, acc = res[:len(flt)], res[len(flt):]
    return tuple(d) + tuple(acc)


class _WhileGradKernel:
    """Whole-step lowering (graphc/codegen/while_grad_lowering.py)."""

    def plan(self, node, lowering):
        from ..codegen.while_grad_lowering import plan_while_grad

        return plan_while_grad(node, lowering)

    def emit(self, target, module, builder, step, pointer):
        from ..codegen.while_grad_lowering import emit_while_grad

        return emit_while_grad(target, module, builder, step, pointer)


def _grad_vjp(g, ins, out, attrs):
    from ..errors import TraceError, user_source_line

    raise TraceError("the second derivative of a while_loop without max_iterations is not supported; pass "
                     f"max_iterations=N (TF's maximum_iterations) to while_loop\n  at {user_source_line()}")


defop("while_grad", "opaque", _grad_infer, _grad_impl, vjp=_grad_vjp, kernel=_WhileGradKernel())


def while_grad(init, body_caps, count, d_final, body, flt, cap_f, trace):
    """The gradients (of the float initial carries, of the float captures) of a while
    loop that ran ``count`` iterations of ``body`` from ``init``, given the gradient of
    its float final carries ``d_final``."""
    nc = len(init)
    vjp, vjp_caps = vjp_graph(body, nc, flt, cap_f, trace)
    node = bind("while_grad", list(init) + list(body_caps) + [count] + list(d_final) + vjp_caps,
                body=body, vjp=vjp, n_carry=nc, flt=tuple(flt), cap_f=tuple(cap_f), segment=SEGMENT)
    parts = [tuple_get(node, k) for k in range(len(flt) + len(cap_f))]
    return parts[:len(flt)], parts[len(flt):]
