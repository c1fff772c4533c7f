"""TF 1.x tensor creation and shape ops: constant, placeholder, reshape, shape, slicing...

``tf.shape(x)`` is the *run-time* shape: at replay every shape is concrete (one
compiled program per feed-shape signature), so it is a numpy value there and shape
arguments computed from it (``tf.zeros(tf.shape(x))``) stay static for graphc.
"""
from __future__ import annotations

import numpy as np

import graphc as gc
from ...tracing import static_type
from . import dtypes
from .convert import as_operand, is_graph_value, shape_arg, static_shape
from .graph import Spec, Tensor
from .record import record
from .shapes import TensorShape


def _const_fn(value):
    return lambda: value


def constant(value, dtype=None, shape=None, name="Const", verify_shape=False):
    """A constant tensor (Python floats are float32, ints int32, as in TF)."""
    arr = as_operand(value, dtype)
    if shape is not None:
        shape = tuple(int(d) for d in shape_arg(shape))
        if arr.size == 1:
            arr = np.full(shape, arr.reshape(()), dtype=arr.dtype)
        elif arr.size == int(np.prod(shape)):
            arr = arr.reshape(shape)
        else:
            raise TypeError(f"Expected Tensor's shape: {shape}, got {arr.shape}.")
    arr = np.array(arr, order="C")  # (ascontiguousarray makes 0-d arrays 1-d)
    arr.setflags(write=False)
    t = record("Const", _const_fn(arr), name=name, out=Spec(arr.shape, arr.dtype))
    t._const_value = arr
    return t


def _missing_feed(*_):
    raise RuntimeError("placeholder replayed without a feed")  # the session checks feeds first


def placeholder(dtype, shape=None, name=None):
    """A value fed per run; None dimensions take the fed array's size."""
    return record("Placeholder", _missing_feed, name=name, out=Spec(TensorShape(shape), dtype))


def placeholder_with_default(input, shape, name=None):  # noqa: A002
    value = as_operand(input)
    dt = dtypes.as_dtype(value.dtype) if not is_graph_value(value) else value.dtype
    return record("PlaceholderWithDefault", lambda v: v, (value,), name=name, out=Spec(TensorShape(shape), dt))


def convert_to_tensor(value, dtype=None, name=None, preferred_dtype=None):
    if isinstance(value, Tensor):
        if dtype is not None and value.dtype != dtypes.as_dtype(dtype):
            raise ValueError(f"Tensor conversion requested dtype {dtypes.as_dtype(dtype).name} for Tensor with "
                             f"dtype {value.dtype.name}: {value!r}")
        return value
    if getattr(value, "_v1_variable", False):
        return value.value()
    return constant(value, dtype=dtype or preferred_dtype, name=name or "Const")


def _filled(shape, value, dt):
    return gc.full(static_shape(shape), value, dt)


def zeros(shape, dtype=dtypes.float32, name=None):
    return record("zeros", _filled, (shape_arg(shape), 0, dtypes.as_dtype(dtype).name), name=name)


def ones(shape, dtype=dtypes.float32, name=None):
    return record("ones", _filled, (shape_arg(shape), 1, dtypes.as_dtype(dtype).name), name=name)


def fill(dims, value, name=None):
    dt = dtypes.dtype_of_value(value).name
    return record("Fill", _filled, (shape_arg(dims), value, dt), name=name)


def _like(value):
    def fn(x, dt):
        t = static_type(x)
        return gc.full(t.shape, value, dt or t.dtype)
    return fn


def zeros_like(tensor, dtype=None, name=None, optimize=True):
    return record("zeros_like", _like(0), (as_operand(tensor), dtype and dtypes.as_dtype(dtype).name), name=name)


def ones_like(tensor, dtype=None, name=None, optimize=True):
    return record("ones_like", _like(1), (as_operand(tensor), dtype and dtypes.as_dtype(dtype).name), name=name)


def identity(input, name=None):  # noqa: A002
    return record("Identity", lambda x: x, (as_operand(input),), name=name)


def stop_gradient(input, name=None):  # noqa: A002
    return record("StopGradient", gc.stop_gradient, (as_operand(input),), name=name)


def _reshape(x, shape):
    return gc.reshape(x, static_shape(shape))


def reshape(tensor, shape, name=None):
    tensor, shape = as_operand(tensor), shape_arg(shape)

    def fallback():
        # x of shape (?, 3) reshaped to [4, 3] is valid in TF (checked when fed): the
        # probe's sentinel batch size cannot divide, so the static shape is the target's
        dims = None if is_graph_value(shape) else [None if is_graph_value(d) or int(d) < 0 else int(d)
                                                   for d in shape]
        return Spec(TensorShape(dims), tensor.dtype)
    return record("Reshape", _reshape, (tensor, shape), name=name, fallback=fallback)


def transpose(a, perm=None, name="transpose", conjugate=False):
    perm = None if perm is None else tuple(int(p) for p in perm)
    return record("Transpose", lambda x, p: gc.transpose(x, p), (as_operand(a), perm), name=name)


def expand_dims(input, axis=None, name=None, dim=None):  # noqa: A002
    axis = dim if axis is None else axis
    return record("ExpandDims", gc.expand_dims, (as_operand(input), int(axis)), name=name)


def squeeze(input, axis=None, name=None, squeeze_dims=None):  # noqa: A002
    axis = squeeze_dims if axis is None else axis
    if isinstance(axis, (list, tuple)):
        axis = tuple(int(a) for a in axis)
    return record("Squeeze", gc.squeeze, (as_operand(input), axis), name=name)


def _concrete(xs):
    """All parts known at replay (numbers, or values derived from tf.shape)?"""
    return not any(hasattr(x, "node") for x in xs)


def _concat(xs, a):
    # shape arithmetic stays concrete (numpy), so its result can be a shape argument
    return np.concatenate([np.asarray(x) for x in xs], axis=a) if _concrete(xs) else gc.concatenate(list(xs), axis=a)


def _stack(xs, a):
    return np.stack([np.asarray(x) for x in xs], axis=a) if _concrete(xs) else gc.stack(list(xs), axis=a)


def concat(values, axis, name="concat"):
    values = [as_operand(v) for v in values]
    return record("ConcatV2", _concat, (values, int(axis)), name=name)


def stack(values, axis=0, name="stack"):
    values = [as_operand(v) for v in values]
    return record("Pack", _stack, (values, int(axis)), name=name)


def unstack(value, num=None, axis=0, name="unstack"):
    return record("Unpack", lambda x, a: list(gc.unstack(x, axis=a)), (as_operand(value), int(axis)), name=name)


def split(value, num_or_size_splits, axis=0, num=None, name="split"):
    """TF's split takes sections or *sizes* (numpy takes split indices)."""
    if isinstance(num_or_size_splits, (int, np.integer)):
        sections = int(num_or_size_splits)
    else:
        sizes = [int(s) for s in num_or_size_splits]
        sections = list(np.cumsum(sizes)[:-1].tolist())
    return record("Split", lambda x, s, a: list(gc.split(x, s, axis=a)), (as_operand(value), sections, int(axis)),
                  name=name)


def _shape_fn(x, dt):
    return np.array(static_type(x).shape, dtype=dt)


def shape(input, name=None, out_type=dtypes.int32):  # noqa: A002
    """The run-time shape (concrete per compiled signature)."""
    return record("Shape", _shape_fn, (as_operand(input), dtypes.as_dtype(out_type).name), name=name)


def size(input, name=None, out_type=dtypes.int32):  # noqa: A002
    return record("Size", lambda x, dt: np.array(int(np.prod(static_type(x).shape)), dtype=dt),
                  (as_operand(input), dtypes.as_dtype(out_type).name), name=name)


def rank(input, name=None):  # noqa: A002
    return record("Rank", lambda x: np.array(len(static_type(x).shape), dtype=np.int32), (as_operand(input),),
                  name=name)


def _getitem(x, key):
    return x[key]


def getitem(tensor, key):
    """Slicing with ints, slices, Ellipsis and None (tf's strided_slice)."""
    return record("StridedSlice", _getitem, (tensor, key), name="strided_slice")


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    dt = dtypes.as_dtype(dtype or (dtypes.dtype_of_value(on_value) if on_value is not None else dtypes.float32))
    on = 1 if on_value is None else on_value
    off = 0 if off_value is None else off_value
    return record("OneHot", lambda i, d, a, b, ax, t: gc.one_hot(i, d, t, a, b, ax),
                  (as_operand(indices), int(depth), on, off, -1 if axis is None else int(axis), dt.name), name=name)


def range(start, limit=None, delta=1, dtype=None, name="range"):  # noqa: A001
    if limit is None:
        start, limit = 0, start
    is_float = any(isinstance(v, float) for v in (start, limit, delta))
    dt = dtypes.as_dtype(dtype) if dtype is not None else (dtypes.float32 if is_float else dtypes.int32)
    return record("Range", lambda: gc.arange(start, limit, delta, dt.name), name=name)

