"""Kernel formation: which nodes get their own kernel, which are inlined into a consumer.

The result is ``graph.kernels``: a list of ``KernelGroup`` (one root whose value is
stored to memory, plus the member nodes inlined into the root's loop nest), in
execution order.

- ``no_fusion`` (naive mode) gives every computed node its own kernel: every
  intermediate is written to memory and read back.
- ``fusion`` inlines, in reverse topological order, every elementwise or
  index-remapping node whose consumers all sit in one group (cheap producers used
  twice in a group are recomputed, which is cheaper than a round trip to memory), and
  every reduction over trailing axes whose consumers share one group of the same
  rank: the KernelBuilder hoists such a reduction to the outer loop level, so a
  softmax becomes one loop nest over rows that computes max and sum per row and
  reads the input from memory once. A matmul whose only consumer is a same-shaped
  elementwise group gets that group as its *epilogue* (bias add, activation), run on
  each block of rows right after the GEMM computed them.

``reshape`` of a materialized value is a free alias (same bytes, new shape), so it
never needs a kernel of its own; its input is then materialized.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir.types import SYMBOL_SIZE_HINT
from ..ops.registry import get_op
from .manager import Pass, register_pass

# Ops whose whole-kernel lowering on the CPU is a library-style step (GEMM);
# patches_matmul is a convolution's GEMM reading its patch matrix implicitly (ops/conv.py).
GEMM_OPS = ("matmul", "patches_matmul")
# Below this many multiply-adds a plain loop nest beats packing for the GEMM kernel.
GEMM_MIN_WORK = 1 << 15
# At most this many ops fuse into one kernel. LLVM's optimizer takes superlinear time in
# the size of a loop body (a 3,000-op elementwise chain in one kernel: ~10x the time of
# 1,000 ops), so an unbounded group makes a deep model's compile time grow faster than
# its depth. Past a few hundred ops, storing and reloading one intermediate per element
# is a negligible share of the kernel's work, so cutting long chains here costs no speed.
MAX_FUSED_OPS = 256


def uses_gemm(node, target: str = "cpu") -> bool:
    """Whether a matmul is lowered to the packed GEMM kernel (else to a loop nest)."""
    if target != "cpu" or node.op not in GEMM_OPS or node.type.dtype not in ("float32", "float64"):
        return False
    k = gemm_inner_dim(node)
    k = SYMBOL_SIZE_HINT if isinstance(k, str) else k  # a symbolic size is assumed large
    return node.type.size_hint * k >= GEMM_MIN_WORK


def gemm_inner_dim(node):
    """K of a GEMM node: the contracted dimension (the second operand's rows)."""
    return node.inputs[1].type.shape[-2] if node.op == "patches_matmul" else node.inputs[0].type.shape[-1]


@dataclass
class KernelGroup:
    root: object                                  # the Node whose value this kernel stores
    members: list = field(default_factory=list)   # Nodes inlined into the loop nest (root included)
    epilogue_of: object = None                    # matmul Node whose rows this group post-processes

    def describe(self) -> str:
        extra = f" epilogue of %{self.epilogue_of.id}" if self.epilogue_of is not None else ""
        return f"kernel[{self.root.op} -> %{self.root.id}]{extra} = {{" + ", ".join(f"{m.op}%{m.id}" for m in self.members) + "}"


def computed(node) -> bool:
    return get_op(node.op).kind != "source"


def is_alias(graph, node, inline) -> bool:
    """A reshape that is materialized shares its input's buffer instead of a kernel."""
    return node.op == "reshape" and node.id not in inline


def build_groups(graph, inline: set, group_of: dict | None = None) -> list:
    """Groups for every materialized computed node (aliases excluded), members by inlining."""
    order = {x.id: k for k, x in enumerate(graph.nodes)}
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
            stack.extend(i for i in m.inputs if i.id in inline and (group_of is None or _in_group(group_of.get(i.id), n.id)))
        members.sort(key=lambda x: order[x.id])
        groups.append(KernelGroup(n, members))
    return groups


def _in_group(assigned, root_id) -> bool:
    """Whether an inlined node assigned to ``assigned`` (a group root id, or the set of
    root ids a duplicated view is recomputed in) belongs to the group of ``root_id``."""
    return assigned == root_id or (isinstance(assigned, frozenset) and root_id in assigned)


def _groups_of(node_id, group_of) -> frozenset:
    g = group_of.get(node_id, node_id)
    return g if isinstance(g, frozenset) else frozenset((g,))


# Cheap producers recomputed in every consumer kernel instead of stored when their
# consumers sit in different kernels (as XLA duplicates cheap producers): pure views of
# one input, and one-instruction elementwise ops. A stored slice costs a gather of its
# input, a write and a read per consumer, while each consumer reading the input
# directly costs only its own (strided) read; a stored maximum costs a write and a read
# per consumer against one instruction each. The 2x2 max-pool of a training step reads
# the same slices and maxima of the activation forward and backward: stored, they were
# seven kernels each reading the whole activation. Recomputed values are bit-identical
# to stored ones (no op here rounds differently when repeated, and elementwise code
# is never contracted into FMAs), so comparisons against them (the pool's gradient
# mask) stay exact. Expensive producers (exp, division, ...) are still stored once.
DUPLICABLE_OPS = frozenset((
    "slice", "broadcast_to",
    "maximum", "minimum", "add", "subtract", "multiply", "negative", "abs", "where",
    "greater", "greater_equal", "less", "less_equal", "equal", "not_equal",
    "logical_not", "logical_and", "logical_or"))
# A duplicated producer is recomputed in at most this many kernels.
MAX_DUPLICATES = 4


def _trailing_reduction(node) -> bool:
    """A reduce_* over the last axes of its input (hoistable to the outer loops)."""
    if not node.op.startswith("reduce_"):
        return False
    nd = node.inputs[0].type.ndim
    axes = node.attrs["axes"]
    return bool(axes) and tuple(axes) == tuple(range(nd - len(axes), nd))


def _keepdims_shape(reduction) -> tuple:
    """The shape a reduction would have with keepdims=True (reduced axes kept as 1)."""
    axes = set(reduction.attrs["axes"])
    return tuple(1 if k in axes else d for k, d in enumerate(reduction.inputs[0].type.shape))


def _reads_aligned(consumer, node, aligned) -> bool:
    """Whether ``consumer`` reads ``node`` at indices aligned with the group root's loops.

    Aligned means every index component is the root's loop variable for that axis, a
    reduction variable of a trailing reduced axis, or 0 (a broadcast axis): axes keep
    their position. Only then does a row reduction depend on the root's *outer* loops
    (it is hoisted and computed once per row), and only then is a value stored into the
    output row during a reduction pass (the row stash) stored where the output of that
    same row goes. An index remapping (transpose, reshape, slicing, a rank-changing
    broadcast) breaks alignment."""
    if not aligned.get(consumer.id):
        return False
    if get_op(consumer.op).kind == "elementwise":
        return consumer.type.ndim == node.type.ndim
    if _trailing_reduction(consumer):
        return consumer.type.ndim == consumer.inputs[0].type.ndim == node.type.ndim
    if consumer.op in ("expand_dims", "reshape") and _trailing_reduction(node):
        # x.sum(axis=-1)[..., None]: the reduced axes come back as trailing 1s (keepdims)
        return node.type.ndim < node.inputs[0].type.ndim and consumer.type.shape == _keepdims_shape(node)
    return False


def _unit_axes_only(a, b) -> bool:
    """Shapes equal up to inserted or removed size-1 axes."""
    return [d for d in a if d != 1] == [d for d in b if d != 1]


def _reads_in_order(consumer, node, in_order) -> bool:
    """Whether ``consumer`` reads ``node`` without reordering axes: elementwise ops and
    broadcasts (axes kept, size-1 axes read at 0, leading axes added), size-1 axes
    inserted or removed (expand_dims, squeeze, such reshapes), trailing reductions. A
    row reduction read through such consumers still depends only on the root's outer
    loops; behind a transpose, a general reshape or slicing it would be recomputed for
    every output element (softmax(x).T), so fusion keeps it out of such groups.
    (``_reads_aligned`` is the stricter rule the row stash needs.)"""
    if not in_order.get(consumer.id):
        return False
    kind = get_op(consumer.op).kind
    if kind == "elementwise" or _trailing_reduction(consumer) or consumer.op in ("broadcast_to", "expand_dims", "squeeze"):
        return True
    if consumer.op == "reshape":
        return _unit_axes_only(consumer.type.shape, node.type.shape)
    return False


def aligned_members(root, members) -> set:
    """Ids of the members of a kernel group read only at root-aligned indices (the root
    included); see ``_reads_aligned``. ``members`` is in topological order."""
    ids = {m.id for m in members}
    consumers = {m.id: {} for m in members}
    for m in members:
        for i in m.inputs:
            if i.id in ids:
                consumers[i.id][m.id] = m
    aligned = {root.id: True}
    for m in reversed(members):
        if m is not root:
            users = consumers[m.id].values()
            aligned[m.id] = bool(users) and all(_reads_aligned(c, m, aligned) for c in users)
    return {k for k, v in aligned.items() if v}


@register_pass
class NoFusion(Pass):
    name = "no_fusion"
    reason = "naive mode: one kernel per op, every intermediate in memory (the fused-vs-naive baseline)"

    def run(self, graph, ctx):
        graph.kernels = build_groups(graph, set())


@register_pass
class Fusion(Pass):
    name = "fusion"
    reason = "inline elementwise, index-remapping and row-reduction producers into the loop nest of their consumers"

    def run(self, graph, ctx):
        users = graph.users()
        roots = {n.id for n in graph.roots()}
        by_id = {n.id: n for n in graph.nodes}
        group_of: dict[int, int] = {}   # node id -> id of the group root it is inlined into
        in_order: dict[int, bool] = {}  # node id -> read with its axes in the root's order
        inline: set = set()
        must_materialize: dict = {}     # node id -> why it must be stored (a GEMM operand, an alias's base)
        group_size: dict[int, int] = {}  # group root id -> ops inlined into it so far
        gemm = ctx.target == "cpu"
        # recomputing a producer in several kernels: CPU programs only (device placement
        # assigns kernels to devices after fusion; a duplicate could land on another one)
        duplicate = ctx.target == "cpu" and not ctx.options.get("placement")
        # node id -> why it was not fused into its consumers (only records decisions
        # already made; f.explain reports it)
        notes: dict[int, str] = {}

        for n in reversed(graph.nodes):
            op = get_op(n.op)
            consumers = users.get(n.id, [])
            if n.op in GEMM_OPS:
                for i in n.inputs:  # matmul reads operands from memory; a 2-D transpose is a stride
                    if not self._gemm_transpose(i, users):
                        must_materialize.setdefault(i.id, f"an operand of matmul %{n.id}, which reads its operands "
                                                          "from memory (packed by the GEMM)")
            if not computed(n) or n.id in roots or n.id in must_materialize or not consumers:
                if computed(n) and consumers:
                    notes[n.id] = ("a graph output or a variable's new value (stored for the caller)"
                                   if n.id in roots else must_materialize[n.id])
                self._own_group(n, group_of, must_materialize)
                in_order[n.id] = True
                continue
            targets = set().union(*(_groups_of(c.id, group_of) for c in consumers))
            if len(targets) != 1:
                if duplicate and self._duplicable(n, targets, by_id, group_size):
                    inline.add(n.id)
                    group_of[n.id] = frozenset(targets)
                    for t in targets:
                        group_size[t] = group_size.get(t, 1) + 1
                    in_order[n.id] = all(_reads_in_order(c, n, in_order) for c in consumers)
                    continue
                notes[n.id] = (f"has {len(consumers)} consumers in {len(targets)} different kernels "
                               f"(roots {', '.join(f'%{t}' for t in sorted(targets))})")
                self._own_group(n, group_of, must_materialize)
                in_order[n.id] = True
                continue
            target = by_id[next(iter(targets))]
            why = None
            if target.op in GEMM_OPS:
                fusible = self._gemm_transpose(n, users)
                if fusible:
                    must_materialize.setdefault(n.inputs[0].id, f"read through transpose %{n.id} as strides "
                                                                f"by matmul %{target.id}")
                else:
                    why = f"feeds matmul %{target.id}, which reads its operands from memory"
            elif get_op(target.op).kind == "opaque":
                fusible = False  # whole-step lowerings (scan) read their operands from memory
                why = f"feeds {target.op} %{target.id}, a whole-step op that reads its operands from memory"
            elif op.kind in ("elementwise", "injective"):
                fusible = True
            else:
                # a row reduction fuses only where its rows follow the root's outer loops;
                # behind an index remapping it would be recomputed for every element
                fusible = (_trailing_reduction(n) and target.type.ndim == n.inputs[0].type.ndim
                           and all(_reads_in_order(c, n, in_order) for c in consumers))
                if not fusible:
                    why = self._reduction_note(n, target, consumers, in_order)
            if fusible and group_size.get(target.id, 1) >= MAX_FUSED_OPS:
                fusible = False  # a long chain continues in a kernel of its own
                why = f"consumer kernel %{target.id} already holds MAX_FUSED_OPS={MAX_FUSED_OPS} ops"
            if fusible:
                inline.add(n.id)
                group_of[n.id] = target.id
                group_size[target.id] = group_size.get(target.id, 1) + 1
                in_order[n.id] = all(_reads_in_order(c, n, in_order) for c in consumers)
            else:
                notes[n.id] = why
                self._own_group(n, group_of, must_materialize)
                in_order[n.id] = True

        groups = build_groups(graph, inline, group_of)
        self._attach_epilogues(graph, groups, users, gemm, notes)
        graph.kernels = groups
        graph.fusion_notes = notes

    @staticmethod
    def _reduction_note(n, target, consumers, in_order) -> str:
        """Why a reduction (or another non-elementwise producer) stays out of its consumer."""
        if get_op(n.op).kind != "reduce":
            return f"{n.op} ({get_op(n.op).kind}) has a kernel of its own"
        if not _trailing_reduction(n):
            return (f"reduces over axes {tuple(n.attrs.get('axes', ()))} of a rank-{n.inputs[0].type.ndim} input; "
                    "only reductions over trailing axes fuse (hoisted per row)")
        if target.type.ndim != n.inputs[0].type.ndim:
            return (f"its consumer kernel %{target.id} has rank {target.type.ndim}, not the reduced input's "
                    f"rank {n.inputs[0].type.ndim}: the rows would not follow the kernel's outer loops")
        return (f"read through an index remapping (transpose, reshape or slice) in kernel %{target.id}: "
                "the row reduction would be recomputed for every element")

    @staticmethod
    def _duplicable(n, targets, by_id, group_size) -> bool:
        """A cheap producer (DUPLICABLE_OPS) of values no GEMM produces, read by at most
        MAX_DUPLICATES kernels that are all loop nests with room left: recomputed in each."""
        if n.op not in DUPLICABLE_OPS or len(targets) > MAX_DUPLICATES or any(i.op in GEMM_OPS for i in n.inputs):
            return False
        for t in targets:
            root = by_id[t]
            if root.op in GEMM_OPS or get_op(root.op).kind == "opaque" or group_size.get(t, 1) >= MAX_FUSED_OPS:
                return False
        return True

    @staticmethod
    def _own_group(n, group_of, must_materialize):
        group_of[n.id] = n.id
        if n.op == "reshape" and n.inputs:  # a materialized reshape aliases its input's buffer
            must_materialize.setdefault(n.inputs[0].id, f"the buffer that materialized reshape %{n.id} aliases")

    @staticmethod
    def _gemm_transpose(node, users) -> bool:
        """A 2-D transpose read only by a GEMM becomes swapped operand strides."""
        return node.op == "transpose" and node.type.ndim == 2 and len(users.get(node.id, [])) == 1

    @staticmethod
    def _attach_epilogues(graph, groups, users, gemm, notes=None):
        notes = {} if notes is None else notes
        if not gemm:
            return
        by_root = {g.root.id: g for g in groups}
        member_group = {m.id: g for g in groups for m in g.members}
        position = {id(g): k for k, g in enumerate(groups)}
        roots = {n.id for n in graph.roots()}
        for g in groups:
            mm = g.root
            if not uses_gemm(mm) or mm.type.ndim != 2 or mm.id in roots:
                continue
            consumers = users.get(mm.id, [])
            if not consumers:
                continue
            epi = member_group.get(consumers[0].id)
            if epi is None or epi is g or any(member_group.get(c.id) is not epi for c in consumers):
                c = consumers[0]
                notes[mm.id] = (f"GEMM output read by {c.op} %{c.id}, which has no kernel to run as its epilogue "
                                "(an alias of the result); stored to memory" if epi is None and len(consumers) == 1
                                else "GEMM output has consumers in different kernels: no epilogue, stored to memory")
                continue
            ok = epi.root.type.shape == mm.type.shape and epi.epilogue_of is None
            why = None if ok else (f"consumer kernel %{epi.root.id} has shape {tuple(epi.root.type.shape)}, not the "
                                   f"GEMM's {tuple(mm.type.shape)} (e.g. a reduction over its rows)")
            # the epilogue runs inside the GEMM step: everything else it reads must exist by then
            member_ids = {m.id for m in epi.members}
            for m in epi.members:
                for i in m.inputs:
                    if i.id in member_ids or i is mm:
                        continue
                    while i.op == "reshape" and i.id not in member_group and i.id not in by_root:
                        i = i.inputs[0]  # an alias: look at whose buffer it shares
                    producer = member_group.get(i.id) or by_root.get(i.id)
                    if producer is not None and position[id(producer)] > position[id(g)]:
                        ok = False
                        why = why or f"consumer kernel %{epi.root.id} also reads %{i.id}, computed after the GEMM"
            for m in epi.members:
                kind = get_op(m.op).kind
                if kind != "elementwise":
                    ok = False
                    why = why or (f"consumer kernel %{epi.root.id} contains {m.op} %{m.id} ({kind}); a GEMM "
                                  "epilogue is elementwise only")
                if mm in m.inputs and m.type.shape != mm.type.shape:
                    ok = False
                    why = why or f"{m.op} %{m.id} reads the GEMM output with another shape"
            if ok and by_root.get(epi.root.id) is epi:
                epi.epilogue_of = mm
                notes[mm.id] = f"GEMM; its consumer kernel %{epi.root.id} runs as its epilogue (fused per row block)"
            else:
                notes[mm.id] = why or "GEMM output stored to memory"
