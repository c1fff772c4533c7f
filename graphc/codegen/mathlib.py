"""Vectorizable transcendental functions emitted as plain LLVM IR.

Every ``emit_*`` function takes an ``llvmlite.ir.IRBuilder`` and a ``float``,
``double``, ``<N x float>`` or ``<N x double>`` value and returns a value of
the same type.  The code is straight-line: special cases are handled with
``select`` instead of branches, so a scalar use inside a loop is widened by the
loop vectorizer and a vector argument works directly.

Only ordinary instructions (fadd/fmul/fdiv, bitcasts, integer shifts, fcmp,
select, fptosi/sitofp) and target-independent intrinsics that lower to single
instructions on CPUs with FMA and on NVPTX (``llvm.fma``, ``llvm.fabs``,
``llvm.rint``, ``llvm.floor``, ``llvm.copysign``, ``llvm.sqrt``) are used --
never libm or ``llvm.exp``/``llvm.log``, which become libm calls.

On a CPU *without* FMA hardware (e.g. an ``x86-64`` baseline export) LLVM would
lower ``llvm.fma`` to a call of ``fmaf``/``fma``, and without SSE4.1 ``llvm.rint`` /
``llvm.floor`` to ``rintf``/``floorf``.  The caller says what the target has with
``target_isa(fma=..., vector_round=...)`` (the CPU target passes its CPU model):
then multiply-adds whose rounding does not matter use ``llvm.fmuladd`` (a multiply
and an add there), the few that must be exact (residuals of a division, error-free
products) are computed exactly without FMA (float32 through a float64 product,
float64 with Dekker's product), and rint/floor use the 2^23 / 2^52 addition trick.
The emitted instructions
carry no fast-math flags: the algorithms rely on exact IEEE rounding (error-free
transforms, Cody-Waite reduction), so callers must not add ``reassoc``/``afn``.

Algorithms: Cody-Waite range reduction with minimax polynomials (exp/expm1,
coefficients fitted with a Remez exchange in mpmath), the fdlibm ``log``
reduction ``s = f/(2+f)``, and double-double ``log``/``exp`` kernels for pow.
float32 exp, tanh and sigmoid (the hot elementwise, softmax and RNN-gate functions)
share a shorter kernel, _exp32_reduce: n is rounded and converted by adding 1.5*2^23
(no rint/fptosi, SSE2 included), a degree-4 polynomial, and 2^n (1 + p) with one
multiply-add; it keeps the bounds (tests/test_mathlib.py) at about half the work.

Errors quoted in the docstrings are the maximum measured errors in ulps
against a high-precision reference (numpy float64 for float32 results, numpy
longdouble (x87 80-bit) for float64 results, mpmath for float64 erf) over
~7-13 million dense, log-spaced and random-bit inputs per function and dtype,
subnormals included; tests/test_mathlib.py repeats a smaller sweep.
"""

import contextvars
import math
import struct
from contextlib import contextmanager

from llvmlite import ir

__all__ = [
    "emit_exp", "emit_expm1", "emit_log", "emit_log1p", "emit_tanh",
    "emit_sigmoid", "emit_pow", "emit_sqrt", "emit_erf",
]


def _h(s):
    return float.fromhex(s)


def _f32(v):
    """Round a Python float to the nearest float32 value."""
    return struct.unpack("<f", struct.pack("<f", v))[0]


# (has hardware FMA, has vector rint/floor) of the target being emitted for.
_ISA = contextvars.ContextVar("graphc_mathlib_isa", default=(True, True))


@contextmanager
def target_isa(fma: bool = True, vector_round: bool = True):
    """Emit for a target with / without FMA and vector rounding instructions."""
    token = _ISA.set((bool(fma), bool(vector_round)))
    try:
        yield
    finally:
        _ISA.reset(token)


# Polynomial coefficients (lowest order first), written as hex so that the
# emitted constants are bit-exact.

# e^r = 1 + r + r^2 * Q(r),  |r| <= ln2/2;  weighted for the relative error of
# e^r - 1 so the same polynomial serves expm1.  Relative error 2^-28.8 / 2^-59.9.
_EXP_Q32 = [_h(s) for s in (
    "0x1.000000p-1", "0x1.555554p-3", "0x1.5554b2p-5", "0x1.11118ap-7",
    "0x1.6d71f4p-10", "0x1.a032bep-13")]
_EXP_Q64 = [_h(s) for s in (
    "0x1.0000000000000p-1", "0x1.5555555555559p-3", "0x1.555555555553fp-5",
    "0x1.111111110f6dbp-7", "0x1.6c16c16c1f070p-10", "0x1.a01a01afd353dp-13",
    "0x1.a01a017bc87e7p-16", "0x1.71ddf88046db8p-19", "0x1.27e536294ab8cp-22",
    "0x1.af5e72109d21ep-26", "0x1.1ee88a05bc703p-29")]

# log(1+f) = f - f^2/2 + s*(f^2/2 + R(z)), s = f/(2+f), z = s^2, R = z*P(z),
# |s| <= 0.1716 (fdlibm scheme, refitted).  Relative error 2^-31 / 2^-58.7.
_LOG_P32 = [_h(s) for s in (
    "0x1.555556p-1", "0x1.999a7ep-2", "0x1.24358cp-2", "0x1.e3af20p-3")]
_LOG_P64 = [_h(s) for s in (
    "0x1.555555555557cp-1", "0x1.99999999847dcp-2", "0x1.2492493fae42fp-2",
    "0x1.c71c52bde8694p-3", "0x1.746647f195c0ap-3", "0x1.399d2834e0757p-3",
    "0x1.2f50f7c31f241p-3")]

# Double-double log for pow: log(m) = 2s + 2/3 s^3 + s^5 T(s^2).  Rel. 2^-69.
_POW_T64 = [_h(s) for s in (
    "0x1.9999999999999p-2", "0x1.249249249279fp-2", "0x1.c71c71c6785e5p-3",
    "0x1.745d17c2d25d1p-3", "0x1.3b137e614d9ebp-3", "0x1.111cdaa76ddb2p-3",
    "0x1.dec43d0f2545cp-4", "0x1.e6b6973d4378cp-4")]

# tanh(x) = x + x^3 P(x^2) for |x| < 0.55.  Relative error 2^-27.6 / 2^-56.8.
_TANH_SMALL = 0.55
_TANH_P32 = [_h(s) for s in (
    "-0x1.55554cp-2", "0x1.110d5ap-3", "-0x1.b92712p-5", "0x1.58fa5ap-6",
    "-0x1.98de58p-8")]
_TANH_P64 = [_h(s) for s in (
    "-0x1.5555555555552p-2", "0x1.1111111110b01p-3", "-0x1.ba1ba1b9a2837p-5",
    "0x1.664f485f8efd2p-6", "-0x1.226e2fa42410fp-7", "0x1.d6d2aaea58127p-9",
    "-0x1.7d904a846b143p-10", "0x1.34856224ae995p-11", "-0x1.e96ed19cec1b1p-13",
    "0x1.5d44da0fde4fcp-14", "-0x1.463c8f4960c01p-16")]

_LN2 = math.log(2.0)
_LOG2E = 1.0 / _LN2


class _Fmt:
    """Constants of one IEEE binary format."""

    def __init__(self, is64):
        self.is64 = is64
        self.bits = 64 if is64 else 32
        self.mant = 52 if is64 else 23            # stored mantissa bits
        self.bias = 1023 if is64 else 127
        self.emax = 1023 if is64 else 127
        self.min_normal = 2.0 ** (1 - self.bias)
        self.one_bits = 0x3FF0000000000000 if is64 else 0x3F800000
        self.sqrt_half_bits = 0x3FE6A09E667F3BCD if is64 else 0x3F3504F3
        # Cody-Waite split of ln2: n*LN2_CW_HI is exact for the |n| that occur.
        self.ln2_cw_hi = _h("0x1.62e42fee00000p-1") if is64 else _h("0x1.62e4p-1")
        self.ln2_cw_lo = 1.9082149292705877e-10 if is64 else _f32(1.4286068203094173e-06)
        # Full-precision split, for use with a final fma.
        self.ln2_hi = self._round(_LN2)
        self.ln2_lo = 2.3190468138462996e-17 if is64 else _f32(_LN2 - self.ln2_hi)

    def _round(self, v):
        return v if self.is64 else _f32(v)


_FMT32 = _Fmt(False)
_FMT64 = _Fmt(True)


class _Emitter:
    """Thin helper over IRBuilder for one scalar-or-vector float type.

    Constants are splatted to the value's shape; intrinsics are declared on
    demand in the builder's module with the overloaded-name suffix.
    """

    def __init__(self, builder, ty):
        self.b = builder
        self.ty = ty
        self.lanes = ty.count if isinstance(ty, ir.VectorType) else None
        elem = ty.element if self.lanes else ty
        if isinstance(elem, ir.DoubleType):
            self.fmt = _FMT64
            self.suffix = "f64"
        elif isinstance(elem, ir.FloatType):
            self.fmt = _FMT32
            self.suffix = "f32"
        else:
            raise TypeError(f"mathlib: unsupported type {ty}")
        if self.lanes:
            self.suffix = f"v{self.lanes}{self.suffix}"
        self.elem = elem
        self.ity = self._shape(ir.IntType(self.fmt.bits))   # same-width ints
        self.i32 = self._shape(ir.IntType(32))
        self.has_fma, self.has_round = _ISA.get()

    def _shape(self, scalar):
        return ir.VectorType(scalar, self.lanes) if self.lanes else scalar

    # -- constants ---------------------------------------------------------
    def c(self, v):
        v = self.fmt._round(float(v))
        k = ir.Constant(self.elem, v)
        return ir.Constant(self.ty, [k] * self.lanes) if self.lanes else k

    def ci(self, v, ty):
        elem = ty.element if self.lanes else ty
        k = ir.Constant(elem, v)
        return ir.Constant(ty, [k] * self.lanes) if self.lanes else k

    # -- arithmetic --------------------------------------------------------
    def add(self, a, b):
        return self.b.fadd(a, b)

    def sub(self, a, b):
        return self.b.fsub(a, b)

    def mul(self, a, b):
        return self.b.fmul(a, b)

    def div(self, a, b):
        return self.b.fdiv(a, b)

    def neg(self, a):
        return self.b.fneg(a)

    def _intrinsic(self, name, *args):
        full = f"llvm.{name}.{self.suffix}"
        mod = self.b.module
        fn = mod.globals.get(full)
        if fn is None:
            fn = ir.Function(mod, ir.FunctionType(self.ty, [self.ty] * len(args)), full)
        return self.b.call(fn, list(args))

    def fma(self, a, b, c):
        """a*b + c rounded once (exact where the algorithm needs it): the FMA
        instruction, or an exact product (float64 for float32; Dekker for float64)
        plus one (float32: double) rounding where the CPU has no FMA."""
        if self.has_fma:
            return self._intrinsic("fma", a, b, c)
        if not self.fmt.is64:
            wide = ir.VectorType(ir.DoubleType(), self.lanes) if self.lanes else ir.DoubleType()
            ext = [self.b.fpext(v, wide) for v in (a, b, c)]
            return self.b.fptrunc(self.b.fadd(self.b.fmul(ext[0], ext[1]), ext[2]), self.ty)
        p = self.mul(a, b)
        perr = self._dekker_err(a, b, p)
        s, serr = _two_sum(self, p, c)
        return self.add(s, self.add(serr, perr))

    def madd(self, a, b, c):
        """a*b + c where one or two roundings are equally fine (polynomials, terms
        far below the result's ulp): FMA where the CPU has it, else multiply + add."""
        if self.has_fma:
            return self._intrinsic("fma", a, b, c)
        return self._intrinsic("fmuladd", a, b, c)

    def _dekker_err(self, a, b, p):
        """Exact a*b - p without FMA (Veltkamp splitting; |a|, |b| < 2^995)."""
        split = self.c(134217729.0 if self.fmt.is64 else 4097.0)

        def halves(v):
            t = self.mul(split, v)
            hi = self.sub(t, self.sub(t, v))
            return hi, self.sub(v, hi)

        ah, al = halves(a)
        bh, bl = halves(b)
        err = self.sub(self.mul(ah, bh), p)
        err = self.add(err, self.mul(ah, bl))
        err = self.add(err, self.mul(al, bh))
        err = self.add(err, self.mul(al, bl))
        # a split that overflows (|a| or |b| near the top of the range) makes the
        # error NaN; the product is then inf or huge and its error irrelevant
        return self.sel(self.isnan(err), self.c(0.0), err)

    def fabs(self, a):
        return self._intrinsic("fabs", a)

    def rint(self, a):
        if self.has_round:
            return self._intrinsic("rint", a)
        # |a| < 2^mant: adding and subtracting 2^mant (with a's sign) rounds to an
        # integer in the current (nearest-even) mode; larger |a| (and inf) are
        # integers already, NaN passes through the select; copysign keeps -0.
        big = self.c(2.0 ** self.fmt.mant)
        magic = self.copysign(big, a)
        r = self.sub(self.add(a, magic), magic)
        return self.copysign(self.sel(self.cmp("<", self.fabs(a), big), r, a), a)

    def floor(self, a):
        if self.has_round:
            return self._intrinsic("floor", a)
        r = self.rint(a)
        r = self.sel(self.cmp(">", r, a), self.sub(r, self.c(1.0)), r)
        return self.copysign(r, a)

    def copysign(self, mag, sgn):
        return self._intrinsic("copysign", mag, sgn)

    def sqrt(self, a):
        return self._intrinsic("sqrt", a)

    def poly(self, x, coeffs):
        """Horner evaluation with (fused where fast) multiply-adds; coeffs lowest order first."""
        acc = self.c(coeffs[-1])
        for k in reversed(coeffs[:-1]):
            acc = self.madd(acc, x, self.c(k))
        return acc

    # -- comparisons / selection ------------------------------------------
    def cmp(self, op, a, b):
        """Ordered compare (false if either side is NaN)."""
        return self.b.fcmp_ordered(op, a, b)

    def ucmp(self, op, a, b):
        """Unordered compare (true if either side is NaN)."""
        return self.b.fcmp_unordered(op, a, b)

    def isnan(self, a):
        return self.b.fcmp_unordered("uno", a, a)

    def sel(self, cond, a, b):
        return self.b.select(cond, a, b)

    def clamp(self, x, lo, hi):
        """Clamp with ordered compares so a NaN passes through unchanged."""
        x = self.sel(self.cmp(">", x, self.c(hi)), self.c(hi), x)
        return self.sel(self.cmp("<", x, self.c(lo)), self.c(lo), x)

    # -- bit-level helpers -------------------------------------------------
    def to_int(self, a):
        return self.b.bitcast(a, self.ity)

    def to_float(self, a):
        return self.b.bitcast(a, self.ty)

    def round_to_i32(self, nf):
        """Integral-valued float -> i32; NaN becomes 0 (fptosi of NaN is poison)."""
        safe = self.sel(self.isnan(nf), self.c(0.0), nf)
        return self.b.fptosi(safe, self.i32)

    def pow2(self, k):
        """2**k for i32 k in the normal exponent range, built from bits."""
        biased = self.b.add(k, self.ci(self.fmt.bias, self.i32))
        if self.fmt.is64:
            biased = self.b.sext(biased, self.ity)
        return self.to_float(self.b.shl(biased, self.ci(self.fmt.mant, self.ity)))


# ---------------------------------------------------------------------------
# error-free transforms and double-word arithmetic (hi + lo pairs)
# ---------------------------------------------------------------------------

def _two_prod(e, a, b):
    """a*b = p + err exactly (fma, or Dekker's product without it)."""
    p = e.mul(a, b)
    if not e.has_fma:
        return p, e._dekker_err(a, b, p)
    return p, e.fma(a, b, e.neg(p))


def _two_sum(e, a, b):
    """a+b = s + err exactly, any magnitudes (Knuth)."""
    s = e.add(a, b)
    bb = e.sub(s, a)
    err = e.add(e.sub(a, e.sub(s, bb)), e.sub(b, bb))
    return s, err


def _dd_add(e, ah, al, bh, bl):
    """Double-word sum, renormalised."""
    s, err = _two_sum(e, ah, bh)
    lo = e.add(err, e.add(al, bl))
    hi = e.add(s, lo)
    return hi, e.sub(lo, e.sub(hi, s))


def _dd_mul(e, ah, al, bh, bl):
    """Double-word product, renormalised."""
    p, err = _two_prod(e, ah, bh)
    err = e.add(err, e.fma(ah, bl, e.mul(al, bh)))
    hi = e.add(p, err)
    return hi, e.sub(err, e.sub(hi, p))


# ---------------------------------------------------------------------------
# exp / expm1
# ---------------------------------------------------------------------------

def _exp_reduce(e, x, lo, hi, xlo=None):
    """Clamp x to [lo, hi] and split x (+ xlo) = n*ln2 + r + rlo, |r| <= ln2/2.

    Returns (n as i32, r, pp) with pp = e^(r+rlo) - 1 - r.  The first
    Cody-Waite step is exact (n*LN2_CW_HI is exact and |r| < 0.5); rlo is the
    rounding error of the second, folded into pp, so callers can form
    2^n (1 + r + pp) with a single rounding.  NaN x gives NaN r.
    """
    f = e.fmt
    xc = e.clamp(x, lo, hi)
    nf = e.rint(e.mul(xc, e.c(_LOG2E)))
    r1 = e.madd(nf, e.c(-f.ln2_cw_hi), xc)       # exact either way (n*LN2_CW_HI is)
    r = e.madd(nf, e.c(-f.ln2_cw_lo), r1)
    rlo = e.madd(nf, e.c(-f.ln2_cw_lo), e.sub(r1, r))
    if xlo is not None:            # tiny low part of a double-word argument
        rlo = e.add(rlo, xlo)
    return e.round_to_i32(nf), r, _exp_tail(e, r, rlo)


def _exp_tail(e, r, rlo):
    """e^(r+rlo) - 1 - r = r^2 Q(r) + rlo e^r  (to first order in rlo)."""
    r2 = e.mul(r, r)
    q = e.poly(r, _EXP_Q64 if e.fmt.is64 else _EXP_Q32)
    e_r = e.add(e.add(e.c(1.0), r), e.mul(r2, q))
    return e.madd(r2, q, e.mul(rlo, e_r))


def _scale_1p(e, n, r, pp):
    """2^n * (1 + r + pp) with one rounding.

    1 + r is split exactly into hi + lo (Fast2Sum, |r| < 1); 2^n is applied
    in two halves so both factors are normal and a subnormal result is
    rounded once more at most (in the final multiply).
    """
    one = e.c(1.0)
    hi = e.add(one, r)
    lo = e.add(e.sub(r, e.sub(hi, one)), pp)
    n1 = e.b.ashr(n, e.ci(1, e.i32))
    s1 = e.pow2(n1)
    return e.mul(e.madd(s1, hi, e.mul(s1, lo)), e.pow2(e.b.sub(n, n1)))  # s1*hi is exact


def _exp(e, x, xlo=None):
    # Clamp bounds lie beyond the overflow/underflow thresholds, so clamped
    # inputs still give inf / 0.
    lo, hi = (-750.0, 710.0) if e.fmt.is64 else (-110.0, 89.0)
    n, r, pp = _exp_reduce(e, x, lo, hi, xlo)
    return _scale_1p(e, n, r, pp)


def _expm1(e, x, big=True):
    # expm1 = (2^n - 1) + 2^n r + 2^n pp.  2^n - 1 is formed with its exact
    # error (TwoSum) and 2^n r is exact; adding the two with Fast2Sum
    # (|2^n - 1| >= |2^n r| whenever n != 0) leaves a single rounding.
    # Below the lower clamp the result is -1 in both precisions.  With
    # big=True, n above emax is handled by an extra scale factor.
    f = e.fmt
    lo, hi = (-45.0, 710.0) if f.is64 else (-30.0, 89.0)
    n, r, pp = _exp_reduce(e, x, lo, hi)
    if big:
        emax = e.ci(f.emax, e.i32)
        n_lo = e.sel(e.b.icmp_signed(">", n, emax), emax, n)
        extra = e.pow2(e.b.sub(n, n_lo))
        n = n_lo
    s = e.pow2(n)
    a, aerr = _two_sum(e, s, e.c(-1.0))
    b = e.mul(s, r)
    t = e.add(a, b)
    terr = e.sub(b, e.sub(t, a))
    res = e.add(t, e.madd(s, pp, e.add(terr, aerr)))   # s*pp is exact (s = 2^n)
    if big:
        res = e.mul(res, extra)
    # keep the sign of -0.0
    return e.sel(e.cmp("==", x, e.c(0.0)), x, res)


# float32 exp kernel: e^r - 1 = r + r^2 Q(r), |r| <= ln2/2 (+2^-12).  Degree 4 is enough for
# float32 results: minimax for the error relative to e^r, 2^-28.3 with the coefficients
# rounded to float32 one at a time (each remaining one refitted).
_EXP_Q32_SHORT = [_h(s) for s in (
    "0x1.fffffcp-2", "0x1.555492p-3", "0x1.5558acp-5", "0x1.123974p-7", "0x1.6a504ap-10")]
# 1.5 * 2^23: v + _SHIFT32 (|v| < 2^22) rounds v to an integer n and leaves n in the low
# mantissa bits, so one (multiply-)add replaces rint + fptosi + a NaN guard.
_SHIFT32 = 12582912.0


def _exp32_reduce(e, xc, tail=True):
    """xc = n ln2 + r (|xc| < 2^21, NaN passes): returns (t, p), p = e^r - 1 and
    t = 1.5*2^23 + n (for _pow2_shifted).  Cody-Waite with the 16-bit LN2_CW_HI (exact
    with or without FMA).  tail=True adds r's rounding error (up to 2^-26, 0.18 ulp of
    the result) back into p: exp measured 1.01 ulp without it, 0.89 with it; tanh and
    sigmoid damp exp's error and stay within their bounds without it (3 fewer ops)."""
    f = e.fmt
    t = e.madd(xc, e.c(_LOG2E), e.c(_SHIFT32))
    nf = e.sub(t, e.c(_SHIFT32))
    r1 = e.madd(nf, e.c(-f.ln2_cw_hi), xc)               # exact
    r = e.madd(nf, e.c(-f.ln2_cw_lo), r1)
    if not tail:
        return t, e.madd(e.mul(r, r), e.poly(r, _EXP_Q32_SHORT), r)
    rlo = e.madd(nf, e.c(-f.ln2_cw_lo), e.sub(r1, r))     # r's rounding error
    return t, e.add(r, e.madd(e.mul(r, r), e.poly(r, _EXP_Q32_SHORT), rlo))


def _exp_field(e, k):
    """The bits of 2^k (i32 constant) for adding to _pow2_shifted."""
    return e.ci((k + e.fmt.bias) << e.fmt.mant, e.i32)


def _pow2_shifted(e, t, field):
    """2^(n + k) for t = 1.5*2^23 + n from _exp32_reduce and field = _exp_field(k) (or a
    select of such), n + k in the normal range: t's low bits shifted into the exponent
    (1.5*2^23's low 9 bits are zero, so the shift drops it).  A NaN t gives a defined
    value (the caller's result is NaN through p anyway)."""
    return e.to_float(e.b.add(e.b.shl(e.to_int(t), e.ci(e.fmt.mant, e.i32)), field))


def _exp32(e, x):
    """float32 e^x: one reduction, a degree-4 kernel and 2^n (1 + p) with one rounding
    (multiply-add), 2^n applied in two exact steps (2^(n-1) * 2 above 0, 2^(n+64) *
    2^-64 below) so that overflow and subnormal results need no separate path."""
    xc = e.clamp(x, -110.0, 89.0)          # beyond the limits: still inf / 0, n fits
    t, p = _exp32_reduce(e, xc)
    up = e.cmp(">", xc, e.c(0.0))
    s1 = _pow2_shifted(e, t, e.sel(up, _exp_field(e, -1), _exp_field(e, 64)))
    return e.mul(e.madd(p, s1, s1), e.sel(up, e.c(2.0), e.c(2.0 ** -64)))


def emit_exp(builder, x):
    """e**x.

    Measured max error: float32 0.89 ulp (_exp32: the short float32 kernel, about
    half the instructions of the general one), float64 0.75 ulp (0.58 for normal
    results; subnormal results are rounded twice).  Overflow gives +inf, exp(-inf) = 0.
    """
    e = _Emitter(builder, x.type)
    return _exp(e, x) if e.fmt.is64 else _exp32(e, x)


def emit_expm1(builder, x):
    """e**x - 1, accurate near 0 (used for elu/softplus).

    Measured max error: float32 0.84 ulp, float64 0.81 ulp.
    """
    return _expm1(_Emitter(builder, x.type), x)


# ---------------------------------------------------------------------------
# log / log1p
# ---------------------------------------------------------------------------

def _log_split(e, x, subnormals=True):
    """x = 2^k * m with m in [sqrt(1/2), sqrt(2)); returns (k as i32, m).

    The exponent is split off with integer arithmetic (musl style);
    subnormal x is first scaled by 2^(mant+2) so its bits are normalised.
    Only meaningful for finite x > 0.
    """
    f = e.fmt
    if subnormals:
        tiny = e.cmp("<", x, e.c(f.min_normal))
        sh = f.mant + 2
        x = e.sel(tiny, e.mul(x, e.c(2.0 ** sh)), x)
    ix = e.b.add(e.to_int(x), e.ci(f.one_bits - f.sqrt_half_bits, e.ity))
    k = e.b.sub(e.b.ashr(ix, e.ci(f.mant, e.ity)), e.ci(f.bias, e.ity))
    if f.is64:
        k = e.b.trunc(k, e.i32)
    if subnormals:
        k = e.b.sub(k, e.sel(tiny, e.ci(sh, e.i32), e.ci(0, e.i32)))
    mbits = e.b.add(e.b.and_(ix, e.ci((1 << f.mant) - 1, e.ity)),
                    e.ci(f.sqrt_half_bits, e.ity))
    return k, e.to_float(mbits)


def _log_kernel(e, kf, fm, corr=None):
    """k*ln2 + log(1+f) (+ corr), fdlibm: f - hfsq + s*(hfsq + R).

    The small terms are summed first and k*ln2 is added last with an fma so
    the dominant part is rounded only once.
    """
    f = e.fmt
    s = e.div(fm, e.add(e.c(2.0), fm))
    z = e.mul(s, s)
    R = e.mul(z, e.poly(z, _LOG_P64 if f.is64 else _LOG_P32))
    hfsq = e.mul(e.c(0.5), e.mul(fm, fm))
    lo = e.mul(kf, e.c(f.ln2_lo))
    if corr is not None:
        lo = e.add(lo, corr)
    t = e.fma(s, e.add(hfsq, R), lo)
    t = e.add(e.sub(t, hfsq), fm)
    return e.fma(kf, e.c(f.ln2_hi), t)


def _log(e, x):
    """log(x) for finite x > 0 (other inputs give garbage, never poison)."""
    k, m = _log_split(e, x)
    return _log_kernel(e, e.b.sitofp(k, e.ty), e.sub(m, e.c(1.0)))


def emit_log(builder, x):
    """Natural log.

    Measured max error: float32 0.82 ulp, float64 0.78 ulp.
    log(0) = -inf, log(x<0) = nan, log(inf) = inf, subnormal x handled.
    """
    e = _Emitter(builder, x.type)
    res = _log(e, x)
    res = e.sel(e.cmp("==", x, e.c(math.inf)), x, res)
    res = e.sel(e.cmp("==", x, e.c(0.0)), e.c(-math.inf), res)
    return e.sel(e.ucmp("<", x, e.c(0.0)), e.c(math.nan), res)


def emit_log1p(builder, x):
    """log(1 + x), accurate near 0 (used for softplus/log_sigmoid).

    u = 1 + x is rounded; the rounding error c = (1+x) - u is recovered exactly
    and added as c/u (fdlibm).  Measured max error: float32 0.80 ulp,
    float64 0.78 ulp.
    """
    e = _Emitter(builder, x.type)
    one = e.c(1.0)
    u = e.add(one, x)
    k, m = _log_split(e, u, subnormals=False)   # u is 0 or >= 2^-mant
    kf = e.b.sitofp(k, e.ty)
    c = e.sel(e.cmp(">=", u, e.c(2.0)),                # exact either way (Sterbenz)
              e.sub(one, e.sub(u, x)), e.sub(x, e.sub(u, one)))
    res = _log_kernel(e, kf, e.sub(m, one), corr=e.div(c, u))
    res = e.sel(e.cmp("==", x, e.c(math.inf)), x, res)
    res = e.sel(e.cmp("==", x, e.c(-1.0)), e.c(-math.inf), res)
    res = e.sel(e.ucmp("<", x, e.c(-1.0)), e.c(math.nan), res)
    return e.sel(e.cmp("==", x, e.c(0.0)), x, res)          # keeps -0.0


# ---------------------------------------------------------------------------
# tanh / sigmoid
# ---------------------------------------------------------------------------

def _div_1p(e, num, dh, dl):
    """num / (dh + dl) for a double-word divisor, using one division.

    q0 = num * (1/dh) is refined with its exact residual (fma), so the result
    is rounded essentially once even though dh alone is inexact.
    """
    inv = e.div(e.c(1.0), dh)
    q = e.mul(num, inv)
    rem = e.sub(e.fma(e.neg(q), dh, num), e.mul(q, dl))
    return e.madd(rem, inv, q)


def _tanh_fast32(e, x):
    """float32 tanh with one exp and one division (the hot path of RNNs and the
    elementwise benchmarks): the odd polynomial below 0.55, else 1 - 2/(exp(2|x|) + 1),
    whose result is >= 0.5 so the rounding of the small term costs < 1 ulp.  exp(2|x|)
    needs no tail term (its error reaches the result scaled by <= 3/8) and, as
    2|x| <= 20, a single power-of-two scaling."""
    ax = e.fabs(x)
    t = e.mul(ax, ax)
    small = e.madd(e.mul(ax, t), e.poly(t, _TANH_P32), ax)
    ten = e.c(10.0)                         # tanh rounds to 1 from 9.01; NaN passes
    tn, p = _exp32_reduce(e, e.mul(e.c(2.0), e.sel(e.cmp(">", ax, ten), ten, ax)), tail=False)
    s = _pow2_shifted(e, tn, _exp_field(e, 0))
    ex = e.madd(p, s, s)
    large = e.sub(e.c(1.0), e.div(e.c(2.0), e.add(ex, e.c(1.0))))
    mag = e.to_int(e.sel(e.cmp("<", ax, e.c(_TANH_SMALL)), small, large))
    # mag >= +0 (or NaN): or-ing in x's sign bit is copysign in two ops instead of three
    sign = e.b.and_(e.to_int(x), e.ci(-(1 << 31), e.ity))
    return e.to_float(e.b.or_(mag, sign))


def _sigmoid_fast32(e, x):
    """float32 sigmoid with one exp and one division: E = exp(-|x|) <= 1, then 1/(1+E)
    for x >= 0 and E/(1+E) below (no overflow, tiny results stay accurate).  The quotient
    must see 1 + E unrounded (its rounding alone would cost up to an ulp): with FMA it
    gets one residual correction, without FMA it is taken in float64 (1 + E to 2^-53),
    so its error is E's plus about half an ulp.  E needs no tail term."""
    one = e.c(1.0)
    lo = e.c(-110.0)                        # E rounds to 0 from -103.98; NaN passes
    v = e.neg(e.fabs(x))
    tn, p = _exp32_reduce(e, e.sel(e.cmp("<", v, lo), lo, v), tail=False)
    s = _pow2_shifted(e, tn, _exp_field(e, 64))     # n + 64 >= -95: normal
    E = e.mul(e.madd(p, s, s), e.c(2.0 ** -64))     # subnormal E rounded a second time
    pos = e.cmp(">=", x, e.c(0.0))
    if not e.has_fma:
        wide = ir.VectorType(ir.DoubleType(), e.lanes) if e.lanes else ir.DoubleType()
        E64 = e.b.fpext(E, wide)
        one64 = ir.Constant(wide, [ir.Constant(ir.DoubleType(), 1.0)] * e.lanes) \
            if e.lanes else ir.Constant(wide, 1.0)
        q = e.b.fdiv(e.sel(pos, one64, E64), e.b.fadd(one64, E64))
        return e.b.fptrunc(q, e.ty)
    d = e.add(one, E)
    dl = e.sub(E, e.sub(d, one))                 # 1 + E = d + dl exactly (Fast2Sum, E <= 1)
    inv = e.div(one, d)
    num = e.sel(pos, one, E)
    q = e.mul(num, inv)
    rem = e.fma(e.neg(q), dl, e.fma(e.neg(q), d, num))   # num - q (d + dl), nearly exact
    return e.madd(rem, inv, q)


def emit_tanh(builder, x):
    """tanh(x).

    |x| < 0.55: odd minimax polynomial; otherwise e/(e+2) with
    e = expm1(2|x|) (no cancellation; |x| clamped at 20 where tanh
    rounds to 1), divided with a one-division refinement: measured max
    error 0.75 ulp (float64). float32 uses the cheaper _tanh_fast32 (one exp,
    one division; measured 1.46 ulp, every float32 in [0.5, 2) checked), the hot
    path of RNNs.
    """
    e = _Emitter(builder, x.type)
    f = e.fmt
    if not f.is64:
        return _tanh_fast32(e, x)
    ax = e.fabs(x)
    t = e.mul(ax, ax)
    small = e.fma(e.mul(ax, t), e.poly(t, _TANH_P64 if f.is64 else _TANH_P32), ax)
    big_x = 20.0 if f.is64 else 10.0
    em = _expm1(e, e.mul(e.c(2.0), e.clamp(ax, 0.0, big_x)), big=False)
    two = e.c(2.0)
    d = e.add(em, two)                                 # Fast2Sum: em >= 2 here
    large = _div_1p(e, em, d, e.sub(two, e.sub(d, em)))
    return e.copysign(e.sel(e.cmp("<", ax, e.c(_TANH_SMALL)), small, large), x)


def emit_sigmoid(builder, x):
    """1 / (1 + exp(-x)) without overflow.

    With E = exp(-|x|) <= 1 kept as a double word Eh + El: x >= 0 -> 1/(1+E),
    x < 0 -> E/(1+E); large negative x gives tiny (even subnormal) results
    directly.  Measured max error 0.75 ulp (float64). float32 uses the
    cheaper _sigmoid_fast32 (one exp, one division; measured 1.48 ulp over every
    float32 in [-8, -2), where the previous form measured 1.475: rounding E to float32
    costs up to an ulp of the quotient there).
    """
    e = _Emitter(builder, x.type)
    f = e.fmt
    if not f.is64:
        return _sigmoid_fast32(e, x)
    one = e.c(1.0)
    n, r, pp = _exp_reduce(e, e.neg(e.fabs(x)), -750.0 if f.is64 else -110.0, 0.0)
    # E = 2^n (1 + r + pp) as Eh + El (cf. _scale_1p; 2^n2 is exact here
    # except for subnormal E, where El no longer matters)
    hi = e.add(one, r)
    lo = e.add(e.sub(r, e.sub(hi, one)), pp)
    n1 = e.b.ashr(n, e.ci(1, e.i32))
    s1, s2 = e.pow2(n1), e.pow2(e.b.sub(n, n1))
    m = e.fma(s1, hi, e.mul(s1, lo))
    m_lo = e.fma(s1, lo, e.fma(s1, hi, e.neg(m)))
    Eh, El = e.mul(m, s2), e.mul(m_lo, s2)
    pos = e.cmp(">=", x, e.c(0.0))
    nh = e.sel(pos, one, Eh)
    nl = e.sel(pos, e.c(0.0), El)
    dh = e.add(one, Eh)                                # Fast2Sum: Eh <= 1
    dl = e.add(e.sub(Eh, e.sub(dh, one)), El)
    inv = e.div(one, dh)
    q = e.mul(nh, inv)
    rem = e.add(e.sub(e.fma(e.neg(q), dh, nh), e.mul(q, dl)), nl)
    return e.fma(rem, inv, q)


# ---------------------------------------------------------------------------
# pow
# ---------------------------------------------------------------------------

def _log_dd(e, ax):
    """log(ax) as a double-double (hi, lo), relative error ~2^-64.

    Meaningful for finite ax > 0 (other lanes get garbage that the caller
    replaces).  s = (m-1)/(m+1) is formed in double-double,
    log m = 2s + 2/3 s^3 + s^5 T(s^2) with the first two terms in
    double-double, then k*ln2 (double-double) is added.
    """
    k, m = _log_split(e, ax)
    kf = e.b.sitofp(k, e.ty)
    one = e.c(1.0)
    fm = e.sub(m, one)                                  # exact
    dh = e.add(one, m)                                  # Fast2Sum (1 >= m/2)
    dl = e.sub(m, e.sub(dh, one))
    inv = e.div(one, dh)                                # the only division
    sh = e.mul(fm, inv)
    rem = e.fma(e.neg(sh), dh, fm)                      # ~exact residual
    rem = e.fma(e.neg(sh), dl, rem)
    sl = e.mul(rem, inv)
    x2h, x2l = _dd_mul(e, sh, sl, sh, sl)
    s3h, s3l = _dd_mul(e, x2h, x2l, sh, sl)
    t2h, t2l = _dd_mul(e, s3h, s3l, e.c(2.0 / 3.0), e.c(3.700743415417188e-17))
    tail = e.mul(e.mul(s3h, x2h), e.poly(x2h, _POW_T64))
    # 2s + t2 + tail
    lh, ll = _dd_add(e, e.mul(e.c(2.0), sh), e.mul(e.c(2.0), sl), t2h, e.add(t2l, tail))
    # + k*ln2
    kh, kl = _two_prod(e, kf, e.c(_FMT64.ln2_hi))
    kl = e.fma(kf, e.c(_FMT64.ln2_lo), kl)
    return _dd_add(e, kh, kl, lh, ll)


def _exp_dd(e, zh, zl):
    """exp(zh + zl) for a double-double argument (float64 only).

    r = zh - n*ln2 is exact with one fma (|r| < 0.5 and both are multiples of
    2^-54); the low parts are folded in to first order.
    """
    f = e.fmt
    zc = e.clamp(zh, -750.0, 710.0)
    zl = e.sel(e.cmp("==", zc, zh), zl, e.c(0.0))
    nf = e.rint(e.mul(zc, e.c(_LOG2E)))
    a = e.fma(nf, e.c(-f.ln2_hi), zc)
    rl = e.fma(nf, e.c(-f.ln2_lo), zl)
    return _scale_1p(e, e.round_to_i32(nf), a, _exp_tail(e, a, rl))


def _pow_specials(e, x, y, mag):
    """Apply signs and the C99/numpy special cases to mag = |x|**y.

    mag may be garbage where x is 0, inf or nan; those lanes are replaced.
    """
    b = e.b
    ax = e.fabs(x)
    inf = e.c(math.inf)
    one = e.c(1.0)
    yint = e.cmp("==", e.floor(y), y)                   # true for +-inf
    half = e.mul(y, e.c(0.5))
    yodd = b.and_(yint, e.cmp("!=", e.floor(half), half))
    xneg = e.cmp("<", x, e.c(0.0))
    res = e.sel(b.and_(xneg, yodd), e.neg(mag), mag)
    res = e.sel(b.and_(xneg, b.not_(yint)), e.c(math.nan), res)
    # x = +-0 or +-inf
    zero_or_inf = b.or_(e.cmp("==", ax, e.c(0.0)), e.cmp("==", ax, inf))
    huge = b.xor(e.cmp("==", ax, inf), e.cmp("<", y, e.c(0.0)))
    zres = e.sel(huge, inf, e.c(0.0))
    zres = e.sel(yodd, e.copysign(zres, x), zres)
    res = e.sel(zero_or_inf, zres, res)
    # y = +-inf
    ires = e.sel(b.icmp_unsigned("==", e.cmp(">", ax, one), e.cmp(">", y, e.c(0.0))),
                 inf, e.c(0.0))
    ires = e.sel(e.cmp("==", ax, one), one, ires)
    res = e.sel(e.cmp("==", e.fabs(y), inf), ires, res)
    res = e.sel(e.ucmp("uno", x, y), e.c(math.nan), res)
    return e.sel(b.or_(e.cmp("==", y, e.c(0.0)), e.cmp("==", x, one)), one, res)


def emit_pow(builder, x, y):
    """x**y with numpy/C99 semantics.

    pow(x, +-0) = 1 and pow(1, y) = 1 even for nan; x < 0 with non-integer y
    is nan; odd integer y keeps the sign of x; +-0 and +-inf bases and +-inf
    exponents follow C99 Annex F.  float64 uses a double-double log and exp
    (SLEEF-style); float32 uses plain float64 log/exp and rounds once.
    Measured max error: float32 0.50 ulp, float64 0.75 ulp.
    """
    e = _Emitter(builder, x.type)
    if e.fmt.is64:
        # |x|**y = exp(y log|x|) with log|x| and the product in double-double
        lh, ll = _log_dd(e, e.fabs(x))
        zh, zl = _two_prod(e, y, lh)
        mag = _exp_dd(e, zh, e.fma(y, ll, zl))
        return _pow_specials(e, x, y, mag)
    # float32: |y log|x|| < 2^7 when the result is finite, so plain float64
    # log and exp are accurate to ~2^-45 and one final rounding suffices.
    dty = ir.VectorType(ir.DoubleType(), e.lanes) if e.lanes else ir.DoubleType()
    e64 = _Emitter(builder, dty)
    x64, y64 = builder.fpext(x, dty), builder.fpext(y, dty)
    mag = _exp(e64, e64.mul(y64, _log(e64, e64.fabs(x64))))
    return builder.fptrunc(_pow_specials(e64, x64, y64, mag), x.type)


# ---------------------------------------------------------------------------
# sqrt / erf
# ---------------------------------------------------------------------------

def emit_sqrt(builder, x):
    """Correctly rounded sqrt (llvm.sqrt is an instruction on CPU and PTX; 0.5 ulp)."""
    return _Emitter(builder, x.type).sqrt(x)


# erf(x) = x (2/sqrt(pi) + t P(t)), t = x^2, |x| < 0.84375 (fitted on |x| < 1).
# Relative 2^-28.6 / 2^-61.7.
_ERF_SMALL = 0.84375
_ERF_C0 = {False: (_h("0x1.20dd76p+0"), _h("-0x1.f7ac92p-25")),
           True: (_h("0x1.20dd750429b6dp+0"), 1.533545961316588e-17)}
_ERF_S32 = [_h(s) for s in (
    "-0x1.812742p-2", "0x1.ce2d98p-4", "-0x1.b800cap-6",
    "0x1.542f82p-8", "-0x1.a4bb2ap-11", "0x1.4a99c8p-14")]
_ERF_S64 = [_h(s) for s in (
    "-0x1.812746b0379e7p-2", "0x1.ce2f21a042b8bp-4", "-0x1.b82ce31286434p-6",
    "0x1.565bcd0de731ep-8", "-0x1.c02db3e14beb7p-11", "0x1.f9a3226ecb67bp-14",
    "-0x1.f4d1ec206a9fcp-17", "0x1.b9df7a7206f7cp-20", "-0x1.5f20e7968d0aap-23",
    "0x1.f7c3c0857d84cp-27", "-0x1.38b69f38d9987p-30", "0x1.0611b73d3af60p-34")]
# erfc(x) = exp(-x^2) R(x) for 0.84375 <= x <= XMAX, R a polynomial in x - mid on
# each interval: (lower bound, mid, coefficients).  float32: one interval
# (rel. 2^-26.2); float64: four (rel. 2^-54.6 .. 2^-42.7, enough because
# erfc itself shrinks fast relative to ulp(1)).
_ERF_L32 = [(0.84375, 2.421875, [_h(s) for s in (
    "0x1.bbf25ep-3", "-0x1.411b60p-4", "0x1.b8d994p-6",
    "-0x1.210096p-7", "0x1.6b9538p-9", "-0x1.b836d4p-11",
    "0x1.020516p-12", "-0x1.29d4a0p-14", "0x1.458ee2p-16",
    "-0x1.273eaap-18", "0x1.45471ap-20", "-0x1.32612ep-21",
    "0x1.1f2decp-23")])]
_ERF_L64 = [
    (0.84375, 1.171875, [_h(s) for s in (
        "0x1.8a0c9d6c1656dp-2", "-0x1.cfd08636a4ff9p-3", "0x1.e921bb20466a6p-4",
        "-0x1.d89206d9f4a8dp-5", "0x1.a8785639a914ap-6", "-0x1.662c06ed47d5fp-7",
        "0x1.1e23626daededp-8", "-0x1.b3753dbce86ecp-10", "0x1.3d2074980a926p-11",
        "-0x1.bbcf2c4506f57p-13", "0x1.2b3443b1490cdp-14", "-0x1.864714643d488p-16",
        "0x1.fea0134655dfcp-18", "-0x1.372c8c5e6b380p-19")]),
    (1.5, 1.875, [_h(s) for s in (
        "0x1.13e5743b60481p-2", "-0x1.e36580c7f734ap-4", "0x1.8a6efeed231abp-5",
        "-0x1.2ef92f6f10948p-6", "0x1.b99589d48189bp-8", "-0x1.33237c3ed8060p-9",
        "0x1.99b60daa427ddp-11", "-0x1.070e0ca2a3887p-12", "0x1.463225883ad78p-14",
        "-0x1.87a655e9f31c8p-16", "0x1.c81a49113118ap-18", "-0x1.026da4b038eeap-19",
        "0x1.276f5365f8644p-21", "-0x1.3c80b05f10638p-23")]),
    (2.25, 2.875, [_h(s) for s in (
        "0x1.7d0a5e9dd5717p-3", "-0x1.dfc0205709b0ep-5", "0x1.21c23afa305adp-6",
        "-0x1.512f92fca8defp-8", "0x1.7b404aad9dd3cp-10", "-0x1.9d6f2228912fdp-12",
        "0x1.b5d782c8cfeabp-14", "-0x1.c35c6155939adp-16", "0x1.c5b85e63b8c3bp-18",
        "-0x1.bd6115d650597p-20", "0x1.aa9c9a5d9f96dp-22", "-0x1.9116707a26069p-24",
        "0x1.8c552ea16b4e9p-26", "-0x1.63b0a9f50e5ddp-28")]),
    (3.5, 4.75, [_h(s) for s in (
        "0x1.dc603a3e78348p-4", "-0x1.81149bc4a0a04p-6", "0x1.317c144e65451p-8",
        "-0x1.dc1af88370c66p-11", "0x1.6cc10d8e77b1fp-13", "-0x1.12f174c77ae50p-15",
        "0x1.98180c77e4ad8p-18", "-0x1.2a62013726c00p-20", "0x1.ae489919a0448p-23",
        "-0x1.31dadb4cf4312p-25", "0x1.a83c623bce773p-28", "-0x1.26356e959b139p-30",
        "0x1.db0b276305902p-33", "-0x1.3e48a27f1204dp-35")]),
]


def _piecewise_poly(e, x, pieces):
    """Evaluate the polynomial of the interval containing x, per lane.

    Each coefficient (and the centre) is chosen with a chain of selects, so
    the code stays branch-free and vectorizes; one Horner pass follows.
    """
    def pick(values):
        v = e.c(values[0])
        for (lo, _, _), val in zip(pieces[1:], values[1:]):
            v = e.sel(e.cmp(">=", x, e.c(lo)), e.c(val), v)
        return v

    mid = pick([p[1] for p in pieces])
    coeffs = [pick([p[2][j] for p in pieces]) for j in range(len(pieces[0][2]))]
    u = e.sub(x, mid)
    acc = coeffs[-1]
    for c in reversed(coeffs[:-1]):
        acc = e.fma(acc, u, c)
    return acc


def emit_erf(builder, x):
    """Error function.

    |x| < 0.84375: x (2/sqrt(pi) + x^2 P(x^2)); otherwise 1 - exp(-x^2) R(|x|)
    with x^2 split exactly (hi + lo) and fed to exp as a double word; |x| is
    clamped where erf rounds to 1.  Measured max error: float32 0.97 ulp, float64
    0.96 ulp (vs mpmath), both just around |x| = 0.84375.
    """
    e = _Emitter(builder, x.type)
    f = e.fmt
    ax = e.fabs(x)
    t = e.mul(ax, ax)
    c0h, c0l = _ERF_C0[f.is64]
    tail = e.fma(t, e.poly(t, _ERF_S64 if f.is64 else _ERF_S32), e.c(c0l))
    # tiny |x|: work on |x| * 2^K so that |x| * tail does not underflow
    K = 512 if f.is64 else 64
    tiny = e.cmp("<", ax, e.c(2.0 ** -K))
    axs = e.mul(ax, e.sel(tiny, e.c(2.0 ** K), e.c(1.0)))
    small = e.fma(axs, e.c(c0h), e.mul(axs, tail))
    small = e.mul(small, e.sel(tiny, e.c(2.0 ** -K), e.c(1.0)))
    xc = e.clamp(ax, _ERF_SMALL, 6.0 if f.is64 else 4.0)
    R = _piecewise_poly(e, xc, _ERF_L64 if f.is64 else _ERF_L32)
    hi, lo = _two_prod(e, xc, xc)
    E = _exp(e, e.neg(hi), e.neg(lo))                  # exp(-x^2), x^2 exact
    large = e.fma(e.neg(E), R, e.c(1.0))
    return e.copysign(e.sel(e.cmp("<", ax, e.c(_ERF_SMALL)), small, large), x)



def __getattr__(name):
    """The trigonometric, hyperbolic, exp2/log2/log10 and rounding emitters (issue 15) live
    in mathlib_trig.py, the float remainders in mathlib_fmod.py; targets look emitters up here by name (``emit_sin``), so they are
    found here too (imported on first use: mathlib_trig itself imports this module)."""
    if name.startswith("emit_"):
        from . import mathlib_fmod, mathlib_trig

        for module in (mathlib_trig, mathlib_fmod):
            fn = getattr(module, name, None)
            if fn is not None:
                return fn
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
