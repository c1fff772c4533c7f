"""IR verifier: run after every pass so a broken rewrite is caught where it happens."""
from __future__ import annotations

from ..errors import VerificationError


def verify(graph, after: str = "") -> None:
    """Check topological order, that each input is defined, that types match the op's
    shape rule, and that outputs/updates are nodes of the graph."""
    from ..ops.registry import get_op

    where = f" after pass '{after}'" if after else ""
    defined: set[int] = set()
    for n in graph.nodes:
        if n.id in defined:
            raise VerificationError(f"node %{n.id} ({n.op}) appears twice{where}")
        for i in n.inputs:
            if i.id not in defined:
                raise VerificationError(f"node %{n.id} ({n.op}) uses %{i.id} ({i.op}) before it is defined{where}")
        op = get_op(n.op)
        try:
            expected = op.infer([i.type for i in n.inputs], n.attrs)
        except Exception as e:  # a shape rule rejecting its own node is a pass bug
            raise VerificationError(f"node %{n.id} ({n.op}) fails its shape rule{where}: {e}") from None
        if expected != n.type:
            raise VerificationError(f"node %{n.id} ({n.op}) has type {n.type} but its shape rule gives {expected}{where}")
        defined.add(n.id)
    for o in graph.roots():
        if o.id not in defined:
            raise VerificationError(f"output %{o.id} ({o.op}) is not in the graph{where}")
    for var, n in graph.var_updates.items():
        if n.type.shape != tuple(var.shape) or n.type.dtype != var.dtype:
            raise VerificationError(f"update of variable {var.name} has type {n.type}, variable is {var.dtype}{list(var.shape)}{where}")
