"""gc.vmap: batching as a graph transformation.

``vmap(fn, in_axes, out_axes)`` traces ``fn`` once on one example (the per-example
shapes: the mapped axis removed) into a body graph, then re-emits every node of that
graph into the current trace with a *batching rule*: a batched value carries the batch
as its leading axis, and each rule says how the op applies to it:

- elementwise ops (any arity): batched operands get unit axes after the batch axis so
  numpy broadcasting lines up the per-example axes; unbatched operands are unchanged.
- reductions and argmax/argmin: the reduced axes shift by one.
- matmul (the op is >= 2-D): the batch is one more broadcast batch axis.
- reshape, transpose, broadcast_to, slice, slice_grad, concatenate: their shape/axis
  attributes gain the batch axis; gather (indexing, take, embedding lookups): one axis
  further in, or the batch of indices moved to the front, or (both batched) one gather
  from the batch-flattened params.

A node none of whose inputs is batched is re-emitted as it is (constants, weights the
function closes over, their products). An op without a rule raises a TraceError naming
it. The result is an ordinary graph, so vmap composes with ``gc.compile``, ``gc.grad``
(in either order) and the other transformations; called outside a trace it compiles
the batched function once per signature.
"""
from __future__ import annotations

import functools

import numpy as np

from .errors import ShapeError, TraceError, user_source_line
from .ops.registry import get_op
from .pytree import flatten, unflatten
from .tracing import Tensor, as_node, bind, current_trace


def _rank(x) -> int:
    return len(x.shape)


def _lift(x, rank: int):
    """A batched (B, *s) value as (B, 1, ..., 1, *s) with ``rank`` per-example axes."""
    from .ops.shape_ops import reshape

    s = tuple(x.shape[1:])
    if len(s) >= rank:
        return x
    return reshape(x, (x.shape[0],) + (1,) * (rank - len(s)) + s)


def _elementwise(node, ins, batched, B):
    rank = node.type.ndim
    args = [_lift(x, rank) if b else x for x, b in zip(ins, batched)]
    return bind(node.op, args, **node.attrs)


def _reduce(node, ins, batched, B):
    attrs = dict(node.attrs)
    attrs["axes"] = tuple(a + 1 for a in attrs["axes"])
    return bind(node.op, ins, **attrs)


def _matmul(node, ins, batched, B):
    (a, b), (ba, bb) = ins, batched
    rank = max(len(a.shape) - ba, len(b.shape) - bb)
    a = _lift(a, rank) if ba else a
    b = _lift(b, rank) if bb else b
    out = bind("matmul", [a, b])
    if tuple(out.shape) != (B,) + tuple(node.type.shape):
        raise TraceError(f"vmap of matmul: batched result {tuple(out.shape)}, expected "
                         f"{(B,) + tuple(node.type.shape)} (traced at {node.loc})")
    return out


def _only_first_batched(node, batched):
    if any(batched[1:]):
        raise TraceError(f"vmap: op '{node.op}' with a batched operand other than the first is not "
                         f"supported (traced at {node.loc})")


def _reshape(node, ins, batched, B):
    return bind("reshape", ins, shape=(B,) + tuple(node.attrs["shape"]))


def _transpose(node, ins, batched, B):
    return bind("transpose", ins, perm=(0,) + tuple(p + 1 for p in node.attrs["perm"]))


def _broadcast_to(node, ins, batched, B):
    shape = tuple(node.attrs["shape"])
    return bind("broadcast_to", [_lift(ins[0], len(shape))], shape=(B,) + shape)


def _slice(node, ins, batched, B):
    a = node.attrs
    return bind("slice", ins, starts=(0,) + tuple(a["starts"]), steps=(1,) + tuple(a["steps"]),
                shape=(B,) + tuple(a["shape"]))


def _slice_grad(node, ins, batched, B):
    attrs = dict(node.attrs)
    attrs.update(in_shape=(B,) + tuple(attrs["in_shape"]), starts=(0,) + tuple(attrs["starts"]),
                 steps=(1,) + tuple(attrs["steps"]), shape=(B,) + tuple(attrs["shape"]))
    return bind("slice_grad", ins, **attrs)


def _concatenate(node, ins, batched, B):
    from .ops.shape_ops import broadcast_to

    xs = [x if b else broadcast_to(x, (B,) + tuple(x.shape)) for x, b in zip(ins, batched)]
    return bind("concatenate", xs, axis=node.attrs["axis"] + 1)


def _gather(node, ins, batched, B):
    """params batched: gather one axis further in; indices batched: the batch axis lands
    at ``axis`` and moves to the front; both: each example gathers from its own params,
    as one gather from the batch-flattened params with offsets b * n."""
    from .ops.common import cast_to
    from .ops.elementwise import add, maximum, minimum
    from .ops.shape_ops import reshape

    (params, idx), (bp, bi) = ins, batched
    axis = node.attrs["axis"]
    if bp and not bi:
        return bind("gather", [params, idx], axis=axis + 1)
    if bi and not bp:
        out = bind("gather", [params, idx], axis=axis)
        return _move_axis(out, axis, 0) if axis else out
    if axis != 0:
        params = _move_axis(params, axis + 1, 1)
    n = params.shape[1]
    flat = reshape(params, (B * n,) + tuple(params.shape[2:]))
    dt = idx.dtype.name
    clamped = minimum(maximum(idx, cast_to(0, dt)), cast_to(n - 1, dt))  # per example, as gather clamps
    offsets = np.arange(B, dtype=dt).reshape((B,) + (1,) * (len(idx.shape) - 1)) * n
    out = bind("gather", [flat, add(clamped, offsets)], axis=0)   # (B, *idx_example, *rest)
    if axis != 0:
        ni = len(idx.shape) - 1
        rest = tuple(range(1 + ni, len(out.shape)))
        lead = rest[:axis]
        perm = (0,) + lead + tuple(range(1, 1 + ni)) + rest[axis:]
        from .ops.shape_ops import transpose

        out = transpose(out, perm)
    return out


_RULES = {
    "reduce_sum": _reduce, "reduce_max": _reduce, "reduce_min": _reduce, "reduce_prod": _reduce,
    "argmax": _reduce, "argmin": _reduce, "matmul": _matmul, "reshape": _reshape, "transpose": _transpose,
    "broadcast_to": _broadcast_to, "slice": _slice, "slice_grad": _slice_grad, "concatenate": _concatenate,
    "materialize": lambda node, ins, batched, B: bind("materialize", ins),  # an identity
    "gather": _gather,
}
_FIRST_ONLY = {"reshape", "transpose", "broadcast_to", "slice", "slice_grad"}
# elementwise-kind ops whose attributes describe a shape (sources): never batched
_NOT_ELEMENTWISE = {"fill", "iota", "random", "dim_size"}


def batching_rule(op_name):
    """The rule for ``op_name`` (or None): rule(node, inputs, batched flags, B) -> value."""
    if op_name in _RULES:
        return _RULES[op_name]
    op = get_op(op_name)
    if op.kind == "elementwise" and op_name not in _NOT_ELEMENTWISE:
        return _elementwise
    return None


def _normalize_axes(axes, n, what):
    if isinstance(axes, (tuple, list)):
        if len(axes) != n:
            raise ValueError(f"vmap: {what} has {len(axes)} entries for {n} arguments")
        return list(axes)
    return [axes] * n


def _move_axis(x, src: int, dst: int):
    from .ops.shape_ops import transpose

    nd = len(x.shape)
    src, dst = src % nd, dst % nd
    if src == dst:
        return x
    perm = [k for k in range(nd) if k != src]
    perm.insert(dst, src)
    return transpose(x, tuple(perm))


def _vmap_traced(fn, in_axes, out_axes, args):
    from .ops.shape_ops import broadcast_to
    from .transforms import replay, trace_function

    trace = current_trace()
    axes = _normalize_axes(in_axes, len(args), "in_axes")
    B = None
    per_example, batched_inputs = [], []
    for a, ax in zip(args, axes):
        leaves, tree = flatten(a)
        ex_leaves = []
        for x in leaves:
            if ax is None or isinstance(x, (bool, int, float)) and not isinstance(x, np.generic):
                ex_leaves.append(x)
                continue
            t = x if isinstance(x, Tensor) else Tensor(as_node(x, trace), trace)
            if not t.shape:
                raise ShapeError(f"vmap: in_axes {ax} given for a 0-d argument\n  at {user_source_line()}")
            t = _move_axis(t, ax, 0)
            if B is None:
                B = t.shape[0]
            elif t.shape[0] != B:
                raise ShapeError(f"vmap: mapped axes have different sizes ({B} and {t.shape[0]})\n"
                                 f"  at {user_source_line()}")
            batched_inputs.append(t)
            # a stand-in for one example: only its shape and dtype are used (no memory)
            ex_leaves.append(np.broadcast_to(np.zeros((), t.dtype), tuple(t.shape[1:])))
        per_example.append(unflatten(tree, ex_leaves))
    if B is None:
        raise ValueError("vmap: no argument is mapped (every in_axes is None or the arguments have no arrays)")
    # which body params are batched: the stand-ins, in leaf order
    flags, it = [], iter(batched_inputs)
    real_inputs = []
    for a, ax in zip(args, axes):
        for x in flatten(a)[0]:
            if ax is None or isinstance(x, (bool, int, float)) and not isinstance(x, np.generic):
                if isinstance(x, (Tensor, np.ndarray, np.generic)) or getattr(x, "_graphc_variable", False):
                    real_inputs.append(x)
                    flags.append(False)
                continue
            real_inputs.append(next(it))
            flags.append(True)
    graph, _, captured, out_tree = trace_function(lambda *xs: fn(*xs), per_example, name="vmap_body")
    # trace_function flattened (per_example,) as one tuple: params follow leaf order
    inputs = [x if isinstance(x, Tensor) else Tensor(as_node(x, trace), trace) for x in real_inputs]
    inputs += [c if isinstance(c, Tensor) else Tensor(as_node(c, trace), trace) for c in captured]
    flags += [False] * len(captured)
    is_batched = {}

    def rule(node, ins):
        bflags = [is_batched.get(id(x), False) for x in ins]
        if not any(bflags):
            out = bind(node.op, ins, **node.attrs)
        else:
            r = batching_rule(node.op)
            if r is None:
                raise TraceError(f"vmap: op '{node.op}' has no batching rule (traced at {node.loc}); "
                                 f"batched: elementwise ops, reductions, matmul, reshape, transpose, "
                                 f"broadcast_to, slicing, concatenate\n  at {user_source_line()}")
            if node.op in _FIRST_ONLY:
                _only_first_batched(node, bflags)
            out = r(node, ins, bflags, B)
            is_batched[id(out)] = True
        return out

    for x, f in zip(inputs, flags):
        if f:
            is_batched[id(x)] = True
    outs = replay(graph, inputs, rules=rule)
    out_leaves = []
    o_axes = _normalize_axes(out_axes, len(outs), "out_axes") if isinstance(out_axes, (tuple, list)) \
        else [out_axes] * len(outs)
    for o, ax in zip(outs, o_axes):
        if not is_batched.get(id(o), False):
            o = broadcast_to(o, (B,) + tuple(o.shape))
        out_leaves.append(_move_axis(o, 0, ax) if ax != 0 else o)
    return unflatten(out_tree, out_leaves)


def vmap(fn, in_axes=0, out_axes=0):
    """Vectorize ``fn`` over an axis of its arguments (``jax.vmap``).

    ``in_axes``: an int (the mapped axis of every array argument), None (not mapped: the
    argument is shared by every example) or a tuple with one int/None per positional
    argument; ``out_axes``: where the batch axis goes in every output (an int, or a tuple
    per output leaf). All mapped axes must have the same size B. ``fn`` sees one example.

        per_example = lambda x, w: gc.tanh(x @ w)       # x: (784,), w: (784, 10)
        batched = gc.vmap(per_example, in_axes=(0, None))
        batched(xs, w)                                  # xs: (B, 784) -> (B, 10)
    """

    @functools.wraps(fn)
    def wrapper(*args):
        if current_trace() is not None:
            return _vmap_traced(fn, in_axes, out_axes, args)
        compiled = getattr(wrapper, "_compiled", None)
        if compiled is None:
            from .compiler import CompiledFunction

            compiled = wrapper._compiled = CompiledFunction(lambda *a: _vmap_traced(fn, in_axes, out_axes, a))
        return compiled(*args)

    return wrapper
