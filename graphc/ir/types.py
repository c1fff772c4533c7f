"""Static tensor types: every IR value has a known shape and dtype (one per signature)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TensorType:
    shape: tuple
    dtype: str

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

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

    def __str__(self):
        return "(" + ", ".join(str(t) for t in self.types) + ")"
