"""gc.cond and gc.while_loop (issue 17): real control flow in graphc core.

cond runs only the taken branch (checked through side effects: an assign in the
untaken branch must not happen), while_loop runs a number of iterations decided by the
data. Both are checked against numpy and the interpreter (gc.interpret, the op's numpy
reference), their gradients against float64 finite differences (tests/gradcheck.py,
rtol 1e-6), and their misuse errors name the problem.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import graphc as gc
from gradcheck import add_case, check_case, exempt

# while_grad is the gradient of an unbounded while_loop (checked against finite
# differences below); its own gradient, a second derivative, raises TraceError asking
# for max_iterations (test_while_loop_second_gradient_without_max_iterations_says_so).
exempt("while_grad", "the gradient of an unbounded while_loop: its own gradient (a second derivative) "
                     "is refused with a TraceError asking for max_iterations, tested here")


def _cond_fn(x, y):
    return gc.cond(x.sum() > 0, lambda: gc.tanh(x * y) + y, lambda: x * x - y)


def _while_fn(x, w):
    """tanh(v * w) applied until |v| sums below 1.5 (data-dependent count, at most 6)."""
    _, v = gc.while_loop(lambda c: (c[0] < 6) & (gc.abs(c[1]).sum() > 1.5),
                         lambda c: (c[0] + 1, gc.tanh(c[1] * w) * 0.9), (np.int32(0), x), max_iterations=6)
    return v


def _while_unbounded_fn(x, w):
    """The same loop without max_iterations: its gradient recomputes the iterations."""
    _, v = gc.while_loop(lambda c: (c[0] < 6) & (gc.abs(c[1]).sum() > 1.5),
                         lambda c: (c[0] + 1, gc.tanh(c[1] * w) * 0.9), (np.int32(0), x))
    return v


_R = np.random.default_rng(17)
_X = _R.standard_normal(4) + 0.5
_Y = _R.standard_normal(4)
CONTROL_CASES = [
    add_case("cond", _cond_fn, np.abs(_X), _Y, argnums=(0, 1), label="true"),
    add_case("cond", _cond_fn, -np.abs(_X), _Y, argnums=(0, 1), label="false"),
    add_case("while_loop", _while_fn, np.array([1.5, -2.0, 0.7]), np.array(1.3), argnums=(0, 1)),
    add_case("while_loop", _while_unbounded_fn, np.array([1.5, -2.0, 0.7]), np.array(1.3), argnums=(0, 1),
             label="unbounded"),
]


@pytest.mark.parametrize("case", CONTROL_CASES, ids=str)
def test_control_flow_gradcheck(case):
    check_case(case)


# -- cond -------------------------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=2, max_side=5), pred=st.booleans(), data=st.data())
def test_cond_matches_numpy_and_interpreter(shape, pred, data):
    x = data.draw(hnp.arrays(np.float32, shape, elements=st.floats(-3, 3, width=32)))
    y = data.draw(hnp.arrays(np.float32, shape, elements=st.floats(-3, 3, width=32)))

    def f(p, x, y):
        return gc.cond(p, lambda: (gc.exp(x) * y, x + 1), lambda: (y - x, x * 2))

    got = gc.compile(f)(np.bool_(pred), x, y)
    want = (np.exp(x) * y, x + 1) if pred else (y - x, x * 2)
    ref = gc.interpret(gc.trace(f, np.bool_(pred), x, y), np.bool_(pred), x, y)
    for g, w, r in zip(got, want, ref):
        np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-6)   # exp: graphc's float32 exp is < 1 ulp
        np.testing.assert_allclose(r, w, rtol=2e-6, atol=1e-6)


def test_cond_runs_only_the_taken_branch():
    """An assign in the untaken branch does not happen; the taken one does (tf.cond)."""
    total = gc.Variable(np.zeros(3, np.float32))
    misses = gc.Variable(np.int32(0))

    @gc.compile
    def step(p, x):
        def taken():
            total.assign(total + x)
            return total.sum() * 1.0

        def not_taken():
            misses.assign_add(np.int32(1))
            return x.sum()
        return gc.cond(p, taken, not_taken)

    x = np.ones(3, np.float32)
    assert step(np.bool_(True), x) == 3.0 and misses.numpy() == 0
    assert step(np.bool_(False), x) == 3.0 and misses.numpy() == 1
    np.testing.assert_array_equal(total.numpy(), [1, 1, 1])
    assert step(np.bool_(True), x) == 6.0 and misses.numpy() == 1
    np.testing.assert_array_equal(total.numpy(), [2, 2, 2])


def test_cond_untaken_branch_costs_nothing():
    """The untaken branch holds a loop of 10**12 iterations: evaluating it would hang."""
    @gc.compile
    def f(p, x):
        def forever():
            return gc.while_loop(lambda c: c[0] < 10 ** 12, lambda c: (c[0] + 1, c[1] * 1.0000001),
                                 (np.int64(0), x))[1]
        return gc.cond(p, lambda: x + 1, forever)

    np.testing.assert_array_equal(f(np.bool_(True), np.ones(2, np.float32)), [2, 2])


def test_cond_gradient_trains_a_variable_through_either_branch():
    w = gc.Variable(np.ones(3, np.float32))
    opt = gc.optim.GradientDescent(0.1)

    @gc.compile
    def train(p, x):
        loss = gc.cond(p, lambda: ((x * w) ** 2).sum(), lambda: (x + w).sum())
        opt.minimize(loss)
        return loss

    x = np.ones(3, np.float32)
    train(np.bool_(True), x)       # d/dw sum((x w)^2) = 2 x^2 w = 2
    np.testing.assert_allclose(w.numpy(), 0.8, rtol=1e-6)
    train(np.bool_(False), x)      # d/dw sum(x + w) = 1
    np.testing.assert_allclose(w.numpy(), 0.7, rtol=1e-6)


def test_cond_static_predicate_and_eager():
    assert gc.cond(True, lambda: 1, lambda: 2) == 1
    np.testing.assert_array_equal(gc.cond(np.bool_(False), lambda a: a + 1, lambda a: a - 1, np.ones(2)), [0, 0])

    @gc.compile
    def f(x):
        return gc.cond(False, lambda: x, lambda: -x)      # a Python bool picks at trace time
    assert f(np.float32(2)) == -2
    assert "cond" not in f.ir(np.float32(2))


def test_cond_python_scalar_result_takes_the_other_branch_dtype():
    @gc.compile
    def f(p, x):
        return gc.cond(p, lambda: x.sum(), lambda: 0.0)
    out = f(np.bool_(False), np.ones(3, np.float32))
    assert out.dtype == np.float32 and out == 0


def test_cond_errors_name_the_problem():
    x = np.ones(3, np.float32)
    with pytest.raises(gc.ShapeError, match="bool scalar"):
        gc.compile(lambda x: gc.cond(x, lambda: x, lambda: x))(x)
    with pytest.raises(gc.ShapeError, match="different types"):
        gc.compile(lambda p, x: gc.cond(p, lambda: x, lambda: x[:2]))(np.bool_(True), x)
    with pytest.raises(gc.GraphcError, match="different structures"):
        gc.compile(lambda p, x: gc.cond(p, lambda: (x, x), lambda: x))(np.bool_(True), x)


def test_cond_inside_scan():
    @gc.compile
    def f(xs):
        return gc.scan(lambda c, x: (gc.cond(x > 0, lambda: c + x, lambda: c * 0.5), c), np.float32(1), xs)[0]

    xs = np.array([1, -1, 2, -3, 4], np.float32)
    c = np.float32(1)
    for x in xs:
        c = c + x if x > 0 else c * 0.5
    assert f(xs) == pytest.approx(c)


# -- while_loop ---------------------------------------------------------------------------------------------


def _doublings(x, limit):
    n = 0
    while x.sum() < limit:
        x, n = x * 2, n + 1
    return x, n


@settings(max_examples=15, deadline=None)
@given(limit=st.floats(0, 1e4), n=st.integers(1, 6))
def test_while_loop_data_dependent_count(limit, n):
    x = np.full(n, 0.5, np.float32)

    def f(x, limit):
        return gc.while_loop(lambda c: c[0].sum() < limit, lambda c: (c[0] * 2, c[1] + 1), (x, np.int32(0)))

    got_x, got_n = gc.compile(f)(x, np.float32(limit))
    want_x, want_n = _doublings(x, np.float32(limit))
    assert got_n == want_n
    np.testing.assert_array_equal(got_x, want_x)
    ref_x, ref_n = gc.interpret(gc.trace(f, x, np.float32(limit)), x, np.float32(limit))
    assert ref_n == want_n
    np.testing.assert_array_equal(ref_x, want_x)


def test_while_loop_count_and_max_iterations():
    @gc.compile
    def f(n, cap):
        i, = gc.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1,), (np.int64(0),), max_iterations=cap)
        return i
    assert f(np.int64(5), 10) == 5
    assert f(np.int64(50), 10) == 10          # TF's maximum_iterations ends the loop
    assert f(np.int64(0), 10) == 0
    assert f(np.int64(7), 0) == 0


def test_while_loop_captures_outer_values_and_variables():
    scale = gc.Variable(np.float32(3.0))

    @gc.compile
    def f(x, limit):
        return gc.while_loop(lambda v: v.max() < limit, lambda v: v * scale + 1, x)

    x = np.array([0.5, 1.0], np.float32)
    v = x.copy()
    while v.max() < 100:
        v = v * 3 + 1
    np.testing.assert_allclose(f(x, np.float32(100)), v, rtol=1e-6)


def test_while_loop_eager():
    out = gc.while_loop(lambda v: v < 10, lambda v: v + 3, np.int32(1))
    assert out == 10


@pytest.mark.parametrize("n", [0, 1, 4, 9])
def test_while_loop_gradient_for_each_count(n):
    """d/dx and d/dw of sum(v_n), v_{k+1} = tanh(v_k * w) + v_k, n = the fed count (< max)."""
    def loss(x, w, n):
        _, v = gc.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, gc.tanh(c[1] * w) + c[1]),
                             (np.int32(0), x), max_iterations=12)
        return v.sum()

    def step(v, w):
        return np.tanh(v * w) + v

    def ref(x, w):
        v = x
        for _ in range(n):
            v = step(v, w)
        return v.sum()

    x = np.array([0.3, -0.8, 1.1])
    w = np.float64(0.6)
    gx, gw = gc.compile(gc.grad(loss, argnums=(0, 1)))(x, w, np.int32(n))
    eps = 1e-6
    fdx = np.array([(ref(x + eps * e, w) - ref(x - eps * e, w)) / (2 * eps) for e in np.eye(3)])
    fdw = (ref(x, w + eps) - ref(x, w - eps)) / (2 * eps)
    np.testing.assert_allclose(gx, fdx, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gw, fdw, rtol=1e-6, atol=1e-8)


def test_while_loop_gradient_at_the_iteration_bound():
    """max_iterations=0 never iterates (gradient 1); =2 stops after two doublings (4)."""
    def loss(cap):
        return lambda x: gc.while_loop(lambda v: v.sum() < 10, lambda v: v * 2, x, max_iterations=cap).sum()
    np.testing.assert_array_equal(gc.compile(gc.grad(loss(0)))(np.ones(2)), [1, 1])
    np.testing.assert_array_equal(gc.compile(gc.grad(loss(2)))(np.ones(2)), [4, 4])


# -- gradient without max_iterations (while_grad: checkpoints every 128 iterations) -------------------------


def _decay_ref(x, w, threshold):
    """numpy reference of x = x * 0.9 + w * 0.01 until sum(x) <= threshold; (x, count)."""
    n = 0
    while x.sum() > threshold:
        x, n = x * 0.9 + w * 0.01, n + 1
    return x, n


def _decay(x, w, threshold):
    return gc.while_loop(lambda c: c[0].sum() > threshold, lambda c: (c[0] * 0.9 + w * 0.01, c[1] + 1),
                         (x, np.int64(0)))


@pytest.mark.parametrize("scale", [0.5, 3.0, 1e3, 1e15])
def test_while_loop_gradient_without_max_iterations_data_dependent(scale):
    """d sum(x_N^2) / d(x_0, w) for a loop whose count N depends on x_0: 0, 11, 109
    and 395 iterations here (past 3 checkpoint segments). Against float64 central
    differences of the numpy recurrence at the same N (N is locally constant: the
    perturbed runs are checked to have the same count); rtol 1e-6. The interpreter
    (the op's numpy reference, which keeps every state) must agree with the native code
    to rtol 1e-12."""
    x0 = np.array([0.5, 0.3, 0.2]) * scale
    w = np.float64(0.2)

    def loss(x, w):
        v, _ = _decay(x, w, 1.0)
        return (v * v).sum()

    def ref(x, w):
        v, _ = _decay_ref(x, w, 1.0)
        return (v * v).sum()

    n = _decay_ref(x0, w, 1.0)[1]
    gx, gw = gc.compile(gc.grad(loss, argnums=(0, 1)))(x0, w)
    assert gc.compile(_decay)(x0, w, 1.0)[1] == n
    eps = 1e-7 * max(1.0, scale)
    for e in np.eye(3):
        assert _decay_ref(x0 + eps * e, w, 1.0)[1] == _decay_ref(x0 - eps * e, w, 1.0)[1] == n
    fdx = np.array([(ref(x0 + eps * e, w) - ref(x0 - eps * e, w)) / (2 * eps) for e in np.eye(3)])
    fdw = (ref(x0, w + 1e-6) - ref(x0, w - 1e-6)) / 2e-6
    np.testing.assert_allclose(gx, fdx, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(gw, fdw, rtol=1e-6)
    graph = gc.trace(gc.grad(loss, argnums=(0, 1)), x0, w)
    assert any(nd.op == "while_grad" for nd in graph.nodes)
    ix, iw = gc.interpret(graph, x0, w)
    np.testing.assert_allclose(gx, ix, rtol=1e-12)
    np.testing.assert_allclose(gw, iw, rtol=1e-12)


@pytest.mark.parametrize("n", [0, 1, 2, 127, 128, 129, 256, 300])
def test_while_loop_gradient_without_max_iterations_each_segment_boundary(n):
    """A fed count n around the 128-iteration checkpoint segments: the unbounded
    gradient equals the bounded one (max_iterations=n, the stack-based rule checked
    against finite differences above) to rtol 1e-12, for the carry and two captures."""
    def loss(bound):
        def f(x, w, b, n):
            _, v = gc.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, gc.tanh(c[1] * w) * 0.99 + b),
                                 (np.int32(0), x), max_iterations=bound)
            return (v * v).sum()
        return f

    x, w, b = np.array([0.4, -1.2]), np.float64(1.1), np.array([0.05, -0.02])
    args = (x, w, b, np.int32(n))
    got = gc.compile(gc.grad(loss(None), argnums=(0, 1, 2)))(*args)
    want = gc.compile(gc.grad(loss(max(n, 1)), argnums=(0, 1, 2)))(*args)
    for g, h in zip(got, want):
        np.testing.assert_allclose(g, h, rtol=1e-12, atol=1e-15)


def test_while_loop_gradient_of_newton_iterations():
    """Newton's sqrt: x <- (x + a / x) / 2 until |x^2 - a| <= tol * a (1e-10 in float64,
    1e-5 in float32). The count depends on a (5-9 here), and d x_N / d a through the
    iterations approaches 1 / (2 sqrt(a)); checked against finite differences of the
    recurrence (rtol 1e-6), and float32 runs close to float64 (rtol 1e-4)."""
    def newton(a, tol):
        return gc.while_loop(lambda x: gc.abs(x * x - a) > tol * a, lambda x: (x + a / x) * 0.5, a)

    def ref(a):
        x = a
        while abs(x * x - a) > 1e-10 * a:
            x = (x + a / x) * 0.5
        return x

    for a in (2.0, 50.0, 1e4):
        g = gc.compile(gc.grad(lambda a: newton(a, 1e-10)))(np.float64(a))
        eps = 1e-7 * a
        fd = (ref(a + eps) - ref(a - eps)) / (2 * eps)
        np.testing.assert_allclose(g, fd, rtol=1e-6)
        np.testing.assert_allclose(g, 0.5 / np.sqrt(a), rtol=1e-6)
        g32 = gc.compile(gc.grad(lambda a: newton(a, np.float32(1e-5))))(np.float32(a))
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g, rtol=1e-4)


def test_while_loop_gradient_without_max_iterations_long_loop():
    """300,000 iterations (2,344 checkpoints): d sum(x_N) / d x_0 = 0.9999999^N, rtol 1e-9."""
    def loss(x):
        v, _ = gc.while_loop(lambda c: c[1] < 300_000, lambda c: (c[0] * 0.9999999 + 1e-8, c[1] + 1),
                             (x, np.int64(0)))
        return v.sum()
    np.testing.assert_allclose(gc.compile(gc.grad(loss))(np.ones(2)), 0.9999999 ** 300_000, rtol=1e-9)


def test_while_loop_gradient_without_max_iterations_nested_in_scan_and_while():
    """An unbounded loop (u <- u * w until sum|u| <= 0.5) inside a scan body and inside
    an unbounded while body: the while_grad nodes then run inside the backward scan's
    body and inside the outer while_grad's reverse-mode program. Against central
    differences (atol 1e-8)."""
    def inner(v, w):
        return gc.while_loop(lambda u: gc.abs(u).sum() > 0.5, lambda u: u * w, v)

    def ref_inner(v, w):
        while np.abs(v).sum() > 0.5:
            v = v * w
        return v

    def f_scan(x, w):
        c, _ = gc.scan(lambda c, xt: (inner(c + xt, w), ()), x[0], x)
        return (c * c).sum()

    def r_scan(x, w):
        c = x[0]
        for xt in x:
            c = ref_inner(c + xt, w)
        return (c * c).sum()

    def f_while(x, w):
        v, _ = gc.while_loop(lambda c: c[1] < 3, lambda c: (inner(c[0] * 3.0 + 1.0, w), c[1] + 1),
                             (x, np.int32(0)))
        return (v * v).sum()

    def r_while(x, w):
        for _ in range(3):
            x = ref_inner(x * 3.0 + 1.0, w)
        return (x * x).sum()

    x, w, eps = np.array([[0.3, 0.9], [1.2, -0.4], [0.5, 0.5]]), np.float64(0.8), 1e-6
    for f, r, a in ((f_scan, r_scan, x), (f_while, r_while, x[1])):
        ga, gw = gc.compile(gc.grad(f, argnums=(0, 1)))(a, w)
        fd = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            e = np.zeros_like(a)
            e[idx] = eps
            fd[idx] = (r(a + e, w) - r(a - e, w)) / (2 * eps)
        np.testing.assert_allclose(ga, fd, atol=1e-8)
        np.testing.assert_allclose(gw, (r(a, w + eps) - r(a, w - eps)) / (2 * eps), atol=1e-8)


def test_while_loop_second_gradient_without_max_iterations_says_so():
    def loss(x):
        return gc.while_loop(lambda v: v.sum() < 10, lambda v: v * v + 1, x).sum()
    with pytest.raises(gc.TraceError, match="second derivative of a while_loop without max_iterations"):
        gc.compile(gc.grad(lambda x: gc.grad(loss)(x).sum()))(np.ones(2))


def test_while_loop_second_derivative_with_max_iterations():
    """v <- v^2 + 1 while sum(v) < 10 (3 iterations from [1, 0.5]): f = ((x^2+1)^2+1)^2+1
    per element, f'' = 8 h1 h2 + 16 x^2 h2 + 32 x^2 h1^2 (h1 = x^2+1, h2 = h1^2+1). The
    second derivative flows through the stacked vars the first one reads (it was
    dropped: 0 instead of 16 at x = 1)."""
    def loss(x):
        return gc.while_loop(lambda v: v.sum() < 10, lambda v: v * v + 1, x, max_iterations=5).sum()

    x = np.array([1.0, 0.5])
    h1 = x * x + 1
    h2 = h1 * h1 + 1
    want = 8 * h1 * h2 + 16 * x * x * h2 + 32 * x * x * h1 * h1
    np.testing.assert_allclose(gc.compile(gc.grad(lambda x: gc.grad(loss)(x).sum()))(x), want, rtol=1e-12)


def test_long_loops_do_not_grow_the_stack():
    """Two million iterations of while_loop and of scan (the call argument arrays of the
    nested programs were allocas inside the loop: one million iterations overflowed
    an 8 MiB stack)."""
    f = gc.compile(lambda x: gc.while_loop(lambda c: c[1] < 2_000_000, lambda c: (c[0] + 1.0, c[1] + 1),
                                           (x, np.int64(0))))
    v, n = f(np.zeros(2))
    assert n == 2_000_000 and v.tolist() == [2e6, 2e6]
    s = gc.compile(lambda x: gc.scan(lambda c, _: (c + 1.0, ()), x, (), length=2_000_000)[0])
    assert s(np.zeros(2)).tolist() == [2e6, 2e6]


# -- Variables assigned in the body (TF 1.x: each iteration's assign runs) -------------------------------


def test_while_loop_body_assigns_variables_each_iteration():
    """A Variable assigned in the body is a loop variable: each iteration sees the
    previous one's value (in the body and in the cond), and the final value is stored
    when the call ends; compiled, eager, and through the interpreter."""
    count = gc.Variable(np.int64(0), trainable=False)
    total = gc.Variable(np.zeros(2))

    def f(x):
        def body(v):
            count.assign_add(np.int64(1))
            total.assign(total.value() + v)          # reads this iteration's value
            return v * 2.0
        return gc.while_loop(lambda v: count.value() < 4, body, x)

    out = gc.compile(f)(np.array([1.0, 3.0]))
    np.testing.assert_array_equal(out, [16.0, 48.0])
    assert count.numpy() == 4
    np.testing.assert_array_equal(total.numpy(), [15.0, 45.0])    # 1+2+4+8, 3+6+12+24
    out = gc.compile(f)(np.array([1.0, 3.0]))                       # cond false at once: nothing runs
    np.testing.assert_array_equal(out, [1.0, 3.0])
    assert count.numpy() == 4
    count.assign(np.int64(2))
    out = gc.while_loop(lambda v: count.value() < 4, lambda v: (count.assign_add(np.int64(1)), v + 1.0)[1],
                        np.zeros(1))
    assert out.tolist() == [2.0] and count.numpy() == 4
    graph = gc.trace(f, np.array([1.0, 3.0]))
    count.assign(np.int64(1))
    ref = gc.interpret(graph, np.array([1.0, 3.0]))
    np.testing.assert_array_equal(ref, [8.0, 24.0])


def test_while_loop_body_assign_with_gradient():
    """Training through a loop whose body also counts its iterations in a Variable: the
    gradient (without max_iterations) is unchanged by the assign, and the counter adds
    the iteration count (3) per call."""
    calls = gc.Variable(np.int64(0), trainable=False)

    def loss(x, w):
        def body(c):
            calls.assign_add(np.int64(1))
            return c[0] + 1, gc.tanh(c[1] * w)
        return gc.while_loop(lambda c: c[0] < 3, body, (np.int32(0), x))[1].sum()

    x, w = np.array([0.5, -1.0]), np.float64(0.7)
    gx = gc.compile(gc.grad(loss))(x, w)
    ref = lambda x: np.tanh(np.tanh(np.tanh(x * w) * w) * w).sum()  # noqa: E731
    fd = [(ref(x + 1e-6 * e) - ref(x - 1e-6 * e)) / 2e-6 for e in np.eye(2)]
    np.testing.assert_allclose(gx, fd, rtol=1e-6)
    assert calls.numpy() == 3


def test_while_loop_cond_may_not_assign():
    v = gc.Variable(np.float32(0))
    with pytest.raises(gc.TraceError, match="cond assigns variable"):
        gc.compile(lambda x: gc.while_loop(lambda c: (v.assign(c), c < 3)[1], lambda c: c + 1, x))(np.float32(0))


def test_while_loop_errors_name_the_problem():
    with pytest.raises(gc.ShapeError, match="loop variable 0"):
        gc.compile(lambda x: gc.while_loop(lambda v: v.sum() < 1, lambda v: v.astype(np.float64), x))(
            np.ones(2, np.float32))
    with pytest.raises(gc.ShapeError, match="bool scalar"):
        gc.compile(lambda x: gc.while_loop(lambda v: v < 1, lambda v: v + 1, x))(np.ones(2, np.float32))
    with pytest.raises(gc.GraphcError, match="structure"):
        gc.compile(lambda x: gc.while_loop(lambda v: v[0].sum() < 1, lambda v: v[0], (x, x)))(np.ones(2))


def test_control_flow_ops_stay_on_the_cpu():
    """No GPU kernel: the placer keeps cond and while_loop on the CPU (as scan)."""
    from graphc.passes.placement import has_kernel

    graph = gc.trace(lambda p, x: gc.cond(p, lambda: gc.while_loop(lambda v: v.sum() < 9, lambda v: v + 1, x),
                                          lambda: x), np.bool_(True), np.ones(2, np.float32))
    nodes = [n for n in graph.nodes if n.op == "cond"]
    assert nodes and not has_kernel(nodes[0], "gpu") and has_kernel(nodes[0], "cpu")
    inner = [n for n in nodes[0].attrs["true_body"].nodes if n.op == "while_loop"]
    assert inner and not has_kernel(inner[0], "gpu")


def test_random_ops_in_a_cond_branch_draw_fresh_numbers_per_call():
    """A branch runs at most once per call, so it may draw (dropout inside tf.cond);
    the numbers change from call to call and the untaken branch draws nothing."""
    @gc.compile
    def f(p, x):
        return gc.cond(p, lambda: gc.nn.dropout(x, rate=0.5, training=True), lambda: x * 2)

    x = np.ones(4000, np.float32)
    a, b = f(np.bool_(True), x), f(np.bool_(True), x)
    for d in (a, b):
        assert set(np.unique(d)) <= {0.0, 2.0} and 0.45 < (d == 0).mean() < 0.55
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(f(np.bool_(False), x), x * 2)


def test_random_ops_in_a_while_loop_body_are_refused():
    with pytest.raises(gc.TraceError, match="while_loop"):
        gc.compile(lambda x: gc.while_loop(lambda v: v.sum() < 3, lambda v: v + gc.random.uniform((2,)), x))(
            np.zeros(2, np.float32))


def test_gradient_of_a_scan_whose_body_branches():
    """Reverse scan through a cond in the body (RNN step with a data-dependent rule) vs
    float64 finite differences (rtol 1e-6)."""
    def f(xs, w):
        c, ys = gc.scan(lambda c, x: (gc.cond(x > 0, lambda: gc.tanh(c * w + x), lambda: c * 0.5 - x), c),
                        np.float64(0.3), xs)
        return c + ys.sum()

    xs, w = np.array([1.0, -0.5, 0.7, -1.2, 0.4]), np.float64(0.8)
    gx, gw = gc.compile(gc.grad(f, argnums=(0, 1)))(xs, w)
    eps = 1e-6
    fdx = [(f(xs + eps * e, w) - f(xs - eps * e, w)) / (2 * eps) for e in np.eye(5)]
    np.testing.assert_allclose(gx, fdx, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(gw, (f(xs, w + eps) - f(xs, w - eps)) / (2 * eps), rtol=1e-6)
