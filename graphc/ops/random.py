"""Counter-based random numbers: uniform, normal and truncated normal as one op.

Why counter-based: the kernel computes element e's bits as a pure function of
(key, call counter, e), so any element can be computed anywhere (fused into its
consumer, on any thread, on the GPU) with no sequential generator state, and the
numpy reference reproduces the exact same bits with vectorized uint64 arithmetic.

The generator is splitmix64 (Steele, Lea, Flood 2014, the seeding generator of
xoshiro; passes BigCrush): draw r of element e is

    base = mix64(key + counter * C)                    # once per call
    bits = mix64(base + (e * R + r + 1) * GOLDEN)      # R draws per element

- ``key`` (64 bits) is fixed at trace time from the global seed, the op's seed and a
  per-trace stream number, so two random ops never share numbers (two dropout
  masks differ even with equal seeds), and it lives in the op's attributes.
- ``counter`` is the value of one process-wide, non-trainable int64 Variable
  (``counter_variable()``), read once per compiled call and incremented inside the
  same step (a variable update), so each call draws new numbers and the sequence is
  reproducible after ``set_seed``.

The op is ``pure=False`` (never CSE'd or constant-folded). Distributions:
uniform: the top 24 (float32) or 53 (float64) bits scaled to [0, 1).
normal: Box-Muller, z = sqrt(-2 log u1) * cos(2 pi u2), computed in float64 with
  u1 in (0, 1] and the cosine as a degree-19 odd polynomial (error < 1e-15 on the
  reduced range), then rounded to the output dtype.
truncated_normal: TF's rule (redraw values beyond 2 standard deviations) with a fixed
  number of rounds, TRUNC_ROUNDS = 6, each a fresh normal draw; the first in-range
  draw wins. If all six fall outside (probability 0.0455**6 ~ 9e-9 per element) the
  value is 4*u - 2 with u uniform: still inside (-2, 2), just not Gaussian-shaped.

Exactness: uniform bits match the reference exactly. The normal's float64 pipeline
may differ from numpy by an ulp (LLVM may contract a*b+c into an FMA, and the
math library's log is not numpy's); after rounding to float32 the results are
identical except in astronomically rare rounding ties.
"""
from __future__ import annotations

import math
import threading

import numpy as np

from .. import dtypes
from ..errors import DTypeError, ShapeError
from ..ir import TensorType
from ..tracing import Tensor, bind, current_trace
from .registry import defop

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
CTR_MUL = 0xD1B54A32D192ED03
TRUNC_ROUNDS = 6
DRAWS = {"uniform": 1, "normal": 2, "truncated_normal": 2 * TRUNC_ROUNDS}

# sin(y) = y * sum_k S[k] y^(2k) on [-pi/2, pi/2] (Taylor, degree 19: error < 3e-16)
_SIN = [(-1.0) ** k / math.factorial(2 * k + 1) for k in range(10)]


def mix64_int(z: int) -> int:
    """The splitmix64 finalizer on a Python int (trace-time key derivation)."""
    z &= MASK
    z = ((z ^ (z >> 30)) * MIX1) & MASK
    z = ((z ^ (z >> 27)) * MIX2) & MASK
    return z ^ (z >> 31)


# -- numpy reference ------------------------------------------------------------------------------


def _np_mix64(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
    return z ^ (z >> np.uint64(31))


def _np_bits(key, counter, size, draws):
    """(draws, size) uint64 array of raw bits."""
    with np.errstate(over="ignore"):
        base = _np_mix64(np.uint64(key) + np.uint64(int(counter) & MASK) * np.uint64(CTR_MUL))
        e = np.arange(size, dtype=np.uint64)
        out = np.empty((draws, size), np.uint64)
        for r in range(draws):
            out[r] = _np_mix64(base + (e * np.uint64(draws) + np.uint64(r + 1)) * np.uint64(GOLDEN))
    return out


def _np_unit(bits, dtype):
    if dtype == "float32":
        return (bits >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def _np_normal_pair(b1, b2):
    u1 = ((b1 >> np.uint64(11)) + np.uint64(1)).astype(np.float64) * 2.0 ** -53
    u2 = (b2 >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    r = np.sqrt(-2.0 * np.log(u1))
    y = 2.0 * math.pi * (np.abs(u2 - 0.5) - 0.25)
    y2 = y * y
    p = np.full_like(y, _SIN[-1])
    for c in reversed(_SIN[:-1]):
        p = p * y2 + c
    return r * (y * p), u2


def _random_impl(attrs, counter):
    shape, dt, dist = tuple(attrs["shape"]), attrs["dtype"], attrs["dist"]
    size = int(np.prod(shape, dtype=np.int64))
    bits = _np_bits(attrs["key"], np.asarray(counter).item(), size, DRAWS[dist])
    if dist == "uniform":
        out = _np_unit(bits[0], dt)
    elif dist == "normal":
        out = _np_normal_pair(bits[0], bits[1])[0]
    else:
        z, u = _np_normal_pair(bits[2 * TRUNC_ROUNDS - 2], bits[2 * TRUNC_ROUNDS - 1])
        out = np.where(np.abs(z) <= 2.0, z, 4.0 * u - 2.0)
        for k in reversed(range(TRUNC_ROUNDS - 1)):
            z, _ = _np_normal_pair(bits[2 * k], bits[2 * k + 1])
            out = np.where(np.abs(z) <= 2.0, z, out)
    return np.asarray(out, dtype=dt).reshape(shape)


# -- lowering -------------------------------------------------------------------------------------


def _signed(v: int) -> int:
    v &= MASK
    return v - (1 << 64) if v >> 63 else v


def _c64(kb, v):
    return kb.const(_signed(v), "int64")


# xor and logical shift right on i64, through the KernelBuilder's bitwise API.
def _xor(kb, a, b):
    return kb.bitwise("xor", a, b)


def _shr(kb, a, n):
    return kb.bitwise("shr", a, kb.const(n, "int64"))


def _mix64(kb, z):
    z = kb.mul(_xor(kb, z, _shr(kb, z, 30)), _c64(kb, MIX1))
    z = kb.mul(_xor(kb, z, _shr(kb, z, 27)), _c64(kb, MIX2))
    return _xor(kb, z, _shr(kb, z, 31))


def _unit(kb, bits, dtype):
    if dtype == "float32":
        return kb.mul(kb.cast(_shr(kb, bits, 40), "float32"), kb.const(2.0 ** -24, "float32"))
    return kb.mul(kb.cast(_shr(kb, bits, 11), "float64"), kb.const(2.0 ** -53, "float64"))


def _normal_pair(kb, b1, b2):
    f = "float64"
    u1 = kb.mul(kb.cast(kb.add(_shr(kb, b1, 11), kb.const(1, "int64")), f), kb.const(2.0 ** -53, f))
    u2 = kb.mul(kb.cast(_shr(kb, b2, 11), f), kb.const(2.0 ** -53, f))
    r = kb.math("sqrt", kb.mul(kb.const(-2.0, f), kb.math("log", u1)))
    y = kb.mul(kb.const(2.0 * math.pi, f), kb.sub(kb.abs(kb.sub(u2, kb.const(0.5, f))), kb.const(0.25, f)))
    y2 = kb.mul(y, y)
    p = kb.const(_SIN[-1], f)
    for c in reversed(_SIN[:-1]):
        p = kb.add(kb.mul(p, y2), kb.const(c, f))
    return kb.mul(r, kb.mul(y, p)), u2


def _random_emit(kb, node, idx):
    dist, dt = node.attrs["dist"], node.type.dtype
    draws = DRAWS[dist]
    counter = kb.read(node.inputs[0], [])
    base = _mix64(kb, kb.add(_c64(kb, node.attrs["key"]), kb.mul(counter, _c64(kb, CTR_MUL))))
    e = kb.cast(kb.flat_index(idx, node.type.shape), "int64")
    first = kb.mul(e, kb.const(draws, "int64"))

    def bits(r):
        state = kb.mul(kb.add(first, kb.const(r + 1, "int64")), _c64(kb, GOLDEN))
        return _mix64(kb, kb.add(base, state))

    if dist == "uniform":
        return _unit(kb, bits(0), dt)
    if dist == "normal":
        return kb.cast(_normal_pair(kb, bits(0), bits(1))[0], dt)
    two = kb.const(2.0, "float64")
    z, u = _normal_pair(kb, bits(2 * TRUNC_ROUNDS - 2), bits(2 * TRUNC_ROUNDS - 1))
    fallback = kb.sub(kb.mul(kb.const(4.0, "float64"), u), two)
    out = kb.select(kb.cmp("<=", kb.abs(z), two), z, fallback)
    for k in reversed(range(TRUNC_ROUNDS - 1)):
        z, _ = _normal_pair(kb, bits(2 * k), bits(2 * k + 1))
        out = kb.select(kb.cmp("<=", kb.abs(z), two), z, out)
    return kb.cast(out, dt)


def _random_infer(types, attrs):
    (c,) = types
    if c.shape != () or c.dtype != "int64":
        raise DTypeError(f"the random counter must be an int64 scalar, got {c}")
    if attrs["dist"] not in DRAWS:
        raise ShapeError(f"unknown distribution {attrs['dist']!r}")
    dt = dtypes.canonical(attrs["dtype"])
    if dt not in ("float32", "float64"):
        raise DTypeError(f"random values must be float32 or float64, got {dt}")
    return TensorType(tuple(attrs["shape"]), dt)


defop("random", "elementwise", _random_infer, _random_impl, emit=_random_emit,
      vjp=lambda g, ins, out, attrs: [None], pure=False)


# -- state: global seed, per-call counter, per-op streams -------------------------------------------

_STATE = {"seed": 0x5EED, "counter": None, "eager_stream": 0}
_STATE_LOCK = threading.Lock()


def counter_variable():
    """The non-trainable int64 Variable every compiled call reads once and increments."""
    from ..variables import Variable

    with _STATE_LOCK:  # two threads tracing their first random op must share one counter
        if _STATE["counter"] is None:
            _STATE["counter"] = Variable(np.int64(0), name="rng_counter", trainable=False, dtype="int64")
        return _STATE["counter"]


def set_seed(seed: int) -> None:
    """Set the global seed and restart the call counter (compile functions after this:
    the seed is part of each random op's key, fixed when the function is traced)."""
    _STATE["seed"] = int(seed) & MASK
    _STATE["eager_stream"] = 0
    counter_variable().assign(np.int64(0))


def get_seed() -> int:
    return _STATE["seed"]


def _key(seed, stream: int) -> int:
    k = mix64_int(_STATE["seed"] + GOLDEN)
    k = mix64_int(k + ((0 if seed is None else int(seed) + 1) & MASK) * GOLDEN)
    return mix64_int(k + (stream + 1) * GOLDEN)


def _draw(shape, dtype, dist, seed):
    if dtypes.is_narrow_float(dtypes.canonical(dtype)):
        # float16/bfloat16 draws are float32 draws rounded, in the same kernel; a uniform
        # draw that rounds up to 1 becomes the largest value below 1, keeping [0, 1)
        from .elementwise import cast, minimum

        narrow = cast(_draw(shape, "float32", dist, seed), dtype)
        if dist != "uniform":
            return narrow
        below_one = 1 - 2.0 ** -(np.finfo(np.float16).nmant + 1 if dtype == "float16" else 8)
        return minimum(narrow, np.asarray(below_one, dtype=dtype))
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(d if isinstance(d, str) else int(d) for d in shape)  # str: a symbolic size (traced only)
    if any(not isinstance(d, str) and d < 0 for d in shape):
        raise ShapeError(f"negative dimension in shape {shape}")
    dtype = dtypes.canonical(dtype)
    var = counter_variable()
    trace = current_trace()
    if trace is None:  # eager: one stream per call, the counter advances per call
        stream = _STATE["eager_stream"]
        _STATE["eager_stream"] += 1
        counter = var.numpy()
        out = bind("random", [counter], shape=shape, dtype=dtype, dist=dist, key=_key(seed, stream))
        var.assign(counter + 1)
        return out
    root = trace
    while getattr(root, "outer", None) is not None and getattr(root, "runs_once", False):
        root = root.outer     # a gc.cond branch runs at most once per call: draw as its caller does
    if getattr(root, "outer", None) is not None:
        from ..errors import TraceError, user_source_line

        raise TraceError("random ops inside a gc.scan body or a gc.while_loop are not supported (the body "
                         "is traced once, so every step would draw the same numbers); draw them for all steps "
                         f"outside the loop and scan over them\n  at {user_source_line()}")
    rng = root.meta.setdefault("rng", {})
    if "counter" not in rng:
        if root is trace:
            counter = Tensor(trace.read_variable(var), trace)
            var.assign(counter + np.int64(1))
        else:   # the counter is read and advanced by the top-level trace, the branch captures it
            from ..ir import Node
            from ..tracing import constant_node

            read = root.read_variable(var)
            root.write_variable(var, root.add(Node("add", [read, constant_node(np.int64(1), root)], {}, read.type,
                                                   read.loc)))
            counter = Tensor(read, root)
        rng["counter"] = counter
        rng["stream"] = 0
    stream = rng["stream"]
    rng["stream"] += 1
    return bind("random", [rng["counter"]], shape=shape, dtype=dtype, dist=dist, key=_key(seed, stream))


def _affine(x, scale, shift, dtype):
    from .elementwise import add, multiply
    from .common import cast_to

    if isinstance(scale, (int, float)) and scale == 1 and isinstance(shift, (int, float)) and shift == 0:
        return x
    return add(multiply(x, cast_to(scale, dtype) if isinstance(scale, (int, float)) else scale),
               cast_to(shift, dtype) if isinstance(shift, (int, float)) else shift)


def uniform(shape, minval=0.0, maxval=1.0, dtype="float32", seed=None):
    """Uniform values in [minval, maxval) (tf.random_uniform)."""
    dtype = dtypes.canonical(dtype)
    u = _draw(shape, dtype, "uniform", seed)
    if isinstance(minval, (int, float)) and isinstance(maxval, (int, float)):
        return _affine(u, maxval - minval, minval, dtype)
    from .elementwise import subtract

    return _affine(u, subtract(maxval, minval), minval, dtype)


def normal(shape, mean=0.0, stddev=1.0, dtype="float32", seed=None):
    """Normal values (tf.random_normal)."""
    dtype = dtypes.canonical(dtype)
    return _affine(_draw(shape, dtype, "normal", seed), stddev, mean, dtype)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype="float32", seed=None):
    """Normal values redrawn beyond 2 standard deviations (tf.truncated_normal)."""
    dtype = dtypes.canonical(dtype)
    return _affine(_draw(shape, dtype, "truncated_normal", seed), stddev, mean, dtype)
