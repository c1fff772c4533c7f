"""The op registry: every op is defined once, here, as an ``Op`` record.

An Op carries everything the compiler needs to know about one primitive (as JAX's
autodidax keys rule tables by primitive):

- ``infer(input_types, attrs) -> TensorType``: the shape/dtype rule (raises GraphcError).
- ``impl(attrs, *arrays) -> ndarray``: the numpy reference (the interpreter's oracle).
- ``emit(kb, node, index) -> V``: the scalar lowering: the value of the output at a
  multi-index, written against the target-neutral KernelBuilder, so CPU and PTX
  share it and fusion can inline it into a consumer's loop nest.
- ``vjp(node, g, *inputs) -> list``: the gradient rule (reverse mode), built from
  frontend ops so gradient graphs are ordinary graphs.
- ``kind``: how fusion treats it: "source" (param/constant/variable: no kernel),
  "elementwise", "injective" (pure index remapping), "reduce", "opaque".
- ``pure``: False for random or stateful ops (never CSE'd or constant-folded).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import ml_dtypes
import numpy as np

from ..errors import UnknownOpError

_NARROW = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))

KINDS = ("source", "elementwise", "injective", "reduce", "opaque")


@dataclass
class Op:
    name: str
    kind: str
    infer: Callable
    impl: Callable
    emit: Optional[Callable] = None
    vjp: Optional[Callable] = None
    pure: bool = True
    # Target-specific lowerings that replace the generic ``emit`` (e.g. {"cuda": fn}).
    lowerings: dict = field(default_factory=dict)
    # Whole-kernel lowering (e.g. GEMM): fn(program_builder, node, buffers) -> None.
    kernel: Optional[Callable] = None

    def __post_init__(self):
        assert self.kind in KINDS, self.kind

    def reference(self, attrs, *arrays):
        """``impl`` with float16/bfloat16 operands computed in float32, as compiled code
        computes them (numpy's own bfloat16 or float16 reductions may accumulate in the
        narrow type). Callers cast the result to the node's dtype, which rounds it once."""
        if any(getattr(a, "dtype", None) in _NARROW for a in arrays):
            arrays = [a.astype(np.float32) if a.dtype in _NARROW else a for a in arrays]
        return self.impl(attrs, *arrays)


_REGISTRY: dict[str, Op] = {}


def register(op: Op) -> Op:
    if op.name in _REGISTRY:
        raise ValueError(f"op {op.name} registered twice")
    _REGISTRY[op.name] = op
    return op


def defop(name, kind, infer, impl, emit=None, vjp=None, pure=True, kernel=None) -> Op:
    return register(Op(name, kind, infer, impl, emit, vjp, pure, kernel=kernel))


def get_op(name: str) -> Op:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownOpError(f"unknown op '{name}' (known: {', '.join(sorted(_REGISTRY))})") from None


def all_ops() -> dict[str, Op]:
    return dict(_REGISTRY)


def defvjp(name: str, vjp: Callable) -> None:
    """Attach a gradient rule to an already-registered op."""
    get_op(name).vjp = vjp
