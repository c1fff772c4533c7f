"""The runtime: output recycling never touches arrays the caller still holds, and
concurrent calls of one compiled function (each needing the workspace) stay correct."""
import threading

import numpy as np

import graphc as gc


def test_outputs_held_by_the_caller_are_never_overwritten():
    f = gc.compile(lambda x: gc.exp(x) * 2)
    x = np.linspace(-1, 1, 1000).astype(np.float32)
    kept = f(x)
    view = f(x + 1)[10:20]      # only a view survives: its base must not be recycled
    snapshot_kept, snapshot_view = kept.copy(), view.copy()
    for k in range(5):
        f(x + k)                # dropped results may be recycled
    np.testing.assert_array_equal(kept, snapshot_kept)
    np.testing.assert_array_equal(view, snapshot_view)


def test_concurrent_calls_are_correct():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 64)).astype(np.float32)
    f = gc.compile(lambda x: gc.softmax(gc.tanh(x @ w) * 2 + x.mean(), axis=1))
    inputs = [rng.standard_normal((64, 64)).astype(np.float32) for _ in range(8)]
    expected = [f(x).copy() for x in inputs]
    errors = []

    def worker(k):
        for _ in range(30):
            out = f(inputs[k])
            if not np.array_equal(out, expected[k]):
                errors.append(k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_swapping_variables_through_a_temporary():
    a = gc.Variable(np.array([1.0, 2.0], np.float32), name="swap_a")
    b = gc.Variable(np.array([3.0, 4.0], np.float32), name="swap_b")
    c = gc.Variable(np.array([0.0, 0.0], np.float32), name="swap_c")

    @gc.compile
    def swap(scale):
        t = a.value()
        a.assign(b.value())
        b.assign(t)
        c.assign(a.value() * scale)   # reads the new a
        return t * 1

    old_a = swap(np.float32(2.0))
    np.testing.assert_array_equal(old_a, [1, 2])
    np.testing.assert_array_equal(a.numpy(), [3, 4])
    np.testing.assert_array_equal(b.numpy(), [1, 2])
    np.testing.assert_array_equal(c.numpy(), [6, 8])
    swap(np.float32(1.0))
    np.testing.assert_array_equal(a.numpy(), [1, 2])
    np.testing.assert_array_equal(b.numpy(), [3, 4])
