"""Compile-time accounting: seconds per phase and kernel counts of one compilation.

The driver opens a ``collect()`` scope around one compilation; the pipeline's stages
call ``phase(name)`` and ``count(...)``, which add to the innermost open scope of this
thread (and do nothing when none is open, e.g. during an AOT export). The result is
what ``CompiledFunction.compile_stats`` reports.
"""
from __future__ import annotations

import contextlib
import threading
import time

# "runtime": loading the model-independent runtime (thread pool, GEMM) on first use
PHASES = ("trace", "passes", "lower", "emit_ir", "llvm_optimize", "emit_object", "load", "runtime", "program_cache")

_local = threading.local()
# trace_hook(phase, start_seconds, seconds): set by graphc.profiler while a profile is
# open, so compile phases appear in the trace; None otherwise.
trace_hook = None


class CompileStats:
    """Seconds per phase and kernel counts (see ``as_dict`` for the meaning of each)."""

    def __init__(self):
        self.seconds = {p: 0.0 for p in PHASES}
        self.kernels_total = 0      # kernel and GEMM steps in the program (nested bodies too)
        self.kernels_distinct = 0   # structurally distinct ones (each emitted once)
        self.from_memory = 0        # distinct kernels already compiled in this process
        self.from_disk = 0          # distinct kernels loaded from the on-disk cache
        self.compiled = 0           # distinct kernels run through LLVM now

    def as_dict(self) -> dict:
        return {
            "kernels_total": self.kernels_total,
            "kernels_distinct": self.kernels_distinct,
            "kernels_from_cache": self.from_memory + self.from_disk,
            "kernels_from_memory": self.from_memory,
            "kernels_from_disk": self.from_disk,
            "kernels_compiled": self.compiled,
            "seconds": {k: round(v, 6) for k, v in self.seconds.items()},
            "total_seconds": round(sum(self.seconds.values()), 6),
        }


def current() -> CompileStats | None:
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


@contextlib.contextmanager
def collect(stats: CompileStats):
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append(stats)
    try:
        yield stats
    finally:
        stack.pop()


@contextlib.contextmanager
def phase(name: str):
    """Add the time spent in the block to phase ``name`` of the open scope (if any).
    Phases nest: time in an inner phase counts for it only, not for the outer one, so
    the phases add up to the total."""
    active = getattr(_local, "active", None)
    if active is None:
        active = _local.active = []
    frame = [0.0]  # time spent in phases nested inside this one
    active.append(frame)
    t0 = time.perf_counter()
    try:
        yield
    finally:
        spent = time.perf_counter() - t0
        if trace_hook is not None:
            trace_hook(name, t0, spent)
        active.pop()
        if active:
            active[-1][0] += spent
        s = current()
        if s is not None:
            s.seconds[name] = s.seconds.get(name, 0.0) + spent - frame[0]


def count(field: str, n: int = 1) -> None:
    s = current()
    if s is not None:
        setattr(s, field, getattr(s, field) + n)
