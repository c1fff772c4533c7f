"""Overflow repair after the packed GEMM: NaN where products overflow both ways.

The GEMM micro-kernel accumulates with fused multiply-adds. When products overflow,
an FMA never sees them as infinities: ``fma(a, b, -inf)`` is ``-inf`` even though
``a*b`` alone rounds to ``+inf``. So a dot product whose products overflow to +inf
and to -inf comes out as whichever infinity came first, while numpy's reference
(``einsum``, the sum of rounded products; its BLAS paths vary) and graphc's own loop
nest (a product rounded, then added) give NaN (inf - inf).

This pass runs on the rows a GEMM task just computed, before the epilogue: one
vectorizable scan per row looks for an infinite element; only in such (rare) rows is
each infinite element recomputed as the sum of rounded products, and replaced by NaN
when that sum is NaN. Finite results (the common case) are left as the FMAs made them.

    void graphc_gemm_overflow_<T>(int64 N, int64 K,
                                  const T* A, int64 a_rs, int64 a_cs,
                                  const T* B, int64 b_rs, int64 b_cs,
                                  T* C, int64 ldc, int64 m_begin, int64 m_end)
"""
from __future__ import annotations

import threading

import llvmlite.ir as ir

from .gemm import counted_loop

I1 = ir.IntType(1)
I64 = ir.IntType(64)
_TYPES = {"float32": ir.FloatType(), "float64": ir.DoubleType()}


FIXUP_TYPES = {dt: ir.FunctionType(ir.VoidType(), [I64, I64, T.as_pointer(), I64, I64, T.as_pointer(), I64, I64,
                                                     T.as_pointer(), I64, I64, I64])
               for dt, T in _TYPES.items()}
_lock = threading.Lock()
_jitted: set = set()


def shared_symbol(dtype: str) -> str:
    """The JIT runtime's fix-up for ``dtype`` (tagged by CPU model, as the GEMM runtime)."""
    from .gemm_runtime import _model_tag

    return f"graphc_gemm_overflow_{dtype}_{_model_tag()}"


def declare_overflow_fixup(module: ir.Module, dtype: str, shared: bool = False) -> ir.Function:
    """The fix-up function for ``dtype`` in ``module``. ``shared`` (the JIT's code units):
    only declared; ``ensure_overflow_fixup_jitted`` loads its one optimized copy, instead
    of every GEMM unit optimizing its own (~80 ms each). Otherwise (one module, the AOT
    export): defined once per module, internal."""
    if shared:
        name = shared_symbol(dtype)
        fn = module.globals.get(name)
        return fn if fn is not None else ir.Function(module, FIXUP_TYPES[dtype], name)
    name = f"graphc_gemm_overflow_{dtype}"
    fn = module.globals.get(name)
    if fn is None:
        fn = _emit(module, name, _TYPES[dtype])
    return fn


def ensure_overflow_fixup_jitted(dtype: str) -> None:
    """Load the shared fix-up of ``dtype`` into the process-wide JIT engine (once per
    process and CPU model; optimized at O3 so its scan vectorizes; its object goes
    through the disk cache like the GEMM runtime's)."""
    from .llvm_cpu import KERNEL_SPEED_LEVEL, load_runtime_object

    name = shared_symbol(dtype)
    with _lock:
        if name in _jitted:
            return
        load_runtime_object(_text_of(dtype), [name], name=name, speed_level=KERNEL_SPEED_LEVEL)
        _jitted.add(name)


def prefetch(dtype: str) -> None:
    """Start building the fix-up of ``dtype`` on the compile threads, unless loaded."""
    from .llvm_cpu import KERNEL_SPEED_LEVEL, prefetch_runtime_object

    name = shared_symbol(dtype)
    if name not in _jitted:
        prefetch_runtime_object(_text_of(dtype), name, speed_level=KERNEL_SPEED_LEVEL)


def _text_of(dtype: str):
    def text():
        mod = ir.Module(f"graphc_gemm_overflow_runtime_{dtype}")
        _emit(mod, shared_symbol(dtype), _TYPES[dtype]).linkage = "external"
        return str(mod)
    return text


def _emit(module, name, T):
    P = T.as_pointer()
    fnty = ir.FunctionType(ir.VoidType(), [I64, I64, P, I64, I64, P, I64, I64, P, I64, I64, I64])
    fn = ir.Function(module, fnty, name=name)
    fn.linkage = "internal"
    N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc, m0, m1 = fn.args
    fabs = module.globals.get(f"llvm.fabs.{'f32' if T == _TYPES['float32'] else 'f64'}")
    if fabs is None:
        fabs = ir.Function(module, ir.FunctionType(T, [T]), name=f"llvm.fabs.{'f32' if T == _TYPES['float32'] else 'f64'}")
    inf = ir.Constant(T, float("inf"))
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    flag_slot = b.alloca(I64, name="any_inf")
    sum_slot = b.alloca(T, name="dot")

    def is_inf(v):
        return b.fcmp_ordered("==", b.call(fabs, [v]), inf)

    with counted_loop(b, m0, m1, 1, "row") as i:
        row = b.gep(C, [b.mul(i, ldc)])
        b.store(ir.Constant(I64, 0), flag_slot)
        with counted_loop(b, 0, N, 1, "scan") as j:  # an or-reduction: vectorizes
            hit = b.zext(is_inf(b.load(b.gep(row, [j]))), I64)
            b.store(b.or_(b.load(flag_slot), hit), flag_slot)
        with b.if_then(b.icmp_unsigned("!=", b.load(flag_slot), ir.Constant(I64, 0)), likely=False):
            with counted_loop(b, 0, N, 1, "col") as j:
                cell = b.gep(row, [j])
                c = b.load(cell)
                with b.if_then(is_inf(c)):
                    b.store(ir.Constant(T, 0.0), sum_slot)
                    with counted_loop(b, 0, K, 1, "k") as k:
                        av = b.load(b.gep(A, [b.add(b.mul(i, a_rs), b.mul(k, a_cs))]))
                        bv = b.load(b.gep(B, [b.add(b.mul(k, b_rs), b.mul(j, b_cs))]))
                        # no fast-math flags: each product is rounded (to +-inf) on its own
                        b.store(b.fadd(b.load(sum_slot), b.fmul(av, bv)), sum_slot)
                    s = b.load(sum_slot)
                    b.store(b.select(b.fcmp_unordered("uno", s, s), s, c), cell)
    b.ret_void()
    return fn
