"""Source ops: values that enter a graph without being computed by a kernel."""
from __future__ import annotations

import numpy as np

from ..ir import TensorType
from .registry import defop


def _param_infer(types, attrs):
    return attrs["_type"]


def _param_impl(attrs):
    raise RuntimeError("param nodes are bound by the interpreter, not evaluated")


defop("param", "source", _param_infer, _param_impl)


def _const_infer(types, attrs):
    v = attrs["value"]
    return TensorType(v.shape, v.dtype.name if v.dtype != np.bool_ else "bool")


def _const_emit(kb, node, idx):
    value = node.attrs["value"]
    if value.size == 1:
        return kb.const(value.reshape(()).item(), node.type.dtype)
    return kb.read_buffer(kb, node, idx)


defop("constant", "source", _const_infer, lambda attrs: attrs["value"], emit=_const_emit)


def _var_infer(types, attrs):
    var = attrs["var"]
    return TensorType(var.shape, var.dtype)


def _var_impl(attrs):
    return attrs["var"].numpy()


defop("read_variable", "source", _var_infer, _var_impl, pure=False)
