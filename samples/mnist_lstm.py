"""MNIST read row by row by an LSTM (the books' RNN classifier) on data/mnist10k.npz.

Each image is a sequence of 28 rows of 28 pixels; an LSTM with 150 units reads it
(gc.rnn.dynamic_rnn: a native loop, gc.scan) and a dense layer maps the last hidden
state to 10 logits. Adam 1e-3 decayed by 0.9 per epoch, batch 50; first 8,000 digits
for training, last 2,000 for testing (95-96.5% from the 6th epoch on; batch 150
without decay, the books' setting, also passes 95% but fluctuates more on this small
training set). Run: python samples/mnist_lstm.py [epochs]
"""
from __future__ import annotations

import pathlib
import sys
import time

import numpy as np

import graphc as gc
from graphc.progress import Progress, compiling, save_curves

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "mnist10k.npz"


def load_mnist(n_train=8000, n_test=2000):
    d = np.load(DATA)
    x = d["images"].astype(np.float32) / 255.0          # (N, 28 rows, 28 pixels)
    y = d["labels"].astype(np.int64)
    return (x[:n_train], y[:n_train]), (x[-n_test:], y[-n_test:])


def train(epochs=10, n_train=8000, n_test=2000, batch_size=50, lr=1e-3, lr_decay=0.9, units=150, seed=0,
          log=print):
    """Train and evaluate; returns {'accuracy': [...per epoch], 'epoch_seconds': [...], 'loss': [...]}.

    The learning rate is a Variable, multiplied by lr_decay after each epoch.
    """
    (xtr, ytr), (xte, yte) = load_mnist(n_train, n_test)
    cell = gc.rnn.BasicLSTMCell(units, seed=seed)
    head = gc.layers.Dense(10, seed=seed + 1)
    rate = gc.Variable(np.float32(lr), name="learning_rate", trainable=False)
    opt = gc.optim.Adam(rate)

    def logits(x):
        _, state = gc.rnn.dynamic_rnn(cell, x)
        return head(state.h)

    @gc.compile
    def train_step(x, y):
        loss = gc.mean(gc.nn.sparse_softmax_cross_entropy(logits(x), y))
        opt.minimize(loss)
        return loss

    @gc.compile
    def predict(x):
        return gc.argmax(logits(x), axis=1)

    rng = np.random.default_rng(seed)
    history = {"accuracy": [], "epoch_seconds": [], "loss": []}
    starts = range(0, len(xtr) - batch_size + 1, batch_size)
    with compiling(f"train step (LSTM {units} units over 28 rows, Adam) and predict"):
        train_step.compile_time(xtr[:batch_size], ytr[:batch_size])  # compiles without running
        predict.compile_time(xte)
    for epoch in range(epochs):
        order = rng.permutation(len(xtr))
        t0 = time.perf_counter()
        losses = []
        bar = Progress(len(starts), f"epoch {epoch + 1}/{epochs}")
        for k, b in enumerate(starts):
            idx = order[b:b + batch_size]
            losses.append(float(train_step(xtr[idx], ytr[idx])))
            bar.update(k + 1, loss=float(np.mean(losses[-20:])))
        seconds = time.perf_counter() - t0
        bar.clear()
        acc = float(np.mean(predict(xte) == yte))
        history["accuracy"].append(acc)
        history["epoch_seconds"].append(seconds)
        history["loss"].append(float(np.mean(losses)))
        log(f"epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.4f}  test accuracy {acc:.4f}  "
            f"({seconds:.1f} s, {len(starts) / seconds:.0f} steps/s)")
        rate.assign(rate.numpy() * lr_decay)
    return history


if __name__ == "__main__":
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    h = train(epochs)
    print(f"final test accuracy {h['accuracy'][-1]:.4f}, {np.mean(h['epoch_seconds']):.1f} s per epoch")
    save_curves(sys.argv[2] if len(sys.argv) > 2 else "mnist_lstm_curve.png",
                {"train loss": h["loss"], "test accuracy": h["accuracy"]}, title="MNIST LSTM")
