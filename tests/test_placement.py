"""The placement pass (TF 1.x's simple placer) with fake device lists: defaults, pins,
errors and soft placement, variables and their updates, copies between devices, kernels
split at device boundaries, and the placement log."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.device import canonical, fake_devices
from graphc.errors import DeviceError
from graphc.passes import PassContext, PassManager, default_pipeline
from graphc.passes import placement as placement_pass

GPU = ("/cpu:0", "/gpu:0")
X = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)


def placed(fn, *args, devices=GPU, target="cpu", **options):
    """The optimized graph of ``fn`` after the pipeline with placement on ``devices``."""
    graph = gc.trace(fn, *args)
    ctx = PassContext(target=target, options={"placement": "auto", **options})
    with fake_devices(devices):
        PassManager(default_pipeline(ctx), ctx).run(graph)
    return graph, ctx


def devices_of(graph, op):
    return [n.device for n in graph.nodes if n.op == op]


def test_device_names_are_canonical():
    assert canonical("/gpu:0") == canonical("/device:GPU:0") == canonical("gpu") == "/gpu:0"
    assert canonical("/job:localhost/replica:0/task:0/device:GPU:1") == "/gpu:1"
    assert canonical("/CPU:0") == canonical("cpu:0") == "/cpu:0"
    assert canonical(None) is None
    with pytest.raises(DeviceError, match="malformed device name"):
        canonical("/tpu:0")


def test_default_is_gpu0_when_present_else_cpu():
    g, ctx = placed(lambda x: gc.exp(x) + 1, X)
    assert set(devices_of(g, "exp") + devices_of(g, "add")) == {"/gpu:0"} and ctx.target == "cuda"
    g, ctx = placed(lambda x: gc.exp(x) + 1, X, devices=["/cpu:0"])
    assert set(n.device for n in g.nodes) == {"/cpu:0"} and ctx.target == "cpu"


def test_pins_copies_and_kernels_per_device():
    def f(x):
        with gc.device("/cpu:0"):
            y = gc.exp(x) * 2.0
        z = gc.tanh(y) + x
        with gc.device("/cpu:0"):
            return gc.sum(z, axis=1)

    g, _ = placed(f, X)
    assert devices_of(g, "exp") == ["/cpu:0"] and devices_of(g, "tanh") == ["/gpu:0"]
    copies = [n for n in g.nodes if n.op == "copy_to_device"]
    assert sorted((c.inputs[0].device, c.device) for c in copies) == [("/cpu:0", "/gpu:0"), ("/gpu:0", "/cpu:0")]
    for n in g.nodes:   # every edge between computed ops stays on one device
        for i in n.inputs:
            if n.op != "copy_to_device" and i.op not in ("param", "constant"):
                assert i.device == n.device, (i, n)
    for grp in g.kernels:
        assert {m.device for m in grp.members} == {grp.root.device}, grp.describe()
    roots = {grp.root.op for grp in g.kernels}
    assert "copy_to_device" in roots and "multiply" in roots   # exp*2 fused on the CPU side


def test_missing_pinned_device_is_an_error_unless_soft():
    def f(x):
        with gc.device("/gpu:1"):
            return gc.tanh(x)

    with pytest.raises(DeviceError) as e:
        placed(f, X)
    msg = str(e.value)
    assert "op tanh" in msg and "/gpu:1 does not exist" in msg and "Available devices: /cpu:0, /gpu:0" in msg
    assert "test_placement.py" in msg   # the user's source line
    g, _ = placed(f, X, allow_soft_placement=True)
    assert devices_of(g, "tanh") == ["/cpu:0"]


def test_target_cuda_without_gpu_errors_or_falls_back():
    f = lambda x: gc.exp(x) * 3   # noqa: E731
    with pytest.raises(DeviceError, match=r"op exp .*/gpu:0 does not exist.*Available devices: /cpu:0"):
        placed(f, X, devices=["/cpu:0"], target="cuda")
    g, ctx = placed(f, X, devices=["/cpu:0"], target="cuda", allow_soft_placement=True)
    assert ctx.target == "cpu" and set(n.device for n in g.nodes) == {"/cpu:0"}
    # end to end: a plain CPU executable, right result
    run = gc.compile(f, target="cuda", allow_soft_placement=True, devices=["/cpu:0"])
    np.testing.assert_allclose(run(X), np.exp(X) * 3, rtol=1e-6)
    assert type(run._compile((X,)).executable).__name__ == "Executable"


def test_variable_updates_sit_with_the_variable():
    with gc.device("/cpu:0"):
        w = gc.Variable(np.ones(4, np.float32))
    assert w.device == "/cpu:0"

    def step(x):
        w.assign_sub(gc.sum(x, axis=0) * 0.1)    # the subtract modifies w: on w's device
        return w * 2

    g, _ = placed(step, X)
    assert devices_of(g, "read_variable") == ["/cpu:0"]
    assert g.var_updates[w].device == "/cpu:0" and g.var_updates[w].op == "subtract"
    assert devices_of(g, "reduce_sum") == ["/gpu:0"]        # the rest defaults to the GPU

    def pinned_elsewhere(x):
        with gc.device("/gpu:0"):
            w.assign_sub(x[0])
        return w * 1

    with pytest.raises(DeviceError, match="updates variable .* which is on /cpu:0"):
        placed(pinned_elsewhere, X)
    g, _ = placed(pinned_elsewhere, X, allow_soft_placement=True)
    assert g.var_updates[w].device == "/cpu:0"


def test_int32_variables_have_no_gpu_kernel_as_in_tf():
    step = gc.Variable(np.int32(0))
    g, _ = placed(lambda: step.assign_add(1), )
    assert devices_of(g, "read_variable") == ["/cpu:0"]         # unpinned: quietly on the CPU

    def pinned():
        with gc.device("/gpu:0"):
            return step.assign_add(1)

    with pytest.raises(DeviceError, match=r"variable .*int32\[\].*no GPU kernel.*int32"):
        placed(pinned)
    g, _ = placed(pinned, allow_soft_placement=True)
    assert devices_of(g, "read_variable") == ["/cpu:0"]


def test_ops_without_gpu_kernel(monkeypatch):
    monkeypatch.setattr(placement_pass, "NO_GPU_KERNEL", {"tanh"})

    def f(x):
        with gc.device("/gpu:0"):
            return gc.tanh(x) + 1

    with pytest.raises(DeviceError, match="no GPU kernel is registered for tanh"):
        placed(f, X)
    g, _ = placed(lambda x: gc.tanh(x) + 1, X)
    assert devices_of(g, "tanh") == ["/cpu:0"] and devices_of(g, "add") == ["/gpu:0"]


def test_log_device_placement(capsys):
    def f(x):
        with gc.device("/cpu:0"):
            y = x * 2.0
        return gc.exp(y)

    placed(f, X, log_device_placement=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["param: /cpu:0", "constant: /cpu:0", "multiply: /cpu:0",
                     "copy_to_device: /gpu:0", "exp: /gpu:0"]


def test_device_scopes_nest_and_none_clears():
    def f(x):
        with gc.device("/cpu:0"):
            a = x + 1
            with gc.device(None):
                b = a * 2
            with gc.device("/gpu:0"):
                c = b - 3
        return c

    g, _ = placed(f, X)
    assert devices_of(g, "add") == ["/cpu:0"] and devices_of(g, "multiply") == ["/gpu:0"]
    assert devices_of(g, "subtract") == ["/gpu:0"]


def test_devices_option_and_discovery():
    assert gc.available_devices()[0] == "/cpu:0"
    with fake_devices(["/cpu:0", "/gpu:0", "/gpu:1"]):
        assert gc.available_devices() == ["/cpu:0", "/gpu:0", "/gpu:1"]
    g, _ = placed(lambda x: x * 2, X, devices=["/cpu:0", "/gpu:0", "/gpu:1"])
    assert devices_of(g, "multiply") == ["/gpu:0"]
    f = gc.compile(lambda x: gc.exp(x), placement="auto", devices=["/cpu:0"])
    np.testing.assert_allclose(f(X), np.exp(X), rtol=1e-6)


# -- the copy op's gradient (identity: the backward graph is placed like any other) ------------------

from gradcheck import add_case, check_case  # noqa: E402
from graphc.tracing import bind  # noqa: E402

COPY_CASE = add_case("copy_to_device", lambda x: gc.tanh(bind("copy_to_device", [x], device="/cpu:0")) * 2,
                     np.random.default_rng(3).standard_normal((3, 4)))


def test_copy_to_device_gradient():
    check_case(COPY_CASE)
