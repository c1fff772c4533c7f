"""tf.contrib.layers / tf.contrib.rnn and tf.losses: the parts the books use."""
from __future__ import annotations

import types

import graphc as gc
from . import contrib_layers as _contrib_layers, initializers, layers as _layers, rnn as _rnn
from graphc.rnn import LSTMStateTuple
from . import rnn_bidirectional as _rnn_bidirectional
from .arg_scope import add_arg_scope, arg_scope, arg_scoped_arguments, current_arg_scope, has_arg_scope
from .array_ops import zeros
from .graph import get_default_graph
from .record import record
from .math_ops import add_n, reduce_mean, squared_difference
from .nn import sparse_softmax_cross_entropy_with_logits
from .variables import GraphKeys


def l1_regularizer(scale, scope=None):
    """weights -> scale * sum(|weights|) (gc.optim.l1_regularizer)."""
    fn = gc.optim.l1_regularizer(scale)
    return lambda weights: record("l1_regularizer", fn, (weights,), name="l1_regularizer")


def l2_regularizer(scale, scope=None):
    """weights -> scale * sum(weights**2) / 2 (gc.optim.l2_regularizer)."""
    fn = gc.optim.l2_regularizer(scale)
    return lambda weights: record("l2_regularizer", fn, (weights,), name="l2_regularizer")


def _contrib_dropout(inputs, keep_prob=0.5, noise_shape=None, is_training=True, outputs_collections=None,
                     scope=None, seed=None):
    """tf.contrib.layers.dropout: keep units with probability keep_prob while is_training."""
    return _layers.dropout(inputs, rate=1.0 - keep_prob, noise_shape=noise_shape, seed=seed, training=is_training)


def _contrib_flatten(inputs, outputs_collections=None, scope=None):
    return _layers.flatten(inputs, name=scope)


# The layer functions take part in arg_scope (TF decorates them with add_arg_scope).
_conv2d = add_arg_scope(_contrib_layers.convolution2d)
layers = types.SimpleNamespace(
    variance_scaling_initializer=initializers.variance_scaling_initializer_contrib,
    xavier_initializer=initializers.xavier_initializer,
    l1_regularizer=l1_regularizer,
    l2_regularizer=l2_regularizer,
    fully_connected=add_arg_scope(_layers.fully_connected),
    batch_norm=add_arg_scope(_layers.batch_norm),
    flatten=add_arg_scope(_contrib_flatten),
    dropout=add_arg_scope(_contrib_dropout),
    conv2d=_conv2d,
    convolution2d=_conv2d,
    conv2d_transpose=add_arg_scope(_contrib_layers.convolution2d_transpose),
    convolution2d_transpose=add_arg_scope(_contrib_layers.convolution2d_transpose),
    max_pool2d=add_arg_scope(_contrib_layers.max_pool2d),
    avg_pool2d=add_arg_scope(_contrib_layers.avg_pool2d),
)

framework = types.SimpleNamespace(
    arg_scope=arg_scope, add_arg_scope=add_arg_scope, current_arg_scope=current_arg_scope,
    has_arg_scope=has_arg_scope, arg_scoped_arguments=arg_scoped_arguments,
)

rnn = types.SimpleNamespace(
    BasicRNNCell=_rnn.BasicRNNCell, BasicLSTMCell=_rnn.BasicLSTMCell, LSTMCell=_rnn.LSTMCell,
    GRUCell=_rnn.GRUCell, MultiRNNCell=_rnn.MultiRNNCell, DropoutWrapper=_rnn.DropoutWrapper,
    static_rnn=_rnn.static_rnn,
    RNNCell=_rnn.RNNCell, OutputProjectionWrapper=_rnn.OutputProjectionWrapper, LSTMStateTuple=LSTMStateTuple,
    static_bidirectional_rnn=_rnn_bidirectional.static_bidirectional_rnn,
    bidirectional_dynamic_rnn=_rnn_bidirectional.bidirectional_dynamic_rnn,
)


# -- tf.losses --------------------------------------------------------------------------------------------


def get_regularization_losses(scope=None):
    return get_default_graph().get_collection(GraphKeys.REGULARIZATION_LOSSES, scope)


def get_regularization_loss(scope=None, name="total_regularization_loss"):
    losses_ = get_regularization_losses(scope)
    return add_n(losses_, name=name) if losses_ else zeros([], name=name)


def _sparse_softmax_cross_entropy(labels, logits, weights=1.0, scope=None):
    return reduce_mean(sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


def _mean_squared_error(labels, predictions, weights=1.0, scope=None):
    return reduce_mean(squared_difference(predictions, labels))


losses = types.SimpleNamespace(
    get_regularization_losses=get_regularization_losses,
    get_regularization_loss=get_regularization_loss,
    sparse_softmax_cross_entropy=_sparse_softmax_cross_entropy,
    mean_squared_error=_mean_squared_error,
)
