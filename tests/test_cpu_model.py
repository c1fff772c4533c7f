"""The CPU model (graphc/codegen/cpu/cpu_model.py): what it reads from LLVM and the OS,
and that code generation follows it (GRAPHC_CPU, target machines, vector width)."""
import os
import re
import sys
from dataclasses import FrozenInstanceError, replace

import numpy as np
import pytest

import graphc as gc
from graphc.codegen import llvm_cpu
from graphc.codegen.cpu import cpu_model as cm
from graphc.codegen.cpu import current_model, model_for

X86 = current_model().arch == "x86_64"
x86_only = pytest.mark.skipif(not X86, reason="named x86 CPU models need an x86-64 host")


def test_cpu_info_is_the_current_model_and_prints(capsys):
    m = gc.cpu_info()
    assert m == current_model()
    assert m.vector_bits in (128, 256, 512) and m.vector_registers in (16, 32)
    assert m.l1d > 0 and m.l2 >= m.l1d and m.cores == len(os.sched_getaffinity(0))
    gc.cpu_info(print_it=True)
    out = capsys.readouterr().out
    assert m.name in out and "L1d" in out and "registers" in out
    with pytest.raises(FrozenInstanceError):
        m.vector_bits = 1


@x86_only
@pytest.mark.parametrize("name,bits,regs,fma,rounding", [
    ("x86-64", 128, 16, False, False),      # SSE2
    ("x86-64-v2", 128, 16, False, True),    # SSE4.2: roundps, no FMA
    ("haswell", 256, 16, True, True),       # AVX2 + FMA
    ("skylake-avx512", 512, 32, True, True),
    ("znver4", 512, 32, True, True),
])
def test_isa_is_read_from_llvm(name, bits, regs, fma, rounding):
    m = model_for(name)
    assert (m.vector_bits, m.vector_registers, m.has_fma, m.has_vector_round) == (bits, regs, fma, rounding)
    assert m.lanes("float32") == bits // 32 and m.lanes("float64") == bits // 64


@x86_only
def test_avx512_models_make_llvm_vectorize_at_512_bits():
    """LLVM prefers 256-bit loop vectors on Intel AVX-512 parts unless told otherwise;
    the model's rule turns that off, so loops use the width it reports."""
    assert "-prefer-256-bit" in model_for("skylake-avx512").features
    assert "prefer-256-bit" not in model_for("haswell").features
    # an explicit user choice is kept (and then the model says 512 only for explicit vectors)
    assert model_for("skylake-avx512", "+prefer-256-bit").features == "+prefer-256-bit"


def test_graphc_cpu_override(monkeypatch):
    monkeypatch.setenv("GRAPHC_CPU", "x86-64")
    m = current_model()
    assert m.source == "GRAPHC_CPU" and llvm_cpu.host_cpu() == (m.name, m.features)
    monkeypatch.delenv("GRAPHC_CPU")
    assert current_model().source == "host"


def test_caches_from_sysfs_are_clamped(tmp_path):
    """A VM that reports a 480 MiB L3 shared by 2 CPUs must not make blocking count on
    240 MiB per core; missing entries fall back to defaults."""
    for i, (level, kind, size, shared) in enumerate([(1, "Data", "48K", "0"), (1, "Instruction", "32K", "0"),
                                                    (2, "Unified", "2048K", "0"), (3, "Unified", "491520K", "0-1")]):
        d = tmp_path / f"index{i}"
        d.mkdir()
        for k, v in dict(level=level, type=kind, size=size, shared_cpu_list=shared).items():
            (d / k).write_text(f"{v}\n")
    l1d, l2, l3, sharers = cm.read_caches(str(tmp_path))
    assert (l1d, l2, l3, sharers) == (48 * 1024, 2 << 20, 480 << 20, 2)
    m = replace(current_model(), l1d=l1d, l2=l2, l3=l3, l3_sharers=sharers)
    assert m.l3_per_core == cm.MAX_L3_PER_CORE
    assert cm.read_caches(str(tmp_path / "missing")) == (cm.DEFAULT_L1D, cm.DEFAULT_L2, 0, 1)
    assert replace(m, l3=0).l3_per_core >= m.l2


def test_peak_probe_covers_latency_times_ports():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from bench.peak import accumulators

    for m in [current_model()] + ([model_for("haswell"), model_for("x86-64")] if X86 else []):
        n = accumulators(m)
        assert n >= m.fma_latency * m.fma_ports and n + 2 <= m.vector_registers


@x86_only
@pytest.mark.parametrize("cpu", ["x86-64", "haswell"])
def test_programs_for_other_models_run_and_call_no_libm(cpu, monkeypatch):
    """A whole program (transcendentals, a reduction, a matmul) compiled for a narrower
    model runs on this host, matches numpy, and its kernels call no libm function."""
    monkeypatch.setenv("GRAPHC_CPU", cpu)
    monkeypatch.setenv("GRAPHC_CACHE", "0")
    f = gc.compile(lambda x, w: gc.tanh(x @ w) * gc.sigmoid(x[:, :16]) + gc.max(x, axis=1, keepdims=True))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 29)).astype(np.float32)
    w = rng.standard_normal((29, 16)).astype(np.float32)
    want = np.tanh(x @ w) / (1 + np.exp(-x[:, :16])) + x.max(axis=1, keepdims=True)
    np.testing.assert_allclose(f(x, w), want, rtol=2e-5, atol=2e-5)
    text = f.ir(x, w, stage="llvm")
    import llvmlite.binding as llvm

    mod = llvm.parse_assembly(text)
    tm = llvm_cpu.target_machine()
    llvm_cpu.optimize(mod, tm)
    asm = tm.emit_assembly(mod)
    calls = set(re.findall(r"^\s*(?:call|jmp)\w*\s+([*A-Za-z_][\w@.]*)", asm, re.M))
    assert calls <= {"graphc_parallel_for@PLT", "graphc_parallel_for"} | {
        c for c in calls if c.startswith("graphc_gemm_")}, calls

