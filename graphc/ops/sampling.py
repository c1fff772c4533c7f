"""Categorical sampling and TF's candidate samplers, as composites of core ops.

Why composites and no new primitive: each sampler is a fixed-size computation on
counter-based uniforms (``random.uniform``, seeded and advanced per call like every
random op) followed by elementwise ops, comparisons, reductions and argmax, so it
fuses, runs on every target and needs no gradient rule (its outputs are integers, and
the expected counts depend only on the integers).

- ``categorical(logits, n)`` (tf.multinomial): the Gumbel-max trick,
  ``argmax(logits + g)`` with ``g = -log(-log(u))``, draws index i with probability
  softmax(logits)[i] exactly; non-finite logits get probability 0, as in TF.
- ``candidate_sample(...)`` (tf.nn.log_uniform_candidate_sampler and
  uniform_candidate_sampler, the samplers of nce_loss/sampled_softmax_loss) follows
  TF's RangeSampler: with ``unique=True`` it draws with replacement and keeps the
  first ``num_sampled`` distinct values in draw order; ``num_tries`` (the draws that
  took) gives the expected counts ``-expm1(num_tries * log1p(-p))`` (``p *
  num_sampled`` when no draw was rejected). A native loop of unknown length is
  avoided by drawing a fixed ``M`` values: M is the smallest number of draws for
  which running out of distinct values has probability < 1e-9, bounded by the
  worst case in which every rejected draw hit the most likely classes
  (``draws_needed``); in that case (probability < 1e-9 per call) the missing values
  would be 0. The log-uniform value is ``floor(exp(u * log(range_max + 1))) - 1``
  with probability ``log((v + 2) / (v + 1)) / log(range_max + 1)``, as in TF.
"""
from __future__ import annotations

import math

import numpy as np

from .common import shape_of
from .creation import arange
from .elementwise import (absolute as _abs, add, cast, divide, equal, exp, greater, less, log, logical_and,
                          logical_not, multiply, negative, subtract, where)
from .nn_extra import expm1, log1p
from .reductions import argmax, max as reduce_max, sum as reduce_sum
from .shape_ops import expand_dims
from . import random as _random

TAIL = 1e-9          # allowed probability of running out of distinct draws
MAX_DRAWS = 4096     # beyond this the M x M uniqueness test is too costly


def categorical(logits, num_samples, seed=None, dtype="int64", uniform=None):
    """[batch, num_samples] class indices drawn from softmax(logits) (tf.multinomial).

    ``uniform(shape)``: the source of float64 uniforms in [0, 1) (default: gc.random's,
    with ``seed``), so a frontend can draw from its own seeded stream."""
    shape = tuple(shape_of(logits))
    if len(shape) != 2:
        from ..errors import ShapeError

        raise ShapeError(f"categorical: logits must be [batch, classes], got shape {shape}")
    batch, classes = shape
    x = cast(logits, "float64")
    x = where(less(_abs(x), np.inf), x, -np.inf)                     # TF: non-finite logits never drawn
    u = (uniform or _default_uniform(seed))((batch, int(num_samples), classes))
    gumbel = negative(log(negative(log(u))))                         # u = 0 gives -inf: never drawn
    scores = add(expand_dims(x, 1), gumbel)
    return cast(argmax(scores, axis=-1), dtype)


def _default_uniform(seed):
    return lambda shape: _random.uniform(shape, 0.0, 1.0, "float64", seed)


# -- candidate samplers ----------------------------------------------------------------------------


def _top_mass(kind, k, range_max):
    """Total probability of the k most likely classes."""
    if kind == "log_uniform":
        return math.log(k + 1) / math.log(range_max + 1)
    return k / range_max


def draws_needed(kind, num_sampled, range_max, tail=TAIL):
    """Smallest M with P(fewer than num_sampled distinct values in M draws) < tail.

    The number of draws needed is at most a sum of geometric variables whose success
    probabilities are 1 - (mass of the k most likely classes), k = 0..num_sampled-1;
    its distribution is computed exactly by convolution.
    """
    if num_sampled > range_max:
        raise ValueError(f"candidate sampler: num_sampled ({num_sampled}) > range_max ({range_max}) with unique=True")
    pmf = np.zeros(MAX_DRAWS + 1)
    pmf[0] = 1.0
    n = np.arange(1, MAX_DRAWS + 1)
    for k in range(num_sampled):
        q = 1.0 - _top_mass(kind, k, range_max)
        geo = np.concatenate([[0.0], q * (1.0 - q) ** (n - 1)])
        pmf = np.convolve(pmf, geo)[:MAX_DRAWS + 1]
    cdf = np.cumsum(pmf)
    ok = np.nonzero(cdf > 1.0 - tail)[0]
    if ok.size == 0:
        raise NotImplementedError(f"candidate sampler: {num_sampled} distinct values out of {range_max} need more "
                                  f"than {MAX_DRAWS} draws; use unique=False or a larger range_max")
    return max(int(ok[0]), num_sampled)


def probability(kind, values, range_max):
    """P(value) under the sampler's distribution (float64, the shape of values)."""
    v = cast(values, "float64")
    if kind == "log_uniform":
        # log((v + 2) / (v + 1)) / log(range_max + 1), as log1p(1 / (v + 1)) for accuracy
        return multiply(log1p(divide(1.0, add(v, 1.0))), 1.0 / math.log1p(range_max))
    return add(multiply(v, 0.0), 1.0 / range_max)


def values_from_uniform(kind, u, range_max):
    """Sampler values (int64) from float64 uniforms in [0, 1)."""
    if kind == "log_uniform":
        v = subtract(cast(exp(multiply(u, math.log1p(range_max))), "int64"), np.int64(1))
    else:
        v = cast(multiply(u, float(range_max)), "int64")
    return where(less(v, 0), np.int64(0), where(greater(v, range_max - 1), np.int64(range_max - 1), v))


def first_unique(draws, num_sampled):
    """(the first num_sampled distinct values of draws [M] in draw order, num_tries as float64)."""
    m = int(shape_of(draws)[0])
    earlier = np.tril(np.ones((m, m), bool), -1)                     # earlier[j, i]: i < j
    seen = logical_and(equal(expand_dims(draws, 1), expand_dims(draws, 0)), earlier)
    is_new = logical_not(greater(reduce_max(cast(seen, "int32"), axis=1), 0))
    new_i = cast(is_new, "int64")
    rank = subtract(reduce_sum(where(np.tril(np.ones((m, m), bool)), expand_dims(new_i, 0), np.int64(0)), axis=1),
                    np.int64(1))                                     # index among the distinct ones
    ks = arange(num_sampled, dtype="int64")
    hit = logical_and(equal(expand_dims(ks, 1), expand_dims(rank, 0)), expand_dims(is_new, 0))   # [S, M]
    picked = reduce_sum(where(hit, expand_dims(draws, 0), np.int64(0)), axis=1)
    last = reduce_sum(where(hit[num_sampled - 1], arange(m, dtype="int64"), np.int64(0)))
    return picked, cast(add(last, np.int64(1)), "float64")


def expected_count(p, num_tries, num_sampled):
    """TF's ExpectedCountHelper: p * S when nothing was rejected, else 1 - (1 - p)^tries."""
    exact = multiply(p, float(num_sampled))
    rejected = negative(expm1(multiply(num_tries, log1p(negative(p)))))
    return where(equal(num_tries, float(num_sampled)), exact, rejected)


def candidate_sample(kind, true_classes, num_sampled, unique, range_max, seed=None, uniform=None):
    """(sampled [S] int64, true_expected_count [batch, num_true], sampled_expected_count [S]), float32 counts;
    ``uniform`` as for categorical."""
    uniform = uniform or _default_uniform(seed)
    if kind not in ("log_uniform", "uniform"):
        raise ValueError(f"candidate sampler: unknown distribution {kind!r}")
    num_sampled, range_max = int(num_sampled), int(range_max)
    if unique:
        m = draws_needed(kind, num_sampled, range_max)
        draws = values_from_uniform(kind, uniform((m,)), range_max)
        sampled, tries = first_unique(draws, num_sampled)
    else:
        sampled = values_from_uniform(kind, uniform((num_sampled,)), range_max)
        tries = cast(np.float64(num_sampled), "float64")
    true_p = probability(kind, true_classes, range_max)
    true_count = expected_count(true_p, tries, num_sampled)
    sampled_count = expected_count(probability(kind, sampled, range_max), tries, num_sampled)
    return sampled, cast(true_count, "float32"), cast(sampled_count, "float32")

