"""numpy-style operators and methods on traced Tensors (+ - * / ** @, comparisons, .T ...)."""
from __future__ import annotations

from .. import dtypes
from ..errors import DTypeError, user_source_line
from ..tracing import Tensor, static_type
from . import elementwise as ew
from . import linalg, reductions, shape_ops
from .common import dtype_of


def _swap(fn):
    return lambda self, other: fn(other, self)


_OPERATORS = {
    "__add__": ew.add, "__radd__": _swap(ew.add),
    "__sub__": ew.subtract, "__rsub__": _swap(ew.subtract),
    "__mul__": ew.multiply, "__rmul__": _swap(ew.multiply),
    "__truediv__": ew.divide, "__rtruediv__": _swap(ew.divide),
    "__pow__": ew.power, "__rpow__": _swap(ew.power),
    "__matmul__": linalg.matmul, "__rmatmul__": _swap(linalg.matmul),
    "__lt__": ew.less, "__le__": ew.less_equal, "__gt__": ew.greater, "__ge__": ew.greater_equal,
    "__eq__": ew.equal, "__ne__": ew.not_equal,
    "__neg__": ew.negative, "__abs__": ew.absolute,
    "__getitem__": shape_ops.getitem,
}



def _bool_operator(symbol, fn, reflected=False):
    """``& | ^ ~`` on bools are numpy's logical ops. On integers numpy means bitwise
    ops, which graphc does not have: refuse them rather than compute a logical result."""
    def op(*xs):
        dt = dtypes.result_type(*[x if isinstance(x, bool) else dtype_of(x) for x in xs])
        if dt != "bool":
            raise DTypeError(f"operator {symbol} is supported on bool operands only (numpy's bitwise "
                             f"{symbol} on {dt} is not supported), got "
                             f"{', '.join(str(static_type(x)) for x in xs)}\n  at {user_source_line()}")
        return fn(*xs)
    return _swap(op) if reflected else op


_OPERATORS.update({
    "__and__": _bool_operator("&", ew.logical_and), "__rand__": _bool_operator("&", ew.logical_and, True),
    "__or__": _bool_operator("|", ew.logical_or), "__ror__": _bool_operator("|", ew.logical_or, True),
    "__xor__": _bool_operator("^", ew.logical_xor), "__rxor__": _bool_operator("^", ew.logical_xor, True),
    "__invert__": _bool_operator("~", ew.logical_not),
})

for _name, _fn in _OPERATORS.items():
    setattr(Tensor, _name, _fn)

Tensor.__pos__ = lambda self: self
Tensor.__hash__ = lambda self: id(self)
Tensor.T = property(lambda self: shape_ops.transpose(self))


def _reshape(self, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return shape_ops.reshape(self, shape)


def _transpose(self, *axes):
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return shape_ops.transpose(self, axes or None)


Tensor.reshape = _reshape
Tensor.transpose = _transpose
Tensor.sum = lambda self, axis=None, keepdims=False: reductions.sum(self, axis, keepdims)
Tensor.mean = lambda self, axis=None, keepdims=False: reductions.mean(self, axis, keepdims)
Tensor.max = lambda self, axis=None, keepdims=False: reductions.max(self, axis, keepdims)
Tensor.min = lambda self, axis=None, keepdims=False: reductions.min(self, axis, keepdims)
Tensor.prod = lambda self, axis=None, keepdims=False: reductions.prod(self, axis, keepdims)
Tensor.argmax = lambda self, axis=None, keepdims=False: reductions.argmax(self, axis, keepdims)
Tensor.argmin = lambda self, axis=None, keepdims=False: reductions.argmin(self, axis, keepdims)
Tensor.astype = lambda self, dtype: ew.cast(self, dtype)
Tensor.squeeze = lambda self, axis=None: shape_ops.squeeze(self, axis)
