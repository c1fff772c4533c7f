"""Robustness (issue 18): concurrent compilation, huge shapes, damaged checkpoints and
libraries, failed exports, foreign byte orders. Each failure must be a clear error, at
once, and leave no damage behind."""
import sys
import threading

import numpy as np
import pytest

import graphc as gc


# -- tracing from several threads ---------------------------------------------------------------

@pytest.fixture
def frequent_thread_switches():
    """Switch threads every microsecond so traces in different threads interleave op by op."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _run_threads(n, target):
    """Start n threads together (a barrier) and return the exceptions they raised."""
    barrier, errors = threading.Barrier(n), []

    def run(i):
        try:
            barrier.wait()
            target(i)
        except BaseException as e:  # reported by the test
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def _model(k):
    """A function whose trace creates ops without Tensor inputs (constants, gc.ones) and
    reads a Variable: those are the ops that find their trace through the trace stack."""
    v = gc.Variable(np.full((3, 3), k, np.float32), name=f"v{k}")

    def f(x):
        h = x
        for _ in range(40):
            h = gc.tanh(h * 0.5 + gc.ones((3, 3), np.float32) * k) + v
        return h.sum(axis=1)

    def reference(x):
        h = x
        for _ in range(40):
            h = np.tanh(h * np.float32(0.5) + np.float32(k)) + np.float32(k)
        return h.sum(axis=1)

    return f, reference


def test_concurrent_first_calls_of_different_functions(frequent_thread_switches):
    x = np.linspace(-1, 1, 9, dtype=np.float32).reshape(3, 3)
    models = [_model(k) for k in range(12)]
    results = {}

    def call(i):
        for k in range(i, len(models), 4):  # three first calls per thread
            results[k] = gc.compile(models[k][0])(x)

    errors = _run_threads(4, call)
    assert not errors, errors
    for k, (_, reference) in enumerate(models):
        np.testing.assert_allclose(results[k], reference(x), rtol=1e-5, atol=1e-5)


def test_concurrent_first_calls_of_the_same_function_compile_once(frequent_thread_switches):
    x = np.linspace(-1, 1, 9, dtype=np.float32).reshape(3, 3)
    fn, reference = _model(7)
    compiled = gc.compile(fn)
    results = {}

    def call(i):
        results[i] = compiled(x)

    errors = _run_threads(6, call)
    assert not errors, errors
    assert compiled.trace_count == 1
    for out in results.values():
        np.testing.assert_allclose(out, reference(x), rtol=1e-5, atol=1e-5)


def test_concurrent_gradients_and_random_ops(frequent_thread_switches):
    """gc.grad and random ops (which use the current trace and the shared call counter)."""
    x = np.linspace(0.5, 2, 6)
    results = {}

    def call(i):
        g = gc.grad(lambda a: (a ** 3 * float(i + 1)).sum())(x)
        r = gc.compile(lambda a: a + gc.random.uniform((6,), seed=i))(np.zeros(6, np.float32))
        results[i] = (g, r)

    errors = _run_threads(4, call)
    assert not errors, errors
    for i, (g, r) in results.items():
        np.testing.assert_allclose(g, 3 * x ** 2 * (i + 1), rtol=1e-12)
        assert r.shape == (6,) and np.all((r >= 0) & (r < 1))


# -- sizes: overflow at trace time, huge buffers before allocating ------------------------------

def test_broadcast_whose_size_overflows_64_bits_raises_at_once():
    n = 2 ** 32  # zero-strided inputs: 16 bytes of memory each, 2**64 result elements
    x = np.broadcast_to(np.ones(1, np.float32), (n, 1))
    y = np.broadcast_to(np.ones(1, np.float32), (1, n))
    with pytest.raises(ValueError):
        np.add(x, y)  # numpy refuses too
    with pytest.raises(gc.ShapeError, match="add: array is too big") as info:
        gc.compile(lambda a, b: (a + b).sum())(x, y)
    assert isinstance(info.value, ValueError) and "test_robustness.py" in str(info.value)
    with pytest.raises(gc.ShapeError, match="array is too big"):  # a creation op, no input at all
        gc.compile(lambda a: a + gc.zeros((2 ** 40, 2 ** 40, 2), np.float32))(np.ones(2, np.float32))


def test_buffers_larger_than_memory_raise_before_allocating():
    huge = 2 ** 50  # 4 PiB of float32: more than any machine's memory, fits in 64 bits
    with pytest.raises(gc.OutOfMemoryError, match=r"output 0 float32\[1125899906842624, 1\]") as info:
        gc.compile(lambda a: a + gc.zeros((huge, 1), np.float32))(np.ones(1, np.float32))
    assert isinstance(info.value, MemoryError)
    # a broadcast (zero-strided) input must be made contiguous: that copy is checked too
    x = np.broadcast_to(np.ones(1, np.float32), (huge, 1))
    with pytest.raises(gc.OutOfMemoryError, match="contiguous copy of input 0"):
        gc.compile(lambda a: a[:2])(x)


# -- layouts and byte orders of inputs ---------------------------------------------------------

def test_big_endian_inputs_are_converted():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    big = x.astype(">f4")
    f = gc.compile(lambda a, b: a * 2 + b)
    np.testing.assert_array_equal(f(big, x), x * 2 + x)
    np.testing.assert_array_equal(f(x, big), x * 2 + x)  # the same compiled code serves both
    np.testing.assert_array_equal(gc.compile(lambda a: a.sum(axis=0))(np.arange(6, dtype=">i8")), 15)
    # big-endian and strided at once
    np.testing.assert_array_equal(gc.compile(lambda a: a.T)(big[:, ::2]), x[:, ::2].T)


def test_non_contiguous_inputs():
    x = np.arange(24, dtype=np.float64).reshape(4, 6)
    f = gc.compile(lambda a: a * 3 - 1)
    for view in (x.T, x[::2, 1::2], x[:, ::-1], np.broadcast_to(x[0], (5, 6))):
        np.testing.assert_array_equal(f(view), view * 3 - 1)


def test_masked_arrays_are_refused_not_unmasked():
    x = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    with pytest.raises(TypeError, match="masked arrays are not supported"):
        gc.compile(lambda a: a * 2)(x)
    np.testing.assert_array_equal(gc.compile(lambda a: a * 2)(x.filled(0.0)), [2.0, 0.0])


def test_interpret_refuses_inputs_of_another_shape():
    graph = gc.trace(lambda a, b: a + b, np.ones((2, 3), np.float32), np.ones(3, np.float32))
    with pytest.raises(TypeError, match=r"input 1: the graph was traced for float32\[3\]"):
        gc.interpret(graph, np.ones((2, 3), np.float32), np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(gc.interpret(graph, np.ones((2, 3), np.float32), np.arange(3.0)),
                                  1 + np.arange(3.0)[None].repeat(2, 0))
