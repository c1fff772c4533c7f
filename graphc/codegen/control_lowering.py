"""Native lowering of ``scan``: a loop in the entry function calling the body's program.

Plan: the body Graph goes through the same pass pipeline and is lowered to its own
Program (its entry has the usual ABI: [carries, x_t..., captures..., new carries,
y_t..., workspace]). Body outputs whose stacked part nothing reads (the ys of a loop
whose final state is all that is used) are dropped before that, so they are not
computed at all.

A GEMM in the body whose B is a loop-invariant capture (an RNN's weights) reads B packed
once before the loop, into the body's workspace, instead of packing it every step (and
in every thread) again.

Emit: when the stacked input carries are read (by the backward scan), they are where
the carries live: step t reads its carries at stacked[t] and writes the new ones at
stacked[t + 1] (the last step writes them to scratch), so no copy runs per step.
Otherwise two scratch copies of the carries are ping-ponged (step t reads one and
writes the other). x_t and y_t are addressed at t * item bytes.
"""
from __future__ import annotations

from llvmlite import ir

from .kernel import I8, I32, I64, entry_alloca

I8P = I8.as_pointer()
ALIGN = 64


def _align(n):
    return (max(n, 1) + ALIGN - 1) // ALIGN * ALIGN


def _used_parts(node, graph) -> set:
    """Indices of the scan's tuple parts that some node of the enclosing graph reads."""
    return {n.attrs["index"] for n in graph.nodes if n.op == "tuple_get" and n.inputs[0] is node}


def plan_scan(node, lowering) -> dict:
    from ..ops.control import scan_counts
    from ..passes import PassContext, PassManager, default_pipeline
    from .program import lower_program

    nc, nx, ny, nr = scan_counts(node.attrs)
    used = _used_parts(node, lowering.graph)
    body = node.attrs["body"].copy()
    # body output j (after the carries) -> its tuple part; keep only the parts read
    part_of = [j if j < nc + ny else j + nc for j in range(nc, nc + ny + nr)]
    kept = [p for p in part_of if p in used]
    body.outputs = body.outputs[:nc] + [o for o, p in zip(body.outputs[nc:], part_of) if p in used]
    body.sort()
    parent = lowering.pass_context
    ctx = PassContext(fuse=parent.fuse if parent else True, target="cpu",
                      options=dict(parent.options) if parent else {})
    PassManager(default_pipeline(ctx), ctx).run(body)
    # a body of a program with symbolic dimensions reads its parent's sizes table
    sub = lower_program(body, name=f"{node.op}{node.id}", pass_context=ctx, symbols=list(lowering.symbols))
    stack_carries = any(nc + ny <= p < 2 * nc + ny for p in used)
    if sub.symbols:
        # sizes per binding: the scratch (two copies of the carries, then the body's
        # workspace) is sized by _ScanScratch; the body's workspace offsets go in the
        # parent's offsets table (WorkspaceLayout.nested, at plan["table_base"]).
        return {"program": sub, "y_parts": kept, "stack_carries": stack_carries,
                "packs": _pack_invariant_weights_symbolic(sub, nc + nx),
                "scratch_bytes": _ScanScratch(node.type.types[:nc], sub.layout), "nested_layout": sub.layout}
    packs, body_bytes = _pack_invariant_weights(sub, nc + nx)
    carry_sizes = [_align(t.nbytes) for t in node.type.types[:nc]]
    carry_bytes = sum(carry_sizes)
    return {"program": sub, "carry_sizes": carry_sizes, "carry_bytes": carry_bytes, "y_parts": kept,
            "stack_carries": stack_carries, "packs": packs, "scratch_bytes": 2 * carry_bytes + body_bytes}


class _ScanScratch:
    """Bytes of a symbolic scan's scratch for a binding: two aligned copies of the
    carries, then the body's workspace (what emit_scan addresses)."""

    def __init__(self, carry_types, body_layout):
        self.carry_types, self.body_layout = list(carry_types), body_layout

    def nbytes_for(self, binding) -> int:
        carries = sum(_align(t.nbytes_for(binding)) for t in self.carry_types)
        return 2 * carries + _align(self.body_layout.place(binding)[1])


def _pack_invariant_weights(sub, first_capture) -> tuple:
    """Let the body's 2-D GEMMs whose B is a captured (loop-invariant) input read B packed
    once before the loop: the packed copies go after the body's workspace. Returns (the
    packs to do: capture index, workspace offset, K, N, transposed, dtype; the body's
    workspace bytes including them)."""
    from .gemm import packed_b_elems
    from .program import Buffer, GemmStep

    size = _align(sub.workspace_bytes)
    packs, offsets = [], {}
    for step in sub.kernels:
        if not (isinstance(step, GemmStep) and step.node.op == "matmul" and step.node.type.ndim == 2
                and step.b.kind == "input" and step.b.base is None and step.b.slot >= first_capture):
            continue
        dt = step.node.type.dtype
        K, N = step.node.inputs[0].type.shape[-1], step.node.type.shape[-1]
        key = (step.b.slot, step.b_trans)
        nbytes = packed_b_elems(dt, K, N) * (4 if dt == "float32" else 8)
        if key not in offsets:
            offsets[key] = size
            packs.append({"capture": step.b.slot - first_capture, "offset": size, "K": K, "N": N,
                          "trans": step.b_trans, "dtype": dt})
            size += _align(nbytes)
        step.b = Buffer("workspace", offsets[key], (K, N), dt, nbytes)
        step.b_packed = True
    return packs, size


def _pack_invariant_weights_symbolic(sub, first_capture) -> list:
    """_pack_invariant_weights for a body with symbolic dimensions: each packed B is a
    workspace value of the body's layout, live over every step (so the placement per
    binding keeps it apart from all others, in every iteration), whose offset the loop
    reads from the offsets table. Its vid comes after the layout's table entries (nested
    programs' included), so existing entries keep their positions."""
    from .gemm import packed_b_elems
    from .program import Buffer, GemmStep

    lay = sub.layout
    packs, bufs = [], {}
    for step in sub.kernels:
        if not (isinstance(step, GemmStep) and step.node.op == "matmul" and step.node.type.ndim == 2
                and step.b.kind == "input" and step.b.base is None and step.b.slot >= first_capture):
            continue
        dt = step.node.type.dtype
        K, N = step.node.inputs[0].type.shape[-1], step.node.type.shape[-1]
        if isinstance(K, str) or isinstance(N, str):
            continue
        key = (step.b.slot, step.b_trans)
        if key not in bufs:
            nbytes = packed_b_elems(dt, K, N) * (4 if dt == "float32" else 8)
            vid = lay.table_len
            bufs[key] = Buffer("workspace", -1, (K, N), dt, nbytes, vid=vid)
            lay.values.append(bufs[key])
            lay.first[vid], lay.last[vid] = 0, len(sub.kernels)
            packs.append({"capture": step.b.slot - first_capture, "vid": vid, "K": K, "N": N,
                          "trans": step.b_trans, "dtype": dt})
        step.b = bufs[key]
        step.b_packed = True
    return packs


def emit_scan(target, module, b: ir.IRBuilder, step, pointer, symbolic=None):
    """``symbolic``: (dim, offsets table, sizes table) of the entry of a program with
    symbolic dimensions; sizes and offsets are then values computed in code
    (symbolic_sizes.py), else ints as before."""
    from ..ir import TensorType
    from ..ops.control import scan_counts
    from .symbolic_sizes import SizeEmitter

    node, plan = step.node, step.plan
    sub = plan["program"]
    nc, nx, length = node.attrs["n_carry"], node.attrs["n_xs"], node.attrs["length"]
    reverse = node.attrs["reverse"]
    types = node.type.types
    S = SizeEmitter(b, symbolic[0] if symbolic else None)
    offsets = S.tuple_offsets(node.type)
    nbytes = [S.nbytes(t) for t in types]
    memcpy = module.declare_intrinsic("llvm.memcpy", [I8P, I8P, I64])
    c64 = S.value
    false = ir.Constant(ir.IntType(1), 0)

    def copy(dst, src, n):
        if not isinstance(n, int) or n:
            b.call(memcpy, [dst, src, c64(n), false])

    def item_bytes(t):  # one step's slice of a stacked type
        return S.nbytes(TensorType(t.shape[1:], t.dtype))

    out = pointer(step.dest)
    ins = [pointer(x) for x in step.inputs]
    finals = [b.gep(out, [c64(offsets[k])]) for k in range(nc)]
    if length == 0:  # no step: the final carries are the initial ones
        for k in range(nc):
            copy(finals[k], ins[k], nbytes[k])
        return
    body_fn = target.emit_program(module, sub, f"{target._prefix}{step.name}_body", prefix=f"{target._prefix}{step.name}_",
                                  linkage="internal")
    scratch = pointer(step.scratch)
    carry_off, carry_bytes = [], 0
    for k in range(nc):
        carry_off.append(carry_bytes)
        carry_bytes = S.add(carry_bytes, S.align(nbytes[k]))
    A = [b.gep(scratch, [c64(o)]) for o in carry_off]
    B = [b.gep(scratch, [c64(S.add(carry_bytes, o))]) for o in carry_off]
    ws = b.gep(scratch, [c64(S.mul(2, carry_bytes))])
    ny = scan_counts(node.attrs)[2]  # parts: carries, ys, stacked carries, residuals
    stacked = [b.gep(out, [c64(offsets[nc + ny + k])]) for k in range(nc)]
    first = length - 1 if reverse else 0
    if plan["stack_carries"]:
        for k in range(nc):
            copy(b.gep(stacked[k], [c64(S.mul(first, nbytes[k]))]), ins[k], nbytes[k])
    else:
        for k in range(nc):
            copy(A[k], ins[k], nbytes[k])
    caps = ins[nc + nx:]
    extra = []
    if symbolic:  # the body's entry takes its offsets (in this program's table) and the sizes table
        _, offsets_table, sizes_raw = symbolic
        extra = [b.bitcast(b.gep(offsets_table, [c64(plan["table_base"])]), I8P), sizes_raw]
    for pk in plan["packs"]:  # loop-invariant GEMM operands, packed once for every step
        from .gemm_runtime import declare_pack_b

        K, N = pk["K"], pk["N"]
        b_rs, b_cs = (1, K) if pk["trans"] else (N, 1)
        # where the body's layout put it: a static offset, or (symbolic) its entry in the offsets table
        off = c64(pk["offset"]) if "offset" in pk else \
            b.load(b.gep(offsets_table, [c64(plan["table_base"] + pk["vid"])]))
        b.call(declare_pack_b(module, pk["dtype"]), [c64(K), c64(N), caps[pk["capture"]], c64(b_rs), c64(b_cs),
                                                     b.gep(ws, [off])])
    item_x = [item_bytes(node.inputs[nc + k].type) for k in range(nx)]
    item_y = [item_bytes(types[p]) for p in plan["y_parts"]]

    fn = b.function
    counter = entry_alloca(b, I64)
    b.store(c64(0), counter)
    head, body, done = fn.append_basic_block("scan_head"), fn.append_basic_block("scan_body"), fn.append_basic_block("scan_done")
    b.branch(head)
    b.position_at_end(head)
    i = b.load(counter)
    b.cbranch(b.icmp_signed("<", i, c64(length)), body, done)
    b.position_at_end(body)
    t = b.sub(c64(length - 1), i) if reverse else i

    def at_step(base, item, step_index=t):
        return b.gep(base, [b.mul(step_index, c64(item))])

    if plan["stack_carries"]:
        t_next = b.sub(t, c64(1)) if reverse else b.add(t, c64(1))
        last = b.icmp_signed("==", i, c64(length - 1))
        cur = [at_step(stacked[k], nbytes[k]) for k in range(nc)]
        new = [b.select(last, B[k], at_step(stacked[k], nbytes[k], t_next)) for k in range(nc)]
    else:
        odd = b.trunc(i, ir.IntType(1))
        cur = [b.select(odd, B[k], A[k]) for k in range(nc)]
        new = [b.select(odd, A[k], B[k]) for k in range(nc)]
    xs = [at_step(ins[nc + k], item_x[k]) for k in range(nx)]
    ys = [at_step(b.gep(out, [c64(offsets[p])]), item_y[j]) for j, p in enumerate(plan["y_parts"])]
    args = cur + xs + caps + new + ys + [ws] + extra
    arr = entry_alloca(b, ir.ArrayType(I8P, len(args)))
    for j, p in enumerate(args):
        b.store(p, b.gep(arr, [ir.Constant(I32, 0), ir.Constant(I32, j)]))
    b.call(body_fn, [b.bitcast(arr, I8P.as_pointer())])
    b.store(b.add(i, c64(1)), counter)
    b.branch(head)
    b.position_at_end(done)
    last_written = B if plan["stack_carries"] or length % 2 == 1 else A
    for k in range(nc):
        copy(finals[k], last_written[k], nbytes[k])
