"""graphc.compat.v1: the TensorFlow 1.x graph-and-session API over graphc.

    import graphc.compat.v1 as tf      # instead of: import tensorflow as tf

Building a graph records graphc op applications (graph.py); ``Session.run`` compiles
the subgraph a run needs into one native program per fetch/feed signature
(session.py). Ops, gradients, optimizers, checkpoints and summaries are graphc's own.
"""
from . import errors
from .dtypes import (DType, as_dtype, bfloat16, bool, double, float16, float32, float64, half, int8, int16, int32,  # noqa: A004
                     int64, string, uint8)
from .shapes import Dimension, TensorShape
from .graph import Graph, Operation, Tensor, get_default_graph, reset_default_graph
from .session import (ConfigProto, GPUOptions, InteractiveSession, RunMetadata, RunOptions, Session,
                      get_default_session)
from .variables import (AUTO_REUSE, GraphKeys, Variable, VariableScope, add_to_collection, add_to_collections,
                        all_variables, assign, assign_add, assign_sub, get_collection, get_collection_ref,
                        get_variable, get_variable_scope, global_variables, global_variables_initializer,
                        initialize_all_variables, local_variables, local_variables_initializer, model_variables,
                        trainable_variables, variable_scope, variables_initializer)
from .array_ops import (concat, constant, convert_to_tensor, expand_dims, fill, identity, one_hot, ones, stop_gradient,
                        ones_like, placeholder, placeholder_with_default, range, rank, reshape, shape, size, split,
                        squeeze, stack, transpose, unstack, zeros, zeros_like)
from .math_ops import (abs, add, add_n, argmax, argmin, cast, div, divide, equal, exp, greater, greater_equal,
                       less, less_equal, log, logical_and, logical_not, logical_or, matmul, matrix_inverse,
                       matrix_transpose, maximum, minimum, multiply, neg, negative, not_equal, pow, reduce_all,
                       reduce_any, reduce_max, reduce_mean, reduce_min, reduce_prod, reduce_sum, sigmoid, sqrt,
                       square, squared_difference, subtract, tanh, to_float, to_int32, truediv, where)
from .control_flow import cond, control_dependencies, group, no_op, tuple, while_loop  # noqa: A004
from .math_ops import clip_by_global_norm, clip_by_norm, clip_by_value, gather, global_norm
from .random_ops import random_normal, random_uniform, truncated_normal
from .initializers import (constant_initializer, glorot_normal_initializer, glorot_uniform_initializer,
                           ones_initializer, random_normal_initializer, random_uniform_initializer,
                           truncated_normal_initializer, variance_scaling_initializer, zeros_initializer)
from .train import gradients
from .nn_sampled import multinomial, categorical as _categorical
from .moving_averages import moving_average_variables
from .rnn_bidirectional import reverse_sequence
from .math_extra import count_nonzero, reduce_logsumexp, sign, slice, tile  # noqa: A004
from .math_extra import floordiv, floormod, mod, truncatediv, truncatemod
from .estimator import estimator, feature_column, learn as _learn
from . import contrib as _contrib, initializers as _initializers
from . import layers, nn, summary, timeline, train  # noqa: E402  (timeline: issue 16)
from .queues import FIFOQueue, PaddingFIFOQueue, QueueBase, RandomShuffleQueue  # noqa: E402  (issue 14)
from .readers import (FixedLengthRecordReader, ReaderBase, TextLineReader, decode_csv,  # noqa: E402
                      decode_raw)
from . import data  # noqa: E402  (tf.data over graphc.data, graph-mode iterators)
import types as _types

contrib = _types.SimpleNamespace(layers=_contrib.layers, rnn=_contrib.rnn, framework=_contrib.framework,
                                 learn=_learn)
losses = _contrib.losses
compat = _types.SimpleNamespace(v1=__import__("sys").modules[__name__])  # tf.compat.v1.data... (TF 1.13+)
linalg = _types.SimpleNamespace(inv=matrix_inverse, matmul=matmul, transpose=matrix_transpose)
initializers = _types.SimpleNamespace(
    zeros=zeros_initializer, ones=ones_initializer, constant=constant_initializer,
    random_uniform=random_uniform_initializer, random_normal=random_normal_initializer,
    truncated_normal=truncated_normal_initializer, glorot_uniform=glorot_uniform_initializer,
    glorot_normal=glorot_normal_initializer, variance_scaling=variance_scaling_initializer,
    he_normal=_initializers.he_normal, he_uniform=_initializers.he_uniform,
    global_variables=global_variables_initializer, variables=variables_initializer)


def name_scope(name, default_name=None, values=None):
    """Prefix the names of ops created inside (``loss/mse``); yields ``"loss/"``."""
    return get_default_graph().name_scope(name if name is not None else default_name)


def device(device_name):
    """Pin ops created inside to a device ("/cpu:0", "/gpu:0")."""
    return get_default_graph().device(device_name)


def set_random_seed(seed):
    """The graph-level seed: ops without their own seed derive one from it."""
    get_default_graph().seed = seed


def get_seed(op_seed):
    return get_default_graph().seed, op_seed


newaxis = None

random = _types.SimpleNamespace(uniform=random_uniform, normal=random_normal, truncated_normal=truncated_normal,
                                set_random_seed=set_random_seed, categorical=_categorical, multinomial=multinomial)
