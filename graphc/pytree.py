"""Flatten nested tuples/lists/dicts of leaves and rebuild them (function inputs/outputs)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TreeDef:
    kind: str            # "leaf" | "tuple" | "list" | "dict" | "none"
    children: tuple = ()
    keys: tuple = ()

    def __str__(self):
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        inner = ", ".join(str(c) for c in self.children)
        if self.kind == "dict":
            inner = ", ".join(f"{k!r}: {c}" for k, c in zip(self.keys, self.children))
            return "{" + inner + "}"
        return ("(" + inner + ")") if self.kind == "tuple" else ("[" + inner + "]")


def flatten(tree):
    """(leaves, treedef) for nested tuples/lists/dicts; None is an empty node."""
    leaves = []
    return leaves, _flatten(tree, leaves)


def _flatten(x, leaves) -> TreeDef:
    if x is None:
        return TreeDef("none")
    if isinstance(x, tuple) and not hasattr(x, "_fields"):
        return TreeDef("tuple", tuple(_flatten(c, leaves) for c in x))
    if isinstance(x, list):
        return TreeDef("list", tuple(_flatten(c, leaves) for c in x))
    if isinstance(x, dict):
        keys = tuple(sorted(x.keys(), key=repr))
        return TreeDef("dict", tuple(_flatten(x[k], leaves) for k in keys), keys)
    leaves.append(x)
    return TreeDef("leaf")


def unflatten(treedef: TreeDef, leaves):
    """Rebuild the structure of ``treedef`` from ``leaves``.

    A module-level recursive helper (no self-referencing closure): a closure would form
    a reference cycle that keeps every leaf alive until the garbage collector runs, which
    defeats the runtime's recycling of dropped output buffers."""
    return _build(treedef, iter(leaves))


def _build(td: TreeDef, it):
    if td.kind == "leaf":
        return next(it)
    if td.kind == "none":
        return None
    children = [_build(c, it) for c in td.children]
    if td.kind == "tuple":
        return tuple(children)
    if td.kind == "list":
        return children
    return dict(zip(td.keys, children))
