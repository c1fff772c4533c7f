"""Host-side weight initializers (numpy), returning arrays ready for gc.Variable.

They follow the TF 1.x initializers the books use. Fans: a 2-D shape is (fan_in,
fan_out); a conv filter (H, W, in, out) multiplies both by the receptive field H*W, as
TF's variance scaling does. ``seed`` makes the draw reproducible.
"""
from __future__ import annotations

import numpy as np

__all__ = ["glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "truncated_normal", "zeros"]

# stddev of a standard normal truncated to [-2, 2]: dividing by it keeps the
# requested variance after truncation (as tf.variance_scaling_initializer does).
_TRUNCATED_STD = 0.87962566103423978


def _fans(shape):
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2], dtype=np.int64))
    return shape[-2] * receptive, shape[-1] * receptive


def _rng(seed):
    return np.random.default_rng(seed)


def truncated_normal(shape, stddev=1.0, seed=None, mean=0.0, dtype="float32"):
    """Normal(mean, stddev) with draws beyond 2 stddev redrawn (tf.truncated_normal)."""
    rng = _rng(seed)
    shape = tuple(int(d) for d in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return (mean + stddev * out).astype(dtype)


def glorot_uniform(shape, seed=None, dtype="float32"):
    """Uniform(-r, r) with r = sqrt(6 / (fan_in + fan_out)) (Xavier/Glorot)."""
    fan_in, fan_out = _fans(shape)
    r = np.sqrt(6.0 / (fan_in + fan_out))
    return _rng(seed).uniform(-r, r, size=tuple(shape)).astype(dtype)


def glorot_normal(shape, seed=None, dtype="float32"):
    """Normal(0, sigma) with sigma = sqrt(2 / (fan_in + fan_out)) (the books' Xavier normal)."""
    fan_in, fan_out = _fans(shape)
    return (_rng(seed).standard_normal(tuple(shape)) * np.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def he_normal(shape, seed=None, dtype="float32"):
    """Truncated normal with variance 2 / fan_in (He; tf.variance_scaling_initializer(2.0))."""
    fan_in, _ = _fans(shape)
    return truncated_normal(shape, np.sqrt(2.0 / fan_in) / _TRUNCATED_STD, seed=seed, dtype=dtype)


def he_uniform(shape, seed=None, dtype="float32"):
    """Uniform(-r, r) with r = sqrt(6 / fan_in) (variance 2 / fan_in)."""
    fan_in, _ = _fans(shape)
    r = np.sqrt(6.0 / fan_in)
    return _rng(seed).uniform(-r, r, size=tuple(shape)).astype(dtype)


def zeros(shape, dtype="float32"):
    """All zeros (biases)."""
    return np.zeros(tuple(shape) if isinstance(shape, (tuple, list)) else (int(shape),), dtype=dtype)
