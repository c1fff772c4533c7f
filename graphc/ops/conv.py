"""conv2d, conv2d_transpose (NHWC input, HWIO filters) as im2col + matmul.

conv2d gathers every filter tap of every output pixel into a patch matrix
(N*OH*OW, KH*KW*C) and multiplies it by the filters reshaped to (KH*KW*C, O), so the
whole convolution runs on the GEMM kernel and its bias/activation epilogue fuses like
a dense layer's.

The patch matrix comes from one primitive, ``extract_patches`` (tf.image.extract_patches
with TF's padding): each element is one load from the input or a padding zero. A
composite of strided slices and a concatenate would compute the same values, but as
a chain of selects that loads all KH*KW taps per element and, inlined into the matmul,
is recomputed for every output channel. The op is "opaque" so fusion materializes the
patch matrix once, as the GEMM operand. Its gradient, ``extract_patches_grad`` (col2im),
is the second primitive (see there why), and each is the other's gradient. On the CPU
the patch matrix is never stored: the simplify pass turns the GEMMs on it into
``patches_matmul`` (below), whose GEMM step builds it block by block in cache.

Output sizes and padding follow TF: SAME gives ceil(in/stride) with the padding split
total//2 before and the rest after; VALID gives ceil((in - k_eff + 1)/stride), where
k_eff = (k - 1)*dilation + 1.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..ir import TensorType
from ..symbolic import dim_mul
from ..tracing import bind
from .common import promote, shape_of
from .registry import defop

# -- argument normalization (shared with pool.py) --------------------------------------------


def spatial_pair(value, name, n_spatial=2):
    """int, (h, w) or TF's 4-element NHWC list [1, h, w, 1] -> (h, w)."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n_spatial
    v = tuple(int(x) for x in value)
    if len(v) == n_spatial:
        return v
    if len(v) == n_spatial + 2:
        if v[0] != 1 or v[-1] != 1:
            raise ShapeError(f"{name}: the batch and channel entries of a 4-element {name} must be 1, got {list(v)}")
        return v[1:-1]
    raise ShapeError(f"{name} must be an int, {n_spatial} ints or {n_spatial + 2} ints, got {value!r}")


def same_valid_padding(size, k, stride, dilation, padding):
    """(output size, pad_before, pad_after) for one spatial axis, TF's rule.

    ``padding`` is "SAME", "VALID" or an explicit (before, after) pair.
    """
    k_eff = (k - 1) * dilation + 1
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "SAME":
            out = -(-size // stride)
            total = max((out - 1) * stride + k_eff - size, 0)
            return out, total // 2, total - total // 2
        if mode == "VALID":
            out = max(-(-(size - k_eff + 1) // stride), 0)
            return out, 0, 0
        raise ShapeError(f"padding must be 'SAME', 'VALID' or explicit pairs, got {padding!r}")
    before, after = (int(p) for p in padding)
    if before < 0 or after < 0:
        raise ShapeError(f"explicit padding must be non-negative, got {padding!r}")
    out = max((size + before + after - k_eff) // stride + 1, 0)
    return out, before, after


def explicit_pads(padding):
    """TF's explicit padding [[0,0],[t,b],[l,r],[0,0]] (or [[t,b],[l,r]]) -> ((t,b),(l,r)); strings pass."""
    if isinstance(padding, str):
        return (padding, padding)
    pads = [tuple(int(v) for v in p) for p in padding]
    if len(pads) == 4:
        if pads[0] != (0, 0) or pads[3] != (0, 0):
            raise ShapeError(f"explicit padding of the batch and channel axes must be 0, got {padding!r}")
        pads = pads[1:3]
    if len(pads) != 2 or any(len(p) != 2 for p in pads):
        raise ShapeError(f"explicit padding needs two (before, after) pairs, got {padding!r}")
    return tuple(pads)


# -- extract_patches (primitive) ------------------------------------------------------------------


def _patches_geometry(xshape, attrs):
    n, h, w, c = xshape
    kh, kw = attrs["ksize"]
    sh, sw = attrs["strides"]
    dh, dw = attrs["dilations"]
    (pt, pb), (pl, pr) = attrs["pads"]
    oh = max((h + pt + pb - ((kh - 1) * dh + 1)) // sh + 1, 0)
    ow = max((w + pl + pr - ((kw - 1) * dw + 1)) // sw + 1, 0)
    return oh, ow


def _patches_infer(types, attrs):
    (t,) = types
    if t.ndim != 4:
        raise ShapeError(f"extract_patches needs an NHWC input, got shape {t.shape}")
    oh, ow = _patches_geometry(t.shape, attrs)
    kh, kw = attrs["ksize"]
    return TensorType((t.shape[0], oh, ow, kh, kw, t.shape[3]), t.dtype)


def _patches_impl(attrs, x):
    n, h, w, c = x.shape
    kh, kw = attrs["ksize"]
    sh, sw = attrs["strides"]
    dh, dw = attrs["dilations"]
    (pt, pb), (pl, pr) = attrs["pads"]
    oh, ow = _patches_geometry(x.shape, attrs)
    xp = np.zeros((n, h + pt + pb, w + pl + pr, c), x.dtype)
    xp[:, pt:pt + h, pl:pl + w, :] = x
    out = np.zeros((n, oh, ow, kh, kw, c), x.dtype)
    for a in range(kh):
        for b in range(kw):
            out[:, :, :, a, b, :] = xp[:, a * dh: a * dh + (oh - 1) * sh + 1: sh,
                                       b * dw: b * dw + (ow - 1) * sw + 1: sw, :]
    return out


def _patches_emit(kb, node, idx):
    """out[n, i, j, a, b, c] = x[n, i*sh + a*dh - pt, j*sw + b*dw - pl, c], 0 outside."""
    (x,) = node.inputs
    _, h, w, _ = x.type.shape
    sh, sw = node.attrs["strides"]
    dh, dw = node.attrs["dilations"]
    (pt, pb), (pl, pr) = node.attrs["pads"]
    n, i, j, a, b, c = idx
    inside = None
    coords = []
    for o, k, s, d, before, after, size in ((i, a, sh, dh, pt, pb, h), (j, b, sw, dw, pl, pr, w)):
        v = kb.iadd(kb.iadd(kb.imul(o, kb.index(s)), kb.imul(k, kb.index(d))), kb.index(-before))
        if before == 0 and after == 0:
            coords.append(v)  # unpadded axis: every window lies inside the input
            continue
        ok = kb.logical("and", kb.cmp(">=", v, kb.index(0)), kb.cmp("<", v, kb.index(size)))
        inside = ok if inside is None else kb.logical("and", inside, ok)
        coords.append(kb.select(ok, v, kb.index(0)))
    value = kb.read(x, [n, coords[0], coords[1], c])
    if inside is None:
        return value
    return kb.select(inside, value, kb.const(0, node.type.dtype))


def _patches_vjp(g, ins, out, attrs):
    (x,) = ins
    return [bind("extract_patches_grad", [g], in_shape=tuple(shape_of(x)), **attrs)]


defop("extract_patches", "opaque", _patches_infer, _patches_impl, emit=_patches_emit, vjp=_patches_vjp)


# -- extract_patches_grad (col2im, primitive) -------------------------------------------------------
# The adjoint of extract_patches: every input cell sums the patch entries that copied it.
# As a composite (a sum of KH*KW zero-scatters) it is correct but fusion inlines it into
# whatever consumes it (the max-pool gradient reads it at four indices per cell), which
# recomputes the KH*KW-term sum for every read: 10x slower training steps. As its own
# opaque op it is computed once, into memory. Its own gradient is extract_patches.


def _patches_grad_infer(types, attrs):
    (g,) = types
    n, h, w, c = attrs["in_shape"]
    expect = _patches_infer([TensorType(attrs["in_shape"], g.dtype)], attrs).shape
    if g.shape != expect:
        raise ShapeError(f"extract_patches_grad: gradient of shape {g.shape} does not match patches {expect}")
    return TensorType(tuple(attrs["in_shape"]), g.dtype)


def _patches_grad_impl(attrs, g):
    n, h, w, c = attrs["in_shape"]
    kh, kw = attrs["ksize"]
    sh, sw = attrs["strides"]
    dh, dw = attrs["dilations"]
    (pt, pb), (pl, pr) = attrs["pads"]
    oh, ow = g.shape[1], g.shape[2]
    xp = np.zeros((n, h + pt + pb, w + pl + pr, c), g.dtype)
    for a in range(kh):
        for b in range(kw):
            xp[:, a * dh: a * dh + (oh - 1) * sh + 1: sh, b * dw: b * dw + (ow - 1) * sw + 1: sw, :] += g[:, :, :, a, b, :]
    return xp[:, pt:pt + h, pl:pl + w, :].copy()


def _tap_source(kb, pos, k, stride, dilation, before, n_out):
    """Output index o with o*stride + k*dilation - before == pos, and whether it exists."""
    rel = kb.iadd(pos, kb.index(before - k * dilation))
    ok = kb.logical("and", kb.cmp(">=", rel, kb.index(0)), kb.cmp("<", rel, kb.index((n_out - 1) * stride + 1)))
    rel = kb.select(ok, rel, kb.index(0))
    if stride != 1:
        ok = kb.logical("and", ok, kb.cmp("==", kb.imod(rel, kb.index(stride)), kb.index(0)))
        rel = kb.idiv(rel, kb.index(stride))
    return rel, ok


def _patches_grad_emit(kb, node, idx):
    (g,) = node.inputs
    n, h, w, c = idx
    kh, kw = node.attrs["ksize"]
    sh, sw = node.attrs["strides"]
    dh, dw = node.attrs["dilations"]
    (pt, _), (pl, _) = node.attrs["pads"]
    oh, ow = g.type.shape[1], g.type.shape[2]
    zero = kb.const(0, node.type.dtype)
    total = zero
    rows = [_tap_source(kb, h, a, sh, dh, pt, oh) for a in range(kh)]
    cols = [_tap_source(kb, w, b, sw, dw, pl, ow) for b in range(kw)]
    for a, (i, ok_i) in enumerate(rows):
        for b, (j, ok_j) in enumerate(cols):
            v = kb.read(g, [n, i, j, kb.index(a), kb.index(b), c])
            total = kb.add(total, kb.select(kb.logical("and", ok_i, ok_j), v, zero))
    return total


def _patches_grad_vjp(gg, ins, out, attrs):
    a = {k: v for k, v in attrs.items() if k != "in_shape"}
    return [bind("extract_patches", [gg], **a)]


defop("extract_patches_grad", "opaque", _patches_grad_infer, _patches_grad_impl, emit=_patches_grad_emit,
      vjp=_patches_grad_vjp)


# -- patches_matmul (primitive of the CPU GEMM: an implicit-GEMM convolution) -------------------------
# matmul(reshape(extract_patches(x), (rows, KH*KW*C)), B), or with the patch matrix
# transposed (a filter gradient, P^T @ dY). The simplify pass rewrites those patterns into
# this op on the CPU (graphc/passes/simplify.py); its GEMM step builds the patch matrix a
# block of rows at a time in a cache-sized buffer right before the GEMM packs it
# (graphc/codegen/conv_gemm.py), so the whole patch matrix (KH*KW times the input) never
# goes through memory. Never traced by users: conv2d stays extract_patches + matmul, which
# differentiate as they are.

PATCH_ATTRS = ("ksize", "strides", "dilations", "pads")


def patch_matrix_shape(xshape, attrs):
    """(rows, columns) of the patch matrix of an NHWC input: (N*OH*OW, KH*KW*C)."""
    oh, ow = _patches_geometry(xshape, attrs)
    kh, kw = attrs["ksize"]
    return dim_mul(xshape[0], oh, ow), kh * kw * xshape[3]


def _pm_infer(types, attrs):
    x, b = types
    if x.ndim != 4 or b.ndim != 2 or x.dtype != b.dtype:
        raise ShapeError(f"patches_matmul needs an NHWC input and a matrix of one dtype, got {x} and {b}")
    rows, cols = patch_matrix_shape(x.shape, attrs)
    inner, outer = (rows, cols) if attrs["transpose_a"] else (cols, rows)
    if b.shape[0] != inner:
        raise ShapeError(f"patches_matmul: patch matrix {(rows, cols)}{'^T' if attrs['transpose_a'] else ''} "
                         f"cannot multiply {tuple(b.shape)}")
    return TensorType((outer, b.shape[1]), x.dtype)


def _pm_impl(attrs, x, b):
    p = _patches_impl(attrs, x)
    p = p.reshape(-1, p.shape[3] * p.shape[4] * p.shape[5])
    return np.matmul(p.T if attrs["transpose_a"] else p, b)


def _pm_vjp(g, ins, out, attrs):
    from .linalg import matmul
    from .shape_ops import reshape, transpose

    x, b = ins
    geom = {k: attrs[k] for k in PATCH_ATTRS}
    xs = tuple(shape_of(x))
    kh, kw = attrs["ksize"]
    oh, ow = _patches_geometry(xs, attrs)
    if attrs["transpose_a"]:  # out = P^T b: dP = b g^T, db = P g
        dp, db = matmul(b, transpose(g, (1, 0))), bind("patches_matmul", [x, g], transpose_a=False, **geom)
    else:  # out = P b: dP = g b^T, db = P^T g
        dp, db = matmul(g, transpose(b, (1, 0))), bind("patches_matmul", [x, g], transpose_a=True, **geom)
    dx = bind("extract_patches_grad", [reshape(dp, (xs[0], oh, ow, kh, kw, xs[3]))], in_shape=xs, **geom)
    return [dx, db]


def _pm_emit(kb, node, idx):
    """Loop-nest lowering (where no GEMM step runs it, e.g. an exported program's small
    case): one dot product per output element, each patch entry read through the
    im2col map of extract_patches."""
    from types import SimpleNamespace

    x, b = node.inputs
    c = x.type.shape[3]
    oh, ow = _patches_geometry(x.type.shape, node.attrs)
    kh, kw = node.attrs["ksize"]
    rows, cols = patch_matrix_shape(x.type.shape, node.attrs)
    view = SimpleNamespace(inputs=[x], attrs=node.attrs, type=node.type)

    def patch(r, k):  # P[r, k] = patches[n, i, j, a, b, c] for r = (n, i, j), k = (a, b, c)
        pix, tap = kb.imod(r, kb.index(oh * ow)), kb.imod(k, kb.index(kw * c))
        return _patches_emit(kb, view, [kb.idiv(r, kb.index(oh * ow)), kb.idiv(pix, kb.index(ow)),
                                        kb.imod(pix, kb.index(ow)), kb.idiv(k, kb.index(kw * c)),
                                        kb.idiv(tap, kb.index(c)), kb.imod(tap, kb.index(c))])

    transposed = node.attrs["transpose_a"]

    def step(rv, accs):
        (k,) = rv
        pv = patch(k, idx[0]) if transposed else patch(idx[0], k)
        # a product rounded, then added (no FMA contraction), as matmul's loop nest
        return [kb.add(accs[0], kb.mul(pv, kb.read(b, [k, idx[1]])), assoc=True)]

    extent = rows if transposed else cols
    return kb.reduce(kb.deepest(*idx), [extent], [kb.const(0, node.type.dtype)], step)[0]


defop("patches_matmul", "opaque", _pm_infer, _pm_impl, emit=_pm_emit, vjp=_pm_vjp)



def _resolve(xshape, ksize, strides, dilations, padding):
    """Per-axis (out, before, after) for H and W."""
    pads = explicit_pads(padding)
    res = []
    for k in range(2):
        res.append(same_valid_padding(xshape[1 + k], ksize[k], strides[k], dilations[k], pads[k]))
    return res


def extract_patches(x, ksize, strides=1, padding="VALID", dilations=1):
    """Patches (N, OH, OW, KH, KW, C) of an NHWC input with TF's padding (zeros outside)."""
    ksize = spatial_pair(ksize, "ksize")
    strides = spatial_pair(strides, "strides")
    dilations = spatial_pair(dilations, "dilations")
    if min(strides) < 1 or min(dilations) < 1 or min(ksize) < 1:
        raise ShapeError(f"ksize, strides and dilations must be positive, got {ksize}, {strides}, {dilations}")
    xs = shape_of(x)
    if len(xs) != 4:
        raise ShapeError(f"expected an NHWC input of rank 4, got shape {tuple(xs)}")
    (_, pt, pb), (_, pl, pr) = _resolve(xs, ksize, strides, dilations, padding)
    return bind("extract_patches", [x], ksize=ksize, strides=strides, dilations=dilations,
                pads=((pt, pb), (pl, pr)))


# -- conv2d -------------------------------------------------------------------------------------------


def conv2d(x, filters, strides=1, padding="SAME", dilations=1):
    """2-D convolution (cross-correlation, as TF): NHWC input, HWIO filters.

    strides/dilations: int, (h, w) or TF's [1, h, w, 1]; padding "SAME", "VALID" or
    explicit [[0,0],[t,b],[l,r],[0,0]]. Returns (N, OH, OW, O).
    """
    from .linalg import matmul
    from .shape_ops import reshape

    _, (x, filters) = promote(x, filters, float_only=True)
    xs, fs = shape_of(x), shape_of(filters)
    if len(xs) != 4 or len(fs) != 4:
        raise ShapeError(f"conv2d needs an NHWC input and HWIO filters, got shapes {tuple(xs)} and {tuple(fs)}")
    if xs[3] != fs[2]:
        raise ShapeError(f"conv2d: input has {xs[3]} channels but the filters expect {fs[2]} "
                         f"(input {tuple(xs)}, filters {tuple(fs)})")
    kh, kw, cin, cout = fs
    strides = spatial_pair(strides, "strides")
    dilations = spatial_pair(dilations, "dilations")
    if kh == kw == 1 and strides == (1, 1) and padding in ("SAME", "VALID", "same", "valid"):
        y = matmul(reshape(x, (-1, cin)), reshape(filters, (cin, cout)))   # 1x1: a plain matmul
        return reshape(y, (xs[0], xs[1], xs[2], cout))
    p = extract_patches(x, (kh, kw), strides, padding, dilations)
    n, oh, ow = shape_of(p)[:3]
    # rows n*oh*ow: with a symbolic batch, a derived symbol such as 64*batch (graphc/symbolic.py)
    y = matmul(reshape(p, (dim_mul(n, oh, ow), kh * kw * cin)), reshape(filters, (kh * kw * cin, cout)))
    return reshape(y, (n, oh, ow, cout))


def conv2d_transpose(x, filters, output_shape, strides=1, padding="SAME"):
    """The gradient of conv2d w.r.t. its input ("deconvolution"), as tf.nn.conv2d_transpose.

    filters: (KH, KW, out_channels, in_channels), x: (N, H, W, in_channels), and
    output_shape (N, OH, OW, out_channels) is the input shape of the conv2d being
    transposed (conv2d(output, filters, strides, padding) must have x's shape).
    Computed as: x dilated by the strides (zeros between rows/columns), padded, then a
    stride-1 VALID conv2d with the filters flipped in space and their channels swapped.
    """
    from .shape_ops import getitem, transpose

    _, (x, filters) = promote(x, filters, float_only=True)
    xs, fs = shape_of(x), shape_of(filters)
    output_shape = tuple(d if isinstance(d, str) else int(d) for d in output_shape)  # the batch may be a symbol
    if len(xs) != 4 or len(fs) != 4 or len(output_shape) != 4:
        raise ShapeError(f"conv2d_transpose needs NHWC x, (KH,KW,out,in) filters and a 4-element output_shape, "
                         f"got {tuple(xs)}, {tuple(fs)}, {output_shape}")
    kh, kw, cout, cin = fs
    if xs[3] != cin or output_shape[3] != cout or output_shape[0] != xs[0]:
        raise ShapeError(f"conv2d_transpose: x {tuple(xs)}, filters {tuple(fs)} and output_shape {output_shape} "
                         f"disagree (x channels = filters[3], output channels = filters[2])")
    sh, sw = spatial_pair(strides, "strides")
    res = _resolve(output_shape, (kh, kw), (sh, sw), (1, 1), padding)
    if (res[0][0], res[1][0]) != (xs[1], xs[2]):
        raise ShapeError(f"conv2d_transpose: conv2d of output_shape {output_shape} with these strides/padding "
                         f"gives spatial size {(res[0][0], res[1][0])}, but x has {(xs[1], xs[2])}")
    n = xs[0]
    # dilate and pad in one zero-scatter: x[i] lands at row (k-1-pad_before) + i*stride
    top, left = kh - 1 - res[0][1], kw - 1 - res[1][1]
    hp, wp = output_shape[1] + kh - 1, output_shape[2] + kw - 1
    spread = bind("slice_grad", [x], in_shape=(n, hp, wp, cin), starts=(0, top, left, 0),
                  steps=(1, sh, sw, 1), shape=tuple(xs))
    flipped = getitem(transpose(filters, (0, 1, 3, 2)), (slice(None, None, -1), slice(None, None, -1)))
    return conv2d(spread, flipped, 1, "VALID")
