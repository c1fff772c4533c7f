"""The target interface a backend implements (CPU via LLVM now, PTX via NVPTX next).

A target turns a Program (kernels + buffers, see program.py) into something the
runtime can call, and supplies target-specific scalar pieces to the shared op
lowerings (``emit_math``: how exp/log/tanh are computed on that target).
"""
from __future__ import annotations

_TARGETS: dict = {}


class Target:
    name = "abstract"

    def emit_math(self, builder, fname: str, *vals):
        raise NotImplementedError

    def compile(self, program):
        """Return an object callable by the runtime (see graphc._runtime.executable)."""
        raise NotImplementedError


def register_target(name: str, factory) -> None:
    _TARGETS[name] = factory


def get_target(name: str) -> Target:
    from ..errors import CompileError

    if name not in _TARGETS:
        raise CompileError(f"unknown target '{name}' (available: {', '.join(sorted(_TARGETS))})")
    return _TARGETS[name]()


def _cpu():
    from .llvm_cpu import CPUTarget

    return CPUTarget()


register_target("cpu", _cpu)


def _cuda():
    from .ptx import PTXTarget

    return PTXTarget()


register_target("cuda", _cuda)
