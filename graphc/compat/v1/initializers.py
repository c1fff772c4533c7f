"""TF 1.x initializers: callables (shape, dtype) -> initial value of a variable.

Deterministic ones are graph ops (zeros, ones, constant). The books' random ones map
onto graphc: Glorot/He/truncated-normal draws come from ``gc.init`` (host numpy,
seeded; the value becomes the variable's initial constant), plain uniform/normal
draws are ``gc.random`` ops re-drawn at every initializer run, as TF's are.

Note: tf.contrib.layers.variance_scaling_initializer uses TF's old truncated-normal
scale sqrt(1.3 * factor / n); tf.variance_scaling_initializer divides by the
truncated normal's stddev (0.8796) instead, as gc.init.he_normal does.
"""
from __future__ import annotations

import numpy as np

import graphc as gc
from . import dtypes
from .random_ops import op_seed, random_normal, random_uniform, truncated_normal

_TRUNCATED_STD = 0.87962566103423978


def _fans(shape):
    """(fan_in, fan_out) as TF computes them (conv filters scale by the receptive field)."""
    shape = [int(d) for d in shape]
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def _dt(dtype, default):
    return dtypes.as_dtype(dtype or default)


class Initializer:
    dtype = dtypes.float32

    def __call__(self, shape, dtype=None, partition_info=None):
        raise NotImplementedError


class Zeros(Initializer):
    def __init__(self, dtype=dtypes.float32):
        self.dtype = dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        from .array_ops import zeros

        return zeros(shape, _dt(dtype, self.dtype))


class Ones(Zeros):
    def __call__(self, shape, dtype=None, partition_info=None):
        from .array_ops import ones

        return ones(shape, _dt(dtype, self.dtype))


class Constant(Initializer):
    def __init__(self, value=0, dtype=dtypes.float32, verify_shape=False):
        self.value = value
        self.dtype = dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        from .array_ops import constant

        return constant(self.value, dtype=_dt(dtype, self.dtype), shape=shape)


class RandomUniform(Initializer):
    def __init__(self, minval=0.0, maxval=None, seed=None, dtype=dtypes.float32):
        self.minval, self.maxval, self.seed, self.dtype = minval, maxval, seed, dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return random_uniform(shape, self.minval, self.maxval, _dt(dtype, self.dtype), self.seed)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=dtypes.float32):
        self.mean, self.stddev, self.seed, self.dtype = mean, stddev, seed, dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return random_normal(shape, self.mean, self.stddev, _dt(dtype, self.dtype), self.seed)


class TruncatedNormal(Initializer):
    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=dtypes.float32):
        self.mean, self.stddev, self.seed, self.dtype = mean, stddev, seed, dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        return truncated_normal(shape, self.mean, self.stddev, _dt(dtype, self.dtype), self.seed)


class _Host(Initializer):
    """An initializer whose value is drawn on the host by a gc.init function."""

    def __init__(self, seed=None, dtype=dtypes.float32):
        self.seed, self.dtype = seed, dtypes.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        dt = _dt(dtype, self.dtype)
        return np.asarray(self._draw([int(d) for d in shape], op_seed(self.seed), dt.name), dt.as_numpy_dtype)


class GlorotUniform(_Host):
    def _draw(self, shape, seed, dt):
        return gc.init.glorot_uniform(shape, seed=seed, dtype=dt)


class GlorotNormal(_Host):
    def _draw(self, shape, seed, dt):
        return gc.init.glorot_normal(shape, seed=seed, dtype=dt)


class VarianceScaling(_Host):
    """scale / n (n = fan_in, fan_out or their mean) as the variance of the draw."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 dtype=dtypes.float32, _contrib=False):
        super().__init__(seed, dtype)
        self.scale, self.mode, self.distribution, self._contrib = float(scale), mode.lower(), distribution, _contrib

    def _n(self, shape):
        fan_in, fan_out = _fans(shape)
        return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]

    def __call__(self, shape, dtype=None, partition_info=None):
        dt = _dt(dtype, self.dtype)
        n = self._n(shape)
        if self.distribution == "uniform":
            if self.mode == "fan_in" and self.scale == 2.0:
                return super().__call__(shape, dt)
            limit = float(np.sqrt(3.0 * self.scale / n))
            if self.mode == "fan_avg" and self.scale == 1.0:
                return GlorotUniform(self.seed)(shape, dt)
            return random_uniform(shape, -limit, limit, dt, self.seed)
        if self.distribution == "normal":
            return random_normal(shape, 0.0, float(np.sqrt(self.scale / n)), dt, self.seed)
        return super().__call__(shape, dt)

    def _draw(self, shape, seed, dt):
        if self.distribution == "uniform":
            return gc.init.he_uniform(shape, seed=seed, dtype=dt)
        if self.mode == "fan_in" and self.scale == 2.0 and not self._contrib:
            return gc.init.he_normal(shape, seed=seed, dtype=dt)
        n = self._n(shape)
        stddev = np.sqrt(1.3 * self.scale / n) if self._contrib else np.sqrt(self.scale / n) / _TRUNCATED_STD
        return gc.init.truncated_normal(shape, stddev=float(stddev), seed=seed, dtype=dt)


def variance_scaling_initializer_contrib(factor=2.0, mode="FAN_IN", uniform=False, seed=None,
                                         dtype=dtypes.float32):
    """tf.contrib.layers.variance_scaling_initializer (He initialization by default)."""
    return VarianceScaling(factor, mode, "uniform" if uniform else "truncated_normal", seed, dtype, _contrib=True)


def xavier_initializer(uniform=True, seed=None, dtype=dtypes.float32):
    """tf.contrib.layers.xavier_initializer."""
    if uniform:
        return GlorotUniform(seed, dtype)
    return VarianceScaling(1.0, "fan_avg", "truncated_normal", seed, dtype, _contrib=True)


zeros_initializer = Zeros
ones_initializer = Ones
constant_initializer = Constant
random_uniform_initializer = RandomUniform
random_normal_initializer = RandomNormal
truncated_normal_initializer = TruncatedNormal
glorot_uniform_initializer = GlorotUniform
glorot_normal_initializer = GlorotNormal
variance_scaling_initializer = VarianceScaling


def he_normal(seed=None):
    return VarianceScaling(2.0, "fan_in", "truncated_normal", seed)


def he_uniform(seed=None):
    return VarianceScaling(2.0, "fan_in", "uniform", seed)
