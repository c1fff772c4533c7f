"""tf.nn: activations, conv/pool, dropout, losses and metrics, each one graphc function."""
from __future__ import annotations

import graphc as gc
from .convert import as_operand, is_graph_value, match_operands, shape_arg, static_shape
from .graph import Spec, Tensor
from .shapes import TensorShape
from .record import record
from .random_ops import draw_seeded, seeded_stream
from .rnn import dynamic_rnn, static_rnn  # noqa: F401
from . import rnn_cell  # noqa: F401
from .rnn_bidirectional import bidirectional_dynamic_rnn, static_bidirectional_rnn  # noqa: F401
from .math_extra import xw_plus_b  # noqa: F401
from .nn_sampled import (batch_norm_with_global_normalization, log_uniform_candidate_sampler,  # noqa: F401
                         nce_loss, sampled_softmax_loss, uniform_candidate_sampler)


def _unary(op_type, fn):
    def op(features, name=None):
        return record(op_type, fn, (as_operand(features),), name=name)
    op.__name__ = op_type.lower()
    return op


relu = _unary("Relu", gc.relu)
elu = _unary("Elu", gc.nn.elu)
selu = _unary("Selu", gc.nn.selu)
softplus = _unary("Softplus", gc.nn.softplus)
sigmoid = _unary("Sigmoid", gc.sigmoid)
tanh = _unary("Tanh", gc.tanh)
l2_loss = _unary("L2Loss", gc.nn.l2_loss)


def leaky_relu(features, alpha=0.2, name=None):
    return record("LeakyRelu", gc.nn.leaky_relu, (as_operand(features), float(alpha)), name=name)


def softmax(logits, axis=None, name=None, dim=None):
    axis = -1 if axis is None and dim is None else (axis if axis is not None else dim)
    return record("Softmax", gc.softmax, (as_operand(logits), int(axis)), name=name)


def log_softmax(logits, axis=None, name=None, dim=None):
    axis = -1 if axis is None and dim is None else (axis if axis is not None else dim)
    return record("LogSoftmax", gc.log_softmax, (as_operand(logits), int(axis)), name=name)


def bias_add(value, bias, data_format=None, name=None):
    value, bias = match_operands("BiasAdd", value, bias)
    return record("BiasAdd", gc.nn.bias_add, (value, bias), name=name)


def _nhwc(data_format):
    if data_format not in (None, "NHWC"):
        raise NotImplementedError(f"graphc implements NHWC only, got data_format={data_format!r}")


def conv2d(input=None, filter=None, strides=None, padding=None, use_cudnn_on_gpu=True, data_format="NHWC",  # noqa: A002
           dilations=(1, 1, 1, 1), name=None, filters=None):
    """NHWC input, HWIO filter, strides/dilations as [1, h, w, 1], "SAME"/"VALID"."""
    _nhwc(data_format)
    x, w = match_operands("Conv2D", input, filter if filter is not None else filters)
    return record("Conv2D", gc.nn.conv2d, (x, w, tuple(strides), padding, tuple(dilations)), name=name)


def conv2d_transpose(value, filter, output_shape, strides, padding="SAME", data_format="NHWC", name=None):  # noqa: A002
    _nhwc(data_format)
    x, w = match_operands("Conv2DBackpropInput", value, filter)
    # output_shape may be computed from tf.shape (tf.stack([tf.shape(x)[0], 7, 7, n])):
    # a shape argument, made concrete per compiled signature at replay
    output_shape = shape_arg(output_shape)

    def fallback():    # a fixed output_shape with an unknown batch size: checked when fed, as in TF
        dims = None if is_graph_value(output_shape) else [None if is_graph_value(d) else int(d)
                                                          for d in output_shape]
        return Spec(TensorShape(dims), x.dtype)
    return record("Conv2DBackpropInput", _conv2d_transpose, (x, w, output_shape, tuple(strides), padding),
                  name=name, fallback=fallback)


def _conv2d_transpose(x, w, output_shape, strides, padding):
    return gc.nn.conv2d_transpose(x, w, static_shape(output_shape), strides, padding)


def max_pool(value, ksize, strides, padding, data_format="NHWC", name=None):
    _nhwc(data_format)
    return record("MaxPool", gc.nn.max_pool, (as_operand(value), tuple(ksize), tuple(strides), padding), name=name)


def avg_pool(value, ksize, strides, padding, data_format="NHWC", name=None):
    _nhwc(data_format)
    return record("AvgPool", gc.nn.avg_pool, (as_operand(value), tuple(ksize), tuple(strides), padding), name=name)


def local_response_normalization(input, depth_radius=5, bias=1.0, alpha=1.0, beta=0.5, name=None):  # noqa: A002
    return record("LRN", gc.nn.local_response_normalization,
                  (as_operand(input), int(depth_radius), float(bias), float(alpha), float(beta)), name=name)


lrn = local_response_normalization


def seeded_mask_draw(counter, key):
    """gc.nn.dropout's ``draw`` for a seeded dropout: its session's stream (the same masks
    in every new session, new ones at each run), or None (graphc's generator)."""
    if counter is None:
        return None
    return lambda shape, dt: draw_seeded(shape, dt, "uniform", counter, key)


def _dropout(x, keep_prob, rate, noise_shape, counter, key):
    draw = seeded_mask_draw(counter, key)
    if keep_prob is not None:
        return gc.nn.dropout(x, keep_prob=_number(keep_prob, "keep_prob"), noise_shape=noise_shape, draw=draw)
    return gc.nn.dropout(x, rate=_number(rate, "rate"), noise_shape=noise_shape, draw=draw)


def _number(v, what):
    if hasattr(v, "node"):
        raise TypeError(f"dropout's {what} must be a Python number or a fed placeholder (it is compiled into "
                        f"the program), not a computed tensor")
    return float(v)


def dropout(x, keep_prob=None, noise_shape=None, seed=None, name=None, rate=None):
    """Keep each unit with probability keep_prob, scaled by 1/keep_prob.

    keep_prob may be a placeholder: its fed value is compiled in (one program per value
    fed, typically two: the training value and 1.0).
    """
    if (keep_prob is None) == (rate is None):
        raise ValueError("dropout: give exactly one of keep_prob and rate")
    static = {t: 0.5 for t in (keep_prob, rate) if isinstance(t, Tensor)}
    noise_shape = None if noise_shape is None else tuple(int(d) for d in noise_shape)
    counter, key = seeded_stream(seed, name or "dropout")
    return record("Dropout", _dropout, (as_operand(x), keep_prob, rate, noise_shape, counter, key), name=name,
                  static=static)


def sparse_softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """Per-example cross entropy of int class labels against logits."""
    if _sentinel is not None:
        raise ValueError("Only call `sparse_softmax_cross_entropy_with_logits` with named arguments "
                         "(labels=..., logits=...)")
    return record("SparseSoftmaxCrossEntropyWithLogits", gc.nn.sparse_softmax_cross_entropy,
                  (as_operand(logits), as_operand(labels)), name=name)


def softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, dim=-1, name=None, axis=None):
    if _sentinel is not None:
        raise ValueError("Only call `softmax_cross_entropy_with_logits` with named arguments (labels=, logits=)")
    logits, labels = match_operands("SoftmaxCrossEntropyWithLogits", logits, labels)
    return record("SoftmaxCrossEntropyWithLogits", gc.nn.softmax_cross_entropy, (logits, labels), name=name)


softmax_cross_entropy_with_logits_v2 = softmax_cross_entropy_with_logits


def sigmoid_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    if _sentinel is not None:
        raise ValueError("Only call `sigmoid_cross_entropy_with_logits` with named arguments (labels=, logits=)")
    logits, labels = match_operands("SigmoidCrossEntropyWithLogits", logits, labels)
    return record("SigmoidCrossEntropyWithLogits", gc.nn.sigmoid_cross_entropy, (logits, labels), name=name)


def in_top_k(predictions, targets, k, name=None):
    return record("InTopK", gc.nn.in_top_k, (as_operand(predictions), as_operand(targets), int(k)), name=name)


def embedding_lookup(params, ids, partition_strategy="mod", name=None, validate_indices=True, max_norm=None):
    if isinstance(params, (list, tuple)):
        if len(params) != 1:
            raise NotImplementedError("embedding_lookup over a list of sharded params is not supported")
        params = params[0]
    return record("GatherV2", gc.nn.embedding_lookup, (as_operand(params), as_operand(ids)),
                  name=name or "embedding_lookup")


def moments(x, axes, shift=None, name=None, keep_dims=None, keepdims=None):
    keep = bool(keepdims if keepdims is not None else keep_dims)
    return record("moments", gc.nn.moments, (as_operand(x), tuple(int(a) for a in axes), keep), name=name)


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    return record("batchnorm", gc.nn.batch_normalization,
                  (as_operand(x), mean, variance, offset, scale, float(variance_epsilon)), name=name)

