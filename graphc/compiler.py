"""gc.compile and gc.trace: the user-facing driver of the pipeline.

trace (Python -> Graph) -> passes (PassManager) -> lower (Program) -> target codegen ->
runtime Executable. A CompiledFunction specializes on the input signature (structure,
shapes, dtypes, values of Python scalars) and caches everything per signature, so the
second call with the same signature goes straight to native code.
"""
from __future__ import annotations

import functools
import threading
import time
import weakref

import numpy as np

from . import dtypes
from .errors import GraphcError, TraceError
from .ir import Node, TensorType, format_graph
from .pytree import flatten, unflatten
from .tracing import Tensor, Trace, as_node

_SCALARS = (bool, int, float)
# True while a trace is being recorded (graphc/profiler.py): calls then go through the
# profiled entry. The one check on the call path.
_PROFILING = False


def _leaf_signature(x):
    if isinstance(x, (np.ndarray, np.generic)):
        return ("array", tuple(np.shape(x)), dtypes.canonical(np.asarray(x).dtype))
    if isinstance(x, _SCALARS):
        return ("static", type(x).__name__, x)
    raise TypeError(f"compiled function arguments must be numpy arrays (or pytrees of them: tuples, "
                    f"lists, dicts, namedtuples, dataclasses, registered nodes; or Python scalars); got "
                    f"{type(x).__name__} (mark a non-array argument static with static_argnums/static_argnames)")


# Options gc.compile accepts besides target/fuse/dynamic/shapes/dynamic_args/static_arg*,
# read by the passes (placement) and the pass manager (dump_dir). Anything else is a typo
# or an option of another framework: refused, since silently ignoring it hides the mistake.
_PASS_OPTIONS = ("placement", "allow_soft_placement", "log_device_placement", "devices", "dump_dir")
_COMPILE_ARGS = ("target", "fuse", "dynamic", "shapes", "dynamic_args", "static_argnums", "static_argnames")


def _check_options(options) -> None:
    import difflib

    valid = _COMPILE_ARGS + _PASS_OPTIONS
    for name in options:
        if name not in _PASS_OPTIONS:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(f"gc.compile got an unknown option {name!r}{hint}; valid options: "
                            f"{', '.join(valid)}")


def signature_of(args) -> tuple:
    leaves, tree = flatten(args)
    return tree, tuple(_leaf_signature(x) for x in leaves)


def trace(fn, *args, name: str | None = None, shapes: list | None = None):
    """The IR Graph of ``fn`` for these example inputs (arrays become parameters).

    ``shapes``: per leaf, the parameter's shape with symbolic dimensions (graphc/symbolic.py),
    or None to take the example's shape."""
    fn = getattr(fn, "python_function", fn)
    leaves, in_tree = flatten(args)
    sigs = [_leaf_signature(x) for x in leaves]
    if shapes is not None:
        sigs = [(s[0], shp, s[2]) if shp is not None and s[0] == "array" else s for s, shp in zip(sigs, shapes)]
    with Trace(name or getattr(fn, "__name__", "main")) as t:
        g = t.graph
        g.in_tree = in_tree
        tracer_leaves = []
        for k, (x, sig) in enumerate(zip(leaves, sigs)):
            if sig[0] == "array":
                node = Node("param", [], {"index": len(g.params), "_type": TensorType(sig[1], sig[2])},
                            TensorType(sig[1], sig[2]), f"argument {k}")
                t.add(node)
                g.params.append(node)
                tracer_leaves.append(Tensor(node, t))
            else:
                tracer_leaves.append(x)
        result = fn(*unflatten(in_tree, tracer_leaves))
        out_leaves, out_tree = flatten(result)
        try:
            g.outputs = [as_node(o, t) for o in out_leaves]
        except GraphcError as e:
            raise TraceError(f"outputs of {getattr(fn, '__name__', 'function')} must be arrays: {e}") from None
        g.out_tree = out_tree
        for hook in t.meta.get("finalize", []):
            hook(t)
    g.sort()
    return g


class _Compiled:
    """Everything cached for one signature."""

    def __init__(self, traced, optimized, program, executable, compile_seconds, pass_timings, stats=None):
        self.stats = stats  # codegen.stats.CompileStats of this compilation
        self.traced = traced
        self.optimized = optimized
        self.program = program
        self.executable = executable
        self.compile_seconds = compile_seconds
        self.pass_timings = pass_timings
        tree = optimized.out_tree
        leaf = tree.kind == "leaf"
        flat_tuple = tree.kind == "tuple" and all(c.kind == "leaf" for c in tree.children)
        # outputs rebuilt without walking the tree in the common shapes (one array, a flat tuple)
        self._rebuild = (lambda outs: outs[0]) if leaf else tuple if flat_tuple else functools.partial(unflatten, tree)

    def run(self, arrays):
        """Call the executable with the flattened input arrays; outputs in the function's structure."""
        if _PROFILING:
            from .profiler import run_profiled

            return self._rebuild(run_profiled(self, arrays))
        return self._rebuild(self.executable(arrays))


def _optimize_and_lower(graph, fuse, target, options):
    """Passes on a copy of the traced graph, then lowering to a Program."""
    from .codegen import stats
    from .codegen.program import lower_program
    from .passes import PassContext, PassManager, default_pipeline

    optimized = graph.copy()
    ctx = PassContext(fuse=fuse, target=target, options=dict(options), dump_dir=options.get("dump_dir"))
    with stats.phase("passes"):
        PassManager(default_pipeline(ctx), ctx).run(optimized)
    with stats.phase("lower"):
        program = lower_program(optimized, name=graph.name, pass_context=ctx)
    return optimized, program, ctx


class _CachedCompiled(_Compiled):
    """A signature whose program came from the program cache (codegen/program_cache.py):
    the executable is ready; the traced text, the optimized graph and the full Program
    (for ``ir``, ``graph``, ``memory_plan``) are built again only when asked for."""

    _LAZY = ("traced", "optimized", "program", "pass_timings")

    def __init__(self, graph, optimize_and_lower, executable, compile_seconds, stats):
        self._graph, self._optimize_and_lower = graph, optimize_and_lower
        super().__init__(None, graph, executable.program, executable, compile_seconds, {}, stats)
        for name in self._LAZY:  # graph stood in for the optimized one: same out_tree
            del self.__dict__[name]
        me = weakref.ref(self)  # (no cycle: the executable's code is freed with it, issue 18)
        executable.llvm_ir = lambda: me()._llvm_ir()

    def _llvm_ir(self) -> str:
        from .codegen.llvm_cpu import CPUTarget

        return str(CPUTarget().build_module(self.program))  # the whole program, as export emits it

    def __getattr__(self, name):
        if name not in _CachedCompiled._LAZY:
            raise AttributeError(name)
        if name == "traced":
            self.traced = format_graph(self._graph)
        else:
            from .codegen import stats

            with stats.collect(stats.CompileStats()):
                self.optimized, self.program, ctx = self._optimize_and_lower(self._graph)
            self.pass_timings = dict(ctx.timings)
        return self.__dict__[name]


class CompiledFunction:
    """The result of gc.compile: call it with numpy arrays."""

    def __init__(self, fn, target="cpu", fuse=True, dynamic=None, shapes=None, dynamic_args=None,
                 static_argnums=None, static_argnames=None, **options):
        from .calling import CallSpec
        from .symbolic import SymbolicSpec

        _check_options(options)
        if not callable(fn):
            raise TypeError(f"gc.compile: expected a function, got {type(fn).__name__}")
        self.python_function = fn
        # keyword arguments and static arguments (graphc/calling.py)
        self._callspec = CallSpec(fn, static_argnums, static_argnames)
        self.target = target
        self.fuse = fuse
        self.options = options
        # symbolic dimensions: one compile for every size they take (graphc/symbolic.py)
        self.symbolic = (SymbolicSpec(fn, dynamic, shapes, dynamic_args)
                         if dynamic is not None or shapes is not None else None)
        self._cache: dict = {}   # full signature -> _Compiled
        self._fast: dict = {}    # per-call key (shapes, dtype objects) -> _Compiled
        self._flat: dict = {}    # same, for calls with plain ndarrays only: no pytree to flatten
        self._lock = threading.Lock()
        self.trace_count = 0
        functools.update_wrapper(self, fn)

    # -- compilation ---------------------------------------------------------------------
    def _compile(self, args, leaves=None, tree=None, call=None) -> _Compiled:
        """The compiled program for these (dynamic) arguments; ``call`` is the call key of
        graphc/calling.py when the call had keyword or static arguments, else None."""
        if leaves is None:
            leaves, tree = flatten(args)
        # fast key: dtype objects and shapes as they come (validated on a miss)
        key = (tree, tuple((x.shape, x.dtype) if isinstance(x, np.ndarray) else _leaf_signature(x) for x in leaves))
        if call is not None:
            key = (call,) + key
        hit = self._fast.get(key)
        if hit is not None:
            return hit
        full = (tree, tuple(_leaf_signature(x) for x in leaves))
        shapes = None
        if self.symbolic is not None:
            shapes = self.symbolic.leaf_shapes(args, leaves, lambda x: np.shape(x) if isinstance(
                x, (np.ndarray, np.generic)) else None)
            full = (tree, tuple(s if shp is None or s[0] != "array" else (s[0], shp, s[2])
                                for s, shp in zip(full[1], shapes)))
        if call is not None:
            full = (call,) + full
        with self._lock:
            hit = self._cache.get(full)
            if hit is None:
                hit = self._cache[full] = self._build(args, shapes, call)
            self._fast[key] = hit
            return hit

    def _compile_call(self, args, kwargs) -> _Compiled:
        """_compile for a call as the user writes it (keyword and static arguments allowed)."""
        if kwargs or self._callspec.has_static:
            args, call = self._callspec.canonical(args, kwargs)
            return self._compile(args, call=call)
        return self._compile(args)

    def _build(self, args, shapes=None, call=None) -> _Compiled:
        from .codegen import program_cache, stats

        t0 = time.perf_counter()
        self.trace_count += 1

        # (module-level, not a closure over self: a cached program must not form a
        # reference cycle, or its code would outlive the function until a gc pass)
        optimize_and_lower = functools.partial(_optimize_and_lower, fuse=self.fuse, target=self.target,
                                               options=self.options)

        with stats.collect(stats.CompileStats()) as st:
            with stats.phase("trace"):
                fn = self.python_function if call is None else self._callspec.specialize(call)
                graph = trace(fn, *args, shapes=shapes)
            key = None
            if self.target == "cpu" and program_cache.applies(self.options):
                with stats.phase("program_cache"):
                    key = program_cache.graph_key(graph, {"fuse": self.fuse, "target": self.target,
                                                          "name": graph.name, "options": dict(self.options)})
                    record = program_cache.load(key) if key is not None else None
                    executable = program_cache.load_executable(record, graph) if record is not None else None
                if executable is not None:  # trace -> hash -> load: no passes, lowering or LLVM
                    return _CachedCompiled(graph, optimize_and_lower, executable, time.perf_counter() - t0, st)
            if self.target == "cpu":
                from .codegen.llvm_cpu import prefetch_runtime

                prefetch_runtime(graph)  # builds the runtime while passes and kernels run
            optimized, program, ctx = optimize_and_lower(graph)
            from .codegen.target import get_target

            executable = get_target(ctx.target).compile(program)  # placement may move it to/off the GPU
            if key is not None and ctx.target == "cpu":
                record = program_cache.record_for(program, executable, graph)
                if record is not None:
                    record["kernels_total"] = st.kernels_total
                    program_cache.store(key, record)
        executable.graph = optimized
        return _Compiled(format_graph(graph), optimized, program, executable, time.perf_counter() - t0,
                         dict(ctx.timings), st)

    # -- calling -------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if kwargs or self._callspec.has_static:
            args, call = self._callspec.canonical(args, kwargs)
            leaves, tree = flatten(args)
            compiled = self._compile(args, leaves, tree, call)
            return compiled.run([x if isinstance(x, np.ndarray) else np.asarray(x) for x in leaves
                                 if isinstance(x, (np.ndarray, np.generic))])
        # fast path: positional plain ndarrays whose (shape, dtype) tuple was seen before
        # (the executable still checks every input before native code)
        key = tuple([(a.shape, a.dtype) for a in args if type(a) is np.ndarray])
        if len(key) == len(args):
            hit = self._flat.get(key)
            if hit is not None:
                return hit.run(args)
        leaves, tree = flatten(args)
        compiled = self._compile(args, leaves, tree)
        if len(key) == len(args):
            self._flat[key] = compiled
        arrays = [x if isinstance(x, np.ndarray) else np.asarray(x) for x in leaves
                  if isinstance(x, (np.ndarray, np.generic))]
        return compiled.run(arrays)

    # -- introspection -------------------------------------------------------------------
    def ir(self, *args, stage: str = "optimized", **kwargs) -> str:
        """IR text for this signature: stage "traced", "optimized" or "llvm"."""
        compiled = self._compile_call(args, kwargs)
        if stage == "traced":
            return compiled.traced
        if stage == "optimized":
            return format_graph(compiled.optimized)
        if stage == "llvm":
            text = getattr(compiled.executable, "llvm_ir", "")
            return text() if callable(text) else text
        raise ValueError(f"unknown stage {stage!r} (traced, optimized, llvm)")

    def memory_plan(self, *args, **kwargs) -> dict:
        """Planned workspace bytes (peak) next to the naive sum of all intermediates
        (with symbolic dimensions: for the sizes of these arguments)."""
        compiled = self._compile_call(args, kwargs)
        if kwargs or self._callspec.has_static:
            args = self._callspec.canonical(args, kwargs)[0]
        p = compiled.program
        if p.symbols:
            leaves, _ = flatten(args)
            arrays = [np.asarray(x) for x in leaves if isinstance(x, (np.ndarray, np.generic))]
            binding = compiled.executable.bind(arrays)
            planned = p.workspace_for(binding)[1]
            naive = sum(p.layout.nbytes(b, binding) for b in p.layout.values)
            from .symbolic import is_derived

            return {"planned_peak_bytes": planned, "naive_bytes": naive, "kernels": len(p.kernels),
                    "symbols": {k: v for k, v in binding.items() if not is_derived(k)}}  # not 5*n
        return {"planned_peak_bytes": p.workspace_bytes, "naive_bytes": p.naive_bytes,
                "kernels": len(p.kernels)}

    def compile_stats(self, *args, **kwargs) -> dict:
        """How this signature was compiled: kernels total (kernel and GEMM steps, nested
        loop bodies included), distinct (structurally different, each emitted once),
        taken from cache (this process's memory or the disk cache) and compiled, plus
        seconds per phase (trace, passes, lower, emit_ir, llvm_optimize, emit_object,
        load). Compiles on first use, like a call."""
        compiled = self._compile_call(args, kwargs)
        out = compiled.stats.as_dict() if compiled.stats is not None else {}
        out["compile_seconds"] = round(compiled.compile_seconds, 6)
        out["program_from_cache"] = isinstance(compiled, _CachedCompiled)  # trace -> hash -> load
        return out

    def explain(self, *args, format: str = "table", repeat: int = 5, file=None, **kwargs):
        """Per step of the compiled program: kernel, fused ops with source lines, loop
        shape, bytes, flops, measured time, GB/s, GFLOP/s, % of the roofline bound, and
        why each producer that kept its own kernel was not fused (graphc/explain.py).
        Prints a table and returns the rows; ``format="json"`` returns a JSON string."""
        from .explain import explain

        if kwargs or self._callspec.has_static:
            args, call = self._callspec.canonical(args, kwargs)
            compiled = self._compile(args, call=call)
        else:
            compiled = self._compile(args)
        leaves, _ = flatten(args)
        arrays = [x if isinstance(x, np.ndarray) else np.asarray(x) for x in leaves
                  if isinstance(x, (np.ndarray, np.generic))]
        return explain(compiled, arrays, format=format, repeat=repeat, file=file)

    def compile_time(self, *args, **kwargs) -> float:
        return self._compile_call(args, kwargs).compile_seconds

    def graph(self, *args, **kwargs):
        return self._compile_call(args, kwargs).optimized

    def ptx(self, *args, arch: str = "sm_90") -> str:
        """PTX of this signature's GPU kernels (generated without needing a GPU)."""
        from .codegen.gpu_compile import ptx_for

        return ptx_for(self, args, arch)


def compile(fn=None, *, target: str = "cpu", fuse: bool = True, dynamic=None, shapes=None, dynamic_args=None,
            static_argnums=None, static_argnames=None, **options):
    """Compile ``fn`` (usable as @gc.compile, @gc.compile(fuse=False) or gc.compile(fn, ...)).

    Arguments: ``target`` "cpu" or "cuda"; ``fuse=False`` for the naive one-kernel-per-op
    mode; ``dynamic="batch"``: the leading dimension of every array argument is one
    symbol, so one compilation serves every batch size (``dynamic_args``: only for these
    positional arguments); ``shapes={"x": ("n", 784), "y": ("n",)}`` names symbols per
    argument (see graphc/symbolic.py for what supports them); ``static_argnums`` /
    ``static_argnames``: arguments that are hashable Python values rather than arrays
    (part of the cache key: a new value retraces); placement options ``placement``,
    ``allow_soft_placement``, ``log_device_placement``, ``devices``; ``dump_dir`` (the IR
    after every pass). Any other keyword raises TypeError naming it.

    The result is called with arrays (or pytrees of them) by position or by keyword:

        f = gc.compile(lambda x, n: x * n, static_argnums=1)
        f(np.ones(3, np.float32), n=2)
    """
    kw = dict(target=target, fuse=fuse, dynamic=dynamic, shapes=shapes, dynamic_args=dynamic_args,
              static_argnums=static_argnums, static_argnames=static_argnames)
    _check_options(options)  # at decoration time too, not only when the function is applied
    if fn is None:
        return lambda f: CompiledFunction(f, **kw, **options)
    return CompiledFunction(fn, **kw, **options)


jit = compile  # JAX's name
