"""Elementwise ops: numpy broadcasting and type promotion, one scalar lowering each.

Each op is registered once with its shape rule (broadcast), numpy reference, scalar
lowering and gradient rule; the user-facing function (``gc.add`` ...) promotes dtypes
as numpy does and binds the op.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import DTypeError, InvalidValueError, user_source_line
from ..ir import TensorType
from ..tracing import bind, static_type
from .common import (broadcast_index, broadcast_shapes, cast_to, dtype_of, promote, read_broadcast,
                     require_float, same_dtype, shape_of, sum_to_shape)
from .registry import defop

# -- registration helpers ---------------------------------------------------------------


def _reject_bool(name, types, no_bool):
    """numpy refuses some ops on bools (-b, b - c) with a TypeError; so does graphc."""
    if no_bool and any(t.dtype == "bool" for t in types):
        raise DTypeError(f"numpy boolean {name} is not supported, {no_bool}")


def _unary(name, np_fn, scalar, vjp=None, float_only=False, out_dtype=None, no_bool=None):
    def infer(types, attrs):
        (t,) = types
        _reject_bool(name, types, no_bool)
        if float_only:
            require_float(t)
        return TensorType(t.shape, out_dtype or t.dtype)

    def impl(attrs, x):
        with np.errstate(all="ignore"):
            return np.asarray(np_fn(x)).astype(out_dtype or x.dtype.name, copy=False)

    def emit(kb, node, idx):
        return scalar(kb, kb.read(node.inputs[0], idx))

    # where emit reads its input (lets the KernelBuilder emit long chains bottom-up)
    emit.input_indices = lambda kb, node, idx: [list(idx)]
    defop(name, "elementwise", infer, impl, emit=emit, vjp=vjp)


def _binary(name, np_fn, scalar, vjp=None, out_dtype=None, float_only=False, no_bool=None, emit=None):
    """Register a broadcasting binary op; ``scalar(kb, a, b)`` lowers one element (or
    ``emit(kb, node, idx)`` replaces the whole lowering)."""
    def infer(types, attrs):
        _reject_bool(name, types, no_bool)
        dt = same_dtype(types)
        if float_only:
            require_float(types[0])
        return TensorType(broadcast_shapes(*[t.shape for t in types]), out_dtype or dt)

    def impl(attrs, x, y):
        with np.errstate(all="ignore"):
            return np.asarray(np_fn(x, y)).astype(out_dtype or x.dtype.name, copy=False)

    def default_emit(kb, node, idx):
        shape = node.type.shape
        a = read_broadcast(kb, node.inputs[0], shape, idx)
        b = read_broadcast(kb, node.inputs[1], shape, idx)
        return scalar(kb, a, b)

    # where default_emit reads its inputs (lets the KernelBuilder emit long chains bottom-up)
    default_emit.input_indices = lambda kb, node, idx: [
        broadcast_index(kb, i, node.type.shape, idx) for i in node.inputs]
    defop(name, "elementwise", infer, impl, emit=emit or default_emit, vjp=vjp)


def _unbroadcast(g, x):
    return sum_to_shape(g, shape_of(x))


# -- arithmetic -------------------------------------------------------------------------

_binary("add", np.add, lambda kb, a, b: kb.add(a, b),
        vjp=lambda g, ins, out, attrs: [_unbroadcast(g, ins[0]), _unbroadcast(g, ins[1])])
_binary("subtract", np.subtract, lambda kb, a, b: kb.sub(a, b), no_bool="use logical_xor or ^ instead",
        vjp=lambda g, ins, out, attrs: [_unbroadcast(g, ins[0]), _unbroadcast(negative(g), ins[1])])
_binary("multiply", np.multiply, lambda kb, a, b: kb.mul(a, b),
        vjp=lambda g, ins, out, attrs: [_unbroadcast(multiply(g, ins[1]), ins[0]),
                                        _unbroadcast(multiply(g, ins[0]), ins[1])])
_binary("divide", np.true_divide, lambda kb, a, b: kb.div(a, b), float_only=True,
        vjp=lambda g, ins, out, attrs: [_unbroadcast(divide(g, ins[1]), ins[0]),
                                        _unbroadcast(negative(multiply(g, divide(out, ins[1]))), ins[1])])


# Integer powers are exact, with numpy's wraparound on overflow: square-and-multiply over
# the exponent's bits (arithmetic modulo 2**bits gives the same result as numpy's loop).
# A negative exponent is refused at trace time when it is a constant (numpy's ValueError);
# when it is only known at run time, the result is the real power truncated toward zero:
# 1 for x == 1, +-1 for x == -1 (by parity), else 0 (also for 0, where numpy would raise).

def _pow_int_reference(x, y):
    x, y = np.broadcast_arrays(x, y)
    with np.errstate(all="ignore"):
        result = np.ones(x.shape, x.dtype)
        base, e = x.copy(), np.where(y < 0, 0, y).astype(x.dtype)
        while e.any():
            result = np.where(e & 1 != 0, result * base, result)
            base = base * base
            e = e >> 1
        negative_result = np.where(x == 1, 1, np.where(x == -1, np.where(y & 1 != 0, -1, 1), 0))
        return np.where(y < 0, negative_result, result).astype(x.dtype)


def _exponent_bits(node) -> int:
    """How many exponent bits the lowering must scan: all of them, or fewer when power()
    saw a constant exponent at trace time and recorded its width in the node's attrs.
    (Not from the exponent node's value: a kernel is cached by its structure and attrs,
    with constants as buffers, so its code must not depend on a buffer's contents.)"""
    bits = 63 if node.type.dtype == "int64" else 31
    return min(bits, node.attrs.get("_exponent_bits", bits))


def _pow_int_emit(kb, node, a, b):
    dt = a.dtype
    zero, one = kb.const(0, dt), kb.const(1, dt)
    is_negative = kb.cmp("<", b, zero)
    e = kb.select(is_negative, zero, b)
    result, base = one, a
    for _ in range(_exponent_bits(node)):
        bit_set = kb.cmp("!=", kb.bitwise("and", e, one), zero)
        result = kb.select(bit_set, kb.mul(result, base), result)
        base = kb.mul(base, base)
        e = kb.bitwise("shr", e, one)
    odd = kb.cmp("!=", kb.bitwise("and", b, one), zero)
    minus_one = kb.select(odd, kb.const(-1, dt), one)
    negative_result = kb.select(kb.cmp("==", a, one), one,
                                kb.select(kb.cmp("==", a, kb.const(-1, dt)), minus_one, zero))
    return kb.select(is_negative, negative_result, result)


def _pow_emit(kb, node, idx):
    shape = node.type.shape
    a = read_broadcast(kb, node.inputs[0], shape, idx)
    b = read_broadcast(kb, node.inputs[1], shape, idx)
    if a.dtype in ("float32", "float64"):
        return kb.math("pow", a, b)
    if a.dtype in ("int32", "int64"):
        return _pow_int_emit(kb, node, a, b)
    r = kb.math("pow", kb.cast(a, "float64"), kb.cast(b, "float64"))
    return kb.cast(r, a.dtype)


def _pow_impl(x, y):
    if np.issubdtype(x.dtype, np.integer):
        return _pow_int_reference(x, y)
    if x.dtype == np.bool_:
        return np.power(x.astype(np.float64), y.astype(np.float64)).astype(x.dtype)
    return np.power(x, y)


def _pow_vjp(g, ins, out, attrs):
    x, y = ins
    dx = multiply(g, multiply(y, power(x, subtract(y, cast_to(1, dtype_of(y))))))
    safe_log = log(where(greater(x, 0), x, cast_to(1, dtype_of(x))))
    dy = multiply(g, multiply(out, safe_log))
    return [_unbroadcast(dx, x), _unbroadcast(dy, y)]


_binary("power", _pow_impl, None, vjp=_pow_vjp, emit=_pow_emit)


def _select_vjp(first):
    def vjp(g, ins, out, attrs):
        x, y = ins
        # x takes the gradient where it is selected, ties included (TF's Maximum/MinimumGrad)
        mask = greater_equal(x, y) if first else less_equal(x, y)
        zero = cast_to(0, dtype_of(g))
        gx = where(mask, g, zero)
        gy = where(logical_not(mask), g, zero)
        return [_unbroadcast(gx, x), _unbroadcast(gy, y)]
    return vjp


_binary("maximum", np.maximum, lambda kb, a, b: kb.maximum(a, b), vjp=_select_vjp(True))
_binary("minimum", np.minimum, lambda kb, a, b: kb.minimum(a, b),
        vjp=_select_vjp(False))

_unary("negative", np.negative, lambda kb, a: kb.neg(a), vjp=lambda g, ins, out, a: [negative(g)],
       no_bool="use logical_not or ~ instead")


def _sign(x):
    dt = dtype_of(x)
    one, zero = cast_to(1, dt), cast_to(0, dt)
    return where(greater(x, zero), one, where(less(x, zero), negative(one), zero))


_unary("abs", np.abs, lambda kb, a: kb.abs(a), vjp=lambda g, ins, out, a: [multiply(g, _sign(ins[0]))])
_INT8_RESULT = "numpy computes it in int8; cast to gc.int8 (numpy's result) or gc.int32 first"
_unary("square", np.square, lambda kb, a: kb.mul(a, a), no_bool=_INT8_RESULT,
       vjp=lambda g, ins, out, a: [multiply(g, multiply(ins[0], cast_to(2, dtype_of(ins[0]))))])
_unary("sqrt", np.sqrt, lambda kb, a: kb.math("sqrt", a), float_only=True,
       vjp=lambda g, ins, out, a: [divide(g, multiply(out, cast_to(2, dtype_of(out))))])
_unary("exp", np.exp, lambda kb, a: kb.math("exp", a), float_only=True,
       vjp=lambda g, ins, out, a: [multiply(g, out)])
_unary("log", np.log, lambda kb, a: kb.math("log", a), float_only=True,
       vjp=lambda g, ins, out, a: [divide(g, ins[0])])
_unary("tanh", np.tanh, lambda kb, a: kb.math("tanh", a), float_only=True,
       vjp=lambda g, ins, out, a: [multiply(g, subtract(cast_to(1, dtype_of(out)), square(out)))])


def _np_sigmoid(x):
    # the numerically stable form, as the reference
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


_unary("sigmoid", _np_sigmoid, lambda kb, a: kb.math("sigmoid", a), float_only=True,
       vjp=lambda g, ins, out, a: [multiply(g, multiply(out, subtract(cast_to(1, dtype_of(out)), out)))])
_unary("relu", lambda x: np.maximum(x, np.zeros((), x.dtype)),
       lambda kb, a: kb.maximum(a, kb.const(0, a.dtype)),
       # the mask from the output (as TF's ReluGrad): relu(x) > 0 exactly where x > 0 (NaN and
       # -0.0 included), and then the pre-activation need not be kept, so a GEMM's bias add and
       # relu form one epilogue instead of two kernels
       vjp=lambda g, ins, out, a: [where(greater(out, cast_to(0, dtype_of(out))), g, cast_to(0, dtype_of(g)))])

# The identity whose gradient is zero (tf.stop_gradient / jax.lax.stop_gradient): the value
# flows forward, nothing flows back.
_unary("stop_gradient", lambda x: x, lambda kb, a: a, vjp=lambda g, ins, out, a: [None])

# -- comparisons and logic ----------------------------------------------------------------

for _name, _fn, _pred in [("equal", np.equal, "=="), ("not_equal", np.not_equal, "!="),
                          ("less", np.less, "<"), ("less_equal", np.less_equal, "<="),
                          ("greater", np.greater, ">"), ("greater_equal", np.greater_equal, ">=")]:
    _binary(_name, _fn, (lambda p: lambda kb, a, b: kb.cmp(p, a, b))(_pred), out_dtype="bool",
            vjp=lambda g, ins, out, a: [None, None])


def _bool_infer(types, attrs):
    for t in types:
        if t.dtype != "bool":
            raise DTypeError(f"logical ops take bool operands, got {t.dtype}")
    return TensorType(broadcast_shapes(*[t.shape for t in types]), "bool")


def _emit_logical(kind):
    def emit(kb, node, idx):
        vals = [read_broadcast(kb, i, node.type.shape, idx) for i in node.inputs]
        return kb.logical(kind, *vals)
    return emit


defop("logical_and", "elementwise", _bool_infer, lambda a, x, y: np.logical_and(x, y),
      emit=_emit_logical("and"), vjp=lambda g, ins, out, a: [None, None])
defop("logical_or", "elementwise", _bool_infer, lambda a, x, y: np.logical_or(x, y),
      emit=_emit_logical("or"), vjp=lambda g, ins, out, a: [None, None])
defop("logical_not", "elementwise", _bool_infer, lambda a, x: np.logical_not(x),
      emit=_emit_logical("not"), vjp=lambda g, ins, out, a: [None])


# -- where and cast -------------------------------------------------------------------------

def _where_infer(types, attrs):
    c, x, y = types
    if c.dtype != "bool":
        raise DTypeError(f"condition must be bool, got {c.dtype}")
    dt = same_dtype([x, y])
    return TensorType(broadcast_shapes(c.shape, x.shape, y.shape), dt)


def _where_emit(kb, node, idx):
    c, x, y = (read_broadcast(kb, i, node.type.shape, idx) for i in node.inputs)
    return kb.select(c, x, y)


def _where_vjp(g, ins, out, attrs):
    c, x, y = ins
    zero = cast_to(0, dtype_of(g))
    return [None, _unbroadcast(where(c, g, zero), x), _unbroadcast(where(c, zero, g), y)]


defop("where", "elementwise", _where_infer, lambda a, c, x, y: np.where(c, x, y), emit=_where_emit, vjp=_where_vjp)


def _cast_infer(types, attrs):
    (t,) = types
    return TensorType(t.shape, dtypes.canonical(attrs["dtype"]))


def _cast_vjp(g, ins, out, attrs):
    src = dtype_of(ins[0])
    if not dtypes.is_float(src):
        return [None]
    return [cast(g, src)]


defop("cast", "elementwise", _cast_infer, lambda a, x: x.astype(a["dtype"]),
      emit=lambda kb, node, idx: kb.cast(kb.read(node.inputs[0], idx), node.type.dtype), vjp=_cast_vjp)


# -- user-facing functions ------------------------------------------------------------------

def _arith(opname, float_only=False):
    def fn(x, y):
        _, (a, b) = promote(x, y, float_only=float_only)
        return bind(opname, [a, b])
    fn.__name__ = opname
    fn.__doc__ = f"numpy.{opname} with broadcasting and numpy type promotion."
    return fn


add = _arith("add")
subtract = _arith("subtract")
multiply = _arith("multiply")
_divide_floats = _arith("divide", float_only=True)


def divide(x, y):
    """numpy.true_divide: integers and bools divide in float64, as numpy."""
    dt, _ = promote(x, y)
    if dt == "bool":  # numpy's bool / bool is float64 (promote would pick float32)
        x, y = cast_to(x, "float64"), cast_to(y, "float64")
    return _divide_floats(x, y)


_power = _arith("power")


def _constant_value(x):
    """The value of an operand known at trace time (array, scalar, constant node), or None."""
    if isinstance(x, (bool, int, float, np.ndarray, np.generic)):
        return np.asarray(x)
    node = getattr(x, "node", None)
    if node is not None and node.op == "constant":
        return node.attrs["value"]
    return None


def power(x, y):
    """numpy.power; integers to negative integer powers raise, as in numpy, when the
    exponent is known at trace time (run-time exponents: see _pow_int_reference).
    Floats follow C99 pow for every exponent: numpy's ``x ** 0.5`` with a scalar
    exponent is sqrt on arrays of two or more elements ((-inf) ** 0.5 is nan there, inf
    for a one-element array and in C), a numpy loop detail graphc does not imitate."""
    base_is_bool = not isinstance(x, (int, float)) and dtype_of(x) == "bool"
    if base_is_bool and (isinstance(y, int) and not isinstance(y, np.generic) or dtype_of(y) == "bool"):
        raise DTypeError(f"power: numpy boolean power {_INT8_RESULT} (operands: {static_type(x)}, "
                         f"{static_type(y)})\n  at {user_source_line()}")
    dt, (a, b) = promote(x, y)
    value = _constant_value(y) if dtypes.is_int(dt) else None
    if value is None or value.size == 0:
        return _power(x, y)
    result_shape = broadcast_shapes(shape_of(x), value.shape)
    if np.min(value) < 0 and 0 not in result_shape:  # numpy accepts an empty result
        raise InvalidValueError("power: Integers to negative integer powers are not allowed "
                                f"(operands: {static_type(x)}, {static_type(y)})\n  at {user_source_line()}")
    return bind("power", [a, b], _exponent_bits=max(int(np.max(value)), 0).bit_length())
maximum = _arith("maximum")
minimum = _arith("minimum")


def _comparison(opname):
    """A comparison; as in numpy 2, a Python int beyond the integer operand's range is
    compared by value (``int32_array < 2**40`` is all True), not refused."""
    compare = _arith(opname)

    def fn(x, y):
        for k, (a, b) in enumerate(((x, y), (y, x))):
            if _beyond_int_range(b, a):
                # b lies above (or below) every value of a: the answer is the same everywhere
                a_is_smaller = b > 0
                if k == 1:
                    a_is_smaller = not a_is_smaller  # operands were swapped: y is "a"
                value = {"equal": False, "not_equal": True, "less": a_is_smaller,
                         "less_equal": a_is_smaller, "greater": not a_is_smaller,
                         "greater_equal": not a_is_smaller}[opname]
                return _bool_constant_like(a, value)
        return compare(x, y)

    fn.__name__ = opname
    fn.__doc__ = compare.__doc__
    return fn


def _beyond_int_range(scalar, other) -> bool:
    if not isinstance(scalar, int) or isinstance(scalar, (bool, np.generic)):
        return False
    if isinstance(other, (bool, int, float)) and not isinstance(other, np.generic):
        return False
    dt = dtype_of(other)
    if not dtypes.is_int(dt):
        return False
    info = np.iinfo(dt)
    return not info.min <= scalar <= info.max


def _bool_constant_like(x, value: bool):
    from .shape_ops import broadcast_to

    return broadcast_to(np.asarray(value), shape_of(x))


equal = _comparison("equal")
not_equal = _comparison("not_equal")
less = _comparison("less")
less_equal = _comparison("less_equal")
greater = _comparison("greater")
greater_equal = _comparison("greater_equal")


def _unary_fn(opname, float_only=False):
    def fn(x):
        _, (a,) = promote(x, float_only=float_only)
        return bind(opname, [a])
    fn.__name__ = opname
    fn.__doc__ = f"numpy-style {opname}."
    return fn


negative = _unary_fn("negative")
absolute = _unary_fn("abs")
square = _unary_fn("square")
sqrt = _unary_fn("sqrt", float_only=True)
exp = _unary_fn("exp", float_only=True)
log = _unary_fn("log", float_only=True)
tanh = _unary_fn("tanh", float_only=True)
sigmoid = _unary_fn("sigmoid", float_only=True)
relu = _unary_fn("relu")


def stop_gradient(x):
    """x, treated as a constant by gradients (no gradient flows through it)."""
    return bind("stop_gradient", [x])


def _as_bool(x):
    return cast_to(x, "bool")


def logical_and(x, y):
    """Elementwise x AND y of the operands' truth values (numpy.logical_and): bool result,
    broadcast shapes; nonzero numbers count as True."""
    return bind("logical_and", [_as_bool(x), _as_bool(y)])


def logical_or(x, y):
    """Elementwise x OR y of the operands' truth values (numpy.logical_or): bool result,
    broadcast shapes; nonzero numbers count as True."""
    return bind("logical_or", [_as_bool(x), _as_bool(y)])


def logical_not(x):
    """Elementwise NOT of the operand's truth values (numpy.logical_not): bool result."""
    return bind("logical_not", [_as_bool(x)])


def logical_xor(x, y):
    """numpy.logical_xor: true where exactly one operand is true (nonzero)."""
    return not_equal(_as_bool(x), _as_bool(y))


def where(condition, x, y):
    """numpy.where(condition, x, y) (the three-argument form)."""
    _, (a, b) = promote(x, y)
    return bind("where", [_as_bool(condition), a, b])


def cast(x, dtype):
    """x.astype(dtype)."""
    dt = dtypes.canonical(dtype)
    if dtype_of(x) == dt and not isinstance(x, (bool, int, float)):
        return x
    return bind("cast", [x if not isinstance(x, (bool, int, float)) else np.asarray(x)], dtype=dt)
