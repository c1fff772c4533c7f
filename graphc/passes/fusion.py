"""Kernel formation: which nodes get their own kernel, which are inlined into a consumer.

The result is ``graph.kernels``: a list of ``KernelGroup`` (one root whose value is
stored to memory, plus the member nodes inlined into the root's loop nest), in
execution order. ``no_fusion`` gives every computed node its own kernel (the naive
mode: every intermediate written to memory); ``fusion`` inlines elementwise and
index-remapping producers into their only consumer.

``reshape`` of a materialized value is a free alias (same bytes, new shape), so it
never needs a kernel of its own; its input is then materialized.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ops.registry import get_op
from .manager import Pass, register_pass


@dataclass
class KernelGroup:
    root: object                      # the Node whose value this kernel stores
    members: list = field(default_factory=list)  # Nodes inlined into the loop nest (root included)

    def describe(self) -> str:
        return f"kernel[{self.root.op} -> %{self.root.id}] = {{" + ", ".join(f"{m.op}%{m.id}" for m in self.members) + "}"


def computed(node) -> bool:
    return get_op(node.op).kind != "source"


def build_groups(graph, inline: set) -> list:
    """Groups for every materialized computed node (not aliases), members by inlining."""
    groups = []
    for n in graph.nodes:
        if not computed(n) or n.id in inline or is_alias(graph, n, inline):
            continue
        members, stack, seen = [], [n], set()
        while stack:
            m = stack.pop()
            if m.id in seen:
                continue
            seen.add(m.id)
            members.append(m)
            stack.extend(i for i in m.inputs if i.id in inline)
        order = {x.id: k for k, x in enumerate(graph.nodes)}
        members.sort(key=lambda x: order[x.id])
        groups.append(KernelGroup(n, members))
    return groups


def is_alias(graph, node, inline) -> bool:
    """A reshape that is materialized shares its input's buffer instead of a kernel."""
    return node.op == "reshape" and node.id not in inline


def _roots(graph) -> set:
    return {n.id for n in graph.roots()}


@register_pass
class NoFusion(Pass):
    name = "no_fusion"
    reason = "naive mode: one kernel per op, every intermediate in memory (the fused-vs-naive baseline)"

    def run(self, graph, ctx):
        graph.kernels = build_groups(graph, set())


@register_pass
class Fusion(Pass):
    name = "fusion"
    reason = "inline elementwise and index-remapping producers into their single consumer's loop nest"

    def run(self, graph, ctx):
        users = graph.users()
        roots = _roots(graph)
        inline: set = set()
        must_materialize: set = set()
        for n in reversed(graph.nodes):
            kind = get_op(n.op).kind
            if n.id in roots or n.id in must_materialize or kind not in ("elementwise", "injective"):
                if n.op == "reshape" and n.inputs:
                    must_materialize.add(n.inputs[0].id)
                continue
            if len(users.get(n.id, [])) == 1:
                inline.add(n.id)
            elif n.op == "reshape" and n.inputs:
                must_materialize.add(n.inputs[0].id)
        graph.kernels = build_groups(graph, inline)
