"""group, no_op, cond and control dependencies.

``tf.cond`` and ``tf.while_loop`` live in cond_while.py (gc.cond / gc.while_loop:
only the taken branch runs; loops run a run-time number of iterations).
"""
from __future__ import annotations

from .convert import is_graph_value
from .graph import Operation, get_default_graph
from .record import record
from .tree import flatten


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


from .cond_while import cond, while_loop  # noqa: E402,F401  (real control flow, issue 17)
