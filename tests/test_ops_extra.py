"""Issue 15's extra ops against numpy: accuracy sweeps of the new transcendentals (in
ulps, bounds stated below), special values, hypothesis comparisons, integer division and
bit operations (numpy's floor/sign conventions, division by zero, INT_MIN // -1), and
gradients against finite differences (tests/gradcheck.py)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import graphc as gc
from gradcheck import add_case, check_case, exempt

RNG = np.random.default_rng(15)
_LD_OK = np.finfo(np.longdouble).nmant >= 63

# name: (graphc fn, numpy fn, sweep range, float64 ulp bound). float32 results are
# computed in float64 and rounded once: bound 0.51 ulp (double rounding) against float64.
# The float64 bounds are the measured maxima (graphc/codegen/mathlib_trig.py) plus margin.
UNARY = {
    "sin": (gc.sin, np.sin, (-1e5, 1e5), 1.0), "cos": (gc.cos, np.cos, (-1e5, 1e5), 1.0),
    "tan": (gc.tan, np.tan, (-1e3, 1e3), 2.5), "arcsin": (gc.arcsin, np.arcsin, (-1, 1), 2.5),
    "arccos": (gc.arccos, np.arccos, (-1, 1), 2.5), "arctan": (gc.arctan, np.arctan, (-50, 50), 1.0),
    "sinh": (gc.sinh, np.sinh, (-20, 20), 2.5), "cosh": (gc.cosh, np.cosh, (-20, 20), 1.5),
    "arcsinh": (gc.arcsinh, np.arcsinh, (-100, 100), 2.0), "arccosh": (gc.arccosh, np.arccosh, (1, 100), 2.0),
    "arctanh": (gc.arctanh, np.arctanh, (-0.999, 0.999), 2.0), "exp2": (gc.exp2, np.exp2, (-60, 60), 1.0),
    "log2": (gc.log2, np.log2, (1e-3, 1e4), 1.0), "log10": (gc.log10, np.log10, (1e-3, 1e4), 1.0),
}


def ulp_error(got, ref, dtype):
    """max |got - ref| in ulps of the reference rounded to ``dtype`` (finite references)."""
    ref_rounded = ref.astype(dtype)
    spacing = np.spacing(np.abs(ref_rounded)).astype(np.longdouble)
    finite = np.isfinite(ref_rounded)
    return float(np.max(np.abs(got.astype(np.longdouble) - ref)[finite] / spacing[finite]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_accuracy_sweep(name, dtype):
    fn, ref_fn, (lo, hi), bound64 = UNARY[name]
    if dtype == np.float64 and not _LD_OK:
        pytest.skip("numpy's longdouble has no 64-bit mantissa here: no float64 reference")
    x = np.concatenate([np.linspace(lo, hi, 20001), RNG.uniform(lo, hi, 20000),
                        np.linspace(-1e-3, 1e-3, 2001) if lo < 0 else np.linspace(lo, lo + 1e-3, 2001)]).astype(dtype)
    got = gc.compile(fn)(x)
    assert got.dtype == dtype
    wide = x.astype(np.longdouble if dtype == np.float64 else np.float64)
    ref = np.asarray(ref_fn(wide), np.longdouble)
    assert ulp_error(got, ref, dtype) <= (bound64 if dtype == np.float64 else 0.51)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_arctan2_accuracy_and_special_values(dtype):
    y, x = np.meshgrid(np.linspace(-3, 3, 301), np.linspace(2, -2, 301))
    y, x = y.ravel().astype(dtype), x.ravel().astype(dtype)
    wide = np.longdouble if dtype == np.float64 else np.float64
    if dtype == np.float64 and not _LD_OK:
        pytest.skip("no float64 reference")
    got = gc.compile(gc.arctan2)(y, x)
    assert ulp_error(got, np.asarray(np.arctan2(y.astype(wide), x.astype(wide)), np.longdouble), dtype) <= (
        2.0 if dtype == np.float64 else 0.51)
    inf, nan = np.inf, np.nan
    sy = np.array([0.0, -0.0, 0.0, -0.0, inf, inf, -inf, -inf, 1.0, 1.0, -1.0, nan, 1.0, inf], dtype)
    sx = np.array([0.0, 0.0, -0.0, -0.0, inf, -inf, inf, -inf, inf, -inf, -inf, 1.0, nan, 2.0], dtype)
    got = gc.compile(gc.arctan2)(sy, sx)
    expect = np.arctan2(sy, sx)
    np.testing.assert_array_equal(got, expect)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expect))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values_match_numpy(dtype):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 1e-300, -1e-30, 2.0, 1e30, -1e30, 0.5, 1e6],
                 dtype)
    fns = dict((n, (f, r)) for n, (f, r, _, _) in UNARY.items())
    fns.update(erf=(gc.erf, np.vectorize(math.erf, otypes=[np.float64])), floor=(gc.floor, np.floor),
               ceil=(gc.ceil, np.ceil), trunc=(gc.trunc, np.trunc), rint=(gc.rint, np.rint),
               round=(gc.round, np.round))
    for name, (fn, ref) in fns.items():
        with np.errstate(all="ignore"):
            expect = np.asarray(ref(x.astype(np.float64))).astype(dtype)
        got = gc.compile(fn)(x)
        special = ~np.isfinite(expect) | (expect == 0) | ~np.isfinite(x) | (x == 0)
        np.testing.assert_array_equal(got[special], expect[special], err_msg=name)
        np.testing.assert_array_equal(np.signbit(got[special & ~np.isnan(expect)]),
                                      np.signbit(expect[special & ~np.isnan(expect)]), err_msg=name)
        np.testing.assert_allclose(got, expect, rtol=4e-7 if dtype == np.float32 else 1e-14, atol=0,
                                   err_msg=name)


def test_rounding_is_half_to_even_and_integers_pass_through():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999999, -2.6, 1e300], np.float64)
    np.testing.assert_array_equal(gc.compile(gc.round)(x), np.round(x))
    np.testing.assert_allclose(gc.compile(lambda v: gc.round(v, 2))(x * 1.2345), np.round(x * 1.2345, 2))
    i = np.arange(-3, 4)
    np.testing.assert_array_equal(gc.compile(lambda v: (gc.floor(v), gc.ceil(v)))(i), (i, i))


float_arrays = hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=6),
                          elements=st.floats(-30, 30, allow_nan=False))


@settings(max_examples=25, deadline=None)
@given(float_arrays, st.floats(-5, 0), st.floats(0, 5))
def test_composites_match_numpy(x, lo, hi):
    f = gc.compile(lambda v: (gc.clip(v, lo, hi), gc.sign(v), gc.reciprocal(v + 100.0), gc.rsqrt(v * v + 1.0),
                              gc.isnan(v), gc.isinf(v), gc.isfinite(v), gc.cos(v) * gc.sin(v)))
    expect = (np.clip(x, lo, hi), np.sign(x), np.reciprocal(x + 100.0), 1 / np.sqrt(x * x + 1.0), np.isnan(x),
              np.isinf(x), np.isfinite(x), np.cos(x) * np.sin(x))
    for got, want in zip(f(x), expect):
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)


def test_nan_to_num_sign_and_inf_checks():
    x = np.array([np.nan, np.inf, -np.inf, 1.0, -0.0], np.float32)
    np.testing.assert_array_equal(gc.compile(gc.nan_to_num)(x), np.nan_to_num(x))
    np.testing.assert_array_equal(gc.compile(lambda v: gc.nan_to_num(v, nan=1.0, posinf=2.0, neginf=-2.0))(x),
                                  np.nan_to_num(x, nan=1.0, posinf=2.0, neginf=-2.0))
    np.testing.assert_array_equal(gc.compile(gc.sign)(x), np.sign(x))
    np.testing.assert_array_equal(gc.compile(lambda v: (gc.isnan(v), gc.isinf(v), gc.isfinite(v)))(x),
                                  (np.isnan(x), np.isinf(x), np.isfinite(x)))


# -- integers --------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_division_edge_cases(dtype):
    info = np.iinfo(dtype)
    a = np.array([7, -7, 7, -7, 0, 5, info.min, info.min, info.max, 3, -3], dtype)
    b = np.array([2, 2, -2, -2, 3, 0, -1, 1, -1, info.min, 0], dtype)
    got = gc.compile(lambda x, y: (x // y, x % y, gc.fmod(x, y), gc.mod(x, y)))(a, b)
    with np.errstate(all="ignore"):
        expect = (np.floor_divide(a, b), np.remainder(a, b), np.fmod(a, b), np.mod(a, b))
    for g, e in zip(got, expect):
        np.testing.assert_array_equal(g, e)


int_arrays = hnp.arrays(np.int64, st.integers(1, 20), elements=st.integers(-2 ** 62, 2 ** 62))


@settings(max_examples=30, deadline=None)
@given(int_arrays, st.integers(-70, 70), st.integers(-1000, 1000))
def test_integer_ops_match_numpy(a, shift, d):
    b = np.full_like(a, d)
    f = gc.compile(lambda x, y, s: (x // y, x % y, x & y, x | y, x ^ y, ~x, x << s, x >> s), static_argnums=2)
    got = f(a, b, np.int64(shift) if 0 <= shift < 64 else np.int64(shift))
    with np.errstate(all="ignore"):
        width = (shift >= 64) | (shift < 0)
        expect = (np.floor_divide(a, b), np.remainder(a, b), a & b, a | b, a ^ b, ~a,
                  np.zeros_like(a) if width else a << shift,
                  np.where(a < 0, -1, 0) if width else a >> shift)
    for g, e in zip(got, expect):
        np.testing.assert_array_equal(g, e)


def test_bitwise_on_bools_is_logical_and_floats_are_refused():  # float % and //: test_float_division.py
    t, f = np.array([True, False, True]), np.array([False, False, True])
    np.testing.assert_array_equal(gc.compile(lambda a, b: (a & b, a | b, a ^ b, ~a))(t, f),
                                  (t & f, t | f, t ^ f, ~t))
    with pytest.raises(gc.DTypeError, match="bitwise_and"):
        gc.compile(lambda x: x & 1)(np.ones(3, np.float32))


def test_numpy_on_traced_values_names_the_new_equivalents():
    with pytest.raises(gc.NumpyOnTracedValueError, match=r"numpy\.sin.*use gc\.sin"):
        gc.compile(lambda x: np.sin(x))(np.ones(3))
    with pytest.raises(gc.NumpyOnTracedValueError, match=r"numpy\.arctan2.*use gc\.arctan2"):
        gc.compile(lambda x: np.arctan2(x, x))(np.ones(3))


# -- gradients ---------------------------------------------------------------------------------

_X = RNG.uniform(-0.9, 0.9, (3, 4))
_POS = RNG.uniform(1.2, 3.0, (3, 4))
GRAD_CASES = [add_case(name, fn, _POS if name in ("arccosh", "log2", "log10") else _X)
              for name, fn in [("sin", gc.sin), ("cos", gc.cos), ("tan", gc.tan), ("arcsin", gc.arcsin),
                               ("arccos", gc.arccos), ("arctan", gc.arctan), ("sinh", gc.sinh),
                               ("cosh", gc.cosh), ("arcsinh", gc.arcsinh), ("arccosh", gc.arccosh),
                               ("arctanh", gc.arctanh), ("exp2", gc.exp2), ("log2", gc.log2),
                               ("log10", gc.log10), ("erf", gc.erf)]]
GRAD_CASES.append(add_case("arctan2", gc.arctan2, _X, _POS[0], argnums=(0, 1)))
GRAD_CASES.append(add_case("materialize", lambda v: gc.sort(v) * np.arange(4.0), _X))  # sort's stage boundary
for _op in ("floor", "ceil", "trunc", "rint"):
    exempt(_op, "piecewise constant: zero gradient (None), as numpy/JAX define it")
for _op in ("bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift"):
    exempt(_op, "integer operands and results")


@pytest.mark.parametrize("case", GRAD_CASES, ids=str)
def test_extra_op_gradients(case):
    check_case(case)


def test_composite_gradients():
    x = RNG.uniform(-2, 2, 6)
    g = gc.grad(lambda v: (gc.clip(v, -1.0, 1.0) * np.arange(6.0)).sum())(x)
    np.testing.assert_array_equal(g, np.where(np.abs(x) <= 1, np.arange(6.0), 0))
    np.testing.assert_array_equal(gc.grad(lambda v: (gc.sign(v) * v).sum())(x), np.sign(x))
    np.testing.assert_allclose(gc.grad(lambda v: gc.rsqrt(v * v + 1).sum())(x), -x / (x * x + 1) ** 1.5,
                               rtol=1e-12)


# -- reductions, scans, shape and creation composites (graphc/ops/array_extra.py) ------------------

arrays_2d = hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=5),
                       elements=st.floats(-3, 3, allow_nan=False))


@settings(max_examples=25, deadline=None)
@given(arrays_2d, st.sampled_from([None, 0, 1, -1, (0, 1)]), st.booleans())
def test_reductions_match_numpy(x, axis, keepdims):
    f = gc.compile(lambda v: (gc.var(v, axis, keepdims=keepdims), gc.std(v, axis, keepdims=keepdims),
                              gc.logsumexp(v, axis, keepdims=keepdims), gc.any(v > 1, axis, keepdims=keepdims),
                              gc.all(v > -2, axis, keepdims=keepdims)))
    ref_lse = np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))
    expect = (np.var(x, axis, keepdims=keepdims), np.std(x, axis, keepdims=keepdims), ref_lse,
              np.any(x > 1, axis, keepdims=keepdims), np.all(x > -2, axis, keepdims=keepdims))
    for got, want in zip(f(x), expect):
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_var_ddof_logsumexp_extremes_and_empty_any_all():
    x = RNG.standard_normal((4, 5))
    np.testing.assert_allclose(gc.compile(lambda v: gc.var(v, 0, ddof=1))(x), np.var(x, 0, ddof=1), rtol=1e-12)
    big = np.array([[1000.0, 1000.0], [-np.inf, -np.inf]])
    np.testing.assert_allclose(gc.compile(lambda v: gc.logsumexp(v, 1))(big), [1000 + np.log(2), -np.inf])
    empty = np.zeros((0, 3), bool)
    np.testing.assert_array_equal(gc.compile(lambda v: (gc.any(v, 0), gc.all(v, 0)))(empty),
                                  (np.any(empty, 0), np.all(empty, 0)))


@settings(max_examples=20, deadline=None)
@given(arrays_2d, st.sampled_from([None, 0, 1]))
def test_cumsum_cumprod_match_numpy(x, axis):
    got = gc.compile(lambda v: (gc.cumsum(v, axis), gc.cumprod(v, axis), v.cumsum(axis)))(x)
    np.testing.assert_array_equal(got[0], np.cumsum(x, axis))  # same order of additions: exact
    np.testing.assert_allclose(got[1], np.cumprod(x, axis), rtol=1e-12, atol=1e-300)
    i = np.arange(12, dtype=np.int32).reshape(3, 4)
    out = gc.compile(lambda v: gc.cumsum(v, axis))(i)
    assert out.dtype == np.cumsum(i, axis).dtype
    np.testing.assert_array_equal(out, np.cumsum(i, axis))


@settings(max_examples=25, deadline=None)
@given(arrays_2d, st.integers(-7, 7), st.integers(1, 3), st.integers(0, 3), st.integers(0, 2))
def test_shape_functions_match_numpy(x, shift, reps, before, after):
    axis = 1
    f = gc.compile(lambda v: (gc.flip(v, axis), gc.flip(v), gc.roll(v, shift, axis), gc.roll(v, shift),
                              gc.tile(v, (reps, 2)), gc.tile(v[0], reps), gc.repeat(v, reps, axis),
                              gc.repeat(v, reps), gc.pad(v, ((before, after), (after, before))),
                              gc.pad(v, before, "edge"), gc.pad(v, ((0, 0), (1, 2)), constant_values=7.0)))
    expect = (np.flip(x, axis), np.flip(x), np.roll(x, shift, axis), np.roll(x, shift), np.tile(x, (reps, 2)),
              np.tile(x[0], reps), np.repeat(x, reps, axis), np.repeat(x, reps),
              np.pad(x, ((before, after), (after, before))), np.pad(x, before, "edge"),
              np.pad(x, ((0, 0), (1, 2)), constant_values=7.0))
    for got, want in zip(f(x), expect):
        np.testing.assert_array_equal(got, want)


def test_reflect_and_symmetric_pad():
    x = np.arange(20.0).reshape(4, 5)
    for mode in ("reflect", "symmetric"):
        np.testing.assert_array_equal(gc.compile(lambda v: gc.pad(v, ((2, 3), (1, 2)), mode))(x),
                                      np.pad(x, ((2, 3), (1, 2)), mode))
    with pytest.raises(gc.ShapeError, match="reflect"):
        gc.compile(lambda v: gc.pad(v, 5, "reflect"))(x)


def test_creation_and_triangles():
    x = RNG.standard_normal((2, 4, 5))
    f = gc.compile(lambda v: (gc.tril(v), gc.triu(v, 1), gc.tril(v, -2), gc.eye(3, 4, 1) + 0, gc.tri(3, k=-1),
                              gc.linspace(-1, 1, 7, dtype="float64"), gc.diag(v[0]), gc.diag(v[0, 0], 2),
                              gc.diag(v[0], -1), *gc.meshgrid(v[0, 0], v[0, 1, :3]),
                              *gc.meshgrid(v[0, 0], v[0, 1, :3], indexing="ij")))
    expect = (np.tril(x), np.triu(x, 1), np.tril(x, -2), np.eye(3, 4, 1), np.tri(3, k=-1),
              np.linspace(-1, 1, 7), np.diag(x[0]), np.diag(x[0, 0], 2), np.diag(x[0], -1),
              *np.meshgrid(x[0, 0], x[0, 1, :3]), *np.meshgrid(x[0, 0], x[0, 1, :3], indexing="ij"))
    for got, want in zip(f(x), expect):
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-7)
    assert gc.eye(2).dtype == np.float32 and isinstance(gc.eye(2), np.ndarray)  # eager: an ndarray


EINSUMS = [("ij,jk->ik", [(3, 4), (4, 5)]), ("ij,kj->ik", [(3, 4), (5, 4)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
           ("i,i->", [(4,), (4,)]), ("i,j->ij", [(3,), (4,)]), ("ij->ji", [(3, 4)]), ("ii->i", [(4, 4)]),
           ("ii", [(4, 4)]), ("ij->", [(3, 4)]), ("ijk,ikl->jl", [(2, 3, 4), (2, 4, 5)]),
           ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]), ("ij,ij->i", [(3, 4), (3, 4)]), ("bhqd,bhkd->bhqk",
                                                                                       [(2, 3, 4, 5), (2, 3, 6, 5)]),
           ("ij,jk", [(3, 4), (4, 5)])]


@pytest.mark.parametrize("spec,shapes", EINSUMS, ids=[e[0] for e in EINSUMS])
def test_einsum_matches_numpy(spec, shapes):
    args = [RNG.standard_normal(s) for s in shapes]
    got = gc.compile(lambda *a: gc.einsum(spec, *a))(*args)
    np.testing.assert_allclose(got, np.einsum(spec, *args), rtol=1e-12, atol=1e-12)


def test_einsum_contraction_is_a_matmul_and_errors_are_clear():
    a, b = RNG.standard_normal((64, 32)).astype(np.float32), RNG.standard_normal((32, 48)).astype(np.float32)
    graph = gc.trace(lambda x, y: gc.einsum("ij,jk->ik", x, y), a, b)
    assert [n.op for n in graph.nodes].count("matmul") == 1
    with pytest.raises(gc.ShapeError, match="ellipsis"):
        gc.einsum("...ij,jk", a, b)
    with pytest.raises(gc.ShapeError, match="2 operand subscripts for 1"):
        gc.einsum("ij,jk", a)


def test_composite_gradients_match_finite_differences():
    from gradcheck import numeric_gradient

    x = RNG.standard_normal((3, 4))
    w = RNG.uniform(0.5, 1.5, (3, 4))
    fns = {
        "var": lambda v: gc.var(v, 1, ddof=1) * 2, "std": lambda v: gc.std(v, 0), "logsumexp": lambda v: gc.logsumexp(v, 1),
        "cumsum": lambda v: gc.cumsum(v, 1) * w, "cumprod": lambda v: gc.cumprod(v, 0) * w,
        "pad": lambda v: gc.pad(v, ((1, 1), (2, 0)), "reflect"), "roll": lambda v: gc.roll(v, 1, 0) * w,
        "tile": lambda v: gc.tile(v, (2, 1)), "tril": lambda v: gc.tril(v) * w,
        "einsum": lambda v: gc.einsum("ij,kj->ik", v, v * w),
    }
    for name, fn in fns.items():
        shape = np.shape(fn(x))  # eager: numpy in, numpy out
        r = np.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape)  # every output counts differently
        objective = lambda v, fn=fn, r=r: gc.sum(fn(v) * r)
        analytic = gc.grad(objective)(x)
        np.testing.assert_allclose(analytic, numeric_gradient(objective, (x,), 0, 1e-6), rtol=1e-6, atol=1e-8,
                                   err_msg=name)


# -- indexing, gathers, scatters, .at[] (graphc/ops/indexing_extra.py) ---------------------------------

XI = np.arange(24.0).reshape(4, 6)
IDX = np.array([3, -1, 0, 3])


def test_static_advanced_indexing_is_numpys():
    keys = [[0, 2], (slice(None), [1, 4]), np.array([True, False, True, False]), ([1, 3], [2, 5]),
            (np.array([[0], [2]]), np.array([1, 3, 5])), (slice(1, 3), [0, -1]), ([-1, 0],)]
    f = gc.compile(lambda x: tuple(x[k] for k in keys))
    for got, k in zip(f(XI), keys):
        np.testing.assert_array_equal(got, XI[k])
    with pytest.raises(gc.IndexingError, match="out of bounds"):
        gc.compile(lambda x: x[[0, 9]])(XI)


def test_traced_index_arrays_gather_and_wrap_negatives():
    f = gc.compile(lambda x, i: (x[i], x[:, i], gc.take(x, i), gc.take(x, i, axis=1), gc.take(x, [1, 5], axis=1)))
    expect = (XI[IDX], XI[:, IDX], np.take(XI, IDX), np.take(XI, IDX, axis=1), np.take(XI, [1, 5], axis=1))
    for got, want in zip(f(XI, IDX), expect):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(gc.IndexingError, match="data-dependent"):
        gc.compile(lambda x: x[x[:, 0] > 5])(XI)
    with pytest.raises(gc.IndexingError, match="only non-':' entry"):
        gc.compile(lambda x, i: x[i, 1:3])(XI, IDX)


def test_take_along_axis_and_gather_nd():
    order = np.argsort(-XI, axis=1)[:, :2]
    col = (IDX.reshape(4, 1) % 6)
    f = gc.compile(lambda x, o, c: (gc.take_along_axis(x, o, 1), gc.take_along_axis(x, c, 1),
                                    gc.take_along_axis(x, np.array([[2, 0, 1, 3, 0, 1]]), 0),
                                    gc.gather_nd(x, np.array([[1, 2], [3, 5]])), gc.gather_nd(x, np.array([[2], [0]]))))
    expect = (np.take_along_axis(XI, order, 1), np.take_along_axis(XI, col, 1),
              np.take_along_axis(XI, np.array([[2, 0, 1, 3, 0, 1]]), 0), XI[[1, 3], [2, 5]], XI[[2, 0]])
    for got, want in zip(f(XI, order, col), expect):
        np.testing.assert_array_equal(got, want)


def _np_dynamic_update(x, u, starts):
    y = x.copy()
    s = [min(max(a, 0), n - k) for a, n, k in zip(starts, x.shape, u.shape)]
    y[s[0]:s[0] + u.shape[0], s[1]:s[1] + u.shape[1]] = u
    return y


@pytest.mark.parametrize("r,c", [(0, 0), (1, 3), (3, 10), (-2, 2)])
def test_dynamic_slice_and_update_clamp_their_start(r, c):
    u = np.arange(4.0).reshape(2, 2) + 100
    f = gc.compile(lambda x, s: (gc.dynamic_slice(x, (s[0], s[1]), (2, 3)), gc.dynamic_update_slice(x, u, (s[0], s[1]))))
    sl, up = f(XI, np.array([r, c]))
    rr, cc = min(max(r, 0), 2), min(max(c, 0), 3)
    np.testing.assert_array_equal(sl, XI[rr:rr + 2, cc:cc + 3])
    np.testing.assert_array_equal(up, _np_dynamic_update(XI, u, (r, c)))


def test_at_updates_match_numpy():
    ones = np.ones((4, 6))
    f = gc.compile(lambda x, i: (x.at[1, 2:4].set(-1.0), x.at[[0, 0, 2]].add(1.0), x.at[i].add(ones),
                                 x.at[i].set(np.full((4, 6), 7.0)), x.at[:, 1].max(10.0), x.at[0].multiply(2.0),
                                 x.at[2:].min(5.0), gc.scatter_add(x, i, ones), gc.scatter_add(x, i[:2], ones[:, :2], 1),
                                 x.at[[1, 2]].get()))
    e = [XI.copy() for _ in range(9)]
    e[0][1, 2:4] = -1
    np.add.at(e[1], [0, 0, 2], 1.0)
    np.add.at(e[2], IDX, ones)
    e[3][IDX] = 7.0
    e[4][:, 1] = np.maximum(e[4][:, 1], 10)
    e[5][0] *= 2
    e[6][2:] = np.minimum(e[6][2:], 5)
    np.add.at(e[7], IDX, ones)
    np.add.at(e[8], (slice(None), IDX[:2]), ones[:, :2])
    for got, want in zip(f(XI, IDX), e + [XI[[1, 2]]]):
        np.testing.assert_array_equal(got, want)
    # eager (numpy in): the same functions
    np.testing.assert_array_equal(gc.at(XI)[1, 2:4].set(-1.0), e[0])
    with pytest.raises(gc.IndexingError, match="repeated indices"):
        gc.compile(lambda x: x.at[[0, 0]].max(1.0))(XI)


def test_indexing_gradients():
    x = RNG.standard_normal((4, 6))
    g = gc.grad(lambda v: (v[np.array([0, 0, 3])] * 2).sum() + gc.take_along_axis(v, np.zeros((4, 1), int), 1).sum()
                + (v.at[1, 2:4].set(0.0) * 3).sum())(x)
    expect = np.full((4, 6), 3.0)
    expect[1, 2:4] = 0
    expect[0] += 4
    expect[3] += 2
    expect[:, 0] += 1
    np.testing.assert_allclose(g, expect)


# -- sort / argsort / top_k (graphc/ops/sort_extra.py) --------------------------------------------------

@settings(max_examples=8, deadline=None)   # (each example compiles a sorting network: ~1 s)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=9),
                  elements=st.sampled_from([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0, np.nan, np.inf, -np.inf])),
       st.sampled_from([-1, 0, None]))
def test_sort_and_argsort_match_numpys_stable_sort(x, axis):
    s, a = gc.compile(lambda v: (gc.sort(v, axis), gc.argsort(v, axis)))(x)
    np.testing.assert_array_equal(s, np.sort(x, axis))
    np.testing.assert_array_equal(a, np.argsort(x, axis, kind="stable"))


def test_top_k_and_integer_sort_and_gradient():
    x = RNG.integers(-5, 5, (3, 11)).astype(np.float32)
    v, i = gc.compile(lambda t: gc.top_k(t, 4))(x)
    ref = np.argsort(-x, axis=-1, kind="stable")[:, :4]
    np.testing.assert_array_equal(i, ref)
    np.testing.assert_array_equal(v, np.take_along_axis(x, ref, -1))
    ints = RNG.integers(-100, 100, (4, 13)).astype(np.int32)
    np.testing.assert_array_equal(gc.compile(gc.sort)(ints), np.sort(ints))
    y = RNG.standard_normal((3, 5))
    g = gc.grad(lambda t: (gc.sort(t) * np.arange(5.0)).sum())(y)
    np.testing.assert_array_equal(g, np.argsort(np.argsort(y, -1), -1).astype(float))
    with pytest.raises(gc.ShapeError, match="k=12"):
        gc.compile(lambda t: gc.top_k(t, 12))(x)
