"""Route a math function to the vectorizable polynomial library (mathlib), or to an LLVM
intrinsic where mathlib has no implementation for it."""
from __future__ import annotations

from llvmlite import ir

try:
    from . import mathlib as _mathlib
except ImportError:  # pragma: no cover - mathlib is part of the package
    _mathlib = None


def emit(builder: ir.IRBuilder, fname: str, *vals, cpu=None):
    """``cpu``: the CPU model emitted for (None: a target with FMA and vector rounding,
    e.g. NVPTX); without hardware FMA or SSE4.1 mathlib avoids the libm calls LLVM
    would otherwise make for llvm.fma / llvm.rint."""
    if cpu is not None and _mathlib is not None:
        with _mathlib.target_isa(fma=cpu.has_fma, vector_round=cpu.has_vector_round):
            return emit(builder, fname, *vals)
    fn = getattr(_mathlib, f"emit_{fname}", None) if _mathlib else None
    if fn is not None:
        return fn(builder, *vals)
    ty = vals[0].type
    mod = builder.module
    if fname == "sigmoid":
        one = ir.Constant(ty, 1.0)
        e = emit(builder, "exp", builder.fneg(vals[0]))
        return builder.fdiv(one, builder.fadd(one, e))
    intrinsic = mod.declare_intrinsic(f"llvm.{fname}", [ty])
    return builder.call(intrinsic, list(vals))
