"""Size-generic elementwise kernels: one compiled function for every size.

A kernel whose fused ops are all elementwise, and whose values are all either the
kernel's full shape or scalars, computes element ``i`` of its output from element ``i``
of each full-shape input: its loop nest over ``(784, 300)`` is one loop over 235,200
elements. Emitted that way, the only size left in its code is the loop's range, and
that arrives at run time (the ``begin``/``end`` every kernel takes). So such a kernel is
emitted over a canonical length and keyed without its size: the Adam update of a
784x300 weight, of a 300-bias and of every other variable of a model is one compiled
function, not one per shape (an MLP Adam step had 40 distinct kernels in 41).

Dispatch (``llvm_cpu.kernel_dispatch``) splits the flat range over threads; the
program's Kernel step itself (buffers, memory plan, in-place updates) is unchanged.
"""
from __future__ import annotations

import math

from ..ir import Node, TensorType
from ..ops.registry import get_op

# The length a flat kernel is emitted and keyed with. No code depends on it (the range
# comes from begin/end); tests/test_flat_kernels.py checks that the IR is identical for
# different lengths.
CANONICAL_LENGTH = 1 << 20


def flat_length(kernel) -> int | None:
    """The element count of ``kernel`` when it can run as a flat elementwise loop, else None."""
    shape = kernel.shape
    if not shape or any(isinstance(d, str) for d in shape):
        return None
    n = math.prod(int(d) for d in shape)
    if n < 2 or tuple(kernel.root.type.shape) != tuple(shape):
        return None
    for m in kernel.members:
        if get_op(m.op).kind != "elementwise" or not _full_or_scalar(m.type, shape):
            return None
        for i in m.inputs:
            if i.id not in kernel.inline and not _full_or_scalar(i.type, shape):
                return None
    return n


def _full_or_scalar(t, shape) -> bool:
    return t.shape == () or tuple(t.shape) == tuple(shape)


def flat_view(kernel, length: int = CANONICAL_LENGTH):
    """A copy of ``kernel`` over ``(length,)``: its member nodes (and the nodes it reads)
    stand-ins with 1-D types, the same ops, attributes, buffers and dataflow."""
    from .program import Kernel

    flat = (length,)

    def ftype(t):
        return t if t.shape == () else TensorType(flat, t.dtype)

    stand_in: dict = {}
    reads: dict = {}
    for nid, buf in kernel.reads.items():
        node = _find(kernel, nid)
        s = Node(node.op, [], node.attrs, ftype(node.type), node.loc, node.device)
        stand_in[nid] = s
        reads[s.id] = buf
    members = []
    for m in kernel.members:  # topological order: inputs are mapped before their users
        s = Node(m.op, [stand_in[i.id] for i in m.inputs], m.attrs, ftype(m.type), m.loc, m.device)
        stand_in[m.id] = s
        members.append(s)
    inline = frozenset(stand_in[i].id for i in kernel.inline if i in stand_in)
    return Kernel(kernel.name, stand_in[kernel.root.id], inline, kernel.dest, reads, flat, members)


def _find(kernel, node_id):
    """The node a kernel reads from memory (an input of a member, or, in a copy kernel
    with no members, the root itself)."""
    if kernel.root.id == node_id:
        return kernel.root
    for m in kernel.members:
        for i in m.inputs:
            if i.id == node_id:
                return i
    raise KeyError(node_id)
