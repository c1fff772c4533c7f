"""MNIST multilayer perceptron 784-300-100-10 (ReLU, He init, Adam 1e-3, batch 50).

Trains on the first 8,000 digits of data/mnist10k.npz and tests on the last 2,000, as
the TensorFlow books' chapter 10 DNN does on full MNIST. The whole training step
(forward, backward through softmax cross-entropy, Adam update of six Variables) is one
compiled function; the parameters never leave native memory between steps.

    python samples/mnist_mlp.py                    # 20 epochs, >= 95% test accuracy
    python samples/mnist_mlp.py --epochs 1 --limit 2000
    python samples/mnist_mlp.py --bench            # batch-256 step: compile time, graphc vs numpy
    python samples/mnist_mlp.py --pipeline         # batches from graphc.data: shuffle, augmentation, prefetch
    mpiexec -n 2 python samples/mnist_mlp.py --distributed   # data-parallel (samples/mnist_mlp_distributed.py)
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import graphc as gc
from graphc.progress import Progress, compiling, save_curves

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist10k.npz")
LAYERS = [784, 300, 100, 10]
N_TRAIN_MAX, N_TEST = 8000, 2000


def load_mnist(path=DATA):
    with np.load(path) as d:
        x = (d["images"].reshape(-1, 784) / np.float32(255.0)).astype(np.float32)
        y = d["labels"].astype(np.int64)
    return (x[:N_TRAIN_MAX], y[:N_TRAIN_MAX]), (x[-N_TEST:], y[-N_TEST:])


class MLP:
    """The network's Variables, its compiled train/eval steps and its Adam optimizer."""

    def __init__(self, seed=0, learning_rate=1e-3):
        self.params = []
        for k, (fan_in, fan_out) in enumerate(zip(LAYERS[:-1], LAYERS[1:])):
            w = gc.Variable(gc.init.he_normal((fan_in, fan_out), seed=seed + k), name=f"dense{k}/kernel")
            b = gc.Variable(gc.init.zeros((fan_out,)), name=f"dense{k}/bias")
            self.params += [w, b]
        self.optimizer = gc.optim.Adam(learning_rate)
        self.train_step = gc.compile(self._train_step)
        self.evaluate = gc.compile(self._evaluate)

    def logits(self, x):
        h = x
        for k in range(0, len(self.params), 2):
            h = h @ self.params[k] + self.params[k + 1]
            if k + 2 < len(self.params):
                h = gc.relu(h)
        return h

    def _train_step(self, x, y):
        loss = gc.nn.sparse_softmax_cross_entropy(self.logits(x), y).mean()
        self.optimizer.minimize(loss)
        return loss

    def _evaluate(self, x, y):
        logits = self.logits(x)
        loss = gc.nn.sparse_softmax_cross_entropy(logits, y).mean()
        accuracy = gc.nn.in_top_k(logits, y, 1).astype("float64").mean()  # exact: 1900/2000 is 0.95
        return loss, accuracy


def train(epochs=20, limit=N_TRAIN_MAX, batch_size=50, learning_rate=1e-3, seed=0, target=0.95, curve=None):
    (x_train, y_train), (x_test, y_test) = load_mnist()
    x_train, y_train = x_train[:limit], y_train[:limit]
    model = MLP(seed=seed, learning_rate=learning_rate)
    rng = np.random.default_rng(seed)
    steps = len(x_train) // batch_size  # full batches only: one compiled signature
    history, reached = [], None
    print(f"MLP {'-'.join(map(str, LAYERS))} on {len(x_train)} digits, test on {len(x_test)}; "
          f"Adam {learning_rate}, batch {batch_size}, {epochs} epochs")
    with compiling(f"train step (forward, backward, Adam update of {len(model.params)} variables) and eval step"):
        model.train_step.compile_time(x_train[:batch_size], y_train[:batch_size])  # compiles without running
        model.evaluate.compile_time(x_test, y_test)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        t0 = time.perf_counter()
        losses = []
        bar = Progress(steps, f"  epoch {epoch:2d}/{epochs}")
        for s in range(steps):
            idx = order[s * batch_size:(s + 1) * batch_size]
            losses.append(float(model.train_step(x_train[idx], y_train[idx])))
            bar.update(s + 1, loss=float(np.mean(losses[-20:])))
        seconds = time.perf_counter() - t0
        test_loss, test_acc = (float(v) for v in model.evaluate(x_test, y_test))
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "test_loss": test_loss,
                        "test_accuracy": test_acc, "seconds": seconds})
        bar.close(f"train loss {np.mean(losses):.4f}  test loss {test_loss:.4f}  test accuracy {100 * test_acc:5.2f}%")
        if reached is None and test_acc >= target:
            reached = epoch
    best = max(h["test_accuracy"] for h in history)
    print(f"best test accuracy {100 * best:.2f}%"
          + (f"; {100 * target:.0f}% first reached at epoch {reached}" if reached else f"; {100 * target:.0f}% not reached"))
    x_batch = x_train[:batch_size]
    compile_s = model.train_step.compile_time(x_batch, y_train[:batch_size])
    print(f"train step compile time {compile_s:.2f} s")
    if curve:
        save_curves(curve, {"train loss": [h["train_loss"] for h in history],
                            "test loss": [h["test_loss"] for h in history],
                            "test accuracy": [h["test_accuracy"] for h in history]}, title="MNIST MLP")
    return {"history": history, "best_accuracy": best, "reached_target_epoch": reached, "compile_seconds": compile_s}


# -- the same training step written by hand in numpy (the benchmark baseline) ------------------------

class NumpyMLP:
    """Forward, backward and TF 1.x Adam for the same network, in float32 numpy."""

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.params = [np.array(p, np.float32) for p in params]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.lr, self.b1, self.b2, self.eps, self.t = learning_rate, beta1, beta2, epsilon, 0

    def step(self, x, y):
        W1, b1, W2, b2, W3, b3 = self.params
        n = len(x)
        z1 = x @ W1 + b1
        h1 = np.maximum(z1, 0)
        z2 = h1 @ W2 + b2
        h2 = np.maximum(z2, 0)
        z3 = h2 @ W3 + b3
        z3 -= z3.max(axis=1, keepdims=True)
        e = np.exp(z3)
        s = e.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        loss = np.mean(np.log(s[:, 0]) - z3[rows, y])
        d3 = e / s
        d3[rows, y] -= 1
        d3 /= n
        d2 = (d3 @ W3.T) * (z2 > 0)
        d1 = (d2 @ W2.T) * (z1 > 0)
        grads = [x.T @ d1, d1.sum(0), h1.T @ d2, d2.sum(0), h2.T @ d3, d3.sum(0)]
        self.t += 1
        lr_t = self.lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m += (g - m) * (1 - self.b1)
            v += (g * g - v) * (1 - self.b2)
            p -= lr_t * m / (np.sqrt(v) + self.eps)
        return loss


def bench(batch_size=256, steps=50, seed=0):
    """Compile time of the Adam train step and its step time next to the numpy version."""
    (x_train, y_train), _ = load_mnist()
    x, y = x_train[:batch_size], y_train[:batch_size]
    model = MLP(seed=seed)
    reference = NumpyMLP([p.numpy() for p in model.params])
    t0 = time.perf_counter()
    model.train_step(x, y)
    first_call = time.perf_counter() - t0
    compile_s = model.train_step.compile_time(x, y)
    reference.step(x, y)
    diff = max(float(np.abs(p.numpy() - r).max()) for p, r in zip(model.params, reference.params))
    if diff > 1e-4:  # both took the same first step from the same weights (float32 rounding only)
        raise AssertionError(f"graphc and numpy train steps disagree: max |difference| {diff:.2e}")

    def timed(fn):
        times = []
        for k in range(steps):
            lo = (k * batch_size) % (len(x_train) - batch_size)
            xb, yb = x_train[lo:lo + batch_size], y_train[lo:lo + batch_size]
            t = time.perf_counter()
            fn(xb, yb)
            times.append(time.perf_counter() - t)
        return float(np.median(times))

    graphc_s = timed(model.train_step)
    numpy_s = timed(reference.step)
    print(f"MLP Adam train step, batch {batch_size}: compile {compile_s:.3f} s (first call {first_call:.3f} s); "
          f"first step matches numpy within {diff:.1e}")
    print(f"  step time: graphc {graphc_s * 1e3:.2f} ms, numpy {numpy_s * 1e3:.2f} ms "
          f"-> graphc/numpy = {graphc_s / numpy_s:.2f}x (median of {steps})")
    return {"compile_seconds": compile_s, "graphc_step_seconds": graphc_s, "numpy_step_seconds": numpy_s}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--limit", type=int, default=N_TRAIN_MAX, help="train on the first LIMIT digits")
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bench", action="store_true", help="time the batch-256 train step instead of training")
    ap.add_argument("--pipeline", action="store_true", help="train from a graphc.data pipeline (shuffle, per-batch "
                    "augmentation map, prefetch; samples/mnist_mlp_pipeline.py)")
    ap.add_argument("--distributed", action="store_true",
                    help="data-parallel over mpiexec's ranks, same global batch (samples/mnist_mlp_distributed.py)")
    ap.add_argument("--curve", default="mnist_mlp_curve.png", help="loss/accuracy PNG (needs matplotlib; '' for none)")
    args = ap.parse_args(argv)
    if args.bench:
        return bench()
    if args.pipeline:
        from mnist_mlp_pipeline import train_pipeline

        return train_pipeline(args.epochs, min(args.limit, N_TRAIN_MAX), args.batch_size, args.lr, args.seed)
    if args.distributed:
        from mnist_mlp_distributed import train_distributed

        return train_distributed(args.epochs, min(args.limit, N_TRAIN_MAX), args.batch_size, args.lr, args.seed)
    return train(args.epochs, min(args.limit, N_TRAIN_MAX), args.batch_size, args.lr, args.seed, curve=args.curve)


if __name__ == "__main__":
    main(sys.argv[1:])
