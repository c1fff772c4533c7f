"""The MPI world of this process: init, rank/size, and the failure guards.

MPI comes from mpi4py (the optional extra ``graphc[distributed]``, which also installs
the ``mpich`` wheel: ``mpiexec`` and libmpi with no system packages). Without a launcher
(no mpiexec/srun environment) graphc runs as one process of size 1 and never touches
MPI; launched by mpiexec without mpi4py installed, ``init`` fails with a message saying
what to install instead of silently training N unrelated copies.

Failure guards, so a broken job stops instead of hanging:

- ``init`` installs an excepthook: an uncaught exception on any rank prints its
  traceback (prefixed with the rank) and calls ``MPI_Abort``, which makes mpiexec kill
  every other rank. A rank killed by a signal is handled by mpiexec itself (MPICH's
  hydra kills the rest and reports "BAD TERMINATION").
- A watchdog thread aborts the job when this rank has waited in one collective longer
  than ``GRAPHC_DIST_TIMEOUT`` seconds (default 300): the case where another rank left
  the training loop normally, or runs a different program, and will never join.
"""
from __future__ import annotations

import os
import sys
import threading
import time

_LAUNCHER_VARS = ("PMI_SIZE", "PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")
DEFAULT_TIMEOUT = 300.0
ABORT_GRACE_SECONDS = 0.5


class DistributedError(RuntimeError):
    """A distributed-training failure: MPI missing, mismatched programs across ranks."""


class _World:
    def __init__(self):
        self.initialized = False
        self.MPI = None          # the mpi4py.MPI module when running under MPI
        self.comm = None
        self.rank, self.size, self.local_rank, self.local_size = 0, 1, 0, 1
        self.timeout = DEFAULT_TIMEOUT
        # the collective this rank is waiting in: (description, start time) or None
        self.waiting = None
        self.watchdog = None
        # counters for benchmarks: gradient reductions (calls, bytes, seconds in MPI)
        self.stats = {"allreduce_calls": 0, "allreduce_bytes": 0, "allreduce_seconds": 0.0}


WORLD = _World()


def launched_by_mpi() -> bool:
    """Whether an MPI launcher started this process (its environment variables are set)."""
    return any(v in os.environ for v in _LAUNCHER_VARS) or os.environ.get("GRAPHC_FORCE_MPI") == "1"


def _import_mpi():
    try:
        from mpi4py import MPI  # MPI_Init (thread level MULTIPLE: the watchdog may abort)
    except ImportError as e:
        raise DistributedError(
            "graphc.distributed needs mpi4py and an MPI library for more than one process: "
            "pip install -e \".[distributed]\" (mpi4py + the mpich wheel, which provides mpiexec); "
            f"import failed: {e}") from None
    return MPI


def init(timeout: float | None = None) -> None:
    """Join the MPI job this process was launched in (size 1 without a launcher).

    ``timeout``: seconds one collective may wait before the job is aborted (default
    ``GRAPHC_DIST_TIMEOUT`` or 300). Calling it again is a no-op."""
    w = WORLD
    if w.initialized:
        return
    w.timeout = float(timeout if timeout is not None else os.environ.get("GRAPHC_DIST_TIMEOUT", DEFAULT_TIMEOUT))
    if launched_by_mpi():
        MPI = _import_mpi()
        w.MPI, w.comm = MPI, MPI.COMM_WORLD
        w.rank, w.size = w.comm.Get_rank(), w.comm.Get_size()
        node = w.comm.Split_type(MPI.COMM_TYPE_SHARED, key=w.rank)
        w.local_rank, w.local_size = node.Get_rank(), node.Get_size()
        node.Free()
        if w.size > 1:
            _install_excepthook()
            _start_watchdog()
    w.initialized = True


def set_timeout(seconds: float) -> None:
    """Change the watchdog's limit (e.g. generous while the first step compiles, strict
    after)."""
    if seconds <= 0:
        raise ValueError(f"set_timeout: seconds must be positive, got {seconds}")
    WORLD.timeout = float(seconds)


def require_init(what: str):
    if not WORLD.initialized:
        raise DistributedError(f"graphc.distributed.{what}: call gd.init() first")
    return WORLD


def rank() -> int:
    return require_init("rank()").rank


def size() -> int:
    return require_init("size()").size


def local_rank() -> int:
    """This process's rank among the processes on its machine (e.g. to pick a GPU)."""
    return require_init("local_rank()").local_rank


def local_size() -> int:
    return require_init("local_size()").local_size


def is_checkpoint_writer() -> bool:
    """True on the one process that writes checkpoints (rank 0; every process before init)."""
    return not WORLD.initialized or WORLD.rank == 0


# -- failure guards -------------------------------------------------------------------------------

def abort(message: str, code: int = 1) -> None:
    """Print ``message`` (prefixed with the rank) and abort the whole MPI job."""
    w = WORLD
    try:
        sys.stderr.write(f"[graphc.distributed rank {w.rank}/{w.size}] {message}\n")
        sys.stdout.flush()
        sys.stderr.flush()
        # mpiexec kills every rank at once on MPI_Abort, and output its proxies have not
        # forwarded yet is lost (the message saying why, or another rank's): a moment first
        time.sleep(ABORT_GRACE_SECONDS)
    finally:
        if w.comm is not None:
            w.comm.Abort(code)
        os._exit(code)


def _install_excepthook() -> None:
    previous = sys.excepthook

    def hook(kind, value, tb):
        sys.stderr.write(f"[graphc.distributed rank {WORLD.rank}/{WORLD.size}] uncaught exception; "
                         "aborting every rank of the job:\n")
        previous(kind, value, tb)
        abort(f"rank {WORLD.rank} failed with {kind.__name__}: {value}")

    sys.excepthook = hook


def _start_watchdog() -> None:
    w = WORLD
    poll = max(0.05, min(1.0, w.timeout / 10))

    def watch():
        while True:
            time.sleep(poll)
            waiting = w.waiting
            if waiting is not None and time.monotonic() - waiting[1] > w.timeout:
                abort(f"waited more than {w.timeout:g} s in {waiting[0]}: another rank has failed, left the "
                      "training loop, or runs a different program; aborting the job "
                      "(GRAPHC_DIST_TIMEOUT sets this limit)")

    w.watchdog = threading.Thread(target=watch, name="graphc-distributed-watchdog", daemon=True)
    w.watchdog.start()


class waiting_in:
    """Context manager marking this rank as inside a collective (for the watchdog)."""

    __slots__ = ("what",)

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        WORLD.waiting = (self.what, time.monotonic())

    def __exit__(self, *exc):
        WORLD.waiting = None
