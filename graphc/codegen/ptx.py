"""The NVIDIA GPU target: Program -> LLVM IR for nvptx64 -> PTX text, plus a launch plan.

Every op keeps its one scalar ``emit`` (through a KernelBuilder subclass); what differs
from the CPU is how a kernel's loop nest is spread over threads. Each kernel picks a
strategy (``plan_kernel``):

- ``threads``: a grid-stride loop over the flattened output (or over its leading axes,
  with the trailing axes as serial loops when a fused reduction must be computed once
  per row); one thread per element, consecutive threads on consecutive addresses.
- ``block_reduce``: reductions over many elements: one block per output (block-stride
  loop), threads stride over the reduced elements, partials combined in shared memory
  (addrspace 3) with barriers. With few outputs and a huge reduction it becomes two
  kernels: blocks reduce segments into a scratch array, a second kernel combines them.
- ``matmul``: float matmul as a shared-memory tiled kernel (16x16 threads, each owning
  a TMxTN register tile of C), operands read through ``kb.read`` so fused producers
  (a transpose, a relu) are applied while loading tiles.

Kernels are ``ptx_kernel void name(i8* p0, ...)``: one pointer per buffer, sizes are
compile-time constants. Transcendentals come from ``mathlib`` (plain IR), so they work
here unchanged. ``sim=True`` emits the same kernels for the host CPU, with thread
indices and barriers as calls into the emulator in ``graphc._runtime.cuda_sim``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import llvmlite.binding as llvm
from llvmlite import ir

from ..errors import CompileError
from ..ops.registry import get_op
from .kernel import I8, I32, I64, KernelBuilder, V, contiguous_strides, llvm_type, mem_type
from .target import Target

TRIPLE = "nvptx64-nvidia-cuda"
# PTX ISA 8.0 (CUDA 12.0) for Hopper; the portable target is Turing+ with ISA 7.0
# (CUDA 11.0). Both are accepted by driver 580 / CUDA 13 (whose ptxas has no sm_70).
ARCHS = {"sm_90": "+ptx80", "sm_75": "+ptx70"}
DEFAULT_ARCH, PORTABLE_ARCH = "sm_90", "sm_75"
BLOCK = 256
I8P = I8.as_pointer()
SIM_BARRIER = "graphc_sim_bar"
ITEMSIZE = {"float32": 4, "float64": 8, "int32": 4, "int64": 8, "bool": 1}
VOID = ir.VoidType()

# Intrinsics (by prefix) the NVPTX backend lowers; anything else (llvm.exp, libm, ...)
# would abort in instruction selection, so it is rejected with a CompileError first.
NVPTX_INTRINSICS = ("llvm.nvvm.", "llvm.sqrt.", "llvm.fabs.", "llvm.fma.", "llvm.fmuladd.", "llvm.floor.",
                    "llvm.ceil.", "llvm.rint.", "llvm.trunc.", "llvm.round.", "llvm.nearbyint.", "llvm.copysign.",
                    "llvm.minnum.", "llvm.maxnum.", "llvm.minimum.", "llvm.maximum.", "llvm.smax.", "llvm.smin.",
                    "llvm.umax.", "llvm.umin.", "llvm.abs.", "llvm.ctpop.", "llvm.ctlz.", "llvm.cttz.",
                    "llvm.bswap.", "llvm.fshl.", "llvm.fshr.", "llvm.memcpy.", "llvm.memset.", "llvm.memmove.",
                    "llvm.lifetime.", "llvm.assume", "llvm.expect.")

# Ops whose outer axes to keep serial inside a thread (their emit hoists per-matrix
# work above the last axes). Other files may add entries.
SERIAL_TRAILING_AXES = {"matrix_inverse": 2}


# -- the kernel builder with thread indices, barriers and shared memory -------------------------

class GPUKernelBuilder(KernelBuilder):
    """KernelBuilder plus thread indices, barriers, shared memory and block reductions.

    While ``uniform`` is a level that every thread of a block runs in lockstep (a
    block-stride loop body), each fused reduction in ``COMBINE`` whose result is needed
    at that level (or above) becomes a block-wide reduction there; deeper ones (inside
    a thread's own loop) stay serial, since a barrier there would diverge.
    """

    def __init__(self, func, target, inline=frozenset(), sim=False, block=BLOCK):
        super().__init__(func, target, inline=inline)
        self.sim = sim
        self.block = block
        self.uniform = None
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

    def reduce(self, level, extents, inits, step):
        node, self._pending = self._pending, None
        if node is None or self.uniform is None or level.depth > self.uniform.depth:
            return super().reduce(level, extents, inits, step)
        extra = self.root_extra if node.op in COMBINE and node.id == self.root_id else {}
        plan = _BlockReduce(self.uniform, COMBINE[node.op][0], self.block, **extra)
        self.plans[node.id] = plan
        return plan.emit(self, level, extents, inits, step)

    root_id = None


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


# -- launch plan ---------------------------------------------------------------------------------

@dataclass
class Scratch:
    """A device scratch range (not a Program buffer), e.g. two-stage reduction partials."""
    offset: int
    nbytes: int
    dtype: str

    def key(self):
        return ("scratch", self.offset)


@dataclass
class Launch:
    name: str
    args: list            # Buffer or Scratch per pointer parameter
    work: int             # threads wanted, or blocks when per_block
    per_block: bool = False
    block: int = BLOCK
    barrier: bool = False
    strategy: str = "threads"


@dataclass
class GPUCode:
    """The GPU half of a compiled Program: one LLVM module, launches per kernel index."""
    module: ir.Module
    launches: dict = field(default_factory=dict)   # kernel index -> [Launch]
    scratch_bytes: int = 0
    sim: bool = False

    @property
    def llvm_ir(self) -> str:
        return str(self.module)


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _kind(node) -> str:
    return get_op(node.op).kind


# -- codegen ---------------------------------------------------------------------------------------

class GPUCodegen:
    """Builds the GPU steps of a Program into one module, recording their launches."""

    def __init__(self, target: "PTXTarget", program, sim=False):
        self.target = target
        self.program = program
        self.sim = sim
        self.module = ir.Module(name=f"{program.name}_gpu")
        if sim:
            self.module.triple = llvm.get_process_triple()
        else:
            self.module.triple = TRIPLE
            self.module.data_layout = str(target_machine(target.arch).target_data)
        self.code = GPUCode(self.module, sim=sim)
        self.block = target.block

    # -- steps -------------------------------------------------------------------------------------
    def add_step(self, index, step):
        if is_gemm_step(step):
            launches = self._gemm_step(step)
        else:
            kernel = as_kernel(step)
            strategy, param = plan_kernel(kernel, self.block)
            launches = getattr(self, f"_{strategy}")(kernel, kernel.buffers(), param)
        self.code.launches[index] = launches

    def _function(self, name, nparams):
        fn = ir.Function(self.module, ir.FunctionType(VOID, [I8P] * nparams), name=name)
        if not self.sim:
            fn.calling_convention = "ptx_kernel"
        return fn

    def _start(self, kernel, args, suffix=""):
        """A kernel function with one pointer per buffer in ``args``; reads go through them."""
        fn = self._function(kernel.name + suffix, len(args))
        kb = GPUKernelBuilder(fn, self.target, inline=kernel.inline, sim=self.sim, block=self.block)
        kb.root_id = kernel.root.id
        ptrs = {}
        with kb.at(kb.root) as b:
            for ref, raw in zip(args, fn.args):
                ptrs[ref.key()] = b.bitcast(raw, mem_type(ref.dtype).as_pointer())

        def read_buffer(kb_, node, idx):
            buf = kernel.reads[node.id]
            return kb_.load(ptrs[buf.key()], kb_.flat_index(idx, node.type.shape), node.type.dtype)

        kb.read_buffer = read_buffer
        return kb, ptrs

    # -- one thread per element (or per row) -----------------------------------------------------
    def _threads(self, kernel, args, parallel_axes):
        """Grid-stride over the leading ``parallel_axes`` axes, serial loops over the rest."""
        kb, ptrs = self._start(kernel, args)
        shape = tuple(kernel.shape)
        dest = ptrs[kernel.dest.key()]
        outer = shape[:parallel_axes]
        gid = kb.iadd(kb.sreg("tid.x"), kb.imul(kb.sreg("ctaid.x"), kb.index(self.block)))
        stride = kb.imul(kb.sreg("nctaid.x"), kb.index(self.block))

        def inner(depth, idx):
            if depth == len(shape):
                value = kb.read(kernel.root, idx)
                kb.store(dest, kb.flat_index(idx, shape), value, level=kb.path[-1])
                return
            kb.loop(kb.path[-1], kb.index(0), kb.index(shape[depth]),
                    lambda iv: inner(depth + 1, idx + [iv]), name=f"i{depth}_")

        kb.strided_loop(kb.root, gid, kb.index(_prod(outer)), stride,
                        lambda flat: inner(parallel_axes, kb.unflatten(flat, outer)))
        kb.finish()
        return [Launch(kernel.name, list(args), _prod(outer), strategy="threads")]

    # -- one block per row: softmax-like kernels with fused row reductions -------------------------
    def _row_block(self, kernel, args, _):
        kb, ptrs = self._start(kernel, args)
        shape = tuple(kernel.shape)
        dest = ptrs[kernel.dest.key()]
        rows, cols = shape[:-1], shape[-1]

        def row(o):
            kb.uniform = o.level
            outer = kb.unflatten(o, rows)

            def col(j):
                idx = outer + [j]
                kb.store(dest, kb.flat_index(idx, shape), kb.read(kernel.root, idx), level=j.level)

            kb.strided_loop(o.level, kb.sreg("tid.x"), kb.index(cols), kb.index(self.block), col, name="c")
            kb.uniform = None

        kb.strided_loop(kb.root, kb.sreg("ctaid.x"), kb.index(_prod(rows)), kb.sreg("nctaid.x"), row, name="o")
        kb.finish()
        return [Launch(kernel.name, list(args), _prod(rows), per_block=True, barrier=True, strategy="row_block")]

    # -- reductions: one block per output (or per output segment, then a combine kernel) -------------
    def _block_reduce(self, kernel, args, segments):
        root = kernel.root
        combine, result_index = COMBINE[root.op]
        out_shape = tuple(kernel.shape)
        n_out = _prod(out_shape)
        x = root.inputs[0]
        total = _prod(x.type.shape[a] for a in root.attrs["axes"])
        block = self.block
        if segments <= 1:
            kb, ptrs = self._start(kernel, args)

            def body(o):
                kb.uniform = o.level
                value = kb.read(root, kb.unflatten(o, out_shape))
                kb.uniform = None
                tid0 = kb.cmp("==", kb.sreg("tid.x"), kb.index(0))
                kb.if_then(o.level, tid0, lambda: kb.store(ptrs[kernel.dest.key()], o, value, level=o.level))

            kb.strided_loop(kb.root, kb.sreg("ctaid.x"), kb.index(n_out), kb.sreg("nctaid.x"), body, name="o")
            kb.finish()
            return [Launch(kernel.name, list(args), n_out, per_block=True, barrier=True, strategy="block_reduce")]

        # stage 1: block w = (output o, segment s) reduces its segment into scratch[w]
        chunk = -(-total // segments)
        work = n_out * segments
        acc_dtypes = [x.type.dtype, "int64"] if result_index == 1 else [root.type.dtype]
        scratch = [self._scratch(work * ITEMSIZE[dt], dt) for dt in acc_dtypes]
        kb, ptrs = self._start(kernel, list(args) + scratch, "_part")

        def body(w):
            o = kb.idiv(w, kb.index(segments))
            begin = kb.imul(kb.imod(w, kb.index(segments)), kb.index(chunk))
            end = kb.minimum(kb.iadd(begin, kb.index(chunk)), kb.index(total))
            kb.root_extra = {"begin": begin, "end": end, "partial_out": ([ptrs[s.key()] for s in scratch], w)}
            kb.uniform = w.level
            value = kb.read(root, kb.unflatten(o, out_shape))
            kb.uniform = None
            plan = kb.plans.get(root.id)
            if plan is None or plan.acc_dtypes != acc_dtypes or value.v is not plan.result[result_index].v:
                raise CompileError(f"{root.op}: the two-stage GPU reduction expects accumulators {acc_dtypes} "
                                   f"with accumulator {result_index} returned unchanged by the op's emit")

        kb.strided_loop(kb.root, kb.sreg("ctaid.x"), kb.index(work), kb.sreg("nctaid.x"), body, name="w")
        kb.finish()
        inits = kb.plans[root.id].inits
        launches = [Launch(kernel.name + "_part", list(args) + scratch, work, per_block=True, barrier=True,
                           strategy="block_reduce_part")]

        # stage 2: one block per output combines its segments' partials
        fn = self._function(kernel.name + "_final", 1 + len(scratch))
        kb2 = GPUKernelBuilder(fn, self.target, sim=self.sim, block=block)
        with kb2.at(kb2.root) as b:
            dest = b.bitcast(fn.args[0], mem_type(kernel.dest.dtype).as_pointer())
            parts = [b.bitcast(a, mem_type(dt).as_pointer()) for a, dt in zip(fn.args[1:], acc_dtypes)]

        def body2(o):
            level = o.level
            slots = [kb2.alloca(llvm_type(dt), name="acc") for dt in acc_dtypes]
            with kb2.at(level) as b:
                for sl, init in zip(slots, inits):
                    b.store(init.v, sl)

            def combine_one(sg):
                inner = sg.level
                with kb2.at(inner) as b:
                    mine = [V(b.load(sl), inner, dt) for sl, dt in zip(slots, acc_dtypes)]
                flat = kb2.iadd(kb2.imul(o, kb2.index(segments)), sg)
                theirs = [kb2.load_at(inner, p, flat, dt) for p, dt in zip(parts, acc_dtypes)]
                new = combine(kb2, mine, theirs)
                with kb2.at(inner) as b:
                    for sl, nv in zip(slots, new):
                        b.store(nv.v, sl)

            kb2.strided_loop(level, kb2.sreg("tid.x"), kb2.index(segments), kb2.index(block), combine_one, name="s")
            with kb2.at(level) as b:
                mine = [V(b.load(sl), level, dt) for sl, dt in zip(slots, acc_dtypes)]
            result = _tree(kb2, level, mine, combine, block)
            tid0 = kb2.cmp("==", kb2.sreg("tid.x"), kb2.index(0))
            kb2.if_then(level, tid0, lambda: kb2.store(dest, o, result[result_index], level=level))

        kb2.strided_loop(kb2.root, kb2.sreg("ctaid.x"), kb2.index(n_out), kb2.sreg("nctaid.x"), body2, name="o")
        kb2.finish()
        launches.append(Launch(kernel.name + "_final", [kernel.dest] + scratch, n_out, per_block=True,
                               barrier=True, strategy="block_reduce_final"))
        return launches

    def _scratch(self, nbytes, dtype) -> Scratch:
        off = self.code.scratch_bytes
        self.code.scratch_bytes += (nbytes + 255) // 256 * 256
        return Scratch(off, nbytes, dtype)

    # -- matmul: shared-memory tiles ------------------------------------------------------------------
    def _matmul(self, kernel, args, cfg):
        kb, ptrs = self._start(kernel, args)
        a, b = kernel.root.inputs

        def reader(x):
            def read(bidx, row, col):
                lead = x.type.ndim - 2
                nb = len(bidx)
                bi = [kb.index(0) if x.type.shape[j] == 1 else bidx[nb - lead + j] for j in range(lead)]
                return kb.read(x, bi + [row, col])
            return read

        self._tiled(kb, kernel.name, kernel.root.type, a.type.shape[-1], reader(a), reader(b),
                    ptrs[kernel.dest.key()], cfg)
        return [Launch(kernel.name, list(args), _tiles(kernel.root.type.shape, cfg), per_block=True,
                       barrier=True, strategy="matmul")]

    def _gemm_step(self, step):
        """The CPU lowering's GEMM step (operands in memory, maybe transposed) + its epilogue."""
        node = step.node
        args = [step.dest, step.a, step.b]
        args = [r for k, r in enumerate(args) if r.key() not in {x.key() for x in args[:k]}]
        fn = self._function(step.name, len(args))
        kb = GPUKernelBuilder(fn, self.target, sim=self.sim, block=self.block)
        ptrs = {}
        with kb.at(kb.root) as bl:
            for ref, raw in zip(args, fn.args):
                ptrs[ref.key()] = bl.bitcast(raw, mem_type(ref.dtype).as_pointer())

        def reader(buf, trans):
            def read(bidx, row, col):
                shape = tuple(buf.shape)
                lead = len(shape) - 2
                nb = len(bidx)
                bi = [kb.index(0) if shape[j] == 1 else bidx[nb - lead + j] for j in range(lead)]
                rc = [col, row] if trans else [row, col]
                return kb.load(ptrs[buf.key()], kb.flat_index(bi + rc, shape), buf.dtype)
            return read

        k = node.inputs[0].type.shape[-1]
        cfg = plan_matmul(node.type.shape)
        self._tiled(kb, step.name, node.type, k, reader(step.a, step.a_trans), reader(step.b, step.b_trans),
                    ptrs[step.dest.key()], cfg)
        launches = [Launch(step.name, args, _tiles(node.type.shape, cfg), per_block=True, barrier=True,
                           strategy="matmul")]
        if step.epilogue is not None:
            epi = step.epilogue
            launches += self._threads(epi, epi.buffers(), len(epi.shape))
        return launches

    def _tiled(self, kb, name, out_type, k, read_a, read_b, dest, cfg):
        """C tile of (16*TM) x (16*TN) per block; thread (tx, ty) owns rows ty+16i, cols tx+16j.

        Each step over K loads a BM x BK tile of A (stored transposed, padded against bank
        conflicts) and a BK x BN tile of B into shared memory, then every thread does
        TM*TN*BK multiply-adds from registers. Out-of-range elements load as zero.
        """
        tm, tn, bk = cfg
        dt = out_type.dtype
        shape = tuple(out_type.shape)
        m, n = shape[-2], shape[-1]
        batch = shape[:-2]
        bm, bn = 16 * tm, 16 * tn
        tiles_m, tiles_n = -(-m // bm), -(-n // bn)
        per_batch = tiles_m * tiles_n
        block = self.block
        tid = kb.sreg("tid.x")
        tx, ty = kb.imod(tid, kb.index(16)), kb.idiv(tid, kb.index(16))
        a_pitch = bm + 1
        a_s = kb.shared(dt, bk * a_pitch, "As")
        b_s = kb.shared(dt, bk * bn, "Bs")
        zero = kb.const(0, dt)

        def clamp(v, hi):
            return kb.minimum(v, kb.index(max(hi - 1, 0)))

        def tile(t):
            level = t.level
            bi = kb.idiv(t, kb.index(per_batch))
            rem = kb.imod(t, kb.index(per_batch))
            m0 = kb.imul(kb.idiv(rem, kb.index(tiles_n)), kb.index(bm))
            n0 = kb.imul(kb.imod(rem, kb.index(tiles_n)), kb.index(bn))
            bidx = kb.unflatten(bi, batch)
            accs = [[kb.alloca(llvm_type(dt), name="c") for _ in range(tn)] for _ in range(tm)]
            with kb.at(level) as bl:
                for row in accs:
                    for s in row:
                        bl.store(zero.v, s)

            def ktile(kt):
                lk = kt.level
                k0 = kb.imul(kt, kb.index(bk))
                for e in range(bm * bk // block):
                    lin = kb.iadd(tid, kb.index(e * block))
                    r, c = kb.idiv(lin, kb.index(bk)), kb.imod(lin, kb.index(bk))
                    row, col = kb.iadd(m0, r), kb.iadd(k0, c)
                    ok = kb.logical("and", kb.cmp("<", row, kb.index(m)), kb.cmp("<", col, kb.index(k)))
                    v = read_a(bidx, clamp(row, m), clamp(col, k))
                    kb.store(a_s, kb.iadd(kb.imul(c, kb.index(a_pitch)), r), kb.select(ok, v, zero), level=lk)
                for e in range(bk * bn // block):
                    lin = kb.iadd(tid, kb.index(e * block))
                    r, c = kb.idiv(lin, kb.index(bn)), kb.imod(lin, kb.index(bn))
                    row, col = kb.iadd(k0, r), kb.iadd(n0, c)
                    ok = kb.logical("and", kb.cmp("<", row, kb.index(k)), kb.cmp("<", col, kb.index(n)))
                    v = read_b(bidx, clamp(row, k), clamp(col, n))
                    kb.store(b_s, kb.iadd(kb.imul(r, kb.index(bn)), c), kb.select(ok, v, zero), level=lk)
                kb.barrier(lk)
                with kb.at(lk) as bl:
                    cur = [[V(bl.load(s), lk, dt) for s in row] for row in accs]
                for kk in range(bk):
                    av = [kb.load_at(lk, a_s, kb.iadd(ty, kb.index(kk * a_pitch + 16 * i)), dt) for i in range(tm)]
                    bv = [kb.load_at(lk, b_s, kb.iadd(tx, kb.index(kk * bn + 16 * j)), dt) for j in range(tn)]
                    cur = [[kb.add(cur[i][j], kb.mul(av[i], bv[j])) for j in range(tn)] for i in range(tm)]
                with kb.at(lk) as bl:
                    for row_s, row_v in zip(accs, cur):
                        for s, v in zip(row_s, row_v):
                            bl.store(v.v, s)
                kb.barrier(lk)

            kb.loop(level, kb.index(0), kb.index(-(-k // bk)), ktile, name="kt")
            with kb.at(level) as bl:
                final = [[V(bl.load(s), level, dt) for s in row] for row in accs]
            for i in range(tm):
                row = kb.iadd(m0, kb.iadd(ty, kb.index(16 * i)))
                for j in range(tn):
                    col = kb.iadd(n0, kb.iadd(tx, kb.index(16 * j)))
                    ok = kb.logical("and", kb.cmp("<", row, kb.index(m)), kb.cmp("<", col, kb.index(n)))
                    flat = kb.flat_index(list(bidx) + [row, col], shape)
                    kb.if_then(level, ok, lambda flat=flat, v=final[i][j]: kb.store(dest, flat, v, level=level))

        tiles = _prod(batch) * per_batch
        kb.strided_loop(kb.root, kb.sreg("ctaid.x"), kb.index(tiles), kb.sreg("nctaid.x"), tile, name="t")
        kb.finish()


def _tiles(shape, cfg) -> int:
    tm, tn, _ = cfg
    return _prod(shape[:-2]) * -(-shape[-2] // (16 * tm)) * -(-shape[-1] // (16 * tn))


def plan_matmul(shape):
    """(TM, TN, BK): 128x128 tiles for big products, 64x64 for small ones (more blocks)."""
    big = _prod(shape[:-2]) * shape[-2] * shape[-1] >= 128 * 128 * 64
    return (8, 8, 8) if big else (4, 4, 16)


def is_gemm_step(step) -> bool:
    return hasattr(step, "a_trans") and hasattr(step, "b_trans")


def step_node(step):
    """The graph node a Program step computes (its device is the step's device)."""
    return getattr(step, "root", None) or getattr(step, "node")


def as_kernel(step):
    """A loop-nest Kernel for a step; a whole-op CPU step becomes one when its op has an emit."""
    if hasattr(step, "inline") and hasattr(step, "reads"):
        return step
    from .program import Kernel

    node = step_node(step)
    op = get_op(node.op)
    if op.emit is None and "cuda" not in op.lowerings:
        raise CompileError(f"{node.op} has no GPU kernel (only a CPU step lowering){_where(node)}")
    reads = {i.id: b for i, b in zip(node.inputs, step.inputs)}
    return Kernel(step.name, node, frozenset([node.id]), step.dest, reads, node.type.shape, [node])


def _where(node) -> str:
    return f" (at {node.loc})" if getattr(node, "loc", "") else ""


def plan_kernel(kernel, block=BLOCK):
    """(strategy, parameter) for one loop-nest kernel; see the module docstring."""
    root = kernel.root
    shape = tuple(kernel.shape)
    rank = len(shape)
    fused = root.id in kernel.inline
    others = [m for m in kernel.members if m.id != root.id]
    heavy = [m for m in others if _kind(m) in ("reduce", "opaque")]
    light_reductions = all(m.op in COMBINE for m in heavy)
    if fused and root.op == "matmul" and not heavy and root.type.dtype in ("float32", "float64"):
        return ("matmul", plan_matmul(shape))
    if fused and root.op in COMBINE and light_reductions:
        x = root.inputs[0]
        axes = root.attrs["axes"]
        total = _prod(x.type.shape[a] for a in axes)
        n_out = _prod(shape)
        contiguous = (x.type.ndim - 1) in axes
        if (contiguous and total >= 64) or (n_out < 8192 and total >= 1024):
            segments = 1
            if not heavy and n_out < 256 and total >= 16384:
                segments = max(1, min(-(-total // (block * 4)), 1024 // n_out))
            return ("block_reduce", segments)
    if fused and root.op in SERIAL_TRAILING_AXES:
        return ("threads", max(rank - SERIAL_TRAILING_AXES[root.op], 0))
    if heavy and rank >= 1:
        if light_reductions and (shape[-1] >= 64 or _prod(shape[:-1]) < 2048):
            return ("row_block", None)
        return ("threads", rank - 1)  # fused reductions then run once per row, as on the CPU
    return ("threads", rank)


# -- target machine and PTX ----------------------------------------------------------------------

_tm_lock = threading.Lock()
_tms: dict = {}


def target_machine(arch=DEFAULT_ARCH):
    """The NVPTX target machine for ``arch`` (sm_90 -> PTX 8.0, sm_75 -> PTX 7.0)."""
    from .llvm_cpu import init_llvm

    if arch not in ARCHS:
        raise CompileError(f"unsupported GPU architecture {arch!r} (supported: {', '.join(ARCHS)})")
    init_llvm()
    with _tm_lock:
        tm = _tms.get(arch)
        if tm is None:
            target = llvm.Target.from_triple(TRIPLE)
            tm = target.create_target_machine(cpu=arch, features=ARCHS[arch], opt=3)
            _tms[arch] = tm
        return tm


def check_calls(module: ir.Module):
    """Reject calls the NVPTX backend cannot lower, naming them (before LLVM would abort)."""
    for gv in module.globals.values():
        if isinstance(gv, ir.Function) and not gv.blocks:
            name = gv.name
            if name.startswith("llvm."):
                if not name.startswith(NVPTX_INTRINSICS):
                    raise CompileError(f"the GPU target cannot lower intrinsic {name} (no NVPTX instruction)")
            elif not name.startswith("graphc_sim_") and name != "pthread_barrier_wait":
                raise CompileError(f"GPU kernels cannot call external function {name}")


def parse_and_optimize(module: ir.Module, tm):
    from .llvm_cpu import optimize

    try:
        mod = llvm.parse_assembly(str(module))
        mod.verify()
    except RuntimeError as e:
        raise CompileError(f"generated GPU LLVM IR is invalid: {e}") from None
    optimize(mod, tm)
    return mod


def emit_ptx(module: ir.Module, arch=DEFAULT_ARCH) -> str:
    check_calls(module)
    tm = target_machine(arch)
    return tm.emit_assembly(parse_and_optimize(module, tm))


# -- the target ------------------------------------------------------------------------------------

class PTXTarget(Target):
    name = "cuda"

    def __init__(self, arch=DEFAULT_ARCH, block=BLOCK, sim=False):
        if block != BLOCK:
            raise CompileError(f"the GPU kernels are written for {BLOCK}-thread blocks")
        self.arch = arch
        self.block = block
        self.sim = sim

    def emit_math(self, builder, fname, *vals):
        from . import mathlib, mathlib_bridge

        if not (hasattr(mathlib, f"emit_{fname}") or fname == "sigmoid" or
                f"llvm.{fname}.".startswith(NVPTX_INTRINSICS)):
            raise CompileError(f"math function {fname!r} has no GPU implementation (not in graphc's mathlib)")
        return mathlib_bridge.emit(builder, fname, *vals)

    def build(self, program, kernel_indices=None, sim=None) -> GPUCode:
        """LLVM IR for the chosen kernels (all by default) and their launches."""
        cg = GPUCodegen(self, program, sim=self.sim if sim is None else sim)
        indices = range(len(program.kernels)) if kernel_indices is None else kernel_indices
        for i in indices:
            cg.add_step(i, program.kernels[i])
        return cg.code

    def ptx(self, program, kernel_indices=None) -> str:
        return emit_ptx(self.build(program, kernel_indices, sim=False).module, self.arch)

    def compile(self, program):
        from .gpu_compile import compile_program

        return compile_program(self, program)


def arch_for(compute_capability) -> str:
    """The PTX target for a device: sm_90 on Hopper and newer, else the portable sm_75."""
    major, minor = compute_capability
    return DEFAULT_ARCH if major * 10 + minor >= 90 else PORTABLE_ARCH
