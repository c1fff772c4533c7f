"""RNN cells vs numpy step references, dynamic_rnn (gc.scan) vs static unrolling, and layers."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.rnn import LSTMStateTuple
from gradcheck import add_case, check_case

RNG = np.random.default_rng(11)


def sig(x):
    return 1 / (1 + np.exp(-x))


def np_step(cell, x, state):
    """Reference step in numpy from the cell's Variables (TF 1.x equations)."""
    if isinstance(cell, gc.rnn.LSTMCell):
        c, h = state
        i, j, f, o = np.split(np.concatenate([x, h], 1) @ cell.kernel.numpy() + cell.bias.numpy(), 4, axis=1)
        f = f + cell.forget_bias
        if cell.use_peepholes:
            i, f = i + cell.w_i_diag.numpy() * c, f + cell.w_f_diag.numpy() * c
        c2 = sig(f) * c + sig(i) * np.tanh(j)
        if cell.use_peepholes:
            o = o + cell.w_o_diag.numpy() * c2
        h2 = sig(o) * np.tanh(c2)
        return h2, (c2, h2)
    if isinstance(cell, gc.rnn.GRUCell):
        g = sig(np.concatenate([x, state], 1) @ cell.gate_kernel.numpy() + cell.gate_bias.numpy())
        r, u = np.split(g, 2, axis=1)
        cand = np.tanh(np.concatenate([x, r * state], 1) @ cell.candidate_kernel.numpy() + cell.candidate_bias.numpy())
        h2 = u * state + (1 - u) * cand
        return h2, h2
    h2 = np.tanh(np.concatenate([x, state], 1) @ cell.kernel.numpy() + cell.bias.numpy())
    return h2, h2


def np_rnn(cell, x, seq_len=None):
    """Batch-major reference of dynamic_rnn with sequence_length masking."""
    b, t, _ = x.shape
    if isinstance(cell, gc.rnn.MultiRNNCell):
        outs, finals = x, []
        for sub in cell.cells:
            outs, fs = np_rnn(sub, outs, seq_len)
            finals.append(fs)
        return outs, tuple(finals)
    n = cell.num_units
    state = (np.zeros((b, n)), np.zeros((b, n))) if isinstance(cell, gc.rnn.LSTMCell) else np.zeros((b, n))
    outs = np.zeros((b, t, n))
    for k in range(t):
        out, new = np_step(cell, x[:, k], state)
        valid = np.ones(b, bool) if seq_len is None else k < seq_len
        v = valid[:, None]
        state = tuple(np.where(v, a, o) for a, o in zip(new, state)) if isinstance(new, tuple) else np.where(v, new, state)
        outs[:, k] = np.where(v, out, 0)
    return outs, state


CELLS = {
    "basic_rnn": lambda: gc.rnn.BasicRNNCell(5, seed=1),
    "lstm": lambda: gc.rnn.BasicLSTMCell(5, seed=2),
    "lstm_peepholes": lambda: gc.rnn.LSTMCell(5, use_peepholes=True, forget_bias=0.5, seed=3),
    "gru": lambda: gc.rnn.GRUCell(5, seed=4),
    "stacked": lambda: gc.rnn.MultiRNNCell([gc.rnn.BasicLSTMCell(4, seed=5), gc.rnn.GRUCell(3, seed=6)]),
}


def _leaves(state):
    return gc.pytree.flatten(tuple(state) if isinstance(state, tuple) else state)[0]


@pytest.mark.parametrize("name", list(CELLS))
def test_dynamic_rnn_matches_numpy_and_static_rnn(name):
    cell = CELLS[name]()
    x = RNG.standard_normal((4, 6, 3))
    seq = np.array([6, 2, 0, 4])
    dyn = gc.compile(lambda x, s: gc.rnn.dynamic_rnn(cell, x, sequence_length=s))
    out, state = dyn(x, seq)
    ref_out, ref_state = np_rnn(cell, x, seq)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    for a, b in zip(_leaves(state), _leaves(ref_state)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert np.all(out[1, 2:] == 0) and np.all(out[2] == 0)  # padded steps output zeros

    @gc.compile
    def static(x, s):
        outs, st = gc.rnn.static_rnn(cell, gc.unstack(x, axis=1), sequence_length=s)
        return gc.stack(outs, axis=1), st

    s_out, s_state = static(x, seq)
    np.testing.assert_allclose(s_out, ref_out, rtol=1e-12, atol=1e-12)
    # time-major, no sequence_length
    tm_out, _ = gc.compile(lambda x: gc.rnn.dynamic_rnn(cell, x, time_major=True))(x.transpose(1, 0, 2))
    np.testing.assert_allclose(tm_out.transpose(1, 0, 2), np_rnn(cell, x)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["lstm_peepholes", "gru", "stacked"])
def test_dynamic_rnn_gradients_match_static_unrolling(name):
    cell = CELLS[name]()
    x = RNG.standard_normal((3, 5, 2))
    seq = np.array([5, 3, 1])

    def loss(x, dynamic):
        if dynamic:
            out, state = gc.rnn.dynamic_rnn(cell, x, sequence_length=seq)
        else:
            outs, state = gc.rnn.static_rnn(cell, gc.unstack(x, axis=1), sequence_length=seq)
            out = gc.stack(outs, axis=1)
        total = gc.sum(gc.square(out))
        for leaf in _leaves(state):
            total = total + gc.sum(leaf)
        return total

    cell(np.zeros((1, 2)), cell.zero_state(1, "float64"))  # build the Variables
    targets = cell.variables
    dyn = gc.compile(lambda x: gc.gradients(loss(x, True), targets + [x]))(x)
    sta = gc.compile(lambda x: gc.gradients(loss(x, False), targets + [x]))(x)
    for a, b in zip(dyn, sta):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# finite differences through the scan for the input sequence
_LSTM_FD = gc.rnn.LSTMCell(3, use_peepholes=True, seed=9, kernel_initializer=lambda s, seed=None, dtype=None:
                           np.random.default_rng(seed).uniform(-0.5, 0.5, s).astype(dtype))
RNN_CASES = [add_case("scan", lambda x: gc.rnn.dynamic_rnn(_LSTM_FD, x, sequence_length=np.array([4, 2]))[0],
                      RNG.standard_normal((2, 4, 2)), label="dynamic_rnn LSTM peepholes")]


@pytest.mark.parametrize("case", RNN_CASES, ids=str)
def test_rnn_gradient_finite_differences(case):
    check_case(case)


def test_dropout_wrapper_draws_a_mask_per_step_outside_the_loop():
    cell = gc.rnn.DropoutWrapper(gc.rnn.BasicRNNCell(8, seed=1), input_keep_prob=0.5, output_keep_prob=0.5)
    x = np.ones((2, 6, 10), np.float32)
    out, _ = gc.compile(lambda x: gc.rnn.dynamic_rnn(cell, x))(x)
    zero = out == 0
    assert 0.3 < zero.mean() < 0.7
    assert not all(np.array_equal(zero[:, 0], zero[:, k]) for k in range(1, 6))
    off = gc.rnn.DropoutWrapper(cell.cell, 0.5, 0.5, training=False)
    np.testing.assert_allclose(gc.compile(lambda x: gc.rnn.dynamic_rnn(off, x))(x)[0],
                               np_rnn(cell.cell, x.astype(np.float64))[0], rtol=1e-5, atol=1e-6)


def test_lstm_state_tuple_and_zero_state():
    cell = gc.rnn.BasicLSTMCell(4)
    s = cell.zero_state(3)
    assert isinstance(s, LSTMStateTuple) and s.c.shape == (3, 4) and s.h.dtype == np.float32
    assert cell.forget_bias == 1.0


# -- layers --------------------------------------------------------------------------------------

def test_dense_and_conv_layers():
    dense = gc.layers.Dense(3, activation=gc.relu, seed=0)
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    y = gc.compile(lambda x: dense(x))(x)
    np.testing.assert_allclose(y, np.maximum(x @ dense.kernel.numpy() + dense.bias.numpy(), 0), rtol=1e-5, atol=1e-6)
    assert [v.shape for v in dense.variables] == [(4, 3), (3,)]
    lim = np.sqrt(6 / 7)  # Glorot uniform
    assert np.abs(dense.kernel.numpy()).max() <= lim
    conv = gc.layers.Conv2D(6, 3, strides=2, padding="same", kernel_initializer=gc.init.he_normal, seed=1)
    img = RNG.standard_normal((2, 8, 8, 3)).astype(np.float32)
    out = gc.compile(lambda x: conv(x))(img)
    assert out.shape == (2, 4, 4, 6) and conv.kernel.shape == (3, 3, 3, 6)
    np.testing.assert_allclose(out, gc.nn.conv2d(img, conv.kernel.numpy(), 2, "SAME") + conv.bias.numpy(),
                               rtol=1e-5, atol=1e-5)


def test_lstm_and_gru_layers_train():
    """A tiny sequence task (sum of inputs' signs) learned by the LSTM and GRU layers with Adam."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8, 2)).astype(np.float32)
    y = (x[:, :, 0].sum(1) > 0).astype(np.int64)
    for make in (lambda: gc.layers.LSTM(8, seed=0), lambda: gc.layers.GRU(8, seed=0)):
        rnn, head = make(), gc.layers.Dense(2, seed=1)
        opt = gc.optim.Adam(0.05)

        @gc.compile
        def step(x, y):
            loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(head(rnn(x)), y))
            opt.minimize(loss)
            return loss

        losses = [float(step(x, y)) for _ in range(60)]
        assert losses[-1] < 0.5 * losses[0], losses[::10]
