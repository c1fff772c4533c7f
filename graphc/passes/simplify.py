"""Algebraic simplification: rewrite patterns that cost work but change nothing.

Each rule looks at one node and may return a replacement node; the pass applies rules
until nothing changes. Rules keep numpy semantics exactly (``x * 1`` is ``x`` only when
the result dtype and shape equal x's; for floats ``x + (-0.0)`` and ``x - 0.0`` are x, but
``x + 0.0`` is not, since ``-0.0 + 0.0`` is +0.0; ``x - x`` is *not* 0 because of NaN and inf).
"""
from __future__ import annotations

import numpy as np

from ..ir import Node, TensorType
from ..ops.registry import get_op
from .manager import Pass, register_pass


def _const_value(n: Node):
    """The scalar value of a constant/fill node that holds one repeated value, else None."""
    if n.op == "constant":
        v = n.attrs["value"]
        if v.size and np.all(v == v.flat[0]) and not (v.dtype.kind == "f" and np.isnan(v.flat[0])):
            return v.flat[0].item()
    if n.op == "fill":
        return n.attrs["value"]
    return None


def _same_type(a: Node, b: Node) -> bool:
    return a.type == b.type


class _SignedZero:
    """Matches a float zero of one sign only: x + 0.0 is not x when x is -0.0."""

    def __init__(self, negative: bool):
        self.negative = negative

    def __eq__(self, value):
        return isinstance(value, float) and value == 0.0 and bool(np.signbit(value)) == self.negative

    __hash__ = None


def _exact_zero(node: Node, negative: bool):
    """The zero that is an exact identity of add (negative=True) / subtract for node's dtype."""
    return _SignedZero(negative) if node.type.dtype.startswith("float") else 0


def _identity_operand(node: Node, neutral, commutative=True):
    """For x op c where c is the neutral element (broadcasting into x's type), return x."""
    a, b = node.inputs
    if _const_value(b) is not None and neutral == _const_value(b) and _same_type(a, node):
        return a
    if commutative and _const_value(a) is not None and neutral == _const_value(a) and _same_type(b, node):
        return b
    return None


# A leading-axis sum at least this large (elements) runs as a GEMM with a row of ones.
COLUMN_SUM_GEMM_MIN = 1 << 18
# ... over at most this many rows: the GEMM accumulates in the element type (blocks of
# KC rows), so longer sums keep the loop nest's blocked float64 summation (see
# test_reduction_accuracy.py); at 2**20 rows the float32 bound is ~2**20/KC * eps.
COLUMN_SUM_GEMM_MAX_ROWS = 1 << 20


def _column_sum_as_gemm(n: Node):
    """reduce_sum over leading axes of a large input -> ones(1, R) @ x.reshape(R, C).

    The bias gradient of a conv layer sums (N, H, W, C) over N, H, W. As a loop nest
    the reduction runs column by column: every column strides through the whole input
    (and recomputes nothing, but re-streams it from beyond L2 once per column: ~20x
    slower than a row-order pass at MNIST-CNN sizes). The GEMM reads the input row by
    row, packed, at full vector width; only inputs larger than typical L2 sizes take it.
    A broadcast input stays a loop nest (the GEMM would materialize it at full size).
    """
    if n.op != "reduce_sum" or not n.type.is_static or n.type.dtype not in ("float32", "float64"):
        return None
    x = n.inputs[0]
    if x.type.dtype != n.type.dtype or not x.type.is_static or x.op == "broadcast_to":
        return None
    axes = tuple(n.attrs["axes"])
    lead = len(axes)
    if not axes or axes != tuple(range(lead)) or lead == x.type.ndim:
        return None
    rows = int(np.prod(x.type.shape[:lead], dtype=np.int64))
    cols = int(np.prod(x.type.shape[lead:], dtype=np.int64))
    if rows < 2 or rows > COLUMN_SUM_GEMM_MAX_ROWS or rows * cols < COLUMN_SUM_GEMM_MIN:
        return None
    dt = n.type.dtype
    ones = Node("fill", [], {"shape": (1, rows), "value": 1.0, "dtype": dt}, TensorType((1, rows), dt), n.loc, n.device)
    flat = Node("reshape", [x], {"shape": (rows, cols)}, TensorType((rows, cols), dt), n.loc, n.device)
    total = Node("matmul", [ones, flat], {}, TensorType((1, cols), dt), n.loc, n.device)
    return Node("reshape", [total], {"shape": n.type.shape}, n.type, n.loc, n.device)


def _simplify(n: Node, target: str = "cpu"):
    op = n.op
    if target == "cpu":  # the CPU GEMM's row-order reads; other targets reduce as they are
        as_gemm = _column_sum_as_gemm(n)
        if as_gemm is not None:
            return as_gemm
    identity = None
    if op in ("add",):
        identity = _identity_operand(n, _exact_zero(n, negative=True))
    elif op == "subtract":
        identity = _identity_operand(n, _exact_zero(n, negative=False), commutative=False)
    elif op == "multiply":
        identity = _identity_operand(n, 1)
    elif op == "divide":
        identity = _identity_operand(n, 1, commutative=False)
    if identity is not None:
        return identity
    if op == "power":
        a, b = n.inputs
        if _const_value(b) == 1 and _same_type(a, n):
            return a
    if op == "negative" and n.inputs[0].op == "negative":
        return n.inputs[0].inputs[0]
    if op == "cast" and n.inputs[0].type == n.type:
        return n.inputs[0]
    if op == "transpose":
        inner = n.inputs[0]
        if inner.op == "transpose":
            composed = tuple(inner.attrs["perm"][p] for p in n.attrs["perm"])
            if composed == tuple(range(len(composed))):
                return inner.inputs[0]
            return Node("transpose", [inner.inputs[0]], {"perm": composed}, n.type, n.loc, n.device)
        if n.attrs["perm"] == tuple(range(n.type.ndim)):
            return inner
    if op == "reshape":
        inner = n.inputs[0]
        if inner.type.shape == n.type.shape:
            return inner
        if inner.op == "reshape":
            return Node("reshape", [inner.inputs[0]], {"shape": n.type.shape}, n.type, n.loc, n.device)
    if op == "broadcast_to" and n.inputs[0].type == n.type:
        return n.inputs[0]
    if op == "where":
        c = _const_value(n.inputs[0])
        if c is not None and n.inputs[0].op in ("constant", "fill"):
            pick = n.inputs[1] if c else n.inputs[2]
            if _same_type(pick, n):
                return pick
    return None


def _row_split(src, dst) -> bool:
    """Whether a reshape from ``src`` to ``dst`` only regroups the leading axes (the last
    axis kept): the bytes are the same rows either way."""
    if not src or not dst or src[-1] != dst[-1]:
        return False
    if any(isinstance(d, str) for d in src + dst):
        return False
    return int(np.prod(src[:-1])) == int(np.prod(dst[:-1])) and src != dst


def _row_broadcast(t, shape) -> bool:
    """A value that broadcasts along every row the same way in ``shape`` as in any row
    regrouping of it: a scalar, or one row (leading axes of size 1, no more of them)."""
    s = t.shape
    return all(d == 1 for d in s[:-1]) and (not s or s[-1] in (1, shape[-1]))


def _chain_absorbs(n, src, users, updates, memo, depth=0) -> bool:
    """Whether every elementwise consumer of ``n`` (recursively) would take the reshape
    further down: not a variable's new value, its other operands row
    broadcasts. Otherwise some kernel would read a sunk value through an index
    remapping (and a variable update could no longer be done in place). A value with
    several consumers is stored (unless fusion may recompute it: DUPLICABLE_OPS), and
    other consumers (views, reductions) read a stored value too: a stored value's
    reshape is a free alias."""
    if n.id in memo:
        return memo[n.id]
    from .fusion import DUPLICABLE_OPS

    if len(users.get(n.id, ())) >= 2 and n.op not in DUPLICABLE_OPS:
        memo[n.id] = True  # read by several consumers: stored, so its reshape is an alias
        return True
    ok = depth < 64
    for u in users.get(n.id, ()):
        if not ok:
            break
        if get_op(u.op).kind != "elementwise":
            continue
        ok = (u.id not in updates and all(i is n or _row_broadcast(i.type, src) for i in u.inputs)
              and _chain_absorbs(u, src, users, updates, memo, depth + 1))
    memo[n.id] = ok
    return ok


def _sink_row_reshape(n: Node, users: dict, updates: set):
    """op(reshape(x), row-broadcast operands) -> reshape(op(x, ...)) when the reshape only
    regroups x's leading axes: the elementwise work is the same, and the reshape moves
    toward the consumers, where a stored value's reshape is a free alias. A convolution
    is a GEMM whose (N*H*W, C) result is reshaped to NHWC before its bias and activation;
    sunk below them, the bias and activation become the GEMM's epilogue (computed on
    each block of rows while it is in cache) instead of a kernel of their own."""
    if get_op(n.op).kind != "elementwise" or n.id in updates:
        return None  # a variable's new value keeps its layout (updated in place)
    src = None
    for i in n.inputs:
        if (i.op == "reshape" and (i.inputs[0].op == "matmul" or get_op(i.inputs[0].op).kind == "elementwise")
                and _row_split(i.inputs[0].type.shape, n.type.shape)):
            src = i.inputs[0].type.shape
            break
    if src is None:
        return None
    if not _chain_absorbs(n, src, users, updates, {}):
        return None
    new_inputs = []
    for i in n.inputs:
        if i.op == "reshape" and i.inputs[0].type.shape == src and i.type.shape == n.type.shape:
            new_inputs.append(i.inputs[0])
        elif _row_broadcast(i.type, src):
            extra = i.type.ndim - len(src)
            if extra > 0:  # leading 1s beyond the rows' rank: drop them (an alias)
                shape = i.type.shape[extra:]
                i = Node("reshape", [i], {"shape": shape}, TensorType(shape, i.type.dtype), n.loc, n.device)
            new_inputs.append(i)
        else:
            return None
    try:
        t = get_op(n.op).infer([i.type for i in new_inputs], n.attrs)
    except Exception:
        return None
    if t.shape != src or t.dtype != n.type.dtype:
        return None
    inner = Node(n.op, new_inputs, n.attrs, t, n.loc, n.device)
    return Node("reshape", [inner], {"shape": n.type.shape}, n.type, n.loc, n.device)


@register_pass
class AlgebraicSimplify(Pass):
    name = "simplify"
    reason = ("remove identities (x*1, x-0, x/1, x**1, --x, same-type casts), fold transpose and reshape chains, "
              "move a GEMM result's row reshape below its bias and activation")

    def run(self, graph, ctx):
        for _ in range(8):  # a chain of rewrites settles in a few rounds
            mapping = {}
            users = graph.users()
            # variable updates keep their layout (updated in place); outputs may be a
            # reshape of a kernel's result (stored straight into the output buffer)
            updates = {u.id for u in graph.var_updates.values()}
            for n in graph.nodes:
                n.inputs = [mapping.get(i.id, i) for i in n.inputs]
                r = _simplify(n, ctx.target)
                if r is None and ctx.target == "cpu":  # the CPU GEMM's epilogue is what it enables
                    r = _sink_row_reshape(n, users, updates)
                if r is not None and r is not n:
                    mapping[n.id] = r
            if not mapping:
                return
            graph.replace_all_uses(mapping)
            graph.sort()
