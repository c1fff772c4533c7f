"""tf.layers (and tf.contrib.layers' fully_connected/batch_norm): variables + ops.

A TF layer is get_variable calls inside a variable scope (``hidden1/kernel``), then ops;
so are these, which gives TF's names, collections, sharing with ``reuse=True`` and
checkpoint keys. Every op is a graphc one (matmul, bias_add, conv2d, max_pool,
dropout, moments, batch_normalization).
"""
from __future__ import annotations

import numpy as np

import graphc as gc
from . import nn
from .array_ops import reshape
from .convert import as_operand
from .graph import Tensor, get_default_graph
from .record import record
from .initializers import Ones, Zeros
from .math_ops import matmul, multiply, subtract, where
from .random_ops import seeded_stream
from .variables import GraphKeys, add_to_collection, assign, get_variable, variable_scope


def _last_dim(inputs):
    d = inputs.get_shape().dims_
    if d is None or d[-1] is None:
        raise ValueError(f"The last dimension of the inputs to a layer should be defined. Found None: {inputs!r}")
    return d[-1]


def _pair(v):
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else tuple(int(x) for x in v)


def _finish(out, use_bias, units, bias_initializer, bias_regularizer, trainable, activation, dtype):
    if use_bias:
        bias = get_variable("bias", [units], dtype=dtype, initializer=bias_initializer or Zeros(),
                            regularizer=bias_regularizer, trainable=trainable)
        out = nn.bias_add(out, bias)
    return activation(out) if activation is not None else out


def dense(inputs, units, activation=None, use_bias=True, kernel_initializer=None, bias_initializer=None,
          kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
          bias_constraint=None, trainable=True, name=None, reuse=None):
    """activation(inputs @ kernel + bias) with ``name/kernel`` and ``name/bias``."""
    inputs = as_operand(inputs)
    with variable_scope(name, default_name="dense", reuse=reuse):
        kernel = get_variable("kernel", [_last_dim(inputs), int(units)], dtype=inputs.dtype,
                              initializer=kernel_initializer, regularizer=kernel_regularizer, trainable=trainable)
        out = matmul(inputs, kernel) if len(inputs.get_shape()) == 2 else \
            record("Tensordot", gc.matmul, (inputs, kernel), name="Tensordot")
        return _finish(out, use_bias, int(units), bias_initializer, bias_regularizer, trainable, activation,
                       inputs.dtype)


def conv2d(inputs, filters, kernel_size, strides=(1, 1), padding="valid", data_format="channels_last",
           dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer=None, bias_initializer=None,
           kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
           bias_constraint=None, trainable=True, name=None, reuse=None):
    if data_format != "channels_last":
        raise NotImplementedError("graphc implements channels_last (NHWC) only")
    inputs = as_operand(inputs)
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(strides)
    dh, dw = _pair(dilation_rate)
    with variable_scope(name, default_name="conv2d", reuse=reuse):
        kernel = get_variable("kernel", [kh, kw, _last_dim(inputs), int(filters)], dtype=inputs.dtype,
                              initializer=kernel_initializer, regularizer=kernel_regularizer, trainable=trainable)
        out = nn.conv2d(inputs, kernel, strides=[1, sh, sw, 1], padding=padding.upper(),
                        dilations=[1, dh, dw, 1], name="Conv2D")
        return _finish(out, use_bias, int(filters), bias_initializer, bias_regularizer, trainable, activation,
                       inputs.dtype)


def max_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    ph, pw = _pair(pool_size)
    sh, sw = _pair(strides)
    return nn.max_pool(inputs, [1, ph, pw, 1], [1, sh, sw, 1], padding.upper(), name=name or "max_pooling2d")


def average_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    ph, pw = _pair(pool_size)
    sh, sw = _pair(strides)
    return nn.avg_pool(inputs, [1, ph, pw, 1], [1, sh, sw, 1], padding.upper(), name=name or "average_pooling2d")


def flatten(inputs, name=None, data_format="channels_last"):
    dims = inputs.get_shape().dims_[1:]
    if any(d is None for d in dims):
        raise ValueError(f"flatten needs known non-batch dimensions, got {inputs.get_shape()}")
    return reshape(inputs, [-1, int(np.prod(dims))], name=name or "flatten")


def _dropout(x, rate, training, noise_shape, counter, key):
    from .nn import seeded_mask_draw

    return gc.nn.dropout(x, rate=float(rate), training=training, noise_shape=noise_shape,
                         draw=seeded_mask_draw(counter, key))


def dropout(inputs, rate=0.5, noise_shape=None, seed=None, training=False, name=None):
    """Drop with probability ``rate`` when ``training`` (a bool or a bool tensor)."""
    static = {rate: 0.5} if isinstance(rate, Tensor) else None
    noise_shape = None if noise_shape is None else tuple(int(d) for d in noise_shape)
    counter, key = seeded_stream(seed, name or "dropout")
    return record("dropout", _dropout, (as_operand(inputs), rate, training, noise_shape, counter, key),
                  name=name or "dropout", static=static)


def batch_normalization(inputs, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                        beta_initializer=None, gamma_initializer=None, moving_mean_initializer=None,
                        moving_variance_initializer=None, beta_regularizer=None, gamma_regularizer=None,
                        training=False, trainable=True, name=None, reuse=None, fused=None,
                        _default="batch_normalization", _updates_collections=GraphKeys.UPDATE_OPS,
                        _fusable_ranks=(4,), **kwargs):
    """Normalize over the last axis: batch moments when training (and queue the moving
    average updates in UPDATE_OPS, as TF), moving averages otherwise.

    Where TF 1.x takes its fused kernel (``fused`` None or True and the input's rank in
    ``_fusable_ranks``: 4 here, 2 or 4 for contrib's batch_norm), the moving variance
    averages the batch variance with Bessel's correction, n / (n - 1) (n: the values per
    channel; 1 when n is 1), as FusedBatchNorm returns it; the output is normalized by
    the plain batch variance either way."""
    inputs = as_operand(inputs)
    rank = len(inputs.get_shape())
    bessel_corrected = fused is not False and rank in _fusable_ranks
    if axis not in (-1, rank - 1):
        raise NotImplementedError("batch_normalization: graphc normalizes over the last axis only")
    c = _last_dim(inputs)
    dt = inputs.dtype
    with variable_scope(name, default_name=_default, reuse=reuse):
        beta = get_variable("beta", [c], dt, beta_initializer or Zeros(), beta_regularizer,
                            trainable=trainable) if center else None
        gamma = get_variable("gamma", [c], dt, gamma_initializer or Ones(), gamma_regularizer,
                             trainable=trainable) if scale else None
        moving_mean = get_variable("moving_mean", [c], dt, moving_mean_initializer or Zeros(), trainable=False)
        moving_var = get_variable("moving_variance", [c], dt, moving_variance_initializer or Ones(),
                                  trainable=False)
        if training is False:
            return nn.batch_normalization(inputs, moving_mean, moving_var, beta, gamma, epsilon)
        mean, var = nn.moments(inputs, list(range(rank - 1)))
        var_for_average = _bessel_corrected(inputs, var, c) if bessel_corrected else var
        if training is not True:
            mean = where(training, mean, moving_mean)
            var = where(training, var, moving_var)
            var_for_average = where(training, var_for_average, moving_var)
        out = nn.batch_normalization(inputs, mean, var, beta, gamma, epsilon)
        updates = []
        for moving, batch in ((moving_mean, mean), (moving_var, var_for_average)):
            # TF's assign_moving_average: moving -= (moving - batch) * (1 - momentum)
            # (an identity when `training` is a tensor that is False: batch is moving then)
            update = assign(moving, subtract(moving, multiply(subtract(moving, batch), 1.0 - momentum)))
            updates.append(update.op)
            if _updates_collections is not None:
                add_to_collection(_updates_collections, update.op)
        if _updates_collections is None:
            # tf.contrib.layers.batch_norm(updates_collections=None): the updates run in
            # place, before anything reads the output
            from .array_ops import identity

            with get_default_graph().control_dependencies(updates):
                out = identity(out)
        return out


# -- tf.contrib.layers ------------------------------------------------------------------------------


def fully_connected(inputs, num_outputs, activation_fn=nn.relu, normalizer_fn=None, normalizer_params=None,
                    weights_initializer=None, weights_regularizer=None, biases_initializer=Zeros(),
                    biases_regularizer=None, reuse=None, variables_collections=None, outputs_collections=None,
                    trainable=True, scope=None):
    """tf.contrib.layers.fully_connected (``scope/weights``, ``scope/biases``)."""
    inputs = as_operand(inputs)
    with variable_scope(scope, default_name="fully_connected", reuse=reuse):
        w = get_variable("weights", [_last_dim(inputs), int(num_outputs)], dtype=inputs.dtype,
                         initializer=weights_initializer, regularizer=weights_regularizer, trainable=trainable)
        out = matmul(inputs, w)
        if normalizer_fn is not None:
            out = normalizer_fn(out, **(normalizer_params or {}))
        elif biases_initializer is not None:
            b = get_variable("biases", [int(num_outputs)], dtype=inputs.dtype, initializer=biases_initializer,
                             regularizer=biases_regularizer, trainable=trainable)
            out = nn.bias_add(out, b)
        return activation_fn(out) if activation_fn is not None else out


def batch_norm(inputs, decay=0.999, center=True, scale=False, epsilon=0.001, is_training=True, reuse=None,
               scope=None, updates_collections=GraphKeys.UPDATE_OPS, fused=None, **kwargs):
    """tf.contrib.layers.batch_norm: the moving-average updates go to ``updates_collections``
    (UPDATE_OPS), or with ``None`` run in place before the output is read, as in TF. Its
    fused default covers 2-D and 4-D inputs: their moving variance is Bessel-corrected."""
    return batch_normalization(inputs, momentum=decay, epsilon=epsilon, center=center, scale=scale,
                               training=is_training, name=scope, reuse=reuse, fused=fused, _default="BatchNorm",
                               _updates_collections=updates_collections, _fusable_ranks=(2, 4))


def _bessel_corrected(inputs, var, channels):
    """var * n / (n - 1), n = the values per channel at run time (the factor is 1 when n is 1)."""
    from .array_ops import size
    from .math_ops import cast, divide, maximum

    n = divide(cast(size(inputs), var.dtype), float(channels))
    return multiply(var, divide(n, maximum(subtract(n, 1.0), 1.0)))



from .contrib_layers import conv2d_transpose  # noqa: E402,F401  (tf.layers.conv2d_transpose)
