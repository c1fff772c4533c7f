"""The pass manager: runs registered passes in order, verifying and dumping the IR.

Each pass is a small class registered with a name and a one-line reason (as numba's
pass manager does). ``PassContext`` carries the compile options and instruments: hooks
called before and after every pass (as TVM's PassContext), used for IR dumps
(``GRAPHC_DUMP_IR=dir`` writes ``NN_<pass>.txt`` after each pass), timing and tests.

Verification (``PassContext.verify``, default from ``GRAPHC_VERIFY``): ``"each"`` checks
the IR after tracing and after every pass, so a broken rewrite is caught where it
happens (the test suite runs this way); ``"final"`` (the default) checks once, after
the last pass, since re-running every node's shape rule after each of the six passes
was a quarter of the 64-layer Adam step's compile time; ``"off"`` skips it.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from ..ir import format_graph, verify

_PASSES: dict[str, type] = {}


class Pass:
    """Base class: subclasses set ``name`` and ``reason`` and implement ``run``."""

    name = "pass"
    reason = ""

    def run(self, graph, ctx: "PassContext") -> None:
        raise NotImplementedError


def register_pass(cls):
    """Class decorator adding a pass to the registry under ``cls.name``."""
    if cls.name in _PASSES:
        raise ValueError(f"pass {cls.name} registered twice")
    _PASSES[cls.name] = cls
    return cls


def get_pass(name: str) -> Pass:
    return _PASSES[name]()


def registered_passes() -> dict:
    return {name: cls.reason for name, cls in _PASSES.items()}


@dataclass
class PassContext:
    """Options every pass can read, plus before/after instruments."""

    fuse: bool = True
    target: str = "cpu"
    verify: str = field(default_factory=lambda: _verify_mode_from_env())
    dump_dir: str | None = None
    options: dict = field(default_factory=dict)
    instruments: list = field(default_factory=list)  # objects with before(name, g) / after(name, g)
    timings: dict = field(default_factory=dict)


VERIFY_MODES = ("each", "final", "off")


def _verify_mode_from_env() -> str:
    mode = os.environ.get("GRAPHC_VERIFY", "final")
    if mode not in VERIFY_MODES:
        raise ValueError(f"GRAPHC_VERIFY={mode!r}: expected one of {', '.join(VERIFY_MODES)}")
    return mode


def _verify_mode(value) -> str:
    """``verify`` as a mode; booleans are kept for older callers (True: every pass)."""
    if value is True:
        return "each"
    if value is False or value is None:
        return "off"
    if value not in VERIFY_MODES:
        raise ValueError(f"verify={value!r}: expected one of {', '.join(VERIFY_MODES)}")
    return value


class DumpIR:
    """Instrument writing the IR after each pass into a directory."""

    def __init__(self, directory: str):
        self.directory = directory
        self.count = 0
        os.makedirs(directory, exist_ok=True)

    def before(self, name, graph):
        if self.count == 0:
            self._write("input", graph)

    def after(self, name, graph):
        self._write(name, graph)

    def _write(self, name, graph):
        path = os.path.join(self.directory, f"{graph.name}_{self.count:02d}_{name}.txt")
        with open(path, "w") as f:
            f.write(format_graph(graph) + "\n")
        self.count += 1


class PassManager:
    def __init__(self, pipeline: list[str], ctx: PassContext | None = None):
        self.pipeline = list(pipeline)
        self.ctx = ctx or PassContext()

    def run(self, graph):
        ctx = self.ctx
        instruments = list(ctx.instruments)
        dump = ctx.dump_dir or os.environ.get("GRAPHC_DUMP_IR")
        if dump:
            instruments.append(DumpIR(dump))
        graph.sort()
        mode = _verify_mode(ctx.verify)
        if mode == "each":
            verify(graph, after="trace")
        for name in self.pipeline:
            p = get_pass(name)
            for ins in instruments:
                ins.before(name, graph)
            t0 = time.perf_counter()
            p.run(graph, ctx)
            graph.sort()
            ctx.timings[name] = ctx.timings.get(name, 0.0) + time.perf_counter() - t0
            if mode == "each":
                verify(graph, after=name)
            for ins in instruments:
                ins.after(name, graph)
        if mode == "final":
            verify(graph, after=self.pipeline[-1] if self.pipeline else "trace")
        return graph


def default_pipeline(ctx: PassContext) -> list[str]:
    """The standard pipeline; fusion only when ``ctx.fuse``."""
    names = ["constant_fold", "simplify", "cse", "dce"]
    names = [n for n in names if n in _PASSES]
    if ctx.fuse and "fusion" in _PASSES:
        names.append("fusion")
    elif "no_fusion" in _PASSES:
        names.append("no_fusion")
    if "placement" in _PASSES and (ctx.options.get("placement") or ctx.target == "cuda"):
        names.append("placement")
    return names
