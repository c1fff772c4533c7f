"""`python -m bench`: see runner.py.

numpy's OpenBLAS is the baseline, and this machine may set OPENBLAS_CORETYPE /
OPENBLAS_L2_SIZE (a workaround for old OpenBLAS builds) which slow it down; the runner
re-executes itself once without those two variables so numpy runs at its best.
"""
import os
import sys

_SLOWING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

if any(v in os.environ for v in _SLOWING) and not os.environ.get("GRAPHC_BENCH_KEEP_ENV"):
    env = {k: v for k, v in os.environ.items() if k not in _SLOWING}
    env["GRAPHC_BENCH_KEEP_ENV"] = "1"
    os.execve(sys.executable, [sys.executable, "-m", "bench", *sys.argv[1:]], env)

from .runner import main  # noqa: E402

raise SystemExit(main())
