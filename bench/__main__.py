"""`python -m bench`: see runner.py.

Environment, set before anything is imported (the libraries read it at load time), by
re-executing this process once with it:

- numpy's OpenBLAS is the baseline, and this machine may set OPENBLAS_CORETYPE /
  OPENBLAS_L2_SIZE (a workaround for old OpenBLAS builds) which slow it down; they are
  removed so numpy runs at its best.
- ``--isa avx2`` measures every framework's AVX2 code on a newer machine: graphc with
  GRAPHC_CPU=haswell, OpenBLAS with OPENBLAS_CORETYPE=Haswell, XLA with
  --xla_cpu_max_isa=AVX2, PyTorch with ATEN_CPU_CAPABILITY=avx2 and
  ONEDNN_MAX_CPU_ISA=AVX2. ``--isa avx512`` does the same for AVX-512 (where the host
  has it; graphc then targets the host CPU).
"""
import os
import sys

from .isa import bench_env, isa_arg

if not os.environ.get("GRAPHC_BENCH_KEEP_ENV"):
    _env = bench_env(os.environ, isa_arg(sys.argv[1:]))
    if _env != dict(os.environ):
        _env["GRAPHC_BENCH_KEEP_ENV"] = "1"
        os.execve(sys.executable, [sys.executable, "-m", "bench", *sys.argv[1:]], _env)

from .runner import main  # noqa: E402

raise SystemExit(main())
