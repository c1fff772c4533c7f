"""The NVIDIA GPU target: Program -> LLVM IR for nvptx64 -> PTX text, plus a launch plan.

Every op keeps its one scalar ``emit`` (through GPUKernelBuilder, ptx_kernel.py); what
differs from the CPU is how a kernel's loops are spread over threads (the strategies
in ptx_codegen.py). Transcendentals come from ``mathlib`` (plain IR, no libdevice), so
they compile unchanged; anything the NVPTX backend cannot lower is rejected with a
CompileError naming it first. ``compile`` builds a runnable executable (gpu_compile.py).
"""
from __future__ import annotations

import threading

import llvmlite.binding as llvm
from llvmlite import ir

from ..errors import CompileError
from .ptx_codegen import (GPUCode, GPUCodegen, Launch, Scratch, as_kernel, is_gemm_step, plan_kernel,  # noqa: F401
                          plan_matmul, step_node)
from .ptx_kernel import BLOCK, SIM_BARRIER, GPUKernelBuilder  # noqa: F401
from .target import Target

TRIPLE = "nvptx64-nvidia-cuda"
# PTX ISA 8.0 (CUDA 12.0) for Hopper; the portable target is Turing+ with ISA 7.0
# (CUDA 11.0). Both are accepted by driver 580 / CUDA 13 (whose ptxas has no sm_70).
ARCHS = {"sm_90": "+ptx80", "sm_75": "+ptx70"}
DEFAULT_ARCH, PORTABLE_ARCH = "sm_90", "sm_75"
# Intrinsics (by prefix) the NVPTX backend lowers; anything else (llvm.exp, libm, ...)
# would abort in instruction selection, so it is rejected with a CompileError first.
NVPTX_INTRINSICS = ("llvm.nvvm.", "llvm.sqrt.", "llvm.fabs.", "llvm.fma.", "llvm.fmuladd.", "llvm.floor.",
                    "llvm.ceil.", "llvm.rint.", "llvm.trunc.", "llvm.round.", "llvm.nearbyint.", "llvm.copysign.",
                    "llvm.minnum.", "llvm.maxnum.", "llvm.minimum.", "llvm.maximum.", "llvm.smax.", "llvm.smin.",
                    "llvm.umax.", "llvm.umin.", "llvm.abs.", "llvm.ctpop.", "llvm.ctlz.", "llvm.cttz.",
                    "llvm.bswap.", "llvm.fshl.", "llvm.fshr.", "llvm.memcpy.", "llvm.memset.", "llvm.memmove.",
                    "llvm.lifetime.", "llvm.assume", "llvm.expect.")


# -- target machine and PTX ----------------------------------------------------------------------

_tm_lock = threading.Lock()
_tms: dict = {}


def target_machine(arch=DEFAULT_ARCH):
    """The NVPTX target machine for ``arch`` (sm_90 -> PTX 8.0, sm_75 -> PTX 7.0)."""
    from .llvm_cpu import init_llvm

    if arch not in ARCHS:
        raise CompileError(f"unsupported GPU architecture {arch!r} (supported: {', '.join(ARCHS)})")
    init_llvm()
    with _tm_lock:
        tm = _tms.get(arch)
        if tm is None:
            target = llvm.Target.from_triple(TRIPLE)
            tm = target.create_target_machine(cpu=arch, features=ARCHS[arch], opt=3)
            _tms[arch] = tm
        return tm


def check_calls(module: ir.Module):
    """Reject calls the NVPTX backend cannot lower, naming them (before LLVM would abort)."""
    for gv in module.globals.values():
        if isinstance(gv, ir.Function) and not gv.blocks:
            name = gv.name
            if name.startswith("llvm."):
                if not name.startswith(NVPTX_INTRINSICS):
                    raise CompileError(f"the GPU target cannot lower intrinsic {name} (no NVPTX instruction)")
            elif not name.startswith("graphc_sim_") and name != "pthread_barrier_wait":
                raise CompileError(f"GPU kernels cannot call external function {name}")


def parse_and_optimize(module: ir.Module, tm):
    from .llvm_cpu import optimize

    try:
        mod = llvm.parse_assembly(str(module))
        mod.verify()
    except RuntimeError as e:
        raise CompileError(f"generated GPU LLVM IR is invalid: {e}") from None
    optimize(mod, tm)
    return mod


def emit_ptx(module: ir.Module, arch=DEFAULT_ARCH) -> str:
    check_calls(module)
    tm = target_machine(arch)
    return tm.emit_assembly(parse_and_optimize(module, tm))


# -- the target ------------------------------------------------------------------------------------

class PTXTarget(Target):
    name = "cuda"

    def __init__(self, arch=DEFAULT_ARCH, block=BLOCK, sim=False):
        if block != BLOCK:
            raise CompileError(f"the GPU kernels are written for {BLOCK}-thread blocks")
        self.arch = arch
        self.block = block
        self.sim = sim
        # PTX converts halves with cvt; the CPU emulator JIT-compiles the kernels for the
        # generic host CPU (gpu_compile.jit_host), where fpext/fptrunc would be libcalls
        self.native_half = not sim

    def emit_math(self, builder, fname, *vals):
        from . import mathlib, mathlib_bridge

        if not (hasattr(mathlib, f"emit_{fname}") or fname == "sigmoid" or
                f"llvm.{fname}.".startswith(NVPTX_INTRINSICS)):
            raise CompileError(f"math function {fname!r} has no GPU implementation (not in graphc's mathlib)")
        return mathlib_bridge.emit(builder, fname, *vals)

    def build(self, program, kernel_indices=None, sim=None) -> GPUCode:
        """LLVM IR for the chosen kernels (all by default) and their launches."""
        cg = GPUCodegen(self, program, sim=self.sim if sim is None else sim)
        indices = range(len(program.kernels)) if kernel_indices is None else kernel_indices
        for i in indices:
            cg.add_step(i, program.kernels[i])
        return cg.code

    def ptx(self, program, kernel_indices=None) -> str:
        return emit_ptx(self.build(program, kernel_indices, sim=False).module, self.arch)

    def compile(self, program):
        from .gpu_compile import compile_program

        return compile_program(self, program)


def arch_for(compute_capability) -> str:
    """The PTX target for a device: sm_90 on Hopper and newer, else the portable sm_75."""
    major, minor = compute_capability
    return DEFAULT_ARCH if major * 10 + minor >= 90 else PORTABLE_ARCH
