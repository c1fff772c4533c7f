"""The basic cleanup passes: constant folding, common-subexpression elimination, DCE."""
from __future__ import annotations

import numpy as np

from ..ir import Node, TensorType
from ..ops.registry import get_op
from .manager import Pass, register_pass

# Folding a node whose result is larger than this would bloat the compiled object
# with data that a kernel can compute cheaply (zeros((4096, 4096)) stays a fill op).
FOLD_LIMIT_ELEMENTS = 1 << 16


def _is_const(n: Node) -> bool:
    return n.op == "constant"


@register_pass
class ConstantFold(Pass):
    name = "constant_fold"
    reason = "evaluate pure ops whose inputs are all constants with their numpy reference, once, at compile time"

    def run(self, graph, ctx):
        mapping = {}
        for n in graph.nodes:
            op = get_op(n.op)
            if op.kind == "source" or not op.pure or n.type.dtype == "tuple" or not n.type.is_static:
                continue  # (a symbolic size is only known at run time)
            if not n.inputs and n.type.size > 64:
                continue  # a big fill/iota is cheaper to compute than to store
            if not all(_is_const(mapping.get(i.id, i)) for i in n.inputs):
                continue
            if n.type.size > FOLD_LIMIT_ELEMENTS:
                continue
            values = [mapping.get(i.id, i).attrs["value"] for i in n.inputs]
            with np.errstate(all="ignore"):
                result = np.array(op.reference(n.attrs, *values), dtype=n.type.dtype, order="C").reshape(n.type.shape)
            result.setflags(write=False)
            c = Node("constant", [], {"value": result}, TensorType(result.shape, n.type.dtype), n.loc, n.device)
            mapping[n.id] = c
        if mapping:
            graph.replace_all_uses(mapping)


def _hashable(v):
    if isinstance(v, np.ndarray):
        return ("nd", v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    if isinstance(v, float) and v != v:
        return ("nan",)
    try:
        hash(v)
        return v
    except TypeError:
        return ("id", id(v))


@register_pass
class CSE(Pass):
    name = "cse"
    reason = "compute identical pure expressions (same op, inputs and attributes) once"

    def run(self, graph, ctx):
        seen: dict = {}
        mapping: dict = {}
        for n in graph.nodes:
            op = get_op(n.op)
            if not op.pure or n.op == "param":
                continue
            if n.op == "constant" and n.type.size > 4096:
                continue  # hashing big constants costs more than it saves
            inputs = tuple(mapping.get(i.id, i).id for i in n.inputs)
            key = (n.op, inputs, _hashable(n.attrs), n.type, n.device)
            prev = seen.get(key)
            if prev is None:
                seen[key] = n
            else:
                mapping[n.id] = prev
        graph.replace_all_uses(mapping)


@register_pass
class DCE(Pass):
    name = "dce"
    reason = "drop nodes no output or variable update depends on"

    def run(self, graph, ctx):
        graph.sort()  # sort() keeps only what the roots reach
