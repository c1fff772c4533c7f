"""Flatten pytrees of leaves and rebuild them (function inputs/outputs, loop carries).

A pytree is a nest of containers whose leaves are arrays (or Python scalars): tuples,
lists, dicts (keys sorted), None (an empty node), namedtuples, dataclasses (every field a
child, except fields marked ``field(metadata={"static": True})``, which are part of the
structure and so of the compile cache key), and classes registered with
``register_pytree_node(cls, flatten, unflatten)``. (A class with ``_graphc_leaf = True``,
such as ``gc.TensorSpec``, is a leaf even when it is a dataclass.) As in JAX, a Python list is a
container of leaves, not an array: ``f([x, y])`` passes two arrays.

The structure is a hashable ``TreeDef`` (compiled functions key their cache on it).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# cls -> (flatten(obj) -> (children, aux), unflatten(aux, children) -> obj)
_REGISTRY: dict = {}


def register_pytree_node(cls, flatten_fn, unflatten_fn):
    """Make instances of ``cls`` pytree nodes (JAX's ``register_pytree_node``).

    ``flatten_fn(obj) -> (children, aux_data)``: children is a sequence of pytrees,
    aux_data hashable data kept in the structure (a change retraces a compiled function);
    ``unflatten_fn(aux_data, children) -> obj`` rebuilds an instance (it may receive
    traced Tensors as children, so it must not compute with them).

        class Point:
            def __init__(self, x, y): self.x, self.y = x, y
        gc.register_pytree_node(Point, lambda p: ((p.x, p.y), None),
                                lambda aux, ch: Point(*ch))
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_pytree_node: expected a class, got {cls!r}")
    if cls in _REGISTRY or cls in (tuple, list, dict, type(None)):
        raise ValueError(f"register_pytree_node: {cls.__name__} is already a pytree node type")
    _REGISTRY[cls] = (flatten_fn, unflatten_fn)
    return cls


@dataclass(frozen=True)
class TreeDef:
    kind: str            # "leaf" | "tuple" | "list" | "dict" | "none" | "namedtuple" | "dataclass" | "custom"
    children: tuple = ()
    keys: tuple = ()     # dict keys; field names of namedtuples and dataclasses
    node_type: object = None  # the class of a namedtuple/dataclass/registered node
    aux: object = None   # registered nodes' aux data; dataclasses' static fields

    def __str__(self):
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        inner = ", ".join(str(c) for c in self.children)
        if self.kind == "dict":
            inner = ", ".join(f"{k!r}: {c}" for k, c in zip(self.keys, self.children))
            return "{" + inner + "}"
        if self.node_type is not None:
            if self.keys:
                inner = ", ".join(f"{k}={c}" for k, c in zip(self.keys, self.children))
            return f"{self.node_type.__name__}({inner})"
        return ("(" + inner + ")") if self.kind == "tuple" else ("[" + inner + "]")


def flatten(tree):
    """(leaves, treedef) for a pytree; None is an empty node."""
    leaves = []
    return leaves, _flatten(tree, leaves)


def _static_fields(cls) -> tuple:
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("static"))


def _flatten(x, leaves) -> TreeDef:
    if x is None:
        return TreeDef("none")
    t = type(x)
    if t in _REGISTRY:
        children, aux = _REGISTRY[t][0](x)
        try:
            hash(aux)
        except TypeError:
            raise TypeError(f"pytree node {t.__name__}: its flatten function returned unhashable "
                            f"aux data {aux!r} (aux data is part of the compile cache key)") from None
        return TreeDef("custom", tuple(_flatten(c, leaves) for c in children), (), t, aux)
    if isinstance(x, tuple):
        if hasattr(x, "_fields"):  # a namedtuple
            return TreeDef("namedtuple", tuple(_flatten(c, leaves) for c in x), tuple(x._fields), t)
        return TreeDef("tuple", tuple(_flatten(c, leaves) for c in x))
    if isinstance(x, list):
        return TreeDef("list", tuple(_flatten(c, leaves) for c in x))
    if isinstance(x, dict):
        keys = tuple(sorted(x.keys(), key=repr))
        return TreeDef("dict", tuple(_flatten(x[k], leaves) for k in keys), keys)
    if dataclasses.is_dataclass(x) and not isinstance(x, type) and not getattr(t, "_graphc_leaf", False):
        static = _static_fields(t)
        names = tuple(f.name for f in dataclasses.fields(x) if f.name not in static)
        aux = tuple((n, getattr(x, n)) for n in static)
        try:
            hash(aux)
        except TypeError:
            raise TypeError(f"dataclass {t.__name__}: static fields must be hashable, got {aux!r}") from None
        return TreeDef("dataclass", tuple(_flatten(getattr(x, n), leaves) for n in names), names, t, aux)
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
    if td.kind == "dict":
        return dict(zip(td.keys, children))
    if td.kind == "namedtuple":
        return td.node_type(*children)
    if td.kind == "dataclass":
        # fields set directly (no __init__/__post_init__: validation there may not accept
        # traced values, and frozen dataclasses must still be rebuilt)
        obj = td.node_type.__new__(td.node_type)
        for name, value in list(zip(td.keys, children)) + list(td.aux):
            object.__setattr__(obj, name, value)
        return obj
    return _REGISTRY[td.node_type][1](td.aux, children)


def tree_map(fn, tree, *rest):
    """``fn`` applied to every leaf of ``tree`` (and the matching leaves of ``rest``,
    which must have the same structure); the result has ``tree``'s structure."""
    leaves, td = flatten(tree)
    others = []
    for r in rest:
        lv, td2 = flatten(r)
        if td2 != td:
            raise ValueError(f"tree_map: structures differ: {td} vs {td2}")
        others.append(lv)
    return unflatten(td, [fn(*xs) for xs in zip(leaves, *others)])


def leaves_of(tree) -> list:
    return flatten(tree)[0]
