"""Pass manager, basic passes, fusion decisions and memory planning."""
import os

import numpy as np

import graphc as gc
from graphc.passes import PassContext, PassManager, registered_passes


def _ops(graph):
    return [n.op for n in graph.nodes]


def test_every_pass_has_a_reason_and_the_verifier_runs_after_each():
    passes = registered_passes()
    for name in ("constant_fold", "cse", "dce", "simplify", "fusion", "no_fusion"):
        assert passes[name], name
    seen = []

    class Recorder:
        def before(self, name, g):
            seen.append(("before", name))

        def after(self, name, g):
            seen.append(("after", name))

    g = gc.trace(lambda x: x * 1.0 - 0.0, np.ones(3, np.float32))  # x + 0.0 is not x (-0.0)
    ctx = PassContext(instruments=[Recorder()])
    PassManager(["constant_fold", "simplify", "cse", "dce"], ctx).run(g)
    assert seen[:2] == [("before", "constant_fold"), ("after", "constant_fold")]
    assert _ops(g) == ["param"]


def test_dump_ir_env(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_DUMP_IR", str(tmp_path))
    gc.compile(lambda x: gc.exp(x) + 1)(np.ones(3, np.float32))
    files = sorted(os.listdir(tmp_path))
    assert any("input" in f for f in files) and any("fusion" in f for f in files)


def test_constant_folding_cse_dce():
    c = np.arange(3, dtype=np.float32)
    g = gc.trace(lambda x: (x + c * 2) + (x + c * 2) + gc.exp(x) * 0 * 0, np.ones(3, np.float32))
    PassManager(["constant_fold", "cse", "dce"]).run(g)
    ops = _ops(g)
    # CSE merges the two x + c*2 (4 adds -> 3); c*2 is folded; x*0 is not 0 (NaN/inf), so exp stays
    assert ops.count("add") == 3 and "exp" in ops and ops.count("constant") == 2


def test_simplify_rules():
    x = np.ones((2, 3), np.float32)
    g = gc.trace(lambda a: -(-(a.T.T * 1 - 0) / 1).reshape(3, 2).reshape(2, 3), x)
    PassManager(["constant_fold", "simplify", "cse", "dce"]).run(g)
    assert _ops(g) == ["param"]


def test_softmax_is_one_kernel_and_mlp_epilogues_fuse():
    x = np.ones((8, 16), np.float32)
    f = gc.compile(lambda a: gc.softmax(a, axis=-1))
    assert f.memory_plan(x)["kernels"] == 1
    assert gc.compile(lambda a: gc.softmax(a, axis=-1), fuse=False).memory_plan(x)["kernels"] == 5
    x = np.ones((64, 64), np.float32)  # large enough for the GEMM path
    w = np.ones((64, 32), np.float32)
    b = np.ones(32, np.float32)
    mlp = gc.compile(lambda a, w, b: gc.relu(a @ w + b))
    text = mlp.ir(x, w, b)
    assert mlp.memory_plan(x, w, b)["kernels"] == 1, text  # GEMM with bias+relu epilogue


def test_memory_planning_reuses_buffers():
    x = np.ones(1 << 14, np.float32)

    def chain(a):
        for _ in range(6):
            a = gc.exp(a) * 0.5
            a = a - gc.mean(a)
        return a

    plan = gc.compile(chain, fuse=False).memory_plan(x)
    assert plan["planned_peak_bytes"] < plan["naive_bytes"] / 3, plan
    np.testing.assert_allclose(gc.compile(chain, fuse=False)(x), gc.interpret(gc.trace(chain, x), x), rtol=1e-5)


def test_thread_count_does_not_change_results():
    from graphc.codegen.threadpool import get_num_threads, set_num_threads

    rng = np.random.default_rng(0)
    x = rng.standard_normal((512, 300)).astype(np.float32)
    w = rng.standard_normal((300, 200)).astype(np.float32)
    fn = lambda a, w: (gc.softmax(gc.tanh(a @ w), axis=1) * 3).sum(axis=0)
    old = get_num_threads()
    try:
        set_num_threads(1)
        one = gc.compile(fn)(x, w)
        set_num_threads(2)
        two = gc.compile(fn)(x, w)
    finally:
        set_num_threads(old)
    np.testing.assert_array_equal(one, two)


def test_epilogue_reading_a_later_matmul():
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal((64, 64)).astype(np.float32) for _ in range(3))
    f = gc.compile(lambda a, b, c: gc.relu((a @ b) + (a @ c)))
    np.testing.assert_allclose(f(a, b, c), np.maximum(a @ b + a @ c, 0), rtol=1e-4, atol=1e-3)


def test_compiled_code_is_cached_on_disk_and_shared_in_process(tmp_path):
    import subprocess
    import sys

    code = ("import numpy as np, graphc as gc\n"
            "f = gc.compile(lambda x: gc.tanh(x) * 3 + 1)\n"
            "print(f(np.ones(5, np.float32))[0])\n")
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path))
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    objects = os.listdir(tmp_path)
    assert any(o.endswith(".o") for o in objects)
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and second.stdout == first.stdout
    assert sorted(os.listdir(tmp_path)) == sorted(objects)  # nothing new compiled


def _step_kinds(f, *args):
    """(step name, where it stores) for every step of f's program."""
    prog = f._compile(args).program
    return [(s.name, s.epilogue.dest.kind if getattr(s, "epilogue", None) is not None else s.dest.kind)
            for s in prog.kernels]


def test_gemm_epilogue_updates_a_variable_in_place():
    """w <- w - lr * (x.T @ dy): the GEMM's epilogue writes w itself (no copy kernel),
    with the right values over several steps; the previous value is read before."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((96, 80)).astype(np.float32)
    dy = rng.standard_normal((96, 70)).astype(np.float32)
    w0 = rng.standard_normal((80, 70)).astype(np.float32)
    w = gc.Variable(w0.copy())

    def step(x, dy):
        out = (x @ w).sum()          # reads the old w first
        w.assign(w - 0.01 * (x.T @ dy))
        return out

    f = gc.compile(step)
    kinds = _step_kinds(f, x, dy)
    assert not any("assign" in name for name, _ in kinds), kinds
    assert any("gemm" in name and kind == "variable" for name, kind in kinds), kinds
    ref = w0.astype(np.float64)
    for _ in range(3):
        got = f(x, dy)
        np.testing.assert_allclose(got, (x @ ref).sum(), rtol=1e-4)
        ref = ref - 0.01 * (x.astype(np.float64).T @ dy)
        np.testing.assert_allclose(w.numpy(), ref, rtol=1e-4, atol=1e-5)


def test_gemm_reading_the_variable_it_updates_is_not_in_place():
    """w <- w - lr * (w.T @ w): the GEMM reads w while row blocks are written, so the new
    value goes through a separate buffer (values checked against numpy)."""
    rng = np.random.default_rng(4)
    w0 = rng.standard_normal((64, 64)).astype(np.float32)
    w = gc.Variable(w0.copy())

    def step(s):
        w.assign(w - 0.01 * (w.T @ w))
        return s * 2

    s = np.float32(1.0)
    f = gc.compile(step)
    kinds = _step_kinds(f, s)
    assert any("gemm" in name and kind == "workspace" for name, kind in kinds), kinds
    f(s)
    ref = w0.astype(np.float64)
    ref = ref - 0.01 * (ref.T @ ref)
    np.testing.assert_allclose(w.numpy(), ref, rtol=1e-4, atol=1e-4)


def test_cheap_producers_are_recomputed_in_each_consumer_kernel():
    """A max-pool's slices and maxima read by the forward max and the backward mask are
    recomputed in both kernels (fusion.DUPLICABLE_OPS), not stored; results equal the
    naive program's bit for bit, and an expensive producer (exp) is still stored once."""
    import numpy as np

    import graphc as gc

    x = np.random.default_rng(3).standard_normal((2, 6, 6, 3)).astype(np.float32)

    def loss(x):
        r = gc.relu(x)
        return (gc.nn.max_pool(r, 2, 2, "VALID") * 1.5).sum()

    fused, naive = gc.compile(gc.value_and_grad(loss)), gc.compile(gc.value_and_grad(loss), fuse=False)
    (lf, gf), (ln, gn) = fused(x), naive(x)
    # the loss is a float32 sum whose order follows each kernel's vectorization (the fused
    # and naive loop nests differ, and so do the lanes per ISA): equal up to a few roundings
    # of its 27 terms. The gradient (comparisons against recomputed maxima, copies) is exact.
    np.testing.assert_allclose(lf, ln, rtol=27 * 2.0 ** -24)
    np.testing.assert_array_equal(gf, gn)
    import json

    steps = [s["step"] for s in json.loads(fused.explain(x, format="json"))["steps"]]
    # relu stored once; the pool (slices, maxima) recomputed in the forward sum and the
    # backward mask kernels, none of them stored
    assert not [s for s in steps if s.endswith(("_slice", "_maximum"))] and len(steps) == 3, steps
    assert fused.memory_plan(x)["kernels"] < naive.memory_plan(x)["kernels"]

    f = gc.compile(lambda x: (gc.exp(x) + 1.0).sum() + (gc.exp(x) * 2.0).max())
    np.testing.assert_allclose(f(x), (np.exp(x) + 1).sum() + (np.exp(x) * 2).max(), rtol=1e-5)


def test_conv_bias_relu_become_the_gemm_epilogue():
    """conv2d is a GEMM whose rows are reshaped to NHWC before the bias and relu; the
    simplifier moves that reshape below them (simplify._sink_row_reshape), so they run
    as the GEMM's epilogue, and the output is the GEMM step's own buffer (no copy)."""
    import json

    import numpy as np

    import graphc as gc

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 8, 8, 2)).astype(np.float32)
    k = rng.standard_normal((3, 3, 2, 16)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)

    def fwd(x, k, b):
        return gc.relu(gc.nn.bias_add(gc.nn.conv2d(x, k, 1, "SAME"), b))

    fused, naive = gc.compile(fwd), gc.compile(fwd, fuse=False)
    np.testing.assert_array_equal(fused(x, k, b), naive(x, k, b))
    steps = [s["step"] for s in json.loads(fused.explain(x, k, b, format="json"))["steps"]]
    # one step: the GEMM builds its patch blocks itself (patches_matmul), then bias+relu
    assert len(steps) == 1 and steps[0].endswith("_gemm"), steps
    both = gc.compile(lambda x, k, b: (fwd(x, k, b), fwd(x, k, b) * 1.0))  # the same value twice
    o1, o2 = both(x, k, b)
    np.testing.assert_array_equal(o1, naive(x, k, b))
    np.testing.assert_array_equal(o2, naive(x, k, b))


def test_conv_weight_updates_stay_in_place():
    """Adam on conv kernels and biases: the gradient's reshape is not sunk into the
    update (a variable's new value keeps its layout), so no copy kernels appear."""
    import json

    import numpy as np

    import graphc as gc

    rng = np.random.default_rng(1)
    k = gc.Variable(rng.standard_normal((3, 3, 2, 8)).astype(np.float32) * 0.1)
    b = gc.Variable(np.zeros(8, np.float32))
    opt = gc.optim.Adam(1e-2)

    def step(x):
        y = gc.relu(gc.nn.bias_add(gc.nn.conv2d(x, k, 1, "SAME"), b))
        loss = gc.nn.max_pool(y, 2, 2, "VALID").mean()
        opt.minimize(loss)
        return loss

    f = gc.compile(step)
    x = rng.standard_normal((4, 8, 8, 2)).astype(np.float32)
    losses = [float(f(x)) for _ in range(5)]
    assert losses[-1] < losses[0]
    steps = [s["step"] for s in json.loads(f.explain(x, format="json"))["steps"]]
    assert not [s for s in steps if "_assign_" in s or "_copy" in s], steps
