"""gc.scan: a loop compiled to a native loop, with its forward values kept for backward.

``scan(fn, init, xs)`` runs ``carry, y = fn(carry, x)`` over the leading axis of xs
(JAX semantics; pytrees of arrays). The body is traced once into its own Graph; values
from the enclosing trace that the body uses (weights, Variables) become *captures*,
extra inputs of the ``scan`` node. The node has a tuple type: (final carries, stacked
ys, stacked input carries, residuals); ``tuple_get`` nodes project the parts.

Reverse mode is another scan, run in reverse (see ``_scan_vjp``): its body reads each
step's carries from the stacked input carries, recomputes the cheap forward values and
reads the costly ones (matmul results and what depends on them) from the *residuals*,
which the forward scan gains when its gradient is taken; a loop-invariant weight's
gradient ``sum_t x_t^T dz_t`` is one GEMM after the loop.

Lowering (CPU, graphc/codegen/control_lowering.py): the body Graph goes through the
same passes and becomes a nested Program whose entry function is called once per step
from a native loop; x_t / y_t are addressed by offset.
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import ShapeError, TraceError, user_source_line
from ..ir import Node, TensorType, TupleType
from ..pytree import flatten, unflatten
from ..tracing import Tensor, Trace, as_node, bind, current_trace
from .registry import defop, get_op


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

def scan_counts(attrs):
    """(carries, xs, ys, residuals) of a scan node: the body's outputs are its new
    carries, its ys, then its residuals (forward values kept for the backward scan)."""
    body = attrs["body"]
    nc, nr = attrs["n_carry"], attrs.get("n_res", 0)
    return nc, attrs["n_xs"], len(body.outputs) - nc - nr, nr


def _scan_types(attrs, in_types):
    body = attrs["body"]
    nc, nx, ny, nr = scan_counts(attrs)
    length = attrs["length"]
    carries = tuple(in_types[:nc])
    stack = lambda nodes: tuple(TensorType((length,) + o.type.shape, o.type.dtype) for o in nodes)  # noqa: E731
    ys = stack(body.outputs[nc:nc + ny])
    stacked = tuple(TensorType((length,) + t.shape, t.dtype) for t in carries)
    return carries, ys, stacked, stack(body.outputs[nc + ny:])


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
    carries, ys, stacked, residuals = _scan_types(attrs, types)
    return TupleType(carries + ys + stacked + residuals)


def _scan_impl(attrs, *arrays):
    from ..interpreter import interpret

    body = attrs["body"]
    nc, nx, ny, nr = scan_counts(attrs)
    length = attrs["length"]
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
    return tuple(carry) + tuple(out_ys[:ny]) + tuple(out_st) + tuple(out_ys[ny:])


class TupleGrad(dict):
    """Gradients of a tuple-typed node's parts, by index (missing parts are zero)."""


def _zeros(t):
    from .creation import zeros

    return zeros(t.shape, t.dtype)


# -- reverse mode -------------------------------------------------------------------------------
#
# The gradient of a scan is a reverse scan. Its body needs forward values of each step
# (the inputs and outputs the ops' vjp rules read). Cheap ones are recomputed from the
# step's carries and x's; the ones whose recomputation would re-run a matmul, a nested
# loop or a random op are *stashed*: the forward scan also outputs them, stacked over
# the steps (its residuals, as TF's while_loop keeps its forward tensors on stacks),
# when they fit in the memory budget. And the gradient of a loop-invariant weight used
# as ``x_t @ W`` is not accumulated step by step (a small GEMM and a carry copy per step):
# the backward loop outputs x_t and dZ_t, and dW = sum_t x_t^T dZ_t is one large GEMM
# after the loop.

def _is_costly(node) -> bool:
    """Whether recomputing ``node`` alone is expensive or would give another value."""
    op = get_op(node.op)
    return node.op in ("matmul", "tuple_get") or op.kind == "opaque" or not op.pure


def _costly_nodes(body) -> set:
    """Body nodes whose recomputation needs a costly op (themselves or upstream)."""
    out = set()
    for n in body.nodes:
        if n.op in ("param", "constant"):
            continue
        if _is_costly(n) or any(i.id in out for i in n.inputs):
            out.add(n.id)
    return out


def _stash_budget_bytes() -> int:
    """Residuals kept for the backward scan may use up to 1/8 of physical memory."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 8
    except (ValueError, OSError, AttributeError):
        return 1 << 30


def _backprop_body(body, value, seeds, wanted, hoistable):
    """Reverse mode through a body Graph with forward values from ``value(node)``.

    seeds: {body output position: gradient}; wanted: ids of the params whose gradients
    are needed. A matmul in ``hoistable`` (id -> param index of its loop-invariant right
    operand) does not contribute that operand's gradient here; instead its (left
    operand value, output gradient) pair is returned, to be summed after the loop.
    Returns ({param id: gradient}, {matmul id: (a, g)})."""
    from ..autodiff import _accumulate, _differentiable

    reach = set()
    stack = [body.outputs[j] for j in seeds]
    while stack:
        n = stack.pop()
        if n.id not in reach:
            reach.add(n.id)
            stack.extend(n.inputs)
    forward, ordered = set(wanted), []
    for n in body.nodes:
        if n.id in reach and (n.id in forward or any(i.id in forward for i in n.inputs)):
            forward.add(n.id)
            ordered.append(n)
    grads, hoisted = {}, {}
    for j, gy in seeds.items():
        o = body.outputs[j]
        if o.id in forward and _differentiable(o):
            _accumulate(grads, o, gy)
    for n in reversed(ordered):
        g = grads.get(n.id)
        if g is None or not n.inputs:
            continue
        op = get_op(n.op)
        if op.vjp is None:
            raise TraceError(f"op '{n.op}' has no gradient rule (traced at {n.loc})")
        in_grads = op.vjp(g, [value(i) for i in n.inputs], value(n), n.attrs)
        for k, (inp, ig) in enumerate(zip(n.inputs, in_grads)):
            if ig is None or inp.id not in forward or not _differentiable(inp):
                continue
            if k == 1 and n.id in hoistable:
                hoisted[n.id] = (value(n.inputs[0]), g)
                continue
            _accumulate(grads, inp, ig)
    return {pid: grads.get(pid) for pid in wanted}, hoisted


def _hoistable(body, first_capture) -> dict:
    """Matmuls ``a @ W`` (2-D) whose W is a loop-invariant float parameter and whose a varies
    per step: matmul id -> W's param index."""
    from ..dtypes import is_float

    index = {p.id: k for k, p in enumerate(body.params)}
    out = {}
    for n in body.nodes:
        if n.op != "matmul" or n.type.ndim != 2:
            continue
        a, w = n.inputs
        if a.type.ndim == 2 and index.get(w.id, -1) >= first_capture and is_float(w.type.dtype) \
                and a.op != "constant" and index.get(a.id, -1) < first_capture:
            out[n.id] = index[w.id]
    return out


class _Env:
    """Forward values of body nodes inside the backward body: params and stashed values
    are given; anything else is recomputed (on demand, memoized)."""

    def __init__(self, given, trace):
        self.values, self.trace = dict(given), trace

    def __call__(self, node):
        todo = [node]
        while todo:
            n = todo[-1]
            if n.id in self.values:
                todo.pop()
                continue
            if n.op == "constant":
                self.values[n.id] = Tensor(as_node(n.attrs["value"], self.trace), self.trace)
                todo.pop()
                continue
            missing = [i for i in n.inputs if i.id not in self.values]
            if missing:
                todo.extend(missing)
                continue
            self.values[n.id] = bind(n.op, [self.values[i.id] for i in n.inputs], **n.attrs)
            todo.pop()
        return self.values[node.id]


def _probe_backward(body, seeds, hoistable, outer):
    """Dry run of the backward body in a throwaway trace where every forward value is a
    placeholder: which forward values the gradient reads (and so which would be stashed
    or recomputed), which matmuls are hoisted and which params get in-loop gradients."""
    with BodyTrace(outer, "scan_grad_probe") as bt:
        holders = {}

        def value(n):
            h = holders.get(n.id)
            if h is None:
                h = holders[n.id] = Tensor(bt._new_param(n.type, None), bt)
            return h

        wanted = [p.id for p in body.params]
        seed_t = {j: Tensor(bt._new_param(body.outputs[j].type, None), bt) for j in seeds}
        grads, hoisted = _backprop_body(body, value, seed_t, wanted, hoistable)
        roots = [g.node for g in grads.values() if isinstance(g, Tensor)]
        for a, g in hoisted.values():
            roots += [x.node for x in (a, g) if isinstance(x, Tensor)]
        reached, stack = set(), roots
        while stack:
            n = stack.pop()
            if n.id not in reached:
                reached.add(n.id)
                stack.extend(n.inputs)
    read = {nid for nid, h in holders.items() if h.node.id in reached}
    with_grad = {pid for pid, g in grads.items() if g is not None}
    return read, set(hoisted), with_grad


def _add_residuals(node, nodes) -> list:
    """Make forward scan ``node`` also output the stacked values of body ``nodes``;
    returns each one's part index (a ys part when the value already is a y)."""
    from ..ir import Graph

    attrs = node.attrs
    body = attrs["body"]
    nc, nx, ny, nr = scan_counts(attrs)
    outputs = list(body.outputs)
    parts = []
    for n in nodes:
        j = next((j for j in range(nc, nc + ny) if outputs[j] is n), None)
        if j is not None:
            parts.append(j)
            continue
        r = next((r for r, o in enumerate(outputs[nc + ny:]) if o is n), None)
        if r is None:
            outputs.append(n)
            r = len(outputs) - nc - ny - 1
        parts.append(2 * nc + ny + r)
    if len(outputs) != len(body.outputs):
        g = Graph(body.name)
        g.params, g.nodes, g.outputs = body.params, body.nodes, outputs
        g.var_reads, g.var_updates, g.in_tree, g.out_tree = body.var_reads, body.var_updates, body.in_tree, body.out_tree
        node.attrs = dict(attrs, body=g, n_res=len(outputs) - nc - ny)
        node.type = _scan_infer([i.type for i in node.inputs], node.attrs)
    return parts


def _scan_vjp(g, ins, out, attrs):
    """Reverse-mode rule: a reverse scan over (x_t, carry_t, stashed_t, dy_t) with carry
    (dcarry, dcaptures), plus the hoisted weight gradients after it."""
    from ..dtypes import is_float
    from ..symbolic import dim_mul
    from .linalg import matmul
    from .shape_ops import reshape, transpose

    node = out.node
    body = attrs["body"]
    nc, nx, ny, nr = scan_counts(attrs)
    length = attrs["length"]
    types = node.type.types
    parts = lambda k: tuple_get(out, k)  # noqa: E731
    g = g if isinstance(g, dict) else TupleGrad()
    # seeds: every carry (its gradient is a loop value), and the ys / residuals given one
    res_part = lambda j: j if j < nc + ny else j + nc  # noqa: E731  body output -> part index
    seeded = list(range(nc)) + [j for j in range(nc, nc + ny + nr) if g.get(res_part(j)) is not None]
    d_final = [g.get(k) if g.get(k) is not None else _zeros(types[k]) for k in range(nc)]
    xs, captured = ins[nc:nc + nx], ins[nc + nx:]
    first_cap = nc + nx
    hoistable = _hoistable(body, first_cap)

    # which forward values does the backward read, and which of those to keep
    read, hoisted_ids, with_grad = _probe_backward(body, dict.fromkeys(seeded), hoistable, current_trace())
    costly = _costly_nodes(body)
    param_ids = {p.id for p in body.params}
    by_id = {n.id: n for n in body.nodes}
    stash = [by_id[i] for i in sorted(read) if i in costly and i not in param_ids
             and isinstance(by_id[i].type, TensorType)]
    hoist = {m: hoistable[m] for m in hoisted_ids}
    hint = lambda t: t.size_hint * np.dtype(t.dtype).itemsize  # noqa: E731  (symbolic sizes: their hint)
    per_step = sum(hint(n.type) for n in stash)
    per_step += sum(hint(by_id[m].inputs[0].type) + hint(by_id[m].type) for m in hoist)
    if per_step * length > _stash_budget_bytes() or node.op != "scan":
        stash, hoist = [], {}  # recompute every step instead (and accumulate every gradient in the loop)
        if hoisted_ids:
            _, _, with_grad = _probe_backward(body, dict.fromkeys(seeded), {}, current_trace())
    if stash:
        stash_parts = _add_residuals(node, stash)
        types = node.type.types
        stashed = [parts(k) for k in stash_parts]
    else:
        stashed = []
    stacked = [parts(nc + ny + k) for k in range(nc)]
    d_ys = [g.get(res_part(j)) for j in seeded[nc:]]
    # the stacked input carries are the carries each step read: their gradient (in a
    # higher-order gradient) adds to that step's carry gradient
    d_stacked = {k: g.get(nc + ny + k) for k in range(nc) if g.get(nc + ny + k) is not None}

    params = body.params
    cap_loop = [k for k in range(len(captured)) if params[first_cap + k].id in with_grad
                and is_float(params[first_cap + k].type.dtype)]
    x_grad = [k for k in range(nx) if params[nc + k].id in with_grad]
    hoist_ids = list(hoist)

    def bwd(carry, x):
        d_carry, d_caps = carry
        x_t, c_t, s_t, dy_t, dst_t = x
        trace = current_trace()
        given = {params[k].id: c_t[k] for k in range(nc)}
        given.update({params[nc + k].id: x_t[k] for k in range(nx)})
        given.update({params[first_cap + k].id: captured[k] for k in range(len(captured))})
        given.update({n.id: v for n, v in zip(stash, s_t)})
        env = _Env(given, trace)
        seeds = {k: d_carry[k] for k in range(nc)}
        seeds.update(dict(zip(seeded[nc:], dy_t)))
        wanted = [p.id for p in params]
        grads, hoisted = _backprop_body(body, env, seeds, wanted, hoist)

        def grad_of(k):
            gr = grads.get(params[k].id)
            return gr if gr is not None else _zeros(params[k].type)

        for k, gs in zip(d_stacked, dst_t):
            prev = grads.get(params[k].id)
            grads[params[k].id] = gs if prev is None else prev + gs

        new_caps = [a + grad_of(first_cap + k) for a, k in zip(d_caps, cap_loop)]
        ys = [grad_of(nc + k) for k in x_grad]
        for m in hoist_ids:
            a, gm = hoisted.get(m) or (env(by_id[m].inputs[0]), _zeros(by_id[m].type))
            ys += [a, gm]
        return ([grad_of(k) for k in range(nc)], new_caps), ys

    init = (d_final, [_zeros(captured[k].node.type) for k in cap_loop])
    (d_init, d_caps), ys = scan(bwd, init, (list(xs), stacked, stashed, d_ys, list(d_stacked.values())), reverse=not attrs["reverse"])
    d_xs = [None] * nx
    for j, k in enumerate(x_grad):
        d_xs[k] = ys[j]
    cap_grads = [None] * len(captured)
    for j, k in enumerate(cap_loop):
        cap_grads[k] = d_caps[j]
    for j, m in enumerate(hoist_ids):  # dW = sum_t a_t^T g_t: one GEMM over all steps
        a_all, g_all = ys[len(x_grad) + 2 * j], ys[len(x_grad) + 2 * j + 1]
        (rows, k_dim), n_dim = by_id[m].inputs[0].type.shape, by_id[m].type.shape[1]
        a2 = reshape(a_all, (dim_mul(length, rows), k_dim))  # rows may be a symbolic batch
        dw = matmul(transpose(a2, (1, 0)), reshape(g_all, (dim_mul(length, rows), n_dim)))
        k = hoist[m] - first_cap
        cap_grads[k] = dw if cap_grads[k] is None else cap_grads[k] + dw
    return list(d_init) + d_xs + cap_grads


class _ScanKernel:
    """Whole-step lowering of scan (see graphc/codegen/control_lowering.py)."""

    symbolic = True  # lowers programs with symbolic dimensions too (sizes computed in code)

    def plan(self, node, lowering):
        from ..codegen.control_lowering import plan_scan

        return plan_scan(node, lowering)

    def emit(self, target, module, builder, step, pointer, symbolic=None):
        from ..codegen.control_lowering import emit_scan

        return emit_scan(target, module, builder, step, pointer, symbolic)


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
    if isinstance(length, str):
        raise ShapeError(f"scan over a leading axis of symbolic size {length!r}: the number of steps must be "
                         f"static (other dimensions, such as the batch, may be symbolic)\n  at {user_source_line()}")
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
