"""GPU kernel strategies: how each Program step's loop nest is spread over threads.

- ``threads``: a grid-stride loop over the flattened output (or over its leading axes,
  with the trailing axes as serial loops when a fused reduction must be computed once
  per row); one thread per element, consecutive threads on consecutive addresses.
- ``row_block``: kernels with fused row reductions (softmax): one block per row, the
  row's columns strided over the threads, each fused reduction a block reduction.
- ``block_reduce``: reductions over many elements: one block per output (block-stride
  loop), threads stride over the reduced elements, partials combined in shared memory.
  With few outputs and a huge reduction it becomes two kernels: blocks reduce segments
  into a scratch array, a second kernel combines them.
- ``matmul``: float matmul (a fused loop nest or the CPU lowering's GEMM step) as a
  shared-memory tiled kernel: 16x16 threads, each owning a TMxTN register tile of C;
  operands are read through ``kb.read``, so fused producers apply while tiles load.

Kernels are ``ptx_kernel void name(i8* p0, ...)``: one pointer per buffer (``Launch.args``),
sizes are compile-time constants, the grid size is the runtime's choice.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import llvmlite.binding as llvm
from llvmlite import ir

from ..errors import CompileError
from ..ops.registry import get_op
from .kernel import V, compute_dtype, llvm_type, mem_type
from .ptx_kernel import BLOCK, COMBINE, I8P, VOID, GPUKernelBuilder, _tree

UNROLL, UNROLL_MIN = 4, 1 << 20   # large elementwise kernels: 4 elements per thread and iteration
ITEMSIZE = {"float32": 4, "float64": 8, "int32": 4, "int64": 8, "bool": 1, "int8": 1, "float16": 2, "bfloat16": 2}
# Ops whose outer axes to keep serial inside a thread (their emit hoists per-matrix
# work above the last axes). Other files may add entries.
SERIAL_TRAILING_AXES = {"matrix_inverse": 2}


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
            from .ptx import TRIPLE, target_machine

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

    def _function(self, name, args):
        """``void name(i8*...)``, one pointer per ref in ``args``. When no two refs overlap
        in memory (no in-place update) the pointers are noalias; LLVM then infers the
        read-only ones and loads use the read-only data cache (ld.global.nc)."""
        fn = ir.Function(self.module, ir.FunctionType(VOID, [I8P] * len(args)), name=name)
        if not self.sim:
            fn.calling_convention = "ptx_kernel"
        if disjoint(args):
            for arg in fn.args:
                arg.add_attribute("noalias")
        return fn

    def _start(self, kernel, args, suffix=""):
        """A kernel function with one pointer per buffer in ``args``; reads go through them."""
        fn = self._function(kernel.name + suffix, args)
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

        total = _prod(outer)
        if parallel_axes == len(shape) and total >= UNROLL_MIN:
            self._unrolled(kb, kernel, dest, gid, stride, total)
            kb.finish()
            return [Launch(kernel.name, list(args), -(-total // UNROLL), strategy=f"threads_x{UNROLL}")]
        kb.strided_loop(kb.root, gid, kb.index(total), stride,
                        lambda flat: inner(parallel_axes, kb.unflatten(flat, outer)))
        kb.finish()
        return [Launch(kernel.name, list(args), total, strategy="threads")]

    @staticmethod
    def _unrolled(kb, kernel, dest, gid, stride, total):
        """UNROLL elements (``stride`` apart) per iteration, all loaded before any store:
        more memory requests in flight per thread. Lanes past the end compute the last
        element again (clamped index) and skip the store."""
        shape = tuple(kernel.shape)
        last, end = kb.index(total - 1), kb.index(total)

        def body(flat):
            offs = [flat] + [kb.iadd(flat, kb.imul(stride, kb.index(u))) for u in range(1, UNROLL)]
            vals = [kb.read(kernel.root, kb.unflatten(kb.minimum(f, last) if u else f, shape))
                    for u, f in enumerate(offs)]
            kb.store(dest, flat, vals[0], level=flat.level)
            for f, v in zip(offs[1:], vals[1:]):
                kb.if_then(f.level, kb.cmp("<", f, end), lambda f=f, v=v: kb.store(dest, f, v, level=f.level))

        kb.strided_loop(kb.root, gid, end, kb.imul(stride, kb.index(UNROLL)), body)

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
        # float16/bfloat16 partials stay float32, as the accumulators (rounded once, at the end)
        acc_dtypes = [compute_dtype(x.type.dtype), "int64"] if result_index == 1 else [compute_dtype(root.type.dtype)]
        scratch = [self._scratch(work * ITEMSIZE[dt], dt) for dt in acc_dtypes]
        kb, ptrs = self._start(kernel, list(args) + scratch, "_part")
        kb.unrounded = frozenset({root.id})  # the partials are float32 accumulators

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
        fn = self._function(kernel.name + "_final", [kernel.dest] + scratch)
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
        fn = self._function(step.name, args)
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
                def load_tile(rows, cols, row0, col0, nrows, ncols, read, smem, slot):
                    """Each thread copies tile elements (zero outside the matrix) into
                    shared memory at slot(r, c)."""
                    for e in range(rows * cols // block):
                        lin = kb.iadd(tid, kb.index(e * block))
                        r, c = kb.idiv(lin, kb.index(cols)), kb.imod(lin, kb.index(cols))
                        row, col = kb.iadd(row0, r), kb.iadd(col0, c)
                        ok = kb.logical("and", kb.cmp("<", row, kb.index(nrows)), kb.cmp("<", col, kb.index(ncols)))
                        v = read(bidx, clamp(row, nrows), clamp(col, ncols))
                        kb.store(smem, slot(r, c), kb.select(ok, v, zero), level=lk)

                # A is stored transposed (k-major), B as it is
                load_tile(bm, bk, m0, k0, m, k, read_a, a_s, lambda r, c: kb.iadd(kb.imul(c, kb.index(a_pitch)), r))
                load_tile(bk, bn, k0, n0, k, n, read_b, b_s, lambda r, c: kb.iadd(kb.imul(r, kb.index(bn)), c))
                kb.barrier(lk)
                with kb.at(lk) as bl:
                    cur = [[V(bl.load(s), lk, dt) for s in row] for row in accs]
                for kk in range(bk):
                    av = [kb.load_at(lk, a_s, kb.iadd(ty, kb.index(kk * a_pitch + 16 * i)), dt) for i in range(tm)]
                    bv = [kb.load_at(lk, b_s, kb.iadd(tx, kb.index(kk * bn + 16 * j)), dt) for j in range(tn)]
                    # accumulations (assoc: contract flags, so each multiply-add is one fma)
                    cur = [[kb.add(cur[i][j], kb.mul(av[i], bv[j], assoc=True), assoc=True) for j in range(tn)]
                           for i in range(tm)]
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


def _extent(ref):
    """(memory space, first byte, end byte) of a buffer, a view or a scratch range."""
    if isinstance(ref, Scratch):
        return ("scratch",), ref.offset, ref.offset + ref.nbytes
    root, off = ref, 0
    while getattr(root, "base", None) is not None:
        off += root.offset
        root = root.base
    if root.kind == "workspace":
        return ("workspace",), root.slot + off, root.slot + off + ref.nbytes
    return (root.kind, root.slot), off, off + ref.nbytes


def disjoint(refs) -> bool:
    """No two of these buffers share a byte (then kernel pointers may be noalias)."""
    ext = [_extent(r) for r in refs]
    for i, (sa, a0, a1) in enumerate(ext):
        for sb, b0, b1 in ext[i + 1:]:
            if sa == sb and a0 < b1 and b0 < a1:
                return False
    return True


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
    if heavy and rank >= 1 and _kind(root) != "reduce":
        if light_reductions and (shape[-1] >= 64 or _prod(shape[:-1]) < 2048):
            return ("row_block", None)
        return ("threads", rank - 1)  # fused reductions then run once per row, as on the CPU
    return ("threads", rank)   # (a reduction root: one output, with its fused reductions, per thread)


