"""tf.Variable, tf.get_variable and tf.variable_scope.

A v1 Variable is only a name, a static shape/dtype and an initializer op in the graph.
Each Session owns a ``graphc.Variable`` for it (created on first use, see session.py);
the initializer is an ordinary assign op, so ``sess.run(init)`` is one compiled call,
and the session records which variables have been initialized to raise TF's
FailedPreconditionError on a read before that.
"""
from __future__ import annotations

import contextlib

import numpy as np

from . import dtypes
from .convert import as_operand
from .graph import Ref, Spec, Tensor, _Operators, get_default_graph
from .record import record
from .shapes import TensorShape


class GraphKeys:
    GLOBAL_VARIABLES = "variables"
    VARIABLES = "variables"
    LOCAL_VARIABLES = "local_variables"
    MODEL_VARIABLES = "model_variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    SUMMARIES = "summaries"
    UPDATE_OPS = "update_ops"
    MOVING_AVERAGE_VARIABLES = "moving_average_variables"
    REGULARIZATION_LOSSES = "regularization_losses"
    LOSSES = "losses"
    GLOBAL_STEP = "global_step"
    TRAIN_OP = "train_op"
    INIT_OP = "init_op"
    SAVERS = "savers"
    ACTIVATIONS = "activations"
    WEIGHTS = "weights"
    BIASES = "biases"


def _assign(var, value):
    return var.assign(value)


def _assign_add(var, value):
    return var.assign_add(value)


def _assign_sub(var, value):
    return var.assign_sub(value)


def _nothing():
    return None


def _read(value):
    return value


class Variable(_Operators):
    """A named, shaped piece of state whose value lives in each Session."""

    _v1_variable = True

    def __init__(self, initial_value=None, trainable=True, collections=None, validate_shape=True,
                 caching_device=None, name=None, variable_def=None, dtype=None, expected_shape=None,
                 import_scope=None, constraint=None, use_resource=None, synchronization=None,
                 aggregation=None, shape=None):
        if initial_value is None:
            raise ValueError("initial_value must be specified.")
        graph = get_default_graph()
        self.graph = graph
        with graph.control_dependencies(None), graph.name_scope(name or "Variable") as scope:
            true_name = scope[:-1]
            if callable(initial_value):
                with graph.name_scope("Initializer"):
                    init = initial_value()
            else:
                init = initial_value
            init = _to_initial_tensor(init, dtype)
            if not init.get_shape().is_fully_defined() and validate_shape:
                raise ValueError(f"initial_value must have a shape specified: {init!r}")
            self._dtype = init.dtype
            self._shape = TensorShape(shape) if shape is not None else init.get_shape()
            self.op = record("VariableV2", _nothing, name=true_name, exact_name=True)
            self.op._variable = self
            self.initial_value = init
            self.initializer = record("Assign", _assign, (Ref(self), init), name="Assign",
                                      out=Spec(self._shape, self._dtype), writes={self}).op
            self._snapshot = record("Identity", _read, (self,), name="read")
        self.trainable = trainable
        self.constraint = constraint
        if collections is None:
            collections = [GraphKeys.GLOBAL_VARIABLES]
        collections = list(collections)
        if trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
            collections.append(GraphKeys.TRAINABLE_VARIABLES)
        graph.add_to_collections(collections, self)

    # -- static information ---------------------------------------------------------------
    @property
    def name(self):
        return self.op.name + ":0"

    @property
    def dtype(self):
        return self._dtype

    @property
    def shape(self):
        return self._shape

    def get_shape(self):
        return self._shape

    @property
    def device(self):
        return self.op.device

    def __repr__(self):
        return f"<tf.Variable '{self.name}' shape={self._shape} dtype={self._dtype.name}>"

    # -- values ---------------------------------------------------------------------------
    def value(self):
        return self._snapshot

    def read_value(self):
        """A new read, ordered after the current control dependencies."""
        return record("Identity", _read, (self,), name=self.op.name + "/read")

    def initialized_value(self):
        """The initial value (TF reads the variable if already initialized; for the books'
        use, building one variable from another's initial value, both agree)."""
        return self.initial_value

    def eval(self, session=None):
        from .session import _session_for

        return _session_for(session, self.graph).run(self)

    def load(self, value, session=None):
        """Set the variable's value in ``session`` from Python, without an op."""
        from .session import _session_for

        _session_for(session, self.graph)._load_variable(self, value)

    # -- assignment -------------------------------------------------------------------------
    def assign(self, value, use_locking=None, name=None, read_value=True):
        return assign(self, value, name=name)

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        return assign_add(self, delta, name=name)

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        return assign_sub(self, delta, name=name)


def _to_initial_tensor(init, dtype):
    from .array_ops import constant
    from .math_ops import cast

    if isinstance(init, Variable):
        init = init.initialized_value()
    if isinstance(init, Tensor):
        if dtype is not None and init.dtype != dtypes.as_dtype(dtype):
            init = cast(init, dtype)
        return init
    return constant(init, dtype=dtype, name="initial_value")


def _check_var(ref):
    if not isinstance(ref, Variable):
        raise TypeError(f"assign needs a tf.Variable, got {type(ref).__name__}")


def assign(ref, value, validate_shape=None, use_locking=None, name=None):
    """ref = value; the result is the new value (this also initializes ``ref``)."""
    _check_var(ref)
    return record("Assign", _assign, (Ref(ref), as_operand(value, ref.dtype)), name=name,
                  out=Spec(ref.shape, ref.dtype), writes={ref})


def assign_add(ref, value, use_locking=None, name=None):
    _check_var(ref)
    return record("AssignAdd", _assign_add, (Ref(ref), as_operand(value, ref.dtype)), name=name,
                  out=Spec(ref.shape, ref.dtype), reads={ref})


def assign_sub(ref, value, use_locking=None, name=None):
    _check_var(ref)
    return record("AssignSub", _assign_sub, (Ref(ref), as_operand(value, ref.dtype)), name=name,
                  out=Spec(ref.shape, ref.dtype), reads={ref})


# -- collections and initializers -----------------------------------------------------------


def global_variables(scope=None):
    return get_default_graph().get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


def local_variables(scope=None):
    return get_default_graph().get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def trainable_variables(scope=None):
    return get_default_graph().get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def model_variables(scope=None):
    return get_default_graph().get_collection(GraphKeys.MODEL_VARIABLES, scope)


all_variables = global_variables


def variables_initializer(var_list, name="init"):
    from .control_flow import group, no_op

    var_list = list(var_list)
    if not var_list:
        return no_op(name=name)
    return group(*[v.initializer for v in var_list], name=name)


def global_variables_initializer():
    return variables_initializer(global_variables(), name="init")


def local_variables_initializer():
    return variables_initializer(local_variables(), name="init")


initialize_all_variables = global_variables_initializer


def get_collection(key, scope=None):
    return get_default_graph().get_collection(key, scope)


def get_collection_ref(key):
    return get_default_graph().get_collection_ref(key)


def add_to_collection(name, value):
    get_default_graph().add_to_collection(name, value)


def add_to_collections(names, value):
    get_default_graph().add_to_collections(names, value)


# -- variable scopes ------------------------------------------------------------------------------


class _ReuseMode:
    def __repr__(self):
        return "tf.AUTO_REUSE"


AUTO_REUSE = _ReuseMode()


class VariableScope:
    """The prefix, reuse flag and defaults that get_variable uses."""

    def __init__(self, reuse, name="", initializer=None, regularizer=None, original_name_scope="", dtype=None):
        self._reuse = reuse
        self.name = name
        self.initializer = initializer
        self.regularizer = regularizer
        self.original_name_scope = original_name_scope
        self.dtype = dtype

    @property
    def reuse(self):
        return self._reuse

    def reuse_variables(self):
        self._reuse = True

    def set_initializer(self, initializer):
        self.initializer = initializer

    def set_regularizer(self, regularizer):
        self.regularizer = regularizer

    def __repr__(self):
        return f"<tf.VariableScope '{self.name}' reuse={self._reuse}>"


def _scope_stack(graph):
    if not graph._var_scope_stack:
        graph._var_scope_stack.append(VariableScope(False))
        graph._var_scope_counts = {}
    return graph._var_scope_stack


def get_variable_scope():
    return _scope_stack(get_default_graph())[-1]


def _inherit_reuse(parent, reuse):
    if parent is True or reuse is True:
        return True
    if parent is AUTO_REUSE or reuse is AUTO_REUSE:
        return AUTO_REUSE
    return bool(reuse)


@contextlib.contextmanager
def variable_scope(name_or_scope=None, default_name=None, values=None, initializer=None, regularizer=None,
                   caching_device=None, partitioner=None, custom_getter=None, reuse=None, dtype=None,
                   use_resource=None, constraint=None, auxiliary_name_scope=True):
    """Prefix get_variable names and set reuse (inherited: True stays True inside)."""
    graph = get_default_graph()
    stack = _scope_stack(graph)
    parent = stack[-1]
    if isinstance(name_or_scope, VariableScope):
        full = name_or_scope.name
        name_scope = name_or_scope.original_name_scope or (full + "/")
        reuse = _inherit_reuse(name_or_scope.reuse, reuse)
        initializer = initializer or name_or_scope.initializer
        regularizer = regularizer or name_or_scope.regularizer
        dtype = dtype or name_or_scope.dtype
    else:
        if name_or_scope is None:
            if default_name is None:
                raise TypeError("If default_name is None then name_or_scope is required")
            prefix = parent.name + "/" if parent.name else ""
            counts = graph._var_scope_counts
            name, idx = default_name, 1
            while counts.get(prefix + name, 0) > 0:      # TF's _get_unique_variable_scope
                name = f"{default_name}_{idx}"
                idx += 1
        else:
            name = str(name_or_scope)
        full = parent.name + "/" + name if parent.name else name
        name_scope = name
        reuse = _inherit_reuse(parent.reuse, reuse)
        initializer = initializer or parent.initializer
        regularizer = regularizer or parent.regularizer
        dtype = dtype or parent.dtype
    graph._var_scope_counts[full] = graph._var_scope_counts.get(full, 0) + 1
    with graph.name_scope(name_scope if auxiliary_name_scope else None) as ns:
        scope = VariableScope(reuse, full, initializer, regularizer, ns or name_scope, dtype)
        stack.append(scope)
        try:
            yield scope
        finally:
            stack.pop()


def get_variable(name, shape=None, dtype=None, initializer=None, regularizer=None, trainable=True,
                 collections=None, caching_device=None, partitioner=None, validate_shape=True,
                 use_resource=None, custom_getter=None, constraint=None, **kwargs):
    """Create ``scope/name`` or, in a reusing scope, return the existing one (TF's rules)."""
    graph = get_default_graph()
    scope = get_variable_scope()
    full = scope.name + "/" + name if scope.name else name
    store = graph._var_store
    if shape is not None:
        shape = TensorShape([int(d) for d in (shape if isinstance(shape, (list, tuple, TensorShape)) else [shape])])
    if full in store:
        if scope.reuse is not True and scope.reuse is not AUTO_REUSE:
            raise ValueError(f"Variable {full} already exists, disallowed. Did you mean to set reuse=True or "
                             "reuse=tf.AUTO_REUSE in VarScope?")
        v = store[full]
        if shape is not None and not shape.is_compatible_with(v.shape):
            raise ValueError(f"Trying to share variable {full}, but specified shape {shape} and found shape "
                             f"{v.shape}.")
        if dtype is not None and dtypes.as_dtype(dtype) != v.dtype:
            raise ValueError(f"Trying to share variable {full}, but specified dtype {dtypes.as_dtype(dtype).name} "
                             f"and found dtype {v.dtype.name}.")
        return v
    if scope.reuse is True:
        raise ValueError(f"Variable {full} does not exist, or was not created with tf.get_variable(). Did you "
                         "mean to set reuse=tf.AUTO_REUSE in VarScope?")
    dt = dtypes.as_dtype(dtype or scope.dtype or dtypes.float32)
    initializer = initializer if initializer is not None else scope.initializer
    regularizer = regularizer if regularizer is not None else scope.regularizer
    if initializer is None:
        from .initializers import glorot_uniform_initializer, zeros_initializer

        initializer = glorot_uniform_initializer() if dt.is_floating else zeros_initializer()
    if callable(initializer) and not isinstance(initializer, (Tensor, np.ndarray)):
        if shape is None:
            raise ValueError(f"Shape of a new variable ({full}) must be fully defined, but instead was None.")
        init = (lambda: initializer(shape.as_list(), dtype=dt))
        var_dtype = dt
    else:
        init = initializer
        var_dtype = dtype and dt
    with graph.name_scope(None):
        v = Variable(init, trainable=trainable, collections=collections, name=full, dtype=var_dtype,
                     validate_shape=validate_shape, constraint=constraint)
    if shape is not None and not v.shape.is_compatible_with(shape):
        raise ValueError(f"initializer value of shape {v.shape} does not match the shape {shape} of {full}")
    store[full] = v
    if regularizer is not None:
        with graph.name_scope(full + "/Regularizer/"):
            loss = regularizer(v)
        if loss is not None:
            graph.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)
    return v
