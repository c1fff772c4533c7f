"""Tensor types: every IR value has a shape and dtype (one per signature).

A dimension is an int, or a *symbol* (a str such as ``"n"``): a size known only when
the compiled function is called (``gc.compile(fn, dynamic="batch")``). Equal symbols
are equal sizes. Sizes of symbolic types exist only for a binding of the symbols
(``size_for``); ``size`` and ``nbytes`` are for static types.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# What code-shape decisions (GEMM or loop nest, threading) assume for a symbol's size.
SYMBOL_SIZE_HINT = 1024


def is_symbol(d) -> bool:
    return isinstance(d, str)


class Sym(str):
    """A symbolic dimension: a str (equal names are equal sizes) that refuses Python
    arithmetic and int(), so code computing with sizes (an op without symbolic support)
    fails with an error naming the symbol instead of building a string like 'nnn'."""

    def _refuse(self, *_):
        from ..errors import ShapeError, user_source_line

        raise ShapeError(f"the symbolic dimension {str(self)!r} (a size known only at run time) was used in "
                         f"Python arithmetic: this operation does not support symbolic sizes yet "
                         f"(compile with static shapes)\n  at {user_source_line()}")

    __mul__ = __rmul__ = __add__ = __radd__ = __sub__ = __rsub__ = _refuse
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __truediv__ = __rtruediv__ = _refuse
    __int__ = __index__ = __float__ = _refuse
    __lt__ = __le__ = __gt__ = __ge__ = _refuse

    def __reduce__(self):
        return (Sym, (str(self),))


def _valid_symbol(d: str) -> bool:
    """A name like 'n', or a canonical product of names and an int ('64*batch', see
    graphc/symbolic.py: what reshaping a symbolic dimension together with others gives)."""
    if d.isidentifier():
        return True
    parts = d.split("*")
    return len(parts) > 1 and all(p.isidentifier() for p in parts[1:]) and \
        (parts[0].isidentifier() or (parts[0].isdigit() and int(parts[0]) > 1))


def _dim(d):
    if isinstance(d, str):
        if not _valid_symbol(d):
            raise ValueError(f"a symbolic dimension must be a name like 'n', got {d!r}")
        return d if type(d) is Sym else Sym(d)
    return int(d)


@dataclass(frozen=True)
class TensorType:
    shape: tuple
    dtype: str

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(_dim(d) for d in self.shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return not any(isinstance(d, str) for d in self.shape)

    @property
    def symbols(self) -> tuple:
        return tuple(d for d in self.shape if isinstance(d, str))

    @property
    def size(self) -> int:
        if not self.is_static:
            raise TypeError(f"{self} has symbolic dimensions: its size needs their values (size_for)")
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def size_hint(self) -> int:
        """The size with every symbol taken as SYMBOL_SIZE_HINT (for code-shape choices)."""
        return int(np.prod([SYMBOL_SIZE_HINT if isinstance(d, str) else d for d in self.shape], dtype=np.int64))

    def shape_for(self, binding: dict) -> tuple:
        from ..symbolic import evaluate

        return tuple(evaluate(d, binding) if isinstance(d, str) else d for d in self.shape)

    def size_for(self, binding: dict) -> int:
        return int(np.prod(self.shape_for(binding), dtype=np.int64))

    def nbytes_for(self, binding: dict) -> int:
        return self.size_for(binding) * np.dtype(self.dtype).itemsize

    def __str__(self):
        return f"{self.dtype}[{','.join(str(d) for d in self.shape)}]"


@dataclass(frozen=True)
class TupleType:
    """The type of a multi-result node (scan); ``tuple_get`` nodes project its parts."""

    types: tuple

    shape = ()
    dtype = "tuple"
    ndim = 0
    size = 0

    @property
    def is_static(self) -> bool:
        return all(t.is_static for t in self.types)

    @property
    def symbols(self) -> tuple:
        return tuple(d for t in self.types for d in t.symbols)

    @property
    def offsets(self) -> tuple:
        """Byte offset of each part when the parts share one 64-byte-aligned buffer."""
        out, off = [], 0
        for t in self.types:
            out.append(off)
            off += (max(t.nbytes, 1) + 63) // 64 * 64
        return tuple(out)

    @property
    def nbytes(self) -> int:
        if not self.types:
            return 0
        last = self.types[-1]
        return self.offsets[-1] + (max(last.nbytes, 1) + 63) // 64 * 64

    def offsets_for(self, binding: dict) -> tuple:
        """``offsets`` for a binding of the symbols (parts with symbolic dimensions)."""
        out, off = [], 0
        for t in self.types:
            out.append(off)
            off += (max(t.nbytes_for(binding), 1) + 63) // 64 * 64
        return tuple(out)

    def nbytes_for(self, binding: dict) -> int:
        if not self.types:
            return 0
        return self.offsets_for(binding)[-1] + (max(self.types[-1].nbytes_for(binding), 1) + 63) // 64 * 64

    def __str__(self):
        return "(" + ", ".join(str(t) for t in self.types) + ")"
