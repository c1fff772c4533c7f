"""The GEMM kernels as a runtime module: compiled once per process (per CPU model),
shared by every compiled program (generating and optimizing the packed micro-kernel
per program would cost ~0.1 s of compile time each). Generated programs only *declare*
the kernels; the AOT export links this module into the shared library (see
graphc/_export_native.py).

The symbol names carry a tag of the CPU model (name and features), because the
micro-kernel shape and the pack-buffer size the caller allocates depend on it: a
process that switches ``GRAPHC_CPU`` gets a second, consistent set of kernels instead
of calling one with a buffer sized for another."""
from __future__ import annotations

import hashlib
import re
import threading

from llvmlite import ir

from .gemm import emit_gemm_variant, emit_gemm_with_packed_b

DTYPES = ("float32", "float64")
_lock = threading.Lock()
_jitted: set = set()

I64 = ir.IntType(64)
PTR = ir.PointerType()
# void gemm(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc, accumulate, m_begin, m_end, pack)
GEMM_TYPE = ir.FunctionType(ir.VoidType(), [I64, I64, I64, PTR, I64, I64, PTR, I64, I64,
                                            PTR, I64, I64, I64, I64, PTR])


def _model_tag(model=None) -> str:
    from .cpu import current_model

    m = model or current_model()
    digest = hashlib.sha256(f"{m.name}:{m.features}".encode()).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9]', '_', m.name)}_{digest}"


# void pack_b(K, N, B, b_rs, b_cs, out): B packed once for the "_bpacked" GEMM (gemm.py)
PACK_B_TYPE = ir.FunctionType(ir.VoidType(), [I64, I64, PTR, I64, I64, PTR])


def symbol(dtype: str, model=None) -> str:
    return f"graphc_gemm_{dtype}_{_model_tag(model)}"


def exported(dtype: str) -> list:
    """The runtime's symbols for ``dtype``: the GEMM, the GEMM reading a pre-packed B, and
    the packer of B (loop-invariant weights are packed once per loop, see control_lowering)."""
    name = symbol(dtype)
    return [name, name + "_bpacked", name + "_pack_b"]


def emit_gemm_runtime(module: ir.Module) -> None:
    """Define the GEMMs of every dtype (external) and keep their helpers internal."""
    names = {n for d in DTYPES for n in exported(d)}
    for dt in DTYPES:
        emit_gemm_with_packed_b(module, symbol(dt), dt)
    for f in module.functions:
        if not f.is_declaration and f.name not in names:
            f.linkage = "internal"


def declare_gemm(module: ir.Module, dtype: str, b_packed: bool = False) -> ir.Function:
    """Declare the GEMM of ``dtype`` in a generated module (same signature as gemm.py);
    ``b_packed``: the variant whose B was packed by ``declare_pack_b``'s function."""
    name = symbol(dtype) + ("_bpacked" if b_packed else "")
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    return ir.Function(module, GEMM_TYPE, name)


def declare_pack_b(module: ir.Module, dtype: str) -> ir.Function:
    name = symbol(dtype) + "_pack_b"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    return ir.Function(module, PACK_B_TYPE, name)


def ensure_jitted(dtype: str, b_packed: bool = True) -> None:
    """Load the GEMM of ``dtype`` for the current CPU model into the process-wide JIT
    engine (once per process and model; its object code goes through the same on-disk
    cache as compiled programs), with the overflow repair every GEMM step calls
    (gemm_overflow.py). ``b_packed``: also the B-prepacked GEMM and its packer, a second
    object; the code generator passes False for a GEMM step that does not use them (no
    loop-invariant weights), which halves the runtime's cold compile for such programs.

    No IR optimization pipeline: gemm.py emits explicit SSA vector code, and measured
    GFLOP/s are the same without it (220 vs 223 at 1024^3), while compiling takes
    ~0.09 s instead of ~0.6 s."""
    from .gemm_overflow import ensure_overflow_fixup_jitted
    from .llvm_cpu import load_runtime_object

    with _lock:
        for part, names, text in _parts(dtype, b_packed):
            if part in _jitted:
                continue
            # keyed by symbol (dtype, CPU model) and graphc's source hash: a GEMM found
            # in the disk cache needs no IR generation (H6, issue 13)
            load_runtime_object(text, names, name=part)
            _jitted.add(part)
    ensure_overflow_fixup_jitted(dtype)


def prefetch(dtype: str) -> None:
    """Start building the plain GEMM of ``dtype`` and its overflow fix-up on the compile
    threads (see llvm_cpu.prefetch_runtime_object), unless already loaded."""
    from .gemm_overflow import prefetch as prefetch_overflow
    from .llvm_cpu import prefetch_runtime_object

    for part, _names, text in _parts(dtype, False):
        if part not in _jitted:
            prefetch_runtime_object(text, part)
    prefetch_overflow(dtype)


def _parts(dtype: str, b_packed: bool) -> list:
    """(cache name, exported symbols, IR text builder) of each GEMM object of ``dtype``."""
    name = symbol(dtype)
    parts = [(name, [name], False)]
    if b_packed:
        parts.append((name + "_bpacked", [name + "_bpacked", name + "_pack_b"], True))

    def text_of(part, names, packed):
        def text():
            mod = ir.Module(f"graphc_gemm_runtime_{dtype}")
            emit_gemm_variant(mod, part, dtype, b_packed=packed)
            for f in mod.functions:
                if not f.is_declaration and f.name not in names:
                    f.linkage = "internal"
            return str(mod)
        return text

    return [(part, names, text_of(part, names, packed)) for part, names, packed in parts]
