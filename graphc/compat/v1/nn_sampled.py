"""tf.multinomial, TF's candidate samplers, tf.nn.nce_loss / sampled_softmax_loss, and
tf.nn.batch_norm_with_global_normalization.

The sampled losses follow TF 1.x's ``_compute_sampled_logits``: one set of
``num_sampled`` classes per batch from the sampler (log-uniform by default, unique),
logits for the true and the sampled classes from rows of ``weights``/``biases``,
accidental hits (a sampled class equal to one of the row's true classes) pushed to
-FLT_MAX when ``remove_accidental_hits``, and ``log(expected count)`` subtracted
(``subtract_log_q``). nce_loss is then a sigmoid cross entropy summed over the row
(true classes labelled 1/num_true, sampled ones 0); sampled_softmax_loss is a softmax
cross entropy. Both return one loss per example. Samplers: graphc/ops/sampling.py.
"""
from __future__ import annotations

import numpy as np

import graphc as gc
from ...ops import sampling
from ...ops.random import GOLDEN, MASK, mix64_int
from ...tracing import bind
from . import dtypes
from .convert import as_operand
from .graph import Ref
from .record import record
from .random_ops import _OpCounter, get_seed

_FLT_MAX = float(np.finfo(np.float32).max)


def _seeded_stream(seed, name):
    """Seeded like tf.random_uniform (random_ops.py): with a graph or op seed, the op
    draws from its own per-session counter with a key from TF's (graph, op) seed pair,
    so a new graph and session repeat its numbers; else None (graphc's global stream)."""
    graph_seed, seed = get_seed(seed)
    if graph_seed is None:
        return None
    key = mix64_int(mix64_int(graph_seed * GOLDEN + 1) + ((seed + 1) & MASK) * GOLDEN)
    return Ref(_OpCounter(name)), key


def _uniform_source(stream):
    """At replay: (shape) -> float64 uniforms in [0, 1) from the op's stream (one counter
    step per run), or None for graphc's default generator."""
    if stream is None:
        return None
    counter_var, key = stream
    counter = counter_var.value()
    counter_var.assign(counter + np.int64(1))
    draws = iter(range(1 << 30))

    def uniform(shape):
        k = (key + next(draws) * GOLDEN) & MASK          # a distinct key per draw of this op
        return bind("random", [counter], shape=tuple(int(d) for d in shape), dtype="float64", dist="uniform",
                    key=k)
    return uniform


def _multinomial(logits, num_samples, dt, stream):
    return sampling.categorical(logits, int(num_samples), None, dt, uniform=_uniform_source(stream))


def multinomial(logits, num_samples, seed=None, name=None, output_dtype=None):
    """[batch, num_samples] class indices drawn from softmax(logits) per row (int64)."""
    dt = dtypes.as_dtype(output_dtype or dtypes.int64).name
    name = name or "multinomial"
    return record("Multinomial", _multinomial, (as_operand(logits), int(num_samples), dt,
                                                _seeded_stream(seed, name)), name=name)


def categorical(logits, num_samples, dtype=None, seed=None, name=None):
    """tf.random.categorical (the newer name of tf.multinomial)."""
    return multinomial(logits, num_samples, seed=seed, name=name, output_dtype=dtype)


def _sampler(kind):
    def run(true_classes, num_sampled, unique, range_max, stream):
        return sampling.candidate_sample(kind, gc.cast(true_classes, "int64"), num_sampled, unique, range_max,
                                         uniform=_uniform_source(stream))
    return run


def _candidate_sampler(kind, op_type, true_classes, num_true, num_sampled, unique, range_max, seed, name):
    true_classes = as_operand(true_classes, dtypes.int64)
    name = name or op_type
    return tuple(record(op_type, _sampler(kind), (true_classes, int(num_sampled), bool(unique), int(range_max),
                                                  _seeded_stream(seed, name)), name=name))


def log_uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max, seed=None, name=None):
    """(sampled_candidates, true_expected_count, sampled_expected_count), TF's Zipfian sampler."""
    return _candidate_sampler("log_uniform", "LogUniformCandidateSampler", true_classes, num_true, num_sampled,
                              unique, range_max, seed, name)


def uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max, seed=None, name=None):
    return _candidate_sampler("uniform", "UniformCandidateSampler", true_classes, num_true, num_sampled, unique,
                              range_max, seed, name)


def _param(params):
    if isinstance(params, (list, tuple)):
        if len(params) != 1:
            raise NotImplementedError("sampled losses over a list of sharded weights are not supported")
        return params[0]
    return params


def _sampled_logits(weights, biases, labels, inputs, num_sampled, num_classes, num_true, sampled_values,
                    subtract_log_q, remove_accidental_hits, stream):
    """(logits [batch, num_true + num_sampled], labels of the same shape), as TF's _compute_sampled_logits."""
    labels = gc.reshape(gc.cast(labels, "int64"), (-1, num_true))
    batch = gc.ops.common.shape_of(labels)[0]
    if sampled_values is None:
        sampled_values = sampling.candidate_sample("log_uniform", labels, num_sampled, True, num_classes,
                                                   uniform=_uniform_source(stream))
    sampled, true_count, sampled_count = (gc.stop_gradient(v) if gc.ops.common.dtype_of(v).startswith("float")
                                          else v for v in sampled_values)
    sampled = gc.cast(sampled, "int64")
    dt = gc.ops.common.dtype_of(inputs)
    true_w = gc.reshape(gc.nn.embedding_lookup(weights, gc.reshape(labels, (-1,))), (batch, num_true, -1))
    true_b = gc.reshape(gc.nn.embedding_lookup(biases, gc.reshape(labels, (-1,))), (batch, num_true))
    sampled_w = gc.nn.embedding_lookup(weights, sampled)
    sampled_b = gc.nn.embedding_lookup(biases, sampled)
    true_logits = gc.add(gc.sum(gc.multiply(gc.expand_dims(inputs, 1), true_w), axis=-1), true_b)
    sampled_logits = gc.add(gc.matmul(inputs, gc.transpose(sampled_w)), sampled_b)
    if remove_accidental_hits:
        hits = gc.equal(gc.expand_dims(labels, 2), gc.reshape(sampled, (1, 1, -1)))        # [batch, true, S]
        hit = gc.greater(gc.max(gc.cast(hits, "int32"), axis=1), 0)
        sampled_logits = gc.add(sampled_logits, gc.where(hit, np.asarray(-_FLT_MAX, dt), np.asarray(0, dt)))
    if subtract_log_q:
        true_logits = gc.subtract(true_logits, gc.cast(gc.log(true_count), dt))
        sampled_logits = gc.subtract(sampled_logits, gc.cast(gc.log(sampled_count), dt))
    logits = gc.concatenate([true_logits, sampled_logits], axis=1)
    out_labels = gc.concatenate([gc.full((batch, num_true), 1.0 / num_true, dt),
                                 gc.zeros((batch, int(num_sampled)), dt)], axis=1)
    return logits, out_labels


def _nce(weights, biases, labels, inputs, *args):
    logits, targets = _sampled_logits(weights, biases, labels, inputs, *args)
    return gc.sum(gc.nn.sigmoid_cross_entropy(logits, targets), axis=1)


def _sampled_softmax(weights, biases, labels, inputs, *args):
    logits, targets = _sampled_logits(weights, biases, labels, inputs, *args)
    return gc.nn.softmax_cross_entropy(logits, gc.stop_gradient(targets))


def _sampled_loss(op_type, fn, weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                  sampled_values, remove_accidental_hits, partition_strategy, name, seed):
    sampled_values = None if sampled_values is None else tuple(sampled_values)
    name = name or op_type
    stream = _seeded_stream(seed, name) if sampled_values is None else None
    return record(op_type, fn, (_param(weights), biases, as_operand(labels, dtypes.int64), as_operand(inputs),
                                int(num_sampled), int(num_classes), int(num_true), sampled_values, True,
                                bool(remove_accidental_hits), stream), name=name)


def nce_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1, sampled_values=None,
             remove_accidental_hits=False, partition_strategy="mod", name="nce_loss", seed=None):
    """Noise-contrastive estimation loss per example ([batch]); weights [num_classes, dim]."""
    return _sampled_loss("nce_loss", _nce, weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                         sampled_values, remove_accidental_hits, partition_strategy, name, seed)


def sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
                         sampled_values=None, remove_accidental_hits=True, partition_strategy="mod",
                         name="sampled_softmax_loss", seed=None):
    """Softmax cross entropy over the true and the sampled classes, per example ([batch])."""
    return _sampled_loss("sampled_softmax_loss", _sampled_softmax, weights, biases, labels, inputs, num_sampled,
                         num_classes, num_true, sampled_values, remove_accidental_hits, partition_strategy, name,
                         seed)


def _bn_global(t, m, v, beta, gamma, eps, scale_after):
    return gc.nn.batch_normalization(t, m, v, beta, gamma if scale_after else None, eps)


def batch_norm_with_global_normalization(t=None, m=None, v=None, beta=None, gamma=None, variance_epsilon=None,
                                         scale_after_normalization=None, name=None, input=None,  # noqa: A002
                                         mean=None, variance=None):
    """(t - m) / sqrt(v + eps) * gamma + beta, gamma used only if scale_after_normalization."""
    t = input if t is None else t
    m = mean if m is None else m
    v = variance if v is None else v
    return record("BatchNormWithGlobalNormalization", _bn_global,
                  (as_operand(t), m, v, beta, gamma, float(variance_epsilon), bool(scale_after_normalization)),
                  name=name or "batchnorm")
