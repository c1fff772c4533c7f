"""Native lowering of ``cond`` (a branch) and ``while_loop`` (a loop with a run-time count).

Both work like scan's lowering (control_lowering.py): every body Graph goes through the
pass pipeline and becomes its own nested Program, whose entry (ABI: [inputs...,
outputs..., workspace]) the enclosing entry calls.

cond: load the bool predicate, branch, call the taken branch's program with its
captures and the node's tuple parts as outputs. Only one branch executes.

while_loop: carries ping-pong between two scratch copies A and B (iteration i reads
A when i is even, B when odd, and writes the other). Each iteration calls the cond
program (its bool result goes to a scratch byte); when it is false, or when
``max_iterations`` iterations have run, the loop ends, else the body program runs.
When the stacked carries are read (by the gradient), iteration i first copies its
input carries to stacked[i]; the stack is zeroed before the loop so the rows past the
last iteration are defined (the interpreter's zeros).
"""
from __future__ import annotations

from llvmlite import ir

from .control_lowering import ALIGN, I8P, _align, _used_parts
from .kernel import I8, I32, I64, entry_alloca


def _sub_program(node, body, lowering, tag):
    """The body's Program; with symbolic dimensions it reads its parent's sizes table."""
    from ..passes import PassContext, PassManager, default_pipeline
    from .program import lower_program

    body = body.copy()
    body.sort()
    parent = lowering.pass_context
    ctx = PassContext(fuse=parent.fuse if parent else True, target="cpu",
                      options=dict(parent.options) if parent else {})
    PassManager(default_pipeline(ctx), ctx).run(body)
    return lower_program(body, name=f"{node.op}{node.id}_{tag}", pass_context=ctx, symbols=list(lowering.symbols))


def _call(b, fn, args):
    arr = entry_alloca(b, ir.ArrayType(I8P, len(args)))   # not in the loop: one slot for every iteration
    for j, p in enumerate(args):
        b.store(p, b.gep(arr, [ir.Constant(I32, 0), ir.Constant(I32, j)]))
    b.call(fn, [b.bitcast(arr, I8P.as_pointer())])


def _emit_body(target, module, step, sub, tag):
    return target.emit_program(module, sub, f"{target._prefix}{step.name}_{tag}",
                               prefix=f"{target._prefix}{step.name}_{tag}_", linkage="internal")


# -- cond ---------------------------------------------------------------------------------------------


def plan_cond(node, lowering) -> dict:
    true_p = _sub_program(node, node.attrs["true_body"], lowering, "true")
    false_p = _sub_program(node, node.attrs["false_body"], lowering, "false")
    if true_p.symbols:  # workspaces placed per binding: both branches share the scratch
        return {"true": true_p, "false": false_p, "nested_layouts": [true_p.layout, false_p.layout],
                "scratch_bytes": _CondScratch(true_p.layout, false_p.layout)}
    return {"true": true_p, "false": false_p,
            "scratch_bytes": _align(max(true_p.workspace_bytes, false_p.workspace_bytes))}


class _CondScratch:
    """Bytes of a symbolic cond's scratch for a binding: the larger branch workspace."""

    def __init__(self, *layouts):
        self.layouts = layouts

    def nbytes_for(self, binding) -> int:
        return _align(max(lay.place(binding)[1] for lay in self.layouts))


def emit_cond(target, module, b: ir.IRBuilder, step, pointer, symbolic=None):
    """``symbolic``: (dim, offsets table, sizes table) in a program with symbolic
    dimensions: the parts lie at offsets computed in code, and each branch's entry also
    takes its offsets (in this program's table) and the sizes table."""
    from .symbolic_sizes import SizeEmitter

    node, plan = step.node, step.plan
    nt = node.attrs["n_true"]
    S = SizeEmitter(b, symbolic[0] if symbolic else None)
    c64 = S.value
    out = pointer(step.dest)
    ins = [pointer(x) for x in step.inputs]
    parts = [b.gep(out, [c64(off)]) for off in S.tuple_offsets(node.type)]
    extra = [[], []]
    if symbolic:
        _, offsets_table, sizes_raw = symbolic
        extra = [[b.bitcast(b.gep(offsets_table, [c64(base)]), I8P), sizes_raw] for base in plan["table_bases"]]
    ws = pointer(step.scratch) if step.scratch is not None else ir.Constant(I8P, None)
    true_fn = _emit_body(target, module, step, plan["true"], "true")
    false_fn = _emit_body(target, module, step, plan["false"], "false")
    taken = b.icmp_unsigned("!=", b.load(b.bitcast(ins[0], I8.as_pointer())), ir.Constant(I8, 0))
    fn = b.function
    then_bb, else_bb, done = (fn.append_basic_block(n) for n in ("cond_true", "cond_false", "cond_done"))
    b.cbranch(taken, then_bb, else_bb)
    b.position_at_end(then_bb)
    _call(b, true_fn, ins[1:1 + nt] + parts + [ws] + extra[0])
    b.branch(done)
    b.position_at_end(else_bb)
    _call(b, false_fn, ins[1 + nt:] + parts + [ws] + extra[1])
    b.branch(done)
    b.position_at_end(done)


# -- while_loop -----------------------------------------------------------------------------------------


def plan_while(node, lowering) -> dict:
    nc = node.attrs["n_carry"]
    cond_p = _sub_program(node, node.attrs["cond"], lowering, "cond")
    body_p = _sub_program(node, node.attrs["body"], lowering, "body")
    used = _used_parts(node, lowering.graph)
    stack = bool(node.attrs["max_iterations"]) and any(p > nc for p in used)   # None or 0: nothing to stack
    if body_p.symbols:  # sizes per binding (emit_while: the predicate byte first, then A, B, workspace)
        return {"cond": cond_p, "body": body_p, "stack": stack, "nested_layouts": [cond_p.layout, body_p.layout],
                "scratch_bytes": _WhileScratch(node.type.types[:nc], cond_p.layout, body_p.layout)}
    carry_sizes = [_align(t.nbytes) for t in node.type.types[:nc]]
    carry_bytes = sum(carry_sizes)
    ws = _align(max(cond_p.workspace_bytes, body_p.workspace_bytes))
    return {"cond": cond_p, "body": body_p, "carry_sizes": carry_sizes, "carry_bytes": carry_bytes,
            "stack": stack, "ws_bytes": ws, "scratch_bytes": 2 * carry_bytes + ws + ALIGN}


class _WhileScratch:
    """Bytes of a symbolic while_loop's scratch for a binding: the predicate byte (one
    aligned slot), two aligned copies of the carries, the larger of the cond's and the
    body's workspaces."""

    def __init__(self, carry_types, *layouts):
        self.carry_types, self.layouts = list(carry_types), layouts

    def nbytes_for(self, binding) -> int:
        carries = sum(_align(t.nbytes_for(binding)) for t in self.carry_types)
        return ALIGN + 2 * carries + _align(max(lay.place(binding)[1] for lay in self.layouts))


def emit_while(target, module, b: ir.IRBuilder, step, pointer, symbolic=None):
    """``symbolic``: as emit_cond's; the scratch then starts with the predicate byte, so
    nothing is placed after the workspace, whose size is known only per call."""
    from ..ir import TensorType
    from .symbolic_sizes import SizeEmitter

    node, plan = step.node, step.plan
    nc, ncc = node.attrs["n_carry"], node.attrs["n_cond_caps"]
    max_it = node.attrs["max_iterations"]
    types = node.type.types
    S = SizeEmitter(b, symbolic[0] if symbolic else None)
    offsets = S.tuple_offsets(node.type)
    c64 = S.value
    false = ir.Constant(ir.IntType(1), 0)
    memcpy = module.declare_intrinsic("llvm.memcpy", [I8P, I8P, I64])
    memset = module.declare_intrinsic("llvm.memset", [I8P, I64])

    def copy(dst, src, nbytes):
        if not isinstance(nbytes, int) or nbytes:
            b.call(memcpy, [dst, src, c64(nbytes), false])

    out = pointer(step.dest)
    ins = [pointer(x) for x in step.inputs]
    cond_caps, body_caps = ins[nc:nc + ncc], ins[nc + ncc:]
    scratch = pointer(step.scratch)
    nbytes = [S.nbytes(t) for t in types]
    extra = [[], []]
    if symbolic:
        _, offsets_table, sizes_raw = symbolic
        extra = [[b.bitcast(b.gep(offsets_table, [c64(base)]), I8P), sizes_raw] for base in plan["table_bases"]]
        pred_ptr = scratch
        offs, carry_bytes = [], ALIGN
        for k in range(nc):
            offs.append(carry_bytes)
            carry_bytes = S.add(carry_bytes, S.align(nbytes[k]))
        carry_bytes = S.add(carry_bytes, -ALIGN)  # the bytes of one copy of the carries
        A = [b.gep(scratch, [c64(o)]) for o in offs]
        B = [b.gep(scratch, [c64(S.add(carry_bytes, o))]) for o in offs]
        ws = b.gep(scratch, [c64(S.add(ALIGN, S.mul(2, carry_bytes)))])
    else:
        offs = [sum(plan["carry_sizes"][:k]) for k in range(nc)]
        A = [b.gep(scratch, [c64(o)]) for o in offs]
        B = [b.gep(scratch, [c64(plan["carry_bytes"] + o)]) for o in offs]
        ws = b.gep(scratch, [c64(2 * plan["carry_bytes"])])
        pred_ptr = b.gep(scratch, [c64(2 * plan["carry_bytes"] + plan["ws_bytes"])])
    finals = [b.gep(out, [c64(offsets[k])]) for k in range(nc)]
    count_ptr = b.bitcast(b.gep(out, [c64(offsets[nc])]), I64.as_pointer())
    stacked = [b.gep(out, [c64(offsets[nc + 1 + k])]) for k in range(nc)] if plan["stack"] else []
    for k in range(nc):
        copy(A[k], ins[k], nbytes[k])
    for k, base in enumerate(stacked):
        b.call(memset, [base, ir.Constant(I8, 0), c64(nbytes[nc + 1 + k]), false])
    cond_fn = _emit_body(target, module, step, plan["cond"], "cond")
    body_fn = _emit_body(target, module, step, plan["body"], "body")

    fn = b.function
    counter = b.alloca(I64)
    b.store(c64(0), counter)
    head, test, run, done = (fn.append_basic_block(n) for n in ("while_head", "while_test", "while_body",
                                                                 "while_done"))
    b.branch(head)
    b.position_at_end(head)
    i = b.load(counter)
    odd = b.trunc(i, ir.IntType(1))
    cur = [b.select(odd, B[k], A[k]) for k in range(nc)]
    new = [b.select(odd, A[k], B[k]) for k in range(nc)]
    if max_it is not None:
        b.cbranch(b.icmp_signed("<", i, c64(max_it)), test, done)
    else:
        b.branch(test)
    b.position_at_end(test)
    _call(b, cond_fn, cur + cond_caps + [pred_ptr, ws] + extra[0])
    b.cbranch(b.icmp_unsigned("!=", b.load(pred_ptr), ir.Constant(I8, 0)), run, done)
    b.position_at_end(run)
    for k, base in enumerate(stacked):
        t = types[nc + 1 + k]
        item = S.nbytes(TensorType(t.shape[1:], t.dtype))  # one iteration's row
        copy(b.gep(base, [b.mul(i, c64(item))]), cur[k], nbytes[k])
    _call(b, body_fn, cur + body_caps + new + [ws] + extra[1])
    b.store(b.add(i, c64(1)), counter)
    b.branch(head)
    b.position_at_end(done)
    n = b.load(counter)
    last = b.trunc(n, ir.IntType(1))
    for k in range(nc):
        copy(finals[k], b.select(last, B[k], A[k]), nbytes[k])
    b.store(n, count_ptr)
