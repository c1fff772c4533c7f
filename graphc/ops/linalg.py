"""matmul: 2-D and batched (numpy.matmul semantics, 1-D operands promoted).

The generic lowering is a reduction over k (correct for every dtype and shape); the
performance path replaces whole matmul kernels with the packed GEMM micro-kernel.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import DTypeError, ShapeError
from ..ir import TensorType
from ..tracing import bind
from .common import broadcast_shapes, promote, shape_of, sum_to_shape
from .registry import defop


def _matmul_infer(types, attrs):
    a, b = types
    if a.dtype != b.dtype:
        raise DTypeError(f"matmul operands must have one dtype, got {a.dtype} and {b.dtype}")
    if a.ndim < 2 or b.ndim < 2:
        raise ShapeError("matmul op operands must be at least 2-D (1-D is promoted by gc.matmul)")
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape} "
                         f"({a.shape[-1]} != {b.shape[-2]})")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    dt = a.dtype if a.dtype != "bool" else "bool"
    return TensorType(batch + (a.shape[-2], b.shape[-1]), dt)


def _matmul_impl(attrs, a, b):
    if a.dtype == np.bool_:
        return np.matmul(a.astype(np.int64), b.astype(np.int64)).astype(bool)
    return np.matmul(a, b)


def _matmul_emit(kb, node, idx):
    a, b = node.inputs
    out_nd = node.type.ndim
    k_extent = a.type.shape[-1]
    level = kb.deepest(*idx)

    def operand_index(x, rows, cols):
        lead = x.type.ndim - 2
        batch = [kb.index(0) if x.type.shape[k] == 1 else idx[out_nd - 2 - lead + k] for k in range(lead)]
        return batch + [rows, cols]

    def step(rv, accs):
        (k,) = rv
        av = kb.read(a, operand_index(a, idx[-2], k))
        bv = kb.read(b, operand_index(b, k, idx[-1]))
        if node.type.dtype == "bool":
            return [kb.logical("or", accs[0], kb.logical("and", av, bv))]
        # Not contracted into an FMA: an FMA never rounds an overflowing product to
        # inf, so products overflowing to +inf and -inf would sum to whichever came
        # first instead of NaN (numpy's sum of rounded products; the GEMM step repairs
        # its FMA results the same way, gemm_overflow.py). Issue 18 item 6,
        # tests/test_regressions.py::test_matmul_products_overflowing_both_ways.
        return [kb.add(accs[0], kb.mul(av, bv), assoc=True)]

    return kb.reduce(level, [k_extent], [kb.const(0, node.type.dtype)], step)[0]


def _matmul_vjp(g, ins, out, attrs):
    a, b = ins
    from .shape_ops import transpose

    def t(x):
        nd = len(shape_of(x))
        return transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))

    ga = sum_to_shape(matmul(g, t(b)), shape_of(a))
    sa, sb = shape_of(a), shape_of(b)
    if len(sb) == 2 and len(sa) > 2 and any(isinstance(d, str) for d in sa[:-2]):
        # a symbolic batch of rows times one matrix: contract over all rows at once (one
        # GEMM with K = batch*M, a derived symbol) instead of a batched GEMM and a sum
        from .shape_ops import reshape

        gb = matmul(t(reshape(a, (-1, sa[-1]))), reshape(g, (-1, shape_of(g)[-1])))
    else:
        gb = sum_to_shape(matmul(t(a), g), sb)
    return [ga, gb]


defop("matmul", "reduce", _matmul_infer, _matmul_impl, emit=_matmul_emit, vjp=_matmul_vjp)


def matmul(a, b):
    """numpy.matmul (the @ operator): 2-D, batched with broadcasting, 1-D promoted."""
    from .shape_ops import expand_dims, squeeze

    dt, (a, b) = promote(a, b)
    if dtypes.is_narrow_float(dt):
        # float16/bfloat16: the operands are converted once to float32 (fused into the
        # kernels producing them, or one pass over an input), the float32 GEMM
        # accumulates, and the product is rounded once, in the GEMM's epilogue
        from .elementwise import cast

        return cast(matmul(cast(a, "float32"), cast(b, "float32")), dt)
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) == 0 or len(sb) == 0:
        raise ShapeError("matmul: scalar operands are not allowed, use '*' instead")
    squeeze_axes = []
    if len(sa) == 1:
        a = expand_dims(a, 0)
        squeeze_axes.append(-2)
    if len(sb) == 1:
        b = expand_dims(b, -1)
        squeeze_axes.append(-1)
    out = bind("matmul", [a, b])
    if squeeze_axes:
        nd = len(shape_of(out))
        out = squeeze(out, tuple(nd + ax for ax in squeeze_axes))
    return out
