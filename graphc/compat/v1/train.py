"""tf.train: optimizers, gradients, learning-rate decay, global step and Saver over graphc.

Each tf.train optimizer stands for one ``gc.optim`` optimizer per session (its slots,
Adam's m and v for instance, are graphc Variables of that optimizer).
``compute_gradients`` records one op that calls ``gc.gradients``; ``apply_gradients``
records one op that calls the graphc optimizer's ``apply_gradients`` with the
session's variables; ``minimize`` is the two, as in TF. The whole training step then
compiles into one program.
"""
from __future__ import annotations

import os

import numpy as np

import graphc as gc
from ...errors import DTypeError, ShapeError
from ...saver import CheckpointError, latest_checkpoint as _gc_latest_checkpoint
from . import dtypes
from .convert import as_operand, is_graph_value
from .errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from .graph import Operation, Ref, Spec, get_default_graph
from .record import record
from .variables import GraphKeys, Variable, global_variables, trainable_variables

# -- gradients --------------------------------------------------------------------------------------


def _gradients(ys, xs, grad_ys):
    return gc.gradients(list(ys), list(xs), grad_ys)


def gradients(ys, xs, grad_ys=None, name="gradients", colocate_gradients_with_ops=False, gate_gradients=False,
              aggregation_method=None, stop_gradients=None):
    """d(sum ys)/d(x) for each x (None where x does not affect ys), as a list."""
    ys = [as_operand(y) for y in (ys if isinstance(ys, (list, tuple)) else [ys])]
    xs = list(xs) if isinstance(xs, (list, tuple)) else [xs]
    if grad_ys is not None and not isinstance(grad_ys, (list, tuple)):
        grad_ys = [grad_ys]
    out = record("Gradients", _gradients, (ys, xs, grad_ys), name=name,
                 fallback=lambda: [Spec(x.get_shape(), x.dtype) for x in xs])
    return [None] * len(xs) if isinstance(out, Operation) else list(out)


# -- optimizers -------------------------------------------------------------------------------------


def _apply(opt, lr, pairs, global_step):
    if lr is not None:
        opt.learning_rate = lr
    opt.apply_gradients([(g, v) for g, v in pairs], global_step=global_step)


class Optimizer:
    """tf.train.Optimizer: compute_gradients, apply_gradients, minimize."""

    _gc_class = None
    _default_name = "Optimizer"

    def __init__(self, learning_rate, use_locking=False, name=None, **hyper):
        self._lr = learning_rate
        self._hyper = hyper
        self._name = name or self._default_name

    def get_name(self):
        return self._name

    def _for_session(self, session):
        return session._object(self, lambda: self._make(session))

    def _make(self, session=None):
        lr = self._lr if not is_graph_value(self._lr) else 0.0  # a tensor rate is set at each replay
        opt = self._gc_class(lr, **self._hyper)
        if session is not None:
            self._bind_slots(opt, session)
        return opt

    # -- slots: tf.Variables, as in TF (saved by tf.train.Saver, set by the initializer) ----------
    def _slot_specs(self):
        """[(slot name, initial value)] per variable, in TF's creation order (which gives
        the ``var/Adam``, ``var/Adam_1`` names)."""
        return []

    def _non_slot_specs(self):
        """[(name, initial value)] of the variables shared by all (Adam's beta powers)."""
        return []

    def _create_slots(self, var_list):
        """Create this optimizer's slot variables for ``var_list`` in the graph (TF names:
        ``hidden1/kernel/Adam``, ``beta1_power``...). The session's graphc optimizer uses
        their values as its own slots (``_bind_slots``)."""
        slots = self.__dict__.setdefault("_slot_vars", {})
        non_slots = self.__dict__.setdefault("_non_slot_vars", {})
        graph = get_default_graph()
        with graph.name_scope(None), graph.control_dependencies(None):
            if var_list and not non_slots:
                first = var_list[0]
                for name, value in self._non_slot_specs():
                    non_slots[name] = _slot_variable(np.asarray(value, first.dtype.as_numpy_dtype), name)
            for var in var_list:
                for slot_name, value in self._slot_specs():
                    if (slot_name, var) not in slots:
                        slots[(slot_name, var)] = _slot_variable(
                            np.full(var.shape.as_list(), value, var.dtype.as_numpy_dtype), f"{var.op.name}/{self._name}")

    def _bind_slots(self, opt, session):
        """Hand the session's values of the slot tf.Variables to graphc optimizer ``opt``
        (an uninitialized one starts at its initial value, as graphc's own slots do)."""
        for (slot_name, var), slot in getattr(self, "_slot_vars", {}).items():
            opt._slots[(slot_name, session._gc_variable(var))] = self._session_slot(session, slot)
        for name, var in getattr(self, "_non_slot_vars", {}).items():
            opt._non_slot[name] = self._session_slot(session, var)

    @staticmethod
    def _session_slot(session, var):
        gv = session._gc_variable(var)
        if var not in session._initialized:
            # set on the host: this runs while the training step is being traced, where
            # an assign would become part of every step
            gv._host_value(write=True)[...] = var._slot_initial
            session._initialized.add(var)
        return gv

    def get_slot_names(self):
        return sorted({name for name, _ in self._slot_specs()})

    def get_slot(self, var, name):
        """The slot variable ``name`` ("m", "v", "momentum", ...) of ``var``, or None."""
        return getattr(self, "_slot_vars", {}).get((name, var))

    def variables(self):
        return list(getattr(self, "_slot_vars", {}).values()) + list(getattr(self, "_non_slot_vars", {}).values())

    def compute_gradients(self, loss, var_list=None, gate_gradients=1, aggregation_method=None,
                          colocate_gradients_with_ops=False, grad_loss=None):
        var_list = list(var_list) if var_list is not None else trainable_variables()
        if not var_list:
            raise ValueError("No variables to optimize.")
        grads = gradients(loss, var_list, grad_ys=grad_loss)
        return list(zip(grads, var_list))

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        grads_and_vars = list(grads_and_vars)
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            raise ValueError("No gradients provided for any variable, check your graph for ops that do not support "
                             f"gradients, between variables {[v.name for _, v in grads_and_vars]} and loss.")
        lr = self._lr if is_graph_value(self._lr) else None
        self._create_slots([v for _, v in pairs])
        reads = {v for _, v in pairs} | ({global_step} if global_step is not None else set())
        return record(self._name, _apply, (Ref(self), lr, [(g, Ref(v)) for g, v in pairs],
                                           Ref(global_step) if global_step is not None else None),
                      name=name or self._name, out=(), reads=reads)

    def minimize(self, loss, global_step=None, var_list=None, gate_gradients=1, aggregation_method=None,
                 colocate_gradients_with_ops=False, name=None, grad_loss=None):
        grads_and_vars = self.compute_gradients(loss, var_list, grad_loss=grad_loss)
        return self.apply_gradients(grads_and_vars, global_step=global_step, name=name)


def _slot_variable(value, name):
    var = Variable(value, name=name, trainable=False)
    var._slot_initial = value
    return var


class GradientDescentOptimizer(Optimizer):
    _gc_class = gc.optim.GradientDescent
    _default_name = "GradientDescent"

    def __init__(self, learning_rate, use_locking=False, name="GradientDescent"):
        super().__init__(learning_rate, use_locking, name)


class MomentumOptimizer(Optimizer):
    _gc_class = gc.optim.Momentum
    _default_name = "Momentum"

    def __init__(self, learning_rate, momentum, use_locking=False, name="Momentum", use_nesterov=False):
        super().__init__(learning_rate, use_locking, name, momentum=momentum, use_nesterov=use_nesterov)

    def _slot_specs(self):
        return [("momentum", 0.0)]


class AdagradOptimizer(Optimizer):
    _gc_class = gc.optim.AdaGrad
    _default_name = "Adagrad"

    def __init__(self, learning_rate, initial_accumulator_value=0.1, use_locking=False, name="Adagrad"):
        super().__init__(learning_rate, use_locking, name, initial_accumulator_value=initial_accumulator_value)

    def _slot_specs(self):
        return [("accumulator", self._hyper["initial_accumulator_value"])]


class RMSPropOptimizer(Optimizer):
    _gc_class = gc.optim.RMSProp
    _default_name = "RMSProp"

    def __init__(self, learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10, use_locking=False, centered=False,
                 name="RMSProp"):
        super().__init__(learning_rate, use_locking, name, decay=decay, momentum=momentum, epsilon=epsilon,
                         centered=centered)

    def _slot_specs(self):
        return [("rms", 1.0)] + ([("mg", 0.0)] if self._hyper["centered"] else []) + [("momentum", 0.0)]


class AdamOptimizer(Optimizer):
    _gc_class = gc.optim.Adam
    _default_name = "Adam"

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-08, use_locking=False, name="Adam"):
        super().__init__(learning_rate, use_locking, name, beta1=beta1, beta2=beta2, epsilon=epsilon)

    def _slot_specs(self):
        return [("m", 0.0), ("v", 0.0)]

    def _non_slot_specs(self):
        return [("beta1_power", self._hyper["beta1"]), ("beta2_power", self._hyper["beta2"])]


class FtrlOptimizer(Optimizer):
    _gc_class = gc.optim.Ftrl
    _default_name = "Ftrl"

    def __init__(self, learning_rate, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0, use_locking=False, name="Ftrl",
                 accum_name=None, linear_name=None, l2_shrinkage_regularization_strength=0.0):
        super().__init__(learning_rate, use_locking, name, learning_rate_power=learning_rate_power,
                         initial_accumulator_value=initial_accumulator_value,
                         l1_regularization_strength=l1_regularization_strength,
                         l2_regularization_strength=l2_regularization_strength,
                         l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength)

    def _slot_specs(self):
        return [("accum", self._hyper["initial_accumulator_value"]), ("linear", 0.0)]


# -- learning rate and global step ------------------------------------------------------------------


def _decay(lr, step, decay_steps, decay_rate, staircase, dt):
    return gc.cast(gc.optim.exponential_decay(lr, step, decay_steps, decay_rate, staircase), dt)


def exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False, name=None):
    """learning_rate * decay_rate ** (global_step / decay_steps) (floored if staircase)."""
    dt = learning_rate.dtype.name if is_graph_value(learning_rate) else "float32"
    return record("ExponentialDecay", _decay, (learning_rate, global_step, decay_steps, decay_rate, bool(staircase),
                                               dt), name=name or "ExponentialDecay")


def get_global_step(graph=None):
    steps = (graph or get_default_graph()).get_collection(GraphKeys.GLOBAL_STEP)
    return steps[0] if steps else None


def create_global_step(graph=None):
    graph = graph or get_default_graph()
    if get_global_step(graph) is not None:
        raise ValueError('"global_step" already exists.')
    with graph.as_default(), graph.name_scope(None):
        return Variable(np.int64(0), name="global_step", trainable=False, dtype=dtypes.int64,
                        collections=[GraphKeys.GLOBAL_VARIABLES, GraphKeys.GLOBAL_STEP])


def get_or_create_global_step(graph=None):
    return get_global_step(graph) or create_global_step(graph)


# -- checkpoints ---------------------------------------------------------------------------------------


class Saver:
    """Saves/restores tf.Variables of a session by name (``hidden1/kernel``) with
    gc.Saver's files: ``path[-step].npz`` plus a ``checkpoint`` index per directory.

    Optimizer slots (Adam's ``var/Adam``, ``var/Adam_1``, ``beta1_power``...) are global
    tf.Variables, as in TF, so the default var_list saves and restores them too.
    """

    def __init__(self, var_list=None, reshape=False, sharded=False, max_to_keep=5,
                 keep_checkpoint_every_n_hours=10000.0, name=None, restore_sequentially=False, saver_def=None,
                 builder=None, defer_build=False, allow_empty=False, write_version=2, pad_step_number=False,
                 save_relative_paths=False, filename=None):
        if var_list is None:
            var_list = global_variables()
        if isinstance(var_list, dict):
            self._vars = {str(k): v for k, v in var_list.items()}
        else:
            self._vars = {v.op.name: v for v in var_list}
        if not self._vars and not allow_empty:
            raise ValueError("No variables to save")
        self._max_to_keep = max_to_keep
        self._last = None

    def _gc_saver(self, sess):
        return sess._object(self, lambda: gc.Saver({k: sess._gc_variable(v) for k, v in self._vars.items()},
                                                   max_to_keep=self._max_to_keep))

    @property
    def last_checkpoints(self):
        return self._last.last_checkpoints if self._last is not None else []

    def save(self, sess, save_path, global_step=None, latest_filename=None, meta_graph_suffix="meta",
             write_meta_graph=True, write_state=True, strip_default_attrs=False, save_debug_info=False):
        """Write the variables' values; returns the checkpoint path (``path-step``)."""
        missing = [k for k, v in self._vars.items() if v not in sess._initialized]
        if missing:
            raise FailedPreconditionError(None, None, f"Attempting to use uninitialized value {missing[0]}")
        if global_step is not None and (is_graph_value(global_step)):
            global_step = sess.run(global_step)
        step = None if global_step is None else int(global_step)
        self._last = self._gc_saver(sess)
        return self._last.save(save_path, global_step=step)

    def restore(self, sess, save_path):
        """Load the values saved at ``save_path`` into the session's variables."""
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        try:
            self._gc_saver(sess).restore(save_path)
        except CheckpointError as e:
            raise NotFoundError(None, None, str(e)) from e
        except (ShapeError, DTypeError) as e:
            raise InvalidArgumentError(None, None, str(e)) from e
        sess._initialized |= set(self._vars.values())


def latest_checkpoint(checkpoint_dir, latest_filename=None):
    return _gc_latest_checkpoint(checkpoint_dir)


def checkpoint_exists(checkpoint_prefix):
    return os.path.exists(checkpoint_prefix) or os.path.exists(checkpoint_prefix + ".npz")


from .moving_averages import ExponentialMovingAverage  # noqa: E402,F401
from .schedules import (inverse_time_decay, natural_exp_decay, piecewise_constant,  # noqa: E402,F401
                        polynomial_decay)
from .input_pipeline import (Coordinator, QueueRunner, add_queue_runner, batch,  # noqa: E402,F401
                             match_filenames_once, range_input_producer, shuffle_batch, start_queue_runners,
                             string_input_producer)
from . import input_pipeline as queue_runner  # noqa: E402,F401  (tf.train.queue_runner.QueueRunner)
