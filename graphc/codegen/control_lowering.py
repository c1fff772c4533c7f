"""Native lowering of ``scan``: a loop in the entry function calling the body's program.

Plan: the body Graph goes through the same pass pipeline and is lowered to its own
Program (its entry has the usual ABI: [carries, x_t..., captures..., new carries,
y_t..., workspace]). Scratch holds two copies of the carries (A = this step's input,
B = the body's output) and the body's workspace.

Emit: copy init -> A; for each step t: copy A into the stacked-carries output at t
(kept for reverse mode), call the body with x_t / y_t addressed at t * item bytes,
copy B -> A; finally copy A -> the final-carry outputs.
"""
from __future__ import annotations

from llvmlite import ir

from .kernel import I8, I32, I64

I8P = I8.as_pointer()
ALIGN = 64


def _align(n):
    return (max(n, 1) + ALIGN - 1) // ALIGN * ALIGN


def plan_scan(node, lowering) -> dict:
    from ..passes import PassContext, PassManager, default_pipeline
    from .program import lower_program

    body = node.attrs["body"].copy()
    parent = lowering.pass_context
    ctx = PassContext(fuse=parent.fuse if parent else True, target="cpu",
                      options=dict(parent.options) if parent else {})
    PassManager(default_pipeline(ctx), ctx).run(body)
    sub = lower_program(body, name=f"{node.op}{node.id}", pass_context=ctx)
    nc = node.attrs["n_carry"]
    carry_sizes = [_align(t.nbytes) for t in node.type.types[:nc]]
    carry_bytes = sum(carry_sizes)
    return {"program": sub, "carry_sizes": carry_sizes, "carry_bytes": carry_bytes,
            "scratch_bytes": 2 * carry_bytes + _align(sub.workspace_bytes)}


def emit_scan(target, module, b: ir.IRBuilder, step, pointer):
    node, plan = step.node, step.plan
    sub = plan["program"]
    nc, nx, length = node.attrs["n_carry"], node.attrs["n_xs"], node.attrs["length"]
    types = node.type.types
    ny = len(types) - 2 * nc
    offsets = node.type.offsets
    body_fn = target.emit_program(module, sub, f"{target._prefix}{step.name}_body", prefix=f"{target._prefix}{step.name}_",
                                  linkage="internal")
    memcpy = module.declare_intrinsic("llvm.memcpy", [I8P, I8P, I64])
    c64 = lambda v: ir.Constant(I64, int(v))
    false = ir.Constant(ir.IntType(1), 0)

    def copy(dst, src, nbytes):
        if nbytes:
            b.call(memcpy, [dst, src, c64(nbytes), false])

    out = pointer(step.dest)
    scratch = pointer(step.scratch)
    carry_off = [sum(plan["carry_sizes"][:k]) for k in range(nc)]
    A = [b.gep(scratch, [c64(o)]) for o in carry_off]
    B = [b.gep(scratch, [c64(plan["carry_bytes"] + o)]) for o in carry_off]
    ws = b.gep(scratch, [c64(2 * plan["carry_bytes"])])
    ins = [pointer(x) for x in step.inputs]
    for k in range(nc):
        copy(A[k], ins[k], types[k].nbytes)

    fn = b.function
    counter = b.alloca(I64)
    b.store(c64(0), counter)
    head, body, done = fn.append_basic_block("scan_head"), fn.append_basic_block("scan_body"), fn.append_basic_block("scan_done")
    b.branch(head)
    b.position_at_end(head)
    i = b.load(counter)
    b.cbranch(b.icmp_signed("<", i, c64(length)), body, done)
    b.position_at_end(body)
    t = b.sub(c64(length - 1), i) if node.attrs["reverse"] else i

    def at_step(base, item_bytes):
        return b.gep(base, [b.mul(t, c64(item_bytes))])

    stacked = [b.gep(out, [c64(offsets[nc + ny + k])]) for k in range(nc)]
    for k in range(nc):
        copy(at_step(stacked[k], types[k].nbytes), A[k], types[k].nbytes)
    xs = [at_step(ins[nc + k], step.inputs[nc + k].nbytes // max(length, 1)) for k in range(nx)]
    caps = ins[nc + nx:]
    ys = [at_step(b.gep(out, [c64(offsets[nc + k])]), types[nc + k].nbytes // max(length, 1)) for k in range(ny)]
    args = A + xs + caps + B + ys + [ws]
    arr = b.alloca(ir.ArrayType(I8P, len(args)))
    for j, p in enumerate(args):
        b.store(p, b.gep(arr, [ir.Constant(I32, 0), ir.Constant(I32, j)]))
    b.call(body_fn, [b.bitcast(arr, I8P.as_pointer())])
    for k in range(nc):
        copy(A[k], B[k], types[k].nbytes)
    b.store(b.add(i, c64(1)), counter)
    b.branch(head)
    b.position_at_end(done)
    for k in range(nc):
        copy(b.gep(out, [c64(offsets[k])]), A[k], types[k].nbytes)
