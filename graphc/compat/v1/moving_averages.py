"""tf.train.ExponentialMovingAverage (TF 1.x semantics).

``apply(var_list)`` creates one non-trainable shadow variable per variable or tensor,
named ``<var op name>/ExponentialMovingAverage``, initialized to the variable's
initial value (zeros for a tensor), and returns an op that moves every shadow toward
the current value: ``shadow -= (1 - decay) * (shadow - value)``. With
``num_updates`` the decay is ``min(decay, (1 + n) / (10 + n))``. With
``zero_debias=True`` a tensor's shadow is debiased as TF's ``_zero_debias`` does (a
``biased`` accumulator and a ``local_step`` counter; shadow = biased / (1 - decay^t)).
``variables_to_restore()`` maps shadow names to variables, so a Saver restores the
averages into the model's variables.
"""
from __future__ import annotations

from .array_ops import zeros
from .control_flow import control_dependencies, group
from .graph import get_default_graph
from .math_ops import cast, minimum, multiply, pow as tf_pow, subtract, divide
from .variables import Variable, add_to_collection, get_collection, global_variables, trainable_variables

MOVING_AVERAGE_VARIABLES = "moving_average_variables"


def moving_average_variables(scope=None):
    """The variables that have a moving average (tf.moving_average_variables)."""
    return get_collection(MOVING_AVERAGE_VARIABLES, scope)


def _op_name(x):
    return x.op.name


def _is_variable(x):
    return getattr(x, "_v1_variable", False)


class ExponentialMovingAverage:
    """Shadow variables holding exponential moving averages of variables or tensors."""

    def __init__(self, decay, num_updates=None, zero_debias=False, name="ExponentialMovingAverage"):
        self._decay = decay
        self._num_updates = num_updates
        self._zero_debias = zero_debias
        self._name = name
        self._averages = {}
        self._debias = {}

    @property
    def name(self):
        return self._name

    def _shadow(self, var):
        graph = get_default_graph()
        dims = var.get_shape().dims_
        with control_dependencies(None), graph.name_scope(None):
            if _is_variable(var):
                initial = var.initialized_value()
            else:
                if dims is None or None in dims:
                    raise ValueError(f"ExponentialMovingAverage: {var.name} needs a fully defined shape, "
                                     f"got {var.get_shape()}")
                initial = zeros(dims, var.dtype)
            avg = Variable(initial, trainable=False, name=self.average_name(var))
            if self._zero_debias and not _is_variable(var):
                self._debias[avg] = (
                    Variable(zeros(dims, var.dtype), trainable=False, name=self.average_name(var) + "/biased"),
                    Variable(zeros([], var.dtype), trainable=False, name=self.average_name(var) + "/local_step"))
        return avg

    def apply(self, var_list=None):
        """Create the shadows (first time) and return the op updating all of them."""
        var_list = list(trainable_variables() if var_list is None else var_list)
        for var in var_list:
            if not var.dtype.is_floating:
                raise TypeError(f"The variables must be half, float, or double: {var.name}")
            if var in self._averages:
                continue
            self._averages[var] = self._shadow(var)
            if _is_variable(var):
                add_to_collection(MOVING_AVERAGE_VARIABLES, var)
        graph = get_default_graph()
        with graph.name_scope(self._name):
            decay = self._decay
            if self._num_updates is not None:
                n = cast(self._num_updates, "float32")
                decay = minimum(decay, divide(1.0 + n, 10.0 + n))
            updates = [self._update(self._averages[v], v, decay) for v in var_list]
            return group(*updates, name="update")

    def _update(self, avg, value, decay):
        """TF's assign_moving_average: avg -= (avg - value) * (1 - decay)."""
        one_minus = subtract(1.0, decay) if not isinstance(decay, (int, float)) else 1.0 - decay
        if not isinstance(one_minus, float) and one_minus.dtype != avg.dtype:
            one_minus = cast(one_minus, avg.dtype)
        if avg not in self._debias:
            return avg.assign_sub(multiply(subtract(avg, value), one_minus))
        biased, step = self._debias[avg]
        new_biased = biased.assign_sub(multiply(subtract(biased, value), one_minus))
        new_step = step.assign_add(1.0)
        with control_dependencies([new_biased, new_step]):
            unbiased = divide(new_biased, subtract(1.0, tf_pow(subtract(1.0, one_minus), new_step)))
            return avg.assign_sub(subtract(avg, unbiased))

    def average(self, var):
        """The shadow variable of ``var`` (None if apply() was not called on it)."""
        return self._averages.get(var)

    def average_name(self, var):
        """The shadow's name: ``<var op name>/ExponentialMovingAverage`` (its checkpoint key)."""
        return _op_name(var) + "/" + self._name

    def variables_to_restore(self, moving_avg_variables=None):
        """{name in a checkpoint: variable}: shadow names for averaged variables, own names for the rest."""
        if moving_avg_variables is None:
            moving_avg_variables = list(trainable_variables()) + list(moving_average_variables())
        moving = list(dict.fromkeys(moving_avg_variables))
        name_map = {self.average_name(v): v for v in moving}
        moving_names = {v.name for v in moving}
        for v in global_variables():
            if v.name not in moving_names and _op_name(v) not in name_map:
                name_map[_op_name(v)] = v
        return name_map
