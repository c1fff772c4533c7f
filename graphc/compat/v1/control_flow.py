"""group, no_op, cond and control dependencies.

``tf.cond`` builds both branches (TF does too) and selects elementwise with
``gc.where``: exact for side-effect-free branches, which is what the books' uses are
(an assign inside a branch would run whichever way the predicate goes).
"""
from __future__ import annotations

import graphc as gc
from . import dtypes
from .convert import is_graph_value, match_operands
from .graph import Operation, get_default_graph
from .record import record
from .tree import flatten, unflatten


def _nothing():
    return None


def no_op(name=None):
    return record("NoOp", _nothing, name=name)


def group(*inputs, **kwargs):
    """An op that runs all ``inputs`` (control dependencies only, no value)."""
    name = kwargs.pop("name", None)
    if kwargs:
        raise TypeError(f"Unknown keyword arguments: {list(kwargs)}")
    flat, _ = flatten(list(inputs), is_leaf=lambda x: isinstance(x, Operation) or is_graph_value(x))
    flat = [x for x in flat if x is not None]
    return record("NoOp", _nothing, name=name or "group_deps", control_inputs=flat)


def control_dependencies(control_inputs):
    return get_default_graph().control_dependencies(control_inputs)


def tuple(tensors, name=None, control_inputs=None):  # noqa: A001
    """tf.tuple: the same tensors, each only available after all of them are computed."""
    from .array_ops import identity

    gate = group(*[t for t in tensors if t is not None], *(control_inputs or []))
    with control_dependencies([gate]):
        return [identity(t) if t is not None else None for t in tensors]


def cond(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """Both branches are built and the result selected with gc.where (see module doc)."""
    true_fn = true_fn or fn1
    false_fn = false_fn or fn2
    if not is_graph_value(pred):
        return true_fn() if pred else false_fn()
    if pred.dtype != dtypes.bool:
        raise TypeError(f"pred must be a bool tensor, got {pred.dtype.name}")
    graph = get_default_graph()
    with graph.name_scope(name or "cond"):
        with graph.name_scope("true"):
            t_out = true_fn()
        with graph.name_scope("false"):
            f_out = false_fn()
    is_leaf = lambda x: isinstance(x, Operation) or is_graph_value(x)  # noqa: E731
    t_leaves, t_tree = flatten(t_out, is_leaf=is_leaf)
    f_leaves, f_tree = flatten(f_out, is_leaf=is_leaf)
    if t_tree != f_tree:
        raise ValueError("true_fn and false_fn must return the same structure")
    outs = []
    for a, b in zip(t_leaves, f_leaves):
        if isinstance(a, Operation) or isinstance(b, Operation):
            outs.append(group(a, b, name="cond_ops"))
            continue
        a, b = match_operands("Merge", a, b)
        outs.append(record("Merge", gc.where, (pred, a, b), name="Merge"))
    return unflatten(t_tree, outs)

