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


def _transposed_size(size, k, stride, padding):
    """Output size of a transposed convolution (keras' deconv_output_length)."""
    if padding.upper() == "VALID":
        return size * stride + max(k - stride, 0)
    return size * stride


def _conv_transpose(inputs, filters, kernel_size, strides, padding, kernel_initializer, kernel_regularizer,
                    trainable, scope, default_name, reuse, weights_name):
    """(output before bias, dtype): kernel [kh, kw, filters, in] and tf.nn.conv2d_transpose
    to the output size TF computes (the batch size taken from the input at run time)."""
    from .array_ops import shape as tf_shape

    inputs = as_operand(inputs)
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(strides)
    dims = inputs.get_shape().dims_
    if dims is None or len(dims) != 4 or dims[1] is None or dims[2] is None:
        raise ValueError(f"conv2d_transpose needs NHWC inputs with known height and width, got {inputs.get_shape()}")
    w = get_variable(weights_name, [kh, kw, int(filters), _last_dim(inputs)], dtype=inputs.dtype,
                     initializer=kernel_initializer, regularizer=kernel_regularizer, trainable=trainable)
    batch = dims[0] if dims[0] is not None else tf_shape(inputs)[0]
    out_shape = [batch, _transposed_size(dims[1], kh, sh, padding), _transposed_size(dims[2], kw, sw, padding),
                 int(filters)]
    return nn.conv2d_transpose(inputs, w, out_shape, [1, sh, sw, 1], padding.upper())


def conv2d_transpose(inputs, filters, kernel_size, strides=(1, 1), padding="valid", data_format="channels_last",
                     activation=None, use_bias=True, kernel_initializer=None, bias_initializer=None,
                     kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                     kernel_constraint=None, bias_constraint=None, trainable=True, name=None, reuse=None):
    """tf.layers.conv2d_transpose (``name/kernel`` [kh, kw, filters, in], ``name/bias``)."""
    if data_format != "channels_last":
        raise NotImplementedError("graphc implements channels_last (NHWC) only")
    with variable_scope(name, default_name="conv2d_transpose", reuse=reuse):
        out = _conv_transpose(inputs, filters, kernel_size, strides, padding, kernel_initializer,
                              kernel_regularizer, trainable, name, "conv2d_transpose", reuse, "kernel")
        if use_bias:
            b = get_variable("bias", [int(filters)], dtype=out.dtype, initializer=bias_initializer or Zeros(),
                             regularizer=bias_regularizer, trainable=trainable)
            out = nn.bias_add(out, b)
        return activation(out) if activation is not None else out


def convolution2d_transpose(inputs, num_outputs, kernel_size, stride=1, padding="SAME", data_format=None,
                            activation_fn=nn.relu, normalizer_fn=None, normalizer_params=None,
                            weights_initializer=None, weights_regularizer=None, biases_initializer=Zeros(),
                            biases_regularizer=None, reuse=None, variables_collections=None,
                            outputs_collections=None, trainable=True, scope=None):
    """tf.contrib.layers.conv2d_transpose (``Conv2d_transpose/weights``, ``.../biases``)."""
    _check_nhwc(data_format)
    with variable_scope(scope, default_name="Conv2d_transpose", reuse=reuse):
        out = _conv_transpose(inputs, num_outputs, kernel_size, stride, padding,
                              weights_initializer or xavier_initializer(), weights_regularizer, trainable, scope,
                              "Conv2d_transpose", reuse, "weights")
        if normalizer_fn is not None:
            out = normalizer_fn(out, **(normalizer_params or {}))
        elif biases_initializer is not None:
            b = get_variable("biases", [int(num_outputs)], dtype=out.dtype, initializer=biases_initializer,
                             regularizer=biases_regularizer, trainable=trainable)
            out = nn.bias_add(out, b)
        return activation_fn(out) if activation_fn is not None else out
