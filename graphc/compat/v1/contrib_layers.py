"""tf.contrib.layers' convolution and pooling layers (TF 1.x names and defaults).

``conv2d`` creates ``Conv/weights`` [kh, kw, in, out] and ``Conv/biases`` (or the
given scope), pads "SAME" and applies ReLU by default; a ``normalizer_fn`` (batch
norm) replaces the biases, as in TF. Pooling defaults to 2x2 windows, stride 2,
"VALID". Each op is a graphc one through tf.nn (conv2d, max_pool, avg_pool).
"""
from __future__ import annotations

import numpy as np

from . import nn
from .convert import as_operand
from .initializers import Zeros, xavier_initializer
from .variables import get_variable, variable_scope


def _pair(v):
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else tuple(int(x) for x in v)


def _last_dim(inputs):
    d = inputs.get_shape().dims_
    if d is None or d[-1] is None:
        raise ValueError(f"The last dimension of the inputs to a layer should be defined. Found None: {inputs!r}")
    return int(d[-1])


def _check_nhwc(data_format):
    if data_format not in (None, "NHWC"):
        raise NotImplementedError(f"graphc implements NHWC only, got data_format={data_format!r}")


def convolution2d(inputs, num_outputs, kernel_size, stride=1, padding="SAME", data_format=None, rate=1,
                  activation_fn=nn.relu, normalizer_fn=None, normalizer_params=None,
                  weights_initializer=None, weights_regularizer=None, biases_initializer=Zeros(),
                  biases_regularizer=None, reuse=None, variables_collections=None, outputs_collections=None,
                  trainable=True, scope=None):
    """tf.contrib.layers.conv2d: activation_fn(normalizer_fn(conv(x, W)) or conv(x, W) + b)."""
    _check_nhwc(data_format)
    inputs = as_operand(inputs)
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride)
    dh, dw = _pair(rate)
    with variable_scope(scope, default_name="Conv", reuse=reuse):
        w = get_variable("weights", [kh, kw, _last_dim(inputs), int(num_outputs)], dtype=inputs.dtype,
                         initializer=weights_initializer or xavier_initializer(),
                         regularizer=weights_regularizer, trainable=trainable)
        out = nn.conv2d(inputs, w, strides=[1, sh, sw, 1], padding=padding.upper(), dilations=[1, dh, dw, 1])
        if normalizer_fn is not None:
            out = normalizer_fn(out, **(normalizer_params or {}))
        elif biases_initializer is not None:
            b = get_variable("biases", [int(num_outputs)], dtype=inputs.dtype, initializer=biases_initializer,
                             regularizer=biases_regularizer, trainable=trainable)
            out = nn.bias_add(out, b)
        return activation_fn(out) if activation_fn is not None else out


def max_pool2d(inputs, kernel_size, stride=2, padding="VALID", data_format="NHWC", outputs_collections=None,
               scope=None):
    _check_nhwc(data_format)
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride)
    return nn.max_pool(inputs, [1, kh, kw, 1], [1, sh, sw, 1], padding.upper(), name=scope or "MaxPool2D")


def avg_pool2d(inputs, kernel_size, stride=2, padding="VALID", data_format="NHWC", outputs_collections=None,
               scope=None):
    _check_nhwc(data_format)
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride)
    return nn.avg_pool(inputs, [1, kh, kw, 1], [1, sh, sw, 1], padding.upper(), name=scope or "AvgPool2D")
