"""Data-parallel training over MPI (issue 12), with Horovod's API.

    import graphc as gc
    import graphc.distributed as gd

    gd.init()                                   # size 1 without mpiexec
    opt = gd.DistributedOptimizer(gc.optim.Adam(1e-3))
    gd.broadcast_variables(params, root=0)      # identical start on every rank

    @gc.compile
    def train_step(x, y):                       # each rank feeds its own shard
        loss = gc.nn.sparse_softmax_cross_entropy(model(x), y).mean()
        opt.minimize(loss)                      # gradients averaged over ranks first
        return loss

Run with ``mpiexec -n 2 python train.py``. Needs the extra ``pip install -e
".[distributed]"`` (mpi4py + the mpich wheel) for more than one process. See
docs/DISTRIBUTED.md for the design, failure behaviour and multi-host launches.

- ``init``, ``rank``, ``size``, ``local_rank``, ``local_size``, ``barrier``, ``set_timeout``
- ``DistributedOptimizer(opt)``: one packed Allreduce per step inside the compiled step
- ``allreduce(a, op="mean"|"sum"|"max"|"min")``, ``allgather(a)``, ``broadcast(a, root)``
- ``broadcast_variables(variables, root)``, ``restore(saver, path, root)``
- ``metric_average(value, weight)``, ``global_accuracy(predictions, labels)``
- ``broadcast_global_variables(root)``: the compat.v1 op (after the initializer)
- ``stats()``: gradient reductions so far (calls, bytes, seconds), for benchmarks
"""
from __future__ import annotations

from ._comm import (DistributedError, init, is_checkpoint_writer, launched_by_mpi, local_rank, local_size, rank,
                    require_init, set_timeout, size, WORLD)
from .collectives import (allgather, allreduce, broadcast, broadcast_variables, global_accuracy, metric_average,
                          restore)
from .compat import broadcast_global_variables
from .optimizer import DistributedOptimizer, allreduce_gradients

__all__ = ["init", "rank", "size", "local_rank", "local_size", "barrier", "is_checkpoint_writer", "set_timeout",
           "DistributedOptimizer", "allreduce_gradients", "allreduce", "allgather", "broadcast",
           "broadcast_variables", "broadcast_global_variables", "restore", "metric_average", "global_accuracy",
           "stats", "reset_stats", "DistributedError"]


def barrier() -> None:
    """Wait until every rank gets here (e.g. before reading a checkpoint rank 0 wrote)."""
    from ._comm import waiting_in

    w = require_init("barrier")
    if w.size > 1:
        with waiting_in("barrier"):
            w.comm.Barrier()


def stats() -> dict:
    """Gradient Allreduces of this process so far: calls, bytes sent, seconds in MPI."""
    return dict(WORLD.stats)


def reset_stats() -> None:
    for k in WORLD.stats:
        WORLD.stats[k] = 0.0 if k.endswith("seconds") else 0
