"""More elementwise math (issue 15): trigonometric, hyperbolic, exp2/log2/log10, erf,
rounding, integer division/remainder and bit operations, plus composites (clip, sign,
reciprocal, rsqrt, isnan/isinf/isfinite, nan_to_num).

Each primitive is registered once with its shape rule, numpy reference, scalar lowering
and gradient (graphc/ops/elementwise.py's helpers). Transcendentals lower through the
vectorized math library (graphc/codegen/mathlib_trig.py: no libm calls, the same code on
CPU and PTX), whose error bounds are stated there. Composites are built from existing
ops, so they fuse and differentiate on their own.

Division follows numpy: ``floor_divide`` rounds toward -inf and ``remainder``
(= ``mod``) takes the divisor's sign; ``fmod`` takes the dividend's. For integers,
dividing by zero gives 0 (numpy also gives 0, with a RuntimeWarning) and
``INT_MIN // -1`` wraps, as in numpy, instead of trapping. For floats the three ops
lower to mathlib's exact fmod and numpy's npy_divmod (graphc/codegen/mathlib_fmod.py);
dividing by zero gives NaN (remainder, fmod) or a / b (floor_divide), as numpy.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import DTypeError, user_source_line
from ..ir import TensorType
from ..tracing import Tensor, bind
from .common import broadcast_index, broadcast_shapes, cast_to, dtype_of, promote, read_broadcast, same_dtype
from .elementwise import (_binary, _unary, _unbroadcast, absolute, add, divide, equal, exp, greater, less,
                          logical_not, maximum, minimum, multiply, negative, not_equal, sqrt,
                          square, subtract, where)
from .registry import defop


def _one(x):
    return cast_to(1, dtype_of(x))


def _math(fname):
    return lambda kb, a: kb.math(fname, a)


# -- transcendental primitives --------------------------------------------------------------

_LN2, _LN10 = float(np.log(2.0)), float(np.log(10.0))

_unary("sin", np.sin, _math("sin"), float_only=True,
       vjp=lambda g, ins, out, a: [multiply(g, cos(ins[0]))])
_unary("cos", np.cos, _math("cos"), float_only=True,
       vjp=lambda g, ins, out, a: [negative(multiply(g, sin(ins[0])))])
_unary("tan", np.tan, _math("tan"), float_only=True,
       vjp=lambda g, ins, out, a: [multiply(g, add(_one(out), square(out)))])
_unary("arcsin", np.arcsin, _math("asin"), float_only=True,
       vjp=lambda g, ins, out, a: [divide(g, sqrt(subtract(_one(ins[0]), square(ins[0]))))])
_unary("arccos", np.arccos, _math("acos"), float_only=True,
       vjp=lambda g, ins, out, a: [negative(divide(g, sqrt(subtract(_one(ins[0]), square(ins[0])))))])
_unary("arctan", np.arctan, _math("atan"), float_only=True,
       vjp=lambda g, ins, out, a: [divide(g, add(_one(ins[0]), square(ins[0])))])
_unary("sinh", np.sinh, _math("sinh"), float_only=True,
       vjp=lambda g, ins, out, a: [multiply(g, cosh(ins[0]))])
_unary("cosh", np.cosh, _math("cosh"), float_only=True,
       vjp=lambda g, ins, out, a: [multiply(g, sinh(ins[0]))])
_unary("arcsinh", np.arcsinh, _math("asinh"), float_only=True,
       vjp=lambda g, ins, out, a: [divide(g, sqrt(add(square(ins[0]), _one(ins[0]))))])
_unary("arccosh", np.arccosh, _math("acosh"), float_only=True,
       vjp=lambda g, ins, out, a: [divide(g, sqrt(subtract(square(ins[0]), _one(ins[0]))))])
_unary("arctanh", np.arctanh, _math("atanh"), float_only=True,
       vjp=lambda g, ins, out, a: [divide(g, subtract(_one(ins[0]), square(ins[0])))])
_unary("exp2", np.exp2, _math("exp2"), float_only=True,
       vjp=lambda g, ins, out, a: [multiply(g, multiply(out, cast_to(_LN2, dtype_of(out))))])
_unary("log2", np.log2, _math("log2"), float_only=True,
       vjp=lambda g, ins, out, a: [divide(g, multiply(ins[0], cast_to(_LN2, dtype_of(ins[0]))))])
_unary("log10", np.log10, _math("log10"), float_only=True,
       vjp=lambda g, ins, out, a: [divide(g, multiply(ins[0], cast_to(_LN10, dtype_of(ins[0]))))])


def _erf_reference(x):
    import math

    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype) if x.size else x.copy()


_unary("erf", _erf_reference, _math("erf"), float_only=True,
       vjp=lambda g, ins, out, a: [multiply(g, multiply(cast_to(2 / np.sqrt(np.pi), dtype_of(out)),
                                                         exp(negative(square(ins[0])))))])


def _atan2_vjp(g, ins, out, attrs):
    y, x = ins
    denom = add(square(x), square(y))
    return [_unbroadcast(divide(multiply(g, x), denom), y), _unbroadcast(negative(divide(multiply(g, y), denom)), x)]


_binary("arctan2", np.arctan2, lambda kb, a, b: kb.math("atan2", a, b), float_only=True, vjp=_atan2_vjp)

# rounding: piecewise constant, so the gradient is zero (None: nothing flows back)
for _name, _np, _fname in [("floor", np.floor, "floor"), ("ceil", np.ceil, "ceil"),
                           ("trunc", np.trunc, "trunc"), ("rint", np.rint, "rint")]:
    _unary(_name, _np, _math(_fname), float_only=True, vjp=lambda g, ins, out, a: [None])


# -- division, remainders and bit operations --------------------------------------------------------

_FLOAT_DIVISION = ("floor_divide", "remainder", "fmod")   # also defined on floats


def _int_infer(name):
    def infer(types, attrs):
        dt = same_dtype(types)
        if not (dtypes.is_int(dt) or (name in _FLOAT_DIVISION and dtypes.is_float(dt))):
            kinds = "integer or float" if name in _FLOAT_DIVISION else "integer"
            raise DTypeError(f"{name} takes {kinds} operands, got {dt}")
        return TensorType(broadcast_shapes(*[t.shape for t in types]), dt)
    return infer


def _int_emit(kind):
    def emit(kb, node, idx):
        shape = node.type.shape
        a = read_broadcast(kb, node.inputs[0], shape, idx)
        b = read_broadcast(kb, node.inputs[1], shape, idx)
        if dtypes.is_float(node.type.dtype):
            return kb.math(kind, a, b)   # mathlib_fmod: exact, no libm
        return _INT_EMIT[kind](kb, a, b)
    emit.input_indices = lambda kb, node, idx: [broadcast_index(kb, i, node.type.shape, idx) for i in node.inputs]
    return emit


def _safe_divisor(kb, a, b):
    """b with 0 and -1 replaced by 1 (sdiv/srem by 0 trap and INT_MIN / -1 overflows);
    the callers select numpy's results for those lanes."""
    zero, one, minus1 = kb.const(0, b.dtype), kb.const(1, b.dtype), kb.const(-1, b.dtype)
    bad = kb.logical("or", kb.cmp("==", b, zero), kb.cmp("==", b, minus1))
    return kb.select(bad, one, b), kb.cmp("==", b, zero), kb.cmp("==", b, minus1)


def _floor_divide_emit(kb, a, b):
    d, is_zero, is_m1 = _safe_divisor(kb, a, b)
    q = kb._op(a.dtype, lambda bl, x, y: bl.sdiv(x, y), a, d)
    r = kb._op(a.dtype, lambda bl, x, y: bl.srem(x, y), a, d)
    zero = kb.const(0, a.dtype)
    # truncated -> floored: one less when the remainder is nonzero and signs differ
    adjust = kb.logical("and", kb.cmp("!=", r, zero), kb.logical("xor", kb.cmp("<", r, zero), kb.cmp("<", d, zero)))
    q = kb.select(adjust, kb.sub(q, kb.const(1, a.dtype)), q)
    q = kb.select(is_m1, kb.neg(a), q)
    return kb.select(is_zero, zero, q)


def _remainder_emit(kb, a, b):
    d, is_zero, is_m1 = _safe_divisor(kb, a, b)
    r = kb._op(a.dtype, lambda bl, x, y: bl.srem(x, y), a, d)
    zero = kb.const(0, a.dtype)
    adjust = kb.logical("and", kb.cmp("!=", r, zero), kb.logical("xor", kb.cmp("<", r, zero), kb.cmp("<", d, zero)))
    r = kb.select(adjust, kb.add(r, d), r)
    return kb.select(kb.logical("or", is_zero, is_m1), zero, r)


def _fmod_emit(kb, a, b):
    d, is_zero, is_m1 = _safe_divisor(kb, a, b)
    r = kb._op(a.dtype, lambda bl, x, y: bl.srem(x, y), a, d)
    return kb.select(kb.logical("or", is_zero, is_m1), kb.const(0, a.dtype), r)


def _shift_emit(left):
    def emit(kb, a, b):
        bits = kb.const(np.dtype(a.dtype).itemsize * 8, b.dtype)
        zero = kb.const(0, a.dtype)
        out_of_range = kb.logical("or", kb.cmp(">=", b, bits), kb.cmp("<", b, kb.const(0, b.dtype)))
        safe = kb.select(out_of_range, kb.const(0, b.dtype), b)
        if left:
            r = kb._op(a.dtype, lambda bl, x, y: bl.shl(x, y), a, safe)
            return kb.select(out_of_range, zero, r)
        r = kb._op(a.dtype, lambda bl, x, y: bl.ashr(x, y), a, safe)
        # numpy: shifting right by >= the width gives 0, or -1 for negative values
        return kb.select(out_of_range, kb.select(kb.cmp("<", a, zero), kb.const(-1, a.dtype), zero), r)
    return emit


def _np_int_division(fn):
    def impl(x, y):
        with np.errstate(all="ignore"):
            safe = np.where((y == 0) | (y == -1), 1, y).astype(y.dtype)
            r = fn(x, safe)
            if fn is np.floor_divide:
                r = np.where(y == -1, (-x.astype(np.int64)).astype(x.dtype) if x.dtype == np.int32 else -x, r)
            return np.where(y == 0, 0, np.where((y == -1) & (fn is not np.floor_divide), 0, r)).astype(x.dtype)
    return impl


def _np_shift(left):
    def impl(x, y):
        bits = x.dtype.itemsize * 8
        out = (y >= bits) | (y < 0)
        safe = np.where(out, 0, y).astype(x.dtype)
        r = np.left_shift(x, safe) if left else np.right_shift(x, safe)
        fill = np.zeros_like(x) if left else np.where(x < 0, -1, 0).astype(x.dtype)
        return np.where(out, fill, r).astype(x.dtype)
    return impl


def _int8_in_int32(emit):
    """int8 division computed in int32 and truncated (the same results: the quotient and
    remainder of int8 values fit int8, INT8_MIN // -1 wraps as numpy's). LLVM vectorizes an
    i8 division through a constant pool that llvmlite's JIT memory manager rejects."""
    def wrapped(kb, a, b):
        if a.dtype != "int8":
            return emit(kb, a, b)
        return kb.cast(emit(kb, kb.cast(a, "int32"), kb.cast(b, "int32")), "int8")
    return wrapped


_INT_EMIT = {
    "floor_divide": _int8_in_int32(_floor_divide_emit), "remainder": _int8_in_int32(_remainder_emit),
    "fmod": _int8_in_int32(_fmod_emit),
    "bitwise_and": lambda kb, a, b: kb.bitwise("and", a, b), "bitwise_or": lambda kb, a, b: kb.bitwise("or", a, b),
    "bitwise_xor": lambda kb, a, b: kb.bitwise("xor", a, b),
    "left_shift": _shift_emit(True), "right_shift": _shift_emit(False),
}
_INT_REF = {
    "floor_divide": _np_int_division(np.floor_divide), "remainder": _np_int_division(np.remainder),
    "fmod": _np_int_division(np.fmod), "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor, "left_shift": _np_shift(True), "right_shift": _np_shift(False),
}

_FLOAT_REF = {"floor_divide": np.floor_divide, "remainder": np.remainder, "fmod": np.fmod}


def _reference(name):
    def impl(attrs, x, y):
        if name in _FLOAT_REF and x.dtype.kind == "f":
            with np.errstate(all="ignore"):
                return np.asarray(_FLOAT_REF[name](x, y))
        return np.asarray(_INT_REF[name](x, y))
    return impl


def _division_vjp(name):
    """remainder: a - b*floor(a/b), so d/da = 1 and d/db = -floor(a/b); fmod likewise with
    trunc; floor_divide is piecewise constant (zero gradient). Integers: none."""
    def vjp(g, ins, out, attrs):
        a, b = ins
        if name == "floor_divide" or not dtypes.is_float(dtype_of(a)):
            return [None, None]
        rounding = floor if name == "remainder" else trunc
        return [_unbroadcast(g, a), _unbroadcast(negative(multiply(g, rounding(divide(a, b)))), b)]
    return vjp


for _name in _INT_EMIT:
    defop(_name, "elementwise", _int_infer(_name), _reference(_name), emit=_int_emit(_name), vjp=_division_vjp(_name))


def _int_binary(name):
    def fn(x, y):
        dt, (a, b) = promote(x, y)
        if dt == "bool" and name.startswith("bitwise"):
            return {"bitwise_and": lambda: bind("logical_and", [a, b]),
                    "bitwise_or": lambda: bind("logical_or", [a, b]),
                    "bitwise_xor": lambda: not_equal(a, b)}[name]()
        if not (dtypes.is_int(dt) or (name in _FLOAT_DIVISION and dtypes.is_float(dt))):
            kinds = "integer or float" if name in _FLOAT_DIVISION else "integer"
            raise DTypeError(f"{name}: graphc supports {kinds} operands only, got {dt}"
                             f"\n  at {user_source_line()}")
        return bind(name, [a, b])
    fn.__name__ = name
    fn.__doc__ = _DIVISION_AND_BIT_DOCS[name]
    return fn


_DIVISION_AND_BIT_DOCS = {
    "floor_divide": "numpy.floor_divide (``//``): the quotient rounded toward -inf, for integers and floats.",
    "remainder": "numpy.remainder (``%``, ``mod``): x - floor(x / y) * y, with the divisor's sign.",
    "fmod": "numpy.fmod (C's fmod): the exact remainder of the truncated quotient, with the dividend's sign.",
    "bitwise_and": "numpy.bitwise_and (``&``) of integers; logical AND for bools.",
    "bitwise_or": "numpy.bitwise_or (``|``) of integers; logical OR for bools.",
    "bitwise_xor": "numpy.bitwise_xor (``^``) of integers; logical XOR for bools.",
    "left_shift": "numpy.left_shift (``<<``) of integers: 0 for shifts outside [0, bit width).",
    "right_shift": "numpy.right_shift (``>>``, arithmetic) of integers: 0 or -1 for shifts outside [0, bit width).",
}


floor_divide = _int_binary("floor_divide")
remainder = _int_binary("remainder")
mod = remainder
fmod = _int_binary("fmod")
bitwise_and = _int_binary("bitwise_and")
bitwise_or = _int_binary("bitwise_or")
bitwise_xor = _int_binary("bitwise_xor")
left_shift = _int_binary("left_shift")
right_shift = _int_binary("right_shift")


def bitwise_not(x):
    """numpy.bitwise_not / invert: ~x (x ^ -1 for integers, logical not for bools)."""
    if dtype_of(x) == "bool":
        return logical_not(x)
    return bitwise_xor(x, cast_to(-1, dtype_of(x)))


invert = bitwise_not


# -- user-facing functions -------------------------------------------------------------------------

def _float_unary(opname):
    def fn(x):
        _, (a,) = promote(x, float_only=True)
        return bind(opname, [a])
    fn.__name__ = opname
    fn.__doc__ = f"numpy.{opname} (integers and bools computed in float64/float32, as numpy)."
    return fn


sin, cos, tan = _float_unary("sin"), _float_unary("cos"), _float_unary("tan")
arcsin, arccos, arctan = _float_unary("arcsin"), _float_unary("arccos"), _float_unary("arctan")
sinh, cosh = _float_unary("sinh"), _float_unary("cosh")
arcsinh, arccosh, arctanh = _float_unary("arcsinh"), _float_unary("arccosh"), _float_unary("arctanh")
exp2, log2, log10 = _float_unary("exp2"), _float_unary("log2"), _float_unary("log10")
erf = _float_unary("erf")


def arctan2(y, x):
    """numpy.arctan2(y, x): the angle of (x, y), with C99's signed zeros and infinities."""
    _, (a, b) = promote(y, x, float_only=True)
    return bind("arctan2", [a, b])


def _rounding(opname):
    def fn(x):
        if not dtypes.is_float(dtype_of(x)) and not isinstance(x, float):
            return x  # integers and bools are integral already (numpy returns them unchanged)
        _, (a,) = promote(x, float_only=True)
        return bind(opname, [a])
    fn.__name__ = opname
    fn.__doc__ = f"numpy.{opname} (zero gradient)."
    return fn


floor, ceil, trunc, rint = _rounding("floor"), _rounding("ceil"), _rounding("trunc"), _rounding("rint")
fix = trunc


def round(x, decimals=0):  # noqa: A001 - numpy's name
    """numpy.round: half to even; ``decimals`` != 0 scales by 10**decimals (as numpy)."""
    if decimals == 0:
        return rint(x)
    _, (a,) = promote(x, float_only=True)
    scale = cast_to(10.0 ** decimals, dtype_of(a)) if decimals > 0 else cast_to(10.0 ** -decimals, dtype_of(a))
    if decimals > 0:
        return divide(rint(multiply(a, scale)), scale)
    return multiply(rint(divide(a, scale)), scale)


around = round


def isnan(x):
    """numpy.isnan (False everywhere for integers)."""
    return not_equal(x, x)


def isinf(x):
    """numpy.isinf."""
    if not dtypes.is_float(dtype_of(x)):
        return not_equal(x, x)
    return equal(absolute(x), cast_to(np.inf, dtype_of(x)))


def isfinite(x):
    """numpy.isfinite (NaN and +-inf are not finite)."""
    if not dtypes.is_float(dtype_of(x)):
        return equal(x, x)
    return less(absolute(x), cast_to(np.inf, dtype_of(x)))


def sign(x):
    """numpy.sign: -1, 0 or 1 (NaN for NaN); zero gradient."""
    dt = dtype_of(x)
    if dt == "bool":
        return x
    one, zero = cast_to(1, dt), cast_to(0, dt)
    s = where(greater(x, zero), one, where(less(x, zero), negative(one), zero))
    if dtypes.is_float(dt):
        s = where(isnan(x), x, s)
    from .elementwise import stop_gradient

    return stop_gradient(s)


def reciprocal(x):
    """numpy.reciprocal for floats (1/x); integer reciprocals (numpy truncates) raise."""
    dt = dtype_of(x)
    if not dtypes.is_float(dt):
        raise DTypeError(f"reciprocal: numpy's integer reciprocal truncates to 0; cast {dt} to a float "
                         f"first\n  at {user_source_line()}")
    return divide(cast_to(1, dt), x)


def rsqrt(x):
    """1 / sqrt(x) (tf.math.rsqrt / jax.lax.rsqrt)."""
    _, (a,) = promote(x, float_only=True)
    return divide(cast_to(1, dtype_of(a)), sqrt(a))


def clip(x, a_min=None, a_max=None):
    """numpy.clip: min(max(x, a_min), a_max); either bound may be None. The gradient
    flows where x is inside [a_min, a_max] (bounds included)."""
    if a_min is None and a_max is None:
        raise ValueError("clip: one of a_min and a_max must be given")
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return x


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """numpy.nan_to_num: NaN -> ``nan``, +inf -> ``posinf`` (default the dtype's max),
    -inf -> ``neginf`` (default its min). Integers are returned unchanged."""
    dt = dtype_of(x)
    if not dtypes.is_float(dt):
        return x
    info = np.finfo(dt)
    big = info.max if posinf is None else posinf
    small = info.min if neginf is None else neginf
    inf = cast_to(np.inf, dt)
    x = where(isnan(x), cast_to(nan, dt), x)
    x = where(equal(x, inf), cast_to(big, dt), x)
    return where(equal(x, negative(inf)), cast_to(small, dt), x)


# -- Tensor operators // % divmod and integer & | ^ ~ << >> ----------------------------------------------

def _rev(fn):
    return lambda self, other: fn(other, self)


Tensor.__floordiv__ = lambda self, other: floor_divide(self, other)
Tensor.__rfloordiv__ = _rev(floor_divide)
Tensor.__mod__ = lambda self, other: remainder(self, other)
Tensor.__rmod__ = _rev(remainder)
Tensor.__divmod__ = lambda self, other: (floor_divide(self, other), remainder(self, other))
Tensor.__rdivmod__ = lambda self, other: (floor_divide(other, self), remainder(other, self))
Tensor.__lshift__ = lambda self, other: left_shift(self, other)
Tensor.__rlshift__ = _rev(left_shift)
Tensor.__rshift__ = lambda self, other: right_shift(self, other)
Tensor.__rrshift__ = _rev(right_shift)
Tensor.__and__ = lambda self, other: bitwise_and(self, other)
Tensor.__rand__ = _rev(bitwise_and)
Tensor.__or__ = lambda self, other: bitwise_or(self, other)
Tensor.__ror__ = _rev(bitwise_or)
Tensor.__xor__ = lambda self, other: bitwise_xor(self, other)
Tensor.__rxor__ = _rev(bitwise_xor)
Tensor.__invert__ = lambda self: bitwise_not(self)
