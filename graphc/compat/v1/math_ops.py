"""TF 1.x math ops (names, keywords, default op names) recorded onto graphc functions."""
from __future__ import annotations

import functools
import builtins

import graphc as gc
from ...ops.linalg_extra import matrix_inverse as _gc_matrix_inverse
from ...tracing import static_type
from . import dtypes
from .convert import as_operand, match_operands
from .record import record

# -- elementwise binary ---------------------------------------------------------------------


def _binary(op_type, fn, x, y, name=None):
    x, y = match_operands(op_type, x, y)
    return record(op_type, fn, (x, y), name=name)


def add(x, y, name=None):
    return _binary("Add", gc.add, x, y, name)


def subtract(x, y, name=None):
    return _binary("Sub", gc.subtract, x, y, name)


def multiply(x, y, name=None):
    return _binary("Mul", gc.multiply, x, y, name)


def truediv(x, y, name=None):
    return _binary("RealDiv", gc.divide, x, y, name)


def pow(x, y, name=None):  # noqa: A001
    return _binary("Pow", gc.power, x, y, name)


def maximum(x, y, name=None):
    return _binary("Maximum", gc.maximum, x, y, name)


def minimum(x, y, name=None):
    return _binary("Minimum", gc.minimum, x, y, name)


def squared_difference(x, y, name=None):
    return _binary("SquaredDifference", lambda a, b: gc.square(gc.subtract(a, b)), x, y, name)


def equal(x, y, name=None):
    return _binary("Equal", gc.equal, x, y, name)


def not_equal(x, y, name=None):
    return _binary("NotEqual", gc.not_equal, x, y, name)


def less(x, y, name=None):
    return _binary("Less", gc.less, x, y, name)


def less_equal(x, y, name=None):
    return _binary("LessEqual", gc.less_equal, x, y, name)


def greater(x, y, name=None):
    return _binary("Greater", gc.greater, x, y, name)


def greater_equal(x, y, name=None):
    return _binary("GreaterEqual", gc.greater_equal, x, y, name)


def logical_and(x, y, name=None):
    return _binary("LogicalAnd", gc.logical_and, x, y, name)


def logical_or(x, y, name=None):
    return _binary("LogicalOr", gc.logical_or, x, y, name)


divide = truediv
div = truediv
mul = multiply
sub = subtract

# Python operators: TF names their ops in lower case ("add", "sub", "mul", "truediv").
_OPERATORS = {
    "add": gc.add, "sub": gc.subtract, "mul": gc.multiply, "truediv": gc.divide, "pow": gc.power,
    "Less": gc.less, "LessEqual": gc.less_equal, "Greater": gc.greater, "GreaterEqual": gc.greater_equal,
    "LogicalAnd": gc.logical_and, "LogicalOr": gc.logical_or,
    "floordiv": lambda x, y: _floordiv(x, y), "mod": gc.remainder,
}


def _floordiv(x, y):
    from .math_extra import _floordiv as floordiv   # (math_extra imports this module)

    return floordiv(x, y)


# ... while their op *types* are TF's kernels (TensorBoard labels nodes by type)
_OPERATOR_TYPES = {"add": "Add", "sub": "Sub", "mul": "Mul", "truediv": "RealDiv", "pow": "Pow",
                   "floordiv": "FloorDiv", "mod": "FloorMod"}


def binary_operator(name, x, y):
    if name == "matmul":
        return matmul(x, y)
    op_type = _OPERATOR_TYPES.get(name)
    if op_type is None:
        return _binary(name, _OPERATORS[name], x, y)
    return _binary(op_type, _OPERATORS[name], x, y, name=name)


# -- elementwise unary ------------------------------------------------------------------------


def _unary(op_type, fn):
    def op(x, name=None):
        return record(op_type, fn, (as_operand(x),), name=name)
    op.__name__ = op_type.lower()
    op.__doc__ = f"tf.{op_type.lower()}: graphc's {getattr(fn, '__name__', op_type)}."
    return op


negative = _unary("Neg", gc.negative)
neg = negative
abs = _unary("Abs", gc.abs)  # noqa: A001
square = _unary("Square", gc.square)
sqrt = _unary("Sqrt", gc.sqrt)
exp = _unary("Exp", gc.exp)
log = _unary("Log", gc.log)
tanh = _unary("Tanh", gc.tanh)
sigmoid = _unary("Sigmoid", gc.sigmoid)
logical_not = _unary("LogicalNot", gc.logical_not)


def cast(x, dtype, name=None):
    dt = dtypes.as_dtype(dtype).name
    return record("Cast", gc.cast, (as_operand(x), dt), name=name)


def to_float(x, name="ToFloat"):
    return cast(x, dtypes.float32, name=name)


def to_int32(x, name="ToInt32"):
    return cast(x, dtypes.int32, name=name)


def where(condition, x=None, y=None, name=None):
    """tf.where(cond, x, y): the elementwise select (the one-argument form is dynamic-shaped)."""
    if x is None or y is None:
        raise NotImplementedError("tf.where(condition) returns a dynamically shaped tensor, "
                                  "which graphc does not compile; pass x and y")
    x, y = match_operands("Select", x, y)
    return record("Select", gc.where, (as_operand(condition, dtypes.bool), x, y), name=name)


def add_n(inputs, name=None):
    """Sum of a list of same-shaped tensors."""
    inputs = [as_operand(i) for i in inputs]
    return record("AddN", lambda *xs: functools.reduce(gc.add, xs), tuple(inputs), name=name)


# -- matrices ------------------------------------------------------------------------------------


def _swap_last(x):
    nd = len(static_type(x).shape)
    perm = list(range(nd))
    perm[-2], perm[-1] = perm[-1], perm[-2]
    return gc.transpose(x, tuple(perm))


def _matmul(a, b, transpose_a=False, transpose_b=False):
    if transpose_a:
        a = _swap_last(a)
    if transpose_b:
        b = _swap_last(b)
    return gc.matmul(a, b)


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, name=None):
    a, b = match_operands("MatMul", a, b)
    return record("MatMul", _matmul, (a, b), {"transpose_a": bool(transpose_a or adjoint_a),
                                              "transpose_b": bool(transpose_b or adjoint_b)}, name=name)


def matrix_inverse(input, adjoint=False, name=None):  # noqa: A002
    fn = (lambda m: _gc_matrix_inverse(_swap_last(m))) if adjoint else _gc_matrix_inverse
    return record("MatrixInverse", fn, (as_operand(input),), name=name)


def matrix_transpose(a, name="matrix_transpose"):
    return record("transpose", _swap_last, (as_operand(a),), name=name)


# -- reductions ------------------------------------------------------------------------------------


def _axis(axis, reduction_indices):
    axis = reduction_indices if axis is None else axis
    if axis is None:
        return None
    if isinstance(axis, (list, tuple)):
        return tuple(int(a) for a in axis)
    return int(axis)


def _keep(keepdims, keep_dims):
    return builtins.bool(keepdims if keepdims is not None else (keep_dims or False))


def _mean(x, axis, keepdims):
    dt = static_type(x).dtype
    m = gc.mean(x, axis=axis, keepdims=keepdims)
    return gc.cast(m, dt) if dt != static_type(m).dtype else m  # integer means truncate, as TF


def _reduction(op_type, fn):
    def op(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None, keep_dims=None):
        return record(op_type, fn, (as_operand(input_tensor),),
                      {"axis": _axis(axis, reduction_indices), "keepdims": _keep(keepdims, keep_dims)}, name=name)
    op.__name__ = "reduce_" + op_type.lower()
    return op


reduce_sum = _reduction("Sum", gc.sum)
reduce_mean = _reduction("Mean", _mean)
reduce_max = _reduction("Max", gc.max)
reduce_min = _reduction("Min", gc.min)
reduce_prod = _reduction("Prod", gc.prod)
reduce_all = _reduction("All", lambda x, axis, keepdims: gc.cast(gc.min(gc.cast(x, "int32"), axis, keepdims), "bool"))
reduce_any = _reduction("Any", lambda x, axis, keepdims: gc.cast(gc.max(gc.cast(x, "int32"), axis, keepdims), "bool"))


def _arg(op_type, fn):
    def op(input, axis=None, name=None, dimension=None, output_type=dtypes.int64):  # noqa: A002
        axis = dimension if axis is None else axis
        axis = 0 if axis is None else int(axis)  # TF 1.x: axis None means 0
        out = dtypes.as_dtype(output_type).name
        return record(op_type, lambda x, a, dt: gc.cast(fn(x, axis=a), dt), (as_operand(input), axis, out),
                      name=name)
    return op


argmax = _arg("ArgMax", gc.argmax)
argmin = _arg("ArgMin", gc.argmin)


# -- clipping and gathering (graphc's gc.nn / gc.optim functions) ----------------------------------------


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    t = as_operand(t)
    return record("clip_by_value", gc.nn.clip_by_value,
                  (t, as_operand(clip_value_min, t.dtype), as_operand(clip_value_max, t.dtype)), name=name)


def clip_by_norm(t, clip_norm, axes=None, name=None):
    axes = None if axes is None else (tuple(axes) if isinstance(axes, (list, tuple)) else int(axes))
    return record("clip_by_norm", gc.nn.clip_by_norm, (as_operand(t), clip_norm, axes), name=name)


def global_norm(t_list, name=None):
    return record("global_norm", gc.optim.global_norm, (list(t_list),), name=name)


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None):
    """(clipped list, global norm); None entries stay None."""
    clipped, norm = record("clip_by_global_norm", lambda ts, c, n: gc.optim.clip_by_global_norm(list(ts), c, n),
                           (list(t_list), clip_norm, use_norm), name=name)
    return list(clipped), norm


def gather(params, indices, validate_indices=None, name=None, axis=0):
    return record("GatherV2", gc.gather, (as_operand(params), as_operand(indices), int(axis)), name=name)
