"""``tf.contrib`` for real TensorFlow 2.x's ``tf.compat.v1``, for the reference runner.

TF 2.x removed tf.contrib. The books' programs use a few of its names; each maps here to
what replaced it, and nothing else is provided (a program using another contrib name
fails, and the runner reports it):

- contrib.layers / contrib.framework.arg_scope -> tf_slim (the contrib.layers code, moved
  out of TF with its variable names and defaults: weights/biases, BatchNorm/moving_mean),
  with the two aliases tf_slim 1.1.0 needs from TF 2.16+ (below).
- contrib.rnn cells and static RNNs -> tf.compat.v1.nn.rnn_cell / tf.compat.v1.nn.
- contrib.rnn.OutputProjectionWrapper -> the dozen lines below, TF 1.x's class rewritten
  against TF's own RNNCell base class: a dense projection of the wrapped cell's output,
  its "kernel" from get_variable's default (Glorot uniform) and "bias" zeros, as TF
  1.x's _Linear made them.
- contrib.learn is not provided: it needs TF 1.x's Estimator (gone since TF 2.16).
"""
import types

import tensorflow as tf2
import tf_slim
from tensorflow.python.framework import ops as _tf_ops
from tensorflow.python.ops import control_flow_ops as _tf_control_flow_ops

tf = tf2.compat.v1

# tf_slim 1.1.0 (its last release) reaches two TF-internal names that TF 2.16+ moved, both
# in batch_norm's is_training switch (layers/utils.py): ops.Tensor (now tf.Tensor) and
# control_flow_ops.cond (now tf.compat.v1.cond). The aliases restore them, nothing else.
if not hasattr(_tf_ops, "Tensor"):
    _tf_ops.Tensor = tf2.Tensor
if not hasattr(_tf_control_flow_ops, "cond"):
    _tf_control_flow_ops.cond = tf.cond


class OutputProjectionWrapper(tf.nn.rnn_cell.RNNCell):
    """TF 1.x's contrib.rnn.OutputProjectionWrapper: the cell's output times a kernel plus a bias."""

    def __init__(self, cell, output_size, activation=None, reuse=None):
        super().__init__(_reuse=reuse)
        self._wrapped, self._projection_size, self._activation = cell, output_size, activation

    @property
    def state_size(self):
        return self._wrapped.state_size

    @property
    def output_size(self):
        return self._projection_size

    def zero_state(self, batch_size, dtype):
        with tf.name_scope(type(self).__name__ + "ZeroState"):
            return self._wrapped.zero_state(batch_size, dtype)

    def call(self, inputs, state):
        output, res_state = self._wrapped(inputs, state)
        kernel = tf.get_variable("kernel", [output.get_shape()[-1], self._projection_size], dtype=output.dtype)
        bias = tf.get_variable("bias", [self._projection_size], dtype=output.dtype,
                               initializer=tf.constant_initializer(0.0))
        projected = tf.nn.bias_add(tf.matmul(output, kernel), bias)
        if self._activation is not None:
            projected = self._activation(projected)
        return projected, res_state


contrib = types.SimpleNamespace(
    layers=types.SimpleNamespace(
        fully_connected=tf_slim.fully_connected,
        convolution2d=tf_slim.convolution2d,
        conv2d=tf_slim.conv2d,
        batch_norm=tf_slim.batch_norm,
        l2_regularizer=tf_slim.l2_regularizer,
        variance_scaling_initializer=tf_slim.variance_scaling_initializer,
    ),
    framework=types.SimpleNamespace(arg_scope=tf_slim.arg_scope),
    rnn=types.SimpleNamespace(
        RNNCell=tf.nn.rnn_cell.RNNCell,
        BasicRNNCell=tf.nn.rnn_cell.BasicRNNCell,
        BasicLSTMCell=tf.nn.rnn_cell.BasicLSTMCell,
        LSTMCell=tf.nn.rnn_cell.LSTMCell,
        GRUCell=tf.nn.rnn_cell.GRUCell,
        MultiRNNCell=tf.nn.rnn_cell.MultiRNNCell,
        DropoutWrapper=tf.nn.rnn_cell.DropoutWrapper,
        OutputProjectionWrapper=OutputProjectionWrapper,
        static_rnn=tf.nn.static_rnn,
        static_bidirectional_rnn=tf.nn.static_bidirectional_rnn,
    ),
)


class _CompatV1WithContrib(types.ModuleType):
    """tf.compat.v1 with the ``contrib`` above: every other name is TF's own."""

    contrib = contrib

    def __getattr__(self, name):
        return getattr(tf, name)


def compat_v1_with_contrib():
    tf.disable_v2_behavior()
    return _CompatV1WithContrib("tensorflow.compat.v1 (+ tests/tf_reference/tf_contrib_shim.contrib)")
