"""Function transformations beyond grad: custom_vjp, checkpoint, jvp, jacfwd, jacrev, hessian.

All of them are graph transformations performed while tracing, like reverse mode
(graphc/autodiff.py): they add ordinary nodes to the trace, so the result is optimized,
fused and compiled like any other graph and composes with ``gc.compile``, ``gc.grad``
and each other. Called outside a trace they compile the transformed function once per
signature (as ``gc.grad`` does). ``gc.vmap`` lives in graphc/batching.py.

- ``custom_vjp``: the user's forward runs with its arguments cut off from gradients
  (``stop_gradient``); each output leaf passes through a ``stop_gradient`` identity
  node carrying its own gradient rule (attribute ``_vjp``, which calls the user's
  backward) and listing the arguments as extra gradient inputs (``_grad_inputs``); both
  are read by autodiff. These nodes are removed when the trace ends, so compiled code
  does not contain them.
- ``checkpoint``: the function is traced once into a body graph (its closed-over values
  and variables become explicit inputs, as in a scan body) and replayed into the trace
  twice: once for the forward value and once, from ``remat_barrier`` copies of the
  inputs that CSE cannot merge with the originals, inside the backward pass. The
  backward therefore recomputes the function's intermediates from its inputs instead of
  keeping them alive from the forward pass.
- ``jvp`` (forward mode) is the transpose of reverse mode: for u a stand-in cotangent,
  ``g(u) = vjp(f, x)(u)`` is linear in u, and the gradient of ``<g(u), t>`` w.r.t. u is
  ``J t``. Every op's vjp rule is built from differentiable ops, so no separate
  forward-mode rule table is needed; the stand-in u does not appear in the result.
- ``jacrev`` / ``jacfwd``: one reverse (resp. forward) pass per output (resp. input)
  element, stacked: shape ``out.shape + in.shape`` as in JAX. Meant for small Jacobians
  (the graph grows with the element count). ``hessian = jacfwd(jacrev(f))``.
"""
from __future__ import annotations

import functools
from collections import OrderedDict

import numpy as np

from . import dtypes
from .errors import TraceError, user_source_line
from .ir import TensorType
from .ops.registry import defop
from .pytree import flatten, unflatten
from .tracing import Tensor, as_node, bind, current_trace

# -- helper ops ---------------------------------------------------------------------------------


def _identity_infer(types, attrs):
    return types[0]


def _identity_emit(kb, node, idx):
    return kb.read(node.inputs[0], idx)


_identity_emit.input_indices = lambda kb, node, idx: [list(idx)]


def _custom_call_vjp(g, ins, out, attrs):
    return [None] + attrs["_rule"].cotangents(attrs["_k"], g)


# An identity that is never merged with an equal expression (pure=False: CSE and constant
# folding leave it alone): the inputs of checkpoint's recomputation.
defop("remat_barrier", "elementwise", _identity_infer, lambda a, x: x, emit=_identity_emit,
      vjp=lambda g, ins, out, a: [g], pure=False)


def _strip_custom_calls(trace) -> None:
    """Finalize hook: every custom-rule node is replaced by its input (its job, the
    gradient rule, is done once the trace ends)."""
    g = trace.graph
    mapping = {n.id: n.inputs[0] for n in g.nodes if "_rule" in n.attrs}
    g.replace_all_uses(mapping)


def _register_strip(trace) -> None:
    hooks = trace.meta.setdefault("finalize", [])
    if _strip_custom_calls not in hooks:
        hooks.append(_strip_custom_calls)


def _is_float_value(x) -> bool:
    if isinstance(x, Tensor):
        return dtypes.is_float(x.node.type.dtype)
    if getattr(x, "_graphc_variable", False):
        return dtypes.is_float(x.dtype)
    return False


def _zeros_of(t: TensorType):
    from .ops.creation import zeros

    return zeros(t.shape, t.dtype)


class _Rule:
    """What a custom_vjp_call node's gradient needs: ``backward(cotangents)`` returns one
    gradient (or None) per differentiable input, given one cotangent per output leaf."""

    def __init__(self, backward, out_types, n_inputs):
        self.backward = backward
        self.out_types = out_types
        self.n_inputs = n_inputs

    def cotangents(self, k, g):
        # one output leaf at a time, the others zero: the backward is linear in the
        # cotangents, so the per-leaf results add up to the full vector-Jacobian product
        cts = [g if j == k else _zeros_of(t) for j, t in enumerate(self.out_types)]
        grads = list(self.backward(cts))
        if len(grads) != self.n_inputs:
            raise TraceError(f"a custom gradient rule returned {len(grads)} gradients for {self.n_inputs} inputs")
        return grads


def _attach(trace, outputs, out_tree, diff_inputs, backward):
    """Pass each output leaf through a custom_vjp_call node whose gradient is ``backward``."""
    out_types = [as_node(o, trace).type for o in outputs]
    rule = _Rule(backward, out_types, len(diff_inputs))
    grad_inputs = [as_node(x, trace) for x in diff_inputs]
    _register_strip(trace)
    wrapped = []
    for k, o in enumerate(outputs):
        if isinstance(o, Tensor) and dtypes.is_float(o.node.type.dtype) and grad_inputs:
            # a stop_gradient node (no gradient of its own) whose ``_vjp`` autodiff uses instead
            wrapped.append(bind("stop_gradient", [o], _grad_inputs=grad_inputs, _rule=rule, _k=k,
                                _vjp=_custom_call_vjp))
        else:
            wrapped.append(o)
    return unflatten(out_tree, wrapped)


# -- custom_vjp ----------------------------------------------------------------------------------


class custom_vjp:
    """A function with a user-defined gradient (JAX's ``jax.custom_vjp``).

        @gc.custom_vjp
        def clip_gradient(x):
            return x
        def fwd(x):
            return x, None                       # (output, residuals for bwd)
        def bwd(res, g):
            return (gc.clip(g, -1.0, 1.0),)      # one gradient per positional argument
        clip_gradient.defvjp(fwd, bwd)

    ``fwd(*args) -> (out, residuals)`` computes the output (its own operations are not
    differentiated); ``bwd(residuals, g) -> tuple`` gets the output's cotangent ``g``
    (same structure as ``out``) and returns one gradient per positional argument (a
    pytree like the argument, or None for zero). Gradients flow to the arguments only:
    values the function closes over get none from it (pass them as arguments). Called
    outside a trace, the function just runs.
    """

    def __init__(self, fun):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.fwd = self.bwd = None

    def defvjp(self, fwd, bwd):
        self.fwd, self.bwd = fwd, bwd
        return self

    def __call__(self, *args):
        trace = current_trace()
        if trace is None:
            return self.fun(*args)
        if self.fwd is None:
            raise TraceError(f"custom_vjp function {getattr(self.fun, '__name__', '?')} has no rule: call "
                             f".defvjp(fwd, bwd) before using it\n  at {user_source_line()}")
        from .ops.elementwise import stop_gradient

        leaves, in_tree = flatten(args)
        diff = [k for k, x in enumerate(leaves) if _is_float_value(x)]
        cut = list(leaves)
        for k in diff:
            cut[k] = stop_gradient(leaves[k])
        result = self.fwd(*unflatten(in_tree, cut))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TraceError(f"custom_vjp fwd must return (output, residuals)\n  at {user_source_line()}")
        out, res = result
        out_leaves, out_tree = flatten(out)
        bwd, name = self.bwd, getattr(self.fun, "__name__", "?")

        def backward(cts):
            grads = bwd(res, unflatten(out_tree, cts))
            if not isinstance(grads, (tuple, list)) or len(grads) != len(args):
                raise TraceError(f"custom_vjp bwd of {name} must return a tuple with one gradient per "
                                 f"positional argument ({len(args)}), got {type(grads).__name__}")
            flat = []
            for a, ga in zip(args, grads):
                n = len(flatten(a)[0])
                if ga is None:
                    flat += [None] * n
                    continue
                gl, gtree = flatten(ga)
                if len(gl) != n:
                    raise TraceError(f"custom_vjp bwd of {name}: a gradient has structure {gtree}, "
                                     f"its argument {flatten(a)[1]}")
                flat += gl
            return [flat[k] for k in diff]

        return _attach(trace, out_leaves, out_tree, [leaves[k] for k in diff], backward)


# -- replaying a traced body -----------------------------------------------------------------------


def trace_function(fn, args, name="body"):
    """Trace ``fn(*args)`` into its own Graph. Array leaves (Tensors, Variables' values,
    arrays) become parameters, closed-over traced values and variables become captures
    (further parameters). Returns (graph, leaves, in_tree, captured, out_tree)."""
    from .ops.control import BodyTrace

    outer = current_trace()
    leaves, in_tree = flatten(args)
    with BodyTrace(outer, name=name) as bt:
        inner = []
        for x in leaves:
            if isinstance(x, Tensor) or getattr(x, "_graphc_variable", False) or isinstance(x, (np.ndarray,
                                                                                            np.generic)):
                t = x.node.type if isinstance(x, Tensor) else TensorType(
                    tuple(np.shape(x)), dtypes.canonical(np.dtype(x.dtype)))
                inner.append(Tensor(bt._new_param(t, None), bt))
            else:
                inner.append(x)  # Python scalars and other static values
        out = fn(*unflatten(in_tree, inner))
        out_leaves, out_tree = flatten(out)
        g = bt.graph
        g.outputs = [as_node(v, bt) for v in out_leaves]
        g.sort()
    if any("_rule" in n.attrs for n in g.nodes):
        raise TraceError(f"a gc.custom_vjp (or gc.checkpoint) function inside gc.{name.split('_')[0]} is not "
                         f"supported: its rule would not survive the replay\n  at {user_source_line()}")
    array_leaves = [x for x, i in zip(leaves, inner) if isinstance(i, Tensor)]
    return g, array_leaves, bt.captured, out_tree


def replay(graph, inputs, rules=None):
    """Re-emit ``graph``'s nodes into the current trace with ``inputs`` for its params;
    ``rules(node, inputs) -> value`` may replace the plain re-binding of a node."""
    from .tracing import constant_node

    trace = current_trace()
    env = {p.id: v for p, v in zip(graph.params, inputs)}
    for n in graph.nodes:
        if n.id in env:
            continue
        if n.op == "constant":
            env[n.id] = Tensor(constant_node(n.attrs["value"], trace), trace)
        elif rules is not None:
            env[n.id] = rules(n, [env[i.id] for i in n.inputs])
        else:
            env[n.id] = bind(n.op, [env[i.id] for i in n.inputs], **n.attrs)
    return [env[o.id] for o in graph.outputs]


# -- checkpoint --------------------------------------------------------------------------------


def checkpoint(fn):
    """``fn`` whose intermediates are recomputed in the backward pass instead of kept
    from the forward pass (``jax.checkpoint`` / ``tf.recompute_grad``): less memory
    for a little more compute. Same values and gradients as ``fn``; gradients flow to its
    arguments and to the traced values and variables it closes over.

        block = gc.checkpoint(lambda h: gc.tanh(h @ w1) @ w2)
    """

    @functools.wraps(fn)
    def wrapper(*args):
        trace = current_trace()
        if trace is None:
            return fn(*args)
        from .ops.elementwise import stop_gradient

        graph, leaves, captured, out_tree = trace_function(fn, args, name="checkpoint")
        inputs = [x if isinstance(x, Tensor) else Tensor(as_node(x, trace), trace) for x in leaves + captured]
        diff = [k for k, x in enumerate(inputs) if dtypes.is_float(x.node.type.dtype)]
        cut = [stop_gradient(x) if k in diff else x for k, x in enumerate(inputs)]
        outs = replay(graph, cut)

        def backward(cts):
            from .autodiff import gradients

            copies = [bind("remat_barrier", [x]) if k in diff else x for k, x in enumerate(inputs)]
            again = replay(graph, copies)
            pairs = [(o, c) for o, c in zip(again, cts) if dtypes.is_float(o.node.type.dtype)]
            if not pairs:
                return [None] * len(diff)
            return gradients([o for o, _ in pairs], [copies[k] for k in diff], grad_ys=[c for _, c in pairs])

        return _attach(trace, outs, out_tree, [inputs[k] for k in diff], backward)

    return wrapper


# -- forward mode and Jacobians -------------------------------------------------------------------

_EAGER: OrderedDict = OrderedDict()  # (transform, fn, options) -> CompiledFunction (at most 64)


def _eager(key, inner):
    """A CompiledFunction of ``inner`` for calls outside a trace (kept for reuse)."""
    from .compiler import CompiledFunction

    cf = _EAGER.get(key)
    if cf is None:
        cf = _EAGER[key] = CompiledFunction(inner)
        while len(_EAGER) > 64:
            _EAGER.popitem(last=False)
    return cf


def _as_tensor(x, trace):
    if isinstance(x, Tensor):
        return x
    return Tensor(as_node(np.asarray(x) if not getattr(x, "_graphc_variable", False) else x, trace), trace)


def _jvp_traced(fn, primals, tangents):
    from .autodiff import gradients
    from .ops.common import cast_to

    trace = current_trace()
    p_leaves, p_tree = flatten(tuple(primals))
    t_leaves, t_tree = flatten(tuple(tangents))
    if t_tree != p_tree:
        raise TraceError(f"jvp: tangents have structure {t_tree}, primals {p_tree}\n  at {user_source_line()}")
    xs = [_as_tensor(x, trace) for x in p_leaves]
    for x, t in zip(xs, t_leaves):
        if tuple(np.shape(t) if not isinstance(t, Tensor) else t.shape) != tuple(x.shape):
            raise TraceError(f"jvp: a tangent has shape {tuple(np.shape(t))}, its primal {tuple(x.shape)}\n"
                             f"  at {user_source_line()}")
    out = fn(*unflatten(p_tree, xs))
    y_leaves, y_tree = flatten(out)
    ys = [_as_tensor(y, trace) for y in y_leaves]
    diff_x = [k for k, x in enumerate(xs) if dtypes.is_float(x.node.type.dtype)]
    diff_y = [k for k, y in enumerate(ys) if dtypes.is_float(y.node.type.dtype)]
    # stand-in cotangents: the vjp is linear in them, so its transpose does not depend on them
    us = [bind("remat_barrier", [_zeros_of(ys[k].node.type)]) for k in diff_y]
    t_out = [None] * len(ys)
    if diff_x and diff_y:
        gs = gradients([ys[k] for k in diff_y], [xs[k] for k in diff_x], grad_ys=us)
        pairs = [(g, cast_to(t_leaves[k], xs[k].node.type.dtype)) for g, k in zip(gs, diff_x) if g is not None]
        if pairs:
            lin = gradients([g for g, _ in pairs], us, grad_ys=[t for _, t in pairs])
            for k, v in zip(diff_y, lin):
                t_out[k] = v
    t_out = [v if v is not None else _zeros_of(y.node.type) for v, y in zip(t_out, ys)]
    return unflatten(y_tree, ys), unflatten(y_tree, t_out)


def jvp(fn, primals, tangents):
    """Forward mode: ``(fn(*primals), J @ tangents)`` (``jax.jvp``). ``primals`` and
    ``tangents`` are tuples with one pytree of arrays per argument, of equal shapes;
    the result has ``fn``'s output structure (zero tangents for integer outputs).

        y, dy = gc.jvp(gc.sin, (x,), (np.ones_like(x),))    # dy == cos(x)
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples (one entry per argument)")
    if current_trace() is not None:
        return _jvp_traced(fn, primals, tangents)
    cf = _eager(("jvp", fn), lambda p, t: _jvp_traced(fn, p, t))
    return cf(tuple(primals), tuple(tangents))


def _argnums(argnums):
    return (tuple(argnums), True) if isinstance(argnums, (tuple, list)) else ((argnums,), False)


def _stack_reshape(parts, shape):
    from .ops.shape_ops import reshape, stack

    return reshape(stack(parts, axis=0), shape)


def _jacobian(fn, argnums, mode):
    nums, multi = _argnums(argnums)

    def inner(*args):
        trace = current_trace()
        args = list(args)
        for k in nums:
            args[k] = _as_tensor(args[k], trace)
        results = []
        for k in nums:
            x = args[k]
            if not dtypes.is_float(x.node.type.dtype):
                raise TraceError(f"{mode} requires float inputs, argument {k} is {x.node.type.dtype}\n"
                                 f"  at {user_source_line()}")
            results.append(_jac_rev(fn, args, k) if mode == "jacrev" else _jac_fwd(fn, args, k))
        return tuple(results) if multi else results[0]

    @functools.wraps(fn)
    def wrapper(*args):
        if current_trace() is not None:
            return inner(*args)
        compiled = getattr(wrapper, "_compiled", None)
        if compiled is None:
            from .compiler import CompiledFunction

            compiled = wrapper._compiled = CompiledFunction(inner)
        return compiled(*args)

    return wrapper


def _single_output(out, mode):
    if not isinstance(out, Tensor) and not isinstance(out, (np.ndarray, np.generic, float, int)):
        raise TraceError(f"{mode} needs a function returning one array, got {type(out).__name__}\n"
                         f"  at {user_source_line()}")


def _jac_rev(fn, args, k):
    from .autodiff import gradients

    trace = current_trace()
    x = args[k]
    out = fn(*args)
    _single_output(out, "jacrev")
    y = _as_tensor(out, trace)
    if not dtypes.is_float(y.node.type.dtype):
        raise TraceError(f"jacrev requires a float output, got {y.node.type.dtype}\n  at {user_source_line()}")
    m = int(np.prod(y.shape, dtype=np.int64))
    eye = np.eye(m, dtype=y.node.type.dtype)
    rows = []
    for i in range(m):
        g = gradients(y, x, grad_ys=eye[i].reshape(y.shape))
        rows.append(g if g is not None else _zeros_of(x.node.type))
    return _stack_reshape(rows, tuple(y.shape) + tuple(x.shape))


def _jac_fwd(fn, args, k):
    from .ops.shape_ops import transpose

    x = args[k]
    n = int(np.prod(x.shape, dtype=np.int64))
    eye = np.eye(n, dtype=x.node.type.dtype)

    def of_x(v):
        a = list(args)
        a[k] = v
        return fn(*a)

    cols, y = [], None
    for j in range(n):
        y, t = _jvp_traced(of_x, (x,), (eye[j].reshape(x.shape),))
        _single_output(y, "jacfwd")
        cols.append(t)
    if n == 0:
        y = _as_tensor(of_x(x), current_trace())
        from .ops.creation import zeros

        return zeros(tuple(y.shape) + tuple(x.shape), x.node.type.dtype)
    ys = tuple(y.shape)
    stacked = _stack_reshape(cols, tuple(x.shape) + ys)  # x's axes first: move them last
    nx, ny = len(x.shape), len(ys)
    return transpose(stacked, tuple(range(nx, nx + ny)) + tuple(range(nx)))


def jacrev(fn, argnums=0):
    """The Jacobian of ``fn`` w.r.t. argument(s) ``argnums`` by reverse mode (one pass per
    output element): shape ``out.shape + x.shape``. ``fn`` returns one float array."""
    return _jacobian(fn, argnums, "jacrev")


def jacfwd(fn, argnums=0):
    """The Jacobian of ``fn`` w.r.t. argument(s) ``argnums`` by forward mode (one jvp per
    input element): shape ``out.shape + x.shape``, as ``jacrev``."""
    return _jacobian(fn, argnums, "jacfwd")


def hessian(fn, argnums=0):
    """The Hessian of a scalar-valued ``fn``: ``jacfwd(jacrev(fn))``, shape ``x.shape * 2``."""
    return jacfwd(jacrev(fn, argnums), argnums)
