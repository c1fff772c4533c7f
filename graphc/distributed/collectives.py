"""Collectives on numpy arrays and Variables, and the cross-rank program check.

Every data transfer uses mpi4py's buffer interface (``Allreduce``, ``Bcast``,
``Allgatherv`` on numpy arrays: no pickling); only error paths and tiny metadata
(an array's shape before a broadcast) go through mpi4py's pickled lower-case calls.
With size 1 every function is the identity (a copy), so the same script runs with and
without mpiexec.
"""
from __future__ import annotations

import hashlib

import numpy as np

from ._comm import WORLD, DistributedError, require_init, waiting_in

_OPS = ("sum", "mean", "max", "min")


def _mpi_op(op):
    MPI = WORLD.MPI
    return {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}[op]


def allreduce(array, op: str = "mean"):
    """The elementwise ``op`` ("mean", "sum", "max", "min") of ``array`` over all ranks
    (same shape on every rank). The mean of an integer array is float64."""
    w = require_init("allreduce")
    if op not in _OPS:
        raise ValueError(f"allreduce: op must be one of {', '.join(_OPS)}, got {op!r}")
    scalar = np.ndim(array) == 0
    x = np.array(array, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
    if op == "mean" and x.dtype.kind in "biu":
        x = x.astype(np.float64)
    out = x  # (a copy already)
    if w.size > 1:
        out = np.empty_like(x)
        with waiting_in(f"allreduce({op}) of {x.dtype.name}{list(x.shape)}"):
            w.comm.Allreduce(x, out, op=_mpi_op(op))
        if op == "mean":
            out /= out.dtype.type(w.size)
    return out[()] if scalar else out


def allgather(array):
    """The ranks' arrays concatenated along axis 0, in rank order (leading sizes may
    differ; the other dimensions and the dtype must agree). A scalar gives one value per rank."""
    w = require_init("allgather")
    x = np.array(array, order="C").reshape(-1 if np.ndim(array) == 0 else np.shape(array))
    if w.size == 1:
        return x.copy()
    with waiting_in(f"allgather of {x.dtype.name}{list(x.shape)}"):
        meta = w.comm.allgather((x.shape[1:], x.dtype.str))  # tiny; checked before the data moves
        if any(m != meta[0] for m in meta):
            raise DistributedError("allgather: ranks disagree on the trailing shape or dtype: " +
                                   ", ".join(f"rank {r}: {np.dtype(d).name}[*, {', '.join(map(str, s))}]"
                                             for r, (s, d) in enumerate(meta)))
        counts = np.empty(w.size, np.int64)
        w.comm.Allgather(np.array([x.shape[0]], np.int64), counts)
        out = np.empty((int(counts.sum()),) + x.shape[1:], x.dtype)
        row = int(np.prod(x.shape[1:], dtype=np.int64))
        w.comm.Allgatherv(x, [out, (counts * row).tolist()])
    return out


def broadcast(array, root: int = 0):
    """``root``'s array on every rank (its shape and dtype too: the other ranks'
    arguments are not used, so they may pass None)."""
    w = require_init("broadcast")
    if w.size == 1:
        return np.array(array, order="C")
    with waiting_in(f"broadcast from rank {root}"):
        x = np.array(array, order="C") if w.rank == root else None
        shape, dtype = w.comm.bcast((x.shape, x.dtype.str) if w.rank == root else None, root=root)
        out = x if w.rank == root else np.empty(shape, dtype)
        w.comm.Bcast(out, root=root)
    return out


# -- Variables ------------------------------------------------------------------------------------

def variable_signature(variables) -> list:
    """(name, shape, dtype) per Variable, the identity ranks must agree on."""
    return [(v.name, tuple(int(d) for d in v.shape), str(v.dtype)) for v in variables]


def verify_same_program(signature: list, what: str) -> None:
    """Check that every rank holds the same (name, shape, dtype) list before ``what``
    moves any data: a fixed-size Allgather of a digest (32 bytes); only when digests
    differ are the lists themselves gathered, to name the first variable that differs."""
    w = WORLD
    if w.size == 1:
        return
    digest = np.frombuffer(hashlib.sha256(repr(signature).encode()).digest(), np.uint8)
    every = np.empty((w.size, digest.size), np.uint8)
    with waiting_in(f"the program check before {what}"):
        w.comm.Allgather(digest, every)
        if (every == digest).all():
            return
        lists = w.comm.allgather(signature)
    raise DistributedError(f"graphc.distributed: the ranks run different programs ({what}): "
                           + describe_difference(lists))


def describe_difference(lists) -> str:
    """The first variable whose name, shape or dtype differs between ranks, or the counts."""
    def fmt(entry):
        name, shape, dtype = entry
        return f"'{name}' {dtype}{list(shape)}"

    longest = max(len(x) for x in lists)
    for k in range(longest):
        entries = [x[k] if k < len(x) else None for x in lists]
        if any(e != entries[0] for e in entries):
            per_rank = "; ".join(f"rank {r}: {fmt(e) if e is not None else 'none'}" for r, e in enumerate(entries))
            named = next(e for e in entries if e is not None)[0]
            counts = ", ".join(f"rank {r}: {len(x)}" for r, x in enumerate(lists))
            return f"variable #{k} '{named}' differs ({per_rank}); variable counts: {counts}"
    return "the variable lists are equal but their digests differ"


def _packed_groups(variables):
    """Variables grouped by dtype (each group is one contiguous buffer)."""
    groups: dict = {}
    for v in variables:
        groups.setdefault(str(v.dtype), []).append(v)
    return groups


def broadcast_variables(variables, root: int = 0) -> None:
    """Give every rank ``root``'s values of ``variables`` (gc.Variables, same list on
    every rank): one ``Bcast`` per dtype over a packed buffer, after the program check."""
    w = require_init("broadcast_variables")
    variables = list(variables)
    if w.size == 1 or not variables:
        return
    verify_same_program(variable_signature(variables), "broadcast_variables")
    for dtype, group in _packed_groups(variables).items():
        if w.rank == root:
            flat = np.concatenate([v.numpy().ravel() for v in group])
        else:
            flat = np.empty(sum(int(np.prod(v.shape, dtype=np.int64)) for v in group), dtype)
        with waiting_in(f"broadcast_variables from rank {root}"):
            w.comm.Bcast(flat, root=root)
        if w.rank != root:
            offset = 0
            for v in group:
                n = int(np.prod(v.shape, dtype=np.int64))
                v.assign(flat[offset:offset + n].reshape(v.shape))
                offset += n


def restore(saver, save_path: str, root: int = 0) -> None:
    """Restore a gc.Saver checkpoint on ``root`` only, then broadcast the values (for
    machines that do not share the checkpoint's file system). An error on the root is
    raised on every rank."""
    w = require_init("restore")
    error = None
    if w.rank == root:
        try:
            saver.restore(save_path)
        except Exception as e:  # sent to the other ranks, then raised here too
            error = e
    if w.size > 1:
        with waiting_in(f"restore on rank {root}"):
            message = w.comm.bcast(None if error is None else f"{type(error).__name__}: {error}", root=root)
        if message is not None and error is None:
            raise DistributedError(f"restore failed on rank {root}: {message}")
    if error is not None:
        raise error
    broadcast_variables(list(saver._vars.values()), root=root)


# -- metrics --------------------------------------------------------------------------------------

def metric_average(value, weight=None) -> float:
    """The weighted mean over ranks of a per-rank metric (weight: e.g. the rank's
    example count, so uneven shards count per example)."""
    require_init("metric_average")
    wgt = 1.0 if weight is None else float(weight)
    total = allreduce(np.array([float(value) * wgt, wgt], np.float64), op="sum")
    return float(total[0] / total[1])


def global_accuracy(predictions, labels) -> float:
    """The fraction of correct predictions over every rank's examples: ``predictions``
    are class ids, or scores/logits (argmax over the last axis)."""
    require_init("global_accuracy")
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.ndim == labels.ndim + 1:
        predictions = predictions.argmax(axis=-1)
    if predictions.shape != labels.shape:
        raise ValueError(f"global_accuracy: predictions {predictions.shape} and labels {labels.shape} differ")
    counts = allreduce(np.array([(predictions == labels).sum(), labels.size], np.int64), op="sum")
    return float(counts[0]) / max(int(counts[1]), 1)
