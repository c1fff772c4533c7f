"""tf.random_uniform / random_normal / truncated_normal on graphc's counter-based RNG.

Seeds follow TF 1.x's two-level rule (``tf.get_seed``): with a graph seed
(``tf.set_random_seed``) and/or an op seed, the op's stream is a function of both (an
op without its own seed takes the graph's op count, TF's ``_last_id``; an op seed
without a graph seed pairs with TF's DEFAULT_GRAPH_SEED). Such a seeded op draws from
its own counter, one per session: the first run in every new session and every new
graph built the same way gives the same numbers (the books compare trainings from the
same start), and each further run in a session draws new ones. Dropout's masks
(tf.nn.dropout, tf.layers.dropout) follow the same rule. Without any seed the op uses
graphc's process-wide generator (different numbers every time, as in TF).
"""
from __future__ import annotations

import numpy as np

import graphc as gc
from ...ops.random import GOLDEN, MASK, _affine, mix64_int
from ...tracing import bind
from . import dtypes
from .convert import shape_arg, static_shape
from .graph import Ref, get_default_graph
from .record import record

DEFAULT_GRAPH_SEED = 87654321   # TF's, used when only the op has a seed


def get_seed(op_seed=None):
    """TF's (graph seed, op seed) pair for a new op, or (None, None) when unseeded."""
    graph = get_default_graph()
    if graph.seed is not None:
        if op_seed is None:
            op_seed = len(graph._ops)       # TF: the graph's last op id
        return int(graph.seed), int(op_seed)
    if op_seed is not None:
        return DEFAULT_GRAPH_SEED, int(op_seed)
    return None, None


def op_seed(seed):
    """One int seed for graphc functions (dropout, host initializers) combining TF's
    graph and op seeds, or None when neither is set."""
    graph_seed, seed = get_seed(seed)
    if graph_seed is None:
        return None
    return mix64_int(mix64_int(graph_seed * GOLDEN) + (seed + 1) * GOLDEN) & 0x7FFFFFFF


class _OpCounter:
    """The call counter of one seeded random op, owned by each session (so a new
    session restarts the op's stream, as a new TF session restarts its kernels)."""

    def __init__(self, name):
        self.name = name
        self._probe = None

    def _new(self):
        return gc.Variable(np.int64(0), name=self.name + "/rng_counter", trainable=False, dtype="int64")

    def _for_session(self, session):
        return session._object(self, self._new)

    def _for_probe(self):
        if self._probe is None:
            self._probe = self._new()
        return self._probe


def seeded_stream(seed, name):
    """(Ref to a per-session call counter, key) for a new random op under TF's seed rule,
    or (None, None) when neither the graph nor the op is seeded. ``draw_seeded`` draws
    from it; dropout uses it for its masks as the random ops do for their values."""
    graph_seed, seed = get_seed(seed)
    if graph_seed is None:
        return None, None
    key = mix64_int(mix64_int(graph_seed * GOLDEN + 1) + ((seed + 1) & MASK) * GOLDEN)
    return Ref(_OpCounter(name)), key


def draw_seeded(shape, dt, dist, counter_var, key):
    """The next draw of a seeded stream: the counter is read and advanced in the call."""
    counter = counter_var.value()
    counter_var.assign(counter + np.int64(1))
    return bind("random", [counter], shape=tuple(shape), dtype=dt, dist=dist, key=key)


def _seeded_draw(dist):
    def run(shape, a, b, dt, counter_var, key):
        x = draw_seeded(static_shape(shape), dt, dist, counter_var, key)
        if dist == "uniform":
            return _affine(x, b - a, a, dt) if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
                else _affine(x, gc.subtract(b, a), a, dt)
        return _affine(x, b, a, dt)
    return run


def _random_op(op_type, dist, unseeded, shape, a, b, dt, seed, name):
    counter, key = seeded_stream(seed, name)
    if counter is None:
        return record(op_type, unseeded, (shape_arg(shape), a, b, dt.name, None), name=name)
    return record(op_type, _seeded_draw(dist), (shape_arg(shape), a, b, dt.name, counter, key), name=name)


def _draw(fn):
    def run(shape, a, b, dt, seed):
        return fn(static_shape(shape), a, b, dt, seed)
    return run


def random_uniform(shape, minval=0, maxval=None, dtype=dtypes.float32, seed=None, name=None):
    dt = dtypes.as_dtype(dtype)
    if not dt.is_floating:
        raise NotImplementedError("graphc draws float32/float64 random values only")
    maxval = 1.0 if maxval is None else maxval
    return _random_op("RandomUniform", "uniform",
                      _draw(lambda s, lo, hi, d, sd: gc.random.uniform(s, lo, hi, d, sd)),
                      shape, minval, maxval, dt, seed, name or "random_uniform")


def random_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    dt = dtypes.as_dtype(dtype)
    return _random_op("RandomStandardNormal", "normal",
                      _draw(lambda s, m, sd_, d, sd: gc.random.normal(s, m, sd_, d, sd)),
                      shape, mean, stddev, dt, seed, name or "random_normal")


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=dtypes.float32, seed=None, name=None):
    dt = dtypes.as_dtype(dtype)
    return _random_op("TruncatedNormal", "truncated_normal",
                      _draw(lambda s, m, sd_, d, sd: gc.random.truncated_normal(s, m, sd_, d, sd)),
                      shape, mean, stddev, dt, seed, name or "truncated_normal")
