"""RNN cells (tf.nn.rnn_cell / tf.contrib.rnn) and dynamic_rnn/static_rnn over graphc.rnn.

A v1 cell creates tf.Variables (``rnn/basic_rnn_cell/kernel`` ...) the first time it is
run, with the initial values of a graphc cell built then as a template. The op that
runs the cell takes those variables as inputs; at replay it builds a graphc cell whose
weights are their current values: graphc cells create every weight through
``RNNCell._var(name, value)``, and the replayed cell's ``_var`` returns the value
instead (gc.scan captures it). So the recurrence, its native loop and its gradient
are graphc's, and optimizers see the variables through the loss as usual.

Keep probabilities of DropoutWrapper may be Python numbers or fed placeholders (their
value is compiled in, as for tf.nn.dropout).
"""
from __future__ import annotations

import numpy as np

import graphc as gc
import graphc.rnn as gc_rnn
from .convert import as_operand
from .graph import Tensor
from .record import record
from .variables import get_variable, variable_scope


class RNNCell:
    """tf.nn.rnn_cell.RNNCell / tf.contrib.rnn.RNNCell: the base class of user cells.

    A subclass defines ``state_size``, ``output_size`` and ``call(inputs, state) ->
    (output, new_state)`` with tf ops (or, old style, overrides ``__call__``). As in
    TF 1.x, the first call creates the cell's variables in a variable scope named
    after the cell (``rnn/my_cell/...`` inside dynamic_rnn) and later calls reuse
    them. dynamic_rnn/static_rnn unroll such a cell in the graph, one call per step
    (the time dimension must be known); the built-in cells below run in graphc's
    native loop instead.
    """

    def __init__(self, trainable=True, name=None, dtype=None, _reuse=None, reuse=None, **kwargs):
        self._name = name
        self._reuse = _reuse if _reuse is not None else reuse
        self._scope_obj = None

    @property
    def state_size(self):
        raise NotImplementedError(f"{type(self).__name__} must define state_size")

    @property
    def output_size(self):
        raise NotImplementedError(f"{type(self).__name__} must define output_size")

    def zero_state(self, batch_size, dtype):
        """Zeros of shape [batch_size, n] for every n in state_size (nested as state_size)."""
        from .array_ops import zeros

        def make(size):
            if isinstance(size, tuple):              # nested states (tuples, LSTMStateTuple)
                parts = [make(x) for x in size]
                return tuple(parts) if type(size) is tuple else type(size)(*parts)
            dims = size.as_list() if hasattr(size, "as_list") else [int(size)]
            return zeros([batch_size] + dims, dtype)

        return make(self.state_size)

    def call(self, inputs, state):
        raise NotImplementedError(f"{type(self).__name__} must define call(inputs, state)")

    def __call__(self, inputs, state, scope=None):
        reuse = getattr(self, "_reuse", None)
        if scope is not None:
            with variable_scope(scope, reuse=reuse):
                return self.call(inputs, state)
        saved = getattr(self, "_scope_obj", None)
        if saved is None:
            with variable_scope(getattr(self, "_name", None) or _snake_case(type(self).__name__), reuse=reuse) as sc:
                self._scope_obj = sc
                return self.call(inputs, state)
        with variable_scope(saved, reuse=True):
            return self.call(inputs, state)

    def _native(self):
        """True when the cell runs as graphc cells in a native loop (else: unrolled in the graph)."""
        return False


def _snake_case(name):
    """TF's layer naming (to_snake_case): MinimalRNNCell -> minimal_rnn_cell."""
    import re

    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()
    return name if name[0] != "_" else "private" + name


class _GraphcCell(RNNCell):
    """Base of the v1 cells wrapping one graphc cell class."""

    _gc_class = None
    _scope = "rnn_cell"

    def __init__(self, num_units, activation=None, reuse=None, name=None, **kwargs):
        self._num_units = int(num_units)
        self._kwargs = dict(kwargs)
        if activation is not None:
            self._kwargs["activation"] = activation
        self._name = name
        self._reuse = reuse
        self._vars = None

    # -- TF interface -----------------------------------------------------------------------
    @property
    def state_size(self):
        return self._template_cell().state_size

    @property
    def output_size(self):
        return self._num_units

    def zero_state(self, batch_size, dtype):
        from .dtypes import as_dtype

        dt = as_dtype(dtype).name
        return record("zero_state", lambda b: self._make().zero_state(int(b), dt), (batch_size,),
                      name=f"{self._scope}ZeroState")

    def __call__(self, inputs, state, scope=None):
        self._build(_static_size(inputs, 1), inputs.dtype.name, scope)
        return record("cell", _call_cell, (self, inputs, state, self._var_list(), self._keeps()),
                      static=self._static(), name=self._scope)

    # -- graphc side --------------------------------------------------------------------------
    def _make(self):
        return self._gc_class(self._num_units, name=self._scope, **self._kwargs)

    def _template_cell(self):
        return self._template if self._vars is not None else self._make()

    def _build(self, input_size, dtype, scope=None):
        """Create this cell's tf.Variables (once, in ``scope/<cell name>/``), initialized
        like the graphc cell's."""
        if self._vars is not None:
            return
        template = self._make()
        template.build(input_size, dtype)
        self._vars = {}
        prefix = template.name + "/"
        with variable_scope(scope or self._name or self._scope, reuse=self._reuse):
            for gv in template.variables:
                short = gv.name[len(prefix):] if gv.name.startswith(prefix) else gv.name
                self._vars[short] = get_variable(short, initializer=gv.numpy())
        self._template = template

    def _var_list(self):
        return list(self._vars.values())

    def _gc(self, values, keeps):
        """A graphc cell whose weights are ``values[tf.Variable]`` (tensors of the trace)."""
        cell = self._make()
        variables = self._vars

        def _var(name, value):
            v = values[variables[name]]
            cell._variables.append(v)
            return v

        cell._var = _var
        return cell

    def _keeps(self):
        return []

    def _native(self):
        return True

    def _static(self):
        return {t: 1.0 for t in self._keeps() if isinstance(t, Tensor)}


def _static_size(x, axis_from_end):
    dims = x.get_shape().dims_
    if dims is None or dims[-axis_from_end] is None:
        raise ValueError(f"the last dimension of RNN inputs must be known, got shape {x.get_shape()}")
    return dims[-axis_from_end]


def _call_cell(cell, inputs, state, var_values, keeps):
    return cell._gc(dict(zip(cell._var_list(), var_values)), iter(keeps))(inputs, state)


class BasicRNNCell(_GraphcCell):
    _gc_class = gc_rnn.BasicRNNCell
    _scope = "basic_rnn_cell"


class BasicLSTMCell(_GraphcCell):
    _gc_class = gc_rnn.BasicLSTMCell
    _scope = "basic_lstm_cell"

    def __init__(self, num_units, forget_bias=1.0, state_is_tuple=True, activation=None, reuse=None, name=None):
        if not state_is_tuple:
            raise NotImplementedError("state_is_tuple=False is deprecated in TF and not supported")
        super().__init__(num_units, activation, reuse, name, forget_bias=forget_bias)


class LSTMCell(_GraphcCell):
    _gc_class = gc_rnn.LSTMCell
    _scope = "lstm_cell"

    def __init__(self, num_units, use_peepholes=False, cell_clip=None, initializer=None, num_proj=None,
                 proj_clip=None, forget_bias=1.0, state_is_tuple=True, activation=None, reuse=None, name=None):
        if cell_clip is not None or num_proj is not None or proj_clip is not None:
            raise NotImplementedError("LSTMCell: cell_clip and projections are not supported")
        super().__init__(num_units, activation, reuse, name, use_peepholes=use_peepholes, forget_bias=forget_bias)


class GRUCell(_GraphcCell):
    _gc_class = gc_rnn.GRUCell
    _scope = "gru_cell"


class MultiRNNCell(_GraphcCell):
    """Cells stacked (``multi_rnn_cell/cell_0/...``); the state is a tuple."""

    _scope = "multi_rnn_cell"

    def __init__(self, cells, state_is_tuple=True):
        self._cells = list(cells)
        self._name = None
        self._reuse = None
        self._vars = None

    @property
    def state_size(self):
        return tuple(c.state_size for c in self._cells)

    @property
    def output_size(self):
        return self._cells[-1].output_size

    def zero_state(self, batch_size, dtype):
        return tuple(c.zero_state(batch_size, dtype) for c in self._cells)

    def _build(self, input_size, dtype, scope=None):
        if self._vars is not None:
            return
        with variable_scope(scope or self._scope):
            size = input_size
            for i, c in enumerate(self._cells):
                with variable_scope(f"cell_{i}"):
                    c._build(size, dtype)
                size = c.output_size
        self._vars = {}

    def _var_list(self):
        return [v for c in self._cells for v in c._var_list()]

    def _make(self):
        return gc_rnn.MultiRNNCell([c._template_cell() for c in self._cells])

    def _template_cell(self):
        return self._make()

    def _gc(self, values, keeps):
        return gc_rnn.MultiRNNCell([c._gc(values, keeps) for c in self._cells])

    def _native(self):
        return all(c._native() for c in self._cells)

    def __call__(self, inputs, state, scope=None):
        if self._native():
            return super().__call__(inputs, state, scope)
        # A user cell inside: call the cells one after the other with tf ops (TF's scopes).
        x, new_states = inputs, []
        with variable_scope(scope or self._scope):
            for i, (c, s) in enumerate(zip(self._cells, state)):
                with variable_scope(f"cell_{i}"):
                    x, ns = c(x, s)
                new_states.append(ns)
        return x, tuple(new_states)

    def _keeps(self):
        return [k for c in self._cells for k in c._keeps()]


class DropoutWrapper(_GraphcCell):
    """Dropout on a cell's inputs and outputs (keep probabilities)."""

    def __init__(self, cell, input_keep_prob=1.0, output_keep_prob=1.0, state_keep_prob=1.0,
                 variational_recurrent=False, input_size=None, dtype=None, seed=None):
        if state_keep_prob != 1.0 or variational_recurrent:
            raise NotImplementedError("DropoutWrapper: state dropout is not supported by graphc.rnn")
        self._cell = cell
        self._in_keep, self._out_keep = input_keep_prob, output_keep_prob
        self._seed = seed
        self._name = None
        self._reuse = None
        self._vars = None
        self._scope = cell._scope

    state_size = property(lambda self: self._cell.state_size)
    output_size = property(lambda self: self._cell.output_size)

    def zero_state(self, batch_size, dtype):
        return self._cell.zero_state(batch_size, dtype)

    def _build(self, input_size, dtype, scope=None):
        self._cell._build(input_size, dtype, scope)
        self._vars = {}

    def _var_list(self):
        return self._cell._var_list()

    def _template_cell(self):
        return gc_rnn.DropoutWrapper(self._cell._template_cell(), 1.0, 1.0)

    def _gc(self, values, keeps):
        inner = self._cell._gc(values, keeps)
        k_in = float(next(keeps)) if isinstance(self._in_keep, Tensor) else float(self._in_keep)
        k_out = float(next(keeps)) if isinstance(self._out_keep, Tensor) else float(self._out_keep)
        return gc_rnn.DropoutWrapper(inner, k_in, k_out, seed=self._seed)

    def _keeps(self):
        return self._cell._keeps() + [k for k in (self._in_keep, self._out_keep) if isinstance(k, Tensor)]

    def _native(self):
        return self._cell._native()

    def __call__(self, inputs, state, scope=None):
        if self._native():
            return super().__call__(inputs, state, scope)
        from .nn import dropout

        if not (isinstance(self._in_keep, float) and self._in_keep == 1.0):
            inputs = dropout(inputs, keep_prob=self._in_keep, seed=self._seed)
        out, new_state = self._cell(inputs, state, scope)
        if not (isinstance(self._out_keep, float) and self._out_keep == 1.0):
            out = dropout(out, keep_prob=self._out_keep, seed=self._seed)
        return out, new_state


class _Projection:
    """graphc side of OutputProjectionWrapper: activation(cell output @ kernel + bias)."""

    def __init__(self, cell, kernel, bias, activation, size):
        self.cell, self.kernel, self.bias, self.activation, self.size = cell, kernel, bias, activation, size
        self.name = "output_projection_wrapper"
        self.built = True

    state_size = property(lambda self: self.cell.state_size)
    output_size = property(lambda self: self.size)
    num_units = output_size
    variables = property(lambda self: self.cell.variables)
    trainable_variables = variables

    def zero_state(self, batch_size, dtype="float32"):
        return self.cell.zero_state(batch_size, dtype)

    def build(self, input_size, dtype="float32"):
        self.cell.build(input_size, dtype)

    def project(self, out):
        y = gc.add(gc.matmul(out, self.kernel), self.bias)
        return self.activation(y) if self.activation is not None else y

    def __call__(self, inputs, state):
        out, new_state = self.cell(inputs, state)
        return self.project(out), new_state


class OutputProjectionWrapper(_GraphcCell):
    """tf.contrib.rnn.OutputProjectionWrapper: a dense projection of the cell's output
    (``output_projection_wrapper/kernel`` and ``bias``, the inner cell's variables in
    ``output_projection_wrapper/<cell>/``). In dynamic_rnn the projection is applied
    to the whole output sequence after the native loop (one matmul, same values)."""

    _scope = "output_projection_wrapper"

    def __init__(self, cell, output_size, activation=None, reuse=None):
        if int(output_size) < 1:
            raise ValueError(f"Parameter output_size must be > 0: {output_size}.")
        self._cell = cell
        self._output_size = int(output_size)
        self._activation = activation
        self._name = None
        self._reuse = reuse
        self._vars = None

    state_size = property(lambda self: self._cell.state_size)
    output_size = property(lambda self: self._output_size)

    def zero_state(self, batch_size, dtype):
        return self._cell.zero_state(batch_size, dtype)

    def _build(self, input_size, dtype, scope=None):
        if self._vars is not None:
            return
        from .initializers import Zeros

        with variable_scope(scope or self._scope, reuse=self._reuse):
            self._cell._build(input_size, dtype)
            self._vars = {"kernel": get_variable("kernel", [self._cell.output_size, self._output_size], dtype=dtype),
                          "bias": get_variable("bias", [self._output_size], dtype=dtype, initializer=Zeros())}

    def _var_list(self):
        return self._cell._var_list() + [self._vars["kernel"], self._vars["bias"]]

    def _template_cell(self):
        return _Projection(self._cell._template_cell(), None, None, None, self._output_size)

    def _gc(self, values, keeps):
        return _Projection(self._cell._gc(values, keeps), values[self._vars["kernel"]], values[self._vars["bias"]],
                           self._activation, self._output_size)

    def _keeps(self):
        return self._cell._keeps()

    def _native(self):
        return self._cell._native()

    def __call__(self, inputs, state, scope=None):
        if self._native():
            return super().__call__(inputs, state, scope)
        from .initializers import Zeros
        from .math_ops import matmul
        from .nn import bias_add

        with variable_scope(scope or self._scope, reuse=self._reuse):
            out, new_state = self._cell(inputs, state)
            kernel = get_variable("kernel", [int(self._cell.output_size), self._output_size], dtype=inputs.dtype)
            bias = get_variable("bias", [self._output_size], dtype=inputs.dtype, initializer=Zeros())
        y = bias_add(matmul(out, kernel), bias)
        return (self._activation(y) if self._activation is not None else y), new_state


# -- unrolling -------------------------------------------------------------------------------------


def _run_dynamic(cell, inputs, sequence_length, initial_state, dtype, time_major, var_values, keeps):
    values = dict(zip(cell._var_list(), var_values))
    gc_cell = cell._gc(values, iter(keeps))
    projection = None
    if isinstance(gc_cell, _Projection):          # project the whole sequence after the loop
        projection, gc_cell = gc_cell, gc_cell.cell
    outputs, state = gc_rnn.dynamic_rnn(gc_cell, inputs, sequence_length=sequence_length,
                                        initial_state=initial_state, dtype=dtype, time_major=time_major)
    if projection is not None:
        outputs = projection.project(outputs)
        if sequence_length is not None:           # padded steps output zeros, as the per-step wrapper's
            steps = gc.ops.common.shape_of(outputs)[0 if time_major else 1]
            t = gc.arange(steps, dtype="int64")
            lengths = gc.cast(sequence_length, "int64")
            valid = gc.less(gc.expand_dims(t, 1), gc.expand_dims(lengths, 0)) if time_major else \
                gc.less(gc.expand_dims(t, 0), gc.expand_dims(lengths, 1))
            outputs = gc.where(gc.expand_dims(valid, 2), outputs, gc.zeros((), gc.ops.common.dtype_of(outputs)))
    return outputs, state


def _mask_step(seq_len, t, new_state, old_state, out):
    return gc_rnn._masked(gc.cast(seq_len, "int64"), np.int64(t), new_state, old_state, out)


def _unroll(cell, inputs, initial_state, dtype, sequence_length, scope):
    """TF's static_rnn in the graph: one call of ``cell`` per step, variables created at
    the first step and reused after (for cells written with tf ops)."""
    from .array_ops import shape as tf_shape

    with variable_scope(scope or "rnn") as vs:
        first = inputs[0]
        batch = (first.get_shape().dims_ or [None])[0]
        if batch is None:
            batch = tf_shape(first)[0]
        state = initial_state if initial_state is not None else cell.zero_state(batch, dtype or first.dtype)
        outputs = []
        for t, x in enumerate(inputs):
            if t > 0:
                vs.reuse_variables()
            out, new_state = cell(x, state)
            if sequence_length is not None:
                new_state, out = record("rnn_mask", _mask_step, (sequence_length, t, new_state, state, out),
                                        name="cond")
            state = new_state
            outputs.append(out)
    return outputs, state


def dynamic_rnn(cell, inputs, sequence_length=None, initial_state=None, dtype=None, parallel_iterations=None,
                swap_memory=False, time_major=False, scope=None):
    """Run ``cell`` over time in a native loop; returns (outputs, final state).

    A cell written with tf ops (an RNNCell subclass) is unrolled in the graph instead."""
    inputs = as_operand(inputs)
    if not cell._native():
        from .array_ops import stack, unstack

        axis = 0 if time_major else 1
        steps = (inputs.get_shape().dims_ or [None, None])[axis]
        if steps is None:
            raise ValueError(f"dynamic_rnn of {type(cell).__name__} (a cell written with tf ops) unrolls it in the "
                             f"graph and needs a known number of time steps, got inputs of shape "
                             f"{inputs.get_shape()}")
        outputs, state = _unroll(cell, unstack(inputs, num=steps, axis=axis), initial_state, dtype,
                                 sequence_length, scope)
        return stack(outputs, axis=axis), state
    with variable_scope(scope or "rnn"):
        cell._build(_static_size(inputs, 1), inputs.dtype.name)
        return record("rnn", _run_dynamic, (cell, inputs, sequence_length, initial_state,
                                            None if dtype is None else inputs.dtype.name, bool(time_major),
                                            cell._var_list(), cell._keeps()),
                      static=cell._static(), name="while")


def _run_static(cell, inputs, initial_state, dtype, sequence_length, var_values, keeps):
    values = dict(zip(cell._var_list(), var_values))
    return gc_rnn.static_rnn(cell._gc(values, iter(keeps)), list(inputs), initial_state=initial_state,
                             dtype=dtype, sequence_length=sequence_length)


def static_rnn(cell, inputs, initial_state=None, dtype=None, sequence_length=None, scope=None):
    """Unrolled over a list of [batch, features] inputs; returns (outputs list, state)."""
    inputs = [as_operand(x) for x in inputs]
    if not cell._native():
        return _unroll(cell, inputs, initial_state, dtype, sequence_length, scope)
    with variable_scope(scope or "rnn"):
        cell._build(_static_size(inputs[0], 1), inputs[0].dtype.name)
        return record("rnn", _run_static, (cell, inputs, initial_state, inputs[0].dtype.name,
                                           sequence_length, cell._var_list(), cell._keeps()),
                      static=cell._static(), name="rnn")
