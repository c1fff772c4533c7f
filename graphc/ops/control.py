"""gc.scan: a loop compiled to a native loop, with its forward values kept for backward.

``scan(fn, init, xs)`` runs ``carry, y = fn(carry, x)`` over the leading axis of xs
(JAX semantics; pytrees of arrays). The body is traced once into its own Graph; values
from the enclosing trace that the body uses (weights, Variables) become *captures*,
extra inputs of the ``scan`` node. The node has a tuple type: (final carries, stacked
ys, stacked input carries); ``tuple_get`` nodes project the parts. The stacked input
carries are what reverse mode needs: the gradient of a scan is another scan, run in
reverse, whose body recomputes one step and applies ``gradients`` to it.

Lowering (CPU): the body Graph goes through the same passes and becomes a nested
Program whose entry function is called once per step from a native loop, with carries
ping-ponged between two scratch buffers and x_t / y_t addressed by offset.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError, TraceError, user_source_line
from ..ir import Node, TensorType, TupleType
from ..pytree import flatten, unflatten
from ..tracing import Tensor, Trace, as_node, bind, current_trace
from .registry import defop


class BodyTrace(Trace):
    """A nested trace whose uses of outer values become captured parameters."""

    def __init__(self, outer: Trace, name="scan_body"):
        super().__init__(name)
        self.outer = outer
        self.captured: list = []          # outer values (Tensor or Variable), in param order
        self._capture_nodes: dict = {}    # id(outer value) -> param Node
        self.device_stack = list(outer.device_stack)

    def _new_param(self, t: TensorType, origin) -> Node:
        node = Node("param", [], {"index": len(self.graph.params), "_type": t}, t, user_source_line())
        self.add(node)
        self.graph.params.append(node)
        return node

    def capture(self, x) -> Node:
        key = id(x.node) if isinstance(x, Tensor) else id(x)
        node = self._capture_nodes.get(key)
        if node is None:
            t = x.node.type if isinstance(x, Tensor) else TensorType(x.shape, x.dtype)
            node = self._new_param(t, x)
            self._capture_nodes[key] = node
            self.captured.append(x)
        return node

    def read_variable(self, var) -> Node:
        return self.capture(var)

    def write_variable(self, var, node):
        raise TraceError(f"assigning variable '{var.name}' inside a scan body is not supported\n  at {user_source_line()}")


def _leaf_type(x) -> TensorType:
    if isinstance(x, Tensor):
        return x.node.type
    a = np.asarray(x)
    from .. import dtypes

    return TensorType(a.shape, dtypes.canonical(a.dtype))


def trace_body(fn, carry_types, x_types, carry_tree, x_tree, outer: Trace):
    """Trace ``fn(carry, x)`` into a Graph: params = carries, x's, then captures."""
    with BodyTrace(outer) as bt:
        carry = [Tensor(bt._new_param(t, None), bt) for t in carry_types]
        xs = [Tensor(bt._new_param(t, None), bt) for t in x_types]
        out = fn(unflatten(carry_tree, carry), unflatten(x_tree, xs))
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TraceError(f"scan body must return (carry, y)\n  at {user_source_line()}")
        new_carry, y = out
        nc_leaves, nc_tree = flatten(new_carry)
        if nc_tree != carry_tree:
            raise TraceError(f"scan body changed the carry structure: {carry_tree} -> {nc_tree}")
        y_leaves, y_tree = flatten(y)
        g = bt.graph
        g.outputs = [as_node(v, bt) for v in nc_leaves] + [as_node(v, bt) for v in y_leaves]
        for k, (o, t) in enumerate(zip(g.outputs, carry_types)):
            if o.type != t:
                raise TraceError(f"scan body returns carry {k} of type {o.type}, expected {t}\n  at {user_source_line()}")
        g.sort()
        return g, bt.captured, y_tree, len(y_leaves)


# -- the scan op ------------------------------------------------------------------------------

def _scan_types(attrs, in_types):
    body = attrs["body"]
    nc, nx, length = attrs["n_carry"], attrs["n_xs"], attrs["length"]
    carries = tuple(in_types[:nc])
    ys = tuple(TensorType((length,) + o.type.shape, o.type.dtype) for o in body.outputs[nc:])
    stacked = tuple(TensorType((length,) + t.shape, t.dtype) for t in carries)
    return carries, ys, stacked


def _scan_infer(types, attrs):
    body = attrs["body"]
    nc, nx, length = attrs["n_carry"], attrs["n_xs"], attrs["length"]
    if len(types) != len(body.params):
        raise ShapeError(f"scan has {len(types)} inputs, body takes {len(body.params)}")
    for k, (t, p) in enumerate(zip(types, body.params)):
        want = p.type
        if nc <= k < nc + nx:
            want = TensorType((length,) + p.type.shape, p.type.dtype)
        if t != want:
            raise ShapeError(f"scan input {k} has type {t}, expected {want}")
    carries, ys, stacked = _scan_types(attrs, types)
    return TupleType(carries + ys + stacked)


def _scan_impl(attrs, *arrays):
    from ..interpreter import interpret

    body = attrs["body"]
    nc, nx, length = attrs["n_carry"], attrs["n_xs"], attrs["length"]
    carry = [np.asarray(a) for a in arrays[:nc]]
    xs = arrays[nc:nc + nx]
    captured = arrays[nc + nx:]
    steps = range(length - 1, -1, -1) if attrs["reverse"] else range(length)
    out_ys = [np.zeros((length,) + o.type.shape, o.type.dtype) for o in body.outputs[nc:]]
    out_st = [np.zeros((length,) + c.shape, c.dtype) for c in carry]
    for t in steps:
        for k, c in enumerate(carry):
            out_st[k][t] = c
        res = interpret(body, *carry, *[x[t] for x in xs], *captured)
        carry = [np.asarray(r) for r in res[:nc]]
        for k, y in enumerate(res[nc:]):
            out_ys[k][t] = y
    return tuple(carry) + tuple(out_ys) + tuple(out_st)


class TupleGrad(dict):
    """Gradients of a tuple-typed node's parts, by index (missing parts are zero)."""


def _replay(graph, inputs):
    """Re-emit a body Graph's nodes into the current trace (inputs bind its params)."""
    env = {p.id: x for p, x in zip(graph.params, inputs)}
    for n in graph.nodes:
        if n.id in env:
            continue
        if n.op == "constant":
            env[n.id] = n.attrs["value"]
            continue
        env[n.id] = bind(n.op, [env[i.id] for i in n.inputs], **n.attrs)
    return [env[o.id] for o in graph.outputs]


def _zeros(t):
    from .creation import zeros

    return zeros(t.shape, t.dtype)


def _scan_vjp(g, ins, out, attrs):
    """Reverse-mode rule: a reverse scan over (x_t, carry_t, dy_t) with carry (dcarry, dcaptures)."""
    from ..autodiff import gradients
    from ..dtypes import is_float

    body = attrs["body"]
    nc, nx = attrs["n_carry"], attrs["n_xs"]
    ny = len(body.outputs) - nc
    types = out.node.type.types
    carries_t = types[:nc]
    ys_t = types[nc:nc + ny]
    parts = [tuple_get(out, k) for k in range(len(types))]
    stacked = parts[nc + ny:]
    g = g if isinstance(g, dict) else TupleGrad()
    d_final = [g.get(k) if g.get(k) is not None else _zeros(carries_t[k]) for k in range(nc)]
    d_ys = [g.get(nc + k) if g.get(nc + k) is not None else _zeros(ys_t[k]) for k in range(ny)]
    xs = ins[nc:nc + nx]
    captured = ins[nc + nx:]
    cap_float = [is_float(c.node.type.dtype) for c in captured]

    def bwd(carry, x):
        d_carry, d_caps = carry
        x_t, c_t, dy_t = x
        res = _replay(body, list(c_t) + list(x_t) + list(captured))
        targets = list(c_t) + list(x_t) + [c for c, f in zip(captured, cap_float) if f]
        grads = gradients(res, targets, grad_ys=list(d_carry) + list(dy_t))
        grads = [gr if gr is not None else _zeros(_leaf_type(t)) for gr, t in zip(grads, targets)]
        n_c, n_x = len(c_t), len(x_t)
        new_caps = [a + b for a, b in zip(d_caps, grads[n_c + n_x:])]
        return (grads[:n_c], new_caps), grads[n_c:n_c + n_x]

    float_caps = [c for c, f in zip(captured, cap_float) if f]
    init = (d_final, [_zeros(c.node.type) for c in float_caps])
    (d_init, d_caps), d_xs = scan(bwd, init, (list(xs), list(stacked), d_ys), reverse=not attrs["reverse"])
    cap_grads = iter(d_caps)
    result = list(d_init) + list(d_xs) + [next(cap_grads) if f else None for f in cap_float]
    return result


class _ScanKernel:
    """Whole-step lowering of scan (see graphc/codegen/control_lowering.py)."""

    def plan(self, node, lowering):
        from ..codegen.control_lowering import plan_scan

        return plan_scan(node, lowering)

    def emit(self, target, module, builder, step, pointer):
        from ..codegen.control_lowering import emit_scan

        return emit_scan(target, module, builder, step, pointer)


defop("scan", "opaque", _scan_infer, _scan_impl, vjp=_scan_vjp, kernel=_ScanKernel())


def _get_infer(types, attrs):
    (t,) = types
    if not isinstance(t, TupleType) or not 0 <= attrs["index"] < len(t.types):
        raise ShapeError(f"tuple_get index {attrs['index']} out of range for {t}")
    return t.types[attrs["index"]]


def _get_vjp(g, ins, out, attrs):
    return [TupleGrad({attrs["index"]: g})]


# A view into a tuple-typed node's buffer: no kernel of its own (kind "source").
defop("tuple_get", "source", _get_infer, lambda a, t: t[a["index"]], vjp=_get_vjp)


def tuple_get(x, index: int):
    return bind("tuple_get", [x], index=int(index))


# -- user-facing ------------------------------------------------------------------------------

def scan(fn, init, xs, length: int | None = None, reverse: bool = False):
    """Loop ``carry, y = fn(carry, x)`` over the leading axis of ``xs``; returns (carry, ys).

    Compiled to a native loop (not unrolled); differentiable (reverse mode).
    """
    trace = current_trace()
    if trace is None:
        from ..compiler import CompiledFunction

        return CompiledFunction(lambda i, x: scan(fn, i, x, length, reverse))(init, xs)
    c_leaves, c_tree = flatten(init)
    x_leaves, x_tree = flatten(xs)
    x_types = [_leaf_type(x) for x in x_leaves]
    if length is None:
        if not x_types:
            raise ShapeError(f"scan needs xs or length\n  at {user_source_line()}")
        length = x_types[0].shape[0] if x_types[0].shape else None
    for t in x_types:
        if not t.shape or t.shape[0] != length:
            raise ShapeError(f"scan: every xs leaf needs leading axis {length}, got {t}\n  at {user_source_line()}")
    c_nodes = [as_node(c, trace) for c in c_leaves]
    carry_types = [n.type for n in c_nodes]
    body, captured, y_tree, ny = trace_body(fn, carry_types, [TensorType(t.shape[1:], t.dtype) for t in x_types],
                                            c_tree, x_tree, trace)
    node = bind("scan", [Tensor(n, trace) for n in c_nodes] + list(x_leaves) + list(captured), body=body,
                n_carry=len(c_nodes), n_xs=len(x_leaves), length=int(length), reverse=bool(reverse))
    parts = [tuple_get(node, k) for k in range(len(c_nodes) + ny)]
    return unflatten(c_tree, parts[:len(c_nodes)]), unflatten(y_tree, parts[len(c_nodes):])
