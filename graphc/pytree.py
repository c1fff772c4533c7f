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

    def rec(x):
        if x is None:
            return TreeDef("none")
        if isinstance(x, tuple) and not hasattr(x, "_fields"):
            return TreeDef("tuple", tuple(rec(c) for c in x))
        if isinstance(x, list):
            return TreeDef("list", tuple(rec(c) for c in x))
        if isinstance(x, dict):
            keys = tuple(sorted(x.keys(), key=repr))
            return TreeDef("dict", tuple(rec(x[k]) for k in keys), keys)
        leaves.append(x)
        return TreeDef("leaf")

    return leaves, rec(tree)


def unflatten(treedef: TreeDef, leaves):
    it = iter(leaves)

    def rec(td):
        if td.kind == "leaf":
            return next(it)
        if td.kind == "none":
            return None
        children = [rec(c) for c in td.children]
        if td.kind == "tuple":
            return tuple(children)
        if td.kind == "list":
            return children
        return dict(zip(td.keys, children))

    return rec(treedef)
