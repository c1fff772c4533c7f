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

import graphc.rnn as gc_rnn
from .convert import as_operand
from .graph import Tensor
from .record import record
from .variables import get_variable, variable_scope


class RNNCell:
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

    def _static(self):
        return {t: 1.0 for t in self._keeps() if isinstance(t, Tensor)}


def _static_size(x, axis_from_end):
    dims = x.get_shape().dims_
    if dims is None or dims[-axis_from_end] is None:
        raise ValueError(f"the last dimension of RNN inputs must be known, got shape {x.get_shape()}")
    return dims[-axis_from_end]


def _call_cell(cell, inputs, state, var_values, keeps):
    return cell._gc(dict(zip(cell._var_list(), var_values)), iter(keeps))(inputs, state)


class BasicRNNCell(RNNCell):
    _gc_class = gc_rnn.BasicRNNCell
    _scope = "basic_rnn_cell"


class BasicLSTMCell(RNNCell):
    _gc_class = gc_rnn.BasicLSTMCell
    _scope = "basic_lstm_cell"

    def __init__(self, num_units, forget_bias=1.0, state_is_tuple=True, activation=None, reuse=None, name=None):
        if not state_is_tuple:
            raise NotImplementedError("state_is_tuple=False is deprecated in TF and not supported")
        super().__init__(num_units, activation, reuse, name, forget_bias=forget_bias)


class LSTMCell(RNNCell):
    _gc_class = gc_rnn.LSTMCell
    _scope = "lstm_cell"

    def __init__(self, num_units, use_peepholes=False, cell_clip=None, initializer=None, num_proj=None,
                 proj_clip=None, forget_bias=1.0, state_is_tuple=True, activation=None, reuse=None, name=None):
        if cell_clip is not None or num_proj is not None or proj_clip is not None:
            raise NotImplementedError("LSTMCell: cell_clip and projections are not supported")
        super().__init__(num_units, activation, reuse, name, use_peepholes=use_peepholes, forget_bias=forget_bias)


class GRUCell(RNNCell):
    _gc_class = gc_rnn.GRUCell
    _scope = "gru_cell"


class MultiRNNCell(RNNCell):
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

    def _keeps(self):
        return [k for c in self._cells for k in c._keeps()]


class DropoutWrapper(RNNCell):
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


# -- unrolling -------------------------------------------------------------------------------------


def _run_dynamic(cell, inputs, sequence_length, initial_state, dtype, time_major, var_values, keeps):
    values = dict(zip(cell._var_list(), var_values))
    return gc_rnn.dynamic_rnn(cell._gc(values, iter(keeps)), inputs, sequence_length=sequence_length,
                              initial_state=initial_state, dtype=dtype, time_major=time_major)


def dynamic_rnn(cell, inputs, sequence_length=None, initial_state=None, dtype=None, parallel_iterations=None,
                swap_memory=False, time_major=False, scope=None):
    """Run ``cell`` over time in a native loop; returns (outputs, final state)."""
    inputs = as_operand(inputs)
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
    with variable_scope(scope or "rnn"):
        cell._build(_static_size(inputs[0], 1), inputs[0].dtype.name)
        return record("rnn", _run_static, (cell, inputs, initial_state, inputs[0].dtype.name,
                                           sequence_length, cell._var_list(), cell._keeps()),
                      static=cell._static(), name="rnn")

