"""Random programs for the differential fuzzer (tests/test_fuzz.py).

A program is a list of steps over the public op set, built from concrete random inputs.
While generating, every step is evaluated with an *independent* numpy reference
(``np.add``, ``np.exp``, ``np.matmul``, ... on the reference arrays, never graphc's own
op references), which also decides validity: a step numpy rejects is an invalid
program (graphc must raise a GraphcError for it).

Tolerances: every value carries, per element, a bound on |graphc - numpy| (``err``):

- exact ops on exact inputs are bit-exact (err 0; NaN matches NaN; the sign of a zero
  is checked where numpy defines it): elementwise + - * / (correctly rounded, never
  contracted), neg/abs/square, comparisons, logical ops, where, casts, every shape op,
  max/min and argmax/argmin reductions, integer sums/products/matmuls (wraparound).
- arithmetic on inexact inputs propagates first-order bounds plus one ulp of rounding
  (e.g. a*b: |a|eb + |b|ea + ea*eb + ulp).
- transcendentals (exp, log, sqrt, tanh, sigmoid, power): TRANSCENDENTAL_ULPS ulp of
  the result (graphc's mathlib is within 1.4 ulp, the float64-evaluated reference
  within 0.5) plus the spread of the function over the input's error interval.
- float sums/means/matmuls (reassociated, vectorized): the standard bound
  n * eps * sum|x| plus the inputs' bounds; products of floats similarly.
- softmax: 0.5 * max row error + (|x - max| + n + 8) eps |result|; log_softmax:
  2 * max row error + (n + 8) eps * (|x - max| + |logsumexp| + 1).

Elements whose bound is infinite (e.g. a division by an inexact value that may be 0)
are not compared. Discontinuous ops (comparisons, casts to int/bool, argmax, where's
condition, integer-valued results) are only applied to exact inputs, where graphc and
numpy must agree exactly.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

import graphc as gc

FLOATS = ("float32", "float64")
INTS = ("int32", "int64")
DTYPES = FLOATS + INTS + ("bool",)
TRANSCENDENTAL_ULPS = 4
MAX_ELEMS = 3000


@dataclass
class Val:
    ref: np.ndarray           # the numpy reference value
    err: np.ndarray           # float64 bound on |graphc - ref| per element (0: exact)
    zsign: bool = True        # the sign of a zero result is defined (checked when exact)

    @property
    def exact(self) -> bool:
        return bool(np.all(self.err == 0))


@dataclass
class Program:
    inputs: list                                 # numpy arrays passed to the function
    steps: list = field(default_factory=list)    # (op, args, params); args: ("v", k) | ("s", scalar)
    outputs: list = field(default_factory=list)  # value indices
    vals: list = field(default_factory=list)     # Val per value (inputs first)

    def describe(self) -> str:
        lines = [f"  in{k}: {a.dtype}{list(a.shape)} strides={a.strides}" for k, a in enumerate(self.inputs)]
        n = len(self.inputs)
        for k, (op, args, params) in enumerate(self.steps):
            a = ", ".join(f"v{x}" if t == "v" else repr(x) for t, x in args)
            v = self.vals[n + k].ref
            lines.append(f"  v{n + k} = {op}({a}{', ' if params else ''}{params or ''}) -> {v.dtype}{list(v.shape)}")
        lines.append(f"  outputs: {self.outputs}")
        return "\n".join(lines)

    def gc_function(self):
        steps, outputs = self.steps, self.outputs

        def fn(*xs):
            vals = list(xs)
            for op, args, params in steps:
                a = [vals[x] if t == "v" else x for t, x in args]
                vals.append(GC_OPS[op](*a, **params))
            return tuple(vals[o] for o in outputs)
        return fn

    def np_function(self):
        """The program's numpy reference as a function of its inputs (for finite differences)."""
        steps, outputs = self.steps, self.outputs

        def fn(*xs):
            vals = list(xs)
            for op, args, params in steps:
                a = [vals[x] if t == "v" else x for t, x in args]
                vals.append(NP_OPS[op](*a, **params))
            return tuple(vals[o] for o in outputs)
        return fn


# -- the two implementations of every op -----------------------------------------------------
def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _np_softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _np_log_softmax(x, axis):
    s = x - np.max(x, axis=axis, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def _in_f64(fn):
    """Evaluate a transcendental in float64 and round to the input's dtype (a reference
    within 0.5 ulp for float32)."""
    def g(x, *rest, **kw):
        x = np.asarray(x)
        if x.dtype.kind in "iu":  # numpy computes these in float64 (and -x must not wrap)
            return np.asarray(fn(x.astype(np.float64), *rest, **kw))
        r = fn(x.astype(np.float64) if x.dtype == np.float32 else x, *rest, **kw)
        return np.asarray(r).astype(x.dtype) if x.dtype == np.float32 else np.asarray(r)
    return g


def _np_matmul(a, b):
    """numpy.matmul, with non-finite results taken from the sum of rounded products
    (BLAS kernels differ on inf/NaN operands: some skip zeros, so 0 * inf is lost)."""
    r = np.matmul(a, b)
    if r.dtype.kind != "f" or np.all(np.isfinite(r)) and np.all(np.isfinite(a)) and np.all(np.isfinite(b)):
        return r
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    prods = a2[..., :, :, None].astype(r.dtype) * b2[..., None, :, :].astype(r.dtype)
    s = np.sum(prods, axis=-2)
    if a.ndim == 1:
        s = s[..., 0, :]
    if b.ndim == 1:
        s = s[..., 0]
    return np.where(np.isfinite(s), r, s).astype(r.dtype)


def _np_power(x, y):
    """Integer powers stay integer (wrapping); float powers are evaluated in float64."""
    x = np.asarray(x)
    if x.dtype.kind in "biu" and isinstance(y, (int, np.integer)) and not isinstance(y, bool):
        return np.power(x, y)
    r = _in_f64(np.power)(x, y)
    if isinstance(y, float) and y == 0.5:
        # graphc follows C99 pow (documented, graphc/ops/elementwise.py): (-inf) ** 0.5 is
        # +inf, where numpy computes x ** 0.5 as sqrt(x) (NaN)
        r = np.where(np.asarray(x) == -np.inf, np.asarray(np.inf, r.dtype), r).astype(r.dtype)
    return r


def _np_getitem(x, key):
    return x[key]


def _np_mean(x, axis=None, keepdims=False):
    if x.size == 0 or (axis is not None and any(x.shape[a] == 0 for a in np.atleast_1d(axis))):
        raise Skip("mean of an empty axis")  # numpy warns and returns NaN
    return np.mean(x, axis=axis, keepdims=keepdims)


NP_OPS = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.true_divide,
    "maximum": np.maximum, "minimum": np.minimum,
    "equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal,
    "logical_and": np.logical_and, "logical_or": np.logical_or, "logical_not": np.logical_not,
    "negative": np.negative, "abs": np.abs, "square": np.square,
    "exp": _in_f64(np.exp), "log": _in_f64(np.log), "sqrt": _in_f64(np.sqrt), "tanh": _in_f64(np.tanh),
    "sigmoid": _in_f64(_np_sigmoid), "power": _np_power,
    "relu": lambda x: np.maximum(x, np.zeros((), x.dtype)),
    "where": np.where, "cast": lambda x, dtype: x.astype(dtype),
    "sum": np.sum, "mean": _np_mean, "max": np.max, "min": np.min, "prod": np.prod,
    "argmax": np.argmax, "argmin": np.argmin,
    "matmul": _np_matmul, "reshape": np.reshape, "transpose": np.transpose,
    "expand_dims": np.expand_dims, "squeeze": np.squeeze, "broadcast_to": np.broadcast_to,
    "concatenate": lambda *xs, axis: np.concatenate(xs, axis=axis),
    "stack": lambda *xs, axis: np.stack(xs, axis=axis),
    "softmax": _in_f64(_np_softmax), "log_softmax": _in_f64(_np_log_softmax),
    "getitem": _np_getitem,
}

GC_OPS = {name: getattr(gc, name) for name in NP_OPS if hasattr(gc, name)}
GC_OPS.update({
    "concatenate": lambda *xs, axis: gc.concatenate(list(xs), axis=axis),
    "stack": lambda *xs, axis: gc.stack(list(xs), axis=axis),
    "getitem": lambda x, key: x[key],
    "power": lambda x, y: x ** y,
})

UNARY_EXACT = ("negative", "abs", "square")
TRANSCENDENTAL = ("exp", "log", "sqrt", "tanh", "sigmoid")
BINARY_ARITH = ("add", "subtract", "multiply", "divide", "maximum", "minimum")
COMPARE = ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal")
LOGICAL = ("logical_and", "logical_or")
REDUCE = ("sum", "mean", "max", "min", "prod")
SHAPE_OPS = ("reshape", "transpose", "expand_dims", "squeeze", "broadcast_to", "concatenate",
             "stack", "getitem")


def _ulp(ref) -> np.ndarray:
    ref = np.asarray(ref)
    if ref.dtype.kind != "f":
        return np.zeros(ref.shape)
    with np.errstate(all="ignore"):
        u = np.spacing(np.abs(ref)).astype(np.float64)
    return np.where(np.isfinite(u), u, np.inf)


def _eps(dtype) -> float:
    return float(np.finfo(dtype).eps) if np.dtype(dtype).kind == "f" else 0.0


def _f64(a) -> np.ndarray:
    return np.asarray(a).astype(np.float64)


def _bcast(e, shape):
    return np.broadcast_to(e, shape)


class InvalidStep(Exception):
    """numpy rejects the step: the program is invalid."""


class Skip(Exception):
    """The step is valid but outside what the fuzzer can check (e.g. a comparison of
    inexact values, a float->int cast of NaN): pick another."""


def error_bound(op, args, params, out, vals_of) -> tuple[np.ndarray, bool]:
    """(err, zsign) of ``out = op(args)``; ``vals_of(arg)`` -> Val (scalars: exact)."""
    ins = [vals_of(a) for a in args]
    exact = all(v.exact for v in ins)
    zsign = all(v.zsign for v in ins)
    shape = np.shape(out)
    out_ulp = lambda: _ulp(out)
    float_out = np.asarray(out).dtype.kind == "f"
    discontinuous = (op in COMPARE or op in LOGICAL or op in ("logical_not", "argmax", "argmin")
                     or (op == "cast" and np.dtype(params["dtype"]).kind in "biu"
                         and ins[0].ref.dtype.kind == "f"))
    if discontinuous and not exact:
        raise Skip("discontinuous op on inexact input")
    if op == "where" and not ins[0].exact:
        raise Skip("where on an inexact condition")
    if op in ("maximum", "minimum", "relu", "max", "min"):
        zsign = False  # numpy's maximum(-0.0, 0.0) depends on the operand order
    if op in ("sum", "mean", "prod", "matmul", "softmax", "log_softmax") + TRANSCENDENTAL:
        zsign = False
    if not float_out:
        if not exact:
            raise Skip("integer or bool result of inexact values")
        return np.zeros(shape), zsign
    if op in TRANSCENDENTAL or op == "power":
        return _transcendental_bound(op, ins, out), zsign
    if op in ("softmax", "log_softmax"):
        return _softmax_bound(op, ins[0], params["axis"], out), zsign
    if op in ("sum", "mean", "prod") and (not exact or np.asarray(out).dtype.kind == "f"):
        return _reduce_bound(op, ins[0], params, out), zsign
    if op == "matmul":
        return _matmul_bound(ins, out), zsign
    if exact and op not in ("cast",):
        return np.zeros(shape), zsign
    if op == "cast":
        src = ins[0]
        extra = out_ulp() if np.asarray(out).dtype.itemsize < src.ref.dtype.itemsize and src.ref.dtype.kind == "f" else 0
        if src.exact:
            return np.zeros(shape), zsign  # a cast of the same value rounds the same way
        return src.err + extra, zsign
    if op in ("max", "min"):
        return np.max(ins[0].err, axis=params.get("axis"), keepdims=params.get("keepdims", False)), zsign
    if op in SHAPE_OPS or op == "where":
        return _shape_err(op, args, params, ins), zsign
    a = ins[0]
    if op in ("negative", "abs"):
        return a.err.copy(), zsign
    if op == "relu":
        return a.err.copy(), zsign
    with np.errstate(all="ignore"):
        if op == "square":
            return 2 * np.abs(_f64(a.ref)) * a.err + a.err ** 2 + out_ulp(), zsign
        b = ins[1]
        ea, eb = _bcast(a.err, shape), _bcast(b.err, shape)
        ra, rb = _bcast(_f64(a.ref), shape), _bcast(_f64(b.ref), shape)
        if op in ("maximum", "minimum"):
            return np.maximum(ea, eb), zsign
        if op in ("add", "subtract"):
            e = ea + eb + out_ulp()
        elif op == "multiply":
            e = np.abs(ra) * eb + np.abs(rb) * ea + ea * eb + out_ulp()
        elif op == "divide":
            den = np.abs(rb) - eb
            e = np.where(den > 0, (ea + np.abs(_f64(out)) * eb) / np.where(den > 0, den, 1), np.inf) + out_ulp()
        else:
            raise AssertionError(op)
    return _clean(e, out), zsign


def _clean(e, out, exact_inputs=False):
    """Non-finite reference values with a nonzero bound may differ in kind: unchecked;
    from exact inputs they must match exactly (NaN for NaN, inf for inf)."""
    e = np.asarray(e, np.float64)
    outf = _f64(out)
    if exact_inputs:
        e = np.where(np.isfinite(outf), e, 0.0)
    top = float(np.finfo(np.asarray(out).dtype).max) if np.asarray(out).dtype.kind == "f" else np.inf
    with np.errstate(all="ignore"):
        near_overflow = (e > 0) & (np.abs(outf) + e >= top)  # graphc's value may round to inf
    return np.where(np.isnan(e) | ((e > 0) & ~np.isfinite(outf)) | near_overflow, np.inf, e)


def _shape_err(op, args, params, ins):
    """The same index remapping applied to the error arrays."""
    errs = [v.err.reshape(v.ref.shape) if v.err.shape != v.ref.shape else v.err for v in ins]
    if op == "where":
        return np.where(ins[0].ref, *[_f64(e) for e in errs[1:]]) if len(errs) == 3 else None
    fn = NP_OPS[op]
    return np.asarray(fn(*errs, **params), np.float64)


def _transcendental_bound(op, ins, out):
    x = ins[0]
    base = TRANSCENDENTAL_ULPS * _ulp(out)
    if x.exact and (op != "power" or ins[1].exact):
        return _clean(base, out, exact_inputs=True)
    xr, ex = _f64(x.ref), x.err
    f = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh, "sigmoid": _np_sigmoid}.get(op)
    with np.errstate(all="ignore"):
        if op == "power":
            if not ins[1].exact:
                return np.full(np.shape(out), np.inf)
            y = _f64(ins[1].ref)
            f = lambda t: np.power(t, y)
        fx = f(xr)
        spread = np.maximum(np.abs(f(xr - ex) - fx), np.abs(f(xr + ex) - fx))
        if op == "power":  # x^y may turn around at 0 inside the interval
            spread = np.maximum(spread, np.where(np.abs(xr) <= ex, np.abs(fx) + np.abs(f(np.abs(xr) + ex)), 0))
    e = base + spread * 1.01
    return _clean(e, out)


def _softmax_bound(op, x, axis, out):
    n = x.ref.shape[axis] if x.ref.ndim else 1
    eps = _eps(x.ref.dtype)
    with np.errstate(all="ignore"):
        row = np.max(x.err, axis=axis, keepdims=True) if x.err.size else x.err
        if op == "softmax":
            # exp's argument x - max is rounded in the dtype: relative error |x - max| eps
            xr = _f64(x.ref)
            m = np.max(xr, axis=axis, keepdims=True) if xr.size else xr
            e = (0.5 * row + (np.abs(xr - m) + n + 8) * eps * np.abs(_f64(out))
                 + TRANSCENDENTAL_ULPS * _ulp(out))
            e = np.where(row > 0.5, np.inf, e)  # first order no longer holds
        else:
            xr = _f64(x.ref)
            m = np.max(xr, axis=axis, keepdims=True) if xr.size else xr
            lse = np.log(np.sum(np.exp(xr - m), axis=axis, keepdims=True))
            e = 2 * row * 1.01 + (n + 8) * eps * (np.abs(xr - m) + np.abs(lse) + 1)
            e = np.where(row > 0.5, np.inf, e)
    return _clean(np.broadcast_to(e, np.shape(out)), out, exact_inputs=x.exact)


def _reduce_bound(op, x, params, out):
    axis, keep = params.get("axis"), params.get("keepdims", False)
    xr = _f64(x.ref)
    n = xr.size if axis is None else int(np.prod([xr.shape[a] for a in np.atleast_1d(axis)]))
    dt = np.asarray(out).dtype
    eps = _eps(dt)
    with np.errstate(all="ignore"):
        if op in ("sum", "mean"):
            mag = np.sum(np.where(np.isfinite(xr), np.abs(xr), 0), axis=axis, keepdims=keep)
            e = np.sum(x.err, axis=axis, keepdims=keep) + 2 * (n + 2) * eps * mag
            unstable = mag > np.finfo(dt).max  # partial sums overflow in some orders only
            if op == "mean":
                e = e / max(n, 1) + _ulp(out)
        else:  # prod: relative error bounds add up
            rel = np.where(x.err > 0, x.err / np.abs(xr), 0)
            rel = np.where(np.isnan(rel), np.inf, rel)
            e = np.abs(_f64(out)) * (np.sum(rel, axis=axis, keepdims=keep) * 1.01 + 2 * (n + 2) * eps)
            e = np.where(np.sum(rel, axis=axis, keepdims=keep) > 0.1, np.inf, e)
        e = e + _ulp(out)
        if op == "prod":  # partial products may overflow or underflow in one order only
            fin = np.where(np.isfinite(xr), np.abs(xr), 1.0)
            top = np.prod(np.maximum(fin, 1.0), axis=axis, keepdims=keep)
            low = np.prod(np.where(fin > 0, np.minimum(fin, 1.0), 1.0), axis=axis, keepdims=keep)
            unstable = (top > np.finfo(dt).max) | (low < np.finfo(dt).tiny)
    return np.where(unstable, np.inf, _clean(e, out, exact_inputs=x.exact))


def _matmul_bound(ins, out):
    a, b = ins
    dt = np.asarray(out).dtype
    if dt.kind != "f":
        return np.zeros(np.shape(out))
    k = a.ref.shape[-1]
    with np.errstate(all="ignore"):
        aa, ab = np.abs(_f64(a.ref)), np.abs(_f64(b.ref))
        mag = np.matmul(np.where(np.isfinite(aa), aa, 0), np.where(np.isfinite(ab), ab, 0))
        e = 2 * (k + 2) * _eps(dt) * mag
        if not (a.exact and b.exact):
            e = e + np.matmul(a.err, ab) + np.matmul(aa, b.err) + np.matmul(a.err, b.err)
        e = e + _ulp(out)
    e = _clean(e, out, exact_inputs=a.exact and b.exact)
    # products or partial sums may overflow in one summation order (or without FMA) and
    # not in another
    return np.where(mag > np.finfo(dt).max, np.inf, e)


# -- random inputs ---------------------------------------------------------------------------
SPECIALS = {
    "float32": [np.nan, np.inf, -np.inf, -0.0, 0.0, 3e38, -3e38, 1e-40, -1e-45, 1e-30, 1.0],
    "float64": [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e308, -1e308, 5e-324, -1e-310, 1e-300, 1.0],
}


def random_array(rng, shape, dtype, special_rate=0.0):
    if dtype == "bool":
        return np.array(rng.random(shape) < 0.5)
    if dtype in INTS:
        if rng.random() < 0.15:
            info = np.iinfo(dtype)
            choice = np.array([info.min, info.max, -1, 0, 1, info.max // 2], dtype)
            return np.array(rng.choice(choice, size=shape), dtype=dtype)
        return np.array(rng.integers(-9, 10, size=shape), dtype=dtype)
    scale = rng.choice([1.0, 1.0, 1e-3, 1e3, 30.0])
    a = np.array(rng.standard_normal(shape) * scale, dtype=dtype)
    if rng.random() < 0.3:  # small integers: exact arithmetic, exact ties in comparisons
        a = np.array(rng.integers(-4, 5, size=shape), dtype=dtype)
    if special_rate and a.size:
        mask = rng.random(shape) < special_rate
        a[mask] = rng.choice(np.array(SPECIALS[dtype], dtype), size=int(mask.sum()))
    return a


def random_layout(rng, arr):
    """The same values as a transposed, sliced or broadcast view (or contiguous)."""
    r = rng.random()
    if arr.ndim >= 2 and r < 0.15:
        return np.ascontiguousarray(np.swapaxes(arr, -1, -2)).swapaxes(-1, -2)
    if arr.ndim >= 1 and r < 0.3:
        big = np.repeat(arr, 2, axis=-1)
        return big[..., ::2]
    if arr.ndim >= 1 and r < 0.4 and arr.shape[0] == 1:
        return np.broadcast_to(arr, arr.shape)
    return arr


def random_shape(rng, max_rank=3):
    rank = int(rng.choice([0, 1, 2, 2, 3, 3][: max_rank + 3]))
    dims = [0, 1, 1, 2, 3, 3, 4, 5, 7]
    return tuple(int(rng.choice(dims)) if rng.random() > 0.04 else 0 for _ in range(min(rank, max_rank)))


# -- program generation ----------------------------------------------------------------------
GRAD_UNARY = ("negative", "abs", "square", "exp", "log", "sqrt", "tanh", "sigmoid", "relu")
GRAD_BINARY = ("add", "subtract", "multiply", "divide", "maximum", "minimum")
GRAD_REDUCE = ("sum", "mean", "max", "min")


class Generator:
    """Builds one random program from ``rng``; ``grad=True`` keeps to smooth float64 ops
    with inputs away from kinks and singularities (for finite differences)."""

    def __init__(self, rng, grad=False, max_steps=10):
        self.rng = rng
        self.grad = grad
        self.max_steps = max_steps
        self.prog = Program([])
        self.invalid: list = []   # (inputs, steps prefix, invalid step, numpy's error)

    # values
    def add_input(self, shape=None, dtype=None):
        rng = self.rng
        if self.grad:
            shape = shape if shape is not None else random_shape(rng, 2)
            while int(np.prod(shape)) > 12 or 0 in shape:
                shape = random_shape(rng, 2)
            arr = rng.uniform(0.3, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
            arr = np.asarray(arr, np.float64)
        else:
            if dtype is None:
                dtype = str(rng.choice(DTYPES, p=[0.4, 0.2, 0.15, 0.1, 0.15]))
            shape = shape if shape is not None else random_shape(rng)
            arr = random_array(rng, shape, dtype, special_rate=rng.choice([0, 0, 0.1, 0.3]))
            arr = random_layout(rng, arr)
        self.prog.inputs.append(arr)
        self.prog.vals.append(Val(np.array(arr), np.zeros(np.shape(arr))))
        # a new input after steps: renumber so inputs come first
        if self.prog.steps:
            return self._renumber_new_input()
        return len(self.prog.vals) - 1

    def _renumber_new_input(self):
        """Inputs are the first values: shift every value index at or after the new input."""
        p = self.prog
        k = len(p.inputs) - 1
        val = p.vals.pop()
        p.vals.insert(k, val)
        shift = lambda x: x + 1 if x >= k else x
        p.steps = [(op, [(t, shift(x)) if t == "v" else (t, x) for t, x in args], params) for op, args, params in p.steps]
        p.outputs = [shift(o) for o in p.outputs]
        return k

    def val(self, arg) -> Val:
        t, x = arg
        if t == "v":
            return self.prog.vals[x]
        return Val(np.asarray(x), np.zeros(()))

    def pick(self, pred=lambda v: True):
        cands = [k for k, v in enumerate(self.prog.vals) if pred(v)]
        if not cands:
            return None
        weights = np.linspace(1, 3, len(cands))  # prefer recent values: deeper graphs
        return int(self.rng.choice(cands, p=weights / weights.sum()))

    # steps
    def try_step(self, op, args, params) -> bool:
        """Evaluate with numpy; append if valid and checkable; remember invalid ones."""
        refs = [self.val(a).ref if a[0] == "v" else a[1] for a in args]
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = NP_OPS[op](*refs, **params)
        except Skip:
            return False
        except Exception as e:  # numpy rejects it: an invalid program
            if len(self.invalid) < 3:
                self.invalid.append((list(self.prog.inputs), list(self.prog.steps), (op, args, params),
                                     f"{type(e).__name__}: {e}"))
            return False
        out = np.asarray(out)
        if out.dtype.kind not in "biuf" or str(out.dtype) not in DTYPES or out.size > MAX_ELEMS:
            return False
        if op == "cast" and out.dtype.kind in "iu" and refs[0].dtype.kind == "f":
            info = np.iinfo(out.dtype)
            r = refs[0]
            if not (np.all(np.isfinite(r)) and np.all(r >= info.min) and np.all(r <= info.max)):
                return False  # float -> int of NaN/inf/out of range: unspecified (as in C)
        if self.grad and not self._smooth_here(op, refs, params, out):
            return False
        try:
            err, zsign = error_bound(op, args, params, out, self.val)
        except Skip:
            return False
        self.prog.steps.append((op, args, params))
        self.prog.vals.append(Val(out, np.broadcast_to(np.asarray(err, np.float64), out.shape).copy(), zsign))
        return True

    def _smooth_here(self, op, refs, params, out) -> bool:
        """Gradient programs stay away from kinks, poles and huge values."""
        if not np.all(np.isfinite(out)) or (out.size and np.max(np.abs(out)) > 1e4):
            return False
        margin = 1e-3
        x = refs[0]
        if op in ("log", "sqrt"):
            return np.all(x > 0.05)
        if op == "exp":
            return np.all(x < 6)
        if op in ("abs", "relu"):
            return np.all(np.abs(x) > margin)
        if op == "divide":
            return np.all(np.abs(np.asarray(refs[1])) > 0.1)
        if op in ("maximum", "minimum"):
            return np.all(np.abs(np.asarray(refs[0]) - np.asarray(refs[1])) > margin)
        if op in ("max", "min"):
            if x.size == 0:
                return False
            axis = params.get("axis")
            axes = tuple(range(x.ndim)) if axis is None else tuple(np.atleast_1d(axis))
            moved = np.moveaxis(x, axes, tuple(range(-len(axes), 0)))
            s = np.sort(moved.reshape(moved.shape[:moved.ndim - len(axes)] + (-1,)), axis=-1)
            return s.shape[-1] < 2 or np.all(np.abs(np.diff(s, axis=-1)) > margin)
        if op == "power":
            return np.all(x > 0.05)
        return True

    def random_step(self) -> bool:
        rng = self.rng
        kinds = (["unary", "binary", "binary", "reduce", "shape", "shape", "matmul", "softmax", "power"]
                 + ([] if self.grad else ["compare", "where", "cast", "logical", "argreduce"]))
        kind = str(rng.choice(kinds))
        return getattr(self, f"_step_{kind}")()

    def _arg(self, k):
        return ("v", k)

    def _float_pred(self, v):
        return v.ref.dtype.kind == "f" if self.grad else True

    def _step_unary(self):
        ops = GRAD_UNARY if self.grad else UNARY_EXACT + TRANSCENDENTAL + ("relu",)
        op = str(self.rng.choice(ops))
        k = self.pick(lambda v: v.ref.dtype != np.bool_ or op in ("abs", "negative"))
        return k is not None and self.try_step(op, [self._arg(k)], {})

    def _scalar(self, like):
        r = self.rng.random()
        if self.grad:
            return float(self.rng.choice([0.5, 2.0, -1.5, 3.0]))
        if r < 0.4:
            return int(self.rng.integers(-3, 4))
        if r < 0.9:
            return float(self.rng.choice([0.5, -2.0, 1e30, 1e-30, 0.0, -0.0, 3.25, float("inf"), float("nan")]))
        return bool(self.rng.random() < 0.5)

    def _partner(self, k, same_shape=False):
        """A second operand for value k: one broadcastable with it, or a new input."""
        shape = self.prog.vals[k].ref.shape
        rng = self.rng
        if rng.random() < 0.25 and not same_shape:
            return ("s", self._scalar(self.prog.vals[k].ref))
        def compatible(v):
            if same_shape:
                return v.ref.shape == shape
            try:
                np.broadcast_shapes(v.ref.shape, shape)
                return True
            except ValueError:
                return rng.random() < 0.05  # now and then an invalid pairing
        j = self.pick(lambda v: compatible(v) and self._float_pred(v))
        if j is None or rng.random() < 0.15:
            sub = tuple(d if rng.random() < 0.7 else 1 for d in shape[int(rng.integers(0, len(shape) + 1)):]) if shape else ()
            j = self.add_input(sub if not same_shape else shape,
                               dtype=None if rng.random() < 0.5 else str(self.prog.vals[k].ref.dtype))
            k = k + 1 if j <= k else k  # (an input inserted before k shifted it)
            return ("v", j), k
        return ("v", j), k

    def _binary(self, ops):
        op = str(self.rng.choice(ops))
        k = self.pick(self._float_pred)
        if k is None:
            return False
        res = self._partner(k)
        other, k = res if isinstance(res[0], tuple) else (res, k)
        args = [self._arg(k), other]
        if self.rng.random() < 0.5:
            args.reverse()
        return self.try_step(op, args, {})

    def _step_binary(self):
        return self._binary(GRAD_BINARY if self.grad else BINARY_ARITH)

    def _step_compare(self):
        return self._binary(COMPARE)

    def _step_logical(self):
        if self.rng.random() < 0.3:
            k = self.pick()
            return self.try_step("logical_not", [self._arg(k)], {})
        return self._binary(LOGICAL)

    def _step_power(self):
        k = self.pick(self._float_pred)
        if k is None:
            return False
        v = self.prog.vals[k].ref
        if v.dtype.kind in "iu":
            # (a constant negative exponent is rejected when tracing, even for an empty
            # array, where numpy has nothing to complain about: only tried on non-empty ones)
            c = int(self.rng.choice([0, 1, 2, 3, 3] + ([-1] if v.size else [])))
        else:
            c = float(self.rng.choice([2.0, 3.0, 0.5, -1.0, 2.5] if not self.grad else [2.0, 3.0, 0.5]))
        return self.try_step("power", [self._arg(k), ("s", c)], {})

    def _step_where(self):
        c = self.pick(lambda v: v.ref.dtype == np.bool_ and v.exact)
        if c is None:
            return False
        x = self.pick()
        y = self.pick() if self.rng.random() < 0.7 else None
        yarg = ("v", y) if y is not None else ("s", self._scalar(None))
        return self.try_step("where", [("v", c), ("v", x), yarg], {})

    def _step_cast(self):
        k = self.pick()
        dt = str(self.rng.choice(DTYPES))
        return self.try_step("cast", [self._arg(k)], {"dtype": dt})

    def _axis_params(self, nd, allow_tuple=True):
        rng = self.rng
        r = rng.random()
        if nd == 0 or r < 0.2:
            axis = None
        elif r < 0.75 or not allow_tuple:
            axis = int(rng.integers(-nd, nd))
        else:
            axis = tuple(sorted({int(a) for a in rng.integers(0, nd, size=2)}))
        if rng.random() < 0.03:
            axis = nd + 1  # out of range: invalid
        return {"axis": axis, "keepdims": bool(rng.random() < 0.5)}

    def _step_reduce(self):
        op = str(self.rng.choice(GRAD_REDUCE if self.grad else REDUCE))
        k = self.pick(self._float_pred)
        nd = self.prog.vals[k].ref.ndim
        return self.try_step(op, [self._arg(k)], self._axis_params(nd))

    def _step_argreduce(self):
        op = str(self.rng.choice(["argmax", "argmin"]))
        k = self.pick(lambda v: v.exact)
        if k is None:
            return False
        p = self._axis_params(self.prog.vals[k].ref.ndim, allow_tuple=False)
        return self.try_step(op, [self._arg(k)], p)

    def _step_softmax(self):
        op = str(self.rng.choice(["softmax", "log_softmax"]))
        k = self.pick(lambda v: v.ref.ndim >= 1 and v.ref.dtype.kind == "f")
        if k is None:
            return False
        nd = self.prog.vals[k].ref.ndim
        return self.try_step(op, [self._arg(k)], {"axis": int(self.rng.integers(-nd, nd))})

    def _step_matmul(self):
        rng = self.rng
        k = self.pick(lambda v: v.ref.ndim >= 1 and self._float_pred(v))
        if k is None:
            return False
        v = self.prog.vals[k].ref
        kdim = v.shape[-1]
        if not self.grad and rng.random() < 0.15 and v.ndim == 2 and 0 < v.size:
            # GEMM-sized: the packed kernel path (size * K >= 32K)
            m, kk, n = (int(x) for x in rng.integers(24, 48, size=3))
            a = self.add_input((m, kk), dtype=str(rng.choice(FLOATS)))
            b = self.add_input((kk, n), dtype=str(self.prog.vals[a].ref.dtype))
            return self.try_step("matmul", [("v", a), ("v", b)], {})
        right = rng.random() < 0.5
        nd_other = int(rng.choice([1, 2, 2, 3]))
        lead = tuple(int(rng.choice([1, 2, 3])) for _ in range(nd_other - 2))
        n = int(rng.choice([1, 2, 3, 5]))
        if right:   # v @ w, w: (..., K, n)
            wshape = lead + ((kdim,) if nd_other == 1 else (kdim, n))
        else:       # w @ v, w: (..., n, K') with K' = v's rows
            rows = v.shape[-2] if v.ndim >= 2 else v.shape[-1]
            wshape = lead + ((rows,) if nd_other == 1 else (n, rows))
        if rng.random() < 0.05:
            wshape = wshape[:-1] + (wshape[-1] + 1,)  # invalid: inner dimensions differ
        j = self.add_input(wshape, dtype=None if rng.random() < 0.3 else str(v.dtype))
        k = k + 1 if j <= k else k
        args = [("v", k), ("v", j)] if right else [("v", j), ("v", k)]
        return self.try_step("matmul", args, {})

    def _step_shape(self):
        rng = self.rng
        op = str(rng.choice(SHAPE_OPS))
        k = self.pick(self._float_pred)
        if k is None:
            return False
        v = self.prog.vals[k].ref
        shape, nd = v.shape, v.ndim
        if op == "reshape":
            new = _random_reshape(rng, shape)
            return self.try_step(op, [self._arg(k)], {"shape": new})
        if op == "transpose":
            perm = tuple(int(p) for p in rng.permutation(nd)) if rng.random() < 0.8 else None
            return self.try_step(op, [self._arg(k)], {"axes": perm})
        if op == "expand_dims":
            return self.try_step(op, [self._arg(k)], {"axis": int(rng.integers(-nd - 1, nd + 1))})
        if op == "squeeze":
            ones = [a for a, d in enumerate(shape) if d == 1]
            axis = int(rng.choice(ones)) if ones and rng.random() < 0.8 else (None if rng.random() < 0.7 or not nd else int(rng.integers(0, nd)))
            return self.try_step(op, [self._arg(k)], {"axis": axis})
        if op == "broadcast_to":
            new = tuple(int(rng.choice([1, 2, 3])) for _ in range(int(rng.integers(0, 2)))) + tuple(
                int(rng.choice([2, 3])) if d == 1 and rng.random() < 0.6 else d for d in shape)
            return self.try_step(op, [self._arg(k)], {"shape": new})
        if op in ("concatenate", "stack"):
            if nd == 0 and op == "concatenate":
                return self.try_step(op, [self._arg(k), self._arg(k)], {"axis": 0})
            axis = int(rng.integers(-nd - (op == "stack"), nd + (op == "stack"))) if nd or op == "stack" else 0
            parts = [self._arg(k)]
            for _ in range(int(rng.integers(1, 3))):
                if rng.random() < 0.4:
                    parts.append(self._arg(k))
                    continue
                pshape = list(shape)
                if op == "concatenate" and nd:
                    pshape[axis] = int(rng.choice([0, 1, 2, 3]))
                j = self.add_input(tuple(pshape), dtype=None if rng.random() < 0.3 else str(v.dtype))
                parts = [("v", x + 1 if x >= j else x) for _, x in parts]
                parts.append(("v", j))
            return self.try_step(op, parts, {"axis": axis})
        # getitem: basic indexing
        key = []
        for d in shape:
            r = rng.random()
            if r < 0.25 and d > 0:
                key.append(int(rng.integers(-d, d)))
            elif r < 0.7:
                start = int(rng.integers(-d - 1, d + 1)) if d else 0
                stop = int(rng.integers(-d - 1, d + 2)) if d else 0
                step = int(rng.choice([1, 1, 2, -1, 3]))
                key.append(slice(start if rng.random() < 0.7 else None, stop if rng.random() < 0.7 else None, step))
            else:
                key.append(slice(None))
        if rng.random() < 0.15:
            key.insert(int(rng.integers(0, len(key) + 1)), None)
        if rng.random() < 0.03 and shape:
            key[0] = shape[0] + 2  # out of range: invalid
        return self.try_step("getitem", [self._arg(k)], {"key": tuple(key)})

    def generate(self) -> Program:
        rng = self.rng
        for _ in range(int(rng.integers(1, 3))):
            self.add_input()
        target = int(rng.integers(2, self.max_steps + 1))
        attempts = 0
        while len(self.prog.steps) < target and attempts < 12 * target:
            attempts += 1
            self.random_step()
        n = len(self.prog.vals)
        outs = [n - 1]
        for _ in range(int(rng.integers(0, 3))):
            outs.append(int(rng.integers(0, n)))
        self.prog.outputs = outs if not self.grad else [n - 1]
        return self.prog


def _random_reshape(rng, shape):
    size = int(np.prod(shape))
    if rng.random() < 0.04:
        return (size + 1,)  # invalid
    if size == 0:
        return tuple(rng.permutation(list(shape) + [1])) if rng.random() < 0.5 else (0, -1) if rng.random() < 0.5 else (0,)
    factors = []
    rest = size
    for p in (2, 3, 5, 7):
        while rest % p == 0:
            factors.append(p)
            rest //= p
    if rest > 1:
        factors.append(rest)
    rng.shuffle(factors)
    dims = []
    for f in factors:
        if dims and rng.random() < 0.5:
            dims[-1] *= f
        else:
            dims.append(f)
    if rng.random() < 0.3:
        dims.insert(int(rng.integers(0, len(dims) + 1)), 1)
    if dims and rng.random() < 0.3:
        dims[int(rng.integers(0, len(dims)))] = -1
    return tuple(dims)


# -- checking ---------------------------------------------------------------------------------
def compare(got, val: Val, stats: dict | None = None) -> str | None:
    """None if graphc's ``got`` matches the reference within its bound, else a message.
    ``stats`` counts elements compared exactly, within a bound, and not compared."""
    ref = np.asarray(val.ref)
    got = np.asarray(got)
    if got.shape != ref.shape or got.dtype != ref.dtype:
        return f"type: got {got.dtype}{list(got.shape)}, numpy {ref.dtype}{list(ref.shape)}"
    if ref.dtype.kind != "f":
        bad = got != ref
    else:
        err = np.broadcast_to(val.err, ref.shape)
        g, r = got.astype(np.float64), ref.astype(np.float64)
        same = (g == r) | (np.isnan(g) & np.isnan(r))
        exact = err == 0
        if val.zsign:
            same &= ~(exact & (g == 0) & (r == 0) & (np.signbit(g) != np.signbit(r)))
        with np.errstate(invalid="ignore"):
            close = same | (~exact & (np.abs(g - r) <= err))
        bad = np.isfinite(err) & ~close
        if stats is not None:
            stats["elems_exact"] = stats.get("elems_exact", 0) + int(np.sum(exact))
            stats["elems_bounded"] = stats.get("elems_bounded", 0) + int(np.sum(~exact & np.isfinite(err)))
            stats["elems_unchecked"] = stats.get("elems_unchecked", 0) + int(np.sum(~np.isfinite(err)))
    if ref.dtype.kind != "f" and stats is not None:
        stats["elems_exact"] = stats.get("elems_exact", 0) + ref.size
    if not np.any(bad):
        return None
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    e = np.broadcast_to(val.err, ref.shape)[idx] if ref.dtype.kind == "f" else 0
    return (f"{int(np.sum(bad))}/{ref.size} elements differ, first at {list(idx)}: "
            f"graphc {got[idx]!r} numpy {ref[idx]!r} (bound {e:.3g})")
