"""tf.random_uniform / random_normal / truncated_normal on graphc's counter-based RNG.

Each run of a compiled program draws new numbers (graphc advances its counter
variable inside the program). Seeds follow TF's two-level rule: an op seed, else one
derived from the graph seed (``tf.set_random_seed``) and the op's position.
"""
from __future__ import annotations

import graphc as gc
from . import dtypes
from .convert import shape_arg, static_shape
from .graph import get_default_graph
from .record import record


def op_seed(seed):
    """The seed graphc gets: the op's own, else derived from the graph seed, else None."""
    if seed is not None:
        return int(seed)
    graph = get_default_graph()
    if graph.seed is None:
        return None
    graph._seed_ops = getattr(graph, "_seed_ops", 0) + 1
    return (int(graph.seed) * 1000003 + graph._seed_ops) & 0x7FFFFFFF


def _draw(fn):
    def run(shape, a, b, dt, seed):
        return fn(static_shape(shape), a, b, dt, seed)
    return run


def random_uniform(shape, minval=0, maxval=None, dtype=dtypes.float32, seed=None, name=None):
    dt = dtypes.as_dtype(dtype)
    if not dt.is_floating:
        raise NotImplementedError("graphc draws float32/float64 random values only")
    maxval = 1.0 if maxval is None else maxval
    return record("RandomUniform", _draw(lambda s, lo, hi, d, sd: gc.random.uniform(s, lo, hi, d, sd)),
                  (shape_arg(shape), minval, maxval, dt.name, op_seed(seed)), name=name or "random_uniform")


def random_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    dt = dtypes.as_dtype(dtype)
    return record("RandomStandardNormal", _draw(lambda s, m, sd_, d, sd: gc.random.normal(s, m, sd_, d, sd)),
                  (shape_arg(shape), mean, stddev, dt.name, op_seed(seed)), name=name or "random_normal")


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    dt = dtypes.as_dtype(dtype)
    return record("TruncatedNormal",
                  _draw(lambda s, m, sd_, d, sd: gc.random.truncated_normal(s, m, sd_, d, sd)),
                  (shape_arg(shape), mean, stddev, dt.name, op_seed(seed)), name=name or "truncated_normal")
