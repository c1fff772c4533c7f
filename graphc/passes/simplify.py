"""Algebraic simplification: rewrite patterns that cost work but change nothing.

Each rule looks at one node and may return a replacement node; the pass applies rules
until nothing changes. Rules keep numpy semantics exactly (``x * 1`` is ``x`` only when
the result dtype and shape equal x's; ``x + 0`` likewise, up to the sign of a zero; ``x - x`` is *not* 0 because
of NaN and inf).
"""
from __future__ import annotations

import numpy as np

from ..ir import Node
from .manager import Pass, register_pass


def _const_value(n: Node):
    """The scalar value of a constant/fill node that holds one repeated value, else None."""
    if n.op == "constant":
        v = n.attrs["value"]
        if v.size and np.all(v == v.flat[0]) and not (v.dtype.kind == "f" and np.isnan(v.flat[0])):
            return v.flat[0].item()
    if n.op == "fill":
        return n.attrs["value"]
    return None


def _same_type(a: Node, b: Node) -> bool:
    return a.type == b.type


def _identity_operand(node: Node, neutral, commutative=True):
    """For x op c where c is the neutral element (broadcasting into x's type), return x."""
    a, b = node.inputs
    if _const_value(b) == neutral and _same_type(a, node) and _const_value(b) is not None:
        return a
    if commutative and _const_value(a) == neutral and _const_value(a) is not None and _same_type(b, node):
        return b
    return None


def _simplify(n: Node):
    op = n.op
    if op in ("add",):
        return _identity_operand(n, 0)
    if op == "subtract":
        return _identity_operand(n, 0, commutative=False)
    if op == "multiply":
        return _identity_operand(n, 1)
    if op == "divide":
        return _identity_operand(n, 1, commutative=False)
    if op == "power":
        a, b = n.inputs
        if _const_value(b) == 1 and _same_type(a, n):
            return a
    if op == "negative" and n.inputs[0].op == "negative":
        return n.inputs[0].inputs[0]
    if op == "cast" and n.inputs[0].type == n.type:
        return n.inputs[0]
    if op == "transpose":
        inner = n.inputs[0]
        if inner.op == "transpose":
            composed = tuple(inner.attrs["perm"][p] for p in n.attrs["perm"])
            if composed == tuple(range(len(composed))):
                return inner.inputs[0]
            return Node("transpose", [inner.inputs[0]], {"perm": composed}, n.type, n.loc, n.device)
        if n.attrs["perm"] == tuple(range(n.type.ndim)):
            return inner
    if op == "reshape":
        inner = n.inputs[0]
        if inner.type.shape == n.type.shape:
            return inner
        if inner.op == "reshape":
            return Node("reshape", [inner.inputs[0]], {"shape": n.type.shape}, n.type, n.loc, n.device)
    if op == "broadcast_to" and n.inputs[0].type == n.type:
        return n.inputs[0]
    if op == "where":
        c = _const_value(n.inputs[0])
        if c is not None and n.inputs[0].op in ("constant", "fill"):
            pick = n.inputs[1] if c else n.inputs[2]
            if _same_type(pick, n):
                return pick
    return None


@register_pass
class AlgebraicSimplify(Pass):
    name = "simplify"
    reason = "remove identities (x*1, x+0, x/1, x**1, --x, same-type casts), fold transpose and reshape chains"

    def run(self, graph, ctx):
        for _ in range(8):  # a chain of rewrites settles in a few rounds
            mapping = {}
            for n in graph.nodes:
                n.inputs = [mapping.get(i.id, i) for i in n.inputs]
                r = _simplify(n)
                if r is not None and r is not n:
                    mapping[n.id] = r
            if not mapping:
                return
            graph.replace_all_uses(mapping)
            graph.sort()
