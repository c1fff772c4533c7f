"""Flatten/unflatten nested fetches and op results (tuples, lists, dicts, namedtuples).

graphc.pytree treats namedtuples as leaves; TF fetches and RNN states (LSTMStateTuple)
are tuple subclasses whose items must be visited (and whose type must come back),
hence this small variant.
"""
from __future__ import annotations


def flatten(x, is_leaf=None):
    leaves = []

    def rec(v):
        if is_leaf is not None and is_leaf(v):
            leaves.append(v)
            return ("leaf",)
        if v is None:
            return ("none",)
        if isinstance(v, tuple) and type(v) is not tuple:  # namedtuples, LSTMStateTuple
            return ("namedtuple", type(v), tuple(rec(c) for c in v))
        if isinstance(v, tuple):
            return ("tuple", tuple(rec(c) for c in v))
        if isinstance(v, list):
            return ("list", tuple(rec(c) for c in v))
        if isinstance(v, dict):
            keys = list(v.keys())
            return ("dict", tuple(rec(v[k]) for k in keys), tuple(keys))
        leaves.append(v)
        return ("leaf",)

    return leaves, rec(x)


def unflatten(tree, leaves):
    it = iter(leaves)

    def rec(t):
        kind = t[0]
        if kind == "leaf":
            return next(it)
        if kind == "none":
            return None
        if kind == "namedtuple":
            return t[1](*[rec(c) for c in t[2]])
        if kind == "tuple":
            return tuple(rec(c) for c in t[1])
        if kind == "list":
            return [rec(c) for c in t[1]]
        return {k: rec(c) for k, c in zip(t[2], t[1])}

    return rec(tree)
