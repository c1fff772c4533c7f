"""On a real NVIDIA GPU (through libcuda): every op against the CPU, the MLP training step
against the CPU run, resident variables, mixed placement, CUDA errors as exceptions and
a small run of bench/gpu_bench.py. Skipped, with the reason, where there is no CUDA
driver or device (the same paths run on the CPU emulator in test_cuda_sim.py)."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import graphc as gc
from graphc._runtime import cuda
from graphc.errors import DeviceError
from gpu_checks import check_example, mlp_train
from op_examples import cases

_OK, _WHY = cuda.availability()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not _OK, reason=_WHY or "no CUDA device/driver available")]
CASES = cases()


@pytest.mark.parametrize("ex", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_op_on_gpu_matches_cpu(ex):
    check_example(ex)


def test_device_properties():
    from graphc.codegen.ptx import arch_for
    from graphc.device import gpu_backend

    dev = gpu_backend("/gpu:0")
    assert dev.name and dev.sm_count > 0 and dev.compute_capability >= (7, 5)
    assert arch_for(dev.compute_capability) in ("sm_90", "sm_75")
    assert "/gpu:0" in gc.available_devices()
    assert cuda.driver_version() >= 12000


def test_mlp_train_step_on_gpu_matches_cpu():
    """784-300-100-10 MLP, batch 64, 3 momentum steps: float32 losses within 1e-4 relative
    and weights within 1e-4 (GPU GEMM/reduction order differs from the CPU's)."""
    cpu_losses, cpu_w, _ = mlp_train("cpu")
    gpu_losses, gpu_w, f = mlp_train("cuda")
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-4)
    assert gpu_losses[-1] < gpu_losses[0]
    for a, b in zip(gpu_w, cpu_w):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_variables_stay_resident_on_the_gpu():
    v = gc.Variable(np.arange(6, dtype=np.float32))
    inc = gc.compile(lambda: v.assign_add(np.ones(6, np.float32)), target="cuda")
    inc()
    inc()
    assert v._device_copy.device_valid and not v._device_copy.host_valid
    np.testing.assert_array_equal(v.numpy(), np.arange(6) + 2.0)
    v.assign(np.zeros(6, np.float32))
    inc()
    np.testing.assert_array_equal(v.numpy(), np.ones(6))


def test_mixed_cpu_gpu_program():
    x = np.linspace(-1, 1, 4000, dtype=np.float32).reshape(40, 100)

    def f(x):
        with gc.device("/cpu:0"):
            y = gc.exp(x) * 2.0
        return gc.sum(gc.tanh(y) + x, axis=1)

    np.testing.assert_allclose(gc.compile(f, placement="auto")(x), gc.compile(f)(x), rtol=1e-5, atol=1e-5)


def test_cuda_errors_are_python_exceptions():
    from graphc.device import gpu_backend

    dev = gpu_backend("/gpu:0")
    with pytest.raises(cuda.CUDAError, match="cuMemAlloc.*CUDA_ERROR_OUT_OF_MEMORY"):
        dev.alloc(1 << 50)
    with pytest.raises(cuda.CUDAError, match="cuModuleLoadDataEx failed"):
        dev.load_module(".version 8.0\n.target sm_90\n.address_size 64\nthis is not ptx\n")
    assert isinstance(cuda.CUDAError("x"), DeviceError)


def test_gpu_bench_script_runs_small():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
    import gpu_bench

    r = gpu_bench.main(["--n", str(1 << 22), "--gemm", "512", "--repeat", "3"])
    assert r["elementwise_chain"]["fraction_of_copy_bandwidth"] > 0 and r["sgemm"]["GFLOPs"] > 0
