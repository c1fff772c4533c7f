"""graphc: compile Python-defined computation graphs to native code.

    import graphc as gc

    @gc.compile
    def f(x, w, b):
        return gc.relu(x @ w + b).sum(axis=1)
"""
from . import ops as _ops  # registers every op
from . import passes as _passes  # registers every pass
from .compiler import CompiledFunction, compile, jit, trace
from .pytree import register_pytree_node, tree_map
from .numpy_interop import NumpyOnTracedValueError
from .errors import (ArgumentError, CheckpointError, CompileError, DeviceError, DTypeError, ExportError,
                     GraphcError, IndexingError, InvalidValueError, OutOfMemoryError, ScalarOverflowError,
                     ShapeError, TraceError, UnknownOpError, VerificationError)
from .interpreter import interpret
from .ir import Graph, Node, TensorType
from .tracing import Tensor
from .variables import Variable
from .ops.elementwise import (absolute, add, cast, divide, equal, exp, greater, greater_equal, less, less_equal, log,
                              logical_and, logical_not, logical_or, logical_xor, maximum, minimum, multiply,
                              negative, not_equal, power, relu, sigmoid, sqrt, square, stop_gradient, subtract,
                              tanh, where)
from .ops.reductions import argmax, argmin, max, mean, min, prod, sum
from .ops.shape_ops import (broadcast_to, concatenate, expand_dims, reshape, split, squeeze, stack, transpose,
                            unstack)
from .ops.linalg import matmul
from .ops.creation import arange, full, ones, zeros
from .ops.nn import log_softmax, one_hot, softmax

abs = absolute

float32, float64, int32, int64, bool_ = "float32", "float64", "int32", "int64", "bool"
# storage dtypes (issue 15): computed in float32 / stored narrow; int8 for inference inputs
float16, bfloat16, int8 = "float16", "bfloat16", "int8"

__version__ = "0.1.0"
from .autodiff import grad, gradients, value_and_grad
from .transforms import checkpoint, custom_vjp, hessian, jacfwd, jacrev, jvp  # noqa: E402  (issue 15)
from .batching import vmap  # noqa: E402  (issue 15)
from .ops.math_extra import (arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, around,  # noqa: E402
                              bitwise_and, bitwise_not, bitwise_or, bitwise_xor, ceil, clip, cos, cosh, erf, exp2,
                              fix, floor, floor_divide, fmod, invert, isfinite, isinf, isnan, left_shift, log10,
                              log2, mod, nan_to_num, reciprocal, remainder, right_shift, rint, round, rsqrt, sign,
                              sin, sinh, tan, trunc)
from .ops.array_extra import (all, any, cumprod, cumsum, diag, einsum, eye, flip, linspace,  # noqa: E402
                              logsumexp, meshgrid, pad, repeat, roll, std, tile, tri, tril, triu, var)
from .ops.indexing_extra import (at, dynamic_slice, dynamic_update_slice, gather_nd, scatter_add,  # noqa: E402
                                 take, take_along_axis)
from .ops.sort_extra import argsort, sort, top_k  # noqa: E402
from . import nn  # noqa: E402
from . import optim, init  # noqa: E402
from .saver import Saver  # noqa: E402
from .ops.linalg_extra import matrix_inverse  # noqa: E402
from .export import TensorSpec, export, load_library  # noqa: E402
from . import random  # noqa: E402  (issue 7)
from .ops.nn_extra import expm1, gather, log1p  # noqa: E402
from . import layers, rnn  # noqa: E402  (issue 7)
from .ops.control import scan  # noqa: E402
from .ops.cond import cond  # noqa: E402  (issue 17: only the taken branch runs)
from .ops.while_loop import while_loop  # noqa: E402  (issue 17: run-time iteration count)
from .device import available_devices, device  # noqa: E402  (issue 5: gc.device, placement)
from .codegen.cpu import cpu_info  # noqa: E402  (issue 11: the CPU model codegen tunes for)
from .profiler import profile  # noqa: E402  (issue 16: trace-event JSON of real calls)
from . import profiler as _profiler  # noqa: E402

_profiler._from_environment()  # GRAPHC_PROFILE=trace.json: the whole process, written at exit
from . import data  # noqa: E402  (issue 14: graphc.data input pipelines)

# The public API (issue 15): what `from graphc import *` exports and docs/API.md lists.
__all__ = [
    "abs", "absolute", "add", "all", "any", "arange", "arccos", "arccosh", "arcsin", "arcsinh",
    "arctan", "arctan2", "arctanh", "argmax", "argmin", "argsort", "ArgumentError", "around",
    "at", "available_devices", "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor",
    "bfloat16", "bool_", "broadcast_to", "cast", "ceil", "checkpoint", "CheckpointError", "clip",
    "compile", "CompiledFunction", "CompileError", "concatenate", "cond", "cos", "cosh",
    "cpu_info", "cumprod", "cumsum", "custom_vjp", "data", "device", "DeviceError", "diag",
    "divide", "DTypeError", "dynamic_slice", "dynamic_update_slice", "einsum", "equal", "erf",
    "exp", "exp2", "expand_dims", "expm1", "export", "ExportError", "eye", "fix", "flip",
    "float16", "float32", "float64", "floor", "floor_divide", "fmod", "full", "gather", "gather_nd",
    "grad", "gradients", "Graph", "GraphcError", "greater", "greater_equal", "hessian",
    "IndexingError", "init", "int8", "int32", "int64", "interpret", "InvalidValueError", "invert",
    "isfinite", "isinf", "isnan", "jacfwd", "jacrev", "jit", "jvp", "layers", "left_shift",
    "less", "less_equal", "linspace", "load_library", "log", "log10", "log1p", "log2",
    "log_softmax", "logical_and", "logical_not", "logical_or", "logical_xor", "logsumexp",
    "matmul", "matrix_inverse", "max", "maximum", "mean", "meshgrid", "min", "minimum", "mod",
    "multiply", "nan_to_num", "negative", "nn", "Node", "not_equal", "NumpyOnTracedValueError",
    "one_hot", "ones", "optim", "OutOfMemoryError", "pad", "power", "prod", "profile",
    "random", "reciprocal", "register_pytree_node", "relu", "remainder", "repeat", "reshape",
    "right_shift", "rint", "rnn", "roll", "round", "rsqrt", "Saver", "ScalarOverflowError",
    "scan", "scatter_add", "ShapeError", "sigmoid", "sign", "sin", "sinh", "softmax", "sort",
    "split", "sqrt", "square", "squeeze", "stack", "std", "stop_gradient", "subtract", "sum",
    "take", "take_along_axis", "tan", "tanh", "Tensor", "TensorSpec", "TensorType", "tile",
    "top_k", "trace", "TraceError", "transpose", "tree_map", "tri", "tril", "triu", "trunc",
    "UnknownOpError", "unstack", "value_and_grad", "var", "Variable", "VerificationError",
    "vmap", "where", "while_loop", "zeros",
]

import sys as _sys  # noqa: E402
from . import _docs  # noqa: E402  (issue 15: Args/Returns/Raises/Example sections of every public docstring)
_docs.apply(_sys.modules[__name__])
