"""Lowering a fused graph to a Program: kernels in order plus a buffer for every value.

The Program is target-neutral: it says which kernels run, which node each stores, and
where every materialized value lives (an input, an output, a variable, a constant, or
an offset in one workspace). Backends turn it into code; the runtime uses its ABI
(inputs, outputs, variables, workspace size) to call that code.

ABI of the generated entry point: ``int32 graphc_main(void** args)`` with
``args = [inputs..., outputs..., variables..., workspace]``; it returns 0 on success.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..passes.fusion import KernelGroup, build_groups, is_alias

ALIGN = 64


@dataclass
class Buffer:
    kind: str          # "input" | "output" | "variable" | "workspace" | "constant"
    slot: int          # index among its kind, or byte offset for "workspace"
    shape: tuple
    dtype: str
    nbytes: int
    value: object = None  # ndarray for constants

    def key(self):
        return (self.kind, self.slot)


@dataclass
class Kernel:
    name: str
    root: object              # Node whose value is stored
    inline: frozenset         # node ids whose emit is inlined
    dest: Buffer              # where the root's value is stored
    reads: dict               # node id -> Buffer for materialized nodes read by the kernel
    shape: tuple
    members: list = field(default_factory=list)

    def buffers(self) -> list:
        """Distinct buffers in parameter order: destination first."""
        seen, out = set(), []
        for b in [self.dest] + list(self.reads.values()):
            if b.key() not in seen:
                seen.add(b.key())
                out.append(b)
        return out


@dataclass
class Program:
    name: str
    kernels: list
    inputs: list             # Buffer per graph param
    outputs: list            # Buffer per graph output
    variables: list          # Variable objects, in slot order
    workspace_bytes: int
    naive_bytes: int = 0     # sum of all intermediates (no reuse), for the memory report


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


class _Planner:
    """Workspace offsets; the simple policy gives each value its own range."""

    def __init__(self):
        self.size = 0
        self.naive = 0

    def allocate(self, node) -> Buffer:
        off = self.size
        nbytes = node.type.nbytes
        self.size += _align(max(nbytes, 1))
        self.naive += nbytes
        return Buffer("workspace", off, node.type.shape, node.type.dtype, nbytes)


def lower_program(graph, name: str = "main", planner=None) -> Program:
    """Assign buffers and build the kernel list for a graph after the pass pipeline."""
    groups = graph.kernels if graph.kernels is not None else build_groups(graph, set())
    inline_ids = set()
    for g in groups:
        inline_ids.update(m.id for m in g.members if m is not g.root)
    planner = planner or _Planner()

    var_slots = {}
    variables = []
    for var in list(graph.var_reads) + list(graph.var_updates):
        if var not in var_slots:
            var_slots[var] = len(variables)
            variables.append(var)

    buffers: dict[int, Buffer] = {}
    inputs = []
    for k, p in enumerate(graph.params):
        b = Buffer("input", k, p.type.shape, p.type.dtype, p.type.nbytes)
        buffers[p.id] = b
        inputs.append(b)
    for var, n in graph.var_reads.items():
        buffers[n.id] = Buffer("variable", var_slots[var], n.type.shape, n.type.dtype, n.type.nbytes)

    outputs = [Buffer("output", k, o.type.shape, o.type.dtype, o.type.nbytes) for k, o in enumerate(graph.outputs)]
    # A computed root that is an output (first occurrence) stores straight into it.
    direct_out: dict[int, Buffer] = {}
    for o, b in zip(graph.outputs, outputs):
        if o.id not in direct_out and not is_alias(graph, o, inline_ids) and o.op not in ("param", "constant", "read_variable"):
            direct_out[o.id] = b

    const_count = 0

    def buffer_of(node) -> Buffer:
        nonlocal const_count
        b = buffers.get(node.id)
        if b is not None:
            return b
        if node.op == "constant":
            b = Buffer("constant", const_count, node.type.shape, node.type.dtype, node.type.nbytes, node.attrs["value"])
            const_count += 1
        elif is_alias(graph, node, inline_ids):
            base = buffer_of(node.inputs[0])
            b = Buffer(base.kind, base.slot, node.type.shape, node.type.dtype, base.nbytes, base.value)
        else:
            raise AssertionError(f"no buffer for %{node.id} ({node.op})")
        buffers[node.id] = b
        return b

    kernels = []

    def reads_of(group_members, inline):
        reads = {}
        for m in group_members:
            for i in m.inputs:
                if i.id not in inline:
                    reads[i.id] = buffer_of(i)
        return reads

    for g in groups:
        root = g.root
        dest = direct_out.get(root.id) or planner.allocate(root)
        buffers[root.id] = dest
        inline = frozenset(m.id for m in g.members)
        kernels.append(Kernel(f"k{len(kernels)}_{root.op}", root, inline, dest, reads_of(g.members, inline),
                              root.type.shape, list(g.members)))

    # Outputs that are not stored directly (params, variables, aliases, repeats): copy.
    for o, b in zip(graph.outputs, outputs):
        if direct_out.get(o.id) is b:
            continue
        kernels.append(Kernel(f"k{len(kernels)}_copy_out{b.slot}", o, frozenset(), b, {o.id: buffer_of(o)}, o.type.shape))
    # Variable updates: written last, after every read of the old values.
    for var, n in graph.var_updates.items():
        if n.op == "read_variable" and n.attrs["var"] is var:
            continue
        dest = Buffer("variable", var_slots[var], n.type.shape, n.type.dtype, n.type.nbytes)
        kernels.append(Kernel(f"k{len(kernels)}_assign_{var_slots[var]}", n, frozenset(), dest, {n.id: buffer_of(n)}, n.type.shape))

    kernels = [k for k in kernels if all(d > 0 for d in k.shape)]
    return Program(name, kernels, inputs, outputs, variables, planner.size, planner.naive)
