"""Benchmark cases for issue 7: CNN forward and one LSTM step.

Each function returns (name, fn, args, numpy_fn): fn is the graphc function to compile
(fused and naive), numpy_fn the same computation in numpy (im2col with
sliding_window_view + one BLAS matmul per convolution, reshape-max pooling).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import graphc as gc


def _np_conv3x3_same(x, w):
    n, h, wd, c = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    win = sliding_window_view(xp, (3, 3), axis=(1, 2))            # (n, h, w, c, 3, 3)
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * h * wd, 9 * c)
    return (cols @ w.reshape(9 * c, -1)).reshape(n, h, wd, -1)


def _np_pool2(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def cnn_forward(batch=64):
    """28x28x1 -> conv 32 3x3 SAME -> relu -> 2x2 max pool -> conv 64 3x3 SAME -> relu.

    flops: 2*batch*(784*9*32 + 196*288*64) (about 0.54 GFLOP at batch 64).
    """
    rng = np.random.default_rng(0)
    x = rng.random((batch, 28, 28, 1), dtype=np.float32)
    w1 = (rng.standard_normal((3, 3, 1, 32)) * 0.3).astype(np.float32)
    b1 = (rng.standard_normal(32) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((3, 3, 32, 64)) * 0.08).astype(np.float32)
    b2 = (rng.standard_normal(64) * 0.1).astype(np.float32)

    def fn(x, w1, b1, w2, b2):
        h = gc.relu(gc.nn.bias_add(gc.nn.conv2d(x, w1, 1, "SAME"), b1))
        h = gc.nn.max_pool(h, 2, 2, "VALID")
        return gc.relu(gc.nn.bias_add(gc.nn.conv2d(h, w2, 1, "SAME"), b2))

    def numpy_fn(x, w1, b1, w2, b2):
        h = _np_pool2(np.maximum(_np_conv3x3_same(x, w1) + b1, 0))
        return np.maximum(_np_conv3x3_same(h, w2) + b2, 0)

    return f"cnn_forward_b{batch}", fn, (x, w1, b1, w2, b2), numpy_fn


def lstm_step(batch=150, inputs=28, units=150):
    """One BasicLSTMCell step (TF equations, forget_bias 1.0): returns (h', c').

    flops: about 2*batch*(inputs+units)*4*units (32 MFLOP at the defaults) plus the gates.
    """
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, inputs)).astype(np.float32)
    h = rng.standard_normal((batch, units)).astype(np.float32)
    c = rng.standard_normal((batch, units)).astype(np.float32)
    r = np.sqrt(6.0 / (inputs + 5 * units))
    w = rng.uniform(-r, r, (inputs + units, 4 * units)).astype(np.float32)
    b = np.zeros(4 * units, np.float32)

    def fn(x, h, c, w, b):
        z = gc.concatenate([x, h], axis=1) @ w + b
        i, j, f, o = gc.split(z, 4, axis=1)
        new_c = gc.sigmoid(f + 1.0) * c + gc.sigmoid(i) * gc.tanh(j)
        return gc.sigmoid(o) * gc.tanh(new_c), new_c

    def numpy_fn(x, h, c, w, b):
        z = np.concatenate([x, h], axis=1) @ w + b
        i, j, f, o = np.split(z, 4, axis=1)
        sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
        new_c = sig(f + np.float32(1.0)) * c + sig(i) * np.tanh(j)
        return sig(o) * np.tanh(new_c), new_c

    return f"lstm_step_b{batch}_u{units}", fn, (x, h, c, w, b), numpy_fn


def cases():
    return [cnn_forward(), lstm_step()]
