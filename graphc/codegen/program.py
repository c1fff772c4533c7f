"""Lowering a fused graph to a Program: steps in order plus a buffer for every value.

The Program is target-neutral: it says which steps run (loop-nest ``Kernel``s and
library-style ``GemmStep``s), which node each stores, and where every materialized
value lives (an input, an output, a variable, a constant, or an offset in one
workspace). Backends turn it into code; the runtime uses its ABI (inputs, outputs,
variables, workspace size) to call that code.

ABI of the generated entry point: ``int32 graphc_main(void** args)`` with
``args = [inputs..., outputs..., variables..., workspace]``; it returns 0 on success.

Memory planning: workspace values get offsets by liveness (a value's range is free
again after its last reader), and an elementwise kernel writes in place over an input
that dies in it when both have the same shape and dtype.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ops.registry import get_op
from ..passes.fusion import build_groups, is_alias, uses_gemm

ALIGN = 64


@dataclass
class Buffer:
    kind: str          # "input" | "output" | "variable" | "workspace" | "constant"
    slot: int          # index among its kind, or byte offset for "workspace" (set by the planner)
    shape: tuple
    dtype: str
    nbytes: int
    value: object = None  # ndarray for constants
    vid: int = -1         # workspace value id (before offsets are assigned)
    base: "Buffer | None" = None  # a view: ``offset`` bytes into ``base`` (a part of a tuple)
    offset: int = 0               # or a symbolic_sizes.TupleOffset (parts with symbolic sizes)
    type: object = None           # nbytes None: what gives the size for a binding (nbytes_for), when
    #                               shape and dtype do not (a tuple, a scan's scratch)

    def key(self):
        if self.base is not None:
            return ("view", self.base.key(), self.offset)
        return (self.kind, self.slot) if self.kind != "workspace" else ("workspace", self.vid)

    def root(self) -> "Buffer":
        return self.base.root() if self.base is not None else self


@dataclass
class Kernel:
    """A loop nest over ``shape`` storing ``root``'s value into ``dest``."""

    name: str
    root: object
    inline: frozenset         # node ids whose emit is inlined
    dest: Buffer
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
class GemmStep:
    """C = A @ B (2-D or batched) through the packed GEMM kernel, then an optional
    elementwise epilogue kernel run on each block of rows while it is in cache."""

    name: str
    node: object
    dest: Buffer
    a: Buffer
    b: Buffer
    a_trans: bool
    b_trans: bool
    scratch: Buffer
    epilogue: Kernel | None = None
    shape: tuple = ()
    b_packed: bool = False   # b holds B packed once before a loop (scan bodies: control_lowering.py)

    def all_buffers(self):
        out = [self.dest, self.a, self.b, self.scratch]
        if self.epilogue is not None:
            out += self.epilogue.buffers()
        return out


@dataclass
class CustomStep:
    """A node lowered as a whole step by its op's ``kernel`` object (e.g. scan's native
    loop): ``op.kernel.plan`` sized its scratch and prepared ``plan``; ``op.kernel.emit``
    emits its code into the entry function."""

    name: str
    node: object
    dest: Buffer
    inputs: list
    scratch: Buffer | None
    plan: dict
    shape: tuple = (1,)

    def all_buffers(self):
        return [self.dest] + list(self.inputs) + ([self.scratch] if self.scratch is not None else [])


@dataclass
class Program:
    name: str
    kernels: list            # steps: Kernel | GemmStep, in execution order
    inputs: list             # Buffer per graph param
    outputs: list            # Buffer per graph output
    variables: list          # Variable objects, in slot order
    workspace_bytes: int     # -1 when it depends on symbols (see ``layout``)
    naive_bytes: int = 0     # sum of all intermediates (no reuse), for the memory report
    symbols: list = field(default_factory=list)  # symbolic dimensions, in the order of the sizes table
    layout: "WorkspaceLayout | None" = None      # workspace offsets as a function of the symbols

    def workspace_for(self, binding: dict):
        """(offset per workspace value id, total bytes) for these symbol values."""
        return self.layout.place(binding)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def gemm_scratch_bytes(dtype: str, chunks: int) -> int:
    from .gemm import gemm_pack_buffer_elems

    itemsize = 4 if dtype == "float32" else 8
    return chunks * (gemm_pack_buffer_elems(dtype) * itemsize + ALIGN)


def gemm_chunks() -> int:
    """How many row chunks (threads) a GEMM step is split into (fixed at compile time):
    the pool's thread count, read without starting the pool (a cold process is still
    building it on the compile threads)."""
    from .threadpool import planned_num_threads

    return max(1, min(planned_num_threads(), 16))


class Lowering:
    def __init__(self, graph, name, use_gemm=True, plan_memory=True, pass_context=None, symbols=None):
        self.graph = graph
        # the sizes table's order (a nested program shares its parent's)
        self.symbols = symbols if symbols is not None else program_symbols(graph)
        self.nested: list = []  # plans of steps whose nested program has a symbolic workspace layout
        self.pass_context = pass_context
        self.name = name
        self.use_gemm = use_gemm
        self.plan_memory = plan_memory
        self.groups = graph.kernels if graph.kernels is not None else build_groups(graph, set())
        self.inline_ids = set()
        for g in self.groups:
            self.inline_ids.update(m.id for m in g.members if m is not g.root)
        self.buffers: dict = {}
        self.workspace_values: list = []  # Buffers of kind workspace, by vid
        self.const_count = 0

    # -- buffers -----------------------------------------------------------------------------
    def new_workspace(self, node_type, nbytes=None) -> Buffer:
        nbytes = _nbytes(node_type) if nbytes is None else nbytes
        sized = None
        if nbytes is None and not hasattr(node_type, "shape_for"):
            sized = node_type  # a tuple with symbolic parts
        elif nbytes is not None and not isinstance(nbytes, int):
            sized, nbytes = nbytes, None  # an object giving the bytes for a binding (nbytes_for)
        b = Buffer("workspace", -1, node_type.shape, node_type.dtype, nbytes, vid=len(self.workspace_values),
                   type=sized)
        self.workspace_values.append(b)
        return b

    def buffer_of(self, node) -> Buffer:
        b = self.buffers.get(node.id)
        if b is not None:
            return b
        if node.op == "constant":
            b = Buffer("constant", self.const_count, node.type.shape, node.type.dtype, _nbytes(node.type), node.attrs["value"])
            self.const_count += 1
        elif is_alias(self.graph, node, self.inline_ids):
            base = self.buffer_of(node.inputs[0])
            b = base  # same memory; readers index it with their own (reshaped) shape
        elif node.op == "tuple_get":
            base = self.buffer_of(node.inputs[0])
            tt = node.inputs[0].type
            if tt.is_static:
                offset = tt.offsets[node.attrs["index"]]
            else:
                from .symbolic_sizes import TupleOffset

                offset = TupleOffset(tt, node.attrs["index"])
            b = Buffer(base.kind, base.slot, node.type.shape, node.type.dtype, _nbytes(node.type),
                       base=base, offset=offset)
        else:
            raise AssertionError(f"no buffer for %{node.id} ({node.op})")
        self.buffers[node.id] = b
        return b

    # -- lowering ----------------------------------------------------------------------------
    def run(self) -> Program:
        g = self.graph
        var_slots, variables = {}, []
        for var in list(g.var_reads) + list(g.var_updates):
            if var not in var_slots:
                var_slots[var] = len(variables)
                variables.append(var)
        inputs = []
        for k, p in enumerate(g.params):
            b = Buffer("input", k, p.type.shape, p.type.dtype, _nbytes(p.type))
            self.buffers[p.id] = b
            inputs.append(b)
        for var, n in g.var_reads.items():
            self.buffers[n.id] = Buffer("variable", var_slots[var], n.type.shape, n.type.dtype, _nbytes(n.type))
        outputs = [Buffer("output", k, o.type.shape, o.type.dtype, _nbytes(o.type)) for k, o in enumerate(g.outputs)]
        direct_out = {}
        for o, b in zip(g.outputs, outputs):
            if o.id not in direct_out and not is_alias(g, o, self.inline_ids) and get_op(o.op).kind != "source":
                direct_out[o.id] = b
        # An output that is a reshape of a kernel's result (an alias: the same bytes) has
        # that kernel store straight into the output buffer, instead of a copy afterwards.
        group_roots = {grp.root.id for grp in self.groups}
        updates_of = {n.id for n in g.var_updates.values()}
        for o, b in zip(g.outputs, outputs):
            if o.id in direct_out or not is_alias(g, o, self.inline_ids):
                continue
            r = o.inputs[0]
            if (r.id in group_roots and r.id not in direct_out and r.id not in updates_of
                    and get_op(r.op).kernel is None and not is_alias(g, r, self.inline_ids)
                    and get_op(r.op).kind != "source"):
                direct_out[r.id] = Buffer("output", b.slot, r.type.shape, r.type.dtype, _nbytes(r.type))
                direct_out[o.id] = b

        epilogue_of = {grp.epilogue_of.id: grp for grp in self.groups if getattr(grp, "epilogue_of", None) is not None}
        epilogue_groups = {id(grp) for grp in epilogue_of.values()}
        steps = []
        for grp in self.groups:
            if id(grp) in epilogue_groups:
                continue  # emitted with its matmul
            root = grp.root
            custom = get_op(root.op).kernel
            if custom is not None:
                steps.append(self.custom_step(grp, custom, len(steps)))
                continue
            if self.use_gemm and uses_gemm(root):
                steps.append(self.gemm_step(grp, epilogue_of.get(root.id), direct_out, len(steps)))
                continue
            dest = direct_out.get(root.id) or self.new_workspace(root.type)
            self.buffers[root.id] = dest
            steps.append(self.kernel(f"k{len(steps)}_{root.op}", root, grp.members, dest))

        for o, b in zip(g.outputs, outputs):
            if direct_out.get(o.id) is b:
                continue
            steps.append(Kernel(f"k{len(steps)}_copy_out{b.slot}", o, frozenset(), b, {o.id: self.buffer_of(o)}, o.type.shape))
        updates = [(var, n) for var, n in g.var_updates.items()
                   if not (n.op == "read_variable" and n.attrs["var"] is var)]
        # A new value that lives in a variable's storage (t = a; a <- b; b <- t) is
        # snapshotted first: that variable may be overwritten by its own update.
        source = {}
        for var, n in updates:
            src = self.buffer_of(n)
            if src.root().kind == "variable":
                tmp = self.new_workspace(n.type)
                steps.append(Kernel(f"k{len(steps)}_snapshot_{var_slots[var]}", n, frozenset(), tmp, {n.id: src}, n.type.shape))
                source[var] = tmp
        index = _StepIndex(steps)
        for var, n in updates:
            if var not in source and self.update_in_place(steps, n, var_slots[var], index):
                continue
            dest = Buffer("variable", var_slots[var], n.type.shape, n.type.dtype, _nbytes(n.type))
            steps.append(Kernel(f"k{len(steps)}_assign_{var_slots[var]}", n, frozenset(), dest,
                                {n.id: source.get(var) or self.buffer_of(n)}, n.type.shape))
            index.add(len(steps) - 1)

        steps = [s for s in steps if all(isinstance(d, str) or d > 0 for d in s.shape)]
        symbols = self.symbols
        layout = self.assign_offsets(steps)
        if symbols:
            return Program(self.name, steps, inputs, outputs, variables, -1, -1, symbols=symbols, layout=layout)
        naive = sum(b.nbytes for b in self.workspace_values)
        return Program(self.name, steps, inputs, outputs, variables, layout.static_size, naive)

    def update_in_place(self, steps, node, slot, index: "_StepIndex") -> bool:
        """Let the kernel computing a variable's new value store it straight into the
        variable, saving a copy kernel, when that is safe: no later step reads the old
        value, and the kernel itself reads the old value only elementwise at the index
        it writes.

        The kernel may be a GEMM step's epilogue (``w - lr * (x.T @ dy)``): it then writes
        the variable row block by row block right after the GEMM computed those rows, so
        the GEMM must not read the variable itself, and C gets a buffer of its own (the
        epilogue reads the old value where C would otherwise be written)."""
        k = index.kernel_of.get(node.id)
        gemm = None
        if k is None:
            k = index.epilogue_of.get(node.id)
            if k is None:
                return False
            gemm, kernel = steps[k], steps[k].epilogue
            if any(b.root().kind == "variable" and b.root().slot == slot for b in (gemm.a, gemm.b)):
                return False
        else:
            kernel = steps[k]
        if kernel.dest.kind != "workspace":
            return False

        if index.last_read.get(slot, -1) > k:  # a later step reads the old value
            return False
        for nid, buf in kernel.reads.items():
            if buf.root().kind == "variable" and buf.root().slot == slot:
                if buf.base is not None or any(get_op(m.op).kind != "elementwise" for m in kernel.members):
                    return False
                readers = [m for m in kernel.members if any(i.id == nid for i in m.inputs)]
                if not all(m.type.shape == node.type.shape and
                           all(i.type.shape == node.type.shape for i in m.inputs if i.id == nid) for m in readers):
                    return False
        old = kernel.dest
        new = Buffer("variable", slot, node.type.shape, node.type.dtype, _nbytes(node.type))
        if gemm is not None and gemm.dest is old:
            c = self.new_workspace(gemm.node.type)
            gemm.dest = c
            self.buffers[gemm.node.id] = c
            kernel.reads = {nid: (c if b is old else b) for nid, b in kernel.reads.items()}
        kernel.dest = new
        self.buffers[node.id] = new
        for j in index.readers.get(id(old), ()):  # later readers of the new value now find it in the variable
            if j <= k:
                continue
            s = steps[j]
            if isinstance(s, Kernel):
                s.reads = {nid: (new if b is old else b) for nid, b in s.reads.items()}
            elif isinstance(s, GemmStep):
                s.a = new if s.a is old else s.a
                s.b = new if s.b is old else s.b
                if s.epilogue is not None:
                    s.epilogue.reads = {nid: (new if b is old else b) for nid, b in s.epilogue.reads.items()}
            elif isinstance(s, CustomStep):
                s.inputs = [new if b is old else b for b in s.inputs]
        return True

    def kernel(self, name, root, members, dest) -> Kernel:
        inline = frozenset(m.id for m in members)
        reads = {}
        for m in members:
            for i in m.inputs:
                if i.id not in inline:
                    reads[i.id] = self.buffer_of(i)
        return Kernel(name, root, inline, dest, reads, root.type.shape, list(members))

    def custom_step(self, grp, custom, index) -> CustomStep:
        node = grp.root
        if self.symbols and not getattr(custom, "symbolic", False):
            from ..errors import CompileError

            raise CompileError(f"{node.op} with symbolic dimensions is not supported yet (compile with static "
                               f"shapes)\n  at {node.loc}")
        plan = custom.plan(node, self)
        if plan.get("nested_layout") is not None or plan.get("nested_layouts"):
            self.nested.append(plan)  # its programs' offsets go in this program's table (assign_offsets)
        dest = self.new_workspace(node.type)
        self.buffers[node.id] = dest
        from ..ir import TensorType

        scratch = self.new_workspace(TensorType((0,), "uint8"), plan["scratch_bytes"]) if plan.get("scratch_bytes") else None
        return CustomStep(f"k{index}_{node.op}", node, dest, [self.buffer_of(i) for i in node.inputs], scratch, plan)

    def gemm_step(self, grp, epilogue, direct_out, index) -> GemmStep:
        mm = grp.root
        member_ids = {m.id for m in grp.members}

        def operand(node):
            if node.id in member_ids and node.op == "transpose":
                return self.buffer_of(node.inputs[0]), True
            return self.buffer_of(node), False

        a, a_t = operand(mm.inputs[0])
        b, b_t = operand(mm.inputs[1])
        from ..ir import TensorType

        chunks = gemm_chunks()
        scratch_bytes = gemm_scratch_bytes(mm.type.dtype, chunks)
        if mm.op == "patches_matmul":  # each chunk's block of the patch matrix (conv_gemm.py)
            from .conv_gemm import block_bytes

            scratch_bytes += chunks * block_bytes(mm)
        scratch = self.new_workspace(TensorType((0,), "uint8"), scratch_bytes)
        epi_kernel = None
        if epilogue is not None:
            out = direct_out.get(epilogue.root.id) or self.new_workspace(epilogue.root.type)
            if epilogue.root.type.dtype == mm.type.dtype:
                dest = out  # the GEMM writes C where the epilogue's result goes, and the
                # epilogue rewrites it in place, row block by row block
            else:
                # a cast or comparison changes the element type: C gets its own buffer
                # (reading it through the result's type would reinterpret the bits)
                dest = self.new_workspace(mm.type)
            self.buffers[mm.id] = dest
            self.buffers[epilogue.root.id] = out
            epi_kernel = self.kernel(f"k{index}_epilogue", epilogue.root, epilogue.members, out)
        else:
            dest = direct_out.get(mm.id) or self.new_workspace(mm.type)
            self.buffers[mm.id] = dest
        return GemmStep(f"k{index}_gemm", mm, dest, a, b, a_t, b_t, scratch, epi_kernel, mm.type.shape)

    # -- memory planning ---------------------------------------------------------------------------
    def assign_offsets(self, steps) -> "WorkspaceLayout":
        """Offsets for workspace values: by liveness, with in-place elementwise reuse.

        Liveness and in-place reuse depend only on the steps; the offsets depend on the
        sizes, so with symbolic dimensions they are placed per binding (``place``)."""
        first, last = {}, {}
        for k, s in enumerate(steps):
            bufs = s.all_buffers() if isinstance(s, (GemmStep, CustomStep)) else s.buffers()
            for b in bufs:
                b = b.root()
                if b.kind == "workspace":
                    first.setdefault(b.vid, k)
                    last[b.vid] = k
        alias_to = {}
        if self.plan_memory:
            # in place: an elementwise kernel may store over an input dying in it
            for k, s in enumerate(steps):
                if not isinstance(s, Kernel) or s.dest.kind != "workspace" or first.get(s.dest.vid) != k:
                    continue
                cand = self._inplace_candidate(s, last, k, alias_to)
                if cand is not None:
                    alias_to[s.dest.vid] = cand
                    root = cand
                    while root in alias_to:  # the storage that is actually allocated
                        root = alias_to[root]
                    last[root] = max(last[root], last[s.dest.vid])
        layout = WorkspaceLayout(list(self.workspace_values), first, last, alias_to, self.plan_memory)
        base = len(self.workspace_values)
        for plan in self.nested:  # nested programs' offsets follow this program's in the table
            plan["table_bases"] = []
            for lay in plan.get("nested_layouts") or [plan["nested_layout"]]:
                plan["table_bases"].append(base)
                layout.nested.append((base, lay))
                base += lay.table_len
            plan["table_base"] = plan["table_bases"][0]
        if all(b.nbytes is not None for b in self.workspace_values) and not layout.nested:
            offsets, layout.static_size = layout.place({})
            for b in self.workspace_values:
                b.slot = offsets[b.vid]
        return layout

    def _inplace_candidate(self, kernel, last, k, alias_to):
        root = kernel.root
        if any(get_op(m.op).kind != "elementwise" for m in kernel.members):
            return None
        for nid, buf in kernel.reads.items():
            if buf.kind != "workspace" or buf.base is not None or last.get(buf.vid) != k or buf.vid in alias_to.values():
                continue
            if not _same_bytes(buf, kernel.dest):
                continue
            readers = [m for m in kernel.members if any(i.id == nid for i in m.inputs)]
            if all(m.type.shape == root.type.shape and
                   all(i.type.shape == root.type.shape for i in m.inputs if i.id == nid) for m in readers):
                return buf.vid
        return None



def _read_buffers(step) -> list:
    """The buffers a step reads (a GEMM step: all but its C; its epilogue's are included)."""
    if isinstance(step, Kernel):
        return list(step.reads.values())
    return [b for b in step.all_buffers() if b is not step.dest]


class _StepIndex:
    """Where each value is computed and read among a program's steps, so that moving
    every variable update in place costs one pass over the steps instead of one per
    variable (the 64-layer Adam step has ~200 updates and ~400 steps)."""

    def __init__(self, steps):
        self.steps = steps
        self.kernel_of: dict = {}    # node id -> index of the Kernel computing it
        self.epilogue_of: dict = {}  # node id -> index of the GEMM step whose epilogue computes it
        self.last_read: dict = {}    # variable slot -> last index of a step reading it
        self.readers: dict = {}      # id(workspace Buffer) -> indices of steps reading it
        for k in range(len(steps)):
            self.add(k)

    def add(self, k: int) -> None:
        s = self.steps[k]
        if isinstance(s, Kernel):
            self.kernel_of.setdefault(s.root.id, k)
        elif isinstance(s, GemmStep) and s.epilogue is not None:
            self.epilogue_of.setdefault(s.epilogue.root.id, k)
        for b in _read_buffers(s):
            r = b.root()
            if r.kind == "variable":
                self.last_read[r.slot] = max(self.last_read.get(r.slot, -1), k)
            lst = self.readers.setdefault(id(b), [])
            if not lst or lst[-1] != k:
                lst.append(k)

def _nbytes(t):
    """Byte size of a type, or None when it depends on symbolic dimensions."""
    return t.nbytes if t.is_static else None


def _same_bytes(a: Buffer, b: Buffer) -> bool:
    if a.nbytes is not None and b.nbytes is not None:
        return a.nbytes == b.nbytes and a.dtype == b.dtype
    return tuple(a.shape) == tuple(b.shape) and a.dtype == b.dtype


class WorkspaceLayout:
    """Workspace offsets by first-fit over live ranges, computed for given symbol values
    (the memory plan is a function of the symbols; for static programs it is placed once
    at lowering)."""

    def __init__(self, values, first, last, alias_to, plan_memory):
        self.values, self.first, self.last = values, first, last
        self.alias_to, self.plan_memory = alias_to, plan_memory
        self.static_size = -1
        # (index in the offsets table, WorkspaceLayout) of nested programs (a symbolic
        # scan body): their offsets for a binding are placed after this program's
        self.nested: list = []

    @property
    def table_len(self) -> int:
        """Entries of the offsets table: one per value, then the nested programs'."""
        return len(self.values) + sum(lay.table_len for _, lay in self.nested)

    def nbytes(self, b, binding) -> int:
        if b.nbytes is not None:
            return b.nbytes
        if b.type is not None:
            return b.type.nbytes_for(binding)
        from ..ir import TensorType

        return TensorType(b.shape, b.dtype).nbytes_for(binding)

    def place(self, binding: dict):
        """(offset per value id, total bytes); with nested programs, their offsets too
        (keys from their table positions on, see ``table_len``)."""
        offsets, size = self._place(binding)
        for base, lay in self.nested:
            sub, _ = lay.place(binding)
            for k, off in sub.items():
                offsets[base + k] = off
        return offsets, size

    def _place(self, binding: dict):
        offsets = {}
        if not self.plan_memory:
            off = 0
            for b in self.values:
                offsets[b.vid] = off
                off += _align(max(self.nbytes(b, binding), 1))
            return offsets, off
        first, last, alias_to = self.first, self.last, self.alias_to
        placed = []  # (offset, size, first, last)
        size = 0
        for b in sorted(self.values, key=lambda x: first.get(x.vid, 0)):
            if b.vid not in first:
                offsets[b.vid] = 0
                continue
            if b.vid in alias_to:
                continue
            need = _align(max(self.nbytes(b, binding), 1))
            lo, hi = first[b.vid], last[b.vid]
            busy = sorted((o, o + sz) for o, sz, f, l in placed if not (l < lo or f > hi))
            off = 0
            for s0, s1 in busy:
                if off + need <= s0:
                    break
                off = max(off, s1)
            offsets[b.vid] = off
            placed.append((off, need, lo, hi))
            size = max(size, off + need)
        for vid, src in alias_to.items():
            while src in alias_to:
                src = alias_to[src]
            offsets[vid] = offsets[src]
        return offsets, size


def program_symbols(graph) -> list:
    """The sizes table of a program: the symbols its parameters bind (sorted), then the
    derived ones (products such as 64*batch, graphc/symbolic.py) that any value of the
    graph or of a nested body graph has, sorted; empty when every shape is static."""
    from ..symbolic import is_derived

    base = sorted({str(d) for p in graph.params for d in p.type.symbols})
    if not base:
        return []
    derived, seen, stack = set(), set(), [graph]
    while stack:
        gr = stack.pop()
        if id(gr) in seen:
            continue
        seen.add(id(gr))
        for n in list(gr.params) + list(gr.nodes):
            derived.update(str(d) for d in n.type.symbols if is_derived(d))
            for v in n.attrs.values():
                if hasattr(v, "nodes") and hasattr(v, "params"):  # a nested body graph
                    stack.append(v)
    return base + sorted(derived)


def lower_program(graph, name: str = "main", use_gemm: bool = True, plan_memory: bool = True,
                  pass_context=None, symbols=None) -> Program:
    """Assign buffers and build the step list for a graph after the pass pipeline.

    ``symbols``: the order of the sizes table (a nested program takes its parent's)."""
    return Lowering(graph, name, use_gemm, plan_memory, pass_context, symbols).run()
