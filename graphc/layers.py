"""gc.layers: thin layer objects holding Variables, so samples read like the books.

A layer creates its Variables at its first call (when the input shape is known) with
the books' initializers (gc.init: Glorot uniform by default, as TF's get_variable;
pass ``kernel_initializer=gc.init.he_normal`` for He). Calling a layer inside a
compiled function adds its ops to that trace; the Variables persist across calls and
an optimizer finds them through the loss (or ``layer.trainable_variables``).
"""
from __future__ import annotations

import numpy as np

from . import init as _init
from .errors import ShapeError
from .ops.common import cast_to, dtype_of, shape_of
from .ops.elementwise import add, multiply, subtract, where
from .ops.linalg import matmul
from .ops.shape_ops import reshape
from .variables import Variable

__all__ = ["AvgPool2D", "BatchNorm", "Conv2D", "Dense", "Dropout", "Flatten", "GRU", "LSTM", "Layer", "MaxPool2D"]


class Layer:
    """Base class: Variables made at the first call, then reused."""

    def __init__(self, name=None, seed=None):
        self.name = name or type(self).__name__
        self.seed = seed
        self._variables: list = []
        self.built = False

    def _var(self, name, value, trainable=True):
        v = Variable(np.asarray(value), name=f"{self.name}/{name}", trainable=trainable)
        self._variables.append(v)
        return v

    def _init_var(self, name, initializer, shape, dtype):
        seed = None if self.seed is None else self.seed + len(self._variables)
        try:
            value = initializer(shape, seed=seed, dtype=dtype)
        except TypeError:  # an initializer without seed/dtype arguments
            value = initializer(shape)
        return self._var(name, np.asarray(value, dtype=dtype))

    @property
    def variables(self):
        return list(self._variables)

    @property
    def trainable_variables(self):
        return [v for v in self._variables if v.trainable]

    def __call__(self, x, *args, **kwargs):
        if not self.built:
            self.build(tuple(shape_of(x)), dtype_of(x) if dtype_of(x) in ("float32", "float64") else "float32")
            self.built = True
        return self.call(x, *args, **kwargs)


class Dense(Layer):
    """activation(x @ kernel + bias) on the last axis (tf.layers.dense)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer=None, bias_initializer=None,
                 name=None, seed=None):
        super().__init__(name, seed)
        self.units = int(units)
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer or _init.glorot_uniform
        self.bias_initializer = bias_initializer or _init.zeros

    def build(self, shape, dtype):
        self.kernel = self._init_var("kernel", self.kernel_initializer, (shape[-1], self.units), dtype)
        if self.use_bias:
            self.bias = self._var("bias", np.asarray(self.bias_initializer((self.units,), dtype=dtype), dtype))

    def call(self, x):
        shape = shape_of(x)
        x2 = x if len(shape) == 2 else reshape(x, (-1, shape[-1]))
        y = matmul(x2, self.kernel)
        if self.use_bias:
            y = add(y, self.bias)
        if len(shape) != 2:
            y = reshape(y, tuple(shape[:-1]) + (self.units,))
        return self.activation(y) if self.activation else y


class Conv2D(Layer):
    """activation(conv2d(x, kernel) + bias), NHWC (tf.layers.conv2d)."""

    def __init__(self, filters, kernel_size, strides=1, padding="SAME", dilation_rate=1, activation=None,
                 use_bias=True, kernel_initializer=None, name=None, seed=None):
        super().__init__(name, seed)
        from .ops.conv import spatial_pair

        self.filters = int(filters)
        self.kernel_size = spatial_pair(kernel_size, "kernel_size")
        self.strides = strides
        self.padding = padding.upper() if isinstance(padding, str) else padding
        self.dilation_rate = dilation_rate
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer or _init.glorot_uniform

    def build(self, shape, dtype):
        if len(shape) != 4:
            raise ShapeError(f"{self.name}: Conv2D needs NHWC inputs, got shape {shape}")
        kshape = self.kernel_size + (shape[-1], self.filters)
        self.kernel = self._init_var("kernel", self.kernel_initializer, kshape, dtype)
        if self.use_bias:
            self.bias = self._var("bias", np.zeros(self.filters, dtype))

    def call(self, x):
        from .ops.conv import conv2d

        y = conv2d(x, self.kernel, self.strides, self.padding, self.dilation_rate)
        if self.use_bias:
            y = add(y, self.bias)
        return self.activation(y) if self.activation else y


class MaxPool2D(Layer):
    """max_pool as a layer (no variables)."""

    def __init__(self, pool_size=2, strides=None, padding="VALID", name=None):
        super().__init__(name)
        self.pool_size, self.strides, self.padding = pool_size, strides or pool_size, padding

    def build(self, shape, dtype):
        pass

    def call(self, x):
        from .ops.pool import max_pool

        return max_pool(x, self.pool_size, self.strides, self.padding)


class AvgPool2D(MaxPool2D):
    """avg_pool as a layer (no variables)."""

    def call(self, x):
        from .ops.pool import avg_pool

        return avg_pool(x, self.pool_size, self.strides, self.padding)


class Flatten(Layer):
    """[batch, ...] -> [batch, features]."""

    def build(self, shape, dtype):
        pass

    def call(self, x):
        return reshape(x, (shape_of(x)[0], -1))


class Dropout(Layer):
    """gc.nn.dropout as a layer: active only when called with training=True (or a traced bool)."""

    def __init__(self, rate=0.5, seed=None, noise_shape=None, name=None):
        super().__init__(name, seed)
        self.rate = float(rate)
        self.noise_shape = noise_shape

    def build(self, shape, dtype):
        pass

    def call(self, x, training=False):
        from .nn.layers_ops import dropout

        return dropout(x, rate=self.rate, training=training, seed=self.seed, noise_shape=self.noise_shape)


class BatchNorm(Layer):
    """Batch normalization over the last (channel) axis (tf.layers.batch_normalization).

    training=True: normalize with the batch moments (biased variance) and update the
    moving averages inside the same step: moving = momentum*moving + (1-momentum)*batch
    (Variable assigns, so a compiled training step updates them in place).
    training=False: normalize with the moving averages. A traced bool selects at run
    time (both are computed; the update keeps the old values when it is False).
    """

    def __init__(self, momentum=0.99, epsilon=1e-3, center=True, scale=True, name=None):
        super().__init__(name)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center, self.scale = center, scale

    def build(self, shape, dtype):
        c = shape[-1]
        self.gamma = self._var("gamma", np.ones(c, dtype)) if self.scale else None
        self.beta = self._var("beta", np.zeros(c, dtype)) if self.center else None
        self.moving_mean = self._var("moving_mean", np.zeros(c, dtype), trainable=False)
        self.moving_variance = self._var("moving_variance", np.ones(c, dtype), trainable=False)

    def call(self, x, training=False):
        from .ops.norm import batch_normalization, moments

        if training is False:
            return batch_normalization(x, self.moving_mean, self.moving_variance, self.beta, self.gamma,
                                       self.epsilon)
        dt = dtype_of(x)
        axes = tuple(range(len(shape_of(x)) - 1))
        mean, var = moments(x, axes)
        m = cast_to(self.momentum, dt)

        def ema(moving, batch):
            return add(multiply(moving.value(), m), multiply(batch, subtract(cast_to(1, dt), m)))

        new_mean, new_var = ema(self.moving_mean, mean), ema(self.moving_variance, var)
        if training is True:
            y = batch_normalization(x, mean, var, self.beta, self.gamma, self.epsilon)
        else:  # traced bool
            mean_sel = where(training, mean, self.moving_mean)
            var_sel = where(training, var, self.moving_variance)
            y = batch_normalization(x, mean_sel, var_sel, self.beta, self.gamma, self.epsilon)
            new_mean = where(training, new_mean, self.moving_mean)
            new_var = where(training, new_var, self.moving_variance)
        self.moving_mean.assign(new_mean)
        self.moving_variance.assign(new_var)
        return y


class _RNNLayer(Layer):
    """Shared part of LSTM and GRU: a cell run by dynamic_rnn over [batch, time, features]."""

    def __init__(self, cell, return_sequences=False, return_state=False, name=None):
        super().__init__(name or cell.name)
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state

    def build(self, shape, dtype):
        if len(shape) != 3:
            raise ShapeError(f"{self.name}: needs [batch, time, features] inputs, got shape {shape}")
        self.cell.build(shape[-1], dtype)

    @property
    def variables(self):
        return self.cell.variables

    @property
    def trainable_variables(self):
        return self.cell.variables

    def call(self, x, sequence_length=None, initial_state=None):
        from .rnn import dynamic_rnn

        outputs, state = dynamic_rnn(self.cell, x, sequence_length=sequence_length, initial_state=initial_state)
        if self.return_sequences:
            result = outputs
        else:
            result = state.h if hasattr(state, "h") else state
        return (result, state) if self.return_state else result


class LSTM(_RNNLayer):
    """An LSTMCell over a sequence; returns the last output (or all with return_sequences)."""

    def __init__(self, units, use_peepholes=False, forget_bias=1.0, return_sequences=False, return_state=False,
                 kernel_initializer=None, name=None, seed=None):
        from .rnn import LSTMCell

        super().__init__(LSTMCell(units, use_peepholes, forget_bias, name=name or "LSTM", seed=seed,
                                  kernel_initializer=kernel_initializer), return_sequences, return_state, name)


class GRU(_RNNLayer):
    """A GRUCell over a sequence; returns the last output (or all with return_sequences)."""

    def __init__(self, units, return_sequences=False, return_state=False, kernel_initializer=None, name=None,
                 seed=None):
        from .rnn import GRUCell

        super().__init__(GRUCell(units, name=name or "GRU", seed=seed, kernel_initializer=kernel_initializer),
                         return_sequences, return_state, name)
