"""Losses and metrics with TF 1.x semantics, as composites of primitive ops.

Each loss is per example (reduce it yourself, e.g. ``.mean()``), written in the
numerically stable form TF uses, and built from ops that fuse and differentiate on
their own, so no loss needs its own kernel or gradient rule.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import DTypeError, ShapeError
from ..ops.common import cast_to, dtype_of, promote, shape_of
from ..ops.elementwise import (absolute, cast, exp, greater, greater_equal, less, less_equal, log, logical_and,
                               multiply, negative, subtract, add, where)
from ..ops.nn import log_softmax, one_hot
from ..ops.reductions import sum as reduce_sum
from ..ops.shape_ops import expand_dims


def _check_int_labels(labels, opname):
    dt = dtype_of(labels)
    if not dtypes.is_int(dt):
        raise DTypeError(f"{opname}: labels must be int32 or int64 class indices, got {dt}")


def sparse_softmax_cross_entropy(logits, labels):
    """-log softmax(logits)[label] per example (tf.nn.sparse_softmax_cross_entropy_with_logits).

    logits: float [..., classes]; labels: int [...] class indices. The gradient w.r.t.
    the logits is softmax(logits) - one_hot(labels). Out-of-range labels select no class
    (the loss is then logsumexp(logits)), where TF's CPU kernel raises.
    """
    _, (logits,) = promote(logits, float_only=True)
    _check_int_labels(labels, "sparse_softmax_cross_entropy")
    ls, lb = tuple(shape_of(logits)), tuple(shape_of(labels))
    if ls[:-1] != lb:
        raise ShapeError(f"sparse_softmax_cross_entropy: labels of shape {lb} must match logits of shape {ls} "
                         f"without the last (class) axis")
    target = one_hot(labels, ls[-1], dtype=dtype_of(logits))
    return negative(reduce_sum(multiply(target, log_softmax(logits)), axis=-1))


def softmax_cross_entropy(logits, labels):
    """-sum(labels * log softmax(logits)) over the last axis (tf.nn.softmax_cross_entropy_with_logits).

    labels: a probability distribution per example, the shape of logits. (Gradients
    also flow into labels, as in TF's _v2 version.)
    """
    _, (logits, labels) = promote(logits, labels, float_only=True)
    if tuple(shape_of(logits)) != tuple(shape_of(labels)):
        raise ShapeError(f"softmax_cross_entropy: labels {shape_of(labels)} and logits {shape_of(logits)} differ")
    return negative(reduce_sum(multiply(labels, log_softmax(logits)), axis=-1))


def sigmoid_cross_entropy(logits, labels):
    """max(x, 0) - x*z + log(1 + exp(-|x|)) elementwise (tf.nn.sigmoid_cross_entropy_with_logits).

    Both branches select on the same ``x >= 0`` test (as TF does), so the gradient is
    sigmoid(x) - z everywhere, also at x = 0 where zero-initialized models start.
    """
    dt, (x, z) = promote(logits, labels, float_only=True)
    if tuple(shape_of(x)) != tuple(shape_of(z)):
        raise ShapeError(f"sigmoid_cross_entropy: labels {shape_of(z)} and logits {shape_of(x)} differ")
    zero = cast_to(0, dt)
    nonneg = greater_equal(x, zero)
    relu_x = where(nonneg, x, zero)
    neg_abs_x = where(nonneg, negative(x), x)
    return add(subtract(relu_x, multiply(x, z)), log(add(cast_to(1, dt), exp(neg_abs_x))))


def l2_loss(x):
    """sum(x ** 2) / 2 (tf.nn.l2_loss), a scalar."""
    _, (x,) = promote(x, float_only=True)
    return multiply(reduce_sum(multiply(x, x)), cast_to(0.5, dtype_of(x)))


def in_top_k(predictions, targets, k):
    """Whether each target class is among the top ``k`` predictions (tf.nn.in_top_k).

    As TF: ties count in the target's favour (it is in the top k when fewer than k
    classes score strictly higher), and a non-finite target score or an out-of-range
    target gives False.
    """
    _, (predictions,) = promote(predictions, float_only=True)
    _check_int_labels(targets, "in_top_k")
    ps, ts = tuple(shape_of(predictions)), tuple(shape_of(targets))
    if len(ps) != 2 or ts != ps[:1]:
        raise ShapeError(f"in_top_k: predictions must be [batch, classes] and targets [batch], got {ps} and {ts}")
    dt = dtype_of(predictions)
    n_classes = ps[1]
    hit = one_hot(targets, n_classes, dtype="bool", on_value=True, off_value=False)
    target_score = reduce_sum(where(hit, predictions, cast_to(0, dt)), axis=-1)
    higher = reduce_sum(cast(greater(predictions, expand_dims(target_score, -1)), "int32"), axis=-1)
    in_range = logical_and(greater_equal(targets, cast_to(0, dtype_of(targets))),
                           less(targets, cast_to(n_classes, dtype_of(targets))))
    finite = less_equal(absolute(target_score), cast_to(float(np.finfo(dt).max), dt))  # False for inf and NaN
    return logical_and(logical_and(less(higher, cast_to(int(k), dtype_of(higher))), in_range), finite)

