"""Activations, clipping, gather and metrics the TF books use, mostly as composites.

Two primitives live here because a composite would lose accuracy or speed:

- ``expm1`` / ``log1p`` (numpy names): elu/selu need exp(x)-1 and softplus needs
  log(1+y) accurately near 0; the math library has dedicated polynomials for both.
- ``gather``: an index remapping whose index comes from another tensor (embedding
  lookups); one load per output element. Its gradient is a one_hot matmul (a
  scatter-add written with existing ops), so second derivatives work too.

Everything else (elu, selu, leaky_relu, softplus, bias_add, embedding_lookup) is
built from existing ops, so it fuses into its neighbours and differentiates on its
own. (clip_by_value, clip_by_norm and in_top_k come from issue 4's gc.optim and
gc.nn.losses; gc.nn re-exports them.)
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import DTypeError, ShapeError
from ..ir import TensorType
from ..tracing import bind
from .common import cast_to, dtype_of, normalize_axis, promote, require_float, shape_of
from .elementwise import absolute, add, divide, exp, greater, maximum, minimum, multiply, where
from .registry import defop

# -- expm1 / log1p (primitives) -----------------------------------------------------------


def _float_unary_infer(types, attrs):
    (t,) = types
    require_float(t)
    return TensorType(t.shape, t.dtype)


def _expm1_impl(attrs, x):
    return np.expm1(x).astype(x.dtype, copy=False)


def _log1p_impl(attrs, x):
    with np.errstate(all="ignore"):
        return np.log1p(x).astype(x.dtype, copy=False)


defop("expm1", "elementwise", _float_unary_infer, _expm1_impl,
      emit=lambda kb, node, idx: kb.math("expm1", kb.read(node.inputs[0], idx)),
      vjp=lambda g, ins, out, a: [multiply(g, add(out, cast_to(1, dtype_of(out))))])
defop("log1p", "elementwise", _float_unary_infer, _log1p_impl,
      emit=lambda kb, node, idx: kb.math("log1p", kb.read(node.inputs[0], idx)),
      vjp=lambda g, ins, out, a: [divide(g, add(ins[0], cast_to(1, dtype_of(ins[0]))))])


def expm1(x):
    """numpy.expm1: exp(x) - 1, accurate for small x."""
    _, (x,) = promote(x, float_only=True)
    return bind("expm1", [x])


def log1p(x):
    """numpy.log1p: log(1 + x), accurate for small x."""
    _, (x,) = promote(x, float_only=True)
    return bind("log1p", [x])


# -- activations (composites) ---------------------------------------------------------------

def _float(x):
    _, (x,) = promote(x, float_only=True)
    return x


def elu(x, alpha=1.0):
    """x if x > 0 else alpha*(exp(x)-1) (tf.nn.elu has alpha 1).

    expm1 sees min(x, 0) so the branch that where() discards never overflows; an inf
    there would turn its zero gradient into NaN (0 * inf).
    """
    x = _float(x)
    dt = dtype_of(x)
    neg = expm1(minimum(x, cast_to(0, dt)))
    if alpha != 1.0:
        neg = multiply(neg, cast_to(alpha, dt))
    return where(greater(x, cast_to(0, dt)), x, neg)


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    """scale * elu(x, alpha) with the self-normalizing constants (Klambauer et al.)."""
    x = _float(x)
    return multiply(elu(x, SELU_ALPHA), cast_to(SELU_SCALE, dtype_of(x)))


def leaky_relu(x, alpha=0.2):
    """x if x > 0 else alpha*x (tf.nn.leaky_relu's default alpha is 0.2)."""
    x = _float(x)
    dt = dtype_of(x)
    return where(greater(x, cast_to(0, dt)), x, multiply(x, cast_to(alpha, dt)))


def softplus(x):
    """log(1 + exp(x)) in the stable form max(x, 0) + log1p(exp(-|x|))."""
    x = _float(x)
    dt = dtype_of(x)
    return add(maximum(x, cast_to(0, dt)), log1p(exp(multiply(absolute(x), cast_to(-1, dt)))))


# -- bias_add -----------------------------------------------------------------------------------

def bias_add(value, bias):
    """value + bias along the last (channel) axis; bias must be 1-D of that size (NHWC)."""
    vs, bs = shape_of(value), shape_of(bias)
    if len(bs) != 1 or not vs or vs[-1] != bs[0]:
        raise ShapeError(f"bias_add: bias of shape {tuple(bs)} must be 1-D and match the last axis of {tuple(vs)}")
    return add(value, bias)


# -- gather (primitive) / embedding_lookup ---------------------------------------------------------

def _gather_infer(types, attrs):
    params, indices = types
    if not dtypes.is_int(indices.dtype):
        raise DTypeError(f"gather indices must be int32 or int64, got {indices.dtype}")
    axis = attrs["axis"]
    if not 0 <= axis < params.ndim:
        raise ShapeError(f"gather axis {axis} is out of bounds for params of dimension {params.ndim}")
    if params.shape[axis] == 0:
        raise ShapeError("gather from an empty axis")
    return TensorType(params.shape[:axis] + indices.shape + params.shape[axis + 1:], params.dtype)


def _gather_impl(attrs, params, indices):
    # out-of-range indices are clamped in compiled code; the reference does the same
    return np.take(params, indices, axis=attrs["axis"], mode="clip")


def _gather_emit(kb, node, idx):
    params, indices = node.inputs
    axis, ni = node.attrs["axis"], indices.type.ndim
    raw = kb.read(indices, idx[axis:axis + ni])
    i = _as_index(kb.cast(raw, "int64"))
    n = params.type.shape[axis]
    i = kb.select(kb.cmp("<", i, kb.index(0)), kb.index(0), i)
    i = kb.select(kb.cmp(">", i, kb.index(n - 1)), kb.index(n - 1), i)
    return kb.read(params, idx[:axis] + [i] + idx[axis + ni:])


def _as_index(v):
    from ..codegen.kernel import V

    return V(v.v, v.level, "index")


def _gather_vjp(g, ins, out, attrs):
    """Scatter-add as a one_hot matmul: dparams[v] = sum of g where indices == v."""
    from .nn import one_hot
    from .shape_ops import reshape, transpose
    from .linalg import matmul

    params, indices = ins
    ps = shape_of(params)
    axis = attrs["axis"]
    ni = len(shape_of(indices))
    gs = shape_of(g)
    # move the gathered axes of g to the front: (indices..., rest...)
    order = tuple(range(axis, axis + ni)) + tuple(range(axis)) + tuple(range(axis + ni, len(gs)))
    gt = transpose(g, order)
    rest = tuple(ps[:axis]) + tuple(ps[axis + 1:])
    n_idx = int(np.prod(shape_of(indices), dtype=np.int64))
    g2 = reshape(gt, (n_idx, int(np.prod(rest, dtype=np.int64))))
    idx_flat = reshape(indices, (n_idx,))
    n = ps[axis]
    clamped = minimum(maximum(idx_flat, cast_to(0, dtype_of(indices))), cast_to(n - 1, dtype_of(indices)))
    oh = one_hot(clamped, n, dtype=dtype_of(g))                     # (n_idx, n)
    dp = matmul(transpose(oh, (1, 0)), g2)                           # (n, rest)
    dp = reshape(dp, (n,) + rest)
    # back to params' axis order
    inv = tuple(range(1, axis + 1)) + (0,) + tuple(range(axis + 1, len(ps)))
    return [transpose(dp, inv), None]


defop("gather", "injective", _gather_infer, _gather_impl, emit=_gather_emit, vjp=_gather_vjp)


def gather(params, indices, axis=0):
    """tf.gather: params indexed along ``axis`` by an int array (out-of-range clamps)."""
    if isinstance(indices, (list, tuple, int)):
        indices = np.asarray(indices, dtype=np.int64)
    nd = len(shape_of(params))
    return bind("gather", [params, indices], axis=normalize_axis(axis, nd))


def embedding_lookup(params, ids):
    """Rows of ``params`` for each id (tf.nn.embedding_lookup with one params tensor)."""
    return gather(params, ids, axis=0)
