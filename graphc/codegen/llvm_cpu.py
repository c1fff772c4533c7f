"""The CPU target: Program -> LLVM IR module -> machine code (JIT now, object file for AOT).

Every kernel becomes ``void kN(i8** bufs, i64 begin, i64 end)`` covering rows
[begin, end) of its outermost loop, so it can be split across threads; the entry point
``int32 graphc_main(i8** args)`` calls the kernels in order. The module calls nothing
but LLVM intrinsics and the graphc runtime symbols, so the same object links into a
standalone shared library.

A kernel's code depends only on its structure (buffers come as pointers), so kernels
are keyed structurally (kernel_key.py) and emitted once per distinct key: in the JIT
each distinct kernel is its own code unit, compiled at O3, cached in memory and on disk
by its key, shared by every program that uses it and freed with the last one
(code_cache.py); the entry is compiled without an IR pipeline. Compile time thus grows
with the number of distinct kernels, not with depth.
"""
from __future__ import annotations

import hashlib
import os
import threading

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from ..errors import CompileError
from . import stats
from .cpu.cpu_model import current_model
from .gemm import counted_loop
from .kernel import I8, I32, I64, V, KernelBuilder, mem_type, np_to_llvm_constant
from ..ops.registry import get_op
from .program import CustomStep, GemmStep
from .step_table import KIND_CALL, KIND_GEMM, KIND_PARALLEL
from .target import Target

I8P = I8.as_pointer()
I8PP = I8P.as_pointer()
KERNEL_TYPE = ir.FunctionType(ir.VoidType(), [I8P, I64, I64])  # (ctx = void** buffers, begin, end)
# A kernel is split across threads when it has at least this many elements of work;
# below it, the dispatch (~0.2 us warm, ~30 us waking sleeping workers) costs more.
PARALLEL_MIN_ELEMENTS = 1 << 15
ENTRY_NAME = "graphc_main"

_init_lock = threading.Lock()
_initialized = False


def init_llvm():
    """Initialize LLVM's targets once (llvm.initialize() is deprecated in llvmlite 0.50)."""
    global _initialized
    with _init_lock:
        if not _initialized:
            llvm.initialize_all_targets()
            llvm.initialize_all_asmprinters()
            _initialized = True


def host_cpu() -> tuple[str, str]:
    """CPU name and features for codegen; ``GRAPHC_CPU=name[:features]`` overrides the host.

    Both come from the CPU model (graphc/codegen/cpu/cpu_model.py), whose features
    also carry its vector-width rule."""
    from .cpu import current_model

    init_llvm()
    model = current_model()
    return model.name, model.features


_tm_local = threading.local()


def _tm_cache_for_thread() -> dict:
    """Target machines of this thread: LLVM compiles units on several threads at once
    (code_cache.get_units) and a TargetMachine is not documented as safe to share
    between concurrent compilations, so each thread builds its own (~1 ms each)."""
    cache = getattr(_tm_local, "cache", None)
    if cache is None:
        cache = _tm_local.cache = {}
    return cache


def target_machine(reloc="default"):
    key = (host_cpu(), reloc)
    tm = _tm_cache_for_thread().get(key)
    if tm is None:
        cpu, feats = host_cpu()
        target = llvm.Target.from_default_triple()
        tm = target.create_target_machine(cpu=cpu, features=feats, opt=3, reloc=reloc, codemodel="default")
        _tm_cache_for_thread()[key] = tm
    return tm


def optimize(mod: llvm.ModuleRef, tm, speed_level: int = 3) -> None:
    """The new pass builder at O3 (vectorizes loops for the host's vector width).

    Below O3 (light elementwise units) loops are vectorized but not unrolled further:
    unrolling the vector loops and the small fixed-trip loops made those units' code
    ~1.6x larger and their optimize + emit ~35% slower, for no measured gain in the MLP
    SGD/Adam steps (elementwise work is memory-bound; results are the same bits, as
    nothing is reassociated)."""
    pto = llvm.create_pipeline_tuning_options(speed_level=speed_level)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_unrolling = speed_level >= 3
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)


class CPUTarget(Target):
    """``split=False`` (AOT export, ``build_module``): one module holding every kernel
    once (structurally identical kernels share one function). The JIT (``compile``)
    splits instead: each distinct kernel is its own code unit (code_cache.py), and the
    module built here holds only the entry, calling the units by name."""

    name = "cpu"
    # step_marker(builder, module, program, index): emitted before step ``index`` of the
    # entry (and with len(steps) before it returns); None in normal code. The profiling
    # entry (profiled_entry.py) records a timestamp there.
    step_marker = None

    def __init__(self, split: bool = False):
        # float16 loads/stores use LLVM's fpext/fptrunc only where they are instructions
        # (F16C): elsewhere they would be calls to compiler-rt, absent from the JIT
        self.native_half = current_model().has_half_convert
        self.split = split
        self.units: dict = {}      # split: cache key -> (symbol, fn building its IR text)
        self._gemm_runtime: set = set()  # split: (dtype, b_packed) GEMM runtimes the units call
        self._unit_fns: dict = {}  # one module: structural key -> ir.Function emitted

    # -- IR generation --------------------------------------------------------------------
    def build_module(self, program) -> ir.Module:
        module = ir.Module(name=program.name)
        module.triple = llvm.get_process_triple()
        self.emit_program(module, program, ENTRY_NAME)
        return module

    def emit_program(self, module, program, entry_name, prefix="", linkage=None) -> ir.Function:
        """Emit every step of ``program`` and its entry function into ``module``.

        ``prefix`` keeps the internal symbols of nested programs (scan bodies) apart."""
        saved = getattr(self, "_prefix", ""), getattr(self, "_constants", {})
        self._prefix, self._constants = prefix, {}
        try:
            fns = []
            for k in program.kernels:
                if isinstance(k, GemmStep):
                    fns.append(self.gemm_function(module, program, k))
                elif isinstance(k, CustomStep):
                    fns.append(None)
                else:
                    fns.append(self.kernel_function(module, program, k))
            entry = self.emit_entry(module, program, fns, entry_name)
            if linkage:
                entry.linkage = linkage
            return entry
        finally:
            self._prefix, self._constants = saved

    def constant_global(self, module, buf):
        g = self._constants.get(buf.slot)
        if g is None:
            init = np_to_llvm_constant(buf.value)
            g = ir.GlobalVariable(module, init.type, name=f"{self._prefix}const{buf.slot}")
            g.global_constant = True
            g.linkage = "internal"
            g.initializer = init
            g.align = 64
            self._constants[buf.slot] = g
        return g

    # -- kernels as shared functions -----------------------------------------------------
    def kernel_function(self, module, program, kernel) -> ir.Function:
        """The function computing ``kernel``, emitted once per distinct structure."""
        from .kernel_key import kernel_key

        from .flat_kernels import flat_length, flat_view

        stats.count("kernels_total")
        if flat_length(kernel) is not None:  # one size-generic function (flat_kernels.py)
            kernel = flat_view(kernel)
        return self._shared_function(module, _with_symbols(kernel_key(kernel), program), KERNEL_TYPE,
                                     lambda m, name, linkage: self.emit_kernel(m, program, kernel, name, linkage),
                                     self._prefix + kernel.name, kernel_speed_level(kernel))

    def gemm_function(self, module, program, step):
        """(task function, row chunks) of a GEMM step, emitted once per distinct structure."""
        from .gemm import gemm_pack_buffer_elems
        from .kernel_key import gemm_key

        stats.count("kernels_total")
        dt = step.node.type.dtype
        chunks = self._gemm_chunks(step)
        pack_bytes = gemm_pack_buffer_elems(dt) * np.dtype(dt).itemsize + 64
        if self.split:  # the shared GEMM runtime the task calls: loaded before the units (load_units)
            self._gemm_runtime.add((dt, bool(step.b_packed) or _conv_prepacks_b(step)))
        fn = self._shared_function(module, _with_symbols(gemm_key(step, chunks, pack_bytes), program), KERNEL_TYPE,
                                   lambda m, name, linkage: self.emit_gemm_step(m, program, step, name, linkage)[0],
                                   self._prefix + step.name,
                                   kernel_speed_level(step.epilogue) if step.epilogue is not None else LIGHT_SPEED_LEVEL)
        return fn, chunks

    def _shared_function(self, module, key, fnty, emit, local_name, speed_level: int) -> ir.Function:
        """One module: emit the function once per key (internal). Split: record a unit
        (its IR is built later, only if neither memory nor disk has its code) and
        declare its symbol here."""
        if not self.split:
            fn = self._unit_fns.get(key) if key is not None else None
            if fn is None or fn.module is not module:
                fn = emit(module, local_name, "internal")
                if key is not None:
                    self._unit_fns[key] = fn
                    stats.count("kernels_distinct")
            return fn
        if key is None:  # not describable structurally: key the generated text
            text = _unit_text(emit)
            cache_key = _cache_key(f"{text}:O{speed_level}")
            build = (lambda t=text: t)
        else:
            cache_key = _unit_cache_key(key, speed_level)
            build = (lambda: _unit_text(emit))
        symbol = f"graphc_k_{cache_key}"
        if cache_key not in self.units:
            self.units[cache_key] = (symbol, build, speed_level)
            stats.count("kernels_distinct")
        fn = module.globals.get(symbol)
        if fn is None:
            fn = ir.Function(module, fnty, name=symbol)
        return fn

    def emit_kernel(self, module, program, kernel, name=None, linkage="internal") -> ir.Function:
        from .loop_split import split_points

        fn = ir.Function(module, KERNEL_TYPE, name=name or (self._prefix + kernel.name))
        fn.linkage = linkage
        ctx_arg, begin, end = fn.args
        kb = KernelBuilder(fn, self, inline=kernel.inline)
        params = kernel.buffers()
        ptrs = {}
        with kb.at(kb.root) as b:
            bufs_arg = b.bitcast(ctx_arg, I8PP)
            for j, buf in enumerate(params):
                raw = b.load(b.gep(bufs_arg, [ir.Constant(I64, j)]))
                ptrs[buf.key()] = b.bitcast(raw, mem_type(buf.dtype).as_pointer())
            if program.symbols:  # the sizes table follows the buffers (see emit_entry)
                sizes = b.bitcast(b.load(b.gep(bufs_arg, [ir.Constant(I64, len(params))])), I64.as_pointer())
                kb.symbols = {name: V(b.load(b.gep(sizes, [ir.Constant(I64, k)]), name=f"sym_{name}"), kb.root, "index")
                              for k, name in enumerate(program.symbols)}

        def read_buffer(kb_, node, idx):
            buf = kernel.reads[node.id]
            flat = kb_.flat_index(idx, node.type.shape)
            return kb_.load(ptrs[buf.key()], flat, node.type.dtype)

        kb.read_buffer = read_buffer
        dest_ptr = ptrs[kernel.dest.key()]
        for nid in stash_candidates(kernel):
            kb.stash[nid] = (dest_ptr, kernel.shape)
        shape = kernel.shape
        strides = kb.strides(shape)
        # the innermost axis as pieces where a concatenate or slice_grad changes source
        # (loop_split.py); a softmax-like stash keeps one loop
        cuts = [] if kb.stash else split_points(kernel)

        def body(depth, idx):
            if depth == len(shape):
                value = kb.read(kernel.root, idx)
                flat = kb.flat_index(idx, shape, strides)
                level = kb.path[-1]
                kb.store(dest_ptr, flat, value, level=level)
                return
            inner = lambda iv: body(depth + 1, idx + [iv])  # noqa: E731
            if depth == 0:
                start, stop = V(begin, kb.root, "index"), V(end, kb.root, "index")
            elif depth == len(shape) - 1 and cuts:
                edges = [0] + cuts + [int(shape[depth])]
                parent = kb.path[-1]
                for lo, hi in zip(edges, edges[1:]):
                    kb.loop(parent, kb.index(lo), kb.index(hi), inner, name=f"i{depth}_", bounds=(lo, hi))
                return
            else:
                start, stop = kb.index(0), kb.index(shape[depth])
            kb.loop(kb.path[-1], start, stop, inner, name=f"i{depth}_")

        body(0, [])
        kb.finish()
        return fn

    def emit_entry(self, module, program, kernel_fns, entry_name=ENTRY_NAME):
        entry = ir.Function(module, ir.FunctionType(I32, [I8PP]), name=entry_name)
        (args,) = entry.args
        b = ir.IRBuilder(entry.append_basic_block("entry"))
        n_in, n_out, n_var = len(program.inputs), len(program.outputs), len(program.variables)
        ws = b.load(b.gep(args, [ir.Constant(I64, n_in + n_out + n_var)]), name="workspace")
        symbolic = bool(program.symbols)
        if symbolic:
            # two more arguments: the workspace offsets (int64 per workspace value, placed
            # for this call's sizes) and the sizes table (int64 per symbol)
            offsets = b.bitcast(b.load(b.gep(args, [ir.Constant(I64, n_in + n_out + n_var + 1)])), I64.as_pointer())
            sizes_raw = b.load(b.gep(args, [ir.Constant(I64, n_in + n_out + n_var + 2)]), name="sizes")
            sizes = b.bitcast(sizes_raw, I64.as_pointer())

        def dim(d):
            if isinstance(d, str):
                if d not in program.symbols:  # a derived product (64*n) the table lacks: computed
                    from ..symbolic import factors

                    k, names = factors(d)
                    v = ir.Constant(I64, k)
                    for name in names:
                        v = b.mul(v, dim(name))
                    return v
                return b.load(b.gep(sizes, [ir.Constant(I64, program.symbols.index(d))]))
            return ir.Constant(I64, int(d))

        def pointer(buf):
            if buf.base is not None:  # a symbolic offset (symbolic_sizes.TupleOffset) is computed here
                off = buf.offset.emit(b, dim) if hasattr(buf.offset, "emit") else ir.Constant(I64, buf.offset)
                return b.gep(pointer(buf.base), [off])
            if buf.kind == "input":
                return b.load(b.gep(args, [ir.Constant(I64, buf.slot)]))
            if buf.kind == "output":
                return b.load(b.gep(args, [ir.Constant(I64, n_in + buf.slot)]))
            if buf.kind == "variable":
                return b.load(b.gep(args, [ir.Constant(I64, n_in + n_out + buf.slot)]))
            if buf.kind == "workspace":
                if symbolic:
                    return b.gep(ws, [b.load(b.gep(offsets, [ir.Constant(I64, buf.vid)]))])
                return b.gep(ws, [ir.Constant(I64, buf.slot)])
            return b.bitcast(self.constant_global(module, buf), I8P)

        def pointer_array(bufs):
            n = len(bufs) + (1 if symbolic else 0)
            arr = b.alloca(ir.ArrayType(I8P, max(n, 1)))
            for j, buf in enumerate(bufs):
                b.store(pointer(buf), b.gep(arr, [ir.Constant(I32, 0), ir.Constant(I32, j)]))
            if symbolic:
                b.store(sizes_raw, b.gep(arr, [ir.Constant(I32, 0), ir.Constant(I32, len(bufs))]))
            return b.bitcast(arr, I8P)

        for index, (step, fn) in enumerate(zip(program.kernels, kernel_fns)):
            if self.step_marker is not None:  # profiling entries only (codegen/profiled_entry.py)
                self.step_marker(b, module, program, index)
            if isinstance(step, CustomStep):
                custom = get_op(step.node.op).kernel
                if symbolic:  # a kernel supporting symbols takes them (dim, offsets and sizes tables)
                    if not getattr(custom, "symbolic", False):
                        raise CompileError(f"{step.node.op} with symbolic dimensions is not supported yet "
                                           f"(compile with static shapes)")
                    custom.emit(self, module, b, step, pointer, symbolic=(dim, offsets, sizes_raw))
                    continue
                custom.emit(self, module, b, step, pointer)
                continue
            if isinstance(step, GemmStep):
                epi_ctx = pointer_array(step.epilogue.buffers()) if step.epilogue is not None else ir.Constant(I8P, None)
                ctx = pointer_array([step.a, step.b, step.dest, step.scratch])
                ctx_full = b.alloca(ir.ArrayType(I8P, 3 if symbolic else 2))
                b.store(ctx, b.gep(ctx_full, [ir.Constant(I32, 0), ir.Constant(I32, 0)]))
                b.store(epi_ctx, b.gep(ctx_full, [ir.Constant(I32, 0), ir.Constant(I32, 1)]))
                if symbolic:
                    b.store(sizes_raw, b.gep(ctx_full, [ir.Constant(I32, 0), ir.Constant(I32, 2)]))
                task, chunks = fn
                grain = 1
                mm = step.node
                dims = (mm.inputs[0].type.shape[-1],) + tuple(mm.type.shape)
                if symbolic and chunks > 1 and all(not isinstance(d, str) or d in program.symbols for d in dims):
                    work = ir.Constant(I64, 1)  # split for a large size: run inline when small at this call
                    for d in dims:
                        work = b.mul(work, dim(d))
                    grain = b.select(b.icmp_signed("<", work, ir.Constant(I64, 1 << 21)),
                                     ir.Constant(I64, chunks), ir.Constant(I64, 1))
                self.emit_parallel(b, module, task, b.bitcast(ctx_full, I8P), chunks, grain)
                continue
            ctx = pointer_array(step.buffers())
            kind, extent, grain = kernel_dispatch(step)
            if kind == DISPATCH_PARALLEL:
                self.emit_parallel(b, module, fn, ctx, dim(extent), grain)
            else:
                b.call(fn, [ctx, ir.Constant(I64, 0), ir.Constant(I64, extent)])
        if self.step_marker is not None:
            self.step_marker(b, module, program, len(program.kernels))
        b.ret(ir.Constant(I32, 0))
        return entry

    def emit_parallel(self, b, module, fn, ctx, n, grain):
        """Split [0, n) over the native thread pool (runs inline for one chunk)."""
        from .threadpool import declare_threadpool

        pfor = declare_threadpool(module)["graphc_parallel_for"]
        n = n if isinstance(n, ir.Value) else ir.Constant(I64, n)
        grain = grain if isinstance(grain, ir.Value) else ir.Constant(I64, grain)
        b.call(pfor, [b.bitcast(fn, pfor.function_type.args[0]), ctx, n, grain])

    def _gemm_chunks(self, step) -> int:
        from ..passes.fusion import gemm_inner_dim
        from .program import gemm_chunks

        node = step.node
        hint = lambda d: 1024 if isinstance(d, str) else d  # a symbolic size is assumed large
        M, N = (hint(d) for d in node.type.shape[-2:])
        K = hint(gemm_inner_dim(node))
        flops = 2 * M * N * K * max(1, int(np.prod([hint(d) for d in node.type.shape[:-2]], dtype=np.int64)))
        if flops < 1 << 22 or M < 2:
            return 1
        from .gemm import gemm_config

        # chunks are whole MR-row tiles (emit_gemm_step): no more chunks than tiles
        return min(gemm_chunks(), -(-M // gemm_config(node.type.dtype).MR))

    def emit_gemm_step(self, module, program, step, name=None, linkage="internal"):
        """A task over row chunks: each chunk runs the GEMM on its rows (every batch),
        then the epilogue kernel on those rows while they are still in cache."""
        from .gemm import gemm_config, gemm_pack_buffer_elems
        from .gemm_overflow import declare_overflow_fixup
        from .gemm_runtime import declare_gemm
        from ..passes.fusion import gemm_inner_dim

        node = step.node
        dt = node.type.dtype
        T = mem_type(dt)
        gemm_fn = declare_gemm(module, dt, step.b_packed)  # defined once per process (gemm_runtime.py)
        overflow_fn = declare_overflow_fixup(module, dt, shared=self.split)
        epi_fn = (self.emit_kernel(module, program, step.epilogue, (name or self._prefix + step.name) + "_epilogue")
                  if step.epilogue is not None else None)
        a_node, b_node = node.inputs
        M, N = node.type.shape[-2:]
        K = gemm_inner_dim(node)
        batch_shape = node.type.shape[:-2]
        chunks = self._gemm_chunks(step)
        itemsize = np.dtype(dt).itemsize
        pack_bytes = gemm_pack_buffer_elems(dt) * itemsize + 64

        fn = ir.Function(module, KERNEL_TYPE, name=name or (self._prefix + step.name))
        fn.linkage = linkage
        ctx_arg, cbeg, cend = fn.args
        entry = fn.append_basic_block("entry")
        b = ir.IRBuilder(entry)
        outer = b.bitcast(ctx_arg, I8PP)
        bufs = b.bitcast(b.load(b.gep(outer, [ir.Constant(I64, 0)])), I8PP)
        epi_ctx = b.load(b.gep(outer, [ir.Constant(I64, 1)]))
        A, B, C, scratch = (b.load(b.gep(bufs, [ir.Constant(I64, j)])) for j in range(4))
        A, B, C = (b.bitcast(p, T.as_pointer()) for p in (A, B, C))

        def strides(trans, rows, cols):
            # element strides of the operand as GEMM sees it (a transposed view swaps them)
            return (1, rows) if trans else (cols, 1)

        run_batch = ()  # symbolic: batch dims looped at run time (operands batched alike, or not at all)
        if program.symbols:
            # (batch..., M, K) @ (K, N) with a row-major A is one GEMM of batch*M rows
            fold = batch_shape and b_node.type.ndim == 2 and not step.a_trans and a_node.type.shape[:-2] == batch_shape
            if batch_shape and not fold and all(x.type.shape[:-2] in ((), batch_shape) for x in (a_node, b_node)):
                run_batch, batch_shape = batch_shape, ()
            elif (batch_shape and not fold) or a_node.type.ndim < 2:
                raise CompileError(f"batched matmul with symbolic dimensions is not supported yet "
                                   f"({a_node.type} @ {b_node.type})")
            if fold:
                from ..symbolic import dim_mul

                M, batch_shape = dim_mul(*batch_shape, M), ()
            sizes = b.bitcast(b.load(b.gep(outer, [ir.Constant(I64, 2)])), I64.as_pointer())
            sym = {name: b.load(b.gep(sizes, [ir.Constant(I64, k)]), name=f"sym_{name}")
                   for k, name in enumerate(program.symbols)}
            for d in (M, N, K):
                if isinstance(d, str) and d not in sym:  # a product of symbols not in the table
                    from ..symbolic import factors

                    k_, names = factors(d)
                    sym[d] = ir.Constant(I64, k_)
                    for name in names:
                        sym[d] = b.mul(sym[d], sym[name])
        a_rs, a_cs = strides(step.a_trans, M, K)
        b_rs, b_cs = strides(step.b_trans, K, N)
        static = not program.symbols
        a_batch = _batch_strides(a_node.type.shape, batch_shape, M * K) if static else []
        b_batch = _batch_strides(b_node.type.shape, batch_shape, K * N) if static else []
        out_batch = _batch_strides(node.type.shape, batch_shape, M * N) if static else []
        nbatch = max(1, int(np.prod(batch_shape, dtype=np.int64)))

        def c64(v):  # a size: a constant, or a symbol's run-time value
            return sym[v] if isinstance(v, str) else ir.Constant(I64, int(v))

        # for chunk in [cbeg, cend): the rows of tiles [c*tiles/chunks, (c+1)*tiles/chunks)
        # (the last chunk ends at M). Whole MR-row tiles: a boundary inside a tile would have
        # both neighbours compute that tile in full (50 rows on 2 threads: 24 + 26 rows,
        # 7 tiles, instead of 25 + 25, 8 tiles)
        MR = gemm_config(dt).MR
        tiles = b.sdiv(b.add(c64(M), c64(MR - 1)), c64(MR))
        with counted_loop(b, cbeg, cend, 1, "chunk") as c:
            def chunk_start(k):  # the first row of chunk k: a whole number of tiles
                row = b.mul(b.sdiv(b.mul(k, tiles), c64(chunks)), c64(MR))
                return b.select(b.icmp_signed("<", row, c64(M)), row, c64(M))
            m0, m1 = chunk_start(c), chunk_start(b.add(c, c64(1)))
            pack = b.bitcast(b.gep(scratch, [b.mul(c, c64(pack_bytes))]), T.as_pointer())
            if node.op == "patches_matmul":  # an implicit-GEMM convolution (conv_gemm.py)
                self._conv_chunk(b, T, step, (gemm_fn, overflow_fn, epi_fn, epi_ctx), (A, B, C, scratch),
                                 (c64(b_rs), c64(b_cs)), (c, m0, m1, pack), (c64(M), c64(N), c64(K)),
                                 chunks * pack_bytes)

            def call_gemm(ao, bo, co):  # rows [m0, m1) of one batch entry (element offsets)
                b.call(gemm_fn, [c64(M), c64(N), c64(K), b.gep(A, [ao]), c64(a_rs), c64(a_cs),
                                 b.gep(B, [bo]), c64(b_rs), c64(b_cs), b.gep(C, [co]), c64(N),
                                 c64(0), m0, m1, pack])
                # NaN where products overflowed both ways (FMAs hide inf - inf)
                b.call(overflow_fn, [c64(N), c64(K), b.gep(A, [ao]), c64(a_rs), c64(a_cs),
                                     b.gep(B, [bo]), c64(b_rs), c64(b_cs), b.gep(C, [co]), c64(N), m0, m1])

            if node.op == "patches_matmul":
                pass
            elif run_batch:  # entry i of every batched operand is i matrices in
                count = c64(1)
                for d in run_batch:
                    count = b.mul(count, c64(d))
                with counted_loop(b, 0, count, 1, "batch") as i:
                    call_gemm(*(b.mul(i, b.mul(c64(r), c64(q))) if x.type.ndim > 2 else c64(0)
                                for x, r, q in ((a_node, M, K), (b_node, K, N), (node, M, N))))
            elif nbatch <= 64:  # unrolled, offsets folded to constants
                for bi in range(nbatch):
                    idx = np.unravel_index(bi, batch_shape) if batch_shape else ()
                    call_gemm(*(c64(sum(int(i) * s for i, s in zip(idx, st))) for st in (a_batch, b_batch, out_batch)))
            else:
                self._batched_gemm_loop(b, nbatch, batch_shape, (a_batch, b_batch, out_batch), call_gemm)
            if epi_fn is not None and node.op != "patches_matmul":
                b.call(epi_fn, [epi_ctx, m0, m1])
        b.ret_void()
        return fn, chunks

    @staticmethod
    def _conv_chunk(b, T, step, fns, pointers, b_strides, chunk, sizes, blocks_at):
        """Row chunk of a patches_matmul step: its patch block follows every chunk's pack
        buffer in the step's scratch (program.gemm_step sized it)."""
        from . import conv_gemm
        from .cpu import current_model

        A, B, C, scratch = pointers
        c, m0, m1, pack = chunk
        M, N, K = sizes
        node = step.node
        block = b.gep(scratch, [b.add(ir.Constant(I64, blocks_at),
                                      b.mul(c, ir.Constant(I64, conv_gemm.block_bytes(node))))])
        rows = K if node.attrs["transpose_a"] else M
        packed_fns = None
        if conv_gemm.prepacks_b(node):
            from .gemm_runtime import declare_gemm, declare_pack_b

            module = b.module
            packed_fns = (declare_gemm(module, node.type.dtype, True), declare_pack_b(module, node.type.dtype))
        conv_gemm.emit_chunk(b, T, node, fns, A, B, b_strides, C, m0, m1, (M, N, rows), pack,
                             b.bitcast(block, T.as_pointer()), current_model().lanes(node.type.dtype), packed_fns)

    def _batched_gemm_loop(self, b, nbatch, batch_shape, all_strides, call_gemm):
        """A runtime loop over many batch entries (offsets from the unravelled index)."""
        c64 = lambda v: ir.Constant(I64, int(v))
        with counted_loop(b, 0, nbatch, 1, "batch") as i:
            offs = [c64(0), c64(0), c64(0)]
            rem = i
            dims = list(batch_shape)
            for d in range(len(dims)):
                inner = int(np.prod(dims[d + 1:], dtype=np.int64)) if d + 1 < len(dims) else 1
                q = b.udiv(rem, c64(inner))
                rem = b.urem(rem, c64(inner))
                for k, st in enumerate(all_strides):
                    offs[k] = b.add(offs[k], b.mul(q, c64(st[d])))
            call_gemm(*offs)

    # -- math -----------------------------------------------------------------------------
    def emit_math(self, builder, fname, *vals):
        from . import mathlib_bridge
        from .cpu import current_model

        return mathlib_bridge.emit(builder, fname, *vals, cpu=current_model())

    # -- compilation ----------------------------------------------------------------------
    def compile(self, program):
        """JIT ``program``: its distinct kernels as shared code units (from memory, the
        disk cache or LLVM at O3), then the entry calling them (a light pipeline: it
        only sets up pointers and calls)."""
        from .._runtime.executable import Executable
        from . import code_cache, threadpool

        self.split, self.units, self._gemm_runtime = True, {}, set()
        if use_step_table(program):
            return self._compile_table(program)
        with stats.phase("emit_ir"):
            module = self.build_module(program)
            text = str(module)
        units = load_units(self.units, self._gemm_runtime)
        with stats.phase("runtime"):
            threadpool.publish_symbols()
        key = _cache_key(text)
        entry_name = f"{ENTRY_NAME}_{key}"

        def build_entry():
            return compile_unit_object(text.replace(f'@"{ENTRY_NAME}"', f'@"{entry_name}"'),
                                       speed_level=ENTRY_SPEED_LEVEL)

        entry = code_cache.get_unit(key, [entry_name], build_entry, counted=False)
        if program.symbols:
            from .._runtime.symbolic_executable import SymbolicExecutable as Executable  # noqa: F811
        exe = Executable(program, entry.addresses[entry_name], (entry, units))
        exe.llvm_ir = lambda: str(CPUTarget().build_module(program))  # the whole program, as export emits it
        exe.code_units = len(units)
        return exe

    def _compile_table(self, program):
        """The code units of ``program``'s kernels, and a step table calling them."""
        from .._runtime.executable import Executable
        from . import code_cache, step_table, threadpool

        with stats.phase("emit_ir"):
            module = ir.Module(name=program.name)  # declarations only: nothing is emitted from it
            module.triple = llvm.get_process_triple()
            self._prefix, self._constants = "", {}
            fns = []
            for k in program.kernels:
                if isinstance(k, GemmStep):
                    fn, chunks = self.gemm_function(module, program, k)
                    fns.append((fn.name, chunks))
                else:
                    fns.append(self.kernel_function(module, program, k).name)
            table = step_table.encode(program, fns, step_dispatch)
        units = load_units(self.units, self._gemm_runtime)
        with stats.phase("runtime"):
            threadpool.publish_symbols()
            interpreter = step_table.interpreter_address()
        addresses = {}
        for u in units:
            addresses.update(u.addresses)
        table.resolve(addresses)
        if program.symbols:
            from .._runtime.symbolic_executable import SymbolicExecutable as Executable  # noqa: F811
        exe = Executable(program, interpreter, (table, units), table=table.array)
        exe.llvm_ir = lambda: str(CPUTarget().build_module(program))  # the whole program, as export emits it
        exe.code_units = len(units)
        return exe


# how a step is called, as the step table encodes it (one set of constants for both)
DISPATCH_CALL, DISPATCH_PARALLEL, DISPATCH_GEMM = KIND_CALL, KIND_PARALLEL, KIND_GEMM


def step_dispatch(step, fn=None):
    """(kind, extent, grain) of any step the step table runs; a GEMM step's ``fn`` is
    (symbol, row chunks): its task runs once per chunk through the pool."""
    if isinstance(step, GemmStep):
        return DISPATCH_GEMM, fn[1], 1
    return kernel_dispatch(step)


def kernel_dispatch(step):
    """How a Kernel step is called: (DISPATCH_CALL, extent, 0) inline, or
    (DISPATCH_PARALLEL, extent, grain) split over the thread pool; ``extent`` is an int
    or a symbol. Shared by the entry function and the step table, so both split alike.
    A flat elementwise kernel (flat_kernels.py) runs over its element range."""
    from .flat_kernels import flat_length

    n = flat_length(step)
    shape = (n,) if n is not None else tuple(step.shape)
    extent = shape[0] if shape else 1
    if isinstance(extent, str) or any(isinstance(d, str) for d in shape[1:]):
        # run-time extent: split over threads with a grain from the static row size
        # (one chunk, run inline, when the rows are few)
        inner = max(int(np.prod([1024 if isinstance(d, str) else d for d in shape[1:]])), 1)
        return DISPATCH_PARALLEL, extent, max(1, PARALLEL_MIN_ELEMENTS // 4 // inner)
    size = 1
    for d in shape:
        size *= d
    inner = max(size // max(extent, 1), 1)
    if size >= PARALLEL_MIN_ELEMENTS and extent > 1:
        return DISPATCH_PARALLEL, extent, max(1, PARALLEL_MIN_ELEMENTS // 4 // inner)
    return DISPATCH_CALL, extent, 0


def load_units(units: dict, gemm_runtime=()) -> list:
    """The loaded code units of a program (``CPUTarget.units``: key -> (symbol, build
    IR text, speed level)): from memory or disk, else compiled, in parallel; the GEMM
    runtimes they call (``gemm_runtime``: (dtype, b_packed) pairs) are loaded first."""
    from . import code_cache
    from .gemm_runtime import ensure_jitted

    def load_gemm_runtime():
        with stats.phase("runtime"):
            for dtype, b_packed in sorted(gemm_runtime):
                ensure_jitted(dtype, b_packed)

    return code_cache.get_units([
        (key, [symbol], (lambda build=build, symbol=symbol: build().replace(f'@"{UNIT_PLACEHOLDER}"', f'@"{symbol}"')),
         (lambda text, level=level: compile_unit_object(text, level)))
        for key, (symbol, build, level) in units.items()], before_load=load_gemm_runtime)


def use_step_table(program) -> bool:
    """Run the program from a step table (step_table.py) rather than a compiled entry:
    every program without control-flow steps (which emit their own code), unless
    ``GRAPHC_STEP_TABLE=0``."""
    import os

    return os.environ.get("GRAPHC_STEP_TABLE", "1") != "0" and \
        not any(isinstance(s, CustomStep) for s in program.kernels)


def _with_symbols(key, program):
    """A kernel of a program with symbolic dimensions reads their sizes from a table
    ordered as ``program.symbols``: that order is part of its code."""
    if key is None or not program.symbols:
        return key
    return f"{key}:symbols={','.join(program.symbols)}"


def stash_candidates(kernel) -> list:
    """Values worth storing into the output row during a reduction pass.

    In softmax, e = exp(x - max) feeds the row sum and the final e / sum. Computing e in
    the sum pass, storing it where the output goes, and reloading it in the final pass
    (same row, still in cache) saves one exp per element. It applies when a trailing
    reduction inside the kernel reads an inlined elementwise value of the output's type
    that the output pass also reads.

    The stored row must be the row being output: every reader of the value (and every
    reduction) must index it at the root's own loop indices (``aligned_members``), and
    every reduction over root-shaped values must loop over its axes (a size-1 axis is
    indexed by a constant, which would reload before the store)."""
    from ..passes.fusion import _trailing_reduction, aligned_members

    root = kernel.root
    if not kernel.members or root.type.dtype not in ("float32", "float64"):
        return []
    ids = {m.id for m in kernel.members}
    aligned = aligned_members(root, kernel.members)
    for r in kernel.members:
        if _trailing_reduction(r) and r.inputs[0].type.shape == root.type.shape:
            if r.id not in aligned or any(root.type.shape[a] < 2 for a in r.attrs["axes"]):
                return []
    found = []
    for r in kernel.members:
        if not _trailing_reduction(r) or r.inputs[0].id not in ids or r.id not in aligned:
            continue
        if r.inputs[0].id not in aligned:
            continue
        e = r.inputs[0]
        if e is root or get_op(e.op).kind != "elementwise" or e.type != root.type:
            continue
        if any(not isinstance(e.type.shape[a], str) and e.type.shape[a] < 2 for a in r.attrs["axes"]):
            continue  # a size-1 axis is indexed by a constant: no row pass to stash from
        if not _costly(e, ids):
            continue  # recomputing cheap arithmetic beats a store and a reload
        if any(e in m.inputs for m in kernel.members if m is not r and get_op(m.op).kind == "elementwise"
               and m.type.shape == root.type.shape) and e.id not in found:
            found.append(e.id)
    return found[:1]


_COSTLY_OPS = {"exp", "log", "tanh", "sigmoid", "power", "expm1", "log1p", "sqrt", "divide"}


def _costly(node, inline_ids) -> bool:
    """Whether computing ``node`` inside the kernel involves a transcendental or division."""
    stack, seen = [node], set()
    while stack:
        n = stack.pop()
        if n.id in seen:
            continue
        seen.add(n.id)
        if n.op in _COSTLY_OPS:
            return True
        stack.extend(i for i in n.inputs if i.id in inline_ids)
    return False


# Kernels with transcendental math or reductions get the full O3 pipeline; the others
# (elementwise arithmetic, copies, GEMM tasks) O2, which vectorizes the same loops:
# measured on the 8-layer Adam step with every kernel at O2, IR optimization took 0.26 s
# instead of 0.45 s at O3, with the same step time. The entry only stores pointers and calls kernels: no IR pipeline at all (the
# 64-layer step's entry, 389 steps: 0.23 s unoptimized vs 1.3 s at O1, 1.15 s at O2).
KERNEL_SPEED_LEVEL = 3
LIGHT_SPEED_LEVEL = 2
ENTRY_SPEED_LEVEL = 0


# Ops that lower to a few instructions each (no polynomial math library code): kernels
# made only of these (and of views) take the light pipeline. An Adam update (multiply,
# sqrt, add, divide, subtract) is one of them: one kernel per variable, so most of a
# training step's distinct kernels.
_SIMPLE_OPS = frozenset((
    "add", "subtract", "multiply", "divide", "sqrt", "negative", "abs", "maximum", "minimum",
    "where", "greater", "greater_equal", "less", "less_equal", "equal", "not_equal",
    "logical_not", "logical_and", "logical_or", "cast", "relu", "square", "sign", "fill"))


def kernel_speed_level(kernel) -> int:
    """O3 for kernels computing costly math (exp, tanh, ...: the polynomial math library
    gains from O3's extra scheduling; any op not known to be a few instructions counts)
    or reductions (their vectorized summation order then matches the AOT export's, which
    optimizes one module at O3), O2 for the rest: elementwise code without reassociation
    computes the same bits at either level."""
    for m in kernel.members:
        kind = get_op(m.op).kind
        if kind == "reduce" or (kind == "elementwise" and m.op not in _SIMPLE_OPS):
            return KERNEL_SPEED_LEVEL
    return LIGHT_SPEED_LEVEL


def _unit_text(emit) -> str:
    """The IR text of one code unit: ``emit(module, name, linkage)`` defines its function."""
    with stats.phase("emit_ir"):
        module = ir.Module(name="graphc_unit")
        module.triple = llvm.get_process_triple()
        emit(module, UNIT_PLACEHOLDER, "external")
        return str(module)


UNIT_PLACEHOLDER = "graphc_unit_function"


def _unit_cache_key(structural_key: str, speed_level: int) -> str:
    """Disk/memory key of a unit known by its structure: the structure, the pipeline, the
    target, the LLVM and graphc versions (graphc's source hash: a changed lowering
    changes it)."""
    from .kernel_key import source_hash

    return _cache_key(f"structural:{structural_key}:{source_hash()}:O{speed_level}")


def compile_unit_object(llvm_ir: str, speed_level: int = KERNEL_SPEED_LEVEL) -> bytes:
    """Parse, optimize and emit one unit as a relocatable object for the JIT."""
    init_llvm()
    # A private LLVM context, freed with the module: types and constants uniqued in
    # the global context would otherwise stay for the life of the process.
    context = llvm.create_context()
    mod = None
    try:
        with stats.phase("llvm_optimize"):
            try:
                mod = llvm.parse_assembly(llvm_ir, context=context)
                mod.verify()
            except RuntimeError as e:
                raise CompileError(f"generated LLVM IR is invalid: {e}") from None
            obj_tm = jit_object_target_machine() if speed_level else _fast_codegen_target_machine()
            mod.triple = obj_tm.triple
            mod.data_layout = str(obj_tm.target_data)
            if speed_level:
                optimize(mod, target_machine(), speed_level)
        with stats.phase("emit_object"):
            return obj_tm.emit_object(mod)
    finally:
        if mod is not None:
            mod.close()
        context.close()


def _fast_codegen_target_machine():
    """Like ``jit_object_target_machine`` but with LLVM's fast instruction selection
    (codegen level 0), for the entry: 0.10 s instead of 0.40 s for the 64-layer step's
    389-step entry, which only stores pointers and calls kernels."""
    key = ("jit-object-fast", host_cpu())
    tm = _tm_cache_for_thread().get(key)
    if tm is None:
        cpu, feats = host_cpu()
        tm = llvm.Target.from_default_triple().create_target_machine(cpu=cpu, features=feats, opt=0, jit=True)
        _tm_cache_for_thread()[key] = tm
    return tm


def new_jit_target_machine():
    """A fresh target machine like ``jit_object_target_machine``'s, for one MCJIT engine
    (an engine takes ownership of its target machine)."""
    cpu, feats = host_cpu()
    return llvm.Target.from_default_triple().create_target_machine(cpu=cpu, features=feats, opt=3, jit=True)


CACHE_FORMAT = "graphc-obj-4;units;tm=jit-default;sha256"  # bump when the optimization pipeline or target machine changes


def load_runtime_object(llvm_ir, exported: list, name: str | None = None, speed_level: int = 0) -> None:
    """Compile (without the IR pipeline unless ``speed_level``) or fetch from the cache a
    runtime module, load it, and publish its ``exported`` functions in LLVM's global
    symbol table so that program objects loaded later resolve their calls to them.

    ``llvm_ir`` may be a function producing the text; with ``name`` the cache key is
    that name and graphc's source hash, so a cached runtime needs no IR generation.
    A build started by ``prefetch_runtime_object`` is waited for, not repeated."""
    from . import threadpool

    key = _runtime_key(llvm_ir, name, speed_level)
    with _prefetch_lock:
        pid, future = _prefetched.pop(key, (None, None))
    if future is None or pid != os.getpid():  # none started, or started before a fork: not ours
        obj = _runtime_object(key, llvm_ir, speed_level)
    else:
        obj = future.result()
    threadpool.add_object(obj)
    for name in exported:
        llvm.add_symbol(name, threadpool.get_function_address(name))


def prefetch_runtime(graph) -> None:
    """Start building, on the compile threads, the parts of the model-independent runtime
    that ``graph``'s program will load and this process has not loaded yet: the thread
    pool, the step interpreter and, when a product goes through the packed GEMM, its
    GEMM. In a cold process (nothing in the disk cache) this overlaps the runtime's
    compilation with tracing, passes and the model's kernels, instead of running it
    after them; warm, each part is a disk read. ``GRAPHC_PREFETCH_RUNTIME=0`` turns it off."""
    if os.environ.get("GRAPHC_PREFETCH_RUNTIME", "1") == "0":
        return
    from ..passes.fusion import uses_gemm
    from . import gemm_runtime, step_table, threadpool

    threadpool.prefetch()
    step_table.prefetch()
    for dtype in sorted({n.type.dtype for n in graph.nodes if uses_gemm(n)}):
        gemm_runtime.prefetch(dtype)


def prefetch_runtime_object(llvm_ir, name: str, speed_level: int = 0) -> None:
    """Start building a runtime object (read from the disk cache, else compiled) on the
    compile threads, so that a cold process compiles the runtime while it traces and
    compiles the model's kernels; ``load_runtime_object`` with the same arguments then
    takes the result."""
    from . import code_cache

    init_llvm()
    host_cpu()  # the CPU model is probed here, on the calling thread, before any worker runs
    key = _runtime_key(llvm_ir, name, speed_level)
    with _prefetch_lock:
        if key in _prefetched and _prefetched[key][0] == os.getpid():
            return
        _prefetched[key] = (os.getpid(), code_cache.executor().submit(_runtime_object, key, llvm_ir, speed_level))


_prefetch_lock = threading.Lock()
_prefetched: dict = {}  # runtime cache key -> (pid, Future of its object bytes)


def _runtime_key(llvm_ir, name, speed_level) -> str:
    from .kernel_key import source_hash

    return (_cache_key(f"runtime:{name}:{source_hash()}:O{speed_level}") if name
            else _cache_key(f"{llvm_ir}:O{speed_level}"))


def _runtime_object(key: str, llvm_ir, speed_level: int) -> bytes:
    """The object of a runtime module: from the disk cache, else compiled (in a private
    LLVM context, so it may run on any thread) and written to the cache."""
    obj = _cache_read(key)
    if obj is not None:
        return obj
    if callable(llvm_ir):
        llvm_ir = llvm_ir()
    context = llvm.create_context()
    mod = None
    try:
        mod = llvm.parse_assembly(llvm_ir, context=context)
        mod.verify()
        tm = jit_object_target_machine()
        mod.triple = tm.triple
        mod.data_layout = str(tm.target_data)
        if speed_level:
            optimize(mod, target_machine(), speed_level)
        obj = tm.emit_object(mod)
    finally:
        if mod is not None:
            mod.close()
        context.close()
    _cache_write(key, obj)
    return obj


def _cache_key(llvm_ir: str) -> str:
    cpu, feats = host_cpu()
    parts = [llvm_ir, cpu, feats, str(llvm.llvm_version_info), _llvmlite_version(), CACHE_FORMAT]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


def jit_object_target_machine():
    """Target machine for objects loaded into the JIT: the large code model, so calls to
    the runtime's functions (thread pool, GEMM) and constants use absolute addresses,
    whatever distance the loader puts between the objects."""
    key = ("jit-object", host_cpu())
    tm = _tm_cache_for_thread().get(key)
    if tm is None:
        cpu, feats = host_cpu()
        tm = llvm.Target.from_default_triple().create_target_machine(
            cpu=cpu, features=feats, opt=3, jit=True)
        _tm_cache_for_thread()[key] = tm
    return tm


def _llvmlite_version() -> str:
    import llvmlite

    return llvmlite.__version__


def _cache_dir():
    if os.environ.get("GRAPHC_CACHE", "1") == "0":
        return None
    return os.environ.get("GRAPHC_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "graphc")


def _cache_read(key: str):
    d = _cache_dir()
    if d is None:
        return None
    try:
        with open(os.path.join(d, key + ".o"), "rb") as f:
            data = f.read()
    except OSError:
        return None
    # a damaged file (truncated write, disk error) is a miss: loading garbage into the
    # JIT could crash the process
    digest, body = data[:32], data[32:]
    return body if len(data) > 32 and hashlib.sha256(body).digest() == digest else None


def _cache_write(key: str, data: bytes) -> None:
    """Atomic write (temp file + rename): a concurrent reader never sees half an object."""
    d = _cache_dir()
    if d is None:
        return
    try:
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, f".{key}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(hashlib.sha256(data).digest() + data)  # checked by _cache_read
        os.replace(tmp, os.path.join(d, key + ".o"))
    except OSError:
        pass  # a read-only home only costs the cache




def _conv_prepacks_b(step) -> bool:
    """A patches_matmul step that packs its B once per chunk (conv_gemm.prepacks_b)."""
    from . import conv_gemm

    return step.node.op == "patches_matmul" and conv_gemm.prepacks_b(step.node)


def _batch_strides(shape, batch_shape, matrix_elems):
    """Element offsets per (broadcast) batch dimension of a matmul operand."""
    lead = len(shape) - 2
    dims = shape[:lead]
    strides = []
    acc = matrix_elems
    own = []
    for d in reversed(dims):
        own.append(acc)
        acc *= d
    own = own[::-1]
    offset = len(batch_shape) - lead
    for k in range(len(batch_shape)):
        j = k - offset
        if j < 0 or dims[j] == 1:
            strides.append(0)
        else:
            strides.append(own[j])
    return strides
