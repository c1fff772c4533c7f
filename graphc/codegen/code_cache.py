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
    from .llvm_cpu import _cache_read, _cache_write

    with _lock:
        unit = _live.get(key)
        if unit is not None:
            if counted:
                stats.count("from_memory")
            return unit
    obj = _cache_read(key)
    if obj is not None:
        if counted:
            stats.count("from_disk")
    else:
        obj = build_object()
        if counted:
            stats.count("compiled")
        _cache_write(key, obj)
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
