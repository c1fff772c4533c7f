"""The environment a bench run uses for an instruction set (see bench/__main__.py)."""
from __future__ import annotations

_SLOWING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
ISA_ENV = {
    "native": {},
    "avx2": {"GRAPHC_CPU": "haswell", "OPENBLAS_CORETYPE": "Haswell", "XLA_FLAGS": "--xla_cpu_max_isa=AVX2",
             "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "avx512": {"XLA_FLAGS": "--xla_cpu_max_isa=AVX512", "ATEN_CPU_CAPABILITY": "avx512",
               "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
}


def isa_arg(argv):
    """The value of --isa in a command line (default: native)."""
    for k, a in enumerate(argv):
        if a == "--isa" and k + 1 < len(argv):
            return argv[k + 1]
        if a.startswith("--isa="):
            return a.split("=", 1)[1]
    return "native"


def _host_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def bench_env(environ, isa):
    """The environment the bench runs in for ``isa`` (raises SystemExit when the host cannot)."""
    if isa not in ISA_ENV:
        raise SystemExit(f"bench: --isa must be one of {', '.join(ISA_ENV)}, not {isa!r}")
    need = {"avx2": {"avx2", "fma"}, "avx512": {"avx512f"}}.get(isa, set())
    missing = need - _host_flags()
    if missing:
        raise SystemExit(f"bench: --isa {isa} needs a CPU with {', '.join(sorted(missing))}; this host has none")
    env = {k: v for k, v in environ.items() if k not in _SLOWING}
    for k, v in ISA_ENV[isa].items():
        env[k] = f"{env[k]} {v}" if k == "XLA_FLAGS" and env.get(k) else v
    if isa == "avx512":
        env.pop("GRAPHC_CPU", None)
    env["GRAPHC_BENCH_ISA"] = isa
    return env
