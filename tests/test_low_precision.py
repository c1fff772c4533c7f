"""float16 / bfloat16 storage with float32 compute, and int8 (issue 15).

Semantics under test (README "Dtypes", docs/SHARP_BITS.md): a float16/bfloat16 value is
loaded into float32, every op computes in float32 and rounds its result to the storage
type (round to nearest even; NaN/inf kept, overflow to inf), reductions and matmul
accumulate in float32 and round once. The reference is numpy's "upcast to float32,
compute, cast back", applied per op.

Tolerances:
- exact (bit-identical, NaN == NaN): casts, + - * /, sqrt, abs, neg, floor, maximum,
  minimum, comparisons, chains of these: float32 rounds them correctly, as numpy does,
  and the second rounding is the same in both;
- 1 ulp of the storage type: transcendentals (exp, log, tanh, sin, power): graphc's
  float32 math library and numpy's differ in the last float32 bit, which moves the
  rounding to float16/bfloat16 when the float32 result lies next to a rounding boundary;
- sums, means and matmuls: 1 ulp of the storage type, or the float32 summation error
  bound n * 2^-24 * sum|terms| when cancellation makes that larger (the summation order
  differs from numpy's pairwise one).
"""
from __future__ import annotations

import io
import math
import os
import shutil
import subprocess
import sys
import textwrap

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import graphc as gc
from graphc.errors import DTypeError

BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
NARROW = [F16, BF16]
IDS = ["float16", "bfloat16"]
ALL_BITS = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)


# -- helpers ---------------------------------------------------------------------------------------

def narrow_arrays(dt, shape):
    """Arrays of ``dt`` from arbitrary 16-bit patterns: NaN, inf, subnormals, zeros of both signs."""
    return hnp.arrays(np.uint16, shape, elements=st.integers(0, 0xFFFF)).map(lambda a: a.view(dt))


def upcast_ref(fn, dt, *args):
    """numpy's reference: narrow arguments upcast to float32, ``fn``, result cast to ``dt``."""
    with np.errstate(all="ignore"):
        wide = [a.astype(np.float32) if a.dtype in (F16, BF16) else a for a in args]
        return np.asarray(fn(*wide)).astype(dt)


def ordered(a):
    """16-bit patterns as integers ordered like the values (-0 and +0 both 0)."""
    bits = a.view(np.uint16).astype(np.int64)
    mag = bits & 0x7FFF
    return np.where(bits & 0x8000, -mag, mag)


def nan_of(a):
    return np.isnan(a.astype(np.float32))


def assert_ulps(got, want, ulps=0, slack=None):
    """``got`` equals ``want`` (same dtype and shape) within ``ulps`` of the storage type;
    NaN only where the reference is NaN. ``slack``: an absolute bound per element that is
    also accepted (a float32 summation's error)."""
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    gn, wn = nan_of(got), nan_of(want)
    np.testing.assert_array_equal(gn, wn, err_msg="NaN positions differ")
    dist = np.abs(ordered(got) - ordered(want))
    ok = gn | (dist <= ulps)
    if slack is not None:
        with np.errstate(all="ignore"):
            diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        ok |= np.isfinite(want.astype(np.float64)) & (diff <= slack)
    bad = ~ok
    assert not bad.any(), (f"{bad.sum()} elements off by more than {ulps} ulp: got {got[bad][:5]}, "
                           f"want {want[bad][:5]}")


def same_bits(got, want):
    assert_ulps(got, want, ulps=0)


# -- dtypes, promotion ------------------------------------------------------------------------------

def test_dtype_names_are_numpy_dtypes():
    assert (gc.float16, gc.bfloat16, gc.int8) == ("float16", "bfloat16", "int8")
    assert np.dtype(gc.bfloat16) == BF16 and np.dtype(gc.float16) == F16


@pytest.mark.parametrize("a, b, want", [
    ("float16", "float32", "float32"), ("bfloat16", "float32", "float32"), ("float16", 1.5, "float16"),
    ("bfloat16", 2.0, "bfloat16"), ("int8", "float32", "float32"), ("bfloat16", "float16", "float32"),
    ("int8", 3, "int8"), ("int8", "int32", "int32"), ("int8", "float16", "float16"),
    ("int8", "bfloat16", "bfloat16")])
def test_promotion_follows_numpy_and_jax(a, b, want):
    x = np.ones(3, a)
    y = np.ones(3, b) if isinstance(b, str) else b
    out = gc.compile(lambda x, y: x + y)(x, y) if isinstance(b, str) else gc.compile(lambda x: x + y)(x)
    assert out.dtype == np.dtype(want)


def test_unknown_dtype_is_a_clear_error():
    """A dtype graphc does not compile, as a cast target or as an input, is named with the list."""
    with pytest.raises(DTypeError, match=r"dtype uint16 is not supported \(supported: .*float16, bfloat16"):
        gc.compile(lambda x: gc.cast(x, "uint16"))(np.ones(3, np.float32))
    with pytest.raises(DTypeError, match=r"dtype uint16 is not supported"):
        gc.compile(lambda x: x * 2)(np.ones(3, np.uint16))


# -- casts: every 16-bit pattern, and the rounding cases ----------------------------------------------

@pytest.mark.parametrize("dt", NARROW, ids=IDS)
def test_narrow_to_wide_casts_are_exact_for_every_bit_pattern(dt):
    x = ALL_BITS.view(dt)
    f = gc.compile(lambda x: (x.astype(gc.float32), x.astype(gc.float64)))
    r32, r64 = f(x)
    want32, want64 = x.astype(np.float32), x.astype(np.float64)
    finite = ~np.isnan(want32)
    np.testing.assert_array_equal(r32.view(np.uint32)[finite], want32.view(np.uint32)[finite])
    np.testing.assert_array_equal(r64.view(np.uint64)[finite], want64.view(np.uint64)[finite])
    assert np.isnan(r32[~finite]).all() and np.isnan(r64[~finite]).all()


def _rounding_cases(dt):
    """float32 values at, next to and between the storage type's values (ties both ways),
    plus overflow, NaN, inf, subnormals and random magnitudes."""
    grid = ALL_BITS.view(dt).astype(np.float32)
    grid = grid[np.isfinite(grid)]
    up = np.nextafter(grid, np.float32(np.inf))
    down = np.nextafter(grid, np.float32(-np.inf))
    nxt = np.sort(grid)
    mid = ((nxt[1:].astype(np.float64) + nxt[:-1]) / 2).astype(np.float32)   # exact ties
    rng = np.random.default_rng(0)
    rand = (rng.standard_normal(20000) * 10.0 ** rng.integers(-45, 39, 20000)).astype(np.float32)
    special = np.array([np.nan, -np.nan, np.inf, -np.inf, 65504, 65519.99, 65520, 3.3895e38, 3.4e38,
                        1e-45, -1e-45, 0.0, -0.0], np.float32)
    with np.errstate(all="ignore"):
        return np.concatenate([grid, up, down, mid, np.nextafter(mid, np.float32(0)), rand, special])


@pytest.mark.parametrize("dt", NARROW, ids=IDS)
def test_float32_to_narrow_rounds_to_nearest_even(dt):
    x = _rounding_cases(dt)
    with np.errstate(all="ignore"):
        want = x.astype(dt)
    same_bits(gc.compile(lambda x: x.astype(dt.name))(x), want)


@pytest.mark.parametrize("dt", NARROW, ids=IDS)
def test_float64_and_int_to_narrow_round_once(dt):
    """A float64 is rounded once (through float32 rounded to odd), not twice: x = 1 + half
    an ulp + a little rounds up, where float64 -> float32 -> narrow would tie to even."""
    half_ulp = 2.0 ** -11 if dt == F16 else 2.0 ** -8
    grid = ALL_BITS.view(dt).astype(np.float64)
    grid = grid[np.isfinite(grid)]
    x = np.concatenate([[1 + half_ulp + 2.0 ** -40, 1 + half_ulp, -(1 + half_ulp + 2.0 ** -40)],
                        grid * (1 + half_ulp + 2.0 ** -45), grid * (1 + half_ulp), grid + 1e-300,
                        np.random.default_rng(1).standard_normal(5000) * 1e3, [np.nan, np.inf, -np.inf, 1e300]])
    with np.errstate(all="ignore"):
        want = x.astype(dt)
    same_bits(gc.compile(lambda x: x.astype(dt.name))(x), want)
    ints = np.array([0, 1, -1, 255, 256, 257, 2049, 65504, 65519, 65520, 2 ** 24 + 1, 2 ** 31 - 1, -2 ** 31],
                    np.int64)
    for it in (np.int8, np.int32, np.int64):
        xi = ints.astype(it)
        with np.errstate(all="ignore"):
            same_bits(gc.compile(lambda x: x.astype(dt.name))(xi), xi.astype(dt))
    b = np.array([True, False])
    same_bits(gc.compile(lambda x: x.astype(dt.name))(b), b.astype(dt))


def test_narrow_to_narrow_and_int8_casts():
    x = ALL_BITS.view(F16)
    same_bits(gc.compile(lambda x: x.astype(gc.bfloat16))(x), x.astype(np.float32).astype(BF16))
    y = ALL_BITS.view(BF16)
    with np.errstate(all="ignore"):
        same_bits(gc.compile(lambda x: x.astype(gc.float16))(y), y.astype(np.float32).astype(F16))
    # float -> int8 inside int8's range (outside it numpy's and C's conversions are undefined)
    v = np.linspace(-128.9, 127.9, 301).astype(np.float32)
    for dt in NARROW:
        z = v.astype(dt)
        z = z[(z > -129) & (z < 128)]  # bfloat16 rounds -128.9 to -129: out of range again
        np.testing.assert_array_equal(gc.compile(lambda x: x.astype(gc.int8))(z), z.astype(np.float32).astype(np.int8))


# -- elementwise ops --------------------------------------------------------------------------------

EXACT_UNARY = {
    "negative": (gc.negative, np.negative), "abs": (gc.abs, np.abs), "sqrt": (gc.sqrt, np.sqrt),
    "floor": (gc.floor, np.floor), "square": (lambda x: x * x, lambda x: x * x),
    "relu": (gc.relu, lambda x: np.maximum(x, np.float32(0))),
}
MATH_UNARY = {
    "exp": (gc.exp, np.exp), "log": (gc.log, np.log), "tanh": (gc.tanh, np.tanh), "sin": (gc.sin, np.sin),
    "sigmoid": (gc.sigmoid, lambda x: 1 / (1 + np.exp(-x))), "expm1": (gc.expm1, np.expm1),
}
EXACT_BINARY = {
    "add": (gc.add, np.add), "subtract": (gc.subtract, np.subtract), "multiply": (gc.multiply, np.multiply),
    "divide": (gc.divide, np.divide), "maximum": (gc.maximum, np.maximum), "minimum": (gc.minimum, np.minimum),
}


@pytest.mark.parametrize("dt", NARROW, ids=IDS)
@pytest.mark.parametrize("name", sorted(EXACT_UNARY) + sorted(MATH_UNARY))
def test_unary_ops_on_every_bit_pattern(name, dt):
    """All 65536 inputs: exact for correctly rounded ops, 1 ulp for the math library."""
    fn, ref = {**EXACT_UNARY, **MATH_UNARY}[name]
    x = ALL_BITS.view(dt)
    got = gc.compile(fn)(x)
    want = upcast_ref(ref, dt, x)
    if name == "sigmoid":   # sigmoid(-x) underflows differently through numpy's 1/(1+exp(-x))
        want = upcast_ref(lambda v: (1 / (1 + np.exp(-v.astype(np.float64)))).astype(np.float32), dt, x)
    assert_ulps(got, want, ulps=0 if name in EXACT_UNARY else 1)


_erf = np.vectorize(math.erf, otypes=[np.float64])
# issue 15's elementwise functions: (graphc, numpy reference in float32 or float64)
EXTRA_UNARY = {
    "cos": (gc.cos, np.cos), "tan": (gc.tan, np.tan), "arcsin": (gc.arcsin, np.arcsin),
    "arccos": (gc.arccos, np.arccos), "arctan": (gc.arctan, np.arctan), "sinh": (gc.sinh, np.sinh),
    "cosh": (gc.cosh, np.cosh), "arcsinh": (gc.arcsinh, np.arcsinh), "arccosh": (gc.arccosh, np.arccosh),
    "arctanh": (gc.arctanh, np.arctanh), "exp2": (gc.exp2, np.exp2), "log2": (gc.log2, np.log2),
    "log10": (gc.log10, np.log10), "log1p": (gc.log1p, np.log1p), "ceil": (gc.ceil, np.ceil),
    "round": (gc.round, np.round), "trunc": (gc.trunc, np.trunc), "sign": (gc.sign, np.sign),
    "reciprocal": (gc.reciprocal, lambda x: np.float32(1) / x), "rsqrt": (gc.rsqrt, lambda x: 1 / np.sqrt(x.astype(np.float64))),
    "erf": (gc.erf, lambda x: _erf(x.astype(np.float64))), "nan_to_num": (gc.nan_to_num, None),
    "clip": (lambda x: gc.clip(x, -2.5, 3.0), lambda x: np.clip(x, np.float32(-2.5), np.float32(3.0))),
}
EXACT_EXTRA = {"ceil", "round", "trunc", "sign", "reciprocal", "clip"}


@pytest.mark.parametrize("dt", NARROW, ids=IDS)
@pytest.mark.parametrize("name", sorted(EXTRA_UNARY))
def test_more_unary_ops_on_every_bit_pattern(name, dt):
    """As test_unary_ops_on_every_bit_pattern, for issue 15's other elementwise functions.
    Where the reference is float64 (rsqrt, erf), its one rounding to the storage type can
    differ from graphc's float32-then-storage rounding by 1 ulp, as the math library's."""
    fn, ref = EXTRA_UNARY[name]
    x = ALL_BITS.view(dt)
    got = gc.compile(fn)(x)
    if name == "nan_to_num":   # NaN -> 0, +-inf -> the storage type's largest finite values
        with np.errstate(all="ignore"):
            want = np.nan_to_num(x.astype(np.float32)).astype(dt)
        finfo = ml_dtypes.finfo(dt) if dt == BF16 else np.finfo(dt)
        want = np.where(np.isposinf(x.astype(np.float32)), finfo.max, np.where(np.isneginf(x.astype(np.float32)),
                                                                               finfo.min, want)).astype(dt)
        same_bits(got, want)
        return
    assert_ulps(got, upcast_ref(ref, dt, x), ulps=0 if name in EXACT_EXTRA else 1)


@pytest.mark.parametrize("dt", NARROW, ids=IDS)
def test_predicates_and_float_division(dt):
    x = ALL_BITS.view(dt)
    y = np.roll(x, 12345)
    xf, yf = x.astype(np.float32), y.astype(np.float32)
    got = gc.compile(lambda x, y: (gc.isnan(x), gc.isinf(x), gc.isfinite(x), gc.arctan2(x, y), x % y, x // y,
                                   gc.fmod(x, y)))(x, y)
    np.testing.assert_array_equal(got[0], np.isnan(xf))
    np.testing.assert_array_equal(got[1], np.isinf(xf))
    np.testing.assert_array_equal(got[2], np.isfinite(xf))
    with np.errstate(all="ignore"):
        assert_ulps(got[3], np.arctan2(xf, yf).astype(dt), ulps=1)
        same_bits(got[4], np.remainder(xf, yf).astype(dt))
        same_bits(got[5], np.floor_divide(xf, yf).astype(dt))
        same_bits(got[6], np.fmod(xf, yf).astype(dt))


@pytest.mark.parametrize("dt", NARROW, ids=IDS)
@pytest.mark.parametrize("name", sorted(EXACT_BINARY) + ["power", "compare"])
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_binary_ops_match_upcast_reference(name, dt, data):
    shape = data.draw(st.sampled_from([(7,), (3, 5), (2, 3, 4)]))
    x = data.draw(narrow_arrays(dt, shape))
    y = data.draw(narrow_arrays(dt, shape[-1:]))   # broadcast along the last axis
    if name == "compare":
        got = gc.compile(lambda x, y: (x < y, x == y, x != y, gc.where(x >= y, x, y)))(x, y)
        with np.errstate(all="ignore"):
            xf, yf = x.astype(np.float32), y.astype(np.float32)
            np.testing.assert_array_equal(got[0], xf < yf)
            np.testing.assert_array_equal(got[1], xf == yf)
            np.testing.assert_array_equal(got[2], xf != yf)
        same_bits(got[3], np.where(xf >= yf, x, np.broadcast_to(y, x.shape)))
        return
    if name == "power":
        got = gc.compile(gc.power)(x, y)
        assert_ulps(got, upcast_ref(np.power, dt, x, y), ulps=1)
        return
    fn, ref = EXACT_BINARY[name]
    same_bits(gc.compile(fn)(x, y), upcast_ref(ref, dt, x, y))


@pytest.mark.parametrize("dt", NARROW, ids=IDS)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_fused_chain_rounds_after_every_op(dt, data):
    """(x*y + x) / y - 1.5, fused into one kernel, equals numpy applied op by op with a
    rounding to the storage type after each: results do not depend on what fusion kept in
    registers."""
    x = data.draw(narrow_arrays(dt, (4, 6)))
    y = data.draw(narrow_arrays(dt, (4, 6)))
    f = gc.compile(lambda x, y: (x * y + x) / y - 1.5)
    want = x
    for step in (lambda v: upcast_ref(np.multiply, dt, v, y), lambda v: upcast_ref(np.add, dt, v, x),
                 lambda v: upcast_ref(np.divide, dt, v, y), lambda v: upcast_ref(lambda a: a - np.float32(1.5), dt, v)):
        want = step(want)
    same_bits(f(x, y), want)
    assert f.compile_stats(x, y)["kernels_total"] == 1


def test_float16_overflows_to_inf_and_keeps_nan():
    x = np.array([60000, 65504, -60000, np.nan, np.inf, 1e-7, 6e-8], np.float16)
    got = gc.compile(lambda x: x * 2)(x)
    with np.errstate(all="ignore"):
        same_bits(got, upcast_ref(lambda v: v * 2, F16, x))
    assert np.isinf(got[:3]).all() and np.isnan(got[3]) and got[6] != 0   # subnormal result kept


def test_mixed_precision_result_is_float32():
    x = np.linspace(-4, 4, 40).astype(np.float16)
    w = np.linspace(0, 1, 40).astype(np.float32)
    got = gc.compile(lambda x, w: gc.exp(x) * w)(x, w)
    assert got.dtype == np.float32
    # exp of the float16 value (computed in float32, rounded to float16), times w in float32
    want = upcast_ref(np.exp, F16, x).astype(np.float32) * w
    np.testing.assert_allclose(got, want, rtol=2 ** -10)   # exp rounded to float16: 1 ulp


# -- reductions and matmul --------------------------------------------------------------------------

def _sum_slack(x, axis):
    """float32 summation error bound: n * 2^-24 * sum |x| along ``axis``."""
    a = np.abs(x.astype(np.float64))
    n = x.shape[axis] if axis is not None else x.size
    return n * 2.0 ** -24 * np.sum(a, axis=axis)


@pytest.mark.parametrize("dt", NARROW, ids=IDS)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_reductions_accumulate_in_float32(dt, data):
    shape = data.draw(st.sampled_from([(9,), (4, 33), (3, 2, 70)]))
    axis = data.draw(st.sampled_from([None, -1, 0]))
    x = data.draw(narrow_arrays(dt, shape))
    f = gc.compile(lambda x: (gc.sum(x, axis=axis), gc.mean(x, axis=axis), gc.max(x, axis=axis),
                              gc.min(x, axis=axis)))
    s, m, mx, mn = f(x)
    with np.errstate(all="ignore"):
        # bfloat16 reaches float32's range: where sum |x| does, whether a partial sum overflows
        # depends on the summation order, so those results are not compared
        ok = np.asarray(np.sum(np.abs(x.astype(np.float64)), axis=axis) < np.finfo(np.float32).max)
        sum_ref = upcast_ref(lambda v: np.sum(v, axis=axis), dt, x)
        assert_ulps(s[ok], sum_ref[ok], ulps=1, slack=_sum_slack(x, axis)[ok])
        n = x.shape[axis] if axis is not None else x.size
        mean_ref = upcast_ref(lambda v: np.mean(v, axis=axis), dt, x)
        assert_ulps(m[ok], mean_ref[ok], ulps=1, slack=_sum_slack(x, axis)[ok] / n)
        same_bits(mx, upcast_ref(lambda v: np.max(v, axis=axis), dt, x))
        same_bits(mn, upcast_ref(lambda v: np.min(v, axis=axis), dt, x))


def test_float16_sum_does_not_overflow_in_the_accumulator():
    """4096 values of 60000: the float16 sum is inf, but the float32 accumulator does not
    overflow, so the mean is 60000 (a float16 accumulator would give inf)."""
    x = np.full(4096, 60000, np.float16)
    s, m = gc.compile(lambda x: (gc.sum(x), gc.mean(x)))(x)
    assert np.isinf(s) and m == np.float16(60000)


@pytest.mark.parametrize("dt", NARROW, ids=IDS)
@pytest.mark.parametrize("m, k, n", [(3, 5, 4), (70, 130, 50)])
def test_matmul_accumulates_in_float32(dt, m, k, n):
    rng = np.random.default_rng(m)
    a = (rng.standard_normal((m, k)) * 4).astype(dt)
    b = (rng.standard_normal((k, n)) * 4).astype(dt)
    bias = rng.standard_normal(n).astype(dt)
    f = gc.compile(lambda a, b, c: gc.relu(a @ b + c))
    got = f(a, b, bias)
    prod = upcast_ref(np.matmul, dt, a, b)
    want = upcast_ref(lambda p, c: np.maximum(p + c, 0), dt, prod, bias)
    slack = k * 2.0 ** -24 * (np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)))
    assert_ulps(got, want, ulps=1, slack=slack)


def test_matmul_converts_each_operand_once():
    """Narrow GEMM operands are converted to float32 by one pass each (or inside the
    kernel producing them); the bias and activation stay the GEMM's epilogue."""
    a = np.ones((64, 96), np.float16)
    b = np.ones((96, 80), np.float16)
    c = np.ones(80, np.float16)
    f = gc.compile(lambda a, b, c: gc.relu(a @ b + c))
    f32 = f.compile_stats(a.astype(np.float32), b.astype(np.float32), c.astype(np.float32))["kernels_total"]
    assert f.compile_stats(a, b, c)["kernels_total"] == f32 + 2
    # producing the operand in a kernel fuses the conversion into it: no extra pass
    g = gc.compile(lambda a, b: gc.exp(a) @ b)
    assert g.compile_stats(a, b)["kernels_total"] == g.compile_stats(a.astype(np.float32), b.astype(np.float32))["kernels_total"] + 1


# -- no separate conversion kernels -----------------------------------------------------------------

@pytest.mark.parametrize("dt", NARROW, ids=IDS)
def test_narrow_storage_adds_no_kernels(dt):
    """The conversions happen inside the kernels that load and store the narrow buffers."""
    def fn(x, y):
        z = gc.tanh(x) * y + 1.0
        return z, gc.softmax(z, axis=-1), gc.sum(z * z, axis=0)

    x = np.linspace(-2, 2, 256 * 64).reshape(256, 64)
    y = np.linspace(1, 2, 64)
    f = gc.compile(fn)
    k32 = f.compile_stats(x.astype(np.float32), y.astype(np.float32))["kernels_total"]
    stats = f.compile_stats(x.astype(dt), y.astype(dt))
    assert stats["kernels_total"] == k32
    report = f.explain(x.astype(dt), y.astype(dt), repeat=1, file=io.StringIO())
    assert not any(all(o["op"] == "cast" for o in step["ops"]) for step in report["steps"])


def test_flat_kernels_are_keyed_by_dtype():
    """The size-generic elementwise kernel of float16 is not the float32 one."""
    f = gc.compile(lambda x: x * 3 + 1)
    a = np.arange(10, dtype=np.float32)
    r32 = f(a)
    r16 = f(a.astype(np.float16))
    rbf = f(a.astype(BF16))
    assert (r32.dtype, r16.dtype, rbf.dtype) == (np.float32, np.float16, BF16)
    np.testing.assert_array_equal(r16.astype(np.float32), r32)
    np.testing.assert_array_equal(rbf.astype(np.float32), r32)


@pytest.mark.parametrize("dt", NARROW, ids=IDS)
def test_random_draws_in_narrow_dtypes(dt):
    """Drawn in float32 and rounded; uniform stays in [0, 1) though float32 values just
    below 1 round up to 1 in float16/bfloat16. Moments of 200k draws: mean within 0.01,
    standard deviation within 0.01 (statistical error ~0.002)."""
    u, z = gc.compile(lambda: (gc.random.uniform((200000,), dtype=dt.name, seed=7),
                               gc.random.normal((200000,), dtype=dt.name, seed=7)))()
    assert u.dtype == dt and z.dtype == dt
    uf, zf = u.astype(np.float32), z.astype(np.float32)
    assert uf.min() >= 0 and uf.max() < 1
    assert abs(uf.mean() - 0.5) < 0.01 and abs(zf.mean()) < 0.01 and abs(zf.std() - 1) < 0.01


# -- int8 -------------------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.int8, st.sampled_from([(5,), (3, 4)])), hnp.arrays(np.int8, (1,)))
def test_int8_ops_follow_numpy(x, y):
    f = gc.compile(lambda x, y: (x + y, x * y, x - y, x // y, x % y, x < y, gc.maximum(x, y), gc.abs(x),
                                 gc.sum(x), x.astype(gc.float32) * 0.5, -x))
    with np.errstate(all="ignore"):
        safe = np.where(y == 0, 1, y).astype(np.int8)
        want = (x + y, x * y, x - y, None, None, x < y, np.maximum(x, y), np.abs(x), np.sum(x),
                x.astype(np.float32) * np.float32(0.5), -x)
    got = f(x, y)
    for k, (g, w) in enumerate(zip(got, want)):
        if w is None:
            continue
        assert g.dtype == np.asarray(w).dtype, (k, g.dtype, np.asarray(w).dtype)
        np.testing.assert_array_equal(g, w)
    nz = (y != 0)
    if nz.all():
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(got[3], np.floor_divide(x, safe))
            np.testing.assert_array_equal(got[4], np.remainder(x, safe))


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.int8, (6,)), hnp.arrays(np.int8, (6,)))
def test_int8_bitwise_ops(x, y):
    s = (y.astype(np.int64) & 7).astype(np.int8)
    got = gc.compile(lambda x, y, s: (x & y, x | y, x ^ y, ~x, x << s, x >> s))(x, y, s)
    for g, w in zip(got, (x & y, x | y, x ^ y, ~x, x << s, x >> s)):
        assert g.dtype == np.int8
        np.testing.assert_array_equal(g, w)


def test_int8_input_for_inference():
    """The usual use: int8 data scaled into float32 for a float32 model."""
    rng = np.random.default_rng(0)
    q = rng.integers(-128, 128, (16, 8)).astype(np.int8)
    w = rng.standard_normal((8, 4)).astype(np.float32)
    got = gc.compile(lambda q, w: (q * 0.05) @ w)(q, w)
    assert got.dtype == np.float64   # numpy: int8 * Python float is float64
    got = gc.compile(lambda q, w: q.astype(gc.float32) * np.float32(0.05) @ w)(q, w)
    np.testing.assert_allclose(got, (q.astype(np.float32) * np.float32(0.05)) @ w, rtol=1e-5)


# -- gradients ---------------------------------------------------------------------------------------

def _fd_grad(fn, x, eps=1e-6):
    """Central differences of the scalar ``fn`` (numpy, float64) at ``x``."""
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = eps
        g.flat[i] = (fn(x + e) - fn(x - e)) / (2 * eps)
    return g


@pytest.mark.parametrize("dt", NARROW, ids=IDS)
def test_gradient_of_narrow_input_is_narrow(dt):
    """grad w.r.t. a float16/bfloat16 input has that dtype; it matches finite differences
    (float64) of the upcast function within the rounding of the gradient's ops: each of its
    ~4 ops rounds to the storage type (<= half an ulp, 2^-11 relative for float16, 2^-8
    for bfloat16), so rtol = 4 ulps-halves."""
    x = np.linspace(-1.5, 1.5, 12).astype(dt)
    w = np.linspace(0.5, 1.5, 12)
    f = lambda x: gc.sum(gc.sin(x) * x * w.astype(dt))
    g = gc.compile(gc.grad(f))(x)
    assert g.dtype == dt
    want = _fd_grad(lambda v: np.sum(np.sin(v) * v * w.astype(dt).astype(np.float64)), x.astype(np.float64))
    rel = 2.0 ** -11 if dt == F16 else 2.0 ** -8
    np.testing.assert_allclose(g.astype(np.float64), want, rtol=4 * rel, atol=4 * rel)


def test_gradient_through_narrow_matmul():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((5, 7)).astype(np.float16)
    b = rng.standard_normal((7, 3)).astype(np.float16)
    ga, gb = gc.compile(gc.grad(lambda a, b: gc.sum(gc.tanh(a @ b)), argnums=(0, 1)))(a, b)
    assert ga.dtype == gb.dtype == np.float16
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want_a = _fd_grad(lambda v: np.sum(np.tanh(v @ b64)), a64)
    want_b = _fd_grad(lambda v: np.sum(np.tanh(a64 @ v)), b64)
    # tanh rounded to float16, its derivative (3 rounded ops), then a float32 GEMM rounded once
    np.testing.assert_allclose(ga.astype(np.float64), want_a, rtol=8 * 2.0 ** -11, atol=8 * 2.0 ** -11)
    np.testing.assert_allclose(gb.astype(np.float64), want_b, rtol=8 * 2.0 ** -11, atol=8 * 2.0 ** -11)


@pytest.mark.parametrize("dt", ["float16", "bfloat16", "int8"])
def test_saver_round_trips_narrow_variables(dt, tmp_path):
    """.npy stores bfloat16 as 2 raw bytes (V2); restoring into a bfloat16 Variable reads them back."""
    value = np.array([[0.5, -1.25, 3.0], [1e-3, 100.0, -7.0]]).astype(dt)
    v = gc.Variable(value, name=f"v_{dt}")
    saver = gc.Saver([v])
    path = saver.save(str(tmp_path / "ckpt"))
    v.assign(np.zeros((2, 3), dt))
    saver.restore(path)
    assert v.numpy().dtype == np.dtype(dt)
    np.testing.assert_array_equal(v.numpy().view(np.uint8), value.view(np.uint8))


# -- compat.v1 --------------------------------------------------------------------------------------

def test_compat_v1_casts():
    import graphc.compat.v1 as tf

    assert tf.bfloat16.is_floating and tf.float16.is_floating and tf.int8.is_integer
    assert tf.as_dtype("bfloat16") is tf.bfloat16 and tf.bfloat16.as_numpy_dtype is ml_dtypes.bfloat16
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [5])
        outs = [tf.cast(x, tf.float16), tf.cast(x, tf.bfloat16), tf.cast(x, tf.int8),
                tf.cast(tf.cast(x, tf.float16) * 2.0, tf.float32)]
        v = np.array([1.1, 2.5, -3.7, 70000.0, 1e-8], np.float32)
        with tf.Session() as s:
            h, b, i, back = s.run(outs, {x: v})
    with np.errstate(all="ignore"):
        same_bits(h, v.astype(np.float16))
        same_bits(b, v.astype(BF16))
        np.testing.assert_array_equal(i[:3], v[:3].astype(np.int8))
        np.testing.assert_array_equal(back, (v.astype(np.float16).astype(np.float32) * 2).astype(np.float16)
                                      .astype(np.float32))


# -- software conversions on CPUs without F16C --------------------------------------------------------

def test_half_conversions_without_f16c():
    """GRAPHC_CPU=x86-64 (no F16C): half <-> float are integer code (LLVM would call
    compiler-rt, which the JIT does not have); bit-identical to numpy for every pattern."""
    script = textwrap.dedent("""
        import numpy as np, graphc as gc
        assert not gc.cpu_info().has_half_convert
        bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
        h = bits.view(np.float16)
        r = gc.compile(lambda x: x.astype(gc.float32))(h)
        ok = (r.view(np.uint32) == h.astype(np.float32).view(np.uint32)) | (np.isnan(r) & np.isnan(h))
        assert ok.all(), h[~ok][:5]
        rng = np.random.default_rng(0)
        with np.errstate(all="ignore"):
            x = np.concatenate([h.astype(np.float32), np.nextafter(h.astype(np.float32), np.float32(np.inf)),
                                (rng.standard_normal(50000) * 10.0 ** rng.integers(-9, 6, 50000)).astype(np.float32)])
            want = x.astype(np.float16)
        got = gc.compile(lambda x: (x * 1.0).astype(gc.float16))(x)
        ok = (got.view(np.uint16) == want.view(np.uint16)) | (np.isnan(got) & np.isnan(want))
        assert ok.all(), x[~ok][:5]
        print("ok")
    """)
    env = dict(os.environ, GRAPHC_CPU="x86-64")
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-3000:]


# -- GPU: PTX and the emulator -------------------------------------------------------------------------

@pytest.mark.parametrize("dt", NARROW, ids=IDS)
def test_ptx_converts_in_the_kernels(dt, tmp_path):
    x = np.linspace(-2, 2, 64 * 64).reshape(64, 64).astype(dt)
    cf = gc.compile(lambda x: (gc.exp(x) * 2 + 1, gc.sum(x, axis=1), x @ x), target="cuda")
    text = cf.ptx(x)
    if dt == F16:
        assert "cvt.f32.f16" in text and "cvt.rn.f16.f32" in text
    else:   # bfloat16 by integer ops (shl / add / and): any sm, no cvt.rn.bf16.f32 needed
        assert "cvt.rn.bf16" not in text and "shl.b32" in text
    ptxas = shutil.which("ptxas")
    if ptxas is None:
        pytest.skip("ptxas not found on PATH (the PTX was generated but not assembled)")
    from graphc.codegen import ptx as P
    from graphc.codegen.gpu_compile import gpu_program

    _, program, steps = gpu_program(cf, (x,))
    for arch, ptx in (("sm_90", text), (P.PORTABLE_ARCH, P.PTXTarget(P.PORTABLE_ARCH).ptx(program, steps))):
        src = tmp_path / f"k_{arch}.ptx"
        src.write_text(ptx)
        r = subprocess.run([ptxas, f"-arch={arch}", str(src), "-o", str(tmp_path / f"k_{arch}.cubin")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("dt", NARROW, ids=IDS)
def test_emulated_gpu_matches_cpu(dt):
    from graphc.device import simulated_gpus

    x = np.linspace(-2, 2, 64 * 64).reshape(64, 64).astype(dt)
    fn = lambda x: (gc.exp(x) * 2 + 1, gc.sum(x, axis=1), x.astype(gc.float32), x @ x)
    cpu = gc.compile(fn)(x)
    with simulated_gpus(1) as (dev,):
        gpu = gc.compile(fn, target="cuda")(x)
        assert dev.launch_log
    for k, (g, c) in enumerate(zip(gpu, cpu)):
        assert g.dtype == c.dtype
        if k == 3:   # GEMM vs tiled GPU matmul: float32 summation order differs
            assert_ulps(g, c, ulps=1, slack=64 * 2.0 ** -24 * (np.abs(x.astype(np.float64)) @ np.abs(x.astype(np.float64))))
        elif k == 1:
            assert_ulps(g, c, ulps=1, slack=_sum_slack(x, 1))
        else:
            np.testing.assert_array_equal(g.view(np.uint8), c.view(np.uint8))


def test_emulated_gpu_two_stage_reduction_keeps_float32_partials():
    """A long row reduction runs as per-segment partials and a combining kernel; the
    partials of a float16 sum stay float32 (rounded once, by the final store)."""
    from graphc.device import simulated_gpus

    x = np.random.default_rng(0).standard_normal((2, 30000)).astype(np.float16)
    fn = lambda x: (gc.sum(x, axis=1), gc.max(x, axis=1), gc.argmax(x, axis=1))
    cpu = gc.compile(fn)(x)
    with simulated_gpus(1) as (dev,):
        gpu = gc.compile(fn, target="cuda")(x)
        assert any(name.endswith("_final") for name, *_ in dev.launch_log)
    assert_ulps(gpu[0], cpu[0], ulps=1, slack=_sum_slack(x, 1))
    assert_ulps(gpu[0], upcast_ref(lambda v: np.sum(v, axis=1), F16, x), ulps=1, slack=_sum_slack(x, 1))
    same_bits(gpu[1], cpu[1])
    np.testing.assert_array_equal(gpu[2], cpu[2])


# -- AOT export -------------------------------------------------------------------------------------

def test_export_uses_uint16_buffers_and_checks_dtypes(tmp_path):
    x = np.linspace(-2, 2, 100).astype(np.float16)
    lib = gc.export(lambda x: gc.tanh(x) * 3, (x,), str(tmp_path / "libhalfy.so"), name="halfy")
    header = open(lib.header).read()
    assert "int halfy_run(const uint16_t* in0, uint16_t* out0);" in header
    assert '#define HALFY_INPUT0_DTYPE "float16"' in header
    m = lib.load()
    np.testing.assert_array_equal(m(x).view(np.uint16), gc.compile(lambda x: gc.tanh(x) * 3)(x).view(np.uint16))
    with pytest.raises(TypeError, match=r"input 0: expected float16\[100\], got float32\[100\]"):
        m(x.astype(np.float32))
