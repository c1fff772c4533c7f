"""What happens when numpy meets a traced Tensor.

numpy functions cannot run on traced values (there is no data yet), so calling one
raises ``NumpyOnTracedValueError`` naming the numpy function, the graphc function to use
instead (``np.sin`` -> ``gc.sin``) and the user's line, instead of numpy's generic
failure to convert the Tensor to an array. (JAX raises here too; TensorFlow converts.)

Two exceptions keep ordinary code working:

- numpy's binary operators with an ndarray on the left (``ndarray + tensor``) reach
  ``Tensor.__array_ufunc__`` as the ufunc (``np.add``): the ufuncs behind Python
  operators run the Tensor's operator, as the expression meant.
- ``np.shape``, ``np.ndim`` and ``np.size`` answer from the static type.
"""
from __future__ import annotations

from .errors import TraceError, user_source_line


class NumpyOnTracedValueError(TraceError, TypeError):
    """A numpy function was called on a traced Tensor (use the graphc function instead)."""


# ufunc name -> (Tensor method, reflected method): the ufuncs numpy's ndarray operators call
_OPERATOR_UFUNCS = {
    "add": ("__add__", "__radd__"), "subtract": ("__sub__", "__rsub__"),
    "multiply": ("__mul__", "__rmul__"), "divide": ("__truediv__", "__rtruediv__"),
    "true_divide": ("__truediv__", "__rtruediv__"), "power": ("__pow__", "__rpow__"),
    "matmul": ("__matmul__", "__rmatmul__"),
    "less": ("__lt__", "__gt__"), "less_equal": ("__le__", "__ge__"),
    "greater": ("__gt__", "__lt__"), "greater_equal": ("__ge__", "__le__"),
    "equal": ("__eq__", "__eq__"), "not_equal": ("__ne__", "__ne__"),
    "bitwise_and": ("__and__", "__rand__"), "bitwise_or": ("__or__", "__ror__"),
    "bitwise_xor": ("__xor__", "__rxor__"),
    "floor_divide": ("__floordiv__", "__rfloordiv__"), "remainder": ("__mod__", "__rmod__"),
    "divmod": ("__divmod__", "__rdivmod__"),
    "left_shift": ("__lshift__", "__rlshift__"), "right_shift": ("__rshift__", "__rrshift__"),
}

# numpy names whose graphc function has another name
_RENAMED = {"absolute": "abs", "true_divide": "divide", "fabs": "abs", "amax": "max", "amin": "min",
            "concat": "concatenate", "asin": "arcsin", "acos": "arccos", "atan": "arctan",
            "atan2": "arctan2", "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh", "pow": "power",
            "bitwise_invert": "bitwise_not", "bitwise_left_shift": "left_shift",
            "bitwise_right_shift": "right_shift", "fix": "trunc", "round_": "round", "cumulative_sum": "cumsum",
            "cumulative_prod": "cumprod"}

# numpy functions that read only static information
_STATIC = {"shape": lambda t: tuple(t.shape), "ndim": lambda t: t.ndim, "size": lambda t: t.size}



def graphc_equivalent(name: str) -> str | None:
    """'gc.<name>' for the graphc function standing in for numpy's ``name``, or None."""
    import graphc

    target = _RENAMED.get(name, name)
    if callable(getattr(graphc, target, None)):
        return f"gc.{target}"
    if callable(getattr(graphc.nn, target, None)):
        return f"gc.nn.{target}"
    return None


def _refuse(what: str, name: str):
    equivalent = graphc_equivalent(name)
    hint = (f"use {equivalent} instead" if equivalent else
            f"graphc has no {name}; build it from graphc ops (or compute it outside the compiled function)")
    raise NumpyOnTracedValueError(
        f"{what} was called on a traced Tensor inside a compiled (or differentiated) function; numpy "
        f"cannot compute on traced values: {hint}\n  at {user_source_line()}")


def array_ufunc(self, ufunc, method, *inputs, **kwargs):
    from .tracing import Tensor

    name = ufunc.__name__
    if method == "__call__" and not kwargs and len(inputs) == 2 and name in _OPERATOR_UFUNCS:
        forward, reflected = _OPERATOR_UFUNCS[name]
        a, b = inputs
        result = getattr(a, forward)(b) if isinstance(a, Tensor) else getattr(b, reflected)(a)
        if result is not NotImplemented:
            return result
    what = f"numpy.{name}" if method == "__call__" else f"numpy.{name}.{method}"
    _refuse(what, name)


def array_function(self, func, types, args, kwargs):
    name = func.__name__
    if name in _STATIC and len(args) == 1 and not kwargs:
        return _STATIC[name](args[0])
    module = getattr(func, "__module__", None) or "numpy"
    _refuse(f"{module if module.startswith('numpy') else 'numpy'}.{name}", name)


def array(self, *args, **kwargs):
    raise NumpyOnTracedValueError(
        "cannot convert a traced Tensor to a numpy array inside a compiled (or differentiated) "
        "function (np.asarray, np.array or a numpy function on it); use graphc ops on traced values\n"
        f"  at {user_source_line()}")
