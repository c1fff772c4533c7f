"""gc.scan: a native loop, checked against a Python loop and the interpreter; its
gradient (a reverse scan) against float64 finite differences (rtol 1e-6)."""
import numpy as np
import pytest

import graphc as gc
from gradcheck import add_case, check_case


def _rnn_loss(xs, w):
    c, ys = gc.scan(lambda c, x: (gc.tanh(c @ w + x), gc.sigmoid(c).sum()), gc.zeros((3,), "float64") + 0.1, xs)
    return ys * 2 + c.sum()


_R = np.random.default_rng(5)
SCAN_CASES = [
    add_case("scan", _rnn_loss, _R.standard_normal((4, 3)) * 0.5, _R.standard_normal((3, 3)) * 0.5, argnums=(0, 1)),
    add_case("tuple_get", lambda xs: gc.scan(lambda c, x: (c * x, c + x), gc.ones((2,), "float64"), xs)[1], _R.random((3, 2)) + 0.5),
]


@pytest.mark.parametrize("case", SCAN_CASES, ids=str)
def test_scan_gradcheck(case):
    check_case(case)


def python_scan(fn, c, xs, reverse=False):
    ys = []
    idx = range(len(xs) - 1, -1, -1) if reverse else range(len(xs))
    out = [None] * len(xs)
    for t in idx:
        c, y = fn(c, xs[t])
        out[t] = y
    return c, np.stack(out)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("fuse", [True, False])
def test_scan_matches_python_loop(reverse, fuse):
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((7, 5)).astype(np.float32)
    w = rng.standard_normal((5, 5)).astype(np.float32) * 0.3

    def step(c, x):
        h = gc.tanh(c @ w + x)
        return h, h.sum() * 2

    f = gc.compile(lambda xs: gc.scan(step, np.zeros(5, np.float32), xs, reverse=reverse), fuse=fuse)
    c, ys = f(xs)
    rc, rys = python_scan(lambda c, x: (np.tanh(c @ w + x), np.tanh(c @ w + x).sum() * 2), np.zeros(5, np.float32), xs, reverse)
    np.testing.assert_allclose(c, rc, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ys, rys, rtol=1e-5, atol=1e-5)
    ref = gc.interpret(gc.trace(lambda xs: gc.scan(step, np.zeros(5, np.float32), xs, reverse=reverse), xs), xs)
    np.testing.assert_allclose(ys, ref[1], rtol=1e-5, atol=1e-5)


def test_scan_pytrees_variables_and_integer_carry():
    v = gc.Variable(np.full(3, 0.5, np.float32), name="scan_v")
    xs = {"a": np.arange(12, dtype=np.float32).reshape(4, 3), "b": np.ones((4, 2), np.float32)}

    def step(c, x):
        total, count = c
        return (total + x["a"] * v, count + 1), {"s": x["b"].sum() + total.sum()}

    (total, count), ys = gc.compile(lambda xs: gc.scan(step, (np.zeros(3, np.float32), np.int64(0)), xs))(xs)
    np.testing.assert_allclose(total, xs["a"].sum(0) * 0.5)
    assert count == 4 and count.dtype == np.int64
    np.testing.assert_allclose(ys["s"], [2 + 0.5 * xs["a"][:t].sum() for t in range(4)], rtol=1e-6)


def test_scan_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((6, 4)) * 0.5
    w = rng.standard_normal((4, 4)) * 0.4
    c0 = rng.standard_normal(4) * 0.1

    def loss(xs, w, c0):
        c, ys = gc.scan(lambda c, x: (gc.tanh(c @ w + x), (c * c).sum()), c0, xs)
        return ys.sum() + (c * c).sum()

    def loss_np(xs, w, c0):
        c, s = c0, 0.0
        for x in xs:
            s += (c * c).sum()
            c = np.tanh(c @ w + x)
        return s + (c * c).sum()

    grads = gc.grad(loss, argnums=(0, 1, 2))(xs, w, c0)
    for k, arg in enumerate((xs, w, c0)):
        num = np.zeros_like(arg)
        for i in np.ndindex(arg.shape):
            d = np.zeros_like(arg)
            d[i] = 1e-6
            args_p = [xs, w, c0]
            args_m = [xs, w, c0]
            args_p[k] = arg + d
            args_m[k] = arg - d
            num[i] = (loss_np(*args_p) - loss_np(*args_m)) / 2e-6
        np.testing.assert_allclose(grads[k], num, rtol=1e-6, atol=1e-8)


def test_scan_body_cannot_assign_variables():
    v = gc.Variable(np.zeros(2, np.float32))

    def bad(xs):
        def step(c, x):
            v.assign(x)
            return c, x
        return gc.scan(step, np.zeros(2, np.float32), xs)

    with pytest.raises(gc.GraphcError, match="inside a scan body"):
        gc.compile(bad)(np.ones((3, 2), np.float32))


# -- the backward scan keeps forward values instead of recomputing them (issue 11) ----------

def _rnn_fn(xs, w, b, h0):
    """A batch RNN: h' = tanh(concat(x, h) @ w + b); loss mixes the final state and every output."""
    h, ys = gc.scan(lambda h, x: (gc.tanh(gc.concatenate([x, h], axis=1) @ w + b), gc.sigmoid(h).sum()), h0, xs)
    return (h * h).sum() + (ys * ys).sum()


def _rnn_np(xs, w, b, h0):
    h, s = h0, 0.0
    for x in xs:
        s += (1 / (1 + np.exp(-h))).sum() ** 2
        h = np.tanh(np.concatenate([x, h], axis=1) @ w + b)
    return (h * h).sum() + s


def _rnn_args():
    rng = np.random.default_rng(3)
    return (rng.standard_normal((5, 3, 2)) * 0.5, rng.standard_normal((6, 4)) * 0.4,
            rng.standard_normal(4) * 0.1, rng.standard_normal((3, 4)) * 0.2)


def _fd_check(grads, args, ref, argnums):
    for k in argnums:
        num = np.zeros_like(args[k])
        for i in np.ndindex(args[k].shape):
            plus, minus = list(args), list(args)
            d = np.zeros_like(args[k])
            d[i] = 1e-6
            plus[k], minus[k] = args[k] + d, args[k] - d
            num[i] = (ref(*plus) - ref(*minus)) / 2e-6
        np.testing.assert_allclose(grads[k], num, rtol=1e-6, atol=1e-8)


def _matmuls_per_scan(graph):
    """(forward body matmuls, backward body matmuls, matmuls outside any loop)."""
    scans = [n for n in graph.nodes if n.op == "scan"]
    fwd = [n for n in scans if not n.attrs["reverse"]]
    bwd = [n for n in scans if n.attrs["reverse"]]
    count = lambda g: sum(n.op == "matmul" for n in g.nodes)  # noqa: E731
    return count(fwd[0].attrs["body"]), count(bwd[0].attrs["body"]), count(graph)


def test_scan_gradient_stashes_forward_values_and_hoists_weight_gradient():
    args = _rnn_args()
    grad_fn = gc.grad(_rnn_fn, argnums=(0, 1, 2, 3))
    _fd_check(grad_fn(*args), args, _rnn_np, (0, 1, 2, 3))
    graph = gc.trace(grad_fn, *args)
    fwd_mm, bwd_mm, outer_mm = _matmuls_per_scan(graph)
    fwd_scan = next(n for n in graph.nodes if n.op == "scan" and not n.attrs["reverse"])
    assert fwd_scan.attrs.get("n_res", 0) >= 1        # tanh's output is kept, not recomputed
    assert (fwd_mm, bwd_mm, outer_mm) == (1, 1, 1)    # backward: dh = dz @ w.T only; dw = one GEMM after


def test_scan_gradient_recomputes_when_the_stash_does_not_fit(monkeypatch):
    from graphc.ops import control

    monkeypatch.setattr(control, "_stash_budget_bytes", lambda: 0)
    args = _rnn_args()
    grad_fn = gc.grad(_rnn_fn, argnums=(0, 1, 2, 3))
    _fd_check(grad_fn(*args), args, _rnn_np, (0, 1, 2, 3))
    graph = gc.trace(grad_fn, *args)
    assert _matmuls_per_scan(graph) == (1, 3, 0)      # recompute z, dh and dw inside the loop


def test_scan_second_order_gradient():
    """grad of a function of the gradient: the stacked input carries get a gradient too."""
    rng = np.random.default_rng(1)
    xs, w = rng.standard_normal((5, 2, 3)) * 0.5, rng.standard_normal((3, 3)) * 0.4

    def loss(w, xs):
        c, ys = gc.scan(lambda c, x: (gc.tanh(c @ w + x), gc.sigmoid(c @ w).sum()), gc.zeros((2, 3), "float64") + 0.1, xs)
        return ys.sum() + (c * c).sum()

    def grad_norm(w, xs):
        return (gc.grad(loss)(w, xs) ** 2).sum()

    f = gc.compile(grad_norm)
    g2 = gc.grad(grad_norm)(w, xs)
    _fd_check([g2], [w, xs], lambda w, xs: float(f(w, xs)), (0,))


@pytest.mark.parametrize("length", [0, 1, 2, 3])
def test_scan_lengths_and_unused_outputs(length):
    """Carries ping-pong between two buffers (odd and even lengths end in different ones);
    with only the final carry used, the ys are not computed."""
    x = np.random.default_rng(length).standard_normal((length, 3)).astype(np.float32)
    step = lambda c, xt: (c * 0.5 + xt, gc.exp(c).sum())  # noqa: E731
    c, ys = gc.compile(lambda x: gc.scan(step, np.ones(3, np.float32), x))(x)
    only_c = gc.compile(lambda x: gc.scan(step, np.ones(3, np.float32), x)[0])(x)
    ref, ref_ys = np.ones(3, np.float32), []
    for t in range(length):
        ref_ys.append(np.exp(ref).sum())
        ref = ref * 0.5 + x[t]
    np.testing.assert_allclose(c, ref, rtol=1e-6)
    np.testing.assert_allclose(only_c, ref, rtol=1e-6)
    np.testing.assert_allclose(ys, np.array(ref_ys, np.float32).reshape(ys.shape), rtol=1e-5)


# -- loop-invariant weights are packed once per loop (issue 11) ------------------------------

def _jit_packed_gemm(dtype):
    """The GEMM reading a pre-packed B and its packer, JIT-compiled alone (ctypes)."""
    import ctypes

    import llvmlite.binding as llvm
    from llvmlite import ir

    from graphc.codegen.gemm import _target_machine_for, emit_gemm_with_packed_b
    from graphc.codegen.cpu import current_model

    tm = _target_machine_for(current_model())
    mod = ir.Module("packed_gemm_test")
    mod.triple = llvm.get_process_triple()
    emit_gemm_with_packed_b(mod, "g", dtype)
    llmod = llvm.parse_assembly(str(mod))
    llmod.verify()
    engine = llvm.create_mcjit_compiler(llmod, tm)
    engine.finalize_object()
    i64, vp = ctypes.c_int64, ctypes.c_void_p
    gemm = ctypes.CFUNCTYPE(None, *[i64] * 3, vp, i64, i64, vp, i64, i64, vp, *[i64] * 4, vp)(
        engine.get_function_address("g_bpacked"))
    pack = ctypes.CFUNCTYPE(None, i64, i64, vp, i64, i64, vp)(engine.get_function_address("g_pack_b"))
    gemm.engine = engine
    return gemm, pack


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_with_b_packed_once(dtype):
    """Edge tiles, K = 0, several K blocks (K > KC) and column panels (N > NC), transposed
    B; one packed B serves two row ranges."""
    from graphc.codegen.gemm import gemm_pack_buffer_elems, packed_b_elems

    from graphc.codegen.gemm import gemm_config

    gemm, pack = _jit_packed_gemm(dtype)
    rng = np.random.default_rng(7)
    nc = gemm_config(dtype).NC  # N > NC: several column panels
    for M, N, K, trans in [(13, 37, 5, False), (50, 600, 178, False), (50, 178, 600, True), (3, 1, 1100, False),
                           (7, 9, 0, True), (1, 70, 33, True), (3, nc + 37, 9, True)]:
        a = rng.standard_normal((M, K)).astype(dtype)
        bm = rng.standard_normal((K, N)).astype(dtype)
        b_store = np.ascontiguousarray(bm.T) if trans else bm
        b_rs, b_cs = (1, K) if trans else (N, 1)
        packed = np.full(packed_b_elems(dtype, K, N) + 64, np.nan, dtype)
        start = (-packed.ctypes.data % 64) // packed.itemsize  # 64-byte aligned
        pptr = packed.ctypes.data + start * packed.itemsize
        pack(K, N, b_store.ctypes.data, b_rs, b_cs, pptr)
        scratch = np.zeros(gemm_pack_buffer_elems(dtype) + 64, dtype)
        c = np.full((M, N), np.nan, dtype)
        for m0, m1 in [(0, M // 2), (M // 2, M)]:  # two row ranges, as two threads would
            gemm(M, N, K, a.ctypes.data, K, 1, pptr, 0, 0, c.ctypes.data, N, 0, m0, m1, scratch.ctypes.data)
        tol = 1e-4 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(c, a.astype(np.float64) @ bm, rtol=tol, atol=tol * max(K, 1))


def test_scan_packs_loop_invariant_weights_once(monkeypatch):
    """A GEMM-sized RNN whose weight is read pre-packed in the forward (B = w) and the
    backward (B = w.T) loop: results and gradients match the numpy interpreter."""
    from graphc.codegen import control_lowering

    packs = []
    plan = control_lowering.plan_scan
    monkeypatch.setattr(control_lowering, "plan_scan", lambda node, lowering: packs.append(plan(node, lowering)) or packs[-1])
    rng = np.random.default_rng(4)
    xs = rng.standard_normal((3, 8, 100)).astype(np.float32)
    w = (rng.standard_normal((1100, 1000)) * 0.03).astype(np.float32)
    h0 = (rng.standard_normal((8, 1000)) * 0.1).astype(np.float32)

    def loss(w, xs, h0):
        h, _ = gc.scan(lambda h, x: (gc.tanh(gc.concatenate([x, h], axis=1) @ w), None), h0, xs)
        return (h * h).sum()

    g = gc.grad(loss, argnums=(0, 1, 2))
    got = g(w, xs, h0)
    assert sorted(p["trans"] for plan_ in packs for p in plan_["packs"]) == [False, True]
    want = gc.interpret(gc.trace(g, w, xs, h0), w, xs, h0)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)
