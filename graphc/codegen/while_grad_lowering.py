"""Native lowering of ``while_grad`` (graphc/ops/while_grad.py): the gradient of a
while_loop that has no ``max_iterations``.

The body and its reverse mode (the VJP graph) each become a nested Program, called from
loops in the enclosing entry function, as in cond_lowering.py:

    N = count; state = init
    ckpt, seg = malloc((ceil(N / K) + min(N, K)) states)      # K = SEGMENT (128)
    for i in 0..N-1:  if i % K == 0: ckpt[i / K] = state;  state = body(state)
    d = d_final; acc = 0
    for s in ceil(N / K)-1 .. 0:
        seg[0] = ckpt[s];  for j in 0..len-2: seg[j+1] = body(seg[j])   # len = min(K, N - s*K)
        for j in len-1 .. 0: d, acc = vjp(seg[j], d, captures, acc)
    free; outputs = d, acc

Carries ping-pong between two scratch copies A/B in the first loop (as in while_loop),
the (d, acc) pair between DA/DB in the last. A state in ckpt/seg is the carries at
64-byte aligned offsets. If malloc fails the outputs are filled with NaN bytes (0xFF).
"""
from __future__ import annotations

from llvmlite import ir

from .cond_lowering import _emit_body, _sub_program
from .control_lowering import I8P, _align
from .kernel import I8, I32, I64, entry_alloca as _entry_alloca


def plan_while_grad(node, lowering) -> dict:
    a = node.attrs
    nc = a["n_carry"]
    params = a["body"].params
    body_p = _sub_program(node, a["body"], lowering, "body")
    vjp_p = _sub_program(node, a["vjp"], lowering, "vjp")
    carry_sizes = [_align(p.type.nbytes) for p in params[:nc]]
    grad_sizes = [_align(params[k].type.nbytes) for k in a["flt"]] + \
        [_align(params[nc + j].type.nbytes) for j in a["cap_f"]]
    ws = _align(max(body_p.workspace_bytes, vjp_p.workspace_bytes))
    return {"body": body_p, "vjp": vjp_p, "carry_sizes": carry_sizes, "carry_bytes": sum(carry_sizes),
            "grad_sizes": grad_sizes, "grad_bytes": sum(grad_sizes), "ws_bytes": ws,
            "scratch_bytes": 2 * sum(carry_sizes) + 2 * sum(grad_sizes) + ws}


def _function(module, name, ret, args):
    fn = module.globals.get(name)
    return fn if fn is not None else ir.Function(module, ir.FunctionType(ret, args), name=name)


def emit_while_grad(target, module, b: ir.IRBuilder, step, pointer):
    node, plan = step.node, step.plan
    a = node.attrs
    nc, flt, cap_f, K = a["n_carry"], a["flt"], a["cap_f"], a["segment"]
    params = a["body"].params
    nb, nf = len(params) - nc, len(flt)
    c64 = lambda v: ir.Constant(I64, int(v))  # noqa: E731
    false = ir.Constant(ir.IntType(1), 0)
    memcpy = module.declare_intrinsic("llvm.memcpy", [I8P, I8P, I64])
    memset = module.declare_intrinsic("llvm.memset", [I8P, I64])
    malloc = _function(module, "malloc", I8P, [I64])
    free = _function(module, "free", ir.VoidType(), [I8P])
    fn = b.function

    def entry_alloca(ty):
        return _entry_alloca(b, ty)

    def copy(dst, src, nbytes):
        if nbytes:
            b.call(memcpy, [dst, src, c64(nbytes), false])

    def call(callee, args):
        arr = entry_alloca(ir.ArrayType(I8P, len(args)))
        for j, p in enumerate(args):
            b.store(p, b.gep(arr, [ir.Constant(I32, 0), ir.Constant(I32, j)]))
        b.call(callee, [b.bitcast(arr, I8P.as_pointer())])

    def loop(start, stop, step_by, emit_body, tag):
        """for (i = start; step_by > 0 ? i < stop : i >= stop; i += step_by) emit_body(i)"""
        counter = entry_alloca(I64)
        b.store(start, counter)
        head, run, done = (fn.append_basic_block(f"{tag}_{n}") for n in ("head", "body", "done"))
        b.branch(head)
        b.position_at_end(head)
        i = b.load(counter)
        b.cbranch(b.icmp_signed("<" if step_by > 0 else ">=", i, stop), run, done)
        b.position_at_end(run)
        emit_body(i)
        b.store(b.add(i, c64(step_by)), counter)
        b.branch(head)
        b.position_at_end(done)

    types = [p.type for p in params]
    offs = [sum(plan["carry_sizes"][:k]) for k in range(nc)]
    goffs = [sum(plan["grad_sizes"][:k]) for k in range(len(plan["grad_sizes"]))]
    cb, gb = plan["carry_bytes"], plan["grad_bytes"]
    gtypes = [types[k] for k in flt] + [types[nc + j] for j in cap_f]

    ins = [pointer(x) for x in step.inputs]
    init, caps, count_ptr = ins[:nc], ins[nc:nc + nb], ins[nc + nb]
    d_final, vjp_caps = ins[nc + nb + 1:nc + nb + 1 + nf], ins[nc + nb + 1 + nf:]
    out = pointer(step.dest)
    outs = [b.gep(out, [c64(o)]) for o in node.type.offsets]
    scratch = pointer(step.scratch)
    at = lambda base, off: b.gep(base, [off if isinstance(off, ir.Value) else c64(off)])  # noqa: E731
    A = [at(scratch, o) for o in offs]
    B = [at(scratch, cb + o) for o in offs]
    DA = [at(scratch, 2 * cb + o) for o in goffs]
    DB = [at(scratch, 2 * cb + gb + o) for o in goffs]
    ws = at(scratch, 2 * cb + 2 * gb)
    body_fn = _emit_body(target, module, step, plan["body"], "body")
    vjp_fn = _emit_body(target, module, step, plan["vjp"], "vjp")

    n = b.load(b.bitcast(count_ptr, I64.as_pointer()))
    nseg = b.sdiv(b.add(n, c64(K - 1)), c64(K))
    seg_len = b.select(b.icmp_signed("<", n, c64(K)), n, c64(K))
    raw = b.call(malloc, [b.add(b.mul(b.add(nseg, seg_len), c64(cb)), c64(64))])
    fail_bb, ok_bb, end_bb = (fn.append_basic_block(f"while_grad_{t}") for t in ("fail", "ok", "end"))
    b.cbranch(b.icmp_unsigned("==", raw, ir.Constant(I8P, None)), fail_bb, ok_bb)

    b.position_at_end(fail_bb)   # no memory for the checkpoints: NaN gradients, not wrong ones
    for p, t in zip(outs, gtypes):
        b.call(memset, [p, ir.Constant(I8, 0xFF), c64(t.nbytes), false])
    b.branch(end_bb)

    b.position_at_end(ok_bb)
    base = b.inttoptr(b.and_(b.add(b.ptrtoint(raw, I64), c64(63)), c64(~63)), I8P)
    ckpt = base
    seg = at(base, b.mul(nseg, c64(cb)))
    state = lambda buf, idx, k: at(buf, b.add(b.mul(idx, c64(cb)), c64(offs[k])))  # noqa: E731

    # 1. forward from init, a checkpoint every K iterations
    for k in range(nc):
        copy(A[k], init[k], types[k].nbytes)

    def forward(i):
        odd = b.trunc(i, ir.IntType(1))
        cur = [b.select(odd, B[k], A[k]) for k in range(nc)]
        new = [b.select(odd, A[k], B[k]) for k in range(nc)]
        keep, go_on = fn.append_basic_block("while_grad_ckpt"), fn.append_basic_block("while_grad_step")
        b.cbranch(b.icmp_signed("==", b.srem(i, c64(K)), c64(0)), keep, go_on)
        b.position_at_end(keep)
        slot = b.sdiv(i, c64(K))
        for k in range(nc):
            copy(state(ckpt, slot, k), cur[k], types[k].nbytes)
        b.branch(go_on)
        b.position_at_end(go_on)
        call(body_fn, cur + caps + new + [ws])

    loop(c64(0), n, 1, forward, "while_grad_fwd")

    # 2. backward, one segment at a time, last first
    for k in range(nf):
        copy(DA[k], d_final[k], gtypes[k].nbytes)
    for k in range(nf, len(gtypes)):
        b.call(memset, [DA[k], ir.Constant(I8, 0), c64(gtypes[k].nbytes), false])
    t_ptr = entry_alloca(I64)
    b.store(c64(0), t_ptr)

    def segment(s):
        for k in range(nc):
            copy(state(seg, c64(0), k), state(ckpt, s, k), types[k].nbytes)
        left = b.sub(n, b.mul(s, c64(K)))
        length = b.select(b.icmp_signed("<", left, c64(K)), left, c64(K))

        def recompute(j):
            call(body_fn, [state(seg, j, k) for k in range(nc)] + caps +
                 [state(seg, b.add(j, c64(1)), k) for k in range(nc)] + [ws])

        loop(c64(0), b.sub(length, c64(1)), 1, recompute, "while_grad_seg")

        def reverse(j):
            t = b.load(t_ptr)
            odd = b.trunc(t, ir.IntType(1))
            cur = [b.select(odd, DB[k], DA[k]) for k in range(len(gtypes))]
            new = [b.select(odd, DA[k], DB[k]) for k in range(len(gtypes))]
            call(vjp_fn, [state(seg, j, k) for k in range(nc)] + cur[:nf] + caps + cur[nf:] + vjp_caps
                 + new + [ws])
            b.store(b.add(t, c64(1)), t_ptr)

        loop(b.sub(length, c64(1)), c64(0), -1, reverse, "while_grad_vjp")

    loop(b.sub(nseg, c64(1)), c64(0), -1, segment, "while_grad_segs")
    b.call(free, [raw])
    last = b.trunc(n, ir.IntType(1))     # N vjp calls ran: the result is in DB when N is odd
    for k, (p, t) in enumerate(zip(outs, gtypes)):
        copy(p, b.select(last, DB[k], DA[k]), t.nbytes)
    b.branch(end_bb)
    b.position_at_end(end_bb)
