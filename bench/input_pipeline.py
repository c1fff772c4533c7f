"""Input pipeline bench (issue 14): is the input work hidden behind the native step?

An MNIST MLP 784-300-100-10 Adam training epoch (8,000 digits of data/mnist10k.npz,
batch 256, full batches only) fed two ways, in the same process:

(a) pre-sliced numpy batches: the epoch's batches are cut once, before timing, and a
    Python loop calls the compiled step on them (no input work at all);
(b) a graphc.data pipeline: ``from_tensor_slices -> shuffle(8000) -> batch(256) ->
    map(augment, num_parallel_calls=1) -> prefetch(2)``, where augment is a random
    brightness/contrast jitter clipped to [0, 1] plus a random horizontal shift of up to
    2 pixels, new per batch, in numpy. graphc.data runs that chain in one background
    thread (gather, augment, a channel of 3 batches) that the kernel thread pool treats
    as external work while it builds batches (graphc/data/_threads.py). (A
    gc.compile'd augmentation works too, but two threads then share graphc's one kernel
    thread pool: whichever dispatches second runs its kernels inline, single-threaded,
    so the step slows while the map runs; measured ~0.84 vs ~0.97 for numpy on a loaded
    2-core machine.)

Epochs run in pairs, (a) then (b) or (b) then (a) alternately, after one warm-up pair,
so drift of a shared machine hits both; reported: median steps/s of each, the median
of the pairs' (b)/(a) ratios and their spread (lowest and highest pair), and the load
average before and after (other jobs on the machine make every figure noisy, and
under load (b)'s extra thread also wins CPU share from them). Target: >= 0.9.

    python -m bench.input_pipeline [--quick] [--epochs N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import graphc as gc
import graphc.data as gd

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "mnist10k.npz")
LAYERS = (784, 300, 100, 10)


def _mnist(n):
    if os.path.exists(DATA):
        with np.load(DATA) as d:
            x = (d["images"].reshape(-1, 784)[:n] / np.float32(255.0)).astype(np.float32)
            y = d["labels"][:n].astype(np.int64)
        return x, y
    rng = np.random.default_rng(0)   # (a checkout without the data file: same shapes)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


def _model(seed=0):
    rng = np.random.default_rng(seed)
    params = []
    for k, (fan_in, fan_out) in enumerate(zip(LAYERS[:-1], LAYERS[1:])):
        w = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2 / fan_in)).astype(np.float32)
        params += [gc.Variable(w, name=f"w{k}"), gc.Variable(np.zeros(fan_out, np.float32), name=f"b{k}")]
    opt = gc.optim.Adam(1e-3)

    @gc.compile
    def train_step(x, y):
        h = x
        for k in range(0, len(params), 2):
            h = h @ params[k] + params[k + 1]
            if k + 2 < len(params):
                h = gc.relu(h)
        loss = gc.nn.sparse_softmax_cross_entropy(h, y).mean()
        opt.minimize(loss)
        return loss

    return train_step


def make_augment(seed=0):
    """Per batch: a random brightness/contrast jitter clipped to [0, 1] and a random
    horizontal shift of up to 2 pixels (numpy; the first operation makes a new array,
    the rest work in place on it)."""
    rng = np.random.default_rng(seed)

    def augment(x, y):
        c = np.float32(rng.uniform(0.8, 1.2))
        b = np.float32(rng.uniform(-0.1, 0.1))
        x = x - np.float32(0.5)
        x *= c
        x += np.float32(0.5) + b
        np.clip(x, 0.0, 1.0, out=x)
        shift = int(rng.integers(-2, 3))
        if shift:
            x = np.roll(x.reshape(-1, 28, 28), shift, axis=2).reshape(-1, 784)
        return x, y

    return augment


def pipeline(x, y, batch, seed=0):
    return (gd.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed).batch(batch, drop_remainder=True)
            .map(make_augment(seed), num_parallel_calls=1).prefetch(2))


def measure(quick=False, epochs=None, batch=256):
    n = 2048 if quick else 8000
    epochs = epochs or (2 if quick else 12)
    x, y = _mnist(n)
    step = _model()
    presliced = [(x[i:i + batch], y[i:i + batch]) for i in range(0, (n // batch) * batch, batch)]
    ds = pipeline(x, y, batch)

    def epoch_a():
        for xb, yb in presliced:
            step(xb, yb)
        return len(presliced)

    def epoch_b():
        k = 0
        for xb, yb in ds:
            step(xb, yb)
            k += 1
        return k

    rates = {"a": [], "b": []}
    ratios = []
    load_before = _load_average()
    for e in range(epochs + 1):          # the first pair is a warm-up (compiles, page faults)
        order = (("a", epoch_a), ("b", epoch_b)) if e % 2 == 0 else (("b", epoch_b), ("a", epoch_a))
        pair = {}
        for key, fn in order:
            t0 = time.perf_counter()
            steps = fn()
            pair[key] = steps / (time.perf_counter() - t0)
        if e:
            rates["a"].append(pair["a"])
            rates["b"].append(pair["b"])
            ratios.append(pair["b"] / pair["a"])
    a = statistics.median(rates["a"])
    b = statistics.median(rates["b"])
    return {"case": f"mlp_adam_epoch_b{batch}_input_pipeline", "examples": n, "batch": batch,
            "steps_per_epoch": len(presliced), "epochs": epochs,
            "presliced_steps_per_s": round(a, 1), "pipeline_steps_per_s": round(b, 1),
            # adjacent epochs form a pair (alternating which goes first): the median of the
            # pairs' ratios is steadier than the ratio of medians on a shared machine
            "pipeline_ratio": round(statistics.median(ratios), 3), "target_ratio": 0.9,
            "pipeline_ratio_spread": [round(min(ratios), 3), round(max(ratios), 3)],
            "load_average": [load_before, _load_average()],
            "presliced_epochs_steps_per_s": [round(r, 1) for r in rates["a"]],
            "pipeline_epochs_steps_per_s": [round(r, 1) for r in rates["b"]]}


def _load_average():
    """The 1-minute load average (None where the OS does not say)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def format_line(r) -> str:
    lo, hi = r["pipeline_ratio_spread"]
    return (f"input pipeline ({r['case']}, {r['examples']} digits, median of {r['epochs']} epochs): pre-sliced "
            f"numpy {r['presliced_steps_per_s']:.0f} steps/s, graphc.data shuffle+augment+prefetch "
            f"{r['pipeline_steps_per_s']:.0f} steps/s; (b)/(a) median of paired epochs {100 * r['pipeline_ratio']:.0f}% "
            f"(pairs {100 * lo:.0f}-{100 * hi:.0f}%; target >= 90%; load average {r['load_average'][0]} -> "
            f"{r['load_average'][1]} on {os.cpu_count()} CPUs)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch", type=int, default=256)
    a = p.parse_args(argv)
    r = measure(a.quick, a.epochs, a.batch)
    print(format_line(r))
    print(f"  per epoch (a): {r['presliced_epochs_steps_per_s']}  (b): {r['pipeline_epochs_steps_per_s']}")
    return r


if __name__ == "__main__":
    main()
