"""gc.nn functions for issue 7: convolution, pooling, normalization, dropout, activations.

The ops themselves live in graphc/ops/ (conv.py, pool.py, norm.py, nn_extra.py,
random.py); this module gathers them under gc.nn and adds dropout, which is a
composite of a random op and a where.
"""
from __future__ import annotations

from ..errors import ShapeError
from ..ops.common import cast_to, dtype_of, promote, shape_of
from ..ops.conv import conv2d, conv2d_transpose, extract_patches  # noqa: F401
from ..ops.elementwise import greater_equal, multiply, where
from ..ops.nn_extra import (bias_add, elu, embedding_lookup, expm1, gather, leaky_relu, log1p,  # noqa: F401
                            selu, softplus)
from ..optim import clip_by_norm, clip_by_value  # noqa: F401  (issue 4's, shared)
from ..ops.norm import batch_norm, batch_normalization, moments  # noqa: F401
from ..ops.pool import avg_pool, local_response_normalization, lrn, max_pool  # noqa: F401
from ..ops.random import uniform


def dropout(x, rate=None, training=True, seed=None, keep_prob=None, noise_shape=None, draw=None):
    """Zero each element with probability ``rate``, scale the kept ones by 1/(1-rate).

    Give ``rate`` (tf.layers.dropout) or ``keep_prob`` (TF 1.x tf.nn.dropout).
    ``training`` may be a Python bool (False returns x unchanged) or a traced bool
    scalar (both branches are built and selected). Every call draws a new mask (see
    graphc/ops/random.py); ``noise_shape`` broadcasts one mask over some axes.
    ``draw(shape, dtype)``, when given, supplies the uniform [0, 1) values instead of
    graphc's generator (graphc.compat.v1 passes a seeded per-session stream).
    """
    if (rate is None) == (keep_prob is None):
        raise ValueError("dropout: give exactly one of rate and keep_prob")
    rate = 1.0 - float(keep_prob) if rate is None else float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    _, (x,) = promote(x, float_only=True)
    if training is False or rate == 0.0:
        return x
    dt = dtype_of(x)
    shape = tuple(shape_of(x)) if noise_shape is None else \
        tuple(d if isinstance(d, str) else int(d) for d in noise_shape)  # str: a symbolic size
    if len(shape) != len(shape_of(x)) or any(d not in (1, e) for d, e in zip(shape, shape_of(x))):
        raise ShapeError(f"dropout: noise_shape {shape} does not broadcast to x's shape {tuple(shape_of(x))}")
    noise = uniform(shape, dtype=dt, seed=seed) if draw is None else draw(shape, dt)
    keep = greater_equal(noise, cast_to(rate, dt))
    dropped = where(keep, multiply(x, cast_to(1.0 / (1.0 - rate), dt)), cast_to(0, dt))
    if training is True:
        return dropped
    return where(training, dropped, x)
