"""Issue 17, missing TF 1.x API: each piece against a numpy reference of TF's definition.

arg_scope, contrib conv/pool layers, user RNNCell subclasses, OutputProjectionWrapper,
bidirectional RNNs and reverse_sequence, tf.multinomial, the candidate samplers,
nce_loss / sampled_softmax_loss, ExponentialMovingAverage and
batch_norm_with_global_normalization. Tolerances: float32 results 1e-5 relative
unless stated; sampling frequencies within 4 standard errors.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
import graphc.compat.v1 as tf
from graphc.ops import sampling


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield


# -- arg_scope ------------------------------------------------------------------------------------


def test_arg_scope_defaults_nesting_and_explicit_arguments():
    fc = tf.contrib.layers.fully_connected
    arg_scope = tf.contrib.framework.arg_scope
    X = tf.placeholder(tf.float32, [None, 3])
    with arg_scope([fc], activation_fn=None, biases_initializer=tf.constant_initializer(2.0)) as outer:
        with arg_scope([fc], activation_fn=tf.nn.relu):
            inner = fc(X, 2, scope="inner")                  # relu from the inner scope, bias 2 from the outer
        plain = fc(X, 2, scope="plain")                      # activation None
        explicit = fc(X, 2, activation_fn=tf.tanh, scope="explicit")
    with arg_scope(outer):                                   # re-entering a saved scope
        again = fc(X, 2, scope="again")
    outside = fc(X, 2, scope="outside", biases_initializer=tf.zeros_initializer())
    assert tf.contrib.framework.has_arg_scope(fc)
    with pytest.raises(ValueError, match="add_arg_scope"):
        with arg_scope([tf.matmul], name="x"):
            pass
    x = np.array([[-1.0, 0.5, 2.0]], np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        names = ["inner", "plain", "explicit", "again", "outside"]
        w = {n: sess.run(tf.get_default_graph().get_tensor_by_name(f"{n}/weights:0")) for n in names}
        b = {n: sess.run(tf.get_default_graph().get_tensor_by_name(f"{n}/biases:0")) for n in names}
        got = sess.run([inner, plain, explicit, again, outside], {X: x})
    assert np.all(b["inner"] == 2.0) and np.all(b["again"] == 2.0) and np.all(b["outside"] == 0.0)
    ref = {n: x @ w[n] + b[n] for n in names}
    np.testing.assert_allclose(got[0], np.maximum(ref["inner"], 0), rtol=1e-5)
    np.testing.assert_allclose(got[1], ref["plain"], rtol=1e-5)
    np.testing.assert_allclose(got[2], np.tanh(ref["explicit"]), rtol=1e-5)
    np.testing.assert_allclose(got[3], ref["again"], rtol=1e-5)
    np.testing.assert_allclose(got[4], np.maximum(ref["outside"], 0), rtol=1e-5)   # the default relu again


def test_contrib_conv2d_pool_and_l2_regularizer_under_arg_scope():
    layers = tf.contrib.layers
    X = tf.placeholder(tf.float32, [None, 6, 6, 2])
    with tf.contrib.framework.arg_scope([layers.conv2d], padding="VALID",
                                        weights_regularizer=layers.l2_regularizer(0.5)):
        c = layers.conv2d(X, 3, 3)                           # Conv/weights [3, 3, 2, 3], relu
        p = layers.max_pool2d(c, 2)
    reg = tf.losses.get_regularization_losses()
    assert [v.op.name for v in tf.trainable_variables()] == ["Conv/weights", "Conv/biases"]
    assert c.get_shape().as_list() == [None, 4, 4, 3] and p.get_shape().as_list() == [None, 2, 2, 3]
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 2)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w = sess.run("Conv/weights:0")
        got_c, got_p, got_r = sess.run([c, p, reg[0]], {X: x})
    ref = np.zeros((2, 4, 4, 3), np.float32)
    for i in range(4):
        for j in range(4):
            ref[:, i, j] = np.einsum("bhwc,hwco->bo", x[:, i:i + 3, j:j + 3], w)
    ref = np.maximum(ref, 0)
    np.testing.assert_allclose(got_c, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_p, ref.reshape(2, 2, 2, 2, 2, 3).max(axis=(2, 4)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_r, 0.5 * np.sum(w ** 2) / 2, rtol=1e-5)


def _np_conv_transpose(x, w, stride, out_hw, pad_before):
    """Scatter-add definition: input pixel (i, j) adds w * x at rows stride*i - pad_before + [0, k)."""
    kh, kw = w.shape[:2]
    full = np.zeros((x.shape[0], out_hw[0] + kh + stride, out_hw[1] + kw + stride, w.shape[2]), np.float64)
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            full[:, stride * i:stride * i + kh, stride * j:stride * j + kw] += np.einsum("bc,hwoc->bhwo",
                                                                                      x[:, i, j], w)
    return full[:, pad_before:pad_before + out_hw[0], pad_before:pad_before + out_hw[1]]


def test_layers_conv2d_transpose_same_and_valid_against_numpy():
    X = tf.placeholder(tf.float32, [None, 5, 5, 3])
    same = tf.layers.conv2d_transpose(X, 2, 3, strides=2, padding="same", name="same")
    valid = tf.layers.conv2d_transpose(X, 2, 3, strides=2, padding="valid", activation=tf.nn.relu, name="valid")
    contrib = tf.contrib.layers.conv2d_transpose(X, 4, 4, stride=2, activation_fn=None)
    assert same.get_shape().as_list() == [None, 10, 10, 2] and valid.get_shape().as_list() == [None, 11, 11, 2]
    assert contrib.get_shape().as_list() == [None, 10, 10, 4]
    assert [v.op.name for v in tf.global_variables()] == [
        "same/kernel", "same/bias", "valid/kernel", "valid/bias", "Conv2d_transpose/weights",
        "Conv2d_transpose/biases"]
    x = np.random.default_rng(8).normal(size=(2, 5, 5, 3)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        ws, wv, wc = sess.run(["same/kernel:0", "valid/kernel:0", "Conv2d_transpose/weights:0"])
        got_s, got_v, got_c = sess.run([same, valid, contrib], {X: x})
    # TF's SAME padding of the transposed conv: total max(k - stride, 0), the smaller half first
    np.testing.assert_allclose(got_s, _np_conv_transpose(x, ws, 2, (10, 10), 0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_v, np.maximum(_np_conv_transpose(x, wv, 2, (11, 11), 0), 0), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(got_c, _np_conv_transpose(x, wc, 2, (10, 10), 1), rtol=1e-4, atol=1e-5)


# -- RNN cells --------------------------------------------------------------------------------------


class MinimalRNNCell(tf.contrib.rnn.RNNCell):
    """A user cell as TF 1.x programs write it: h' = tanh([x, h] W + b)."""

    def __init__(self, num_units):
        super().__init__()
        self._num_units = num_units

    @property
    def state_size(self):
        return self._num_units

    @property
    def output_size(self):
        return self._num_units

    def call(self, inputs, state):
        w = tf.get_variable("W", [int(inputs.get_shape()[1]) + self._num_units, self._num_units])
        b = tf.get_variable("b", [self._num_units], initializer=tf.constant_initializer(0.1))
        h = tf.tanh(tf.matmul(tf.concat([inputs, state], 1), w) + b)
        return h, h


def _np_rnn(x, w, b, lengths=None, reverse=False):
    batch, steps, _ = x.shape
    h = np.zeros((batch, w.shape[1]), np.float32)
    outs = np.zeros((batch, steps, w.shape[1]), np.float32)
    lengths = np.full(batch, steps) if lengths is None else lengths
    for i in range(batch):
        order = range(lengths[i] - 1, -1, -1) if reverse else range(lengths[i])
        hi = h[i:i + 1]
        for t in order:
            hi = np.tanh(np.concatenate([x[i:i + 1, t], hi], 1) @ w + b)
            outs[i, t] = hi[0]
        h[i] = hi[0]
    return outs, h


def test_user_rnn_cell_in_dynamic_rnn_with_sequence_length_trains():
    X = tf.placeholder(tf.float32, [None, 4, 2])
    L = tf.placeholder(tf.int32, [None])
    y = tf.placeholder(tf.float32, [None, 3])
    cell = MinimalRNNCell(3)
    outputs, state = tf.nn.dynamic_rnn(cell, X, sequence_length=L, dtype=tf.float32)
    assert [v.op.name for v in tf.global_variables()] == ["rnn/minimal_rnn_cell/W", "rnn/minimal_rnn_cell/b"]
    assert outputs.get_shape().as_list() == [None, 4, 3]
    loss = tf.reduce_mean(tf.square(state - y))
    train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 4, 2)).astype(np.float32)
    lengths = np.array([4, 1, 3, 2, 4])
    target = rng.uniform(-0.5, 0.5, size=(5, 3)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        w, b = sess.run(["rnn/minimal_rnn_cell/W:0", "rnn/minimal_rnn_cell/b:0"])
        got_o, got_s, first = sess.run([outputs, state, loss], {X: x, L: lengths, y: target})
        for _ in range(30):
            sess.run(train, {X: x, L: lengths, y: target})
        last = sess.run(loss, {X: x, L: lengths, y: target})
    ref_o, ref_s = _np_rnn(x, w, b, lengths)
    np.testing.assert_allclose(got_o, ref_o, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_s, ref_s, rtol=1e-5, atol=1e-6)
    assert np.isfinite(last) and last < first / 2


def test_output_projection_wrapper_dynamic_and_static():
    X = tf.placeholder(tf.float32, [None, 5, 2])
    L = tf.placeholder(tf.int32, [None])
    cell = tf.contrib.rnn.OutputProjectionWrapper(tf.contrib.rnn.BasicRNNCell(4, activation=tf.nn.relu),
                                                  output_size=1)
    out, state = tf.nn.dynamic_rnn(cell, X, sequence_length=L, dtype=tf.float32)
    assert [v.op.name for v in tf.global_variables()] == [
        "rnn/output_projection_wrapper/basic_rnn_cell/kernel", "rnn/output_projection_wrapper/basic_rnn_cell/bias",
        "rnn/output_projection_wrapper/kernel", "rnn/output_projection_wrapper/bias"]
    with tf.variable_scope("rnn", reuse=True):
        outs_static, _ = tf.nn.static_rnn(cell, tf.unstack(X, 5, 1), dtype=tf.float32, sequence_length=L)
    x = np.random.default_rng(2).normal(size=(3, 5, 2)).astype(np.float32)
    lengths = np.array([5, 2, 4])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        k, b, pk, pb = sess.run([v for v in tf.global_variables()])
        got, got_state, got_static = sess.run([out, state, outs_static], {X: x, L: lengths})
    h = np.zeros((3, 4), np.float32)
    ref = np.zeros((3, 5, 1), np.float32)
    for t in range(5):
        hn = np.maximum(np.concatenate([x[:, t], h], 1) @ k + b, 0)
        valid = (t < lengths)[:, None]
        h = np.where(valid, hn, h)
        ref[:, t] = np.where(valid, hn @ pk + pb, 0)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_state, h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.stack(got_static, 1), ref, rtol=1e-5, atol=1e-6)


def test_bidirectional_rnns_and_reverse_sequence_against_numpy():
    X = tf.placeholder(tf.float32, [None, 4, 2])
    L = tf.placeholder(tf.int64, [None])
    fw_cell, bw_cell = MinimalRNNCell(3), MinimalRNNCell(3)
    (out_fw, out_bw), (s_fw, s_bw) = tf.nn.bidirectional_dynamic_rnn(fw_cell, bw_cell, X, sequence_length=L,
                                                                      dtype=tf.float32)
    names = [v.op.name for v in tf.global_variables()]
    assert names == ["bidirectional_rnn/fw/minimal_rnn_cell/W", "bidirectional_rnn/fw/minimal_rnn_cell/b",
                     "bidirectional_rnn/bw/minimal_rnn_cell/W", "bidirectional_rnn/bw/minimal_rnn_cell/b"]
    lstm_fw, lstm_bw = tf.contrib.rnn.BasicLSTMCell(3), tf.contrib.rnn.BasicLSTMCell(3)
    outs, st_fw, st_bw = tf.contrib.rnn.static_bidirectional_rnn(lstm_fw, lstm_bw, tf.unstack(X, 4, 1),
                                                                 dtype=tf.float32, scope="static")
    (d_fw, d_bw), _ = tf.nn.bidirectional_dynamic_rnn(lstm_fw, lstm_bw, X, dtype=tf.float32, scope="static")
    rev = tf.reverse_sequence(X, L, seq_axis=1, batch_axis=0)
    rev_tm = tf.reverse_sequence(tf.transpose(X, [1, 0, 2]), L, seq_axis=0, batch_axis=1)
    x = np.random.default_rng(3).normal(size=(3, 4, 2)).astype(np.float32)
    lengths = np.array([4, 1, 3])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        wf, bf, wb, bb = sess.run([v for v in tf.global_variables()][:4])
        got = sess.run([out_fw, out_bw, s_fw, s_bw, outs, st_bw.h, d_fw, d_bw, rev, rev_tm], {X: x, L: lengths})
    ref_fw, ref_sf = _np_rnn(x, wf, bf, lengths)
    ref_bw, ref_sb = _np_rnn(x, wb, bb, lengths, reverse=True)
    for g, r in zip(got[:4], [ref_fw, ref_bw, ref_sf, ref_sb]):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)
    # static and dynamic bidirectional LSTMs share the variables and agree; output t holds fw_t and bw_t
    np.testing.assert_allclose(np.stack(got[4], 1), np.concatenate([got[6], got[7]], 2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[5], got[7][:, 0], rtol=1e-5, atol=1e-6)
    ref_rev = x.copy()
    for i, n in enumerate(lengths):
        ref_rev[i, :n] = x[i, :n][::-1]
    np.testing.assert_array_equal(got[8], ref_rev)
    np.testing.assert_array_equal(got[9], ref_rev.transpose(1, 0, 2))


# -- sampling -----------------------------------------------------------------------------------------


def test_multinomial_frequencies_match_softmax():
    logits = tf.constant(np.array([np.log([0.2, 0.5, 0.3]), [np.log(0.7), np.log(0.3), -np.inf]], np.float32))
    draws = tf.multinomial(logits, 4000, seed=7)
    assert draws.dtype == tf.int64 and draws.get_shape().as_list() == [2, 4000]
    with tf.Session() as sess:
        a, b = sess.run(draws), sess.run(draws)
    assert not np.array_equal(a, b)                          # a new draw per run
    p = np.array([[0.2, 0.5, 0.3], [0.7, 0.3, 0.0]])
    for sample in (a, b):
        for row in range(2):
            freq = np.bincount(sample[row], minlength=3) / 4000
            assert np.all(np.abs(freq - p[row]) <= 4 * np.sqrt(p[row] * (1 - p[row]) / 4000) + 1e-12)


def test_multinomial_same_numbers_in_a_new_graph_with_seeds():
    """TF 1.x: with tf.set_random_seed and an op seed, a new graph and session give the
    same draws (the policy-gradient chapter relies on reproducible runs)."""
    def draw():
        with tf.Graph().as_default():
            tf.set_random_seed(42)
            d = tf.multinomial(tf.zeros([1, 10]), 50, seed=3)
            with tf.Session() as sess:
                return sess.run(d)
    np.testing.assert_array_equal(draw(), draw())


def _np_first_unique(draws, k):
    seen, picked = set(), []
    for i, v in enumerate(draws):
        if v not in seen:
            seen.add(v)
            picked.append(v)
            if len(picked) == k:
                return np.array(picked), i + 1
    raise AssertionError("not enough distinct draws")


def test_candidate_sampler_pieces_against_tf_algorithm():
    rng = np.random.default_rng(4)
    u = rng.uniform(size=200)
    range_max = 30
    values = gc.compile(lambda x: sampling.values_from_uniform("log_uniform", x, range_max))(u)
    ref = (np.exp(u * np.log1p(range_max))).astype(np.int64) - 1       # TF's LogUniformSampler::Sample
    np.testing.assert_array_equal(values, np.clip(ref, 0, range_max - 1))
    picked, tries = gc.compile(lambda d: sampling.first_unique(d, 12))(values)
    ref_picked, ref_tries = _np_first_unique(values, 12)
    np.testing.assert_array_equal(picked, ref_picked)
    assert tries == ref_tries
    p = gc.compile(lambda v: sampling.probability("log_uniform", v, range_max))(np.arange(range_max))
    np.testing.assert_allclose(p, np.log((np.arange(range_max) + 2.0) / (np.arange(range_max) + 1.0))
                               / np.log(range_max + 1.0), rtol=1e-12)
    assert abs(p.sum() - 1.0) < 1e-12
    count = gc.compile(lambda q, n: sampling.expected_count(q, n, 12))(p, np.float64(ref_tries))
    np.testing.assert_allclose(count, -np.expm1(ref_tries * np.log1p(-p)), rtol=1e-12)
    same = gc.compile(lambda q, n: sampling.expected_count(q, n, 12))(p, np.float64(12))
    np.testing.assert_allclose(same, p * 12, rtol=1e-12)                 # no rejection: p * num_sampled


_first_unique_5 = gc.compile(lambda d: sampling.first_unique(d, 5))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 7), min_size=40, max_size=40).filter(lambda v: len(set(v)) >= 5))
def test_first_unique_matches_draw_order_reference(values):
    draws = np.array(values, np.int64)
    picked, tries = _first_unique_5(draws)
    ref_picked, ref_tries = _np_first_unique(draws, 5)
    np.testing.assert_array_equal(picked, ref_picked)
    assert tries == ref_tries


def test_draws_needed_bound_holds_empirically():
    m = sampling.draws_needed("log_uniform", 8, 20)
    rng = np.random.default_rng(5)
    values = (np.exp(rng.uniform(size=(20000, m)) * np.log1p(20))).astype(np.int64) - 1
    distinct = np.array([len(set(row)) for row in values])
    assert np.all(distinct >= 8)
    assert sampling.draws_needed("log_uniform", 64, 50000) < 200
    with pytest.raises(ValueError, match="num_sampled"):
        sampling.draws_needed("uniform", 11, 10)


def test_log_uniform_sampler_distribution_and_unique():
    true = tf.constant([[1], [4]], tf.int64)
    s, t_count, s_count = tf.nn.log_uniform_candidate_sampler(true, 1, 6, True, 20, seed=1)
    s2, _, s2_count = tf.nn.log_uniform_candidate_sampler(true, 1, 6, False, 20, seed=2)
    counts = np.zeros(20)
    p = np.log((np.arange(20) + 2.0) / (np.arange(20) + 1.0)) / np.log(21.0)
    with tf.Session() as sess:
        for _ in range(300):
            a, tc, sc, b, sc2 = sess.run([s, t_count, s_count, s2, s2_count])
            assert len(set(a.tolist())) == 6 and a.min() >= 0 and a.max() < 20
            # TF's expected counts: p * 6 when no draw was rejected, else 1 - (1 - p)^tries with
            # one integer number of tries > 6 for the whole batch (true classes included)
            tries = np.log1p(-sc[0]) / np.log1p(-p[a[0]]) if sc[0] < 1 else 6.0
            if abs(tries - 6.0) < 1e-3 or np.allclose(sc, p[a] * 6, rtol=1e-5):
                np.testing.assert_allclose(sc, p[a] * 6, rtol=1e-5)
                np.testing.assert_allclose(tc[:, 0], p[[1, 4]] * 6, rtol=1e-5)
            else:
                n = round(tries)
                assert n > 6 and abs(tries - n) < 1e-2
                np.testing.assert_allclose(sc, -np.expm1(n * np.log1p(-p[a])), rtol=1e-4)
                np.testing.assert_allclose(tc[:, 0], -np.expm1(n * np.log1p(-p[[1, 4]])), rtol=1e-4)
            np.testing.assert_allclose(sc2, p[b] * 6, rtol=1e-6)
            counts += np.bincount(b, minlength=20)
    freq = counts / counts.sum()
    assert np.all(np.abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / counts.sum()))


def _np_sampled_logits(w, b, labels, x, sampled, t_count, s_count, remove_hits):
    true_logits = np.einsum("bd,bd->b", x, w[labels[:, 0]])[:, None] + b[labels][:, :1] - np.log(t_count)
    sampled_logits = x @ w[sampled].T + b[sampled]
    if remove_hits:
        sampled_logits = sampled_logits + np.where(labels[:, :1] == sampled[None, :], -np.finfo(np.float32).max, 0)
    sampled_logits = sampled_logits - np.log(s_count)
    return np.concatenate([true_logits, sampled_logits], 1).astype(np.float64)


def test_nce_and_sampled_softmax_loss_against_numpy_with_given_samples():
    rng = np.random.default_rng(6)
    V, D, B, S = 12, 4, 5, 4
    w = rng.normal(size=(V, D)).astype(np.float32)
    b = rng.normal(size=V).astype(np.float32)
    x = rng.normal(size=(B, D)).astype(np.float32)
    labels = np.array([[1], [3], [5], [3], [0]], np.int64)
    sampled = np.array([3, 7, 0, 9], np.int64)               # 3 and 0 are accidental hits for some rows
    t_count = rng.uniform(0.2, 0.9, size=(B, 1)).astype(np.float32)
    s_count = rng.uniform(0.2, 0.9, size=S).astype(np.float32)
    X = tf.placeholder(tf.float32, [B, D])
    W, Bv = tf.constant(w), tf.constant(b)
    given = (tf.constant(sampled), tf.constant(t_count), tf.constant(s_count))
    nce = tf.nn.nce_loss(W, Bv, labels, X, S, V, sampled_values=given)
    nce_hits = tf.nn.nce_loss(W, Bv, labels, X, S, V, sampled_values=given, remove_accidental_hits=True)
    ssm = tf.nn.sampled_softmax_loss(W, Bv, labels, X, S, V, sampled_values=given)
    grad = tf.gradients(tf.reduce_sum(nce), X)[0]
    with tf.Session() as sess:
        got_nce, got_hits, got_ssm, got_grad = sess.run([nce, nce_hits, ssm, grad], {X: x})
    targets = np.concatenate([np.ones((B, 1)), np.zeros((B, S))], 1)
    for remove, got in ((False, got_nce), (True, got_hits)):
        z = _np_sampled_logits(w, b, labels, x, sampled, t_count, s_count, remove)
        ref = np.sum(np.maximum(z, 0) - z * targets + np.log1p(np.exp(-np.abs(z))), axis=1)
        np.testing.assert_allclose(got, ref, rtol=1e-5)
    z = _np_sampled_logits(w, b, labels, x, sampled, t_count, s_count, True)
    m = z.max(1, keepdims=True)
    ref_ssm = -(z[:, 0] - (m[:, 0] + np.log(np.exp(z - m).sum(1))))
    np.testing.assert_allclose(got_ssm, ref_ssm, rtol=1e-5)
    z = _np_sampled_logits(w, b, labels, x, sampled, t_count, s_count, False)
    sig = 1 / (1 + np.exp(-z)) - targets                     # d loss / d logits
    all_w = np.concatenate([w[labels[:, 0]][:, None, :], np.broadcast_to(w[sampled], (B, S, D))], 1)
    np.testing.assert_allclose(got_grad, np.einsum("bk,bkd->bd", sig, all_w), rtol=1e-4, atol=1e-5)


# -- moving averages and global normalization -------------------------------------------------------


def test_exponential_moving_average_variables_tensors_and_restore(tmp_path):
    w = tf.Variable(1.0, name="w")
    x = tf.placeholder(tf.float32, [3])
    m = tf.reduce_mean(x, name="m")
    step = tf.Variable(0, trainable=False, name="step")
    ema = tf.train.ExponentialMovingAverage(0.9, num_updates=step)
    update = ema.apply([w, m])
    debiased = tf.train.ExponentialMovingAverage(0.5, zero_debias=True, name="deb")
    update_deb = debiased.apply([m])
    bump = tf.group(w.assign_add(1.0), step.assign_add(1))
    assert ema.average_name(w) == "w/ExponentialMovingAverage" and ema.average(w).op.name == ema.average_name(w)
    assert tf.moving_average_variables() == [w]
    assert ema.average(x) is None
    restore_map = ema.variables_to_restore()
    assert restore_map["w/ExponentialMovingAverage"] is w and restore_map["step"] is step
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        ref_w, ref_m, biased, t = 1.0, 0.0, 0.0, 0
        for i in range(4):
            sess.run(bump)
            feed = {x: [1.0, 2.0, 3.0 + 3 * i]}
            sess.run([update, update_deb], feed)
            n = i + 1
            decay = min(0.9, (1.0 + n) / (10.0 + n))
            ref_w -= (ref_w - (2.0 + i)) * (1 - decay)
            ref_m -= (ref_m - (2.0 + i)) * (1 - decay)
            biased -= (biased - (2.0 + i)) * 0.5
            t += 1
            got = sess.run([ema.average(w), ema.average(m), debiased.average(m)])
            np.testing.assert_allclose(got, [ref_w, ref_m, biased / (1 - 0.5 ** t)], rtol=1e-5)
        path = tf.train.Saver().save(sess, str(tmp_path / "ema"))
    with tf.Session() as sess:
        tf.train.Saver(restore_map).restore(sess, path)
        np.testing.assert_allclose(sess.run(w), ref_w, rtol=1e-6)    # w now holds its average


def test_batch_norm_with_global_normalization_against_numpy():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 3, 3, 4)).astype(np.float32)
    mean, var = rng.normal(size=4).astype(np.float32), rng.uniform(0.5, 2, size=4).astype(np.float32)
    beta, gamma = rng.normal(size=4).astype(np.float32), rng.normal(size=4).astype(np.float32)
    scaled = tf.nn.batch_norm_with_global_normalization(x, mean, var, beta, gamma, 1e-3, True)
    unscaled = tf.nn.batch_norm_with_global_normalization(x, mean, var, beta, gamma, 1e-3, False)
    with tf.Session() as sess:
        a, b = sess.run([scaled, unscaled])
    norm = (x - mean) / np.sqrt(var + 1e-3)
    np.testing.assert_allclose(a, norm * gamma + beta, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b, norm + beta, rtol=1e-5, atol=1e-6)


# -- more math and array ops ------------------------------------------------------------------------


def test_sign_tile_slice_logsumexp_count_nonzero_xw_plus_b_against_numpy():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(3, 4)).astype(np.float32)
    x[0, 0], x[1, 1] = 0.0, np.nan
    big = np.array([[1000.0, 1000.5, -np.inf], [-np.inf, -np.inf, -np.inf]], np.float32)
    w = rng.normal(size=(4, 2)).astype(np.float32)
    b = rng.normal(size=2).astype(np.float32)
    X = tf.placeholder(tf.float32, [3, 4])
    finite = tf.where(tf.equal(X, X), X, tf.zeros_like(X))
    outs = [tf.sign(X), tf.tile(X, [2, 3]), tf.slice(X, [1, 1], [2, -1]), tf.reduce_logsumexp(finite, axis=1),
            tf.reduce_logsumexp(big, axis=1, keepdims=True), tf.reduce_logsumexp(finite), tf.count_nonzero(X, 1),
            tf.nn.xw_plus_b(finite, w, b)]
    grads = tf.gradients(tf.reduce_sum(tf.tile(finite, [2, 1]) * 3.0) + tf.reduce_sum(tf.reduce_logsumexp(finite, 1)),
                         X)
    with tf.Session() as sess:
        got = sess.run(outs + grads, {X: x})
    xf = np.where(np.isnan(x), 0, x).astype(np.float64)
    np.testing.assert_array_equal(got[0], np.sign(x))                       # NaN stays NaN
    np.testing.assert_array_equal(got[1], np.tile(x, (2, 3)))
    np.testing.assert_array_equal(got[2], x[1:3, 1:])
    lse = np.log(np.exp(xf).sum(1))
    np.testing.assert_allclose(got[3], lse, rtol=1e-6)
    with np.errstate(divide="ignore"):
        ref_big = [[1000.5 + np.log1p(np.exp(-0.5))], [-np.inf]]
    np.testing.assert_allclose(got[4], ref_big, rtol=1e-6)
    np.testing.assert_allclose(got[5], np.log(np.exp(xf).sum()), rtol=1e-6)
    assert got[6].dtype == np.int64
    np.testing.assert_array_equal(got[6], np.count_nonzero(x, axis=1))
    np.testing.assert_allclose(got[7], xf @ w + b, rtol=1e-5)
    softmax = np.exp(xf) / np.exp(xf).sum(1, keepdims=True)
    ref_grad = np.where(np.isnan(x), 0, 6.0 + softmax)
    np.testing.assert_allclose(got[8], ref_grad, rtol=1e-5)


def test_learning_rate_schedules_follow_tf_formulas():
    """piecewise_constant, polynomial_decay (with and without cycle), inverse_time_decay and
    natural_exp_decay against TF's formulas over 10 global steps (float32, rtol 1e-6)."""
    global_step = tf.train.get_or_create_global_step()
    step = tf.assign_add(global_step, 1)
    schedules = [tf.train.piecewise_constant(global_step, [3, 6], [1.0, 0.5, 0.1]),
                 tf.train.polynomial_decay(0.1, global_step, 4, 0.01, power=2.0),
                 tf.train.polynomial_decay(0.1, global_step, 4, 0.01, cycle=True),
                 tf.train.inverse_time_decay(0.1, global_step, 2, 0.5),
                 tf.train.inverse_time_decay(0.1, global_step, 2, 0.5, staircase=True),
                 tf.train.natural_exp_decay(0.1, global_step, 2, 0.5, staircase=True)]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for g in range(10):
            got = sess.run(schedules)
            n_cycle = 4 * max(1, int(np.ceil(g / 4)))
            ref = [1.0 if g <= 3 else 0.5 if g <= 6 else 0.1,
                   0.09 * (1 - min(g, 4) / 4) ** 2 + 0.01,
                   0.09 * (1 - g / n_cycle) + 0.01,
                   0.1 / (1 + 0.5 * g / 2),
                   0.1 / (1 + 0.5 * (g // 2)),
                   0.1 * np.exp(-0.5 * (g // 2))]
            np.testing.assert_allclose(got, ref, rtol=1e-6, err_msg=f"step {g}")
            sess.run(step)
