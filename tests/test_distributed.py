"""graphc.distributed (issue 12): data-parallel training over MPI, checked by running
tests/distributed_scripts/worker.py under ``mpiexec -n 2`` / ``-n 3``.

Needs mpi4py and an MPI launcher (``pip install -e ".[distributed]"``). Without them
these tests are skipped with that reason, unless GRAPHC_REQUIRE_MPI=1 (set by .ci/run),
where they fail instead: CI must not pass by skipping them.

Every launch runs with GRAPHC_NUM_THREADS=1 per rank (the machine has 2 cores) and a
timeout, so a hang fails the test instead of blocking the suite.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "distributed_scripts", "worker.py")
REQUIRED = os.environ.get("GRAPHC_REQUIRE_MPI") == "1"
TIMEOUT = 120  # seconds per launch; a launch that hangs fails here


def _mpiexec():
    """The mpiexec next to this Python (the mpich wheel installs it there), else on PATH."""
    local = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return local if os.path.exists(local) else shutil.which("mpiexec")


MPI_MISSING = None
if importlib.util.find_spec("mpi4py") is None:
    MPI_MISSING = "mpi4py is not installed (pip install -e \".[distributed]\")"
elif _mpiexec() is None:
    MPI_MISSING = "no mpiexec found (pip install mpich)"

if MPI_MISSING and REQUIRED:
    raise RuntimeError(f"GRAPHC_REQUIRE_MPI=1 but {MPI_MISSING}: the distributed tests cannot run")
needs_mpi = pytest.mark.skipif(MPI_MISSING is not None, reason=MPI_MISSING or "")


def _env(**extra):
    env = dict(os.environ, GRAPHC_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("GRAPHC_DIST_TIMEOUT", None)
    env.update(extra)
    return env


def launch(n, *args, env=None, check=True):
    """Run the worker under ``mpiexec -n n`` (n=None: one plain process, no launcher)."""
    cmd = ([_mpiexec(), "-n", str(n)] if n else []) + [sys.executable, WORKER, *map(str, args)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env or _env(), cwd=HERE)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def load(directory, rank):
    with np.load(os.path.join(directory, f"rank{rank}.npz")) as f:
        return {k: f[k] for k in f.files}


def reports(directory, ranks, kind="rank"):
    """Each rank's result line (OUT/rank<r>.txt) or error (OUT/error<r>.txt); None if absent.
    Read from files: the launcher interleaves the ranks' stdout and stderr."""
    out = []
    for r in range(ranks):
        path = os.path.join(directory, f"{kind}{r}.txt")
        out.append(open(path).read().strip() if os.path.exists(path) else None)
    return out


# 2 ranks x batch b against one process x batch 2b on the same examples: the mean of
# two per-rank means equals the mean over 2b examples up to float32 rounding; through 20
# Adam steps the weights agree within 1e-6 absolute (measured: <= 1e-7).
ATOL = 1e-6


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_ranks_hold_identical_variables_equal_to_one_process_with_the_global_batch(ranks, tmp_path):
    """-n 3 on 100 examples gives uneven shards (34, 33, 33): every rank still runs the same steps."""
    launch(ranks, "train", tmp_path / "mpi", "--steps", 20, "--batch", 4)
    for line in reports(tmp_path / "mpi", ranks):
        assert "finished 20 steps; 20 allreduces" in line, line  # one Allreduce per step
    per_rank = [load(tmp_path / "mpi", k) for k in range(ranks)]
    for other in per_rank[1:]:
        for name, value in per_rank[0].items():
            assert np.array_equal(value, other[name]), f"{name} differs between ranks"  # bit-identical
    launch(None, "train", tmp_path / "one", "--steps", 20, "--batch", 4, "--ranks", ranks)
    single = load(tmp_path / "one", 0)
    for name, value in per_rank[0].items():
        np.testing.assert_allclose(value, single[name], rtol=0, atol=ATOL, err_msg=name)
    assert any(np.abs(v).max() > 0.1 for v in single.values())  # it trained (weights are not all tiny)


@needs_mpi
def test_compute_clip_apply_reduces_once_per_step(tmp_path):
    """Gradients averaged by compute_gradients and then clipped are not reduced again."""
    launch(2, "train", tmp_path / "mpi", "--steps", 6, "--clip", 0.5)
    assert all("finished 6 steps; 6 allreduces" in line for line in reports(tmp_path / "mpi", 2))
    a, b = load(tmp_path / "mpi", 0), load(tmp_path / "mpi", 1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    launch(None, "train", tmp_path / "one", "--steps", 6, "--ranks", 2, "--clip", 0.5)
    single = load(tmp_path / "one", 0)
    for name, value in a.items():
        np.testing.assert_allclose(value, single[name], rtol=0, atol=ATOL, err_msg=name)


@needs_mpi
def test_a_killed_rank_stops_the_job(tmp_path):
    r = launch(2, "train", tmp_path, "--steps", 100000, "--fail", "kill", check=False)
    assert r.returncode != 0
    assert reports(tmp_path, 2) == [None, None]  # no rank finished
    assert "BAD TERMINATION" in r.stdout + r.stderr or "Killed" in r.stdout + r.stderr, r.stdout + r.stderr


@needs_mpi
def test_a_rank_that_raises_aborts_the_others(tmp_path):
    r = launch(2, "train", tmp_path, "--steps", 100000, "--fail", "raise", check=False)
    assert r.returncode != 0 and reports(tmp_path, 2) == [None, None]
    assert reports(tmp_path, 2, "error") == [None, "RuntimeError: injected failure on rank 1"]
    assert "aborting every rank of the job" in r.stderr  # the excepthook (only rank 1 writes to stderr)


@needs_mpi
def test_a_rank_that_leaves_the_loop_makes_the_others_stop_after_the_timeout(tmp_path):
    r = launch(2, "train", tmp_path, "--steps", 100000, "--fail", "exit", check=False)  # gd.set_timeout(5) after 2 steps
    assert r.returncode != 0
    assert reports(tmp_path, 2) == [None, "rank 1 leaves the training loop"]  # rank 0 never finished
    assert "waited more than 5 s in the gradient Allreduce" in r.stderr, r.stderr  # rank 0's watchdog


@needs_mpi
@pytest.mark.parametrize("kind, message", [
    ("shape", "variable #0 'hidden/kernel' differs (rank 0: 'hidden/kernel' float32[12, 16]; "
              "rank 1: 'hidden/kernel' float32[12, 17])"),
    ("count", "variable #4 'out/extra_bias' differs (rank 0: none; rank 1: 'out/extra_bias' float32[4]); "
              "variable counts: rank 0: 4, rank 1: 5"),
])
def test_mismatched_programs_fail_at_the_first_step_naming_the_variable(kind, message, tmp_path):
    r = launch(2, "train", tmp_path, "--mismatch", kind, check=False)
    assert r.returncode != 0 and reports(tmp_path, 2) == [None, None]
    errors = [e for e in reports(tmp_path, 2, "error") if e is not None]
    assert errors, r.stderr  # (a rank may be stopped by the other's abort before it writes its own)
    for e in errors:
        assert e.startswith("DistributedError: ") and message in e and "the first gradient Allreduce" in e, e


@needs_mpi
def test_compat_v1_distributed_optimizer_and_broadcast_global_variables(tmp_path):
    launch(2, "compat", tmp_path)
    assert all("compat done" in line for line in reports(tmp_path, 2))
    a, b = load(tmp_path, 0), load(tmp_path, 1)
    assert not np.array_equal(a["before"], b["before"])  # per-rank seeds: different initial kernels
    for name in a:
        if name != "before":
            assert np.array_equal(a[name], b[name]), name  # broadcast, then identical averaged updates


@needs_mpi
def test_saver_writes_from_rank_0_only_and_every_rank_restores(tmp_path):
    launch(2, "saver", tmp_path)
    assert reports(tmp_path, 2) == ["rank 0 saver done path=ckpt-1 same=True missing=CheckpointError",
                                    "rank 1 saver done path=ckpt-2 same=True missing=DistributedError"]
    # (gd.restore of a missing file raises on every rank: the error itself on the root)
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith("ckpt")) == ["ckpt-1.npz"]  # rank 1 wrote none
    a, b = load(tmp_path, 0), load(tmp_path, 1)
    assert all(np.array_equal(a[k], b[k]) for k in a)


@needs_mpi
def test_collectives_across_3_ranks(tmp_path):
    import json

    launch(3, "collectives", tmp_path)
    results = [json.loads(line) for line in reports(tmp_path, 3)]
    assert len(results) == 3 and all(x == results[0] for x in results)  # every rank gets the same answers
    got = results[0]
    assert got["mean"] == [1.0, 2.0] and got["sum"] == [6, 3] and got["max"] == 2.0 and got["mean_int"] == 1.0
    assert got["allgather"] == [0, 0, 1, 0, 1, 2]                      # uneven lengths, rank order
    assert got["broadcast"] == [20.0, 20.0]                            # from the last rank
    assert got["metric"] == (0 * 1 + 1 * 2 + 2 * 3) / 6                # weighted by each rank's count
    assert got["accuracy"] == 3 / 6                                    # labels 0 | 0,1 | 0,1,1 vs all-zero guesses


def test_without_mpiexec_everything_is_size_1():
    code = ("import numpy as np, graphc.distributed as gd, sys; gd.init(); "
            "print(gd.rank(), gd.size(), gd.local_rank(), gd.allreduce(np.float32(3)), gd.allgather(np.arange(2)), "
            "gd.broadcast(np.ones(2)), gd.global_accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1])), "
            "'mpi4py' in sys.modules)")
    env = {k: v for k, v in _env().items() if not k.startswith(("PMI", "PMIX", "OMPI", "MPI_", "GRAPHC_REQUIRE"))}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "1", "0", "3.0", "[0", "1]", "[1.", "1.]", "0.5", "False"]


def test_launched_by_mpiexec_without_mpi4py_says_what_to_install():
    code = "import sys; sys.modules['mpi4py'] = None; import graphc.distributed as gd; gd.init()"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT,
                       env=_env(PMI_SIZE="2", PMI_RANK="0"))
    assert r.returncode != 0
    assert "DistributedError" in r.stderr and 'pip install -e ".[distributed]"' in r.stderr, r.stderr
