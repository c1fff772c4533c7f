"""GPUKernelBuilder: the KernelBuilder plus what GPU kernels need, and block reductions.

Thread indices come from the ``llvm.nvvm.read.ptx.sreg.*`` intrinsics, barriers from
``llvm.nvvm.barrier.cta.sync.aligned.all``, shared memory is addrspace(3). With
``sim=True`` the same kernels are built for the host: thread indices are calls into
the emulator (graphc._runtime.cuda_sim) and barriers a pthread barrier.

A block reduction: threads stride over the reduced elements keeping a partial each,
then combine the partials in shared memory (a tree of log2(block) barrier-separated
steps); every thread ends up with the block's result. ``COMBINE`` says how to merge
two partials of each reduction op (op emits only know how to add one element).
"""
from __future__ import annotations

from llvmlite import ir

from ..errors import CompileError
from .kernel import I8, I32, I64, KernelBuilder, V, llvm_type, mem_type

BLOCK = 256
SIM_BARRIER = "graphc_sim_bar"
VOID = ir.VoidType()
I8P = I8.as_pointer()


class GPUKernelBuilder(KernelBuilder):
    """KernelBuilder plus thread indices, barriers, shared memory and block reductions.

    While ``uniform`` is a level that every thread of a block runs in lockstep (a
    block-stride loop body), each fused reduction in ``COMBINE`` whose result is needed
    at that level (or above) becomes a block-wide reduction there; deeper ones (inside
    a thread's own loop) stay serial, since a barrier there would diverge.
    """

    block_sums = False  # sums combine per thread and then in a block-wide tree (_BlockReduce)

    def __init__(self, func, target, inline=frozenset(), sim=False, block=BLOCK):
        super().__init__(func, target, inline=inline)
        self.sim = sim
        self.block = block
        self.uniform = None
        self.root_id = None
        self.root_extra: dict = {}      # extra _BlockReduce arguments for the kernel root
        self.plans: dict = {}           # node id -> last _BlockReduce emitted for it
        self._pending = None
        self._sregs: dict = {}

    def _declare(self, name, fnty):
        mod = self.func.module
        fn = mod.globals.get(name)
        return fn if fn is not None else ir.Function(mod, fnty, name=name)

    def sreg(self, name: str) -> V:
        """tid.x / ctaid.x / nctaid.x as an index, read once at kernel entry."""
        hit = self._sregs.get(name)
        if hit is None:
            fname = f"graphc_sim_{name.replace('.', '_')}" if self.sim else f"llvm.nvvm.read.ptx.sreg.{name}"
            fn = self._declare(fname, ir.FunctionType(I32, []))
            with self.at(self.root) as b:
                hit = V(b.zext(b.call(fn, []), I64), self.root, "index")
            self._sregs[name] = hit
        return hit

    def barrier(self, level):
        """__syncthreads(): every thread of the block must reach it (uniform control flow)."""
        with self.at(level) as b:
            if self.sim:  # the emulator's block threads meet at a pthread barrier
                mod = self.func.module
                bar = mod.globals.get(SIM_BARRIER)
                if bar is None:
                    bar = ir.GlobalVariable(mod, ir.ArrayType(I8, 128), name=SIM_BARRIER)
                    bar.initializer = ir.Constant(bar.value_type, None)
                    bar.align = 64
                wait = self._declare("pthread_barrier_wait", ir.FunctionType(I32, [I8P]))
                b.call(wait, [b.bitcast(bar, I8P)])
            else:
                fn = self._declare("llvm.nvvm.barrier.cta.sync.aligned.all", ir.FunctionType(VOID, [I32]))
                b.call(fn, [ir.Constant(I32, 0)])

    def shared(self, dtype: str, n: int, name: str):
        """A block-shared array (addrspace 3 on the GPU); returns an element pointer."""
        ty = ir.ArrayType(mem_type(dtype), max(int(n), 1))
        space = 0 if self.sim else 3
        mod = self.func.module
        gname = f"{self.func.name}_{name}{len(mod.globals)}"
        g = ir.GlobalVariable(mod, ty, name=gname, addrspace=space)
        g.linkage = "internal"
        g.initializer = ir.Constant(ty, None)
        g.align = 16
        return g.gep([ir.Constant(I32, 0), ir.Constant(I32, 0)])

    def load_at(self, level, ptr, flat: V, dtype: str) -> V:
        """Load placed at ``level`` (kb.load would hoist it to the level of the index)."""
        with self.at(level) as b:
            v = b.load(b.gep(ptr, [flat.v], inbounds=True))
            if dtype == "bool":
                v = b.icmp_unsigned("!=", v, ir.Constant(I8, 0))
            return V(v, level, dtype)

    def strided_loop(self, parent, start: V, stop: V, step: V, body, name="g"):
        """``for i in range(start, stop, step)`` (step > 0) built on the plain loop."""
        span = self.iadd(stop, self.imul(start, self.index(-1)))
        trips = self.idiv(self.iadd(span, self.iadd(step, self.index(-1))), step)
        trips = self.select(self.cmp(">", stop, start), trips, self.index(0))
        self.loop(parent, self.index(0), trips, lambda j: body(self.iadd(start, self.imul(j, step))), name=name)

    def if_then(self, level, cond: V, body):
        """Run ``body()`` at ``level`` only where ``cond`` holds; values made inside stay inside."""
        then = self.func.append_basic_block("then")
        merge = self.func.append_basic_block("endif")
        with self.at(level) as b:
            b.cbranch(cond.v, then, merge)
        before = set(self._cache)
        level.tail = then
        body()
        with self.at(level) as b:
            b.branch(merge)
        level.tail = merge
        self._cache = {k: v for k, v in self._cache.items() if k in before}

    def read(self, node, idx):
        if self.uniform is None or node.id not in self.inline or node.op not in COMBINE:
            return super().read(node, idx)
        saved, self._pending = self._pending, node
        try:
            return super().read(node, idx)
        finally:
            self._pending = saved

    def reduce(self, level, extents, inits, step, unroll=True):
        node, self._pending = self._pending, None
        if node is None or self.uniform is None or level.depth > self.uniform.depth:
            return super().reduce(level, extents, inits, step, unroll=unroll)
        extra = self.root_extra if node.id == self.root_id else {}
        plan = _BlockReduce(self.uniform, COMBINE[node.op][0], self.block, **extra)
        self.plans[node.id] = plan
        return plan.emit(self, level, extents, inits, step)


# -- combining partial accumulators (block reductions) -------------------------------------------

def _arg_combine(better):
    """argmax/argmin partials (value, index): the better value, ties and NaNs to the first index."""
    def combine(kb, a, b):
        (va, ia), (vb, ib) = a, b
        first = kb.cmp("<", ib, ia)
        take = kb.logical("or", kb.cmp(better, vb, va), kb.logical("and", kb.cmp("==", vb, va), first))
        if va.dtype in ("float32", "float64"):
            na, nb = kb.isnan(va), kb.isnan(vb)
            take = kb.select(na, kb.logical("and", nb, first), kb.logical("or", nb, take))
        return [kb.select(take, vb, va), kb.select(take, ib, ia)]
    return combine


def _extremum(pick, boolean):
    def combine(kb, a, b):
        if a[0].dtype == "bool":
            return [kb.logical(boolean, a[0], b[0])]
        return [getattr(kb, pick)(a[0], b[0])]
    return combine


# op name -> (combine(kb, accs_a, accs_b) -> accs, index of the accumulator that is the result)
COMBINE = {
    "reduce_sum": (lambda kb, a, b: [kb.add(a[0], b[0], assoc=True)], 0),
    "reduce_prod": (lambda kb, a, b: [kb.mul(a[0], b[0], assoc=True)], 0),
    "reduce_max": (_extremum("maximum", "or"), 0),
    "reduce_min": (_extremum("minimum", "and"), 0),
    "argmax": (_arg_combine(">"), 1),
    "argmin": (_arg_combine("<"), 1),
}


def _tree(kb, level, parts, combine, block):
    """Combine one partial per thread into the block's result (visible to all threads)."""
    tid = kb.sreg("tid.x")
    smem = [kb.shared(p.dtype, block, f"red{k}") for k, p in enumerate(parts)]
    kb.barrier(level)  # the previous iteration's readers are done with smem
    for s, p in zip(smem, parts):
        kb.store(s, tid, p, level=level)
    kb.barrier(level)
    half = block // 2
    while half >= 1:
        def step(half=half):
            other = kb.iadd(tid, kb.index(half))
            a = [kb.load_at(level, s, tid, p.dtype) for s, p in zip(smem, parts)]
            b = [kb.load_at(level, s, other, p.dtype) for s, p in zip(smem, parts)]
            for s, c in zip(smem, combine(kb, a, b)):
                kb.store(s, tid, c, level=level)
        kb.if_then(level, kb.cmp("<", tid, kb.index(half)), step)
        kb.barrier(level)
        half //= 2
    return [kb.load_at(level, s, kb.index(0), p.dtype) for s, p in zip(smem, parts)]


class _BlockReduce:
    """Replaces the root reduction's serial loop by a block-wide one over [begin, end)."""

    def __init__(self, level, combine, block, begin=None, end=None, partial_out=None):
        self.level = level
        self.combine = combine
        self.block = block
        self.begin, self.end = begin, end
        self.partial_out = partial_out   # (scratch pointers, flat index V): two-stage form
        self.acc_dtypes = None
        self.inits = None
        self.result = None

    def emit(self, kb, level, extents, inits, step):
        if self.level.depth > level.depth:
            level = self.level
        total = 1
        for e in extents:
            total *= int(e)
        begin = self.begin if self.begin is not None else kb.index(0)
        end = self.end if self.end is not None else kb.index(total)
        slots = [kb.alloca(llvm_type(i.dtype), name="acc") for i in inits]
        with kb.at(level) as b:
            for s, i in zip(slots, inits):
                b.store(i.v, s)

        def body(r):
            inner = r.level
            with kb.at(inner) as b:
                accs = [V(b.load(s), inner, i.dtype) for s, i in zip(slots, inits)]
            new = step(kb.unflatten(r, extents), accs)
            for s, nv in zip(slots, new):
                lv = kb.deepest(nv)
                with kb.at(inner if lv.depth <= inner.depth else lv) as b:
                    b.store(nv.v, s)

        kb.strided_loop(level, kb.iadd(begin, kb.sreg("tid.x")), end, kb.index(self.block), body, name="r")
        with kb.at(level) as b:
            parts = [V(b.load(s), level, i.dtype) for s, i in zip(slots, inits)]
        self.acc_dtypes = [i.dtype for i in inits]
        self.inits = inits
        result = _tree(kb, level, parts, self.combine, self.block)
        if self.partial_out is not None:
            ptrs, flat = self.partial_out
            tid0 = kb.cmp("==", kb.sreg("tid.x"), kb.index(0))
            kb.if_then(level, tid0, lambda: [kb.store(p, flat, v, level=level) for p, v in zip(ptrs, result)])
            if flat.level.depth > level.depth:
                raise CompileError("two-stage reduction partial index below the block level")
        self.result = result
        return result


