"""PTX generation without a GPU: every registered op through the NVPTX target, assembled
by ``ptxas`` for sm_90 (and the portable sm_75 target), plus the structure of the GPU
kernel strategies (grid-stride loops, shared-memory reductions, tiled matmul)."""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

import graphc as gc
from graphc.codegen import ptx as P
from graphc.codegen.gpu_compile import gpu_program
from graphc.errors import CompileError, DeviceError
from op_examples import EXAMPLES, cases, missing_examples

PTXAS = shutil.which("ptxas")
CASES = cases()


def assemble(text, arch, tmp_path):
    if PTXAS is None:
        pytest.skip("ptxas not found on PATH (the PTX was generated but not assembled)")
    src = tmp_path / f"k_{arch}.ptx"
    src.write_text(text)
    r = subprocess.run([PTXAS, f"-arch={arch}", str(src), "-o", str(tmp_path / f"k_{arch}.cubin")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"ptxas -arch={arch} failed:\n{r.stderr}"


def compiled(ex):
    return gc.compile(ex.fn, target="cuda", **ex.options)


def test_llvmlite_has_the_nvptx_target():
    tm = P.target_machine("sm_90")
    assert "e-" in str(tm.target_data)
    assert P.target_machine(P.PORTABLE_ARCH) is not tm
    with pytest.raises(CompileError, match="unsupported GPU architecture"):
        P.target_machine("sm_10")


def test_every_registered_op_has_an_example():
    missing = missing_examples()
    assert not missing, ("ops without a GPU example in tests/op_examples.py (add one there or in a "
                         f"tests/op_examples_<topic>.py module): {missing}")


@pytest.mark.parametrize("ex", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_op_generates_ptx_that_ptxas_assembles(ex, tmp_path):
    cf = compiled(ex)
    if ex.cpu_only:  # no GPU kernel by design: the placer must keep it on the CPU
        graph, _, _ = gpu_program(cf, ex.args)
        nodes = [n for n in graph.nodes if n.op == ex.op]
        assert nodes and all(n.device == "/cpu:0" for n in nodes), f"{ex.op} ({ex.cpu_only}) was put on a GPU"
        with pytest.raises(DeviceError, match=f"op {ex.op} .*no GPU kernel"):
            _pinned_error(ex)
        return
    graph, program, steps = gpu_program(cf, ex.args)
    on_gpu = [n for n in graph.nodes if n.op == ex.op and n.device == "/gpu:0"]
    assert on_gpu, f"the example for {ex.op} has no {ex.op} node on the GPU"
    text = cf.ptx(*ex.args)
    assert ".entry" in text and ".func" not in text   # kernels only (ptx_kernel), no device functions
    assemble(text, "sm_90", tmp_path)
    assemble(P.PTXTarget(P.PORTABLE_ARCH).ptx(program, steps), P.PORTABLE_ARCH, tmp_path)


def _pinned_error(ex):
    """An op without a GPU kernel pinned to the GPU is a placement error naming it."""
    def pinned(*args):
        with gc.device("/gpu:0"):
            return ex.fn(*args)
    gpu_program(gc.compile(pinned, target="cuda", **ex.options), ex.args)


# -- kernel structure ---------------------------------------------------------------------------------

def ptx_of(fn, *args, arch="sm_90"):
    return gc.compile(fn, target="cuda").ptx(*args, arch=arch)


def entries(text):
    return re.findall(r"\.visible \.entry (\w+)\(", text)


def test_elementwise_chain_is_one_grid_stride_kernel():
    x = np.ones(1 << 16, np.float32)
    text = ptx_of(lambda x: gc.tanh(x * 1.5 + 0.5) * gc.sigmoid(x) + x * x, x)
    assert len(entries(text)) == 1
    assert "%nctaid.x" in text and "bar.sync" not in text and ".shared" not in text
    assert "ld.global.nc" in text       # disjoint buffers: noalias/readonly params, read-only cache
    assert not re.search(r"\bcall", text)  # mathlib: plain instructions, no libdevice/libm calls


def test_row_reduction_is_a_shared_memory_tree():
    text = ptx_of(lambda x: gc.sum(x, axis=1), np.ones((64, 1000), np.float32))
    assert ".shared" in text and text.count("bar.sync") >= 9   # 1 + log2(256) rounds


def test_huge_reduction_uses_two_kernels():
    text = ptx_of(lambda x: gc.max(x), np.ones(1 << 20, np.float32))
    assert sorted(entries(text)) == sorted(["k0_reduce_max_part", "k0_reduce_max_final"])


def test_softmax_is_one_kernel_with_block_reductions():
    text = ptx_of(lambda x: gc.softmax(x), np.ones((64, 1000), np.float32))
    assert len(entries(text)) == 1 and text.count("bar.sync") >= 18   # max and sum trees


def test_matmul_is_tiled_in_shared_memory():
    a = np.ones((1024, 1024), np.float32)
    text = ptx_of(lambda a, b: a @ b, a, a)
    assert len(re.findall(r"\.shared \.align \d+ \.b8 \w+\[(\d+)\]", text)) == 2
    assert text.count("fma.rn.f32") >= 8 * 8 * 8   # an 8x8 register tile per thread, BK = 8 unrolled


def test_portable_target_header():
    text = ptx_of(lambda x: x + 1, np.ones(8, np.float32), arch=P.PORTABLE_ARCH)
    assert ".version 7.0" in text and ".target sm_75" in text
    assert ".version 8.0" in ptx_of(lambda x: x + 1, np.ones(8, np.float32))


def test_math_without_gpu_implementation_is_a_compile_error():
    from llvmlite import ir

    t = P.PTXTarget()
    fn = ir.Function(ir.Module(), ir.FunctionType(ir.FloatType(), [ir.FloatType()]), "f")
    b = ir.IRBuilder(fn.append_basic_block())
    with pytest.raises(CompileError, match="'lgamma' has no GPU implementation"):
        t.emit_math(b, "lgamma", fn.args[0])
    assert t.emit_math(b, "exp", fn.args[0]).type == ir.FloatType()


def test_unlowerable_intrinsic_is_rejected_before_llvm():
    from llvmlite import ir

    m = ir.Module()
    f = ir.Function(m, ir.FunctionType(ir.VoidType(), []), "k")
    exp = m.declare_intrinsic("llvm.exp", [ir.FloatType()])
    b = ir.IRBuilder(f.append_basic_block())
    b.call(exp, [ir.Constant(ir.FloatType(), 1.0)])
    b.ret_void()
    with pytest.raises(CompileError, match="cannot lower intrinsic llvm.exp"):
        P.emit_ptx(m)


def test_strategy_choice():
    def plan(fn, *args):
        _, program, steps = gpu_program(gc.compile(fn, target="cuda"), args)
        return [P.plan_kernel(program.kernels[i])[0] if not P.is_gemm_step(program.kernels[i]) else "gemm"
                for i in steps]
    x = np.ones((64, 1000), np.float32)
    assert plan(lambda x: x * 2, x) == ["threads"]
    assert plan(lambda x: gc.sum(x, axis=1), x) == ["block_reduce"]
    assert plan(lambda x: gc.sum(x, axis=1), np.ones((100000, 8), np.float32)) == ["threads"]
    assert plan(lambda x: gc.softmax(x), x) == ["row_block"]
    assert plan(lambda x: gc.softmax(x), np.ones((100000, 10), np.float32)) == ["threads"]
    assert plan(lambda a: a @ a, np.ones((8, 8), np.float32)) == ["matmul"]
    assert plan(lambda a: a @ a, np.ones((8, 8), np.int32)) == ["threads"]


def test_ptx_needs_no_gpu_and_compile_says_why():
    from graphc.device import gpu_count

    f = gc.compile(lambda x: gc.exp(x), target="cuda")
    x = np.ones(4, np.float32)
    assert ".entry" in f.ptx(x)
    if gpu_count() == 0:
        with pytest.raises(DeviceError, match=r"(?s)exp.*/gpu:0.*Available devices: /cpu:0"):
            f(x)
