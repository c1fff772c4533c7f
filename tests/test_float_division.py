"""Float ``%``, ``//``, divmod, gc.remainder/mod/fmod/floor_divide (issue 15) against numpy.

Tolerance: 0. fmod is exact (graphc/codegen/mathlib_fmod.py) and remainder/floor_divide
follow numpy's npy_divmod operation by operation in the operands' precision, so every
result must equal numpy's bit for bit: NaN matches NaN and the sign of zero is checked.
The emitters are checked on every CPU model (the host, and on x86 the SSE2 baseline
without FMA, where mathlib emulates the FMA exactly) over special values and random bit
patterns, the compiled ops with hypothesis (shapes, broadcasting, negative operands,
zeros, infinities, NaN), and the gradients against finite differences away from the
discontinuities (tests/gradcheck.py: rtol 1e-6, atol 1e-8).
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import graphc as gc
import graphc.compat.v1 as tf
from gradcheck import add_case, check_case, exempt
from graphc.codegen import mathlib
from test_mathlib import _CALL, MODEL_IDS, _target_machine, compiled, nvptx_assembly, random_bits, specials

NUMPY = {"fmod": np.fmod, "remainder": np.remainder, "floor_divide": np.floor_divide}


def assert_same(got, expect):
    """Bit-for-bit equality of float arrays (NaN == NaN, signed zeros distinguished)."""
    got, expect = np.asarray(got), np.asarray(expect)
    assert got.dtype == expect.dtype and got.shape == expect.shape
    same = (got == expect) & (np.signbit(got) == np.signbit(expect)) | (np.isnan(got) & np.isnan(expect))
    assert same.all(), (f"{(~same).sum()} mismatches, first: got {got[~same][:4]}, numpy {expect[~same][:4]}")


def _pairs(dtype, seed):
    """Specials against specials, random bit patterns (every binade, subnormals), and
    random values with nearby exponents (small quotients, where rounding is delicate)."""
    s = specials(dtype)
    a, b = np.meshgrid(s, s)
    rng = np.random.default_rng(seed)
    near_a = rng.standard_normal(4000) * 10.0 ** rng.integers(-3, 4, 4000)
    near_b = rng.standard_normal(4000) * 10.0 ** rng.integers(-3, 4, 4000)
    xs = np.concatenate([a.ravel(), random_bits(dtype, 4000, seed), near_a.astype(dtype)])
    ys = np.concatenate([b.ravel(), random_bits(dtype, 4000, seed + 1), near_b.astype(dtype)])
    return xs, ys


@pytest.mark.parametrize("model", MODEL_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", sorted(NUMPY))
def test_emitters_match_numpy_bit_for_bit(name, dtype, model):
    run = compiled(getattr(mathlib, f"emit_{name}"), dtype, 2, model)
    xs, ys = _pairs(dtype, 3)
    with np.errstate(all="ignore"):
        assert_same(run(xs, ys), NUMPY[name](xs, ys))


@pytest.mark.parametrize("model", MODEL_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: d.__name__)
def test_cpu_code_calls_no_libm(dtype, model):
    """No fmod/fma/rint/floor calls on any CPU model (the x86-64 baseline has no FMA)."""
    for name in NUMPY:
        mod = compiled(getattr(mathlib, f"emit_{name}"), dtype, 2, model).module   # the optimized module
        assert not _CALL.search(_target_machine(model).emit_assembly(mod)), f"{name}: a call in the asm"


@pytest.mark.parametrize("model", MODEL_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: d.__name__)
def test_every_exponent_pair_is_exact(dtype, model):
    """Operands spread over the whole exponent range (subnormals, the 2^+-900 scaling
    thresholds, the largest gaps), random significands and signs."""
    info = np.finfo(dtype)
    lo, hi = info.minexp - info.nmant, info.maxexp - 1
    exps = np.unique(np.concatenate([np.linspace(lo, hi, 150).astype(int), [lo, lo + 1, info.minexp - 1,
                                     info.minexp, -1, 0, 1, hi - 1, hi], [-901, -900, -899, 899, 900, 901]
                                     if dtype == np.float64 else []]).astype(int))
    a, b = np.meshgrid(exps, exps)
    rng = np.random.default_rng(11)
    signs = rng.choice([-1.0, 1.0], (2, a.size))
    xs = (np.ldexp(rng.uniform(1, 2, a.size), a.ravel()) * signs[0]).astype(dtype)
    ys = (np.ldexp(rng.uniform(1, 2, b.size), b.ravel()) * signs[1]).astype(dtype)
    keep = np.isfinite(xs) & np.isfinite(ys) & (ys != 0)
    xs, ys = xs[keep], ys[keep]
    for name in NUMPY:
        with np.errstate(all="ignore"):
            assert_same(compiled(getattr(mathlib, f"emit_{name}"), dtype, 2, model)(xs, ys), NUMPY[name](xs, ys))


def test_extreme_exponent_gaps_are_exact():
    """The largest gaps: fmod(max, smallest subnormal) needs every reduction step."""
    for dtype in (np.float32, np.float64):
        info = np.finfo(dtype)
        xs = np.array([info.max, -info.max, info.max, 1e30, 3.0, info.smallest_subnormal * 7], dtype)
        ys = np.array([info.smallest_subnormal, 3 * info.smallest_subnormal, info.tiny, info.smallest_subnormal,
                       info.smallest_subnormal, info.smallest_subnormal * 2], dtype)
        f = gc.compile(lambda x, y: (gc.fmod(x, y), x % y, x // y))
        with np.errstate(all="ignore"):
            for got, expect in zip(f(xs, ys), (np.fmod(xs, ys), np.remainder(xs, ys), np.floor_divide(xs, ys))):
                assert_same(got, expect)


_VALUES = st.one_of(st.floats(-1e6, 1e6, width=32), st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0,
                                                                      0.5, 3.0, -3.0, 1e-40, 3e38]))


@st.composite
def _operands(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape_a, shape_b = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4)).input_shapes
    a = draw(hnp.arrays(dtype, shape_a, elements=_VALUES))
    b = draw(hnp.arrays(dtype, shape_b, elements=_VALUES))
    return a, b


@settings(max_examples=40, deadline=None)
@given(_operands())
def test_operators_and_functions_match_numpy(operands):
    a, b = operands
    f = gc.compile(lambda x, y: (x % y, x // y, divmod(x, y), gc.mod(x, y), gc.remainder(x, y), gc.fmod(x, y),
                                 gc.floor_divide(x, y)))
    rem, fdiv, (dm_q, dm_r), mod, remainder, fmod, floor_divide = f(a, b)
    with np.errstate(all="ignore"):
        r, q, m = np.remainder(a, b), np.floor_divide(a, b), np.fmod(a, b)
    for got, expect in [(rem, r), (fdiv, q), (dm_q, q), (dm_r, r), (mod, r), (remainder, r), (fmod, m),
                        (floor_divide, q)]:
        assert_same(got, expect)


def test_python_scalars_and_mixed_dtypes_promote_as_numpy():
    x = np.array([5.5, -5.5, 0.0, -0.0], np.float32)
    f = gc.compile(lambda v: (v % 2, 7.0 // v, v % np.float64(2.5), -3 % v))
    with np.errstate(all="ignore"):
        expect = (x % 2, 7.0 // x, x % np.float64(2.5), -3 % x)
    for got, e in zip(f(x), expect):
        assert_same(got, e)
    c = np.array([3.0, -3.0, 0.5, 1.0], np.float32)
    q, r = gc.compile(lambda v: divmod(c, v))(x)      # ndarray on the left: numpy's divmod ufunc
    with np.errstate(all="ignore"):
        assert_same(q, np.floor_divide(c, x)), assert_same(r, np.remainder(c, x))
    i = np.array([7, -7, 0], np.int32)     # int32 with float64 -> float64, as numpy
    assert_same(gc.compile(lambda v, w: v % w)(i, np.array([2.5, 2.5, 0.0])), np.remainder(i, [2.5, 2.5, 0.0]))


def test_integer_division_by_zero_is_still_zero_and_bools_are_refused():
    a, b = np.array([7, -7, 0], np.int64), np.array([0, 0, 0], np.int64)
    got = gc.compile(lambda x, y: (x // y, x % y, gc.fmod(x, y)))(a, b)
    for g in got:
        np.testing.assert_array_equal(g, [0, 0, 0])
    with pytest.raises(gc.DTypeError, match="remainder.*integer or float.*bool"):
        gc.compile(lambda x: x % x)(np.ones(3, bool))


def test_eager_calls_use_the_numpy_reference():
    assert_same(gc.remainder(np.array([-1.0, 1.0]), np.array([np.inf, -np.inf])), np.array([np.inf, -np.inf]))
    assert_same(gc.floor_divide(np.array([1.0, -1.0, 0.0]), 0.0), np.array([np.inf, -np.inf, np.nan]))


def test_nvptx_lowering_has_no_calls():
    """The same emitters lower to PTX without external calls (no libm/libdevice fmod)."""
    def build(b, x, y):
        return b.fadd(b.fadd(mathlib.emit_fmod(b, x, y), mathlib.emit_remainder(b, x, y)),
                      mathlib.emit_floor_divide(b, x, y))

    for ptx in nvptx_assembly(build):
        assert "call" not in ptx and ".extern" not in ptx


# -- gradients -------------------------------------------------------------------------------

def _away_from_jumps(rng, shape, b):
    """a with frac(a / b) in [0.1, 0.9], so +-1e-6 steps never cross a discontinuity."""
    k = rng.integers(-3, 4, shape)
    return (k + rng.uniform(0.1, 0.9, shape)) * b


_RNG = np.random.default_rng(7)
_B = np.array([1.5, -2.25, 3.0, -0.75])
_A = _away_from_jumps(_RNG, (3, 4), _B)
GRAD_CASES = [add_case("remainder", gc.remainder, _A, _B, argnums=(0, 1)),
              add_case("remainder", lambda a, b: a % b, _A, _B, argnums=(0, 1), label="operator"),
              add_case("fmod", gc.fmod, _A, _B, argnums=(0, 1))]
exempt("floor_divide", "piecewise constant in both operands: zero gradient (None), as numpy/JAX/TF define it")


@pytest.mark.parametrize("case", GRAD_CASES, ids=str)
def test_gradients_match_finite_differences(case):
    check_case(case)


def test_gradient_rules_are_the_stated_ones():
    da, db = gc.grad(lambda a, b: (a % b).sum(), argnums=(0, 1))(_A, _B)
    np.testing.assert_array_equal(da, np.ones_like(_A))
    np.testing.assert_array_equal(db, -np.floor(_A / _B).sum(axis=0))
    db = gc.grad(lambda a, b: gc.fmod(a, b).sum(), argnums=1)(_A, _B)
    np.testing.assert_array_equal(db, -np.trunc(_A / _B).sum(axis=0))
    assert np.all(gc.grad(lambda a: (a // 2.0).sum())(_A) == 0)


# -- graphc.compat.v1 ---------------------------------------------------------------------------

def test_tf_division_ops_have_tensorflows_semantics():
    a = np.array([5.0, -5.0, 5.0, -5.0, 1.0, 7.5], np.float32)
    b = np.array([3.0, 3.0, -3.0, -3.0, 0.1, 2.0], np.float32)
    ia, ib = np.array([7, -7, 7, -7, 6], np.int32), np.array([2, 2, -2, -2, 3], np.int32)
    tf.reset_default_graph()
    x, y = tf.placeholder(tf.float32, [None]), tf.placeholder(tf.float32, [None])
    i, j = tf.placeholder(tf.int32, [None]), tf.placeholder(tf.int32, [None])
    fetches = [tf.floormod(x, y), tf.mod(x, y), x % y, tf.floordiv(x, y), x // y, tf.truncatemod(x, y),
               tf.truncatediv(x, y), tf.floormod(i, j), tf.floordiv(i, j), i // j, tf.truncatemod(i, j),
               tf.truncatediv(i, j)]
    dx, dy = tf.gradients(tf.reduce_sum(tf.floormod(x, y)), [x, y])
    with tf.Session() as sess:
        out = sess.run(fetches + [dx, dy], {x: a, y: b, i: ia, j: ib})
    with np.errstate(all="ignore"):
        floor_quotient = np.floor(a / b)     # TF's float FloorDiv: floor of the rounded quotient
        expect = [np.remainder(a, b)] * 3 + [floor_quotient] * 2 + [np.fmod(a, b), np.trunc(a / b),
                                                                   np.remainder(ia, ib), ia // ib, ia // ib,
                                                                   np.fmod(ia, ib), np.fix(ia / ib).astype(np.int32)]
    for got, e in zip(out, expect):
        assert_same(got, e) if got.dtype.kind == "f" else np.testing.assert_array_equal(got, e)
    np.testing.assert_array_equal(out[-2], np.ones_like(a))
    np.testing.assert_array_equal(out[-1], -floor_quotient)
