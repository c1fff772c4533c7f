"""f.explain and the trace profiler (issue 16).

explain's byte counts are checked against the memory plan and the program's ABI
(a fused chain moves only its inputs, constants and outputs; the naive mode moves
every intermediate twice), its flops against op counts, and its fusion notes
against the decisions the fusion pass made. The trace is checked as trace-event
JSON with one span per step per call on the calling thread. No timing is asserted
beyond "measured, positive".
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc as gc
from graphc import compiler, profiler

N = 1 << 16


def chain(x):
    # every value has exactly one consumer: naive mode reads each intermediate once
    return gc.exp(gc.tanh(x * 2.0) + 1.0)


def _x():
    return np.linspace(-1, 1, N, dtype=np.float32)


def _constants_bytes(program):
    return sum(b.nbytes for s in program.kernels for b in getattr(s, "reads", {}).values() if b.kind == "constant")


def test_explain_fused_chain_moves_inputs_and_outputs_only():
    f = gc.compile(chain)
    x = _x()
    report = json.loads(f.explain(x, format="json", repeat=2))
    program = f._compile((x,)).program
    assert len(report["steps"]) == 1
    step = report["steps"][0]
    assert [o["op"] for o in step["ops"]] == ["multiply", "tanh", "add", "exp"]
    assert all(o["line"].endswith(f"test_explain_profile.py:{chain.__code__.co_firstlineno + 2}") for o in step["ops"])
    assert step["bytes_read"] == x.nbytes + _constants_bytes(program)
    assert step["bytes_written"] == x.nbytes
    assert step["flops"] == 4 * N
    assert step["shape"] == [N]
    assert report["measured"] and step["seconds"] > 0 and step["gbs"] > 0 and step["roofline_pct"] > 0
    assert report["machine"]["bandwidth_gbs"] > 0 and report["machine"]["fma_peak_gflops"] > 0


def test_explain_naive_chain_moves_every_intermediate_twice():
    f = gc.compile(chain, fuse=False)
    x = _x()
    report = json.loads(f.explain(x, format="json", repeat=1))
    program = f._compile((x,)).program
    plan = f.memory_plan(x)
    assert len(report["steps"]) == 4
    assert plan["naive_bytes"] == 3 * x.nbytes  # three intermediates
    t = report["total"]
    assert t["bytes_read"] + t["bytes_written"] == (x.nbytes + _constants_bytes(program) + x.nbytes
                                                    + 2 * plan["naive_bytes"])
    assert t["flops"] == 4 * N
    assert "naive mode" in report["not_fused"][0]["reason"]


def test_explain_gemm_flops_and_epilogue():
    w = np.ones((64, 48), np.float32)

    @gc.compile
    def dense(x, b):
        return gc.relu(x @ w + b)

    x, b = np.ones((256, 64), np.float32), np.zeros(48, np.float32)
    report = json.loads(dense.explain(x, b, format="json", repeat=1))
    gemm = [s for s in report["steps"] if s["kind"].startswith("gemm")]
    assert len(gemm) == 1 and gemm[0]["kind"] == "gemm+epilogue"
    assert gemm[0]["flops"] == 2 * 256 * 48 * 64 + 2 * 256 * 48  # matmul + add, relu
    assert gemm[0]["bytes_read"] == x.nbytes + w.nbytes + b.nbytes
    assert gemm[0]["bytes_written"] == 256 * 48 * 4
    notes = {n["op"]: n["reason"] for n in report["not_fused"]}
    assert "epilogue" in notes["matmul"]


def test_explain_names_why_producers_were_not_fused(capsys):
    @gc.compile
    def two_uses(x):
        y = gc.exp(x)
        return y.sum(axis=0), y * 2.0

    x = np.ones((32, 16), np.float32)
    report = two_uses.explain(x, repeat=1)
    printed = capsys.readouterr().out
    reasons = {n["op"]: n["reason"] for n in report["not_fused"]}
    assert "2 consumers in 2 different kernels" in reasons["exp"]
    assert "only reductions over trailing axes fuse" not in reasons.get("exp", "")
    assert "not fused into their consumers" in printed and "2 consumers" in printed
    assert "% roofline" in printed and "k0_" in printed


def test_explain_reports_a_non_trailing_reduction():
    @gc.compile
    def col_then_scale(x):
        return gc.exp(x).sum(axis=0) * 3.0

    x = np.ones((32, 16), np.float32)
    report = json.loads(col_then_scale.explain(x, format="json", repeat=1))
    notes = [n for n in report["not_fused"] if n["op"] == "reduce_sum"]
    assert notes and "axes (0,)" in notes[0]["reason"]


def test_explain_restores_variables():
    v = gc.Variable(np.zeros(8, np.float32), name="v")

    @gc.compile
    def step(x):
        v.assign(v + x)
        return v.sum()

    x = np.ones(8, np.float32)
    step(x)
    before = v.numpy()
    step.explain(x, repeat=3, file=open(os.devnull, "w"))
    np.testing.assert_array_equal(v.numpy(), before)


def test_explain_symbolic_program():
    f = gc.compile(lambda x: gc.tanh(x) * 2.0, dynamic="batch")
    x = np.ones((10, 4), np.float32)
    report = json.loads(f.explain(x, format="json", repeat=1))
    assert report["steps"][0]["bytes_written"] == x.nbytes and report["measured"]


def test_explain_rejects_unknown_format():
    f = gc.compile(chain)
    with pytest.raises(ValueError, match="format"):
        f.explain(_x(), format="xml")


def _events(path):
    with open(path) as f:
        data = json.load(f)
    events = data["traceEvents"]
    for e in events:
        assert {"name", "ph", "pid", "tid"} <= set(e)
        if e["ph"] == "X":
            assert isinstance(e["ts"], (int, float)) and e["dur"] >= 0
    return [e for e in events if e["ph"] == "X"]


def test_profile_writes_one_span_per_step_per_call(tmp_path):
    f = gc.compile(chain, fuse=False)
    x = _x()
    want = np.exp(np.tanh(x * 2.0) + 1.0)
    path = str(tmp_path / "trace.json")
    import threading

    with gc.profile(path):
        assert compiler._PROFILING
        for _ in range(3):
            np.testing.assert_allclose(f(x), want, rtol=2e-6)
    assert not compiler._PROFILING
    spans = _events(path)
    program = f._compile((x,)).program
    main = threading.get_native_id()
    steps = [e for e in spans if e["cat"] == "step"]
    calls = [e for e in spans if e["cat"] == "call"]
    assert len(calls) == 3
    on_main = [e for e in steps if e["tid"] == main]
    assert sorted(e["name"] for e in on_main) == sorted([s.name for s in program.kernels] * 3)
    for c in calls:  # each call's steps lie inside its span, in program order
        inside = sorted((e for e in on_main if c["ts"] - 1 <= e["ts"] <= c["ts"] + c["dur"] + 1), key=lambda e: e["ts"])
        assert [e["name"] for e in inside] == [s.name for s in program.kernels]
    for tid in {e["tid"] for e in steps} - {main}:  # pool threads: at most one span per step per call
        names = [e["name"] for e in steps if e["tid"] == tid]
        assert all(names.count(n) <= 3 for n in set(names))
    assert {"trace", "passes", "lower"} <= {e["name"] for e in spans if e["cat"] == "compile"}


def test_profile_off_after_an_exception(tmp_path):
    with pytest.raises(RuntimeError):
        with gc.profile(str(tmp_path / "t.json")):
            raise RuntimeError("boom")
    assert not compiler._PROFILING and not profiler.active()
    assert os.path.exists(tmp_path / "t.json")


def test_graphc_profile_environment_variable(tmp_path):
    path = tmp_path / "env_trace.json"
    script = textwrap.dedent("""
        import numpy as np, graphc as gc
        f = gc.compile(lambda x: x * 2.0 + 1.0)
        f(np.ones(1000, np.float32)); f(np.ones(1000, np.float32))
    """)
    env = dict(os.environ, GRAPHC_PROFILE=str(path))
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=300)
    spans = _events(path)
    assert len([e for e in spans if e["cat"] == "call"]) == 2
    assert len([e for e in spans if e["cat"] == "step"]) >= 2


def test_compat_v1_full_trace_and_timeline(tmp_path):
    import graphc.compat.v1 as tf
    from graphc.compat.v1 import timeline

    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        w = tf.Variable(np.ones((3, 2), np.float32), name="w")
        y = tf.reduce_sum(tf.nn.relu(tf.matmul(x, w) - 1.0))
        init = tf.global_variables_initializer()
    with tf.Session(graph=g) as sess:
        sess.run(init)
        opts, meta = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE), tf.RunMetadata()
        assert sess.run(y, {x: np.ones((4, 3))}, options=opts, run_metadata=meta) == pytest.approx(16.0)
        text = timeline.Timeline(meta.step_stats).generate_chrome_trace_format()
        path = str(tmp_path / "profile")
        with gc.profile(path):
            sess.run(y, {x: np.ones((4, 3))})
            sess.run(y, {x: np.ones((5, 3))})
    spans = [e for e in json.loads(text)["traceEvents"] if e["ph"] == "X"]
    assert [e["name"] for e in spans if e["cat"] == "session"] == ["Session.run"]
    assert any(e["cat"] == "step" for e in spans)
    assert meta.step_stats.dev_stats and meta.step_stats.dev_stats[0].node_stats
    assert len([e for e in _events(path) if e["cat"] == "session"]) == 2
    with pytest.raises(ValueError, match="FULL_TRACE"):
        timeline.Timeline(None)
