"""Compiling a placed Program for the GPU runtime: which step runs where, and the code.

Each step's device is its node's (set by the placement pass; unplaced means GPU 0).
Consecutive CPU steps become one CPU sub-program (compiled by the CPU target, sharing
the host workspace); GPU steps become kernels of one module, loaded on each GPU used
as PTX (or, on the emulator, as host code); ``copy_to_device`` steps become transfers.
``ptx_for`` generates the PTX of a compiled function's GPU kernels without a GPU.
"""
from __future__ import annotations

import dataclasses

from ..errors import CompileError
from ..ops.registry import get_op
from .ptx import SIM_BARRIER, DEFAULT_ARCH, PTXTarget, arch_for, as_kernel, emit_ptx, is_gemm_step, parse_and_optimize, step_node

CPU = "/cpu:0"


def is_copy(step) -> bool:
    return getattr(step, "root", None) is not None and step.root.op == "copy_to_device" and \
        step.root.id in getattr(step, "inline", ())


def step_device(step, default="/gpu:0") -> str:
    """Canonical device of a step. Copies of graph inputs/constants to an output or a
    variable (steps that compute nothing) run on the host, next to their source."""
    from ..device import canonical

    node = step_node(step)
    if getattr(step, "inline", None) is not None and node.id not in step.inline and \
            get_op(node.op).kind == "source" and node.op != "read_variable":
        return CPU
    return canonical(node.device) or default


def step_io(step) -> tuple:
    """(buffers read, buffers written) of a Program step."""
    if is_gemm_step(step):
        reads = [step.a, step.b]
        if step.epilogue is not None:
            reads += [b for b in step.epilogue.reads.values() if b.key() != step.dest.key()]
        return reads, [step.dest]
    if hasattr(step, "reads"):
        return list(step.reads.values()), [step.dest]
    return list(getattr(step, "inputs", [])), [step.dest]


def _cpu_entry(program, steps):
    """A CPU sub-program of ``steps`` (same ABI and workspace as the whole program)."""
    from .llvm_cpu import CPUTarget

    sub = dataclasses.replace(program, name=f"{program.name}_cpu", kernels=list(steps))
    exe = CPUTarget().compile(sub)
    fn = getattr(exe, "_fn", None)
    if fn is None:
        raise CompileError("the CPU executable exposes no entry function (_fn) for mixed CPU/GPU programs")
    return fn, exe


def jit_host(module):
    """Kernels emitted with sim=True, JIT-compiled for this CPU (the emulator's 'module')."""
    import llvmlite.binding as llvm

    from .._runtime.cuda_sim import SimModule, register_symbols
    from .llvm_cpu import init_llvm
    from .ptx import check_calls

    init_llvm()
    register_symbols()
    check_calls(module)
    tm = llvm.Target.from_default_triple().create_target_machine(opt=2)
    mod = parse_and_optimize(module, tm)
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.finalize_object()
    functions = {}
    for fn in module.functions:
        if fn.blocks:
            functions[fn.name] = (engine.get_function_address(fn.name), len(fn.args))
    barrier = engine.get_global_value_address(SIM_BARRIER) if SIM_BARRIER in module.globals else 0
    return SimModule(functions, barrier, keepalive=(engine, mod))


def compile_program(target: PTXTarget, program):
    """An executable for a Program placed on the CPU and/or GPUs (see module docstring)."""
    from .._runtime.gpu_executable import DeviceExecutable
    from ..device import gpu_backend

    steps = list(program.kernels)
    devices = [step_device(s) for s in steps]
    gpu_names = sorted({d for d in devices if d != CPU})
    if not gpu_names:
        from .llvm_cpu import CPUTarget

        return CPUTarget().compile(program)
    gpus = {name: gpu_backend(name) for name in gpu_names}   # DeviceError when missing
    formats = {d.code_format for d in gpus.values()}
    if len(formats) != 1:
        raise CompileError("cannot mix emulated and real GPUs in one program")
    sim = formats == {"host"}
    kernel_steps = [i for i, (s, d) in enumerate(zip(steps, devices)) if d != CPU and not is_copy(s)]
    for i in kernel_steps:
        if not is_gemm_step(steps[i]):
            as_kernel(steps[i])   # names an op without a GPU kernel before any codegen
    code = PTXTarget(target.arch, target.block, sim=sim).build(program, kernel_steps)
    modules, ptx = {}, {}
    if sim:
        host = jit_host(code.module)
        modules = {name: gpus[name].load_module(host) for name in gpu_names}
    else:
        for name in gpu_names:
            arch = arch_for(gpus[name].compute_capability)
            if arch not in ptx:
                ptx[arch] = emit_ptx(code.module, arch)
            modules[name] = gpus[name].load_module(ptx[arch])

    plan, keep, run = [], [], []

    def flush():
        if run:
            fn, exe = _cpu_entry(program, [steps[i] for i in run])
            plan.append(("cpu", list(run), fn))
            keep.append(exe)
            run.clear()

    for i, (s, d) in enumerate(zip(steps, devices)):
        if d == CPU and not is_copy(s):
            run.append(i)
            continue
        flush()
        plan.append(("copy" if is_copy(s) else "gpu", i, d))
    flush()
    io = {i: step_io(s) for i, s in enumerate(steps)}
    return DeviceExecutable(program, plan, gpus, modules, code.launches, code.scratch_bytes, io,
                            llvm_ir=code.llvm_ir, ptx=ptx, keepalive=keep)


def gpu_program(compiled_function, args):
    """(placed graph, Program, GPU step indices) of ``compiled_function`` for ``args``: the
    pipeline of a GPU compile, assuming a /gpu:0 where there is none (needs no GPU)."""
    from ..compiler import trace
    from ..device import available_devices, fake_devices, gpu_count
    from ..passes import PassContext, PassManager, default_pipeline
    from .program import lower_program

    cf = compiled_function
    shapes = None
    if getattr(cf, "symbolic", None) is not None:  # the symbolic dimensions gc.compile traces with
        import numpy as np

        from ..pytree import flatten

        leaves, _ = flatten(args)
        shapes = cf.symbolic.leaf_shapes(args, leaves, lambda x: np.shape(x) if isinstance(
            x, (np.ndarray, np.generic)) else None)
    graph = trace(cf.python_function, *args, shapes=shapes)
    optimized = graph.copy()
    options = {k: v for k, v in cf.options.items() if k != "log_device_placement"}
    target = cf.target if cf.target != "cpu" else "cuda"
    ctx = PassContext(fuse=cf.fuse, target=target, options=options)
    devices = available_devices() if gpu_count() else ["/cpu:0", "/gpu:0"]
    with fake_devices(devices):
        PassManager(default_pipeline(ctx), ctx).run(optimized)
    program = lower_program(optimized, name=graph.name, pass_context=ctx)
    steps = [i for i, s in enumerate(program.kernels) if step_device(s) != CPU and not is_copy(s)]
    return optimized, program, steps


def ptx_for(compiled_function, args, arch=DEFAULT_ARCH) -> str:
    """PTX of the GPU kernels of ``compiled_function`` for these arguments (no GPU needed)."""
    _, program, steps = gpu_program(compiled_function, args)
    return PTXTarget(arch).ptx(program, steps)
