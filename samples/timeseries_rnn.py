"""Time-series forecasting with an RNN (the books' sine-like series, one step ahead).

The series is t*sin(t)/3 + 2*sin(5t) sampled every 0.1; each training example is
20 consecutive values and the target is the same window shifted by one step. A
BasicRNNCell with 100 relu units runs over the window (gc.rnn.dynamic_rnn) and a
dense layer maps every step's output to one value (the books' OutputProjection),
trained with Adam 1e-3 on the mean squared error, batch 50.
Run: python samples/timeseries_rnn.py [iterations]
"""
from __future__ import annotations

import sys
import time

import numpy as np

import graphc as gc
from graphc.progress import Progress, compiling, save_curves

T_MIN, T_MAX, RESOLUTION = 0.0, 30.0, 0.1
N_STEPS = 20


def time_series(t):
    return t * np.sin(t) / 3 + 2 * np.sin(t * 5)


def next_batch(rng, batch_size, n_steps=N_STEPS):
    t0 = rng.random((batch_size, 1)) * (T_MAX - T_MIN - n_steps * RESOLUTION)
    ts = t0 + np.arange(0.0, n_steps + 1) * RESOLUTION
    ys = time_series(ts).astype(np.float32)
    return ys[:, :-1].reshape(-1, n_steps, 1), ys[:, 1:].reshape(-1, n_steps, 1)


def train(iterations=1000, batch_size=50, units=100, lr=1e-3, seed=0, log=print, log_every=100):
    """Train; returns {'iteration': [...], 'mse': [...], 'seconds': float, 'prediction_mse': float}."""
    cell = gc.rnn.BasicRNNCell(units, activation=gc.relu, seed=seed)
    head = gc.layers.Dense(1, seed=seed + 1)
    opt = gc.optim.Adam(lr)

    def predict(x):
        outputs, _ = gc.rnn.dynamic_rnn(cell, x)          # (batch, steps, units)
        return head(outputs)                               # dense on every step: (batch, steps, 1)

    @gc.compile
    def train_step(x, y):
        mse = gc.mean(gc.square(predict(x) - y))
        opt.minimize(mse)
        return mse

    rng = np.random.default_rng(seed)
    history = {"iteration": [], "mse": []}
    with compiling(f"train step (RNN {units} units over {N_STEPS} steps, Adam)"):
        train_step.compile_time(*next_batch(np.random.default_rng(seed + 1), batch_size))  # compiles, no step
    t0 = time.perf_counter()
    bar, done = Progress(1, "iteration 0"), 0  # progress towards the next logged iteration
    for it in range(iterations):
        x, y = next_batch(rng, batch_size)
        mse = float(train_step(x, y))
        done += 1
        bar.update(done, mse=mse)
        if it % log_every == 0 or it == iterations - 1:
            bar.clear()
            history["iteration"].append(it)
            history["mse"].append(mse)
            log(f"iteration {it}: MSE {mse:.4f}  ({bar.rate():.0f} steps/s)")
            last = min(it + log_every, iterations - 1)
            bar, done = Progress(last - it, f"iterations {it + 1}-{last}"), 0
    history["seconds"] = time.perf_counter() - t0
    # one-step-ahead forecast of a fixed window, as the book plots
    ts = np.linspace(12.2, 12.2 + RESOLUTION * (N_STEPS + 1), N_STEPS + 1)
    window = time_series(ts).astype(np.float32)
    pred = gc.compile(predict)(window[:-1].reshape(1, N_STEPS, 1))
    history["prediction_mse"] = float(np.mean((pred.ravel() - window[1:]) ** 2))
    return history


if __name__ == "__main__":
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    h = train(iterations)
    print(f"MSE {h['mse'][0]:.2f} -> {h['mse'][-1]:.4f} in {iterations} iterations ({h['seconds']:.1f} s); "
          f"forecast of a held-out window: MSE {h['prediction_mse']:.4f}")
    save_curves(sys.argv[2] if len(sys.argv) > 2 else "timeseries_rnn_curve.png", {"training MSE": h["mse"]},
                title="time-series RNN", xlabel="log point (every 100 iterations)")
