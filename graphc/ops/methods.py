"""numpy-style operators and methods on traced Tensors (+ - * / ** @, comparisons, .T ...)."""
from __future__ import annotations

from ..tracing import Tensor
from . import elementwise as ew
from . import linalg, reductions, shape_ops


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
}
# __getitem__ (basic and advanced indexing) and .at[...] are attached in
# graphc/ops/indexing_extra.py



# ``& | ^ ~ << >> // %`` (numpy's bitwise ops on integers, logical ones on bools) are
# attached in graphc/ops/math_extra.py, next to the integer ops they call

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
