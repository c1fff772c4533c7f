"""A small example graph for every registered op: the coverage table of the GPU tests.

``EXAMPLES[op]`` lists ``Example``s: a function that, traced with ``args``, contains a
node of ``op``. The PTX test compiles each for the GPU and assembles it with ptxas; the
GPU and emulator tests run it and compare with the CPU. An op without an entry fails
those tests by name, so an op added later must be given one: add it here, or in a
``tests/op_examples_<topic>.py`` module calling ``example(...)`` (imported below).
Ops that by design have no GPU kernel are listed with ``cpu_only(op, reason, ...)``:
the tests then check that the placer keeps them off the GPU.
"""
from __future__ import annotations

import glob
import importlib.util
import os
from dataclasses import dataclass, field

import numpy as np

import graphc as gc
from graphc.ops.registry import all_ops


@dataclass
class Example:
    op: str
    fn: object
    args: tuple
    rtol: float = 1e-5       # GPU vs CPU: float32 results within a few ulp
    atol: float = 1e-6
    cpu_only: str = ""       # reason the op has no GPU kernel (then fn must still trace it)
    options: dict = field(default_factory=dict)   # gc.compile options
    setup: object = None     # called before each run (e.g. to reset the random counter)


EXAMPLES: dict = {}


def example(op, fn, *args, rtol=1e-5, atol=1e-6, options=None, setup=None):
    EXAMPLES.setdefault(op, []).append(Example(op, fn, args, rtol, atol, options=dict(options or {}), setup=setup))


def cpu_only(op, reason, fn, *args):
    EXAMPLES.setdefault(op, []).append(Example(op, fn, args, cpu_only=reason))


def missing_examples() -> list:
    """Registered non-source ops with no example (each must get one)."""
    return sorted(name for name, op in all_ops().items() if op.kind != "source" and name not in EXAMPLES)


def cases():
    """(id, Example) for pytest parametrization, in a stable order."""
    out = []
    for op in sorted(EXAMPLES):
        for k, ex in enumerate(EXAMPLES[op]):
            out.append((f"{op}-{k}", ex))
    return out


_rng = np.random.default_rng(1234)


def f32(*shape, lo=-2.0, hi=2.0):
    return _rng.uniform(lo, hi, shape).astype(np.float32)


def f64(*shape):
    return _rng.standard_normal(shape)


def i32(*shape, lo=-50, hi=50):
    return _rng.integers(lo, hi, shape).astype(np.int32)


def i64(*shape, lo=-50, hi=50):
    return _rng.integers(lo, hi, shape).astype(np.int64)


def b(*shape):
    return _rng.random(shape) < 0.5


X = f32(33, 300)     # reductions over 300 (block reductions on the GPU), odd row count
Y = f32(33, 300)
V = f32(300)

# -- elementwise ----------------------------------------------------------------------------------
for _name, _fn in [("add", gc.add), ("subtract", gc.subtract), ("multiply", gc.multiply),
                   ("maximum", gc.maximum), ("minimum", gc.minimum)]:
    example(_name, _fn, X, V)
    example(_name, _fn, i32(7, 9), i32(9))
example("divide", gc.divide, X, f32(300, lo=0.5, hi=2.0))
example("power", gc.power, f32(40, 50, lo=0.1, hi=3.0), f32(50, lo=-2.0, hi=2.0), rtol=2e-5)
example("power", lambda x: gc.power(x, 3), i64(10, lo=-5, hi=5))
example("negative", gc.negative, X)
example("abs", gc.abs, X)
example("abs", gc.abs, i32(64))
example("square", gc.square, f64(64))
example("sqrt", gc.sqrt, f32(64, 64, lo=0.0, hi=10.0))
example("exp", gc.exp, X)
example("log", gc.log, f32(64, 64, lo=1e-3, hi=100.0))
example("tanh", gc.tanh, X)
example("tanh", gc.tanh, f64(257))
example("sigmoid", gc.sigmoid, X)
example("relu", gc.relu, X)
example("stop_gradient", lambda a: gc.stop_gradient(a) * 2, X)
example("expm1", gc.expm1, X)
example("log1p", gc.log1p, f32(64, 64, lo=-0.5, hi=4.0))
for _name, _fn in [("equal", gc.equal), ("not_equal", gc.not_equal), ("less", gc.less),
                   ("less_equal", gc.less_equal), ("greater", gc.greater), ("greater_equal", gc.greater_equal)]:
    example(_name, _fn, i32(30, 20, lo=-3, hi=3), i32(20, lo=-3, hi=3))
example("greater", gc.greater, X, V)
example("logical_and", gc.logical_and, b(17, 5), b(5))
example("logical_or", gc.logical_or, b(17, 5), b(5))
example("logical_not", gc.logical_not, b(129))
example("where", gc.where, b(33, 300), X, Y)
example("cast", lambda x: gc.cast(x, "int32"), X * 10)
example("cast", lambda x: gc.cast(x, "float32"), b(100))
example("cast", lambda x: gc.cast(x, "float64"), i64(100))
example("fill", lambda x: gc.maximum(x, gc.full((33, 300), 0.25, "float32")), X)
example("iota", lambda x: x + gc.arange(300, dtype="float32"), X)
example("random", lambda x: x + gc.random.uniform((33, 300), seed=7), X,
        setup=lambda: gc.random.set_seed(11))   # same seed and call counter for both runs

# -- reductions -------------------------------------------------------------------------------------
example("reduce_sum", lambda x: gc.sum(x, axis=1), X, rtol=1e-4)
example("reduce_sum", lambda x: gc.sum(x, axis=0), X, rtol=1e-4)
example("reduce_sum", lambda x: gc.sum(x), f32(20000), rtol=1e-4, atol=1e-3)   # two-stage on the GPU
example("reduce_sum", lambda x: gc.sum(x, axis=1), b(40, 100))
example("reduce_sum", lambda x: gc.sum(x, axis=(0, 2)), i32(6, 5, 70))
example("reduce_prod", lambda x: gc.prod(x, axis=1), f32(20, 80, lo=0.9, hi=1.1), rtol=1e-4)
example("reduce_max", lambda x: gc.max(x, axis=1), X)
example("reduce_max", lambda x: gc.max(x), f32(20000))
example("reduce_max", lambda x: gc.max(x, axis=1), b(9, 100))
example("reduce_min", lambda x: gc.min(x, axis=0), X)
example("reduce_min", lambda x: gc.min(x, axis=1), i64(9, 100))
# fused row reductions: one block per row (row_block / block_reduce) or one thread per row
example("reduce_max", gc.log_softmax, X, rtol=1e-5, atol=1e-5)
example("reduce_max", gc.softmax, f32(3000, 10))
example("reduce_sum", lambda x: gc.sum(gc.exp(x - gc.max(x, axis=1, keepdims=True)), axis=1, keepdims=True), X)
example("reduce_sum", lambda x: gc.sum(gc.exp(x - gc.max(x, axis=1, keepdims=True)), axis=1, keepdims=True),
        f32(3000, 10))
example("argmax", lambda x: gc.argmax(x, axis=1), X)
example("argmax", lambda x: gc.argmax(x), np.concatenate([f32(10000), [np.nan], f32(9999), [np.nan]]).astype(np.float32))
example("argmax", lambda x: gc.argmax(x, axis=1), i32(20, 300, lo=0, hi=4))   # many ties: first index wins
example("argmin", lambda x: gc.argmin(x, axis=0), X)
example("argmin", lambda x: gc.argmin(x, axis=1), i32(20, 300, lo=0, hi=4))

# -- shapes -----------------------------------------------------------------------------------------
example("reshape", lambda x: gc.reshape(x, (300, 33)) * 2, X)
example("transpose", lambda x: gc.transpose(x) * 2, X)
example("transpose", lambda x: gc.transpose(x, (2, 0, 1)), f32(4, 5, 6))
example("broadcast_to", lambda v: gc.broadcast_to(v, (33, 300)) * 1, V)
example("slice", lambda x: x[3:20:2, ::-3], X)
example("slice_grad", gc.grad(lambda x: gc.sum(x[3:20:2, ::-3] ** 2)), X)
example("concatenate", lambda x, y: gc.concatenate([x, y, x], axis=1), X, Y)
example("gather", lambda p, i: gc.gather(p, i, axis=0), f32(50, 7), i32(33, lo=-2, hi=55))

# -- linear algebra ---------------------------------------------------------------------------------
example("matmul", lambda a, w: a @ w, f32(37, 300), f32(300, 70), rtol=1e-4, atol=1e-4)
example("matmul", lambda a, w: gc.relu(a) @ w, f32(9, 20), f32(20, 13), rtol=1e-4, atol=1e-5)
example("matmul", lambda a, w: a @ w, f32(3, 9, 20), f32(20, 13), rtol=1e-4, atol=1e-5)
example("matmul", lambda a, w: a @ w, f64(129, 65), f64(65, 130), rtol=1e-10, atol=1e-10)
example("matmul", lambda a, w: a @ w, i32(5, 6, lo=-3, hi=3), i32(6, 7, lo=-3, hi=3))
example("matrix_inverse", gc.matrix_inverse, (np.eye(6) * 3 + f64(6, 6) * 0.1), rtol=1e-9, atol=1e-9)

# -- neural-network kernels -------------------------------------------------------------------------
example("extract_patches", lambda x: gc.nn.extract_patches(x, 3, 1, "SAME"), f32(2, 6, 7, 3))
example("extract_patches_grad", gc.grad(lambda x: gc.sum(gc.nn.conv2d(x, np.ones((3, 3, 3, 2), np.float32),
                                                                     2, "SAME") ** 2)),
        f32(2, 6, 7, 3), rtol=1e-4, atol=1e-4)


def _mixed(x):
    with gc.device("/cpu:0"):
        y = gc.exp(x) * 2.0
    return gc.tanh(y) + x     # on the GPU: the placer copies y there


example("copy_to_device", _mixed, X, options={"placement": "auto"})
cpu_only("scan", "a whole-step CPU lowering (a native loop calling the body), no per-element emit",
         lambda xs: gc.scan(lambda c, x: (c + x, c * x), np.float32(0), xs)[1], f32(8))


def _load_extensions():
    here = os.path.dirname(os.path.abspath(__file__))
    for path in sorted(glob.glob(os.path.join(here, "op_examples_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)


_load_extensions()
