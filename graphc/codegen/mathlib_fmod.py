"""Exact float remainders for mathlib (issue 15): fmod, numpy's remainder and floor_divide.

Same contract as graphc/codegen/mathlib.py: straight-line LLVM IR on a scalar or vector
float/double, selects instead of branches, no libm (LLVM's ``frem`` would call libm's
fmod, and NVPTX expands it inexactly).

fmod(x, y) is exact (as C's fmod). With r = |x| and d = |y|, each step subtracts
q * t, where t = d * 2^s is d shifted to 48 binary places below r's exponent and
q = rint(r / t) (|q| < 2^49; r times a reciprocal of t, within 0.125 of r / t). r - q*t
is a multiple of t's ulp no larger than 0.625 t, so it is representable and one FMA (or
mathlib's exact FMA emulation) computes it exactly; each step removes 48 bits of the
exponent gap between r and d, and ceil(max gap / 48) steps (6 for float32, computed in
float64; 44 for float64) reach |r| <= 0.625 d, a negative r then takes d once. Values
are scaled by 2^-200 / 2^200 when |r| is beyond 2^+-900, so t, its reciprocal and the
FMA emulation's splitting stay normal. Every step costs the same whatever the operands
(no branches), so float64 fmod is several times slower than libm's on typical operands;
float32 (6 steps) is about as fast as numpy's.

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


def _fmod_abs(e, r, d, steps):
    """|x| mod d for finite r = |x| >= 0 and finite d > 0 (float64 emitter), exact.

    d = md * 2^ed with md in [1, 2); a step's t = md * 2^et is built from bits and
    q = rint(r / t) is r times 1/t = (1/md) * 2^-et (relative error <= 2^-52, so q is
    within 0.625 of r / t for r / t < 2^49: no division in the loop). Values whose
    magnitude is beyond 2^+-900 are scaled by 2^-+200 first, so t, 1/t and the FMA
    emulation's splitting stay normal."""
    b = e.b
    i = lambda v: e.ci(v, e.ity)  # noqa: E731
    tiny_d = e.cmp("<", d, e.c(2.0 ** -1022))
    ed = _exponent_exact(e, d)
    md_bits = b.and_(e.to_int(e.sel(tiny_d, e.mul(d, e.c(2.0 ** 64)), d)), i((1 << 52) - 1))
    inv_md = e.div(e.c(1.0), e.to_float(b.or_(md_bits, i(1023 << 52))))
    for _ in range(steps):
        ar = e.fabs(r)
        er = _exponent_exact(e, ar)
        et = b.sub(er, i(_STEP_BITS))
        et = b.select(b.icmp_signed("<", et, ed), ed, et)
        beyond = b.icmp_signed(">", ed, er)              # d > |r|: nothing to subtract
        huge, tiny = e.cmp(">", ar, e.c(2.0 ** 900)), e.cmp("<", ar, e.c(2.0 ** -900))
        shift = b.select(huge, i(-200), b.select(tiny, i(200), i(0)))
        kt = b.add(b.select(beyond, er, et), shift)     # t's exponent after scaling: normal
        t = e.to_float(b.or_(b.shl(b.add(kt, i(1023)), i(52)), md_bits))
        rs = e.mul(r, _pow2(e, shift))
        q = e.rint(e.mul(rs, e.mul(inv_md, _pow2(e, b.sub(i(0), kt)))))
        q = e.sel(beyond, e.c(0.0), q)
        reduced = e.mul(e.fma(e.neg(q), t, rs), _pow2(e, b.sub(i(0), shift)))
        r = e.sel(e.cmp("==", q, e.c(0.0)), r, reduced)
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
