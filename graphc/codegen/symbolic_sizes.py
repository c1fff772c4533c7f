"""Byte sizes and offsets that depend on symbolic dimensions, at lowering and in code.

Static programs place every buffer at lowering, so sizes and offsets are ints. With
symbolic dimensions (graphc/symbolic.py) some are known only per call: the parts of a
scan's tuple-typed output lie one after another (64-byte aligned), so every part after
one with a symbolic size starts at a run-time offset; the scan's scratch holds two
copies of its carries and its body's workspace. These helpers compute such sizes for a
binding of the symbols (the memory plan) and emit them as LLVM values (the code), with
the same rule, so both agree. Ints stay Python ints: static code is unchanged.
"""
from __future__ import annotations

from llvmlite import ir

from .kernel import I64

ALIGN = 64


class SizeEmitter:
    """Integer arithmetic on sizes that are Python ints or i64 values of a builder.

    ``dim(d)`` gives a dimension's value (an int, or the symbol's size loaded from the
    sizes table)."""

    def __init__(self, builder: ir.IRBuilder, dim):
        self.b, self._dim = builder, dim

    def value(self, v) -> ir.Value:
        return ir.Constant(I64, int(v)) if isinstance(v, int) else v

    def dim(self, d):
        return int(d) if not isinstance(d, str) else self._dim(d)

    def add(self, x, y):
        if isinstance(x, int) and isinstance(y, int):
            return x + y
        return self.b.add(self.value(x), self.value(y))

    def mul(self, x, y):
        if isinstance(x, int) and isinstance(y, int):
            return x * y
        return self.b.mul(self.value(x), self.value(y))

    def nbytes(self, t):
        """Bytes of a TensorType."""
        import numpy as np

        n = int(np.dtype(t.dtype).itemsize)
        for d in t.shape:
            n = self.mul(n, self.dim(d))
        return n

    def align(self, n):
        """(max(n, 1) + 63) // 64 * 64, the rule of TupleType.offsets and scan scratch."""
        if isinstance(n, int):
            return (max(n, 1) + ALIGN - 1) // ALIGN * ALIGN
        b = self.b
        n = b.select(b.icmp_signed("<", n, self.value(1)), self.value(1), n)
        return b.and_(b.add(n, self.value(ALIGN - 1)), self.value(-ALIGN))

    def tuple_offsets(self, tuple_type) -> list:
        out, off = [], 0
        for t in tuple_type.types:
            out.append(off)
            off = self.add(off, self.align(self.nbytes(t)))
        return out


class TupleOffset:
    """The byte offset of part ``index`` of a tuple-typed value whose parts have symbolic
    sizes (a ``Buffer.offset`` of a tuple_get view): ``emit`` computes it in code."""

    def __init__(self, tuple_type, index: int):
        self.tuple_type, self.index = tuple_type, index

    def for_binding(self, binding) -> int:
        return self.tuple_type.offsets_for(binding)[self.index]

    def emit(self, builder, dim) -> ir.Value:
        return SizeEmitter(builder, dim).value(SizeEmitter(builder, dim).tuple_offsets(self.tuple_type)[self.index])

    def __repr__(self):
        return f"TupleOffset({self.tuple_type}, {self.index})"
