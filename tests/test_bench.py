"""The benchmark runner must not rot: run its --quick mode end to end (graphc cases, the
peer subprocess, the cold compile), and check the peer bookkeeping and --isa setup."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.isa import bench_env  # noqa: E402
from bench.peers import format_peer_table, merge_peer_results  # noqa: E402


def test_bench_quick(tmp_path):
    """Peers run through this interpreter, which has neither jax nor torch (graphc never
    needs them): the run reports them as unavailable and still succeeds."""
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json", str(out), "--peers", "jax,torch",
                        "--peers-python", sys.executable], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(out.read_text())
    rows = report["rows"]
    names = {row["case"] for row in rows}
    for prefix in ("elementwise_chain", "sgemm", "mlp_adam_step", "mlp_sgd_step", "call_overhead", "rnn_forward",
                   "rnn_adam_step", "cnn_forward", "lstm_step"):
        assert any(n.startswith(prefix) for n in names), prefix
    for row in rows:
        assert row["fused_ms"] > 0 and row["naive_ms"] > 0 and row["numpy_ms"] > 0
        assert row["kernels_fused"] <= row["kernels_naive"]
        for fw in ("jax", "torch"):  # each peer has a time or says why not
            entry = row["peers"][fw]
            assert entry.get("ms", 0) > 0 or "not available" in entry["error"], entry
    assert report["isa"] == "native"
    assert report["cold_compile"]["graphc"]["first_call_s"] > 0
    assert "vs naive" in r.stdout and "/jax" in r.stdout and "cold compile" in r.stdout


def test_peer_results_are_merged_as_ratios():
    rows = [{"case": "sgemm_1024", "fused_ms": 20.0}, {"case": "softmax_4096x1024", "fused_ms": 3.0}]
    peers = {"cases": {"jax": {"sgemm_1024": {"ms": 10.0, "min_ms": 9.0}, "softmax_4096x1024": {"error": "boom"}},
                       "torch": {"error": "not available: ModuleNotFoundError: No module named 'torch'"}},
             "versions": {"jax": "0.0"}}
    merge_peer_results(rows, peers)
    assert rows[0]["peers"]["jax"]["graphc_ratio"] == pytest.approx(2.0)
    assert "graphc_ratio" not in rows[1]["peers"]["jax"] and rows[1]["peers"]["jax"]["error"] == "boom"
    assert "not available" in rows[0]["peers"]["torch"]["error"]
    table = format_peer_table(rows, peers)
    assert "2.00x" in table and "torch: not available" in table


def test_isa_environment():
    base = {"PATH": "/bin", "OPENBLAS_CORETYPE": "Prescott", "OPENBLAS_L2_SIZE": "1", "XLA_FLAGS": "--xla_foo"}
    native = bench_env(base, "native")
    assert "OPENBLAS_CORETYPE" not in native and "OPENBLAS_L2_SIZE" not in native
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    if " avx2" in flags and " fma" in flags:
        avx2 = bench_env(base, "avx2")
        assert avx2["GRAPHC_CPU"] == "haswell" and avx2["OPENBLAS_CORETYPE"] == "Haswell"
        assert avx2["XLA_FLAGS"] == "--xla_foo --xla_cpu_max_isa=AVX2" and avx2["ATEN_CPU_CAPABILITY"] == "avx2"
    if " avx512f" not in flags:
        with pytest.raises(SystemExit, match="avx512f"):
            bench_env(base, "avx512")
    with pytest.raises(SystemExit, match="--isa"):
        bench_env(base, "neon9")


def test_graphc_never_imports_the_peers():
    """JAX and PyTorch are bench peers only (the optional [peers] extra): no module of the
    graphc package imports them."""
    import re

    pattern = re.compile(r"^\s*(import|from)\s+(jax|torch|jaxlib)\b", re.M)
    offenders = []
    for folder in ("graphc", "runtime"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    with open(path, encoding="utf-8") as f:
                        if pattern.search(f.read()):
                            offenders.append(os.path.relpath(path, ROOT))
    assert not offenders, offenders


def test_plot_writes_roofline_and_bars(tmp_path):
    """--plot (issue 16): one quick case, a PNG with both charts."""
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'graphc[plot]'); "
                                              "--plot's missing-matplotlib message is tested below")
    out = tmp_path / "bench.png"
    r = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "softmax", "--peers", "none", "--no-cold",
                        "--plot", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {out}" in r.stdout


def test_plot_without_matplotlib_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    import bench.plot
    from bench.runner import main

    monkeypatch.setattr(bench.plot, "have_matplotlib", lambda: False)
    with pytest.raises(SystemExit) as e:
        main(["--quick", "--plot", str(tmp_path / "x.png")])
    assert e.value.code == 2
    assert "pip install 'graphc[plot]'" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_plot_totals_follow_explain_counts():
    """The roofline's bytes and flops are explain's: the fused chain moves fewer bytes
    than the naive one for the same flops."""
    from bench.cases import default_cases
    from bench.plot import totals

    case = next(c for c in default_cases(True) if c.name.startswith("elementwise_chain"))
    fused, naive = totals(case)
    assert fused["flops"] == naive["flops"] > 0
    assert fused["bytes"] < naive["bytes"]
    x = case.args[0]
    assert fused["bytes"] >= 2 * x.nbytes  # at least the input read and the output written
