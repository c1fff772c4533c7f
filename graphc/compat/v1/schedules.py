"""TF 1.x learning-rate schedules besides exponential_decay (train.py):
piecewise_constant, polynomial_decay, inverse_time_decay, natural_exp_decay.

Each is one op computed from the global step at every run, in float32 unless the
learning rate is a float64 tensor, with TF's formulas:

    piecewise_constant: values[i] for boundaries[i-1] < step <= boundaries[i]
    polynomial_decay:   (lr - end) * (1 - min(step, n) / n) ** power + end
                        (cycle: n grows to the next multiple of decay_steps)
    inverse_time_decay: lr / (1 + rate * step / n)      (step / n floored if staircase)
    natural_exp_decay:  lr * exp(-rate * step / n)      (idem)
"""
from __future__ import annotations

import numpy as np

import graphc as gc
from .convert import is_graph_value
from .record import record


def _dtype(learning_rate):
    return learning_rate.dtype.name if is_graph_value(learning_rate) else "float32"


def _f(x, dt):
    return gc.cast(x, dt) if hasattr(x, "node") else np.asarray(x, dt)


def _piecewise(x, boundaries, values, dt):
    xdt = gc.ops.common.dtype_of(x)
    out = gc.full((), 0, dt) + _f(values[-1], dt)
    for b, v in reversed(list(zip(boundaries, values[:-1]))):
        out = gc.where(gc.less_equal(x, np.asarray(b, xdt)), _f(v, dt), out)
    return out


def piecewise_constant(x, boundaries, values, name=None):
    """values[0] up to boundaries[0], values[1] up to boundaries[1], ..., values[-1] after."""
    if len(values) != len(boundaries) + 1:
        raise ValueError("The length of boundaries should be 1 less than the length of values")
    dt = _dtype(values[0])
    return record("PiecewiseConstant", _piecewise, (x, tuple(boundaries), tuple(values), dt),
                  name=name or "PiecewiseConstant")


def _step_ratio(step, decay_steps, staircase, dt):
    p = gc.divide(gc.cast(step, dt), np.asarray(decay_steps, dt))
    if staircase:
        p = gc.cast(gc.cast(p, "int64"), dt)        # floor of a non-negative ratio
    return p


def _polynomial(lr, step, decay_steps, end, power, cycle, dt):
    lr, step = _f(lr, dt), gc.cast(step, dt)
    n = np.asarray(decay_steps, dt)
    if cycle:
        ratio = gc.divide(step, n)
        up = gc.cast(gc.cast(ratio, "int64"), dt)
        up = gc.where(gc.less(up, ratio), gc.add(up, np.asarray(1, dt)), up)       # ceil
        n = gc.multiply(n, gc.where(gc.equal(step, np.asarray(0, dt)), np.asarray(1, dt), up))
    else:
        step = gc.minimum(step, n)
    frac = gc.subtract(np.asarray(1, dt), gc.divide(step, n))
    return gc.add(gc.multiply(gc.subtract(lr, _f(end, dt)), gc.power(frac, np.asarray(power, dt))), _f(end, dt))


def polynomial_decay(learning_rate, global_step, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                     name=None):
    if global_step is None:
        raise ValueError("global_step is required for polynomial_decay.")
    return record("PolynomialDecay", _polynomial, (learning_rate, global_step, float(decay_steps),
                                                   end_learning_rate, float(power), bool(cycle),
                                                   _dtype(learning_rate)), name=name or "PolynomialDecay")


def _inverse_time(lr, step, decay_steps, rate, staircase, dt):
    p = _step_ratio(step, decay_steps, staircase, dt)
    return gc.divide(_f(lr, dt), gc.add(np.asarray(1, dt), gc.multiply(np.asarray(rate, dt), p)))


def inverse_time_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False, name=None):
    if global_step is None:
        raise ValueError("global_step is required for inverse_time_decay.")
    return record("InverseTimeDecay", _inverse_time, (learning_rate, global_step, float(decay_steps),
                                                      float(decay_rate), bool(staircase), _dtype(learning_rate)),
                  name=name or "InverseTimeDecay")


def _natural_exp(lr, step, decay_steps, rate, staircase, dt):
    p = _step_ratio(step, decay_steps, staircase, dt)
    return gc.multiply(_f(lr, dt), gc.exp(gc.multiply(np.asarray(-rate, dt), p)))


def natural_exp_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False, name=None):
    if global_step is None:
        raise ValueError("global_step is required for natural_exp_decay.")
    return record("NaturalExpDecay", _natural_exp, (learning_rate, global_step, float(decay_steps),
                                                    float(decay_rate), bool(staircase), _dtype(learning_rate)),
                  name=name or "NaturalExpDecay")
