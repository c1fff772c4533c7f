"""The benchmark runner must not rot: run its --quick mode end to end."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_quick(tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    names = {row["case"] for row in rows}
    assert any(n.startswith("elementwise_chain") for n in names) and any(n.startswith("sgemm") for n in names)
    for row in rows:
        assert row["fused_ms"] > 0 and row["naive_ms"] > 0 and row["numpy_ms"] > 0
        assert row["kernels_fused"] <= row["kernels_naive"]
    assert "vs naive" in r.stdout
