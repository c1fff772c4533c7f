"""The CPU target: Program -> LLVM IR module -> machine code (JIT now, object file for AOT).

Every kernel becomes ``void kN(i8** bufs, i64 begin, i64 end)`` covering rows
[begin, end) of its outermost loop, so it can be split across threads; the entry point
``int32 graphc_main(i8** args)`` calls the kernels in order. The module calls nothing
but LLVM intrinsics and the graphc runtime symbols, so the same object links into a
standalone shared library.
"""
from __future__ import annotations

import os
import threading

import llvmlite.binding as llvm
from llvmlite import ir

from ..errors import CompileError
from .kernel import I8, I32, I64, KernelBuilder, contiguous_strides, mem_type, np_to_llvm_constant
from .target import Target

I8P = I8.as_pointer()
I8PP = I8P.as_pointer()
KERNEL_TYPE = ir.FunctionType(ir.VoidType(), [I8PP, I64, I64])
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
    """CPU name and features for codegen; ``GRAPHC_CPU=name[:features]`` overrides the host."""
    init_llvm()
    override = os.environ.get("GRAPHC_CPU")
    if override:
        name, _, feats = override.partition(":")
        return name, feats
    return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


_tm_cache = {}


def target_machine(reloc="default"):
    key = (host_cpu(), reloc)
    tm = _tm_cache.get(key)
    if tm is None:
        cpu, feats = host_cpu()
        target = llvm.Target.from_default_triple()
        tm = target.create_target_machine(cpu=cpu, features=feats, opt=3, reloc=reloc, codemodel="default")
        _tm_cache[key] = tm
    return tm


def optimize(mod: llvm.ModuleRef, tm) -> None:
    """The new pass builder at O3 (vectorizes loops for the host's vector width)."""
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)


class CPUTarget(Target):
    name = "cpu"

    # -- IR generation --------------------------------------------------------------------
    def build_module(self, program) -> ir.Module:
        module = ir.Module(name=program.name)
        cpu_triple = llvm.get_process_triple()
        module.triple = cpu_triple
        self._constants = {}
        kernel_fns = [self.emit_kernel(module, program, k) for k in program.kernels]
        self.emit_entry(module, program, kernel_fns)
        return module

    def constant_global(self, module, buf):
        g = self._constants.get(buf.slot)
        if g is None:
            init = np_to_llvm_constant(buf.value)
            g = ir.GlobalVariable(module, init.type, name=f"const{buf.slot}")
            g.global_constant = True
            g.linkage = "internal"
            g.initializer = init
            g.align = 64
            self._constants[buf.slot] = g
        return g

    def emit_kernel(self, module, program, kernel) -> ir.Function:
        fn = ir.Function(module, KERNEL_TYPE, name=kernel.name)
        fn.linkage = "internal"
        bufs_arg, begin, end = fn.args
        kb = KernelBuilder(fn, self, inline=kernel.inline)
        params = kernel.buffers()
        ptrs = {}
        with kb.at(kb.root) as b:
            for j, buf in enumerate(params):
                raw = b.load(b.gep(bufs_arg, [ir.Constant(I64, j)]))
                ptrs[buf.key()] = b.bitcast(raw, mem_type(buf.dtype).as_pointer())

        def read_buffer(kb_, node, idx):
            buf = kernel.reads[node.id]
            flat = kb_.flat_index(idx, node.type.shape)
            return kb_.load(ptrs[buf.key()], flat, node.type.dtype)

        kb.read_buffer = read_buffer
        dest_ptr = ptrs[kernel.dest.key()]
        shape = kernel.shape
        strides = contiguous_strides(shape)
        from .kernel import V

        def body(depth, idx):
            if depth == len(shape):
                value = kb.read(kernel.root, idx)
                flat = kb.flat_index(idx, shape, strides)
                level = kb.path[-1]
                kb.store(dest_ptr, flat, value, level=level)
                return
            if depth == 0:
                start, stop = V(begin, kb.root, "index"), V(end, kb.root, "index")
            else:
                start, stop = kb.index(0), kb.index(shape[depth])
            kb.loop(kb.path[-1], start, stop, lambda iv: body(depth + 1, idx + [iv]), name=f"i{depth}_")

        body(0, [])
        kb.finish()
        return fn

    def emit_entry(self, module, program, kernel_fns):
        entry = ir.Function(module, ir.FunctionType(I32, [I8PP]), name=ENTRY_NAME)
        (args,) = entry.args
        b = ir.IRBuilder(entry.append_basic_block("entry"))
        n_in, n_out, n_var = len(program.inputs), len(program.outputs), len(program.variables)
        ws = b.load(b.gep(args, [ir.Constant(I64, n_in + n_out + n_var)]), name="workspace")

        def pointer(buf):
            if buf.kind == "input":
                return b.load(b.gep(args, [ir.Constant(I64, buf.slot)]))
            if buf.kind == "output":
                return b.load(b.gep(args, [ir.Constant(I64, n_in + buf.slot)]))
            if buf.kind == "variable":
                return b.load(b.gep(args, [ir.Constant(I64, n_in + n_out + buf.slot)]))
            if buf.kind == "workspace":
                return b.gep(ws, [ir.Constant(I64, buf.slot)])
            return b.bitcast(self.constant_global(module, buf), I8P)

        for kernel, fn in zip(program.kernels, kernel_fns):
            params = kernel.buffers()
            arr = b.alloca(ir.ArrayType(I8P, max(len(params), 1)))
            for j, buf in enumerate(params):
                b.store(pointer(buf), b.gep(arr, [ir.Constant(I32, 0), ir.Constant(I32, j)]))
            arr_ptr = b.bitcast(arr, I8PP)
            extent = kernel.shape[0] if kernel.shape else 1
            self.emit_launch(b, module, fn, arr_ptr, extent, kernel)
        b.ret(ir.Constant(I32, 0))

    def emit_launch(self, b, module, fn, arr_ptr, extent, kernel):
        """Run one kernel over [0, extent) of its outer loop (serially here)."""
        b.call(fn, [arr_ptr, ir.Constant(I64, 0), ir.Constant(I64, extent)])

    # -- math -----------------------------------------------------------------------------
    def emit_math(self, builder, fname, *vals):
        from . import mathlib_bridge

        return mathlib_bridge.emit(builder, fname, *vals)

    # -- compilation ----------------------------------------------------------------------
    def compile(self, program):
        from .._runtime.executable import Executable

        module = self.build_module(program)
        fn_addr, keepalive = jit_compile(str(module))
        return Executable(program, fn_addr, keepalive)


_engine_lock = threading.Lock()
_engine = None


def get_engine():
    """One process-wide MCJIT engine; each compiled Program adds its module to it."""
    global _engine
    init_llvm()
    with _engine_lock:
        if _engine is None:
            backing = llvm.parse_assembly("")
            _engine = llvm.create_mcjit_compiler(backing, target_machine())
        return _engine


_module_counter = [0]


def jit_compile(llvm_ir: str):
    """Parse, verify, optimize and JIT an LLVM module; returns (entry address, keepalive)."""
    engine = get_engine()
    try:
        mod = llvm.parse_assembly(llvm_ir)
        mod.verify()
    except RuntimeError as e:
        raise CompileError(f"generated LLVM IR is invalid: {e}") from None
    with _engine_lock:
        _module_counter[0] += 1
        uid = _module_counter[0]
    # make the entry symbol unique per module inside the shared engine
    entry = f"{ENTRY_NAME}_{uid}"
    fn = mod.get_function(ENTRY_NAME)
    fn.name = entry
    optimize(mod, target_machine())
    with _engine_lock:
        engine.add_module(mod)
        engine.finalize_object()
        engine.run_static_constructors()
        addr = engine.get_function_address(entry)
    if not addr:
        raise CompileError("JIT produced no entry point")
    return addr, mod
