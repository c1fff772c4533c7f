"""Optimizers with TF 1.x update semantics, applied inside compiled training steps.

``opt.minimize(loss)`` inside a ``gc.compile``d function differentiates the loss with
respect to the trainable Variables it reads and records their updates as variable
assignments, so forward pass, backward pass and update become one native program that
changes the parameters in place. Optimizer state (TF's "slots": momentum, Adam's m
and v, ...) lives in non-trainable Variables created at the first ``minimize``, so it
persists across calls and can be saved with ``gc.Saver(... + opt.variables())``.

Update rules are TF 1.x's kernels (training_ops.cc), defaults included; the numbers in
docstrings are the TF defaults. Also here: learning-rate decay, gradient clipping and
l1/l2 regularizers.
"""
from __future__ import annotations

import numpy as np

from . import dtypes
from .autodiff import gradients
from .errors import TraceError, user_source_line
from .ops.common import cast_to, dtype_of, shape_of
from .ops.elementwise import (absolute, add, cast, divide, greater, maximum, minimum, multiply, power, sqrt,
                              subtract, where)
from .ops.reductions import sum as reduce_sum
from .tracing import Tensor, current_trace
from .variables import Variable

__all__ = ["Optimizer", "GradientDescent", "SGD", "Momentum", "AdaGrad", "RMSProp", "Adam", "Ftrl",
           "get_or_create_global_step", "get_global_step", "exponential_decay", "ExponentialDecay",
           "clip_by_value", "clip_by_norm", "clip_by_global_norm", "global_norm",
           "l1_regularizer", "l2_regularizer", "apply_regularization"]


def _is_variable(x) -> bool:
    return getattr(x, "_graphc_variable", False)


def _require_trace(what: str):
    trace = current_trace()
    if trace is None:
        raise TraceError(f"{what} builds the training step, so it runs inside a gc.compile'd function\n"
                         f"  at {user_source_line()}")
    return trace


# -- global step -----------------------------------------------------------------------------

_GLOBAL_STEP: list = []


def get_or_create_global_step() -> Variable:
    """The process-wide step counter: an int64 non-trainable Variable named global_step."""
    if not _GLOBAL_STEP:
        _GLOBAL_STEP.append(Variable(np.zeros((), np.int64), name="global_step", trainable=False))
    return _GLOBAL_STEP[0]


def get_global_step() -> Variable | None:
    """The global step if get_or_create_global_step created one, else None."""
    return _GLOBAL_STEP[0] if _GLOBAL_STEP else None


# -- learning-rate schedules -----------------------------------------------------------------

def _step_value(step):
    """A step count as a value: a Variable's current value, a Tensor, or a number."""
    if _is_variable(step):
        return step.value()
    return step


class ExponentialDecay:
    """lr * decay_rate ** (step / decay_steps), floored exponent if staircase.

    Made by ``exponential_decay`` outside a trace; an optimizer evaluates it inside each
    traced step (reading the global step Variable then), and calling it outside a trace
    gives the current value as a number.
    """

    def __init__(self, learning_rate, global_step, decay_steps, decay_rate, staircase=False):
        if decay_steps <= 0:
            raise ValueError(f"exponential_decay: decay_steps must be positive, got {decay_steps}")
        self.learning_rate = learning_rate
        self.global_step = global_step
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase

    def __call__(self):
        step = _step_value(self.global_step)
        # The exponent is computed in float64 (exact for any realistic step count).
        p = divide(cast(step, "float64") if not isinstance(step, (int, float)) else float(step),
                   float(self.decay_steps))
        if self.staircase:
            p = cast(cast(p, "int64"), "float64")  # floor: steps are non-negative
        rate = np.asarray(float(self.decay_rate), np.float64)
        value = multiply(self.learning_rate, power(rate, p))
        return value if isinstance(value, Tensor) else float(value)


def exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False):
    """tf.train.exponential_decay: a Tensor inside a trace, a schedule object outside."""
    schedule = ExponentialDecay(learning_rate, global_step, decay_steps, decay_rate, staircase)
    return schedule() if current_trace() is not None else schedule


# -- optimizers --------------------------------------------------------------------------------

class Optimizer:
    """Base class: gradients, slots and the apply loop; subclasses give one update rule.

    ``learning_rate``: a Python float, a scalar Tensor of the current trace (an input of
    the compiled step), a Variable, or a callable evaluated in each trace (a schedule
    from ``exponential_decay``). It may be reassigned between traces.
    """

    name = "Optimizer"

    def __init__(self, learning_rate, name: str | None = None):
        self.learning_rate = learning_rate
        self.name = name or type(self).name
        self._slots: dict = {}      # (slot name, Variable) -> slot Variable
        self._non_slot: dict = {}   # name -> Variable shared by all variables (Adam's beta powers)

    # -- state ------------------------------------------------------------------------------
    def _slot(self, var, slot_name: str, init_value: float) -> Variable:
        key = (slot_name, var)
        slot = self._slots.get(key)
        if slot is None:
            init = np.full(var.shape, init_value, dtype=var.dtype)
            slot = Variable(init, name=f"{var.name}/{self.name}/{slot_name}", trainable=False)
            self._slots[key] = slot
        return slot

    def _non_slot_variable(self, name: str, init_value: float, dtype: str) -> Variable:
        var = self._non_slot.get(name)
        if var is None:
            var = Variable(np.asarray(init_value, dtype=dtype), name=f"{self.name}/{name}", trainable=False)
            self._non_slot[name] = var
        return var

    def get_slot(self, var, slot_name: str) -> Variable | None:
        """The slot Variable ``slot_name`` of ``var`` (None before the first update)."""
        return self._slots.get((slot_name, var))

    def get_slot_names(self) -> list:
        return sorted({name for name, _ in self._slots})

    def variables(self) -> list:
        """Every state Variable of this optimizer (slots and shared), e.g. for a Saver."""
        return list(self._slots.values()) + list(self._non_slot.values())

    # -- the TF 1.x API -------------------------------------------------------------------------
    def compute_gradients(self, loss, var_list=None):
        """[(gradient or None, variable)] for ``var_list`` (default: the trainable
        Variables read so far in this trace), as tf.train.Optimizer.compute_gradients."""
        trace = _require_trace("compute_gradients")
        if not isinstance(loss, Tensor) or not dtypes.is_float(loss.node.type.dtype):
            raise TraceError(f"{self.name}: the loss must be a floating-point Tensor of the compiled function, "
                             f"got {loss!r}\n  at {user_source_line()}")
        if var_list is None:
            var_list = [v for v in trace.graph.var_reads if v.trainable]
        var_list = list(var_list)
        for v in var_list:
            if not _is_variable(v):
                raise TypeError(f"{self.name}: var_list holds {type(v).__name__}, not a gc.Variable")
        if not var_list:
            raise ValueError(f"{self.name}: no trainable variables to optimize (the loss reads none)")
        grads = gradients(loss, var_list)
        return list(zip(grads, var_list))

    def apply_gradients(self, grads_and_vars, global_step=None):
        """Record the update of each variable with a gradient, then global_step += 1."""
        _require_trace("apply_gradients")
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            names = ", ".join(v.name for _, v in grads_and_vars)
            raise ValueError(f"{self.name}: no gradients provided for any variable ({names}); "
                             f"does the loss depend on them?\n  at {user_source_line()}")
        lr = self._evaluate_learning_rate()
        for g, v in pairs:
            if tuple(shape_of(g)) != tuple(v.shape):
                raise ValueError(f"{self.name}: gradient of shape {shape_of(g)} for variable '{v.name}' "
                                 f"of shape {v.shape}")
            self._apply_dense(cast_to(g, v.dtype), v, cast_to(lr, v.dtype))
        self._finish()
        if global_step is not None:
            global_step.assign_add(1)

    def minimize(self, loss, var_list=None, global_step=None):
        """compute_gradients then apply_gradients (inside a compiled training step)."""
        self.apply_gradients(self.compute_gradients(loss, var_list), global_step=global_step)

    # -- per-rule hooks ------------------------------------------------------------------------
    def _evaluate_learning_rate(self):
        lr = self.learning_rate
        if _is_variable(lr):
            return lr.value()
        if callable(lr) and not isinstance(lr, Tensor):
            lr = lr()
        if isinstance(lr, Tensor):
            if lr.shape != ():
                raise ValueError(f"{self.name}: the learning rate must be a scalar, got shape {lr.shape}")
            return lr
        return float(lr)

    def _apply_dense(self, g, var, lr):
        raise NotImplementedError

    def _finish(self):
        """Work after all variables are updated (Adam advances its beta powers)."""


def _const(value, like):
    """A hyperparameter as a scalar of ``like``'s dtype."""
    return cast_to(float(value), dtype_of(like))


class GradientDescent(Optimizer):
    """var -= lr * g."""

    name = "GradientDescent"

    def __init__(self, learning_rate, name=None):
        super().__init__(learning_rate, name)

    def _apply_dense(self, g, var, lr):
        var.assign_sub(multiply(lr, g))


SGD = GradientDescent


class Momentum(Optimizer):
    """accum = momentum * accum + g; var -= lr * accum
    (Nesterov: var -= lr * (g + momentum * accum), with the new accum)."""

    name = "Momentum"

    def __init__(self, learning_rate, momentum, use_nesterov=False, name=None):
        super().__init__(learning_rate, name)
        self.momentum = momentum
        self.use_nesterov = use_nesterov

    def _apply_dense(self, g, var, lr):
        accum = self._slot(var, "momentum", 0.0)
        m = _const(self.momentum, g)
        new_accum = accum.assign(add(multiply(accum.value(), m), g))
        step = add(g, multiply(new_accum, m)) if self.use_nesterov else new_accum
        var.assign_sub(multiply(lr, step))


class AdaGrad(Optimizer):
    """accum += g^2; var -= lr * g / sqrt(accum); the accumulator starts at 0.1."""

    name = "Adagrad"

    def __init__(self, learning_rate, initial_accumulator_value=0.1, name=None):
        if initial_accumulator_value <= 0:
            raise ValueError(f"initial_accumulator_value must be positive, got {initial_accumulator_value}")
        super().__init__(learning_rate, name)
        self.initial_accumulator_value = initial_accumulator_value

    def _apply_dense(self, g, var, lr):
        accum = self._slot(var, "accumulator", self.initial_accumulator_value)
        new_accum = accum.assign_add(multiply(g, g))
        var.assign_sub(divide(multiply(lr, g), sqrt(new_accum)))


class RMSProp(Optimizer):
    """ms = ms + (g^2 - ms)(1 - decay); mom = momentum*mom + lr*g/sqrt(ms + eps); var -= mom.

    TF 1.x defaults: decay 0.9, momentum 0, epsilon 1e-10, and ms starts at 1 (not 0).
    centered=True also tracks mg (the mean gradient) and divides by sqrt(ms - mg^2 + eps).
    """

    name = "RMSProp"

    def __init__(self, learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10, centered=False, name=None):
        super().__init__(learning_rate, name)
        self.decay, self.momentum, self.epsilon, self.centered = decay, momentum, epsilon, centered

    def _apply_dense(self, g, var, lr):
        ms = self._slot(var, "rms", 1.0)
        mom = self._slot(var, "momentum", 0.0)
        one_minus_rho = _const(1.0 - self.decay, g)
        new_ms = ms.assign_add(multiply(subtract(multiply(g, g), ms.value()), one_minus_rho))
        denom = new_ms
        if self.centered:
            mg = self._slot(var, "mg", 0.0)
            new_mg = mg.assign_add(multiply(subtract(g, mg.value()), one_minus_rho))
            denom = subtract(new_ms, multiply(new_mg, new_mg))
        step = divide(multiply(lr, g), sqrt(add(denom, _const(self.epsilon, g))))
        new_mom = mom.assign(add(multiply(mom.value(), _const(self.momentum, g)), step))
        var.assign_sub(new_mom)


class Adam(Optimizer):
    """m = m + (g - m)(1 - b1); v = v + (g^2 - v)(1 - b2);
    var -= lr_t * m / (sqrt(v) + eps) with lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t).

    Defaults 0.001, 0.9, 0.999, 1e-8 (epsilon outside the bias correction, as TF 1.x).
    b1^t and b2^t are Variables advanced after each update, shared by all variables.
    """

    name = "Adam"

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, name=None):
        super().__init__(learning_rate, name)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self._powers = None

    def _beta_powers(self, dtype):
        b1p = self._non_slot_variable("beta1_power", self.beta1, dtype)
        b2p = self._non_slot_variable("beta2_power", self.beta2, dtype)
        return b1p, b2p

    def _apply_dense(self, g, var, lr):
        m = self._slot(var, "m", 0.0)
        v = self._slot(var, "v", 0.0)
        b1p, b2p = self._beta_powers(var.dtype)
        self._powers = (b1p, b2p)
        one = _const(1.0, g)
        b1t, b2t = cast_to(b1p.value(), var.dtype), cast_to(b2p.value(), var.dtype)
        lr_t = divide(multiply(lr, sqrt(subtract(one, b2t))), subtract(one, b1t))
        new_m = m.assign_add(multiply(subtract(g, m.value()), _const(1.0 - self.beta1, g)))
        new_v = v.assign_add(multiply(subtract(multiply(g, g), v.value()), _const(1.0 - self.beta2, g)))
        var.assign_sub(divide(multiply(lr_t, new_m), add(sqrt(new_v), _const(self.epsilon, g))))

    def _finish(self):
        if self._powers is not None:
            b1p, b2p = self._powers
            b1p.assign(multiply(b1p.value(), _const(self.beta1, b1p.value())))
            b2p.assign(multiply(b2p.value(), _const(self.beta2, b2p.value())))
            self._powers = None


class Ftrl(Optimizer):
    """FTRL-Proximal (tf.train.FtrlOptimizer, ApplyFtrlV2 kernel).

    accum_new = accum + g^2; linear += g_s - (accum_new^-p - accum^-p) / lr * var with
    g_s = g + 2*l2_shrinkage*var; var = (sign(linear)*l1 - linear) / quadratic where
    |linear| > l1, else 0, with quadratic = accum_new^-p / lr + 2*l2 (p = lr_power).
    """

    name = "Ftrl"

    def __init__(self, learning_rate, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, name=None):
        if learning_rate_power > 0:
            raise ValueError(f"learning_rate_power must be <= 0, got {learning_rate_power}")
        if initial_accumulator_value < 0:
            raise ValueError(f"initial_accumulator_value must be >= 0, got {initial_accumulator_value}")
        super().__init__(learning_rate, name)
        self.lr_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1 = l1_regularization_strength
        self.l2 = l2_regularization_strength
        self.l2_shrinkage = l2_shrinkage_regularization_strength

    def _pow(self, x):
        if self.lr_power == -0.5:
            return sqrt(x)
        return power(x, _const(-self.lr_power, x))

    def _apply_dense(self, g, var, lr):
        accum = self._slot(var, "accum", self.initial_accumulator_value)
        linear = self._slot(var, "linear", 0.0)
        w = var.value()
        old_accum = accum.value()
        g_shrunk = add(g, multiply(_const(2.0 * self.l2_shrinkage, g), w)) if self.l2_shrinkage else g
        new_accum = accum.assign_add(multiply(g, g))
        sigma = divide(subtract(self._pow(new_accum), self._pow(old_accum)), lr)
        new_linear = linear.assign_add(subtract(g_shrunk, multiply(sigma, w)))
        quadratic = add(divide(self._pow(new_accum), lr), _const(2.0 * self.l2, g))
        l1 = _const(self.l1, g)
        zero = _const(0.0, g)
        sign = where(greater(new_linear, zero), _const(1.0, g), _const(-1.0, g))
        shrunk = divide(subtract(multiply(sign, l1), new_linear), quadratic)
        var.assign(where(greater(absolute(new_linear), l1), shrunk, zero))


# -- gradient clipping -------------------------------------------------------------------------

def clip_by_value(t, clip_value_min, clip_value_max):
    """min(max(t, lo), hi) elementwise (tf.clip_by_value)."""
    return minimum(maximum(t, clip_value_min), clip_value_max)


def _sum_of_squares(t, axes=None, keepdims=False):
    return reduce_sum(multiply(t, t), axis=axes, keepdims=keepdims)


def clip_by_norm(t, clip_norm, axes=None):
    """t * clip_norm / max(||t||_2, clip_norm) (tf.clip_by_norm; unchanged if ||t|| <= clip_norm).

    ``axes`` restricts the norm (e.g. axes=1 clips each row: max-norm regularization).
    The norm of an all-zero t is taken without a sqrt so its gradient stays finite.
    """
    dt = dtype_of(t)
    l2sum = _sum_of_squares(t, axes, keepdims=True)
    positive = greater(l2sum, cast_to(0, dt))
    safe = where(positive, l2sum, cast_to(1, dt))
    norm = where(positive, sqrt(safe), l2sum)
    clip = cast_to(clip_norm, dt) if not isinstance(clip_norm, Tensor) else cast(clip_norm, dt)
    return divide(multiply(t, clip), maximum(norm, clip))


def global_norm(t_list):
    """sqrt(sum of squares of every tensor in t_list), None entries ignored, in the
    first tensor's dtype (tf.global_norm)."""
    tensors = [t for t in t_list if t is not None]
    if not tensors:
        raise ValueError("global_norm of an empty list")
    dt = dtype_of(tensors[0])
    parts = [cast(_sum_of_squares(t), dt) for t in tensors]
    total = parts[0]
    for p in parts[1:]:
        total = add(total, p)
    return sqrt(total)


def clip_by_global_norm(t_list, clip_norm, use_norm=None):
    """(t_i * clip_norm / max(global_norm, clip_norm) for each t_i, global_norm)
    (tf.clip_by_global_norm; None entries stay None; an inf/NaN norm gives NaNs, as TF)."""
    norm = global_norm(t_list) if use_norm is None else use_norm
    one = cast_to(1.0, dtype_of(norm))
    clip = cast_to(float(clip_norm), dtype_of(norm)) if not isinstance(clip_norm, Tensor) else cast(clip_norm, dtype_of(norm))
    scale = multiply(clip, minimum(divide(one, norm), divide(one, clip)))
    scale = add(scale, subtract(norm, norm))  # NaN when the norm is inf or NaN
    clipped = [None if t is None else multiply(t, cast(scale, dtype_of(t))) for t in t_list]
    return clipped, norm


# -- regularizers ------------------------------------------------------------------------------

def l1_regularizer(scale):
    """weights -> scale * sum(|weights|) (tf.contrib.layers.l1_regularizer)."""
    if scale < 0:
        raise ValueError(f"l1_regularizer: scale must be >= 0, got {scale}")

    def regularize(weights):
        return multiply(reduce_sum(absolute(weights)), cast_to(float(scale), dtype_of(weights)))
    return regularize


def l2_regularizer(scale):
    """weights -> scale * sum(weights^2) / 2 (tf.contrib.layers.l2_regularizer, via l2_loss)."""
    from .nn.losses import l2_loss

    if scale < 0:
        raise ValueError(f"l2_regularizer: scale must be >= 0, got {scale}")

    def regularize(weights):
        return multiply(l2_loss(weights), cast_to(float(scale), dtype_of(weights)))
    return regularize


def apply_regularization(regularizer, weights_list):
    """The sum of ``regularizer(w)`` over ``weights_list`` (add it to the loss)."""
    terms = [regularizer(w) for w in weights_list]
    if not terms:
        raise ValueError("apply_regularization: empty weights_list")
    total = terms[0]
    for t in terms[1:]:
        total = add(total, t)
    return total
