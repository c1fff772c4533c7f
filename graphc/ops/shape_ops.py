"""Shape ops: reshape, transpose, broadcast, slicing, concatenation.

All are pure index remappings ("injective"): their lowering reads the input at a
transformed index, so fusion inlines them for free. ``reshape`` is special: on a
contiguous buffer it is only a new shape, so the lowering treats it as an alias of its
input's memory (no kernel, no copy). expand_dims/squeeze are reshapes.
"""
from __future__ import annotations

import operator

import numpy as np

from ..errors import ArgumentError, IndexingError, ShapeError, user_source_line
from ..ir import TensorType
from ..tracing import bind, static_type
from .common import broadcast_index, dtype_of, normalize_axis, shape_of, sum_to_shape
from .registry import defop


# -- reshape -------------------------------------------------------------------------------

def _shape_entry(d) -> int:
    """A shape entry as an int; floats (6.5, even 6.0) and bools are refused, as numpy does."""
    if isinstance(d, (bool, np.bool_)):
        raise ArgumentError(f"shape entries must be integers, got {d!r}")
    try:
        return operator.index(d)
    except TypeError:
        raise ArgumentError(f"shape entries must be integers, got {type(d).__name__} {d!r}") from None


def _resolve_shape(shape, size):
    shape = tuple(_shape_entry(d) for d in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    if shape.count(-1) > 1:
        raise ShapeError("can only specify one unknown dimension (-1)")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if known == 0 or size % known:
            raise ShapeError(f"cannot reshape array of size {size} into shape {shape}")
        shape = tuple(size // known if d == -1 else d for d in shape)
    if any(d < 0 for d in shape) or int(np.prod(shape, dtype=np.int64)) != size:
        raise ShapeError(f"cannot reshape array of size {size} into shape {shape}")
    return shape


def _resolve_symbolic(shape, xs):
    """_resolve_shape when symbolic dimensions are involved (issue 13): sizes are
    products of an int and symbols; -1 stands for what is left, which may be a product
    such as 64*batch (a derived symbol, graphc/symbolic.py)."""
    from ..symbolic import factors, from_factors

    shape = tuple(d if isinstance(d, str) else _shape_entry(d) for d in shape)
    if shape.count(-1) > 1:
        raise ShapeError("can only specify one unknown dimension (-1)")

    def split(dims):
        static, syms = 1, []
        for d in dims:
            if d == -1 and not isinstance(d, str):
                continue
            k, ds = factors(d)
            static *= k
            syms += ds
        return static, sorted(syms)

    x_static, x_syms = split(xs)
    n_static, n_syms = split(shape)
    if -1 in [d for d in shape if not isinstance(d, str)]:
        rest = list(x_syms)
        for d in n_syms:
            if d not in rest:
                raise ShapeError(f"cannot reshape array of shape {tuple(xs)} into shape {shape}")
            rest.remove(d)
        if n_static == 0 or x_static % n_static:
            raise ShapeError(f"cannot reshape array of shape {tuple(xs)} into shape {shape}")
        q = x_static // n_static
        shape = tuple(from_factors(q, rest) if (not isinstance(d, str) and d == -1) else d for d in shape)
        n_static, n_syms = split(shape)
    if any(not isinstance(d, str) and d < 0 for d in shape) or (n_static, n_syms) != (x_static, x_syms):
        raise ShapeError(f"cannot reshape array of shape {tuple(xs)} into shape {shape}")
    return shape


def _reshape_infer(types, attrs):
    (t,) = types
    if not t.is_static or any(isinstance(d, str) for d in attrs["shape"]):
        return TensorType(_resolve_symbolic(attrs["shape"], t.shape), t.dtype)
    return TensorType(_resolve_shape(attrs["shape"], t.size), t.dtype)


def reshape_groups(out_shape, in_shape):
    """Runs of consecutive axes with equal products, as (output axes, input axes) pairs,
    finest first; None for symbolic or empty shapes.  (64, 7, 7, 64) <- (64, 3136) gives
    ([0], [0]) and ([1, 2, 3], [1]): the reshape then reads x[n, (i*7 + j)*64 + c]."""
    if any(isinstance(d, str) for d in (*out_shape, *in_shape)) or 0 in out_shape or 0 in in_shape:
        return None
    groups, i, j = [], 0, 0
    while i < len(out_shape) and j < len(in_shape):
        outs, ins, po, pi = [i], [j], out_shape[i], in_shape[j]
        i, j = i + 1, j + 1
        while po != pi:
            if po < pi:
                outs.append(i)
                po *= out_shape[i]
                i += 1
            else:
                ins.append(j)
                pi *= in_shape[j]
                j += 1
        groups.append((outs, ins))
    if groups:  # trailing size-1 axes join the last run
        groups[-1] = (groups[-1][0] + list(range(i, len(out_shape))), groups[-1][1] + list(range(j, len(in_shape))))
    else:
        groups = [(list(range(len(out_shape))), list(range(len(in_shape))))]
    return groups


def _reshape_index(kb, node, idx):
    """The input index of output index ``idx``, run by run of axes (reshape_groups): a
    merge of axes is a flat offset and only a split divides.  Unflattening the whole flat
    offset instead divides by every input stride, which in a fused loop (a max-pool
    gradient reading a dense layer's (batch, 3136) gradient as (batch, 7, 7, 64)) costs
    integer divisions per element that the loop vectorizer cannot vectorize."""
    out_shape, in_shape = node.type.shape, node.inputs[0].type.shape
    groups = reshape_groups(out_shape, in_shape)
    if groups is None:
        return kb.unflatten(kb.flat_index(idx, out_shape), in_shape)
    src = [None] * len(in_shape)
    for outs, ins in groups:
        flat = kb.flat_index([idx[a] for a in outs], [out_shape[a] for a in outs])
        for a, v in zip(ins, kb.unflatten(flat, [in_shape[a] for a in ins])):
            src[a] = v
    return src


def _reshape_emit(kb, node, idx):
    return kb.read(node.inputs[0], _reshape_index(kb, node, idx))


# Where an emit reads its input (the KernelBuilder emits long fused chains bottom-up with
# it instead of recursing; index arithmetic is memoized, so the indices are the same values).
_reshape_emit.input_indices = lambda kb, node, idx: [_reshape_index(kb, node, idx)]


defop("reshape", "injective", _reshape_infer, lambda a, x: np.reshape(x, a["shape"]), emit=_reshape_emit,
      vjp=lambda g, ins, out, a: [reshape(g, shape_of(ins[0]))])


def reshape(x, shape):
    """numpy.reshape (one -1 allowed)."""
    xs = shape_of(x)
    try:
        if any(isinstance(d, str) for d in xs) or any(isinstance(d, str) for d in (
                shape if isinstance(shape, (tuple, list)) else (shape,))):
            new = _resolve_symbolic(shape if isinstance(shape, (tuple, list)) else (shape,), xs)
        else:
            new = _resolve_shape(shape, int(np.prod(xs, dtype=np.int64)))
    except (ArgumentError, ShapeError) as e:
        raise type(e)(f"reshape: {e} (operand shape {tuple(xs)})\n  at {user_source_line()}") from None
    if tuple(new) == tuple(xs) and not isinstance(x, (np.ndarray, list, int, float)):
        return x
    return bind("reshape", [x], shape=new)


def expand_dims(x, axis):
    """numpy.expand_dims (int or tuple of axes)."""
    shape = list(shape_of(x))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    nd = len(shape) + len(axes)
    axes = sorted(normalize_axis(a, nd) for a in axes)
    for a in axes:
        shape.insert(a, 1)
    return reshape(x, tuple(shape))


def squeeze(x, axis=None):
    """numpy.squeeze."""
    shape = shape_of(x)
    if axis is None:
        axes = [k for k, d in enumerate(shape) if d == 1]
    else:
        axes = [normalize_axis(a, len(shape)) for a in (axis if isinstance(axis, (tuple, list)) else (axis,))]
        for a in axes:
            if shape[a] != 1:
                raise ShapeError(f"squeeze: cannot select an axis to squeeze out which has size not equal to one (axis {a} of shape {shape})")
    return reshape(x, tuple(d for k, d in enumerate(shape) if k not in axes))


# -- transpose -----------------------------------------------------------------------------

def _transpose_infer(types, attrs):
    (t,) = types
    perm = attrs["perm"]
    if sorted(perm) != list(range(t.ndim)):
        raise ShapeError(f"axes {perm} don't match array of dimension {t.ndim}")
    return TensorType(tuple(t.shape[p] for p in perm), t.dtype)


def _transpose_index(kb, node, idx):
    perm = node.attrs["perm"]
    src_idx = [None] * len(perm)
    for k, p in enumerate(perm):
        src_idx[p] = idx[k]
    return src_idx


def _transpose_emit(kb, node, idx):
    return kb.read(node.inputs[0], _transpose_index(kb, node, idx))


_transpose_emit.input_indices = lambda kb, node, idx: [_transpose_index(kb, node, idx)]


def _transpose_vjp(g, ins, out, attrs):
    perm = attrs["perm"]
    return [transpose(g, tuple(int(i) for i in np.argsort(perm)))]


defop("transpose", "injective", _transpose_infer, lambda a, x: np.transpose(x, a["perm"]),
      emit=_transpose_emit, vjp=_transpose_vjp)


def transpose(x, axes=None):
    """numpy.transpose (reverses the axes by default)."""
    nd = len(shape_of(x))
    perm = tuple(range(nd))[::-1] if axes is None else tuple(normalize_axis(a, nd) for a in axes)
    if perm == tuple(range(nd)):
        return x
    return bind("transpose", [x], perm=perm)


# -- broadcast_to ----------------------------------------------------------------------------

def _bcast_infer(types, attrs):
    (t,) = types
    shape = tuple(attrs["shape"])
    lead = len(shape) - t.ndim
    if lead < 0 or any(d != 1 and d != shape[lead + k] for k, d in enumerate(t.shape)):
        raise ShapeError(f"cannot broadcast shape {t.shape} to {shape}")
    return TensorType(shape, t.dtype)


def _bcast_emit(kb, node, idx):
    from .common import read_broadcast

    return read_broadcast(kb, node.inputs[0], node.type.shape, idx)


_bcast_emit.input_indices = lambda kb, node, idx: [broadcast_index(kb, node.inputs[0], node.type.shape, idx)]


defop("broadcast_to", "injective", _bcast_infer, lambda a, x: np.broadcast_to(x, a["shape"]).copy(),
      emit=_bcast_emit, vjp=lambda g, ins, out, a: [sum_to_shape(g, shape_of(ins[0]))])


def broadcast_to(x, shape):
    """numpy.broadcast_to."""
    shape = tuple(d if isinstance(d, str) else int(d) for d in shape)  # str: a symbolic dimension
    if tuple(shape_of(x)) == shape and not isinstance(x, (np.ndarray, int, float)):
        return x
    return bind("broadcast_to", [x], shape=shape)


# -- slicing -------------------------------------------------------------------------------

def _slice_infer(types, attrs):
    (t,) = types
    starts, steps, shape = attrs["starts"], attrs["steps"], attrs["shape"]
    if not (len(starts) == len(steps) == len(shape) == t.ndim):
        raise ShapeError("slice rank mismatch")
    for d, s, st, n in zip(t.shape, starts, steps, shape):
        if isinstance(d, str) or isinstance(n, str):  # a symbolic axis is only ever taken whole
            if (s, st, n) != (0, 1, d):
                raise ShapeError(f"slice of the symbolic axis {d!r} of {t.shape}: only the whole axis can be taken")
            continue
        if n and not (0 <= s < d and 0 <= s + (n - 1) * st < d):
            raise ShapeError(f"slice out of bounds for shape {t.shape}")
    return TensorType(tuple(shape), t.dtype)


def _slice_impl(attrs, x):
    sl = tuple(slice(s, s + n * st if s + n * st >= 0 else None, st) if n else slice(0, 0)
               for s, st, n in zip(attrs["starts"], attrs["steps"], attrs["shape"]))
    return x[sl].copy()


def _slice_index(kb, node, idx):
    return [kb.iadd(kb.index(s), kb.imul(i, kb.index(st)))
            for i, s, st in zip(idx, node.attrs["starts"], node.attrs["steps"])]


def _slice_emit(kb, node, idx):
    return kb.read(node.inputs[0], _slice_index(kb, node, idx))


_slice_emit.input_indices = lambda kb, node, idx: [_slice_index(kb, node, idx)]


def _slice_vjp(g, ins, out, attrs):
    """Scatter the gradient back: pad with zeros (and reverse for negative steps)."""
    return [bind("slice_grad", [g], in_shape=tuple(shape_of(ins[0])), starts=attrs["starts"],
                 steps=attrs["steps"], shape=attrs["shape"])]


defop("slice", "injective", _slice_infer, _slice_impl, emit=_slice_emit, vjp=_slice_vjp)


def _slice_grad_infer(types, attrs):
    return TensorType(tuple(attrs["in_shape"]), types[0].dtype)


def _slice_grad_impl(attrs, g):
    out = np.zeros(attrs["in_shape"], g.dtype)
    sl = tuple(slice(s, s + n * st if s + n * st >= 0 else None, st) if n else slice(0, 0)
               for s, st, n in zip(attrs["starts"], attrs["steps"], attrs["shape"]))
    out[sl] = g
    return out


def _slice_grad_emit(kb, node, idx):
    """out[i] = g[(i - start) / step] where that is a whole in-range index, else 0."""
    g = node.inputs[0]
    inside = None
    src = []
    for i, s, st, n in zip(idx, node.attrs["starts"], node.attrs["steps"], node.attrs["shape"]):
        if isinstance(n, str):  # a symbolic axis is taken whole (see _slice_infer)
            src.append(i)
            continue
        known = kb.bounds_of(i)  # a loop over a piece of this axis (a split loop): no select
        if known is not None and abs(st) == 1:
            first, last = (s, s + n) if st > 0 else (s - n + 1, s + 1)  # [first, last) are covered
            if known[1] <= first or known[0] >= last or n == 0:
                return kb.const(0, node.type.dtype)  # the whole piece is padding
            if first <= known[0] and known[1] <= last:
                rel = kb.iadd(i, kb.index(-s))
                src.append(rel if st > 0 else kb.imul(rel, kb.index(-1)))
                continue
        rel = kb.iadd(i, kb.index(-s))
        if st < 0:
            rel = kb.imul(rel, kb.index(-1))
        a = abs(st)
        ok = kb.cmp(">=", rel, kb.index(0))
        ok = kb.logical("and", ok, kb.cmp("<", rel, kb.index(n * a)))
        if a != 1:
            # rel may be negative here; clamp before the unsigned remainder
            relc = kb.select(ok, rel, kb.index(0))
            ok = kb.logical("and", ok, kb.cmp("==", kb.imod(relc, kb.index(a)), kb.index(0)))
            rel = kb.idiv(relc, kb.index(a))
        clamped = kb.select(ok, rel, kb.index(0)) if n else kb.index(0)
        src.append(clamped)
        inside = ok if inside is None else kb.logical("and", inside, ok)
    value = kb.read(g, src) if 0 not in g.type.shape else kb.const(0, node.type.dtype)
    if inside is None:
        return value
    return kb.select(inside, value, kb.const(0, node.type.dtype))


defop("slice_grad", "injective", _slice_grad_infer, _slice_grad_impl, emit=_slice_grad_emit,
      vjp=lambda g, ins, out, a: [bind("slice", [g], starts=a["starts"], steps=a["steps"], shape=a["shape"])])


def getitem(x, key):
    """Basic numpy indexing: ints, slices, None and Ellipsis (views become copies)."""
    try:
        return _getitem(x, key)
    except IndexingError as e:
        raise IndexingError(f"getitem: {e} (operand {static_type(x)})\n  at {user_source_line()}") from None


def _getitem(x, key):
    shape = shape_of(x)
    if not isinstance(key, tuple):
        key = (key,)
    for k in key:
        if isinstance(k, (bool, np.bool_)):  # numpy: a new axis of size 1 or 0, not index 1 or 0
            raise IndexingError("boolean scalar indices are not supported (use None to add an axis)")
        if not (k is None or k is Ellipsis or isinstance(k, (int, np.integer, slice))):
            raise IndexingError(f"only basic indexing (ints, slices, None, ...) is supported, got {type(k).__name__}")
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexingError("an index can only have a single ellipsis ('...')")
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if n_real > len(shape):
        raise IndexingError(f"too many indices for array of dimension {len(shape)}")
    if Ellipsis in key:
        pos = key.index(Ellipsis)
        key = key[:pos] + (slice(None),) * (len(shape) - n_real) + key[pos + 1:]
    else:
        key = key + (slice(None),) * (len(shape) - n_real)
    starts, steps, sizes, final_shape = [], [], [], []
    axis = 0
    for k in key:
        if k is None:
            final_shape.append(1)
            continue
        d = shape[axis]
        if isinstance(d, str):  # a symbolic dimension: only taken whole ([:]) for now
            if not (isinstance(k, slice) and k == slice(None)):
                raise IndexingError(f"axis {axis} has the symbolic size {d!r}: only ':' can index it "
                                    f"(integer indices and partial slices need a static size)")
            starts.append(0)
            steps.append(1)
            sizes.append(d)
            final_shape.append(d)
            axis += 1
            continue
        if isinstance(k, slice):
            start, stop, step = k.indices(d)
            n = len(range(start, stop, step))
            starts.append(start if n else 0)
            steps.append(step)
            sizes.append(n)
            final_shape.append(n)
        else:
            i = int(k)
            if not -d <= i < d:
                raise IndexingError(f"index {i} is out of bounds for axis {axis} with size {d}")
            starts.append(i % d)
            steps.append(1)
            sizes.append(1)
        axis += 1
    out = x
    if tuple(starts) != (0,) * len(shape) or tuple(sizes) != tuple(shape) or any(s != 1 for s in steps):
        out = bind("slice", [x], starts=tuple(starts), steps=tuple(steps), shape=tuple(sizes))
    return reshape(out, tuple(final_shape))


# -- concatenate / stack / split ---------------------------------------------------------------

def _concat_infer(types, attrs):
    axis = attrs["axis"]
    first = types[0]
    dt = {t.dtype for t in types}
    if len(dt) > 1:
        raise ShapeError(f"concatenate needs one dtype, got {sorted(dt)}")
    for t in types:
        if t.ndim != first.ndim or any(a != b for k, (a, b) in enumerate(zip(t.shape, first.shape)) if k != axis):
            raise ShapeError(f"all input array dimensions except for the concatenation axis must match exactly")
    shape = list(first.shape)
    if any(isinstance(t.shape[axis], str) for t in types):
        raise ShapeError(f"concatenate along axis {axis}, which has a symbolic size "
                         f"({', '.join(str(t.shape[axis]) for t in types)}): sums of symbolic sizes are "
                         f"not supported (compile with static shapes)")
    shape[axis] = int(np.sum([t.shape[axis] for t in types]))
    return TensorType(tuple(shape), first.dtype)


def _concat_emit(kb, node, idx):
    """Select among inputs by the axis index; clamped loads keep every read in bounds."""
    axis = node.attrs["axis"]
    parts = [i for i in node.inputs if i.type.shape[axis] > 0]
    offsets = np.cumsum([0] + [p.type.shape[axis] for p in parts])
    known = kb.bounds_of(idx[axis])
    if known is not None:  # a loop over a piece of the axis (a split loop): read that part alone
        for k, p in enumerate(parts):
            if offsets[k] <= known[0] and known[1] <= offsets[k + 1]:
                sub = list(idx)
                sub[axis] = kb.iadd(idx[axis], kb.index(-int(offsets[k])))
                return kb.read(p, sub)
    result = None
    for k in reversed(range(len(parts))):
        p = parts[k]
        n = p.type.shape[axis]
        local = kb.iadd(idx[axis], kb.index(-int(offsets[k])))
        clamped = kb.select(kb.cmp("<", local, kb.index(0)), kb.index(0), local)
        clamped = kb.select(kb.cmp(">", clamped, kb.index(n - 1)), kb.index(n - 1), clamped)
        sub = list(idx)
        sub[axis] = clamped
        v = kb.read(p, sub)
        if result is None:
            result = v
        else:
            result = kb.select(kb.cmp("<", idx[axis], kb.index(int(offsets[k + 1]))), v, result)
    return result


def _concat_vjp(g, ins, out, attrs):
    axis = attrs["axis"]
    grads, off = [], 0
    for x in ins:
        n = shape_of(x)[axis]
        key = [slice(None)] * len(shape_of(x))
        key[axis] = slice(off, off + n)
        grads.append(getitem(g, tuple(key)))
        off += n
    return grads


def _concat_impl(attrs, *xs):
    return np.concatenate(xs, axis=attrs["axis"])


defop("concatenate", "injective", _concat_infer, _concat_impl, emit=_concat_emit, vjp=_concat_vjp)


def concatenate(xs, axis=0):
    """numpy.concatenate."""
    from .common import promote

    xs = list(xs)
    if not xs:
        raise ShapeError("need at least one array to concatenate")
    nd = len(shape_of(xs[0]))
    if nd == 0:
        raise ShapeError("zero-dimensional arrays cannot be concatenated")
    _, xs = promote(*xs)
    axis = normalize_axis(axis, nd)
    if len(xs) == 1:
        return xs[0]
    return bind("concatenate", xs, axis=axis)


def stack(xs, axis=0):
    """numpy.stack."""
    xs = list(xs)
    if not xs:
        raise ShapeError("need at least one array to stack")
    shapes = {tuple(shape_of(x)) for x in xs}
    if len(shapes) > 1:
        raise ShapeError(f"all input arrays must have the same shape, got {sorted(shapes)}")
    nd = len(shape_of(xs[0])) + 1
    axis = normalize_axis(axis, nd)
    return concatenate([expand_dims(x, axis) for x in xs], axis=axis)


def split(x, indices_or_sections, axis=0):
    """numpy.split: equal sections (int) or split points (list)."""
    shape = shape_of(x)
    axis = normalize_axis(axis, len(shape))
    d = shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        n = int(indices_or_sections)
        if n <= 0 or d % n:
            raise ShapeError(f"array split does not result in an equal division ({d} into {n})")
        points = [d // n * k for k in range(1, n)]
    else:
        points = [int(p) for p in indices_or_sections]
    bounds = [0] + points + [d]
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        key = [slice(None)] * len(shape)
        key[axis] = slice(a, b)
        out.append(getitem(x, tuple(key)))
    return out


def unstack(x, axis=0):
    """Split along ``axis`` and drop it (tf.unstack)."""
    shape = shape_of(x)
    axis = normalize_axis(axis, len(shape))
    return [squeeze(p, axis) for p in split(x, shape[axis], axis)]
