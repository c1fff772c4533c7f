"""gc.interpret: run a Graph with each op's numpy reference (the oracle tests compare to)."""
from __future__ import annotations

import numpy as np

from .ops.registry import get_op
from .pytree import flatten, unflatten


def interpret(graph, *args, update_variables: bool = False):
    """Evaluate ``graph`` on numpy inputs (same structure as the traced call)."""
    leaves, _ = flatten(args)
    if len(leaves) != len(graph.params):
        raise TypeError(f"graph has {len(graph.params)} inputs, got {len(leaves)}")
    env: dict[int, np.ndarray] = {}
    for k, (p, x) in enumerate(zip(graph.params, leaves)):
        x = np.asarray(x)
        if x.shape != tuple(p.type.shape):  # numpy would broadcast it into a wrong answer
            raise TypeError(f"input {k}: the graph was traced for {p.type}, got {x.dtype.name}{list(x.shape)}")
        env[p.id] = x.astype(p.type.dtype, copy=False)
    for var, n in graph.var_reads.items():
        env[n.id] = var.numpy()
    for n in graph.nodes:
        if n.id in env:
            continue
        op = get_op(n.op)
        with np.errstate(all="ignore"):
            value = op.reference(n.attrs, *[env[i.id] for i in n.inputs])
        if n.type.dtype == "tuple":  # a multi-result node: keep the tuple for tuple_get
            env[n.id] = tuple(value)
            continue
        env[n.id] = np.asarray(value).astype(n.type.dtype, copy=False).reshape(n.type.shape)
    outs = [env[o.id].copy() for o in graph.outputs]
    if update_variables:
        for var, n in graph.var_updates.items():
            var.assign(env[n.id])
    return unflatten(graph.out_tree, outs) if graph.out_tree is not None else outs
