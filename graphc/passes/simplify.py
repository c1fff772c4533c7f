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


def _implicit_patches(n: Node):
    """matmul(reshape(extract_patches(x)), B) -> patches_matmul(x, B), and the filter
    gradient's matmul(transpose(reshape(extract_patches(x))), dY) -> the transposed form.

    The GEMM step of patches_matmul builds the patch matrix a cache-sized block of rows
    at a time right before packing it (codegen/conv_gemm.py), instead of reading a patch
    matrix KH*KW times the size of the input back from memory; a training step's two
    GEMMs on one patch matrix each rebuild their blocks, and the matrix is never stored."""
    from .fusion import uses_gemm

    if n.op != "matmul" or n.type.ndim != 2 or not uses_gemm(n):
        return None
    a, b = n.inputs
    transposed = a.op == "transpose" and tuple(a.attrs["perm"]) == (1, 0)
    if transposed:
        a = a.inputs[0]
    if a.op != "reshape" or a.inputs[0].op != "extract_patches" or b.type.ndim != 2:
        return None
    p = a.inputs[0]
    x = p.inputs[0]
    if x.type.dtype != n.type.dtype or any(isinstance(d, str) for d in x.type.shape[1:]):
        return None  # only the batch may be symbolic: the row -> (n, i, j) map is static
    kh, kw = p.attrs["ksize"]
    if a.type.shape[1] != kh * kw * x.type.shape[3]:
        return None
    attrs = {k: p.attrs[k] for k in ("ksize", "strides", "dilations", "pads")}
    return Node("patches_matmul", [x, b], {**attrs, "transpose_a": transposed}, n.type, n.loc, n.device)


def _transposed_conv_input_grad(n: Node, users: dict):
    """extract_patches_grad(reshape(dY @ B)) with stride 1 -> a convolution of dY.

    The input gradient of a stride-1 convolution (B = the filters as (O, KH*KW*C)) is
    the "full" convolution of dY with the filters flipped in space and their channels
    swapped, padded by k_eff - 1 - pad on each side. As patches_matmul it needs no
    (N*OH*OW, KH*KW*C) patch gradient in memory and no col2im pass reading it back:
    the GEMM writes (N*H*W, C) directly, and the activation's gradient mask after it
    becomes its epilogue. Strided convolutions keep col2im (their transposed
    convolution would read a zero-dilated dY)."""
    from ..ops.registry import get_op as op_of
    from .fusion import uses_gemm

    if n.op != "extract_patches_grad" or tuple(n.attrs["strides"]) != (1, 1):
        return None
    r = n.inputs[0]
    if r.op != "reshape" or r.inputs[0].op != "matmul" or len(users.get(r.inputs[0].id, ())) != 1:
        return None
    mm = r.inputs[0]
    g, b = mm.inputs
    if mm.type.ndim != 2 or b.type.ndim != 2 or any(isinstance(d, str) for d in n.type.shape[1:]):
        return None
    batch, h, w, c = n.type.shape
    kh, kw = n.attrs["ksize"]
    dh, dw = n.attrs["dilations"]
    (pt, pb), (pl, pr) = n.attrs["pads"]
    oh, ow, o = r.type.shape[1], r.type.shape[2], g.type.shape[1]
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    pads = ((eh - 1 - pt, eh - 1 - pb), (ew - 1 - pl, ew - 1 - pr))
    if min(min(p) for p in pads) < 0 or b.type.shape != (o, kh * kw * c) or g.type.dtype != n.type.dtype:
        return None  # padding wider than the window: not a "full" convolution
    dt, loc, dev = n.type.dtype, n.loc, n.device

    def node(op, inputs, out_shape, **attrs):
        return Node(op, inputs, attrs, TensorType(out_shape, dt), loc, dev)

    # filters[a, b, c, o] = B[o, (a*kw + b)*c + c]  ->  flipped[a, b, o, c] = filters[kh-1-a, kw-1-b, c, o]
    f = node("reshape", [b], (o, kh, kw, c), shape=(o, kh, kw, c))
    f = node("transpose", [f], (kh, kw, o, c), perm=(1, 2, 0, 3))
    f = node("slice", [f], (kh, kw, o, c), starts=(kh - 1, kw - 1, 0, 0), steps=(-1, -1, 1, 1), shape=(kh, kw, o, c))
    f = node("reshape", [f], (kh * kw * o, c), shape=(kh * kw * o, c))
    dy = node("reshape", [g], (batch, oh, ow, o), shape=(batch, oh, ow, o))
    attrs = {"ksize": (kh, kw), "strides": (1, 1), "dilations": (dh, dw), "pads": pads, "transpose_a": False}
    t = op_of("patches_matmul").infer([dy.type, f.type], attrs)
    pm = Node("patches_matmul", [dy, f], attrs, t, loc, dev)
    if not uses_gemm(pm):
        return None
    return node("reshape", [pm], n.type.shape, shape=n.type.shape)


def _simplify(n: Node, target: str = "cpu", placement: bool = False):
    op = n.op
    if target == "cpu":  # the CPU GEMM's row-order reads; other targets reduce as they are
        # (patches_matmul has only the CPU GEMM's lowering: not where placement may pick a GPU)
        as_gemm = _column_sum_as_gemm(n) or (None if placement else _implicit_patches(n))
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
        if (i.op == "reshape" and (i.inputs[0].op in ("matmul", "patches_matmul") or get_op(i.inputs[0].op).kind == "elementwise")
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
                placement = bool(ctx.options.get("placement"))
                r = _simplify(n, ctx.target, placement)
                if r is None and ctx.target == "cpu" and not placement:
                    r = _transposed_conv_input_grad(n, users)
                if r is None and ctx.target == "cpu":  # the CPU GEMM's epilogue is what it enables
                    r = _sink_row_reshape(n, users, updates)
                if r is not None and r is not n:
                    mapping[n.id] = r
            if not mapping:
                return
            graph.replace_all_uses(mapping)
            graph.sort()
