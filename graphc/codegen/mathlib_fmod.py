"""Exact float remainders for mathlib (issue 15): fmod, numpy's remainder and floor_divide.

Same contract as graphc/codegen/mathlib.py: straight-line LLVM IR on a scalar or vector
float/double, selects instead of branches, no libm (LLVM's ``frem`` would call libm's
fmod, and NVPTX expands it inexactly).

fmod(x, y) is exact (as C's fmod). With r = |x| and d = |y|, each step subtracts
q * t, where t = d * 2^s is d shifted to 48 binary places below r's exponent and
q = rint(r / t) (|q| < 2^49). r - q*t is a multiple of t's ulp no larger than 0.625 t,
so it is representable and one FMA (or mathlib's exact FMA emulation) computes it
exactly; each step removes 48 bits of the exponent gap between r and d, and
ceil(max gap / 48) steps (6 for float32, computed in float64; 44 for float64) reach
|r| <= 0.625 d, a negative r then takes d once. Values are scaled by 2^-200 / 2^200
around the FMA when |r| is huge or tiny, so the FMA emulation's splitting cannot
overflow or underflow.

remainder and floor_divide follow numpy's npy_divmod exactly (in the operands' own
precision): mod = fmod(a, b); div = (a - mod) / b; when mod is nonzero and its sign
differs from b's, mod += b and div -= 1; a zero mod takes b's sign; the quotient is
floor(div), rounded up when div - floor(div) > 0.5, and a zero quotient takes the sign
of a / b. Division by zero: remainder is NaN, floor_divide is a / b (+-inf or NaN).
"""
from __future__ import annotations

from .mathlib import _Emitter
from .mathlib_trig import _wide2

_STEP_BITS = 48
# largest exponent gap floor(log2 |x|) - floor(log2 |y|) of finite nonzero values,
# float32 (computed in float64) and float64: emax - (lowest subnormal exponent)
_MAX_GAP = {False: 127 + 149, True: 1023 + 1074}


def _exponent_bits(e, a):
    """floor(log2 |a|) for normal a (-1023 for subnormals and zero)."""
    bits = e.b.lshr(e.to_int(a), e.ci(52, e.ity))
    return e.b.sub(e.b.and_(bits, e.ci(0x7FF, e.ity)), e.ci(1023, e.ity))


def _exponent_exact(e, a):
    """floor(log2 a) for finite a > 0, subnormals included (scaled by 2^64 first); below
    -1074 for a = 0."""
    tiny = e.cmp("<", a, e.c(2.0 ** -1022))
    scaled = _exponent_bits(e, e.sel(tiny, e.mul(a, e.c(2.0 ** 64)), a))
    return e.b.select(tiny, e.b.sub(scaled, e.ci(64, e.ity)), scaled)


def _pow2(e, k):
    """2**k for an i64 k in [-1022, 1023]."""
    return e.to_float(e.b.shl(e.b.add(k, e.ci(1023, e.ity)), e.ci(52, e.ity)))


def _imin(e, a, b):
    return e.b.select(e.b.icmp_signed("<", a, b), a, b)


def _fmod_abs(e, r, d, steps):
    """|x| mod d for finite r = |x| >= 0 and finite d > 0 (float64 emitter), exact."""
    b = e.b
    ed = _exponent_exact(e, d)
    zero_i, cap = e.ci(0, e.ity), e.ci(1000, e.ity)
    for _ in range(steps):
        ar = e.fabs(r)
        s = b.sub(b.sub(_exponent_exact(e, ar), ed), e.ci(_STEP_BITS, e.ity))
        s = b.select(b.icmp_signed("<", s, zero_i), zero_i, s)
        # t = d * 2^s in three exact factors (s reaches 2049 for a subnormal d)
        s1 = _imin(e, s, cap)
        s2 = _imin(e, b.sub(s, s1), cap)
        s3 = b.sub(b.sub(s, s1), s2)
        t = e.mul(e.mul(e.mul(d, _pow2(e, s1)), _pow2(e, s2)), _pow2(e, s3))
        q = e.rint(e.div(r, t))
        huge, tiny = e.cmp(">", ar, e.c(2.0 ** 900)), e.cmp("<", ar, e.c(2.0 ** -900))
        scale = e.sel(huge, e.c(2.0 ** -200), e.sel(tiny, e.c(2.0 ** 200), e.c(1.0)))
        unscale = e.sel(huge, e.c(2.0 ** 200), e.sel(tiny, e.c(2.0 ** -200), e.c(1.0)))
        reduced = e.mul(e.fma(e.neg(q), e.mul(t, scale), e.mul(r, scale)), unscale)
        r = e.sel(e.cmp("==", q, e.c(0.0)), r, reduced)   # q = 0: t may be far above r
    return e.sel(e.cmp("<", r, e.c(0.0)), e.add(r, d), r)


def _fmod(e, x, y, is64):
    """C fmod in the float64 emitter ``e`` (x, y already float64)."""
    ax, ay = e.fabs(x), e.fabs(y)
    inf = e.c(float("inf"))
    x_ok = e.cmp("<", ax, inf)                       # finite (false for NaN)
    y_ok = e.b.and_(e.cmp("<", ay, inf), e.cmp(">", ay, e.c(0.0)))
    steps = -(-_MAX_GAP[is64] // _STEP_BITS)
    r = _fmod_abs(e, e.sel(x_ok, ax, e.c(0.0)), e.sel(y_ok, ay, e.c(1.0)), steps)
    out = e.copysign(r, x)
    y_inf = e.cmp("==", ay, inf)
    nan = e.c(float("nan"))
    out = e.sel(y_ok, out, e.sel(y_inf, x, nan))     # fmod(x, +-inf) = x; fmod(x, 0) = NaN
    return e.sel(x_ok, out, nan)                      # fmod(+-inf or NaN, y) = NaN


def emit_fmod(builder, x, y):
    """C's fmod(x, y): the exact remainder with x's sign."""
    e = _Emitter(builder, x.type)
    w, xw, yw, back = _wide2(builder, x, y)
    return back(_fmod(w, xw, yw, e.fmt.is64))


def _divmod(builder, a, b):
    """numpy's npy_divmod: (floor quotient, remainder, b == 0) in a's precision."""
    e = _Emitter(builder, a.type)
    mod = emit_fmod(builder, a, b)
    zero = e.c(0.0)
    nonzero = e.ucmp("!=", mod, zero)                 # C's `if (mod)`: NaN counts as true
    signs_differ = e.b.xor(e.cmp("<", b, zero), e.cmp("<", mod, zero))
    adjust = e.b.and_(nonzero, signs_differ)
    div = e.div(e.sub(a, mod), b)
    div = e.sel(adjust, e.sub(div, e.c(1.0)), div)
    mod = e.sel(nonzero, e.sel(adjust, e.add(mod, b), mod), e.copysign(zero, b))
    floor = e.floor(div)
    floor = e.sel(e.cmp(">", e.sub(div, floor), e.c(0.5)), e.add(floor, e.c(1.0)), floor)
    quotient = e.sel(e.ucmp("!=", div, zero), floor, e.copysign(zero, e.div(a, b)))
    return e, quotient, mod, e.cmp("==", b, zero)


def emit_remainder(builder, a, b):
    """numpy.remainder / Python's %: the remainder with b's sign (NaN for b == 0)."""
    e, _, mod, by_zero = _divmod(builder, a, b)
    return e.sel(by_zero, e.c(float("nan")), mod)


def emit_floor_divide(builder, a, b):
    """numpy.floor_divide / Python's //: (a - remainder) / b, snapped to an integer; a / b
    for b == 0 (+-inf, or NaN for 0 / 0)."""
    e, quotient, _, by_zero = _divmod(builder, a, b)
    return e.sel(by_zero, e.div(a, b), quotient)


__all__ = ["emit_fmod", "emit_remainder", "emit_floor_divide"]
