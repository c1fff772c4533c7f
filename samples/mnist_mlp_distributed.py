"""Data-parallel training of samples/mnist_mlp.py's MLP over MPI (graphc.distributed).

    mpiexec -n 2 python samples/mnist_mlp.py --distributed
    mpiexec -n 2 python samples/mnist_mlp_distributed.py --epochs 5

Every rank builds the same model, broadcasts rank 0's weights, and each epoch trains on
its shard of the 8,000 training digits (the same permutation on every rank, rank r
taking every size-th digit). The *global* batch and the learning rate stay those of
the single-process run (batch 50 = 2 ranks x 25), so the training follows the same
path up to the data order and float32 rounding, and reaches the same accuracy: the
gradients of the ranks' halves are averaged by one Allreduce per step inside the
compiled step. Test accuracy is computed on each rank's shard of the 2,000 test
digits and combined with gd.metric_average (weighted by shard size).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import graphc.distributed as gd
from mnist_mlp import LAYERS, MLP, N_TEST, N_TRAIN_MAX, load_mnist


def train_distributed(epochs=20, limit=N_TRAIN_MAX, batch_size=50, learning_rate=1e-3, seed=0, target=0.95):
    gd.init()
    rank, size = gd.rank(), gd.size()
    say = print if rank == 0 else (lambda *a, **k: None)
    if batch_size % size:
        raise SystemExit(f"--batch-size {batch_size} must be a multiple of the {size} ranks (it is the global batch)")
    local_batch = batch_size // size
    (x_train, y_train), (x_test, y_test) = load_mnist()
    x_train, y_train = x_train[:limit], y_train[:limit]
    x_test, y_test = x_test[rank::size], y_test[rank::size]  # this rank's test shard
    model = MLP(seed=seed, learning_rate=learning_rate)
    model.optimizer = gd.DistributedOptimizer(model.optimizer)  # before the first trace of the step
    gd.broadcast_variables(model.params, root=0)
    rng = np.random.default_rng(seed)  # the same permutation on every rank
    steps = (len(x_train) // size) // local_batch  # equal on every rank (a collective per step)
    say(f"MLP {'-'.join(map(str, LAYERS))} on {len(x_train)} digits in {size} shards, test on {N_TEST}; Adam {learning_rate}, global batch {batch_size} "
        f"({size} x {local_batch}), {epochs} epochs")
    history, reached = [], None
    for epoch in range(1, epochs + 1):
        shard = rng.permutation(len(x_train))[rank::size]
        t0 = time.perf_counter()
        losses = []
        for s in range(steps):
            idx = shard[s * local_batch:(s + 1) * local_batch]
            losses.append(float(model.train_step(x_train[idx], y_train[idx])))
        seconds = time.perf_counter() - t0
        loss, acc = (float(v) for v in model.evaluate(x_test, y_test))
        test_loss = gd.metric_average(loss, weight=len(x_test))
        test_acc = gd.metric_average(acc, weight=len(x_test))
        train_loss = gd.metric_average(np.mean(losses))
        history.append({"epoch": epoch, "train_loss": train_loss, "test_loss": test_loss,
                        "test_accuracy": test_acc, "seconds": seconds})
        say(f"  epoch {epoch:2d}  train loss {train_loss:.4f}  test loss {test_loss:.4f}  "
            f"test accuracy {100 * test_acc:5.2f}%  ({seconds:.2f} s)", flush=True)
        if reached is None and test_acc >= target:
            reached = epoch
    best = max(h["test_accuracy"] for h in history)
    st = gd.stats()
    say(f"best test accuracy {100 * best:.2f}%"
        + (f"; {100 * target:.0f}% first reached at epoch {reached}" if reached else f"; {100 * target:.0f}% not reached"))
    if st["allreduce_calls"]:
        say(f"gradient Allreduce: {st['allreduce_calls']} calls, {st['allreduce_bytes'] / st['allreduce_calls']:.0f} "
            f"bytes each, {st['allreduce_seconds']:.2f} s in MPI on rank 0")
    return {"history": history, "best_accuracy": best, "reached_target_epoch": reached}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--limit", type=int, default=N_TRAIN_MAX)
    ap.add_argument("--batch-size", type=int, default=50, help="the global batch (split over the ranks)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    return train_distributed(args.epochs, min(args.limit, N_TRAIN_MAX), args.batch_size, args.lr, args.seed)


if __name__ == "__main__":
    main(sys.argv[1:])
