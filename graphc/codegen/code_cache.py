"""Compiled code units: one object file each, loaded, shared and released.

A program's code is split into *units*: every distinct kernel (or GEMM step) is one
unit named by its structural key (kernel_key.py), and the entry function that calls
them in order is one more. Each unit is

- compiled once per process while anything uses it: live units are found by key in a
  weak table, and a program holds strong references to the units it calls, so two
  programs (or the 64 layers of one) share one copy;
- cached on disk by the same key (``GRAPHC_CACHE_DIR``), so a later process, or a new
  model with the same kernels, skips LLVM for it;
- loaded into its own small MCJIT engine, so that when the last program using it is
  garbage-collected its machine code is freed (issue 18: compiling many functions
  must not grow memory without bound).

Units call each other, and the runtime (thread pool, GEMM), by name through LLVM's
process symbol table: a unit's exported symbols are registered when it is loaded, and
any unit calling them holds a reference that keeps them alive.
"""
from __future__ import annotations

import threading
import weakref

import llvmlite.binding as llvm

from ..errors import CompileError
from . import stats

_lock = threading.RLock()
_live: "weakref.WeakValueDictionary[str, CodeUnit]" = weakref.WeakValueDictionary()
_empty_ir = ""


class CodeUnit:
    """One loaded object file (in its own engine); freed with the last reference."""

    def __init__(self, key: str, obj: bytes, exported: list):
        from .llvm_cpu import new_jit_target_machine

        self.key = key
        self.exported = list(exported)
        self._engine = llvm.create_mcjit_compiler(llvm.parse_assembly(_empty_ir), new_jit_target_machine())
        self._engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        self._engine.finalize_object()
        self.addresses = {}
        for name in exported:
            addr = self._engine.get_function_address(name)
            if not addr:
                raise CompileError(f"compiled unit {key} defines no symbol {name}")
            self.addresses[name] = addr
            llvm.add_symbol(name, addr)  # later units resolve their calls to it by name


def live_unit(key: str) -> CodeUnit | None:
    with _lock:
        return _live.get(key)


def get_unit(key: str, exported: list, build_object, counted: bool = True) -> CodeUnit:
    """The loaded unit ``key``: from memory, else from the disk cache, else
    ``build_object()`` (LLVM) and written to the disk cache. ``counted``: a kernel,
    counted in the compile statistics (the entry is not)."""
    unit = cached_unit(key, exported, counted)
    if unit is not None:
        return unit
    return add_unit(key, exported, build_object(), counted)


def get_units(requests: list, before_load=None) -> list:
    """``get_unit`` for many kernels at once: ``requests`` holds (key, exported,
    make_ir, compile_ir) tuples. Units already loaded are shared; the others come from
    the disk cache or are compiled: their IR is generated here (Python, one at a time),
    then LLVM compiles them on up to one thread per core (llvmlite releases the GIL while
    LLVM works). ``before_load()`` runs before any new unit is loaded (it loads the
    runtime the units call, which may still be building on the compile threads)."""
    units, objects, missing, seen = {}, {}, [], set()
    for key, exported, make_ir, compile_ir in requests:
        if key in seen:
            continue
        seen.add(key)
        unit, obj = _lookup(key, True)
        if unit is not None:
            units[key] = unit
        elif obj is not None:
            objects[key] = (exported, obj)
        else:
            missing.append((key, exported, make_ir, compile_ir))
    texts = [make_ir() for _, _, make_ir, _ in missing]
    compiled = _compile_all([(compile_ir, text) for (_, _, _, compile_ir), text in zip(missing, texts)])
    if before_load is not None:
        before_load()
    for key, (exported, obj) in objects.items():
        units[key] = _load(key, exported, obj)
    for (key, exported, _, _), obj in zip(missing, compiled):
        units[key] = add_unit(key, exported, obj, True)
    return [units[key] for key, *_ in requests]


_executor = None


def _compile_all(jobs: list) -> list:
    """[compile_ir(text) for compile_ir, text in jobs], spread over a thread per core."""
    workers = min(len(jobs), compile_threads())
    if workers <= 1:
        return [compile_ir(text) for compile_ir, text in jobs]
    executor()
    import time

    def run(job):
        compile_ir, text = job
        with stats.collect(stats.CompileStats()) as own:
            return compile_ir(text), own

    t0 = time.perf_counter()
    results = list(_executor.map(run, jobs))
    wall = time.perf_counter() - t0
    scope = stats.current()
    if scope is not None:
        # the caller's phases add up to its wall time: the threads' phase seconds are
        # scaled to the wall time of this parallel section, keeping their proportions
        busy = sum(sum(own.seconds.values()) for _, own in results)
        scale = min(1.0, wall / busy) if busy > 0 else 0.0
        for _, own in results:
            for name, seconds in own.seconds.items():
                scope.seconds[name] += seconds * scale
    return [obj for obj, _ in results]


_executor_pid = None


def executor():
    """The compile threads (one per core), created on first use, and again in a child
    process after a fork (which inherits the executor but none of its threads: work
    submitted to it would wait forever)."""
    global _executor, _executor_pid
    import os

    with _lock:
        if _executor is None or _executor_pid != os.getpid():
            from concurrent.futures import ThreadPoolExecutor

            _executor = ThreadPoolExecutor(max_workers=compile_threads(), thread_name_prefix="graphc-llvm")
            _executor_pid = os.getpid()
        return _executor


def compile_threads() -> int:
    """LLVM compile threads: ``GRAPHC_COMPILE_THREADS``, else the usable cores."""
    import os

    env = os.environ.get("GRAPHC_COMPILE_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cached_unit(key: str, exported: list, counted: bool = True) -> CodeUnit | None:
    """The unit ``key`` from memory or the disk cache (loaded), or None."""
    unit, obj = _lookup(key, counted)
    if unit is None and obj is not None:
        unit = _load(key, exported, obj)
    return unit


def _lookup(key: str, counted: bool):
    """(the loaded unit, None) when ``key`` is in memory, (None, its object bytes) when
    it is in the disk cache (not loaded yet), else (None, None)."""
    from .llvm_cpu import _cache_read

    with _lock:
        unit = _live.get(key)
    if unit is not None:
        if counted:
            stats.count("from_memory")
        return unit, None
    obj = _cache_read(key)
    if obj is not None and counted:
        stats.count("from_disk")
    return None, obj


def add_unit(key: str, exported: list, obj: bytes, counted: bool = True) -> CodeUnit:
    """Load a freshly compiled object as unit ``key`` and write it to the disk cache."""
    from .llvm_cpu import _cache_write

    if counted:
        stats.count("compiled")
    _cache_write(key, obj)
    return _load(key, exported, obj)


def _load(key: str, exported: list, obj: bytes) -> CodeUnit:
    with _lock:
        unit = _live.get(key)
        if unit is None:  # another thread may have loaded it meanwhile
            with stats.phase("load"):
                unit = CodeUnit(key, obj, exported)
            _live[key] = unit
        return unit


def live_count() -> int:
    """How many units are loaded now (for tests of code release)."""
    with _lock:
        return len(_live)
