"""Graph and Node: the IR every pass and backend works on.

A Node is one op application: an op name, input nodes, static attributes and the
type of the single tensor it produces. A Graph holds its parameter nodes (the flattened
function inputs), the variables it reads, its outputs, and the new values it assigns
to variables. Nodes are kept in a topological order that passes re-establish with
``Graph.sort()`` after rewriting.
"""
from __future__ import annotations

import itertools
from typing import Any

from .types import TensorType

_ids = itertools.count()


class Node:
    """One op application producing one tensor."""

    __slots__ = ("id", "op", "inputs", "attrs", "type", "loc", "device")

    def __init__(self, op: str, inputs, attrs: dict | None, type: TensorType, loc: str = "", device: str | None = None):
        self.id = next(_ids)
        self.op = op
        self.inputs = list(inputs)
        self.attrs = dict(attrs or {})
        self.type = type
        self.loc = loc
        self.device = device

    @property
    def shape(self):
        return self.type.shape

    @property
    def dtype(self):
        return self.type.dtype

    def __repr__(self):
        return f"%{self.id}:{self.op}:{self.type}"


class Graph:
    """A traced function: params -> outputs, plus variable reads and updates.

    params: Node(op="param") in flattened input order.
    outputs: list of Node, flattened output order; ``out_tree`` rebuilds the structure.
    var_reads: {Variable: Node(op="read_variable")} the variables' values at entry.
    var_updates: {Variable: Node} the values written back to variables at exit.
    """

    def __init__(self, name: str = "main"):
        self.name = name
        self.params: list[Node] = []
        self.outputs: list[Node] = []
        self.var_reads: dict[Any, Node] = {}
        self.var_updates: dict[Any, Node] = {}
        self.nodes: list[Node] = []
        self.in_tree = None
        self.out_tree = None
        self.kernels = None  # list of KernelGroup, set by the fusion / no_fusion pass

    # -- structure ---------------------------------------------------------------------
    def roots(self) -> list[Node]:
        """Nodes whose values leave the graph: outputs and variable updates."""
        return list(self.outputs) + list(self.var_updates.values())

    def sort(self) -> None:
        """Recompute ``nodes`` as the topological order of everything reachable from the
        roots, keeping params and variable reads even when unused (they are the ABI)."""
        order: list[Node] = []
        seen: set[int] = set()
        for p in self.params:
            seen.add(p.id)
            order.append(p)
        for r in self.var_reads.values():
            seen.add(r.id)
            order.append(r)
        for root in self.roots():
            stack = [(root, False)]
            while stack:
                node, expanded = stack.pop()
                if expanded:
                    order.append(node)
                    continue
                if node.id in seen:
                    continue
                seen.add(node.id)
                stack.append((node, True))
                for inp in reversed(node.inputs):
                    if inp.id not in seen:
                        stack.append((inp, False))
        self.nodes = order

    def users(self) -> dict[int, list[Node]]:
        """Map node id -> nodes that read it (in topological order)."""
        result: dict[int, list[Node]] = {n.id: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                result.setdefault(i.id, []).append(n)
        return result

    def replace_all_uses(self, mapping: dict[int, Node]) -> None:
        """Rewrite every reference to node ids in ``mapping`` to the mapped node."""
        if not mapping:
            return

        def resolve(n: Node) -> Node:
            while n.id in mapping and mapping[n.id] is not n:
                n = mapping[n.id]
            return n

        for n in self.nodes:
            n.inputs = [resolve(i) for i in n.inputs]
        self.outputs = [resolve(o) for o in self.outputs]
        self.var_updates = {v: resolve(n) for v, n in self.var_updates.items()}

    def copy(self) -> "Graph":
        """A deep copy of the node structure (nodes are fresh objects, attrs shared)."""
        g = Graph(self.name)
        remap: dict[int, Node] = {}
        for n in self.nodes:
            c = Node(n.op, [remap[i.id] for i in n.inputs], n.attrs, n.type, n.loc, n.device)
            remap[n.id] = c
        g.nodes = [remap[n.id] for n in self.nodes]
        g.params = [remap[p.id] for p in self.params]
        g.var_reads = {v: remap[n.id] for v, n in self.var_reads.items()}
        g.var_updates = {v: remap[n.id] for v, n in self.var_updates.items()}
        g.outputs = [remap[o.id] for o in self.outputs]
        g.in_tree, g.out_tree = self.in_tree, self.out_tree
        return g

    def __str__(self):
        from .printer import format_graph

        return format_graph(self)

    def __repr__(self):
        return f"<graphc.Graph {self.name}: {len(self.nodes)} nodes>"
