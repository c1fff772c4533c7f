"""Recurrent cells (TF 1.x semantics) and their unrolling: static_rnn and dynamic_rnn.

A cell is a callable ``cell(inputs, state) -> (output, new_state)`` that owns its
Variables (created at the first call, when the input size is known). ``dynamic_rnn``
runs a cell over the time axis with ``gc.scan``, a native loop that keeps the forward
values for the backward pass; ``static_rnn`` unrolls it in Python (one copy of the
cell's ops per step: fine for short sequences, and the reference dynamic_rnn is
tested against).

Choices worth knowing:
- Kernels act on concat([inputs, h]) as in TF (one (in+units, k*units) matrix), with
  Glorot-uniform initial values (TF's default for get_variable) and zero biases,
  except GRU's gate bias, 1.0 as in TF's GRUCell.
- sequence_length: steps at or beyond an example's length output zeros and leave its
  state unchanged, so the final state is the last valid step's (a where-mask in the
  loop body).
- MultiRNNCell in dynamic_rnn runs layer after layer, each as its own scan over the
  whole sequence (the same values as stepping all layers together, since layer l at
  step t needs only layer l-1 at step t). That keeps DropoutWrapper's random masks
  outside loop bodies: its input/output dropout is applied to whole sequences, which
  draws an independent mask per step exactly as TF's per-step masks. (Dropout of the
  recurrent state, variational dropout, is not supported.)
"""
from __future__ import annotations

import numpy as np

from . import init as _init
from .errors import ShapeError
from .ops.common import cast_to, dtype_of, shape_of
from .ops.creation import zeros
from .ops.elementwise import add, multiply, sigmoid, subtract, tanh, where, less, cast
from .ops.linalg import matmul
from .ops.shape_ops import concatenate, expand_dims, split, transpose
from .variables import Variable

__all__ = ["BasicLSTMCell", "BasicRNNCell", "DropoutWrapper", "GRUCell", "LSTMCell", "LSTMStateTuple", "MultiRNNCell",
           "RNNCell", "dynamic_rnn", "static_rnn"]


class LSTMStateTuple(tuple):
    """(c, h) of an LSTM (a plain tuple to graphc's pytrees, with .c and .h)."""

    def __new__(cls, c, h):
        return super().__new__(cls, (c, h))

    c = property(lambda self: self[0])
    h = property(lambda self: self[1])


class RNNCell:
    """Base class: subclasses define _build(input_size, dtype) and _step(x, state)."""

    def __init__(self, num_units, name=None, seed=None, kernel_initializer=None):
        self.num_units = int(num_units)
        self.name = name or type(self).__name__
        self.seed = seed
        self.kernel_initializer = kernel_initializer or _init.glorot_uniform
        self._variables: list = []
        self.built = False

    # -- variables -----------------------------------------------------------------------
    def _var(self, name, value):
        v = Variable(value, name=f"{self.name}/{name}")
        self._variables.append(v)
        return v

    def _kernel(self, name, shape, dtype):
        seed = None if self.seed is None else self.seed + len(self._variables)
        return self._var(name, np.asarray(self.kernel_initializer(shape, seed=seed, dtype=dtype)))

    @property
    def variables(self):
        return list(self._variables)

    trainable_variables = variables

    # -- interface -------------------------------------------------------------------------
    @property
    def state_size(self):
        return self.num_units

    @property
    def output_size(self):
        return self.num_units

    def zero_state(self, batch_size, dtype="float32"):
        return zeros((batch_size, self.num_units), dtype)

    def build(self, input_size, dtype="float32"):
        if not self.built:
            self._build(int(input_size), dtype)
            self.built = True

    def __call__(self, inputs, state):
        xs = shape_of(inputs)
        if len(xs) != 2:
            raise ShapeError(f"{self.name}: inputs must be [batch, features], got shape {tuple(xs)}")
        self.build(xs[1], dtype_of(inputs))
        return self._step(inputs, state)


def _zero_bias(n, dtype):
    return np.zeros(n, dtype)


class BasicRNNCell(RNNCell):
    """h' = activation([x, h] @ W + b); the output is h'."""

    def __init__(self, num_units, activation=None, name=None, seed=None, kernel_initializer=None):
        super().__init__(num_units, name, seed, kernel_initializer)
        self.activation = activation or tanh

    def _build(self, input_size, dtype):
        self.kernel = self._kernel("kernel", (input_size + self.num_units, self.num_units), dtype)
        self.bias = self._var("bias", _zero_bias(self.num_units, dtype))

    def _step(self, x, h):
        out = self.activation(add(matmul(concatenate([x, h], axis=1), self.kernel), self.bias))
        return out, out


class LSTMCell(RNNCell):
    """LSTM (TF's LSTMCell): gates i, j (candidate), f, o from one matmul of [x, h].

    c' = sigmoid(f + forget_bias [+ w_f*c]) * c + sigmoid(i [+ w_i*c]) * tanh(j)
    h' = sigmoid(o [+ w_o*c']) * tanh(c')     ([...] only with use_peepholes)
    The state is LSTMStateTuple(c, h); the output is h'.
    """

    def __init__(self, num_units, use_peepholes=False, forget_bias=1.0, activation=None, name=None, seed=None,
                 kernel_initializer=None):
        super().__init__(num_units, name, seed, kernel_initializer)
        self.use_peepholes = use_peepholes
        self.forget_bias = float(forget_bias)
        self.activation = activation or tanh

    @property
    def state_size(self):
        return LSTMStateTuple(self.num_units, self.num_units)

    def zero_state(self, batch_size, dtype="float32"):
        return LSTMStateTuple(zeros((batch_size, self.num_units), dtype), zeros((batch_size, self.num_units), dtype))

    def _build(self, input_size, dtype):
        n = self.num_units
        self.kernel = self._kernel("kernel", (input_size + n, 4 * n), dtype)
        self.bias = self._var("bias", _zero_bias(4 * n, dtype))
        if self.use_peepholes:
            self.w_f_diag = self._kernel("w_f_diag", (n,), dtype)
            self.w_i_diag = self._kernel("w_i_diag", (n,), dtype)
            self.w_o_diag = self._kernel("w_o_diag", (n,), dtype)

    def _step(self, x, state):
        c, h = state
        dt = dtype_of(x)
        z = add(matmul(concatenate([x, h], axis=1), self.kernel), self.bias)
        i, j, f, o = split(z, 4, axis=1)
        f = add(f, cast_to(self.forget_bias, dt))
        if self.use_peepholes:
            i = add(i, multiply(c, self.w_i_diag))
            f = add(f, multiply(c, self.w_f_diag))
        new_c = add(multiply(sigmoid(f), c), multiply(sigmoid(i), self.activation(j)))
        if self.use_peepholes:
            o = add(o, multiply(new_c, self.w_o_diag))
        new_h = multiply(sigmoid(o), self.activation(new_c))
        return new_h, LSTMStateTuple(new_c, new_h)


class BasicLSTMCell(LSTMCell):
    """TF's BasicLSTMCell: an LSTMCell without peepholes (forget_bias 1.0)."""

    def __init__(self, num_units, forget_bias=1.0, activation=None, name=None, seed=None, kernel_initializer=None):
        super().__init__(num_units, False, forget_bias, activation, name, seed, kernel_initializer)


class GRUCell(RNNCell):
    """GRU (TF's GRUCell): r, u = sigmoid([x, h] @ W_g + b_g) with b_g = 1.0;
    c = tanh([x, r*h] @ W_c + b_c); h' = u*h + (1-u)*c, which is also the output."""

    def __init__(self, num_units, activation=None, name=None, seed=None, kernel_initializer=None):
        super().__init__(num_units, name, seed, kernel_initializer)
        self.activation = activation or tanh

    def _build(self, input_size, dtype):
        n = self.num_units
        self.gate_kernel = self._kernel("gates/kernel", (input_size + n, 2 * n), dtype)
        self.gate_bias = self._var("gates/bias", np.ones(2 * n, dtype))
        self.candidate_kernel = self._kernel("candidate/kernel", (input_size + n, n), dtype)
        self.candidate_bias = self._var("candidate/bias", _zero_bias(n, dtype))

    def _step(self, x, h):
        g = sigmoid(add(matmul(concatenate([x, h], axis=1), self.gate_kernel), self.gate_bias))
        r, u = split(g, 2, axis=1)
        c = self.activation(add(matmul(concatenate([x, multiply(r, h)], axis=1), self.candidate_kernel),
                                self.candidate_bias))
        new_h = add(multiply(u, h), multiply(subtract(cast_to(1, dtype_of(u)), u), c))
        return new_h, new_h


class MultiRNNCell(RNNCell):
    """Cells stacked: each cell's output is the next one's input; the state is a tuple."""

    def __init__(self, cells, name=None):
        self.cells = list(cells)
        if not self.cells:
            raise ValueError("MultiRNNCell needs at least one cell")
        self.name = name or "MultiRNNCell"
        self.built = True

    @property
    def num_units(self):
        return self.cells[-1].output_size

    @property
    def state_size(self):
        return tuple(c.state_size for c in self.cells)

    @property
    def output_size(self):
        return self.cells[-1].output_size

    @property
    def variables(self):
        return [v for c in self.cells for v in c.variables]

    trainable_variables = variables

    def zero_state(self, batch_size, dtype="float32"):
        return tuple(c.zero_state(batch_size, dtype) for c in self.cells)

    def __call__(self, inputs, state):
        new_states = []
        x = inputs
        for cell, s in zip(self.cells, state):
            x, ns = cell(x, s)
            new_states.append(ns)
        return x, tuple(new_states)


class DropoutWrapper(RNNCell):
    """Dropout on a cell's inputs and/or outputs (keep probabilities, as TF 1.x).

    ``training`` False (or a traced bool) switches the dropout off, as for gc.nn.dropout.
    """

    def __init__(self, cell, input_keep_prob=1.0, output_keep_prob=1.0, seed=None, training=True):
        self.cell = cell
        self.input_keep_prob = float(input_keep_prob)
        self.output_keep_prob = float(output_keep_prob)
        self.seed = seed
        self.training = training
        self.name = f"DropoutWrapper({cell.name})"
        self.built = True

    num_units = property(lambda self: self.cell.num_units)
    state_size = property(lambda self: self.cell.state_size)
    output_size = property(lambda self: self.cell.output_size)
    variables = property(lambda self: self.cell.variables)
    trainable_variables = variables

    def zero_state(self, batch_size, dtype="float32"):
        return self.cell.zero_state(batch_size, dtype)

    def drop_inputs(self, x):
        return self._drop(x, self.input_keep_prob)

    def drop_outputs(self, y):
        return self._drop(y, self.output_keep_prob)

    def _drop(self, x, keep):
        if keep >= 1.0:
            return x
        from .nn.layers_ops import dropout

        return dropout(x, keep_prob=keep, training=self.training, seed=self.seed)

    def __call__(self, inputs, state):
        out, new_state = self.cell(self.drop_inputs(inputs), state)
        return self.drop_outputs(out), new_state


# -- pytree helpers for states ----------------------------------------------------------------------

def _map_state(fn, *states):
    """Apply fn leafwise over matching state structures, keeping LSTMStateTuple."""
    first = states[0]
    if isinstance(first, LSTMStateTuple):
        return LSTMStateTuple(*[_map_state(fn, *parts) for parts in zip(*states)])
    if isinstance(first, (tuple, list)):
        return tuple(_map_state(fn, *parts) for parts in zip(*states))
    return fn(*states)


def _restore(template, plain):
    """Rebuild LSTMStateTuples in ``plain`` (as returned by scan) following ``template``."""
    if isinstance(template, LSTMStateTuple):
        return LSTMStateTuple(*[_restore(t, p) for t, p in zip(template, plain)])
    if isinstance(template, (tuple, list)):
        return tuple(_restore(t, p) for t, p in zip(template, plain))
    return plain


def _plain(state):
    if isinstance(state, (tuple, list)):
        return tuple(_plain(s) for s in state)
    return state


def _check_inputs(inputs, time_major):
    shape = shape_of(inputs)
    if len(shape) != 3:
        raise ShapeError(f"rnn inputs must be rank 3 ([batch, time, features], or time-major), got {tuple(shape)}")
    return (shape[1], shape[0]) if time_major else (shape[0], shape[1])


def _masked(seq_len, t, new_state, old_state, out):
    """Keep the old state and output zeros where step t >= the example's length."""
    if seq_len is None:
        return new_state, out
    valid = expand_dims(less(t, seq_len), 1)             # (batch, 1)
    state = _map_state(lambda n, o: where(valid, n, o), new_state, old_state)
    return state, where(valid, out, cast_to(0, dtype_of(out)))


def _seq_len(sequence_length, batch):
    if sequence_length is None:
        return None
    if isinstance(sequence_length, (list, tuple)):
        sequence_length = np.asarray(sequence_length, np.int64)
    if tuple(shape_of(sequence_length)) != (batch,):
        raise ShapeError(f"sequence_length must have shape ({batch},), got {tuple(shape_of(sequence_length))}")
    return cast(sequence_length, "int64")


def static_rnn(cell, inputs, initial_state=None, dtype="float32", sequence_length=None):
    """Unrolled in Python: inputs is a list of [batch, features] (tf.nn.static_rnn).

    Returns (list of outputs, final state).
    """
    inputs = list(inputs)
    if not inputs:
        raise ValueError("static_rnn needs at least one time step")
    batch = shape_of(inputs[0])[0]
    state = initial_state if initial_state is not None else cell.zero_state(batch, dtype_of(inputs[0]))
    seq = _seq_len(sequence_length, batch)
    outputs = []
    for t, x in enumerate(inputs):
        out, new_state = cell(x, state)
        state, out = _masked(seq, np.int64(t), new_state, state, out)
        outputs.append(out)
    return outputs, state


def dynamic_rnn(cell, inputs, sequence_length=None, initial_state=None, dtype=None, time_major=False):
    """Run ``cell`` over the time axis in a native loop (gc.scan), as tf.nn.dynamic_rnn.

    inputs: [batch, time, features] ([time, batch, features] if time_major).
    Returns (outputs in the same layout, final state); with sequence_length, padded
    steps output zeros and the final state is each example's last valid one.
    """
    from . import scan

    batch, steps = _check_inputs(inputs, time_major)
    xs = inputs if time_major else transpose(inputs, (1, 0, 2))
    seq = _seq_len(sequence_length, batch)
    xs, final = _run_layer(scan, cell, xs, seq, initial_state, dtype_of(inputs), steps)
    outputs = xs if time_major else transpose(xs, (1, 0, 2))
    return outputs, final


def _run_layer(scan, cell, xs, seq, initial_state, dt, steps):
    """One cell over a time-major sequence; returns (time-major outputs, final state)."""
    if isinstance(cell, MultiRNNCell):
        states = initial_state if initial_state is not None else cell.zero_state(shape_of(xs)[1], dt)
        finals = []
        for sub, s in zip(cell.cells, states):
            xs, fs = _run_layer(scan, sub, xs, seq, s, dt, steps)
            finals.append(fs)
        return xs, tuple(finals)
    wrapper = None
    if isinstance(cell, DropoutWrapper):
        wrapper, cell = cell, cell.cell
        xs = wrapper.drop_inputs(xs)
        if isinstance(cell, (MultiRNNCell, DropoutWrapper)):
            ys, final = _run_layer(scan, cell, xs, seq, initial_state, dt, steps)
            return wrapper.drop_outputs(ys), final
    batch = shape_of(xs)[1]
    init = initial_state if initial_state is not None else cell.zero_state(batch, dt)
    cell.build(shape_of(xs)[2], dt)
    template = init

    def body(carry, x_t):
        x, t = x_t
        state = _restore(template, carry)
        out, new_state = cell(x, state)
        new_state, out = _masked(seq, t, new_state, state, out)
        return _plain(new_state), out

    t_index = np.arange(steps, dtype=np.int64)
    final, ys = scan(body, _plain(init), (xs, t_index))
    if wrapper is not None:
        ys = wrapper.drop_outputs(ys)
    return ys, _restore(template, final)

