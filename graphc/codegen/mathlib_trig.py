"""Trigonometric, hyperbolic, base-2/10 and rounding functions for mathlib (issue 15).

Same contract as graphc/codegen/mathlib.py (which re-exports these ``emit_*``): straight-
line LLVM IR on a scalar or vector float/double value, selects instead of branches, no
libm calls (so the loop vectorizer widens them and they run on NVPTX too).

float32 is computed in float64 and rounded once: the float64 algorithms below have
errors far below a float32 ulp, so float32 results are within ~0.5 ulp (correctly
rounded except in rare double-rounding cases), at half the vector width.

Algorithms (fdlibm's, made branch-free):

- sin/cos/tan: the argument is reduced by pi/2 into a double-double (hi, lo) fed to
  fdlibm's ``__kernel_sin``/``__kernel_cos`` polynomials, the quadrant from n mod 4 (as a
  float, so huge n cannot overflow an integer); tan = sin/cos of the reduced argument.
  For |x| < 2^28 the reduction is Cody-Waite with pi/2 in 25-bit parts (n*P1, n*P2, n*P3
  exact); above, Payne-Hanek with 2/pi's digits from a constant table (the twelve exact
  partial products reduced mod 4 and summed exactly), so sin(1e300) is as accurate as
  sin(1). Both are computed for every element (no branches), which costs about 40% of
  sin's time.
- atan: fdlibm's five intervals (selected, not branched) and its degree-11 polynomial;
  atan2 from atan(|y|/|x|) with the C99/numpy signed-zero and infinity cases; asin(x) =
  atan2(x, sqrt((1-x)(1+x))), acos(x) = atan2(sqrt((1-x)(1+x)), x).
- sinh/cosh from expm1/exp (fdlibm forms; exp(|x|/2)^2/2 near overflow), asinh/acosh/
  atanh from log1p/log (fdlibm forms).
- exp2 = pow(2, x) (mathlib's double-double pow); log2/log10: the double-double log of
  pow times a double-double 1/ln2 (1/ln10).
- floor/ceil/trunc/rint: the target's rounding instructions, or mathlib's exact
  addition trick where the CPU has none (no libm floorf/rintf calls on SSE2).

Measured maximum errors (400,000 points per function and dtype; tests/test_ops_extra.py
repeats a smaller sweep with these bounds plus margin): float64 against numpy's
longdouble: sin/cos 0.78 ulp (|x| < 1e5), tan 2.0, atan 0.75, atan2 1.5, asin/acos 2.1,
sinh 2.1, cosh 1.1, asinh 1.6, acosh 1.1, atanh 1.6, exp2 0.58, log2/log10 0.5;
float32 (against float64 numpy): 0.5 ulp for every function.
"""
from __future__ import annotations

import math

from llvmlite import ir

from .mathlib import _Emitter, _dd_mul, _log_dd, _two_sum, emit_exp, emit_expm1, emit_log, emit_log1p, emit_pow


def _h(s):
    return float.fromhex(s)


# pi/2 in 25-bit parts (n * part exact for |n| < 2^28), and the tail
_PIO2_1, _PIO2_2, _PIO2_3 = _h("0x1.921fb50000000p+0"), _h("0x1.110b460000000p-26"), _h("0x1.1a62630000000p-54")
_PIO2_4 = _h("0x1.8a2e03707344ap-81")
_TWO_OVER_PI = _h("0x1.45f306dc9c883p-1")
_PI_HI, _PI_LO = _h("0x1.921fb54442d18p+1"), _h("0x1.1a62633145c07p-53")
_PIO2_HI, _PIO2_LO = _h("0x1.921fb54442d18p+0"), _h("0x1.1a62633145c07p-54")
_PIO4 = _h("0x1.921fb54442d18p-1")
_INVLN2 = (_h("0x1.71547652b82fep+0"), _h("0x1.777d0ffda0d24p-56"))
_INVLN10 = (_h("0x1.bcb7b1526e50ep-2"), _h("0x1.95355baaafad3p-57"))

# fdlibm __kernel_sin / __kernel_cos / atan coefficients
_S = (-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
      2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10)
_C = (4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
      -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11)
_AT = (3.33333333333329318027e-01, -1.99999999998764832476e-01, 1.42857142725034663711e-01,
       -1.11111104054623557880e-01, 9.09088713343650656196e-02, -7.69187620504482999495e-02,
       6.66107313738753120669e-02, -5.83357013379057348645e-02, 4.97687799461593236017e-02,
       -3.65315727442169155270e-02, 1.62858201153657823623e-02)
_ATAN_HI = (4.63647609000806093515e-01, 7.85398163397448278999e-01, 9.82793723247329054082e-01,
            1.57079632679489655800e+00)
_ATAN_LO = (2.26987774529616870924e-17, 3.06161699786838301793e-17, 1.39033110312309984516e-17,
            6.12323399573676603587e-17)


def _wide(builder, x):
    """(float64 emitter, x in float64, rounding back to x's type): float32 computes in
    float64 and rounds once."""
    e = _Emitter(builder, x.type)
    if e.fmt.is64:
        return e, x, lambda v: v
    dty = ir.VectorType(ir.DoubleType(), e.lanes) if e.lanes else ir.DoubleType()
    return _Emitter(builder, dty), builder.fpext(x, dty), lambda v: builder.fptrunc(v, x.type)


def _wide2(builder, x, y):
    e, xw, back = _wide(builder, x)
    yw = y if e.ty == y.type else builder.fpext(y, e.ty)
    return e, xw, yw, back


# -- sin / cos / tan -----------------------------------------------------------------------

def _two_over_pi_chunks(count=50):
    """2/pi's binary digits after the point in 24-bit integers (fdlibm's ipio2 table:
    0xA2F983, 0x6E4E44, ...), computed exactly with Python integers (Machin's formula)."""
    prec = 24 * count + 64

    def arctan_inv(k):  # atan(1/k) * 2**prec
        total, power, n, sign = 0, (1 << prec) // k, 1, 1
        while power:
            total += sign * (power // n)
            power //= k * k
            n, sign = n + 2, -sign
        return total

    pi = 16 * arctan_inv(5) - 4 * arctan_inv(239)
    two_over_pi = (2 << (2 * prec)) // pi
    return [(two_over_pi >> (prec - 24 * (j + 1))) & 0xFFFFFF for j in range(count)]


_CHUNKS = _two_over_pi_chunks()
_BIG = 2.0 ** 28   # below: Cody-Waite (n * part exact for |n| < 2^28); above: Payne-Hanek


def _chunk_table(e):
    """The chunks as a constant double array in the module (global address space on NVPTX)."""
    mod = e.b.module
    name = "graphc_two_over_pi_chunks"
    g = mod.globals.get(name)
    if g is None:
        ty = ir.ArrayType(ir.DoubleType(), len(_CHUNKS))
        space = 1 if "nvptx" in (getattr(mod, "triple", "") or "") else 0
        g = ir.GlobalVariable(mod, ty, name=name, addrspace=space)
        g.linkage = "internal"
        g.global_constant = True
        g.initializer = ir.Constant(ty, [float(c) for c in _CHUNKS])
    return g


def _load_chunk(e, table, index):
    """table[index] per lane (index: i64 scalar or vector)."""
    b = e.b
    zero = ir.Constant(ir.IntType(64), 0)
    if not e.lanes:
        return b.load(b.gep(table, [zero, index], inbounds=True))
    out = ir.Constant(e.ty, ir.Undefined)
    for k in range(e.lanes):
        lane = ir.Constant(ir.IntType(32), k)
        v = b.load(b.gep(table, [zero, b.extract_element(index, lane)], inbounds=True))
        out = b.insert_element(out, v, lane)
    return out


def _reduce_big(e, ax):
    """Payne-Hanek: ax * 2/pi mod 4 for finite ax >= 2^28, from the 2/pi digits at ax's
    exponent. ax = M 2^(E-52); M = Mh 2^26 + Ml; each Mh*chunk and Ml*chunk (< 2^51) is exact
    and so is its reduction mod 4; the twelve reduced terms are summed exactly (two_sum,
    mod 4 after each step). Returns (q, hi, lo) as _reduce_pio2."""
    b = e.b
    i64 = e.ity
    ci = lambda v: e.ci(v, i64)  # noqa: E731
    bits = e.to_int(ax)
    E = b.sub(b.and_(b.lshr(bits, ci(52)), ci(0x7FF)), ci(1023))
    M = b.or_(b.and_(bits, ci((1 << 52) - 1)), ci(1 << 52))
    mh = b.sitofp(b.lshr(M, ci(26)), e.ty)
    ml = b.sitofp(b.and_(M, ci((1 << 26) - 1)), e.ty)
    over = b.sub(E, ci(54))
    over = b.select(b.icmp_signed("<", over, ci(0)), ci(0), over)
    j0 = b.udiv(over, ci(24))
    last = ci(len(_CHUNKS) - 6)
    j0 = b.select(b.icmp_signed(">", j0, last), last, j0)
    table = _chunk_table(e)

    def mod4(v):
        return e.sub(v, e.mul(e.c(4.0), e.floor(e.mul(v, e.c(0.25)))))

    def pow2(k64):  # 2**k for a normal-range i64 exponent
        return e.to_float(b.shl(b.add(k64, ci(1023)), ci(52)))

    acc, lo = e.c(0.0), e.c(0.0)
    for k in range(6):
        j = b.add(j0, ci(k))
        c = _load_chunk(e, table, j)
        scale = b.sub(b.sub(E, ci(52)), b.mul(b.add(j, ci(1)), ci(24)))
        for t in (e.mul(e.mul(mh, c), pow2(b.add(scale, ci(26)))), e.mul(e.mul(ml, c), pow2(scale))):
            acc, err = _two_sum(e, acc, mod4(t))
            lo = e.add(lo, err)
            acc = mod4(acc)
    n = e.rint(acc)
    fh, fl = _two_sum(e, e.sub(acc, n), lo)
    hi, lo = _dd_mul(e, fh, fl, e.c(_PIO2_HI), e.c(_PIO2_LO))
    return mod4(n), hi, lo


def _reduce_pio2(e, x):
    """x = n*pi/2 + (hi + lo), |hi| <= ~pi/4; returns (q = n mod 4 as a float, hi, lo)."""
    qs, his, los = _reduce_small(e, x)
    ax = e.fabs(x)
    big = e.cmp(">=", ax, e.c(_BIG))        # (false for NaN: the small path gives NaN)
    finite_big = e.b.and_(big, e.cmp("<", ax, e.c(math.inf)))
    qb, hib, lob = _reduce_big(e, e.sel(finite_big, ax, e.c(_BIG)))
    neg = e.cmp("<", x, e.c(0.0))          # sin(-a) = -sin(a): negate r and mirror q
    qb = e.sel(neg, e.sub(e.c(3.0), e.sub(qb, e.c(1.0))), qb)
    qb = e.sel(e.cmp("==", qb, e.c(4.0)), e.c(0.0), qb)
    hib, lob = e.sel(neg, e.neg(hib), hib), e.sel(neg, e.neg(lob), lob)
    return (e.sel(finite_big, qb, qs), e.sel(finite_big, hib, his), e.sel(finite_big, lob, los))


def _reduce_small(e, x):
    """Cody-Waite for |x| < 2^28: exact products n*P1, n*P2, n*P3."""
    n = e.rint(e.mul(x, e.c(_TWO_OVER_PI)))
    a = e.sub(x, e.mul(n, e.c(_PIO2_1)))                   # exact
    s, err = _two_sum(e, a, e.neg(e.mul(n, e.c(_PIO2_2))))
    s2, err2 = _two_sum(e, s, e.neg(e.mul(n, e.c(_PIO2_3))))
    lo = e.sub(e.add(err, err2), e.mul(n, e.c(_PIO2_4)))
    hi = e.add(s2, lo)
    lo = e.sub(lo, e.sub(hi, s2))
    q = e.sub(n, e.mul(e.c(4.0), e.floor(e.mul(n, e.c(0.25)))))
    return q, hi, lo


def _k_sin(e, x, y):
    z = e.mul(x, x)
    v = e.mul(z, x)
    r = e.poly(z, _S[1:])
    # x - ((z*(0.5*y - v*r) - y) - v*S1)
    inner = e.sub(e.mul(z, e.sub(e.mul(e.c(0.5), y), e.mul(v, r))), y)
    return e.sub(x, e.sub(inner, e.mul(v, e.c(_S[0]))))


def _k_cos(e, x, y):
    z = e.mul(x, x)
    w = e.mul(z, z)
    r = e.add(e.mul(z, e.poly(z, _C[:3])), e.mul(e.mul(w, w), e.poly(z, _C[3:])))
    hz = e.mul(e.c(0.5), z)
    w = e.sub(e.c(1.0), hz)
    return e.add(w, e.add(e.sub(e.sub(e.c(1.0), w), hz), e.sub(e.mul(z, r), e.mul(x, y))))


def _quadrant(e, q, a0, a1, a2, a3):
    """a0 .. a3 selected by the quadrant q in {0, 1, 2, 3} (NaN q: a3, itself NaN)."""
    r = e.sel(e.cmp("==", q, e.c(2.0)), a2, a3)
    r = e.sel(e.cmp("==", q, e.c(1.0)), a1, r)
    return e.sel(e.cmp("==", q, e.c(0.0)), a0, r)


def emit_sin(builder, x):
    """sin(x); sin(-0.0) = -0.0, sin(+-inf) = nan."""
    e, xw, back = _wide(builder, x)
    q, hi, lo = _reduce_pio2(e, xw)
    s, c = _k_sin(e, hi, lo), _k_cos(e, hi, lo)
    r = _quadrant(e, q, s, c, e.neg(s), e.neg(c))
    return back(e.sel(e.cmp("==", xw, e.c(0.0)), xw, r))


def emit_cos(builder, x):
    """cos(x); cos(+-inf) = nan."""
    e, xw, back = _wide(builder, x)
    q, hi, lo = _reduce_pio2(e, xw)
    s, c = _k_sin(e, hi, lo), _k_cos(e, hi, lo)
    return back(_quadrant(e, q, c, e.neg(s), e.neg(c), s))


def emit_tan(builder, x):
    """tan(x) = sin/cos of the reduced argument; tan(-0.0) = -0.0."""
    e, xw, back = _wide(builder, x)
    q, hi, lo = _reduce_pio2(e, xw)
    s, c = _k_sin(e, hi, lo), _k_cos(e, hi, lo)
    odd = e.b.or_(e.cmp("==", q, e.c(1.0)), e.cmp("==", q, e.c(3.0)))
    r = e.sel(odd, e.neg(e.div(c, s)), e.div(s, c))
    return back(e.sel(e.cmp("==", xw, e.c(0.0)), xw, r))


# -- atan / atan2 / asin / acos ------------------------------------------------------------------

def _atan_abs(e, ax):
    """atan(ax) for ax >= 0 or NaN (fdlibm's intervals as selects)."""
    one, two = e.c(1.0), e.c(2.0)
    t0 = e.div(e.sub(e.mul(two, ax), one), e.add(two, ax))          # [7/16, 11/16)
    t1 = e.div(e.sub(ax, one), e.add(ax, one))                       # [11/16, 19/16)
    t2 = e.div(e.sub(ax, e.c(1.5)), e.add(one, e.mul(e.c(1.5), ax)))  # [19/16, 39/16)
    t3 = e.div(e.c(-1.0), ax)                                        # >= 39/16
    ge = [e.cmp(">=", ax, e.c(v)) for v in (7 / 16, 11 / 16, 19 / 16, 39 / 16)]
    t, hi, lo = ax, e.c(0.0), e.c(0.0)
    for k, tk in enumerate((t0, t1, t2, t3)):
        t = e.sel(ge[k], tk, t)
        hi = e.sel(ge[k], e.c(_ATAN_HI[k]), hi)
        lo = e.sel(ge[k], e.c(_ATAN_LO[k]), lo)
    z = e.mul(t, t)
    w = e.mul(z, z)
    s1 = e.mul(z, e.poly(w, _AT[0::2]))
    s2 = e.mul(w, e.poly(w, _AT[1::2]))
    ts = e.mul(t, e.add(s1, s2))
    reduced = e.sub(hi, e.sub(e.sub(ts, lo), t))
    return e.sel(ge[0], reduced, e.sub(t, ts))


def emit_atan(builder, x):
    """atan(x); atan(+-inf) = +-pi/2, keeps -0.0."""
    e, xw, back = _wide(builder, x)
    return back(e.copysign(_atan_abs(e, e.fabs(xw)), xw))


def _atan2(e, y, x):
    ax, ay = e.fabs(x), e.fabs(y)
    a = _atan_abs(e, e.div(ay, ax))
    zero, inf = e.c(0.0), e.c(math.inf)
    both_zero = e.b.and_(e.cmp("==", ax, zero), e.cmp("==", ay, zero))
    both_inf = e.b.and_(e.cmp("==", ax, inf), e.cmp("==", ay, inf))
    a = e.sel(both_zero, zero, a)
    a = e.sel(both_inf, e.c(_PIO4), a)
    # x < 0, or x = -0.0 with y = +-0 (atan2(+-0, -0) = +-pi; atan2(y, -0) = +-pi/2 otherwise)
    sign_bit = e.b.icmp_signed("<", e.to_int(x), e.ci(0, e.ity))
    x_negative = e.b.or_(e.cmp("<", x, zero), e.b.and_(both_zero, sign_bit))
    r = e.sel(x_negative, e.sub(e.c(_PI_HI), e.sub(a, e.c(_PI_LO))), a)
    r = e.sel(e.ucmp("uno", x, y), e.c(math.nan), r)
    return e.copysign(r, y)


def emit_atan2(builder, y, x):
    """atan2(y, x) with numpy's (C99's) signed zeros and infinities."""
    e, yw, xw, back = _wide2(builder, y, x)
    return back(_atan2(e, yw, xw))


def _one_minus_sq_sqrt(e, x):
    return e.sqrt(e.mul(e.sub(e.c(1.0), x), e.add(e.c(1.0), x)))


def emit_asin(builder, x):
    """asin(x) = atan2(x, sqrt((1-x)(1+x))); nan outside [-1, 1]."""
    e, xw, back = _wide(builder, x)
    return back(_atan2(e, xw, _one_minus_sq_sqrt(e, xw)))


def emit_acos(builder, x):
    """acos(x) = atan2(sqrt((1-x)(1+x)), x); nan outside [-1, 1]."""
    e, xw, back = _wide(builder, x)
    return back(_atan2(e, _one_minus_sq_sqrt(e, xw), xw))


# -- hyperbolic ----------------------------------------------------------------------------------

def emit_sinh(builder, x):
    """sinh(x): (t + t/(t+1))/2 with t = expm1(|x|); exp(|x|/2)^2/2 near overflow."""
    e, xw, back = _wide(builder, x)
    ax = e.fabs(xw)
    t = emit_expm1(builder, ax)
    small = e.mul(e.c(0.5), e.add(t, e.div(t, e.add(t, e.c(1.0)))))
    w = emit_exp(builder, e.mul(e.c(0.5), ax))
    big = e.mul(e.mul(e.c(0.5), w), w)
    r = e.sel(e.cmp(">", ax, e.c(700.0)), big, small)
    return back(e.copysign(r, xw))


def emit_cosh(builder, x):
    """cosh(x): 1 + t^2/(2(1+t)) (t = expm1|x|) for |x| < ln2/2, (E + 1/E)/2 above,
    exp(|x|/2)^2/2 near overflow."""
    e, xw, back = _wide(builder, x)
    ax = e.fabs(xw)
    one, half = e.c(1.0), e.c(0.5)
    t = emit_expm1(builder, ax)
    tiny = e.add(one, e.div(e.mul(t, t), e.mul(e.c(2.0), e.add(one, t))))
    E = emit_exp(builder, ax)
    mid = e.add(e.mul(half, E), e.div(half, E))
    w = emit_exp(builder, e.mul(half, ax))
    big = e.mul(e.mul(half, w), w)
    r = e.sel(e.cmp(">", ax, e.c(700.0)), big, mid)
    return back(e.sel(e.cmp("<", ax, e.c(0.5 * math.log(2.0))), tiny, r))


def emit_asinh(builder, x):
    """asinh(x) = sign(x) log1p(|x| + x^2/(1 + sqrt(1 + x^2))); log|x| + ln2 for |x| > 2^28;
    log(2|x| + 1/(sqrt(x^2+1) + |x|)) for |x| > 2."""
    e, xw, back = _wide(builder, x)
    ax = e.fabs(xw)
    one = e.c(1.0)
    x2 = e.mul(ax, ax)
    root = e.sqrt(e.add(one, x2))
    small = emit_log1p(builder, e.add(ax, e.div(x2, e.add(one, root))))
    mid = emit_log(builder, e.add(e.mul(e.c(2.0), ax), e.div(one, e.add(root, ax))))
    big = e.add(emit_log(builder, ax), e.c(math.log(2.0)))
    r = e.sel(e.cmp(">", ax, e.c(2.0 ** 28)), big, e.sel(e.cmp(">", ax, e.c(2.0)), mid, small))
    return back(e.copysign(r, xw))


def emit_acosh(builder, x):
    """acosh(x): log1p(t + sqrt(2t + t^2)) (t = x-1) for x < 2, log(2x - 1/(x + sqrt(x^2-1)))
    above, log x + ln2 beyond 2^28; nan below 1."""
    e, xw, back = _wide(builder, x)
    one = e.c(1.0)
    t = e.sub(xw, one)
    small = emit_log1p(builder, e.add(t, e.sqrt(e.add(e.mul(e.c(2.0), t), e.mul(t, t)))))
    mid = emit_log(builder, e.sub(e.mul(e.c(2.0), xw), e.div(one, e.add(xw, e.sqrt(e.sub(e.mul(xw, xw), one))))))
    big = e.add(emit_log(builder, xw), e.c(math.log(2.0)))
    r = e.sel(e.cmp(">", xw, e.c(2.0 ** 28)), big, e.sel(e.cmp(">=", xw, e.c(2.0)), mid, small))
    return back(e.sel(e.ucmp("<", xw, one), e.c(math.nan), r))


def emit_atanh(builder, x):
    """atanh(x) = sign(x)/2 log1p(2|x| + 2x^2/(1-|x|)) below 0.5, log1p(2|x|/(1-|x|))/2
    above; +-inf at +-1, nan beyond."""
    e, xw, back = _wide(builder, x)
    ax = e.fabs(xw)
    one, two, half = e.c(1.0), e.c(2.0), e.c(0.5)
    small = e.mul(half, emit_log1p(builder, e.add(e.mul(two, ax), e.div(e.mul(two, e.mul(ax, ax)),
                                                                         e.sub(one, ax)))))
    big = e.mul(half, emit_log1p(builder, e.div(e.mul(two, ax), e.sub(one, ax))))
    r = e.sel(e.cmp("<", ax, half), small, big)
    r = e.sel(e.cmp("==", ax, one), e.c(math.inf), r)
    r = e.sel(e.ucmp(">", ax, one), e.c(math.nan), r)
    return back(e.copysign(r, xw))


# -- exp2 / log2 / log10 -------------------------------------------------------------------------

def emit_exp2(builder, x):
    """2**x (mathlib's pow with base 2: exact powers of two for integral x)."""
    e = _Emitter(builder, x.type)
    return emit_pow(builder, e.c(2.0), x)


def _log_scaled(builder, x, scale):
    e, xw, back = _wide(builder, x)
    hi, lo = _log_dd(e, xw)
    r, _ = _dd_mul(e, hi, lo, e.c(scale[0]), e.c(scale[1]))
    r = e.sel(e.cmp("==", xw, e.c(math.inf)), xw, r)
    r = e.sel(e.cmp("==", xw, e.c(0.0)), e.c(-math.inf), r)
    r = e.sel(e.ucmp("<", xw, e.c(0.0)), e.c(math.nan), r)
    return back(r)


def emit_log2(builder, x):
    """log2(x): exact for powers of two; -inf at 0, nan below."""
    return _log_scaled(builder, x, _INVLN2)


def emit_log10(builder, x):
    """log10(x); -inf at 0, nan below."""
    return _log_scaled(builder, x, _INVLN10)


# -- rounding ------------------------------------------------------------------------------------

def emit_floor(builder, x):
    return _Emitter(builder, x.type).floor(x)


def emit_ceil(builder, x):
    e = _Emitter(builder, x.type)
    return e.neg(e.floor(e.neg(x)))


def emit_trunc(builder, x):
    e = _Emitter(builder, x.type)
    return e.copysign(e.floor(e.fabs(x)), x)


def emit_rint(builder, x):
    """Round half to even (numpy.round / numpy.rint)."""
    return _Emitter(builder, x.type).rint(x)
