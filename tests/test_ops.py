"""Every core op, compiled (fused and naive), against numpy itself and gc.interpret.

Tolerances: float32 results within rtol 1e-5 (transcendentals: rtol 2e-6 ~ a few ulp
plus the input rounding), float64 within 1e-12, integers and bools exact. Reductions are
compared relative to sum(|x|) (their reassociation error scales with it, not with the
result).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import graphc as gc

FLOATS = ["float32", "float64"]
ALL = ["float32", "float64", "int32", "int64", "bool"]


def assert_close(got, want, dtype=None, atol_scale=None):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    if got.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want)
        return
    rtol = 1e-5 if got.dtype == np.float32 else 1e-12
    atol = 0 if atol_scale is None else rtol * atol_scale
    np.testing.assert_allclose(got, want, rtol=rtol, atol=max(atol, 1e-30), equal_nan=True)


def run_both(fn, *args, atol_scale=None):
    """Compile fused and naive; both must equal the interpreter (numpy references).

    atol_scale: magnitude of the terms summed (matmul, reductions): absolute error is
    allowed relative to it, since reassociated sums cancel differently."""
    ref = gc.interpret(gc.trace(fn, *args), *args)
    outs = []
    for fuse in (True, False):
        got = gc.compile(fn, fuse=fuse)(*args)
        gl, _ = gc.pytree.flatten(got)
        rl, _ = gc.pytree.flatten(ref)
        for g, r in zip(gl, rl):
            assert_close(g, r, atol_scale=atol_scale)
        outs.append(got)
    return outs[0]


def arrays(dtype, shape):
    if dtype == "bool":
        return hnp.arrays(np.bool_, shape)
    if dtype.startswith("int"):
        return hnp.arrays(dtype, shape, elements=st.integers(-50, 50))
    return hnp.arrays(dtype, shape, elements=st.floats(-10, 10, width=32 if dtype == "float32" else 64))


shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)


# -- elementwise against numpy directly ------------------------------------------------------------------

BINARY = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "maximum": np.maximum,
    "minimum": np.minimum, "equal": np.equal, "not_equal": np.not_equal, "less": np.less,
    "less_equal": np.less_equal, "greater": np.greater, "greater_equal": np.greater_equal,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_binary_broadcast(name, data):
    dtype = data.draw(st.sampled_from(["float32", "float64", "int32", "int64"]))
    s1, s2 = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4)).input_shapes
    x = data.draw(arrays(dtype, s1))
    y = data.draw(arrays(dtype, s2))
    got = run_both(getattr(gc, name), x, y)
    assert_close(got, BINARY[name](x, y))


@given(data=st.data())
def test_divide_and_power(data):
    dtype = data.draw(st.sampled_from(FLOATS))
    shape = data.draw(shapes)
    x = data.draw(arrays(dtype, shape))
    y = data.draw(arrays(dtype, shape).filter(lambda a: np.all(np.abs(a) > 1e-3)))
    with np.errstate(all="ignore"):
        assert_close(run_both(gc.divide, x, y), np.divide(x, y))
        ax = np.abs(x) + np.asarray(0.5, dtype)
        got = run_both(lambda a, b: gc.power(a, b), ax, y / 4)
        np.testing.assert_allclose(got, np.power(ax, y / 4), rtol=5e-6 if dtype == "float32" else 1e-12)


UNARY_FLOAT = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh}


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh", "sigmoid"])
@given(data=st.data())
def test_unary_transcendental(name, data):
    dtype = data.draw(st.sampled_from(FLOATS))
    x = data.draw(arrays(dtype, data.draw(shapes)))
    if name in ("log", "sqrt"):
        x = np.abs(x) + np.asarray(1e-3, dtype)
    with np.errstate(all="ignore"):
        want = UNARY_FLOAT[name](x) if name != "sigmoid" else (1 / (1 + np.exp(-x.astype(np.float64)))).astype(dtype)
    got = run_both(getattr(gc, name), x)
    # a few ulp: float32 2e-6 relative, float64 1e-13
    np.testing.assert_allclose(got, want, rtol=2e-6 if dtype == "float32" else 1e-13, atol=1e-30)


@pytest.mark.parametrize("name,ref", [("negative", np.negative), ("abs", np.abs), ("square", np.square),
                                      ("relu", lambda a: np.maximum(a, 0))])
@given(data=st.data())
def test_unary_exact(name, ref, data):
    dtype = data.draw(st.sampled_from(["float32", "float64", "int32", "int64"]))
    x = data.draw(arrays(dtype, data.draw(shapes)))
    assert_close(run_both(getattr(gc, name), x), np.asarray(ref(x)).astype(dtype))


@given(data=st.data())
def test_where_logical_cast(data):
    s = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=4)).input_shapes
    c = data.draw(arrays("bool", s[0]))
    x = data.draw(arrays("float32", s[1]))
    y = data.draw(arrays("float32", s[2]))
    assert_close(run_both(gc.where, c, x, y), np.where(c, x, y))
    b2 = data.draw(arrays("bool", s[1]))
    assert_close(run_both(gc.logical_and, c, b2), np.logical_and(c, b2))
    assert_close(run_both(gc.logical_or, c, b2), np.logical_or(c, b2))
    assert_close(run_both(gc.logical_not, c), np.logical_not(c))
    to = data.draw(st.sampled_from(ALL))
    assert_close(run_both(lambda a: gc.cast(a, to), x), x.astype(to))


def test_nan_semantics():
    x = np.array([np.nan, 1.0, -np.inf, np.inf, 0.0], np.float32)
    y = np.array([1.0, np.nan, 0.0, np.nan, -0.0], np.float32)
    assert_close(run_both(gc.maximum, x, y), np.maximum(x, y))
    assert_close(run_both(gc.minimum, x, y), np.minimum(x, y))
    assert_close(run_both(lambda a: a.max(), x), np.max(x))
    assert_close(run_both(lambda a: gc.argmax(a), x), np.argmax(x))
    assert_close(run_both(lambda a, b: a != b, x, y), x != y)
    with np.errstate(all="ignore"):
        assert_close(run_both(gc.log, x), np.log(x))
        assert_close(run_both(gc.exp, x), np.exp(x))


# -- type promotion ---------------------------------------------------------------------------

def test_promotion_follows_numpy():
    x32 = np.arange(4, dtype=np.float32)
    i32 = np.arange(4, dtype=np.int32)
    b = np.array([True, False, True, True])
    cases = [
        (lambda a: a * 1.5, (x32,), lambda a: a * 1.5),
        (lambda a: a + 1, (i32,), lambda a: a + 1),
        (lambda a: a / 2, (i32,), lambda a: a / 2),
        (lambda a, c: a + c, (x32, i32), lambda a, c: a + c),
        (lambda a, c: a * c, (i32, b), lambda a, c: a * c),
        (lambda a: a.sum(), (i32,), lambda a: a.sum()),
        (lambda a: a.sum(), (b,), lambda a: a.sum()),
        (lambda a: a.mean(), (i32,), lambda a: a.mean()),
        (lambda a: gc.exp(a), (i32,), lambda a: np.exp(a)),
    ]
    for fn, args, ref in cases:
        got = run_both(fn, *args)
        want = np.asarray(ref(*args))
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
        np.testing.assert_allclose(got, want, rtol=1e-6)


# -- reductions ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "prod", "argmax", "argmin"])
@given(data=st.data())
def test_reductions(name, data):
    dtype = data.draw(st.sampled_from(["float32", "float64", "int32", "int64"]))
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6))
    x = data.draw(arrays(dtype, shape))
    if name in ("argmax", "argmin"):
        axis = data.draw(st.sampled_from([None] + list(range(-len(shape), len(shape)))))
    else:
        axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1),
                                   st.lists(st.integers(0, len(shape) - 1), unique=True, max_size=len(shape)).map(tuple)))
    keep = data.draw(st.booleans()) if axis is not None or name not in ("argmax", "argmin") else False
    if name == "prod":
        x = np.clip(x, -2, 2)
    scale = float(np.sum(np.abs(x.astype(np.float64)))) + 1
    got = run_both(lambda a: getattr(gc, name)(a, axis=axis, keepdims=keep), x, atol_scale=scale)
    want = np.asarray(getattr(np, name)(x, axis=axis, keepdims=keep))
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12,
                                   atol=(1e-5 if dtype == "float32" else 1e-12) * scale)
        assert got.dtype == want.dtype
    else:
        assert_close(got, want)


def test_zero_size_reductions():
    x = np.zeros((0, 3), np.float32)
    assert_close(run_both(lambda a: a.sum(axis=0), x), x.sum(axis=0))
    assert_close(run_both(lambda a: gc.prod(a, axis=0), x), np.prod(x, axis=0))
    with pytest.raises(gc.ShapeError, match="zero-size"):
        gc.compile(lambda a: a.max(axis=0))(x)


# -- matmul ---------------------------------------------------------------------------------------

@given(data=st.data())
def test_matmul(data):
    dtype = data.draw(st.sampled_from(["float32", "float64", "int32"]))
    m, k, n = (data.draw(st.integers(1, 9)) for _ in range(3))
    batch = data.draw(st.sampled_from([(), (2,), (1, 3)]))
    bb = data.draw(st.sampled_from([(), batch, batch[-1:]]))
    a = data.draw(arrays(dtype, batch + (m, k)))
    b = data.draw(arrays(dtype, bb + (k, n)))
    scale = float(np.matmul(np.abs(a).astype(np.float64), np.abs(b).astype(np.float64)).max()) + 1
    got = run_both(lambda x, y: x @ y, a, b, atol_scale=scale if dtype.startswith("float") else None)
    want = np.matmul(a, b)
    if dtype.startswith("float"):
        scale = float(np.matmul(np.abs(a).astype(np.float64), np.abs(b).astype(np.float64)).max()) + 1
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * scale if dtype == "float32" else 1e-12 * scale)
    else:
        assert_close(got, want)


def test_matmul_vectors_and_transposes():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((37, 50)).astype(np.float32)
    b = rng.standard_normal((50, 29)).astype(np.float32)
    v = rng.standard_normal(50).astype(np.float32)
    s = 100.0  # |terms| summed: ~50 products of N(0,1) values (plus a second matmul)
    np.testing.assert_allclose(run_both(lambda x, y: x @ y, a, v, atol_scale=s), a @ v, rtol=1e-5, atol=1e-5 * s)
    np.testing.assert_allclose(run_both(lambda x, y: y @ x.T, a, v, atol_scale=s), v @ a.T, rtol=1e-5, atol=1e-5 * s)
    np.testing.assert_allclose(run_both(lambda x, y: x.T @ x @ y, a, b, atol_scale=50 * s), a.T @ a @ b, rtol=1e-5, atol=5e-4 * s)
    np.testing.assert_allclose(run_both(lambda x, y: gc.relu(x @ y + 1.0), a, b, atol_scale=s), np.maximum(a @ b + 1, 0), rtol=1e-5, atol=1e-5 * s)


# -- shape ops ------------------------------------------------------------------------------------

@given(data=st.data())
def test_reshape_transpose(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    x = data.draw(arrays("float32", shape))
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    assert_close(run_both(lambda a: gc.transpose(a * 2, perm), x), np.transpose(x * 2, perm))
    assert_close(run_both(lambda a: (a + 1).reshape(-1), x), (x + 1).reshape(-1))
    assert_close(run_both(lambda a: gc.transpose(a, perm).reshape(-1) * 3, x), np.transpose(x, perm).reshape(-1) * 3)


def _factor_shapes(n):
    """Strategy: shapes of n elements (n's prime factors dealt into up to 4 axes, plus unit axes)."""
    primes, m, f = [], n, 2
    while m > 1:
        while m % f == 0:
            primes.append(f)
            m //= f
        f += 1

    @st.composite
    def shapes_of_n(draw):
        ndim = draw(st.integers(1, 4))
        dims = [1] * ndim
        for q in primes:
            dims[draw(st.integers(0, ndim - 1))] *= q
        return tuple(dims)
    return shapes_of_n()


@given(data=st.data())
def test_reshape_fused_between_remappings(data):
    """A reshape inside a fused kernel (between a transpose and a slice, so neither side
    is a plain buffer) reads its input run by run of merged/split axes
    (shape_ops.reshape_groups); every split/merge/unit-axis pattern against numpy."""
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6))
    x = data.draw(arrays("float32", shape))
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    new = data.draw(_factor_shapes(x.size))
    step = tuple(data.draw(st.integers(1, 2)) for _ in new)
    idx = tuple(slice(None, None, s) for s in step)
    want = (np.transpose(x * 2, perm).reshape(new) + 1)[idx]
    assert_close(run_both(lambda a: (gc.transpose(a * 2, perm).reshape(new) + 1)[idx], x), want)


def test_reshape_groups():
    from graphc.ops.shape_ops import reshape_groups
    assert reshape_groups((64, 7, 7, 64), (64, 3136)) == [([0], [0]), ([1, 2, 3], [1])]
    assert reshape_groups((6, 4), (2, 3, 4)) == [([0], [0, 1]), ([1], [2])]
    assert reshape_groups((4, 6), (6, 4)) == [([0, 1], [0, 1])]
    assert reshape_groups((1, 6, 1), (6,)) == [([0, 1, 2], [0])]
    assert reshape_groups((6,), (2, 3, 1, 1)) == [([0], [0, 1, 2, 3])]
    assert reshape_groups(("n", 6), ("n", 2, 3)) is None


@given(data=st.data())
def test_basic_indexing(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6))
    x = data.draw(arrays("float32", shape))
    idx = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    assert_close(run_both(lambda a: a[idx] + 0, x), np.asarray(x[idx] + 0))


def test_concat_stack_split_squeeze():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    y = rng.standard_normal((3, 2)).astype(np.float32)
    assert_close(run_both(lambda a, b: gc.concatenate([a, b, a], axis=1), x, y), np.concatenate([x, y, x], 1))
    assert_close(run_both(lambda a: gc.stack([a, a * 2], axis=-1), x), np.stack([x, x * 2], -1))
    for got, want in zip(run_both(lambda a: gc.split(a, [1, 3], axis=1), x), np.split(x, [1, 3], axis=1)):
        assert_close(got, want)
    assert_close(run_both(lambda a: gc.squeeze(gc.expand_dims(a, (0, 2)), 0), x), np.expand_dims(x, 1))
    assert_close(run_both(lambda a: gc.broadcast_to(a[:, :1], (2, 3, 4)) * 1, x), np.broadcast_to(x[:, :1], (2, 3, 4)) * 1)


def test_creation_and_nn():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 7)).astype(np.float32)
    assert_close(run_both(lambda a: a + gc.zeros((5, 7)) + gc.ones(7), x), x + 1)
    assert_close(run_both(lambda: gc.full((2, 3), 7, "int32")), np.full((2, 3), 7, np.int32))
    assert_close(run_both(lambda: gc.arange(2, 11, 3)), np.arange(2, 11, 3))
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(run_both(gc.softmax, x), e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(run_both(lambda a: gc.log_softmax(a, axis=0), x),
                               x - x.max(0) - np.log(np.exp(x - x.max(0)).sum(0)), rtol=1e-5, atol=1e-6)
    labels = np.array([0, 3, 1, 6], np.int64)
    assert_close(run_both(lambda l: gc.one_hot(l, 7), labels), np.eye(7, dtype=np.float32)[labels])


def test_noncontiguous_inputs_and_nested_structures():
    base = np.arange(48, dtype=np.float32).reshape(6, 8)
    x = base[::2, 1::3]  # non-contiguous view
    f = gc.compile(lambda d: {"a": d["x"] * 2, "b": (d["y"][0] + 1, [d["y"][1]])})
    out = f({"x": x, "y": (base.T, base)})
    np.testing.assert_array_equal(out["a"], x * 2)
    np.testing.assert_array_equal(out["b"][0], base.T + 1)
    np.testing.assert_array_equal(out["b"][1][0], base)


def test_closure_constants_and_scalars():
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    f = gc.compile(lambda x, s: x @ w * s + 0.5)
    x = np.ones((4, 2), np.float32)
    np.testing.assert_allclose(f(x, 2.0), x @ w * 2.0 + 0.5)
    np.testing.assert_allclose(f(x, 3.0), x @ w * 3.0 + 0.5)  # scalars are part of the signature


# -- random graphs vs the interpreter ------------------------------------------------------------

_UNARY = [gc.negative, gc.tanh, gc.sigmoid, gc.relu, gc.square, gc.abs, lambda a: gc.exp(-gc.abs(a))]
_BIN = [gc.add, gc.subtract, gc.multiply, gc.maximum, gc.minimum]


@st.composite
def random_programs(draw):
    n = draw(st.integers(2, 10))
    ops = []
    for k in range(n):
        kind = draw(st.sampled_from(["u", "b", "r", "t", "s"]))
        ops.append((kind, draw(st.integers(0, 10 ** 6))))
    return ops


@given(prog=random_programs(), shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
       seed=st.integers(0, 2 ** 16))
def test_random_graphs_fused_equals_naive_equals_interpreter(prog, shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)

    def fn(a):
        vals = [a]
        for kind, r in prog:
            v = vals[r % len(vals)]
            w = vals[(r // 7) % len(vals)]
            if kind == "u":
                v = _UNARY[r % len(_UNARY)](v)
            elif kind == "b" and w.shape == v.shape:
                v = _BIN[r % len(_BIN)](v, w)
            elif kind == "r":
                v = v - gc.max(v, axis=-1, keepdims=True) if r % 2 else v * gc.mean(v, axis=0, keepdims=True)
            elif kind == "t" and v.ndim == 2:
                v = v.T * 1.0
                v = v.T
            elif kind == "s":
                v = gc.softmax(v, axis=r % 2)
            vals.append(v)
        return vals[-1], vals[len(vals) // 2]

    ref = gc.interpret(gc.trace(fn, x), x)
    for fuse in (True, False):
        got = gc.compile(fn, fuse=fuse)(x)
        for g, r in zip(got, ref):
            np.testing.assert_allclose(g, r, rtol=2e-5, atol=2e-6)


# -- caching and IR ------------------------------------------------------------------------------

def test_cache_per_signature():
    calls = []

    def fn(x):
        calls.append(1)
        return x + 1

    f = gc.compile(fn)
    a = np.zeros(3, np.float32)
    f(a)
    f(a + 1)
    assert len(calls) == 1
    f(np.zeros(4, np.float32))
    f(np.zeros(3, np.float64))
    assert len(calls) == 3


def test_ir_text():
    f = gc.compile(lambda x, w, b: gc.relu(x @ w + b).sum(axis=1))
    x, w, b = np.ones((4, 3), np.float32), np.ones((3, 5), np.float32), np.ones(5, np.float32)
    g = gc.trace(f, x, w, b)
    assert isinstance(g, gc.Graph)
    text = str(g)
    for op in ("matmul", "add", "relu", "reduce_sum", "float32[4,5]"):
        assert op in text
    opt = f.ir(x, w, b, stage="optimized")
    assert "kernel" in opt


def test_softmax_over_size_one_axes():
    """Regression: the row-stash of softmax must not be reloaded before it is stored when
    the row index does not vary (size-1 dimensions)."""
    for shape in [(1, 1), (1, 5), (4, 1), (1, 1, 3)]:
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        e = np.exp(x - x.max(-1, keepdims=True))
        np.testing.assert_allclose(run_both(lambda a: gc.softmax(-a, axis=-1), x),
                                   np.exp(-x - (-x).max(-1, keepdims=True)) / np.exp(-x - (-x).max(-1, keepdims=True)).sum(-1, keepdims=True),
                                   rtol=1e-5)
        np.testing.assert_allclose(run_both(gc.softmax, x), e / e.sum(-1, keepdims=True), rtol=1e-5)


def test_batched_matmul_with_many_batch_entries():
    """More than 64 batch entries take the GEMM step's runtime batch loop (broadcast batch)."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal((70, 3, 20, 30)).astype(np.float32)
    b = rng.standard_normal((3, 30, 40)).astype(np.float32)
    got = gc.compile(lambda x, y: x @ y)(a, b)
    np.testing.assert_allclose(got, a @ b, rtol=1e-5, atol=1e-5 * 30 * 4)
