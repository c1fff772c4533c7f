"""Whole-program disk cache (graphc/codegen/program_cache.py): a second compile of the
same traced graph loads its executable (no passes, lowering or LLVM), and nothing else
ever does -- near-miss graphs, other variables, corrupted files.

Each test uses its own GRAPHC_CACHE_DIR; a new CompiledFunction compiles again and so
consults the disk cache as a second process would. Results are compared with numpy
(float32 elementwise: rtol 1e-6)."""
from __future__ import annotations

import glob
import os
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GRAPHC_CACHE", raising=False)
    return tmp_path


def _from_cache(f, *args) -> bool:
    return f.compile_stats(*args)["program_from_cache"]


X = np.linspace(-2, 2, 24, dtype=np.float32).reshape(4, 6)


def test_second_compile_loads_the_program():
    f1 = gc.compile(lambda x: gc.tanh(x) * 2.0 + x.sum(axis=1, keepdims=True))
    f2 = gc.compile(lambda x: gc.tanh(x) * 2.0 + x.sum(axis=1, keepdims=True))
    want = np.tanh(X) * 2 + X.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(f1(X), want, rtol=1e-6)
    assert not _from_cache(f1, X)
    np.testing.assert_allclose(f2(X), want, rtol=1e-6)
    assert _from_cache(f2, X)
    # introspection of a cached program rebuilds what it needs
    assert "tanh" in f2.ir(X, stage="optimized")
    assert f2.ir(X, stage="traced") == f1.ir(X, stage="traced")
    assert "define" in f2.ir(X, stage="llvm")
    assert f2.memory_plan(X)["planned_peak_bytes"] == f1.memory_plan(X)["planned_peak_bytes"]


def test_near_miss_exponents_are_different_programs():
    """x**0 and x**3 (the structural-cache bug that reused x**0's code for x**3)."""
    p0 = gc.compile(lambda x: x ** 0)
    p3 = gc.compile(lambda x: x ** 3)
    np.testing.assert_array_equal(p0(X), np.ones_like(X))
    np.testing.assert_allclose(p3(X), X ** 3, rtol=1e-6)
    assert not _from_cache(p3, X)
    again = gc.compile(lambda x: x ** 3)
    np.testing.assert_allclose(again(X), X ** 3, rtol=1e-6)
    assert _from_cache(again, X)


def test_constants_differing_in_one_element_are_different_programs():
    c1 = np.arange(2000, dtype=np.float32)
    c2 = c1.copy()
    c2[1234] = -1.0  # far past what a printed IR would show of the array
    x = np.ones(2000, np.float32)
    f1 = gc.compile(lambda x: x + c1)
    f2 = gc.compile(lambda x: x + c2)
    np.testing.assert_array_equal(f1(x), x + c1)
    np.testing.assert_array_equal(f2(x), x + c2)
    assert not _from_cache(f2, x)


def test_python_scalar_arguments_and_dtypes_are_part_of_the_key():
    f = gc.compile(lambda x, k: x * k)
    np.testing.assert_allclose(f(X, 2.0), X * 2, rtol=1e-6)
    g = gc.compile(lambda x, k: x * k)
    np.testing.assert_allclose(g(X, 3.0), X * 3, rtol=1e-6)
    assert not _from_cache(g, X, 3.0)
    x64 = X.astype(np.float64)
    np.testing.assert_allclose(g(x64, 2.0), x64 * 2, rtol=1e-12)
    assert not _from_cache(g, x64, 2.0)


def test_cached_program_updates_its_own_variables():
    """Same structure, other Variable objects: the cached program is bound to the new
    ones; a variable used twice is not the same graph as two variables."""
    def model():
        a = gc.Variable(np.full((4, 6), 1.5, np.float32))
        b = gc.Variable(np.full((4, 6), -0.5, np.float32))

        def step(x):
            a.assign(a + x)
            b.assign(b * 2.0)
            return a * b
        return a, b, gc.compile(step)

    a1, b1, f1 = model()
    f1(X)
    a2, b2, f2 = model()
    out = f2(X)
    assert _from_cache(f2, X)
    np.testing.assert_allclose(a2.numpy(), 1.5 + X, rtol=1e-6)
    np.testing.assert_allclose(b2.numpy(), np.full((4, 6), -1.0), rtol=1e-6)
    np.testing.assert_allclose(out, (1.5 + X) * -1.0, rtol=1e-6)
    np.testing.assert_allclose(a1.numpy(), 1.5 + X, rtol=1e-6)  # the first model's untouched

    v = gc.Variable(np.full((4, 6), 2.0, np.float32))
    w = gc.Variable(np.full((4, 6), 3.0, np.float32))
    two = gc.compile(lambda x: x * v + x * w)
    once = gc.compile(lambda x: x * v + x * v)
    np.testing.assert_allclose(two(X), X * 5, rtol=1e-6)
    np.testing.assert_allclose(once(X), X * 4, rtol=1e-6)
    assert not _from_cache(once, X)


def test_symbolic_program_from_cache():
    def fn(x):
        return (x * x).sum(axis=1) / x.shape[1] + x.mean()

    f1 = gc.compile(fn, dynamic="batch")
    f2 = gc.compile(fn, dynamic="batch")
    for n in (3, 5):
        x = np.random.default_rng(n).random((n, 6), dtype=np.float32)
        want = (x * x).sum(axis=1) / 6 + x.mean()
        np.testing.assert_allclose(f1(x), want, rtol=1e-5)
        np.testing.assert_allclose(f2(x), want, rtol=1e-5)
    assert _from_cache(f2, x)
    assert f2.trace_count == 1


@pytest.mark.parametrize("damage", ["garbage", "truncate", "empty", "remove_units", "garbage_units"])
def test_damaged_cache_is_recompiled(cache_dir, damage):
    fn = lambda x: gc.exp(x) - x  # noqa: E731
    gc.compile(fn)(X)
    records = glob.glob(os.path.join(cache_dir, "*.prog"))
    objects = glob.glob(os.path.join(cache_dir, "*.o"))
    assert len(records) == 1 and objects
    if damage == "garbage":
        open(records[0], "wb").write(b"\x00\xffnot a record" * 10)
    elif damage == "truncate":
        data = open(records[0], "rb").read()
        open(records[0], "wb").write(data[: len(data) // 2])
    elif damage == "empty":
        open(records[0], "wb").close()
    else:
        for o in objects:
            if damage == "remove_units":
                os.remove(o)
            else:
                data = bytearray(open(o, "rb").read())
                data[len(data) // 2] ^= 0xFF
                open(o, "wb").write(bytes(data))
    # a fresh process: nothing in memory, the damaged files on disk
    code = ("import numpy as np, graphc as gc\n"
            "x = np.linspace(-2, 2, 24, dtype=np.float32).reshape(4, 6)\n"
            "f = gc.compile(lambda x: gc.exp(x) - x)\n"
            "np.testing.assert_allclose(f(x), np.exp(x) - x, rtol=1e-6)\n"
            "assert not f.compile_stats(x)['program_from_cache']\n"
            "g = gc.compile(lambda x: gc.exp(x) - x)\n"
            "np.testing.assert_allclose(g(x), np.exp(x) - x, rtol=1e-6)\n"
            "assert g.compile_stats(x)['program_from_cache']  # rewritten\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, GRAPHC_CACHE_DIR=str(cache_dir)))
    assert r.returncode == 0, r.stderr[-3000:]


def test_cached_program_is_freed_without_a_gc_pass():
    """No reference cycle: dropping the function frees its executable (and so its code
    units, issue 18) at once."""
    import gc as pygc
    import weakref

    gc.compile(lambda x: gc.sigmoid(x) * 3.0)(X)
    f2 = gc.compile(lambda x: gc.sigmoid(x) * 3.0)
    f2(X)
    assert _from_cache(f2, X)
    ref = weakref.ref(next(iter(f2._cache.values())).executable)
    pygc.disable()
    try:
        del f2
        assert ref() is None
    finally:
        pygc.enable()


def test_pass_side_effects_are_not_skipped(capsys):
    """The placement log (compat.v1 log_device_placement) comes from a pass: a program
    that asks for it is compiled, not loaded, every time."""
    import graphc.compat.v1 as tf

    for _ in range(2):
        tf.reset_default_graph()
        a = tf.placeholder(tf.float32, [2], name="a")
        b = tf.add(a * 2.0, 1.0, name="b")
        with tf.Session(config=tf.ConfigProto(log_device_placement=True)) as sess:
            np.testing.assert_allclose(sess.run(b, {a: [1.0, 2.0]}), [3.0, 5.0])
        out = capsys.readouterr().out
        assert "multiply: /cpu:0" in out and "add: /cpu:0" in out
