"""Trace recording: Chrome / Perfetto trace-event JSON of real calls.

``with gc.profile("trace.json"):`` (or ``GRAPHC_PROFILE=trace.json`` for the whole
process, written at exit) records, while it is open:

- every call of a compiled CPU function: one span for the call and, from a profiled
  entry point (codegen/profiled_entry.py), one span per step on the calling thread
  plus one per step on every pool thread that ran chunks of it;
- compile phases (trace, passes, lower, emit_ir, llvm_optimize, ...) as nested spans;
- in ``graphc.compat.v1``, one span per ``Session.run``.

Open the file in chrome://tracing or https://ui.perfetto.dev. Timestamps are
CLOCK_MONOTONIC (``time.perf_counter``), in microseconds.

Cost when off: the call path checks one module flag (``compiler._PROFILING``); the
profiled entry is only built for functions called while a profile is open.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
import time

_lock = threading.Lock()
_recorders: list = []     # open Recorders; events go to all of them
_PID = os.getpid()


class Recorder:
    """Collects trace events; ``write(path)`` saves them as trace-event JSON."""

    def __init__(self, path: str | None = None):
        self.path = path
        self.events: list = []
        self.thread_names: dict = {}

    def add(self, event: dict) -> None:
        self.events.append(event)

    def trace(self) -> dict:
        meta = [{"name": "process_name", "ph": "M", "pid": _PID, "tid": 0, "args": {"name": "graphc"}}]
        for tid, name in sorted(self.thread_names.items()):
            meta.append({"name": "thread_name", "ph": "M", "pid": _PID, "tid": tid, "args": {"name": name}})
        return {"traceEvents": meta + list(self.events), "displayTimeUnit": "ms"}

    def write(self, path: str | None = None) -> str:
        path = path or self.path
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.trace(), f)
        os.replace(tmp, path)
        return path


def active() -> bool:
    return bool(_recorders)


def _emit(event: dict, thread_name: str | None = None) -> None:
    with _lock:
        for r in _recorders:
            r.add(event)
            if thread_name is not None and event["tid"] not in r.thread_names:
                r.thread_names[event["tid"]] = thread_name


def span(name: str, cat: str, start_s: float, dur_s: float, tid: int | None = None, args: dict | None = None,
         thread_name: str | None = None) -> None:
    """Record a complete event ("X") from perf_counter seconds."""
    if not _recorders:
        return
    tid = threading.get_native_id() if tid is None else tid
    ev = {"name": name, "cat": cat, "ph": "X", "ts": start_s * 1e6, "dur": max(dur_s, 0.0) * 1e6,
          "pid": _PID, "tid": tid}
    if args:
        ev["args"] = args
    _emit(ev, thread_name or (threading.current_thread().name if tid == threading.get_native_id() else None))


@contextlib.contextmanager
def region(name: str, cat: str, args: dict | None = None):
    """A span around a block of Python code (Session.run, a training epoch)."""
    if not _recorders:
        yield
        return
    t0 = time.perf_counter()
    try:
        yield
    finally:
        span(name, cat, t0, time.perf_counter() - t0, args=args)


def _set_active(on: bool) -> None:
    from . import compiler
    from .codegen import stats

    compiler._PROFILING = on
    stats.trace_hook = _compile_phase if on else None


def _compile_phase(name: str, start_s: float, dur_s: float) -> None:
    span(name, "compile", start_s, dur_s)


def start(path: str | None = None) -> Recorder:
    rec = Recorder(path)
    with _lock:
        _recorders.append(rec)
    _set_active(True)
    return rec


def stop(rec: Recorder) -> None:
    with _lock:
        if rec in _recorders:
            _recorders.remove(rec)
        on = bool(_recorders)
    _set_active(on)


@contextlib.contextmanager
def profile(path: str | None = None):
    """Record a trace of everything compiled or called inside; written to ``path`` (if
    given) when the block ends. Yields the Recorder (``.trace()`` gives the dict)."""
    rec = start(path)
    try:
        yield rec
    finally:
        stop(rec)
        if path:
            rec.write()


# -- calls ----------------------------------------------------------------------------------
def run_profiled(compiled, arrays):
    """Run one call of a ``_Compiled`` through its profiled entry and record its spans.
    Programs without one (GPU, symbolic dimensions) get a single call span."""
    exe = profiled_executable(compiled)
    name = compiled.program.name if exe is not None else getattr(compiled.executable, "program", None)
    name = getattr(name, "name", name) or "call"
    t0 = time.perf_counter()
    if exe is None:
        outs = compiled.executable(arrays)
        span(name, "call", t0, time.perf_counter() - t0, args={"profiled_steps": False})
        return outs
    outs, run = exe.run(arrays)
    span(name, "call", t0, time.perf_counter() - t0,
         args={"dropped_chunk_records": run.dropped} if run.dropped else None)
    record_steps(compiled.program, run)
    return outs


def profiled_executable(compiled):
    """The ProfiledExecutable of a ``_Compiled`` (built once; None when unsupported)."""
    exe = compiled.__dict__.get("_profiled", False)
    if exe is False:
        exe = None
        from ._runtime.executable import Executable
        from ._runtime.symbolic_executable import SymbolicExecutable

        if type(compiled.executable) in (Executable, SymbolicExecutable):  # a CPU program
            from .codegen import profiled_entry

            exe = profiled_entry.build(compiled.program)
        compiled.__dict__["_profiled"] = exe
    return exe


def step_label(step) -> dict:
    """Span arguments describing a step: its ops and loop shape."""
    members = getattr(step, "members", None) or ([step.node] if hasattr(step, "node") else [step.root])
    ops = [m.op for m in members]
    epi = getattr(step, "epilogue", None)
    if epi is not None:
        ops += [m.op for m in epi.members]
    return {"ops": ops, "shape": [str(d) for d in step.shape]}


def record_steps(program, run) -> None:
    """Spans for one profiled call: a step on the calling thread, and per pool thread
    one span per step covering the chunks it ran."""
    caller = threading.get_native_id()
    steps = program.kernels
    for i, step in enumerate(steps):
        t0, t1 = run.step_ns[i], run.step_ns[i + 1]
        span(step.name, "step", t0 / 1e9, (t1 - t0) / 1e9, tid=caller, args=step_label(step))
    per_thread: dict = {}
    for s, _b, _e, c0, c1, tid in run.chunks:
        tid = int(tid)
        if tid == caller:
            continue  # the caller's chunks lie inside its step span
        key = (int(s), tid)
        lo, hi, n = per_thread.get(key, (c0, c1, 0))
        per_thread[key] = (min(lo, c0), max(hi, c1), n + 1)
    for (s, tid), (lo, hi, n) in sorted(per_thread.items(), key=lambda kv: kv[1][0]):
        if 0 <= s < len(steps):
            span(steps[s].name, "step", lo / 1e9, (hi - lo) / 1e9, tid=tid,
                 args={**step_label(steps[s]), "chunks": n}, thread_name=f"graphc pool thread {tid}")


# -- GRAPHC_PROFILE ---------------------------------------------------------------------------
def _from_environment() -> None:
    path = os.environ.get("GRAPHC_PROFILE")
    if not path:
        return
    rec = start(path)

    def _write_at_exit():
        stop(rec)
        try:
            rec.write()
        except OSError as e:  # a profile is a diagnostic: never fail the program's exit over it
            print(f"graphc: could not write GRAPHC_PROFILE={path}: {e}")

    atexit.register(_write_at_exit)
