"""Data-parallel MLP step over MPI: time per step, the Allreduce's share, bytes reduced.

    python bench/distributed_bench.py                 # 1 and 2 ranks, batch 64 per rank
    python bench/distributed_bench.py --ranks 1 2 3 --batch 32 --steps 200 --json out.json

Runs ``mpiexec -n N python bench/distributed_bench.py --worker`` for each N with
GRAPHC_NUM_THREADS=1 per rank and prints one row per N: the median time of a training
step on rank 0 (samples/mnist_mlp.py's 784-300-100-10 MLP, Adam, mnist10k batches of
``--batch`` per rank: weak scaling, as Horovod runs), the seconds per step spent inside
MPI_Allreduce (including waiting for the slower rank) and their share of the step,
the same Allreduce timed alone after a barrier (MPI's transfer cost without the wait),
and the bytes each rank contributes per step. On one machine with fewer cores than
ranks this measures overhead, not speed-up.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "..", "samples")


def worker(batch, steps, warmup):
    sys.path.insert(0, SAMPLES)
    import graphc.distributed as gd
    from mnist_mlp import MLP, load_mnist

    gd.init()
    rank, size = gd.rank(), gd.size()
    (x, y), _ = load_mnist()
    model = MLP(seed=0)
    model.optimizer = gd.DistributedOptimizer(model.optimizer)
    gd.broadcast_variables(model.params)
    shard_x, shard_y = x[rank::size], y[rank::size]
    n_batches = len(shard_x) // batch
    times, reduce_times = [], []
    for k in range(warmup + steps):
        lo = (k % n_batches) * batch
        xb, yb = shard_x[lo:lo + batch], shard_y[lo:lo + batch]
        before = gd.stats()["allreduce_seconds"]
        t0 = time.perf_counter()
        model.train_step(xb, yb)
        t1 = time.perf_counter()
        if k >= warmup:
            times.append(t1 - t0)
            reduce_times.append(gd.stats()["allreduce_seconds"] - before)
    st = gd.stats()
    floor = []  # the same bytes reduced by ranks already in step: MPI's own cost, without waiting
    nbytes = int(st["allreduce_bytes"] // max(st["allreduce_calls"], 1))
    if size > 1 and nbytes:
        a = np.ones(nbytes // 4, np.float32)
        out = np.empty_like(a)
        for k in range(warmup + steps):
            gd.WORLD.comm.Barrier()
            t0 = time.perf_counter()
            gd.WORLD.comm.Allreduce(a, out)
            if k >= warmup:
                floor.append(time.perf_counter() - t0)
    if rank == 0:
        times, reduce_times = np.array(times), np.array(reduce_times)
        print("RESULT " + json.dumps({
            "ranks": size, "batch_per_rank": batch, "steps": steps,
            "step_ms_median": 1e3 * float(np.median(times)),
            "allreduce_ms_median": 1e3 * float(np.median(reduce_times)),
            "allreduce_share": float(reduce_times.sum() / times.sum()),
            "allreduce_alone_ms_median": 1e3 * float(np.median(floor)) if floor else 0.0,
            "bytes_per_step": int(st["allreduce_bytes"] // max(st["allreduce_calls"], 1)),
            "examples_per_s": size * batch / float(np.median(times)),
        }), flush=True)


def _mpiexec():
    local = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return local if os.path.exists(local) else shutil.which("mpiexec")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, default=64, help="examples per rank per step")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.batch, args.steps, args.warmup)
    mpiexec = _mpiexec()
    if mpiexec is None:
        raise SystemExit("no mpiexec: pip install -e \".[distributed]\"")
    env = dict(os.environ, GRAPHC_NUM_THREADS="1")
    rows = []
    for n in args.ranks:
        cmd = [mpiexec, "-n", str(n), sys.executable, os.path.abspath(__file__), "--worker",
               "--batch", str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup)]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        line = next((l for l in r.stdout.splitlines() if l.startswith("RESULT ")), None)
        if r.returncode != 0 or line is None:
            raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        rows.append(json.loads(line[len("RESULT "):]))
    print(f"MLP 784-300-100-10 Adam step, batch {args.batch} per rank, GRAPHC_NUM_THREADS=1 per rank, "
          f"median of {args.steps} steps (rank 0), {os.cpu_count()} CPUs")
    print(f"{'ranks':>5} {'step ms':>9} {'allreduce ms':>13} {'share':>7} {'alone ms':>9} {'bytes/step':>11} "
          f"{'examples/s':>11}")
    for row in rows:
        print(f"{row['ranks']:>5} {row['step_ms_median']:>9.2f} {row['allreduce_ms_median']:>13.2f} "
              f"{100 * row['allreduce_share']:>6.1f}% {row['allreduce_alone_ms_median']:>9.2f} "
              f"{row['bytes_per_step']:>11,} {row['examples_per_s']:>11,.0f}")
    print("allreduce ms: inside MPI_Allreduce during the step (transfer + waiting for the other ranks); "
          "alone ms: the same bytes reduced right after a barrier (transfer only)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
