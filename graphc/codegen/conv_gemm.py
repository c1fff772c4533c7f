"""Implicit-GEMM convolution: the GEMM step of ``patches_matmul`` (graphc/ops/conv.py).

A convolution is a GEMM on its patch matrix P (N*OH*OW rows, KH*KW*C columns; row
(n, i, j) holds the KH x KW window of output pixel (i, j), channels innermost). Written
to memory whole, P is KH*KW times the input (14.5 MB for the MNIST CNN's second conv at
batch 64), written once and read back by the GEMM's packing from beyond the caches.
Here each row chunk of the step builds P a block of rows at a time into a small buffer
(sized from the CPU model's L2) and runs the unchanged packed GEMM (gemm.py: packing,
micro-kernel, overflow repair) on that block while it is in cache:

- forward, C = P @ W: block of rows [r0, r1) of P -> rows [r0, r1) of C, then the
  epilogue (bias, activation) on those rows;
- filter gradient, C = P^T @ dY: block [r0, r1) of P is a slice of the GEMM's K; each
  block accumulates into C (the GEMM adds block partial sums as it adds its own KC
  blocks). Row chunks split C's rows (the KH*KW*C taps), so every chunk builds the
  whole of P, block by block.

Building a row: for each tap (a, b) of the window, the C channels of input pixel
(i*sh + a*dh - pt, j*sw + b*dw - pl) are contiguous in NHWC: one vector copy of C
elements, or zeros where the pixel lies in the padding. With fewer channels than a vector
holds (C = 1 or 3 in a first layer) the block is built tap-major instead (``tap_major``).
"""
from __future__ import annotations

import llvmlite.ir as ir

from .gemm import counted_loop, gemm_config

I64 = ir.IntType(64)
_ALIGN = 64
# Windows of at most this many taps build a row with straight-line code (row-major), and
# of at most UNROLL_COLUMNS taps x channels their columns (tap-major: three loops per
# column, so LLVM's time grows fast with it: 63 columns took ~5 s to compile).
UNROLL_TAPS = 64
UNROLL_COLUMNS = 16


def geometry(node) -> dict:
    """Static sizes of a patches_matmul node's convolution (the batch may be symbolic)."""
    from ..ops.conv import _patches_geometry

    x = node.inputs[0]
    _, h, w, c = x.type.shape
    oh, ow = _patches_geometry(x.type.shape, node.attrs)
    (pt, _), (pl, _) = node.attrs["pads"]
    kh, kw = node.attrs["ksize"]
    return {"H": h, "W": w, "C": c, "OH": oh, "OW": ow, "KH": kh, "KW": kw, "pt": pt, "pl": pl,
            "strides": tuple(node.attrs["strides"]), "dilations": tuple(node.attrs["dilations"]),
            "cols": kh * kw * c}


def block_rows(node, model=None) -> int:
    """Patch-matrix rows built per block: the block and the rows of the other operand or
    result it meets ((cols + N) elements a row) fill half of L2. The forward rounds to
    the micro-kernel's MR (whole A panels); the filter gradient's blocks are the GEMM's
    K, at least KC (each block adds a pass over C, the GEMM's own K blocking)."""
    from .cpu import current_model

    m = model or current_model()
    dt = node.type.dtype
    size = 4 if dt == "float32" else 8
    cfg = gemm_config(dt, m)
    cols = geometry(node)["cols"]
    n = node.type.shape[-1]
    rows = (m.l2 // 2) // ((cols + n) * size)
    if node.attrs["transpose_a"]:
        return max(cfg.KC, rows - rows % cfg.KC)
    return max(cfg.MR, rows - rows % cfg.MR)


def _patch_bytes(node, model=None) -> int:
    size = 4 if node.type.dtype == "float32" else 8
    return -(-block_rows(node, model) * geometry(node)["cols"] * size // _ALIGN) * _ALIGN


def prepacks_b(node) -> bool:
    """Whether the step packs B once per row chunk (the forward: every block of rows
    multiplies the same B) and runs the GEMM variant reading it packed; the filter
    gradient's B (dY) changes with every block."""
    return not node.attrs["transpose_a"]


def block_bytes(node, model=None) -> int:
    """Bytes of one chunk's scratch: the patch block, then (prepacks_b) the packed B
    (gemm.packed_b_elems), each 64-byte aligned."""
    from .gemm import packed_b_elems

    nbytes = _patch_bytes(node, model) + _ALIGN
    if prepacks_b(node):
        size = 4 if node.type.dtype == "float32" else 8
        k, n = geometry(node)["cols"], node.type.shape[-1]
        nbytes += -(-packed_b_elems(node.type.dtype, k, n, model) * size // _ALIGN) * _ALIGN
    return nbytes


def emit_patch_rows(b, T, X, geo, r0, r1, dst, lanes):
    """Rows [r0, r1) of the patch matrix of the NHWC input X into dst (row-major)."""
    c64 = lambda v: ir.Constant(I64, v)  # noqa: E731
    H, W, C, OH, OW = geo["H"], geo["W"], geo["C"], geo["OH"], geo["OW"]
    (sh, sw), (dh, dw) = geo["strides"], geo["dilations"]
    cols = geo["cols"]
    VT = ir.VectorType(T, lanes)
    zero = ir.Constant(T, 0.0)
    vzero = ir.Constant(VT, [0.0] * lanes)
    nvec = C // lanes if lanes > 1 else 0

    def copy_or_zero(src, out, inside):
        """C channels from src, or zeros where ``inside`` is false, to out: vectors, then a
        scalar tail. Branch-free (src is a valid pixel either way): which taps fall in
        the padding changes from row to row, a branch on it would be mispredicted."""
        if nvec:
            with counted_loop(b, 0, nvec, 1, "cv") as v:
                off = b.mul(v, c64(lanes))
                vptr = lambda p: b.bitcast(b.gep(p, [off], inbounds=True), VT.as_pointer())  # noqa: E731
                b.store(b.select(inside, b.load(vptr(src), align=1), vzero), vptr(out), align=1)
        for k in range(nvec * lanes, C):
            val = b.load(b.gep(src, [c64(k)], inbounds=True))
            b.store(b.select(inside, val, zero), b.gep(out, [c64(k)], inbounds=True))

    for_each = _for_each_tap(b, geo["KH"] * geo["KW"] <= UNROLL_TAPS)
    with counted_loop(b, r0, r1, 1, "prow") as r:
        img = b.sdiv(r, c64(OH * OW))
        rem = b.srem(r, c64(OH * OW))
        i, j = b.sdiv(rem, c64(OW)), b.srem(rem, c64(OW))
        row = b.gep(dst, [b.mul(b.sub(r, r0), c64(cols))], inbounds=True)
        base = b.mul(img, c64(H * W * C))
        def tap_row(a):
            y = b.add(b.mul(i, c64(sh)), b.sub(b.mul(a, c64(dh)), c64(geo["pt"])))
            y_ok = b.and_(b.icmp_signed(">=", y, c64(0)), b.icmp_signed("<", y, c64(H)))
            for_each(geo["KW"], "tb", lambda t: tap(a, t, y, y_ok))

        def tap(a, t, y, y_ok):
            x = b.add(b.mul(j, c64(sw)), b.sub(b.mul(t, c64(dw)), c64(geo["pl"])))
            ok = b.and_(y_ok, b.and_(b.icmp_signed(">=", x, c64(0)), b.icmp_signed("<", x, c64(W))))
            # clamped so that the (unused) address of a padding tap stays inside X
            pix = b.select(ok, b.add(b.mul(y, c64(W)), x), c64(0))
            src = b.gep(X, [b.add(base, b.mul(pix, c64(C)))], inbounds=True)
            out = b.gep(row, [b.mul(b.add(b.mul(a, c64(geo["KW"])), t), c64(C))], inbounds=True)
            copy_or_zero(src, out, ok)

        for_each(geo["KH"], "ta", tap_row)


def tap_major(geo, lanes) -> bool:
    """Whether to build the block tap-major (column k of P contiguous over the rows): when a
    tap's C channels fill less than a vector. A row-major row then copies C scalars per
    tap (the first layer of an image model: C = 1 or 3), while tap-major, each tap of a
    run of consecutive output pixels in one output row reads consecutive input pixels:
    a vectorizable copy, and the GEMM packs rows of a contiguous column with vector copies."""
    return geo["C"] < lanes


def emit_patch_columns(b, T, X, geo, r0, r1, dst, ld):
    """Rows [r0, r1) of the patch matrix into dst tap-major: P[r, k] at dst[k*ld + r - r0].

    The rows go by runs of one output row (n, i): output pixels j0..j0+len. For tap
    (a, t) input column j*sw + t*dw - pl lies inside [0, W) exactly for j in
    [jlo, jhi), and row y for all or none of the run, so each tap and channel is a zero
    fill, a strided copy and a zero fill (unrolled, with constant bounds, for up to
    UNROLL_COLUMNS taps x channels; loops otherwise, which keeps code size bounded)."""
    c64 = lambda v: ir.Constant(I64, v)  # noqa: E731
    H, W, C, OH, OW = geo["H"], geo["W"], geo["C"], geo["OH"], geo["OW"]
    (sh, sw), (dh, dw) = geo["strides"], geo["dilations"]
    zero = ir.Constant(T, 0.0)

    def clamp(v, lo, hi):
        v = b.select(b.icmp_signed("<", v, lo), lo, v)
        return b.select(b.icmp_signed(">", v, hi), hi, v)

    def fill(col, lo, hi, value_at):
        with counted_loop(b, lo, hi, 1, "pc") as q:
            b.store(value_at(q), b.gep(col, [q], inbounds=True))

    pre = b.block
    head = b.append_basic_block("prun.head")
    body = b.append_basic_block("prun.body")
    done = b.append_basic_block("prun.end")
    b.branch(head)
    b.position_at_end(head)
    r = b.phi(I64, "r")
    r.add_incoming(r0, pre)
    b.cbranch(b.icmp_signed("<", r, r1), body, done)
    b.position_at_end(body)
    img = b.sdiv(r, c64(OH * OW))
    rem = b.srem(r, c64(OH * OW))
    i, j0 = b.sdiv(rem, c64(OW)), b.srem(rem, c64(OW))
    run = b.sub(c64(OW), j0)
    run = b.select(b.icmp_signed("<", run, b.sub(r1, r)), run, b.sub(r1, r))
    out = b.gep(dst, [b.sub(r, r0)], inbounds=True)
    for_each = _for_each_tap(b, geo["KH"] * geo["KW"] * C <= UNROLL_COLUMNS)

    def ceil_div_pos(v):  # ceil(v / sw) for v > 0, else 0
        q = b.sdiv(b.add(v, c64(sw - 1)), c64(sw))
        return b.select(b.icmp_signed(">", v, c64(0)), q, c64(0))

    def tap_row(a):
        y = b.add(b.mul(i, c64(sh)), b.sub(b.mul(a, c64(dh)), c64(geo["pt"])))
        y_ok = b.and_(b.icmp_signed(">=", y, c64(0)), b.icmp_signed("<", y, c64(H)))
        row = b.mul(b.add(b.mul(img, c64(H)), y), c64(W))
        for_each(geo["KW"], "tb", lambda t: tap(a, t, y_ok, row))

    def tap(a, t, y_ok, row):
        shift = b.sub(b.mul(t, c64(dw)), c64(geo["pl"]))
        jlo = ceil_div_pos(b.sub(c64(0), shift))       # j*sw + shift >= 0
        jhi = clamp(ceil_div_pos(b.sub(c64(W), shift)), jlo, c64(OW))  # ... < W
        lo = clamp(b.sub(jlo, j0), c64(0), run)
        hi = clamp(b.sub(jhi, j0), lo, run)
        lo, hi = b.select(y_ok, lo, c64(0)), b.select(y_ok, hi, c64(0))  # a padding row: zeros
        k0 = b.mul(b.add(b.mul(a, c64(geo["KW"])), t), c64(C))
        for_each(C, "tc", lambda c: channel(b.add(k0, c), c, row, shift, lo, hi))

    def channel(k, c, row, shift, lo, hi):
        col = b.gep(out, [b.mul(k, c64(ld))], inbounds=True)

        def pixel(q):
            xcol = b.add(b.mul(b.add(j0, q), c64(sw)), shift)
            return b.load(b.gep(X, [b.add(b.mul(b.add(row, xcol), c64(C)), c)], inbounds=True))

        fill(col, c64(0), lo, lambda q: zero)
        fill(col, lo, hi, pixel)
        fill(col, hi, run, lambda q: zero)

    for_each(geo["KH"], "ta", tap_row)
    r.add_incoming(b.add(r, run), b.block)
    b.branch(head)
    b.position_at_end(done)


def _for_each_tap(b, unroll):
    """for_each(n, name, body): body(tap index) for each of n taps, unrolled (constant
    indices; a small window's per-tap work is a few instructions) or as a loop."""
    def for_each(n, name, body):
        if unroll:
            for k in range(n):
                body(ir.Constant(I64, k))
            return
        with counted_loop(b, 0, n, 1, name) as k:
            body(k)
    return for_each


def emit_chunk(b, T, node, fns, X, B, b_strides, C, m0, m1, sizes, pack, block, lanes, packed_fns=None):
    """One row chunk [m0, m1) of C of a patches_matmul GEMM step (see the module docstring).

    fns: the GEMM, the overflow repair and the epilogue (or None) with its context;
    sizes: M, N and rows of P as i64 values; block: this chunk's scratch (block_bytes);
    packed_fns (prepacks_b): the GEMM reading a packed B and the packer of B."""
    gemm_fn, overflow_fn, epi_fn, epi_ctx = fns
    M, N, rows = sizes
    b_rs, b_cs = b_strides
    c64 = lambda v: ir.Constant(I64, v)  # noqa: E731
    geo = geometry(node)
    cols = c64(geo["cols"])
    R = c64(block_rows(node))
    addr = b.ptrtoint(block, I64)
    block = b.inttoptr(b.and_(b.add(addr, c64(_ALIGN - 1)), c64(-_ALIGN)), block.type)
    if tap_major(geo, lanes):  # element (r, k) of the block at k*R + r
        p_rs, p_cs = c64(1), R

        def build(r0, r1):
            emit_patch_columns(b, T, X, geo, r0, r1, block, R.constant)
    else:  # at r*cols + k
        p_rs, p_cs = cols, c64(1)

        def build(r0, r1):
            emit_patch_rows(b, T, X, geo, r0, r1, block, lanes)
    if not node.attrs["transpose_a"]:
        # C[r0:r1] = P[r0:r1] @ B, block by block of the chunk's rows, each then post-processed;
        # B packed once for all of them (the fixup reads B itself)
        bpacked_fn, pack_b_fn = packed_fns
        packed = b.gep(block, [c64(_patch_bytes(node) // (4 if node.type.dtype == "float32" else 8))], inbounds=True)
        with b.if_then(b.icmp_signed("<", m0, m1)):
            b.call(pack_b_fn, [cols, N, B, b_rs, b_cs, packed])
        with counted_loop(b, m0, m1, R, "blk") as r0:
            r1 = b.select(b.icmp_signed("<", b.add(r0, R), m1), b.add(r0, R), m1)
            n = b.sub(r1, r0)
            build(r0, r1)
            c_rows = b.gep(C, [b.mul(r0, N)], inbounds=True)
            b.call(bpacked_fn, [n, N, cols, block, p_rs, p_cs, packed, b_rs, b_cs, c_rows, N, c64(0), c64(0), n,
                                pack])
            b.call(overflow_fn, [N, cols, block, p_rs, p_cs, B, b_rs, b_cs, c_rows, N, c64(0), n])
            if epi_fn is not None:
                b.call(epi_fn, [epi_ctx, r0, r1])
        return
    # C[m0:m1] (+)= P[r0:r1]^T @ B[r0:r1]: the blocks are slices of K. The loop runs at
    # least once, so with no rows at all (an empty batch) the GEMM still zeroes C.
    pre = b.block
    body = b.append_basic_block("kblk.body")
    done = b.append_basic_block("kblk.end")
    b.branch(body)
    b.position_at_end(body)
    r0 = b.phi(I64, "r0")
    r0.add_incoming(c64(0), pre)
    r1 = b.select(b.icmp_signed("<", b.add(r0, R), rows), b.add(r0, R), rows)
    k = b.sub(r1, r0)
    build(r0, r1)
    b_rows = b.gep(B, [b.mul(r0, b_rs)], inbounds=True)
    accumulate = b.zext(b.icmp_signed(">", r0, c64(0)), I64)
    # A = P^T: element (k, r) of the block
    b.call(gemm_fn, [M, N, k, block, p_cs, p_rs, b_rows, b_rs, b_cs, C, N, accumulate, m0, m1, pack])
    b.call(overflow_fn, [N, k, block, p_cs, p_rs, b_rows, b_rs, b_cs, C, N, m0, m1])
    nxt = b.add(r0, R)
    r0.add_incoming(nxt, b.block)
    b.cbranch(b.icmp_signed("<", nxt, rows), body, done)
    b.position_at_end(done)
    if epi_fn is not None:
        b.call(epi_fn, [epi_ctx, m0, m1])
