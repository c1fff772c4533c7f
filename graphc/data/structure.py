"""Nested element structures of ``graphc.data``: tuples, namedtuples and dicts of leaves.

As in ``tf.data``, tuples (and namedtuples) and dicts are structure; every other value,
a Python list included, is one leaf converted to a numpy array (``from_tensor_slices
([1, 2, 3])`` is three scalars, not three components). Dicts keep their key order.
"""
from __future__ import annotations

import numpy as np


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def flatten(x) -> tuple[list, object]:
    """(leaves, structure): ``unflatten(structure, leaves)`` rebuilds ``x``."""
    leaves: list = []
    return leaves, _flatten(x, leaves)


def _flatten(x, leaves):
    if isinstance(x, dict):
        return ("dict", tuple(x), tuple(_flatten(x[k], leaves) for k in x))
    if _is_namedtuple(x):
        return ("namedtuple", type(x), tuple(_flatten(v, leaves) for v in x))
    if isinstance(x, tuple):
        return ("tuple", None, tuple(_flatten(v, leaves) for v in x))
    leaves.append(x)
    return None  # a leaf


def unflatten(structure, leaves):
    it = iter(leaves)
    out = _build(structure, it)
    return out


def _build(s, it):
    if s is None:
        return next(it)
    kind, meta, children = s
    if kind == "dict":
        return {k: _build(c, it) for k, c in zip(meta, children)}
    values = [_build(c, it) for c in children]
    if kind == "namedtuple":
        return meta(*values)
    return tuple(values)


def map_structure(fn, x):
    leaves, s = flatten(x)
    return unflatten(s, [fn(v) for v in leaves])


def paths(structure, prefix="") -> list[str]:
    """A readable name per leaf, in flatten order: ``[0]``, ``['image']``, ``[1][0]``."""
    if structure is None:
        return [prefix or "element"]
    kind, meta, children = structure
    keys = meta if kind == "dict" else range(len(children))
    out = []
    for k, c in zip(keys, children):
        out += paths(c, f"{prefix}[{k!r}]")
    return out


def to_array(v):
    """A leaf as a numpy array (bytes/str stay Python objects: one text record)."""
    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, (bytes, str)):
        return v
    return np.asarray(v)


def normalize_output(x, top=True):
    """A map function's or generator's result: a returned list becomes a tuple (tf.data's
    rule for returned structures), leaves become arrays."""
    if top and isinstance(x, list):
        x = tuple(x)
    if isinstance(x, dict):
        return {k: normalize_output(v, False) for k, v in x.items()}
    if _is_namedtuple(x):
        return type(x)(*[normalize_output(v, False) for v in x])
    if isinstance(x, tuple):
        return tuple(normalize_output(v, False) for v in x)
    return to_array(x)


def flatten_up_to(structure, x) -> list:
    """The subtrees of ``x`` at the leaves of ``structure`` (shapes given per component:
    ``output_shapes=((None,), ())`` against ``output_types=(float32, int32)``)."""
    out: list = []
    _up_to(structure, x, out)
    return out


def _up_to(s, x, out):
    if s is None:
        out.append(x)
        return
    kind, meta, children = s
    if kind == "dict":
        for k, c in zip(meta, children):
            _up_to(c, x[k], out)
        return
    if len(x) != len(children):
        raise ValueError(f"structure mismatch: expected {len(children)} entries, got {x!r}")
    for v, c in zip(x, children):
        _up_to(c, v, out)
