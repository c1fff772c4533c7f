"""matrix_inverse: tf.matrix_inverse / numpy.linalg.inv over the last two axes.

The lowering runs Gauss-Jordan elimination with partial pivoting on a stack scratch
copy of each matrix, once per batch element (the KernelBuilder hoists it above the
output loops because it depends only on the batch index); every output element is then
a load from the scratch. That is O(n^3) per matrix, fine for the small systems the
normal equation needs; larger n would want a blocked LU kernel. A singular matrix gives
inf/NaN in compiled code (the numpy reference raises LinAlgError).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ..errors import CompileError, DTypeError, ShapeError
from ..ir import TensorType
from ..tracing import bind
from .common import promote, shape_of
from .registry import defop

# The scratch (n x 2n augmented matrix) lives on the stack of the kernel.
MAX_LOWERED_N = 64


def _inverse_infer(types, attrs):
    (t,) = types
    if t.dtype not in ("float32", "float64"):
        raise DTypeError(f"matrix_inverse needs float32 or float64, got {t.dtype}")
    if t.ndim < 2 or t.shape[-1] != t.shape[-2]:
        raise ShapeError(f"matrix_inverse needs square matrices in the last two axes, got shape {t.shape}")
    return TensorType(t.shape, t.dtype)


def _inverse_impl(attrs, a):
    return np.linalg.inv(a).astype(a.dtype, copy=False)


class _Scratch:
    """A rows x cols matrix on the kernel's stack; loads/stores at a given (row, col)."""

    def __init__(self, kb, dtype, rows, cols):
        from ..codegen.kernel import mem_type

        self.kb, self.dtype, self.cols = kb, dtype, cols
        elem = mem_type(dtype)
        arr = kb.alloca(ir.ArrayType(elem, rows * cols), name="ginv_scratch")
        with kb.at(kb.root) as b:  # root-level code dominates every loop emitted after it
            self.ptr = b.bitcast(arr, elem.as_pointer())

    def _flat(self, r, c):
        return self.kb.iadd(self.kb.imul(r, self.kb.index(self.cols)), c)

    def load(self, r, c):
        return self.kb.load(self.ptr, self._flat(r, c), self.dtype)

    def store(self, r, c, value, level):
        """Store in the body of ``level`` (never hoisted: the memory changes between loops)."""
        self.kb.store(self.ptr, self._flat(r, c), value, level=level)


def _inverse_emit(kb, node, idx):
    src = node.inputs[0]
    dt = node.type.dtype
    n = node.type.shape[-1]
    if n > MAX_LOWERED_N:
        raise CompileError(f"matrix_inverse: the in-kernel lowering handles n <= {MAX_LOWERED_N}, got n = {n} "
                           f"(at {node.loc})")
    batch = list(idx[:-2])
    level = kb.deepest(*batch)
    m = _Scratch(kb, dt, n, 2 * n)
    zero, one = kb.const(0, dt), kb.const(1, dt)

    # [A | I]
    def init_row(r):
        def init_col(c):
            m.store(r, c, kb.read(src, batch + [r, c]), c.level)
            m.store(r, kb.iadd(c, kb.index(n)), kb.select(kb.cmp("==", r, c), one, zero), c.level)
        kb.loop(r.level, kb.index(0), kb.index(n), init_col, name="ginv_c")
    kb.loop(level, kb.index(0), kb.index(n), init_row, name="ginv_r")

    def eliminate(k):
        # partial pivoting: the row >= k with the largest |A[r, k]|
        def pick(rv, accs):
            (r,) = rv
            best, pos = accs
            a = kb.abs(m.load(r, k))
            take = kb.logical("and", kb.cmp(">=", r, k), kb.cmp(">", a, best))
            return [kb.select(take, a, best), kb.select(take, r, pos)]
        _, p = kb.reduce(k.level, [n], [kb.const(-1, dt), k], pick)

        def swap(c):
            top, other = m.load(k, c), m.load(p, c)
            m.store(k, c, other, c.level)
            m.store(p, c, top, c.level)
        kb.loop(k.level, kb.index(0), kb.index(2 * n), swap, name="ginv_s")

        pivot = m.load(k, k)  # after the swap: loaded at k's level, after the swap loop

        def normalize(c):
            m.store(k, c, kb.div(m.load(k, c), pivot), c.level)
        kb.loop(k.level, kb.index(0), kb.index(2 * n), normalize, name="ginv_n")

        def clear_row(r):
            factor = m.load(r, k)  # hoisted above the column loop: read before it is cleared

            def clear_col(c):
                old = m.load(r, c)
                new = kb.sub(old, kb.mul(factor, m.load(k, c)))
                m.store(r, c, kb.select(kb.cmp("==", r, k), old, new), c.level)
            kb.loop(r.level, kb.index(0), kb.index(2 * n), clear_col, name="ginv_e")
        kb.loop(k.level, kb.index(0), kb.index(n), clear_row, name="ginv_i")

    kb.loop(level, kb.index(0), kb.index(n), eliminate, name="ginv_k")
    return m.load(idx[-2], kb.iadd(idx[-1], kb.index(n)))


def _inverse_vjp(g, ins, out, attrs):
    """d(A^-1) = -A^-1 dA A^-1, so dL/dA = -A^-T g A^-T."""
    from .elementwise import negative
    from .linalg import matmul
    from .shape_ops import transpose

    nd = len(shape_of(out))
    out_t = transpose(out, tuple(range(nd - 2)) + (nd - 1, nd - 2))
    return [negative(matmul(matmul(out_t, g), out_t))]


defop("matrix_inverse", "opaque", _inverse_infer, _inverse_impl, emit=_inverse_emit, vjp=_inverse_vjp)


def matrix_inverse(a):
    """Inverse of the square matrices in the last two axes (tf.matrix_inverse)."""
    _, (a,) = promote(a, float_only=True)
    return bind("matrix_inverse", [a])
