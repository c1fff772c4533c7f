"""Reverse-mode differentiation as a graph transformation.

``gradients(ys, xs)`` walks the traced nodes between ``xs`` and ``ys`` in reverse
topological order and calls each op's ``vjp`` rule, which *builds more graph* out of
ordinary ops. The backward pass therefore goes through the same passes, fusion and
codegen as the forward pass, and differentiating the result again (higher-order
gradients) is just another call to ``gradients``.
"""
from __future__ import annotations

import functools

import numpy as np

from . import dtypes
from .errors import DTypeError, TraceError, user_source_line
from .ops.registry import get_op
from .tracing import Tensor, as_node, current_trace


def _differentiable(node) -> bool:
    return dtypes.is_float(node.type.dtype) or node.type.dtype == "tuple"


def _grad_inputs(node) -> list:
    """The values gradients flow to from ``node``: its inputs, plus the ones a node of
    gc.custom_vjp / gc.checkpoint lists in ``_grad_inputs`` (the function's arguments,
    which its rule differentiates by other means; graphc/transforms.py)."""
    extra = node.attrs.get("_grad_inputs")
    return node.inputs if not extra else list(node.inputs) + list(extra)


def _between(trace, y_nodes, x_ids):
    """Nodes on some path from an x to a y, in topological (trace) order."""
    reach_back = set()
    stack = list(y_nodes)
    while stack:
        n = stack.pop()
        if n.id in reach_back:
            continue
        reach_back.add(n.id)
        stack.extend(_grad_inputs(n))
    forward = set(x_ids)
    ordered = []
    for n in trace.graph.nodes:
        if n.id in forward and n.id in reach_back:
            ordered.append(n)
            continue
        if n.id in reach_back and any(i.id in forward for i in _grad_inputs(n)):
            forward.add(n.id)
            ordered.append(n)
    return ordered, forward


def _accumulate(grads, node, g):
    from .ops.elementwise import add

    prev = grads.get(node.id)
    if isinstance(g, dict):  # parts of a tuple-typed node (see ops/control.py TupleGrad)
        merged = type(g)(prev or {})
        for k, v in g.items():
            merged[k] = v if merged.get(k) is None else add(merged[k], v)
        grads[node.id] = merged
        return
    grads[node.id] = g if prev is None else add(prev, g)


def gradients(ys, xs, grad_ys=None):
    """Symbolic gradients of sum(ys) w.r.t. each of xs, inside a trace (like tf.gradients).

    xs may hold Tensors or Variables (the gradient w.r.t. a Variable's current value).
    Returns a list with one Tensor per x, or None where x does not affect ys.
    """
    from .ops.creation import full
    from .ops.common import cast_to

    single_x = not isinstance(xs, (list, tuple))
    ys = list(ys) if isinstance(ys, (list, tuple)) else [ys]
    xs = [xs] if single_x else list(xs)
    trace = None
    for t in ys + xs:
        if isinstance(t, Tensor):
            trace = t.trace
            break
    trace = trace or current_trace()
    if trace is None:
        raise TraceError(f"gradients() is used inside a traced function (gc.compile); use gc.grad outside\n  at {user_source_line()}")
    y_nodes = [as_node(y, trace) for y in ys]
    x_nodes = [as_node(x, trace) for x in xs]
    if grad_ys is None:
        grad_ys = [None] * len(ys)
    elif not isinstance(grad_ys, (list, tuple)):
        grad_ys = [grad_ys]

    ordered, on_path = _between(trace, y_nodes, {n.id for n in x_nodes})
    grads: dict = {}
    for y, gy in zip(y_nodes, grad_ys):
        if not _differentiable(y):
            continue
        seed = full(y.type.shape, 1, y.type.dtype) if gy is None else cast_to(gy, y.type.dtype)
        _accumulate(grads, y, seed)

    for node in reversed(ordered):
        g = grads.get(node.id)
        if g is None or not node.inputs:
            continue
        vjp = node.attrs.get("_vjp") or get_op(node.op).vjp  # _vjp: a node's own rule (custom_vjp)
        if vjp is None:
            raise TraceError(f"op '{node.op}' has no gradient rule (traced at {node.loc})")
        inputs = _grad_inputs(node)
        in_tensors = [Tensor(i, trace) for i in inputs]
        in_grads = vjp(g, in_tensors, Tensor(node, trace), node.attrs)
        for inp, ig in zip(inputs, in_grads):
            if ig is None or inp.id not in on_path or not _differentiable(inp):
                continue
            _accumulate(grads, inp, ig)

    result = [grads.get(n.id) for n in x_nodes]
    return result[0] if single_x else result


def _zeros_like(x):
    from .ops.creation import zeros
    from .tracing import static_type

    t = static_type(x)
    return zeros(t.shape, t.dtype)


def _require_float_grad(out, targets, nums):
    """grad is defined for float inputs and outputs only (as in JAX, which raises
    TypeError): a gradient w.r.t. an integer would silently be zero."""
    from .tracing import static_type

    for k, t in zip(nums, targets):
        dt = static_type(t).dtype
        if not dtypes.is_float(dt):
            raise DTypeError(f"grad requires float inputs, but argument {k} is {dt} "
                             f"(cast it to float32/float64 first)\n  at {user_source_line()}")
    dt = static_type(out).dtype
    if not dtypes.is_float(dt):
        raise DTypeError(f"grad requires a float output, but the function returned {dt}\n  at {user_source_line()}")


def value_and_grad(fn, argnums=0):
    """fn -> (value, gradient(s) w.r.t. the arguments in ``argnums``); fn returns a scalar.

    A differentiated argument may be a pytree (a dict of weights, a namedtuple ...): its
    gradient has the same structure. Keyword arguments are passed through (not
    differentiated).

    Works inside gc.compile (it composes: the gradient graph is part of the trace) and
    eagerly on numpy arrays (it then compiles the combined function once per signature).
    """
    multi = isinstance(argnums, (tuple, list))
    nums = tuple(argnums) if multi else (argnums,)

    def inner(*args, **kwargs):
        from .pytree import flatten, unflatten

        trace = current_trace()
        args = list(args)
        trees, targets, target_nums = [], [], []
        for k in nums:  # each differentiated argument may be a pytree (a dict of weights ...)
            leaves, tree = flatten(args[k])
            # numpy/scalar leaves become graph values first, so fn uses them
            leaves = [x if isinstance(x, Tensor) or getattr(x, "_graphc_variable", False)
                      else Tensor(as_node(np.asarray(x), trace), trace) for x in leaves]
            args[k] = unflatten(tree, leaves)
            trees.append((tree, len(leaves)))
            targets += leaves
            target_nums += [k] * len(leaves)
        out = fn(*args, **kwargs)
        if tuple(getattr(out, "shape", ())) != ():
            node = getattr(out, "node", None)
            made = f" (the output was computed at {node.loc})" if node is not None and node.loc else ""
            raise TraceError(f"grad needs a scalar-valued function, but {getattr(fn, '__name__', 'the function')} "
                             f"returned shape {tuple(getattr(out, 'shape', ()))}{made}; reduce it (e.g. .sum()) "
                             f"or use gc.jacrev for a Jacobian\n  at {user_source_line()}")
        _require_float_grad(out, targets, target_nums)
        gs = gradients(out, targets) if targets else []
        gs = [g if g is not None else _zeros_like(t) for g, t in zip(gs, targets)]
        per_arg, pos = [], 0
        for tree, n in trees:
            per_arg.append(unflatten(tree, gs[pos:pos + n]))
            pos += n
        return out, (tuple(per_arg) if multi else per_arg[0])

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if current_trace() is not None:
            return inner(*args, **kwargs)
        from .compiler import CompiledFunction

        compiled = getattr(wrapper, "_compiled", None)
        if compiled is None:
            compiled = wrapper._compiled = CompiledFunction(inner)
        return compiled(*args, **kwargs)

    return wrapper


def grad(fn, argnums=0):
    """fn -> gradient of fn (scalar-valued) w.r.t. the arguments in ``argnums``."""
    vg = value_and_grad(fn, argnums)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return vg(*args, **kwargs)[1]

    return wrapper
