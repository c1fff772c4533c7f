"""Where a kernel's innermost loop is cut into pieces, one loop per piece.

A fused ``concatenate`` or ``slice_grad`` (the gradient of a slice: the slice's values
placed in zeros) chooses its source by the index along one axis. Over the whole axis
that choice is a select per element between clamped loads of every source, which the
loop vectorizer cannot turn into contiguous vector loads: an LSTM's backward step sums
the four gates' gradients as four ``slice_grad``s of a (batch, 4 * units) array, and
that one kernel cost more than the step's GEMM. Cut at the boundaries of those pieces,
each loop reads one source with unit stride (``KernelBuilder.bounds_of`` tells the op's
emit which piece it is in), and a piece of a ``slice_grad`` outside the slice is a
constant zero that reads nothing.

Only the innermost axis is cut (the outer one is the range threads split), and only
at boundaries of ops whose output has the kernel's shape, so their index along that
axis is the loop counter itself; an op reached through a transpose or reshape sees an
index without known bounds and keeps its select.
"""
from __future__ import annotations

MAX_PIECES = 16  # more pieces than this: code size grows for little gain


def split_points(kernel) -> list:
    """Cut points (sorted, strictly inside (0, extent)) for the innermost axis of
    ``kernel``; empty when nothing in it selects by that index."""
    shape = tuple(kernel.shape)
    if len(shape) < 2 or isinstance(shape[-1], str):
        return []
    axis, extent = len(shape) - 1, int(shape[-1])
    cuts = set()
    for m in kernel.members:
        if tuple(m.type.shape) != shape:
            continue
        if m.op == "concatenate" and m.attrs["axis"] == axis:
            offset = 0
            for part in m.inputs:
                offset += part.type.shape[axis]
                cuts.add(offset)
        elif m.op == "slice_grad":
            s, st, n = m.attrs["starts"][axis], m.attrs["steps"][axis], m.attrs["shape"][axis]
            if isinstance(n, str) or abs(st) != 1:
                continue
            first = s if st > 0 else s - n + 1
            cuts.update((first, first + n))
    points = sorted(c for c in cuts if 0 < c < extent)
    return points if len(points) < MAX_PIECES else []
