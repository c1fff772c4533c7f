"""One rank of the distributed tests (tests/test_distributed.py runs it under mpiexec).

    python worker.py train OUT [--steps N] [--batch B] [--ranks K] [--fail MODE] [--mismatch KIND]
    python worker.py compat OUT
    python worker.py saver OUT
    python worker.py collectives OUT

``train``: a small MLP (12-16-4, Adam) on a fixed synthetic data set. Every epoch all
ranks draw the same permutation; rank r trains on its strided shard perm[r::size]
(uneven when size does not divide the data), in batches of B, for the same number of
steps on every rank. Without mpiexec, ``--ranks K`` makes one process feed, per step,
the K shards' batches concatenated (the same examples as K ranks x batch B), which is
the single-process reference. Each rank writes OUT/rank<r>.npz with its variables.
``--fail kill|raise|exit`` makes rank 1 die by SIGKILL, raise, or leave the loop and exit
normally at step 3 (the other ranks keep training); ``--mismatch shape|count`` gives
rank 1 a different model.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time

import numpy as np

import graphc as gc
import graphc.distributed as gd

N_DATA, N_IN, N_HIDDEN, N_OUT = 100, 12, 16, 4


def report(args, text):
    """Print a rank's result and write it to OUT/rank<r>.txt: the launcher interleaves
    the ranks' output streams, so the tests read the files."""
    print(text, flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"rank{gd.rank()}.txt"), "w") as f:
        f.write(text + "\n")


def data():
    rng = np.random.default_rng(1234)
    x = rng.normal(size=(N_DATA, N_IN)).astype(np.float32)
    y = (x[:, :N_OUT] * np.arange(1, N_OUT + 1)).argmax(axis=1).astype(np.int64)
    return x, y


def model(rank, mismatch):
    hidden = N_HIDDEN + 1 if (mismatch == "shape" and rank == 1) else N_HIDDEN
    rng = np.random.default_rng(100 + rank)  # different on each rank: broadcast_variables must fix it
    params = [gc.Variable(rng.normal(scale=0.3, size=(N_IN, hidden)).astype(np.float32), name="hidden/kernel"),
              gc.Variable(np.zeros(hidden, np.float32), name="hidden/bias"),
              gc.Variable(rng.normal(scale=0.3, size=(hidden, N_OUT)).astype(np.float32), name="out/kernel"),
              gc.Variable(np.zeros(N_OUT, np.float32), name="out/bias")]
    if mismatch == "count" and rank == 1:
        params.append(gc.Variable(np.zeros(N_OUT, np.float32), name="out/extra_bias"))
    return params


def train(args):
    gd.init()
    rank, size = gd.rank(), gd.size()
    shards = args.ranks if size == 1 else size
    params = model(rank, args.mismatch)
    if args.mismatch is None:
        gd.broadcast_variables(params, root=0)
    opt = gd.DistributedOptimizer(gc.optim.Adam(0.01))

    @gc.compile
    def step(x, y):
        h = gc.relu(x @ params[0] + params[1])
        logits = h @ params[2] + params[3]
        if len(params) > 4:
            logits = logits + params[4]
        loss = gc.nn.sparse_softmax_cross_entropy(logits, y).mean()
        if args.clip:  # averaged in compute_gradients, clipped, applied without a second reduction
            grads, variables = zip(*opt.compute_gradients(loss))
            opt.apply_gradients(zip(gc.optim.clip_by_global_norm(list(grads), args.clip)[0], variables))
        else:
            opt.minimize(loss)
        return loss

    x, y = data()
    per_rank = N_DATA // shards  # the smallest shard: every rank runs the same number of steps
    steps_per_epoch = per_rank // args.batch
    rng = np.random.default_rng(7)
    done = 0
    while done < args.steps:
        perm = rng.permutation(N_DATA)
        for s in range(steps_per_epoch):
            if done == args.steps:
                break
            if args.fail == "exit" and done == 2:
                gd.set_timeout(5)  # strict once every rank has compiled and run steps (the first may be slow)
            if args.fail and rank == 1 and done == 3:
                if args.fail == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                if args.fail == "raise":
                    raise RuntimeError("injected failure on rank 1")
                if args.fail == "exit":
                    report(args, "rank 1 leaves the training loop")
                    return
            ranks = [rank] if size > 1 else range(shards)
            idx = np.concatenate([perm[r::shards][s * args.batch:(s + 1) * args.batch] for r in ranks])
            step(x[idx], y[idx])
            done += 1
            if args.fail:
                time.sleep(0.01)  # the surviving ranks are mid-training when rank 1 fails
    os.makedirs(args.out, exist_ok=True)
    np.savez(os.path.join(args.out, f"rank{rank}.npz"), **{p.name: p.numpy() for p in params})
    st = gd.stats()
    report(args, f"rank {rank}/{size} finished {done} steps; {st['allreduce_calls']} allreduces, "
          f"{st['allreduce_bytes']} bytes")


def compat(args):
    """A TF-1 program: DistributedOptimizer(tf.train.AdamOptimizer) and the broadcast op."""
    import graphc.compat.v1 as tf

    gd.init()
    rank = gd.rank()
    x_all, y_all = data()
    X = tf.placeholder(tf.float32, shape=(None, N_IN), name="X")
    Y = tf.placeholder(tf.int64, shape=(None,), name="Y")
    hidden = tf.layers.dense(X, N_HIDDEN, activation=tf.nn.relu, name="hidden",
                             kernel_initializer=tf.random_normal_initializer(stddev=0.3, seed=100 + rank))
    logits = tf.layers.dense(hidden, N_OUT, name="out")
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=Y, logits=logits))
    opt = gd.DistributedOptimizer(tf.train.AdamOptimizer(0.01))
    train_op = opt.minimize(loss)
    bcast = gd.broadcast_global_variables(0)
    variables = tf.global_variables()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        before = sess.run(variables[0])
        sess.run(bcast)
        for s in range(10):
            lo = (s * 10) % (N_DATA - 10)
            sess.run(train_op, feed_dict={X: x_all[lo:lo + 5] if rank == 0 else x_all[lo + 5:lo + 10],
                                          Y: y_all[lo:lo + 5] if rank == 0 else y_all[lo + 5:lo + 10]})
        values = sess.run(variables)
    os.makedirs(args.out, exist_ok=True)
    np.savez(os.path.join(args.out, f"rank{rank}.npz"), before=before,
             **{f"v{k}": v for k, v in enumerate(values)})
    report(args, f"rank {rank} compat done ({len(variables)} global variables)")


def saver(args):
    """gc.Saver writes from rank 0 only; every rank restores (shared file system), and
    gd.restore restores on rank 0 and broadcasts."""
    gd.init()
    rank = gd.rank()
    params = model(rank, None)
    s = gc.Saver(params)
    path = s.save(os.path.join(args.out, "ckpt"), global_step=rank + 1)  # a file only from rank 0
    gd.barrier()
    for p in params:
        p.assign(np.full(p.shape, -1, p.dtype))
    s.restore(os.path.join(args.out, "ckpt-1"))  # every rank reads rank 0's file
    first = [p.numpy() for p in params]
    for p in params:
        p.assign(np.full(p.shape, -1, p.dtype))
    gd.restore(s, os.path.join(args.out, "ckpt-1"), root=0)
    np.savez(os.path.join(args.out, f"rank{rank}.npz"), *[p.numpy() for p in params])
    same = all(np.array_equal(a, p.numpy()) for a, p in zip(first, params))
    try:
        gd.restore(s, os.path.join(args.out, "missing"))
        failure = None
    except Exception as e:  # rank 0: the CheckpointError itself; others: told it failed there
        failure = type(e).__name__
    report(args, f"rank {rank} saver done path={os.path.basename(path)} same={same} missing={failure}")


def collectives(args):
    """allreduce/allgather/broadcast/metric helpers across ranks, printed as JSON per rank."""
    import json

    gd.init()
    rank, size = gd.rank(), gd.size()
    local = np.arange(rank + 1, dtype=np.int64)  # uneven lengths: 1, 2, 3, ...
    labels = np.array([0, 1, 1, 0][:rank + 1])
    out = {
        "mean": gd.allreduce(np.array([rank, 2.0 * rank], np.float32)).tolist(),
        "sum": gd.allreduce(np.array([rank + 1, 1]), op="sum").tolist(),
        "max": float(gd.allreduce(float(rank), op="max")),
        "mean_int": float(gd.allreduce(rank)),
        "allgather": gd.allgather(local).tolist(),
        "broadcast": gd.broadcast(np.full(2, rank * 10.0), root=size - 1).tolist(),
        "metric": gd.metric_average(rank, weight=rank + 1),
        "accuracy": gd.global_accuracy(np.zeros(rank + 1, np.int64), labels),
    }
    report(args, json.dumps(out))


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["train", "compat", "saver", "collectives"])
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--ranks", type=int, default=1)
    ap.add_argument("--fail", choices=["kill", "raise", "exit"])
    ap.add_argument("--mismatch", choices=["shape", "count"])
    ap.add_argument("--clip", type=float, help="compute_gradients, clip_by_global_norm, apply_gradients")
    args = ap.parse_args(argv)
    try:
        {"train": train, "compat": compat, "saver": saver, "collectives": collectives}[args.mode](args)
    except BaseException as e:  # kept in OUT/error<r>.txt (stderr lines of ranks failing together interleave)
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, f"error{gd.WORLD.rank}.txt"), "w") as f:
            f.write(f"{type(e).__name__}: {e}\n")
        raise


if __name__ == "__main__":
    main(sys.argv[1:])
