"""Kernels as shared, individually cached code units (issue 13) and their release (issue 18).

- structurally identical kernels are emitted and compiled once (compile_stats counts);
- a second function (or model) reuses kernels compiled for an earlier one, from memory
  or, once those are dropped, from the disk cache;
- kernels that differ in anything that changes their code (a constant) are not merged;
- compiled code is freed when the functions using it are garbage-collected.
"""
from __future__ import annotations

import gc as pygc
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc as gc
from graphc.codegen import code_cache


def _deep(layers):
    def fn(x, ws):
        h = x
        for w in ws:
            h = gc.tanh(h @ w)
        return (h * h).mean()
    return fn


def _deep_args(layers, seed=0, batch=8, width=16):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, width)).astype(np.float32)
    ws = [(rng.standard_normal((width, width)) / 4).astype(np.float32) for _ in range(layers)]
    return x, ws


def _deep_ref(x, ws):
    h = x.astype(np.float64)
    for w in ws:
        h = np.tanh(h @ w)
    return (h * h).mean()


def test_identical_layers_share_kernels_and_results_match():
    """Distinct kernels do not grow with depth; the value matches numpy (rtol 1e-5, f32)."""
    counts = {}
    for layers in (3, 9):
        x, ws = _deep_args(layers)
        deep = _deep(layers)
        f = gc.compile(gc.value_and_grad(lambda x, *ws: deep(x, ws), argnums=tuple(range(1, layers + 1))))
        loss, grads = f(x, *ws)
        np.testing.assert_allclose(loss, _deep_ref(x, ws), rtol=1e-5)
        eps = 1e-3  # one gradient entry per layer against a central difference (f64 reference)
        for k in range(layers):
            wp = [w.astype(np.float64) for w in ws]
            wm = [w.astype(np.float64) for w in ws]
            wp[k][2, 3] += eps
            wm[k][2, 3] -= eps
            fd = (_deep_ref(x, wp) - _deep_ref(x, wm)) / (2 * eps)
            np.testing.assert_allclose(grads[k][2, 3], fd, rtol=2e-3, atol=1e-6)
        st = f.compile_stats(x, *ws)
        assert st["kernels_distinct"] < st["kernels_total"]
        counts[layers] = st
    assert counts[9]["kernels_total"] > counts[3]["kernels_total"]
    assert counts[9]["kernels_distinct"] == counts[3]["kernels_distinct"]


def test_second_function_reuses_compiled_kernels():
    x, ws = _deep_args(4)
    f1 = gc.compile(_deep(4))
    f1(x, ws)
    f2 = gc.compile(_deep(4))  # a different function object with the same kernels
    np.testing.assert_allclose(f2(x, ws), f1(x, ws), rtol=0)
    st = f2.compile_stats(x, ws)
    assert st["kernels_compiled"] == 0
    assert st["kernels_from_memory"] == st["kernels_distinct"] > 0


def test_kernels_differing_in_a_constant_are_not_merged():
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    outs = []
    for c in (1.5, 2.5, -0.25):
        f = gc.compile(lambda a: gc.exp(a * c) + c)
        outs.append(f(x))
        np.testing.assert_allclose(outs[-1], np.exp(x * np.float32(c)) + np.float32(c), rtol=1e-6)


def test_compile_stats_phases():
    x, ws = _deep_args(2)
    f = gc.compile(_deep(2))
    st = f.compile_stats(x, ws)
    for phase in ("trace", "passes", "lower", "emit_ir", "llvm_optimize", "emit_object", "load"):
        assert st["seconds"][phase] >= 0
    assert st["kernels_from_cache"] + st["kernels_compiled"] == st["kernels_distinct"]
    # the phases are disjoint and cover the compilation (up to bookkeeping)
    assert st["total_seconds"] <= st["compile_seconds"] + 1e-3


_CHILD = textwrap.dedent("""
    import ctypes, gc as pygc, json, sys
    import numpy as np
    import graphc as gc
    from graphc.codegen import code_cache

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    trim = getattr(ctypes.CDLL("libc.so.6"), "malloc_trim", None)
    x = np.ones((4, 3), np.float32)

    OPS = (gc.tanh, gc.sigmoid, lambda a: a * a + 1.0, lambda a: a * 0.5 + 0.25)

    def make(k):
        # a distinct fused kernel per k: five ops picked by k's base-4 digits (a scalar
        # constant alone would not do: constants are passed to kernels by pointer)
        def fn(a):
            for d in range(5):
                a = OPS[(k >> (2 * d)) & 3](a)
            return a
        return gc.compile(fn)

    def batch(start, n):
        fs = [make(k) for k in range(start, start + n)]
        for f in fs:
            f(x)
        live = code_cache.live_count()
        del fs
        pygc.collect()
        if trim is not None:
            trim(0)  # give freed heap pages back, so RSS shows what is still held
        return rss_mb(), live

    n = int(sys.argv[1])
    base, _ = batch(0, 20)          # warm-up: runtime, imports
    batch(100, n)                   # compiles the n kernels (LLVM) into the disk cache
    after1, live1 = batch(100, n)   # loads them from disk, then drops them
    after2, live2 = batch(100, n)
    print(json.dumps({"base": base, "after1": after1, "after2": after2,
                      "live_while_held": live1, "live_after": code_cache.live_count()}))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads RSS from /proc")
def test_compiled_code_is_released(tmp_path):
    """Create, call and drop 150 functions of distinct kernels, three times in a fresh
    process: every code unit is unloaded, and a batch after the first adds under 5 MB of
    resident memory (before code release each function kept ~150 KB, i.e. ~22 MB per
    batch). The kernels come from the disk cache after the first batch: running LLVM's
    optimizer itself leaves ~126 KB per module behind (measured with llvmlite 0.50's new
    pass manager, pass builder closed or not), which is not ours to release."""
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    env = dict(os.environ, GRAPHC_CACHE="1", GRAPHC_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, str(script), "150"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    import json

    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["live_while_held"] >= 150  # each function held its own kernel unit
    assert res["live_after"] == 0
    assert res["after2"] - res["after1"] < 5.0, res


def test_shared_kernel_outlives_one_user():
    """A unit shared by two functions stays loaded until the last one is dropped."""
    x, ws = _deep_args(2, seed=3)
    f1 = gc.compile(_deep(2))
    expect = f1(x, ws)
    f2 = gc.compile(_deep(2))
    f2(x, ws)
    pygc.collect()  # release what earlier tests dropped, so only f1's drop is measured
    held = code_cache.live_count()
    del f1
    pygc.collect()
    np.testing.assert_allclose(f2(x, ws), expect, rtol=0)
    assert code_cache.live_count() == held  # f2 holds the same units (and its own entry)


def test_disk_cache_serves_kernels_after_release(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GRAPHC_CACHE", "1")
    x, ws = _deep_args(3, seed=5, batch=5, width=12)  # sizes no other test compiles

    f = gc.compile(_deep(3))
    first = f(x, ws)
    distinct = f.compile_stats(x, ws)["kernels_distinct"]
    del f
    pygc.collect()
    g = gc.compile(_deep(3))
    np.testing.assert_allclose(g(x, ws), first, rtol=0)
    st = g.compile_stats(x, ws)
    assert st["kernels_compiled"] == 0
    assert st["kernels_from_disk"] + st["kernels_from_memory"] == distinct


_FORK_CHILD = textwrap.dedent("""
    import os, sys
    import numpy as np
    import graphc as gc

    x = np.linspace(-1, 1, 24, dtype=np.float32).reshape(4, 6)
    f = gc.compile(lambda a: (gc.exp(a) * 2.0).sum(axis=1) + gc.tanh(a).max(axis=1))
    f(x)  # the parent has compile threads now
    pid = os.fork()
    if pid == 0:
        # several distinct kernels missing from the caches: compiled on the compile threads,
        # which the child must create anew (it inherits the executor, not its threads)
        g = gc.compile(lambda a: ((gc.sigmoid(a) * 3.0).sum(axis=0), gc.log1p(a * a).max(axis=1) - 1.0))
        s, m = g(x)
        ok = np.allclose(s, (1 / (1 + np.exp(-x)) * 3).sum(0), rtol=1e-5) and \\
            np.allclose(m, np.log1p(x * x).max(1) - 1, rtol=1e-5)
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    print("child", os.waitstatus_to_exitcode(status))
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_compiling_in_a_forked_child(tmp_path):
    """A child forked after the parent compiled (compile threads running) compiles new
    kernels itself: the executor is re-created per process, so nothing waits forever."""
    script = tmp_path / "fork_child.py"
    script.write_text(_FORK_CHILD)
    env = dict(os.environ, GRAPHC_CACHE="1", GRAPHC_CACHE_DIR=str(tmp_path / "cache"), GRAPHC_COMPILE_THREADS="2")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "child 0" in r.stdout, r.stdout + r.stderr


def test_source_hash_memo_follows_edits(tmp_path, monkeypatch):
    """hash_python_sources remembers digests by the files' stat stamps: an edit (same
    size, new mtime) gives the new content's digest, never the remembered one."""
    from graphc.codegen.kernel_key import hash_python_sources

    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GRAPHC_CACHE", "1")
    src = tmp_path / "pkg"
    src.mkdir()
    f = src / "a.py"
    f.write_text("x = 1\n")
    first = hash_python_sources(str(src), os.walk(src))
    assert hash_python_sources(str(src), os.walk(src)) == first  # from the memo
    f.write_text("x = 2\n")  # same size
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    second = hash_python_sources(str(src), os.walk(src))
    assert second != first
    monkeypatch.setenv("GRAPHC_CACHE", "0")  # no memo at all: the same digests
    assert hash_python_sources(str(src), os.walk(src)) == second
