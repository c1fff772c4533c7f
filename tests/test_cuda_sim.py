"""The GPU code path end to end on the CPU emulator (graphc._runtime.cuda_sim): the same
kernels (thread indices and barriers emulated, grids capped at 3 blocks so grid-stride
loops iterate), the same DeviceExecutable (buffers per device, transfers, resident
variables). Only the NVPTX code generation (see test_ptx.py) and the libcuda calls
(test_cuda_gpu.py) are not exercised here."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.device import simulated_gpus
from graphc.errors import DeviceError
from gpu_checks import check_example, mlp_train
from op_examples import cases

CASES = cases()


@pytest.fixture
def gpu():
    with simulated_gpus(1) as (dev,):
        yield dev


@pytest.mark.parametrize("ex", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_op_on_emulated_gpu_matches_cpu(ex, gpu):
    f = check_example(ex)
    if not ex.cpu_only:
        assert gpu.launch_log, "nothing ran on the (emulated) GPU"


def test_mlp_train_step_matches_cpu(gpu):
    """3 steps of a small MLP: losses within 1e-5 relative, weights within 1e-5 (float32,
    reduction order differs)."""
    sizes = (40, 24, 16, 10)
    cpu_losses, cpu_w, _ = mlp_train("cpu", sizes, batch=20)
    gpu_losses, gpu_w, f = mlp_train("cuda", sizes, batch=20)
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-5)
    assert gpu_losses[-1] < gpu_losses[0]
    for a, b in zip(gpu_w, cpu_w):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_variables_stay_resident_and_sync_lazily(gpu):
    v = gc.Variable(np.arange(6, dtype=np.float32))
    inc = gc.compile(lambda: v.assign_add(np.ones(6, np.float32)), target="cuda")
    read_cpu = gc.compile(lambda: v * 1.0)
    inc()
    inc()
    copy = v._device_copy
    assert copy is not None and copy.device_valid and not copy.host_valid   # not pulled back yet
    np.testing.assert_array_equal(v.numpy(), np.arange(6) + 2.0)            # a host read pulls it
    assert copy.host_valid and copy.device_valid
    v.assign(np.zeros(6, np.float32))                                       # host write: device stale
    assert not copy.device_valid
    inc()
    np.testing.assert_array_equal(read_cpu(), np.ones(6))                   # CPU code sees the GPU update


def test_mixed_placement_runs_segments_with_copies(gpu):
    x = np.linspace(-1, 1, 40, dtype=np.float32).reshape(8, 5)

    def f(x):
        with gc.device("/cpu:0"):
            y = gc.exp(x) * 2.0
        z = gc.tanh(y) + x
        with gc.device("/cpu:0"):
            s = gc.sum(z, axis=1)
        return s, z * 3

    mixed = gc.compile(f, placement="auto")
    got = mixed(x)
    want = gc.compile(f)(x)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6)
    exe = mixed._compile((x,)).executable
    assert [e[0] for e in exe.plan] == ["cpu", "copy", "gpu", "copy", "cpu", "gpu"]


def test_soft_placement_moves_pinned_int32_variable_to_cpu(gpu, capsys):
    step = gc.Variable(np.int32(0))
    w = gc.Variable(np.ones(3, np.float32))

    def f(x):
        with gc.device("/gpu:0"):
            step.assign_add(1)
            w.assign_sub(x)
        return w * 2

    with pytest.raises(DeviceError, match=r"variable .*int32.*/gpu:0.*no GPU kernel"):
        gc.compile(f, target="cuda")(np.ones(3, np.float32))
    soft = gc.compile(f, target="cuda", allow_soft_placement=True, log_device_placement=True)
    out = soft(np.full(3, 0.5, np.float32))
    np.testing.assert_allclose(out, np.ones(3))
    assert int(step.numpy()) == 1
    log = capsys.readouterr().out.splitlines()
    assert "read_variable: /cpu:0" in log or "read_variable_1: /cpu:0" in log
    assert "subtract: /gpu:0" in log


def test_emulator_rejects_host_pointers(gpu):
    host = np.zeros(4, np.float32)
    with pytest.raises(DeviceError, match="not device memory"):
        gpu.htod(host.ctypes.data, host.ctypes.data, 16)


def test_gemm_steps_with_epilogue_and_transposed_operand(gpu):
    """With placement="auto" fusion plans for the CPU (GEMM steps with a bias+relu epilogue,
    a transpose folded into operand strides); the GPU runs those steps with its tiled kernel."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 128)).astype(np.float32)
    w = rng.standard_normal((128, 64)).astype(np.float32)
    bias = rng.standard_normal(64).astype(np.float32)
    f = gc.compile(lambda x, w, b: gc.relu(x @ w + b), placement="auto")
    np.testing.assert_allclose(f(x, w, bias), np.maximum(x @ w + bias, 0), rtol=1e-4, atol=1e-4)
    steps = f._compile((x, w, bias)).executable.program.kernels
    assert any(getattr(s, "epilogue", None) is not None for s in steps)
    g = gc.compile(lambda x, w: x @ gc.transpose(w), placement="auto")
    np.testing.assert_allclose(g(x, w.T.copy()), x @ w, rtol=1e-4, atol=1e-4)
    assert any(getattr(s, "b_trans", False) for s in g._compile((x, w.T.copy())).executable.program.kernels)


def test_cuda_is_optional_and_reported():
    import subprocess
    import sys

    from graphc._runtime import cuda

    code = "import graphc, graphc._runtime.cuda as c; assert not c._state, c._state"
    subprocess.run([sys.executable, "-c", code], check=True)   # importing graphc never loads libcuda
    ok, why = cuda.availability()
    if ok:
        assert cuda.device_count() >= 1
    else:
        assert why.startswith("no CUDA device/driver available") and cuda.device_count() == 0
        with pytest.raises(DeviceError, match="no CUDA device/driver available"):
            cuda.CUDADevice(0)


def test_large_elementwise_kernel_unrolled_with_tail(gpu):
    """Over UNROLL_MIN elements each thread does 4 per iteration; an odd size checks the tail."""
    x = np.linspace(-3, 3, (1 << 20) + 3, dtype=np.float32)
    chain = lambda x: gc.tanh(x * 1.5 + 0.5) * gc.sigmoid(x) + x * x   # noqa: E731
    got = gc.compile(chain, target="cuda")(x)
    np.testing.assert_allclose(got, gc.compile(chain)(x), rtol=1e-6, atol=1e-6)
    assert gpu.launch_log[-1][0] == "k0_add"
    exe = gc.compile(chain, target="cuda")._compile((x,)).executable
    assert [ln.strategy for lns in exe.launches.values() for ln in lns] == ["threads_x4"]
