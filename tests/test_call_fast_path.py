"""The per-call fast path (plain C-contiguous ndarrays seen before) skips no check: after
it is warm, inputs of another byte order, layout, shape or subclass still get the full
check (converted or refused before native code), and outputs keep the function's
structure."""
import numpy as np
import pytest

import graphc as gc
from graphc._runtime import executable


def test_data_pointer_read_matches_array_interface():
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    for a in (base, base[1:], base[:, 2:], np.empty(0, np.float32), np.float32(3) * np.ones(1, np.float32)):
        assert executable.address(a) == executable.interface_address(a)


def test_inputs_after_the_fast_path_is_warm_are_still_checked():
    f = gc.compile(lambda x: x * 2 + 1)
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    expect = x * 2 + 1
    np.testing.assert_array_equal(f(x), expect)
    np.testing.assert_array_equal(f(x), expect)                    # fast path
    np.testing.assert_array_equal(f(x.astype(">f4")), expect)      # foreign byte order: converted
    np.testing.assert_array_equal(f(np.asfortranarray(x)), expect)  # not C-contiguous: copied
    wide = np.zeros((3, 8), np.float32)
    wide[:, ::2] = x
    np.testing.assert_array_equal(f(wide[:, ::2]), expect)         # strided view: copied
    with pytest.raises(TypeError, match="masked"):
        f(np.ma.masked_array(x, mask=x > 5))
    ex = f._compile((x,)).executable
    with pytest.raises(TypeError, match="expected float32"):
        ex([x.astype(np.float64)])                                 # the executable's own check
    with pytest.raises(TypeError, match="expects 1 array inputs"):
        ex([x, x])
    np.testing.assert_array_equal(f(x.astype(np.float64)), x.astype(np.float64) * 2 + 1)  # a new signature


def test_output_structures_on_the_fast_path():
    x = np.arange(4, dtype=np.float32)
    one = gc.compile(lambda x: x + 1)
    pair = gc.compile(lambda x: (x + 1, x * 2))
    nested = gc.compile(lambda x: {"a": x + 1, "b": [x * 2]})
    for _ in range(2):
        assert isinstance(one(x), np.ndarray)
        p = pair(x)
        assert isinstance(p, tuple) and len(p) == 2
        np.testing.assert_array_equal(p[1], x * 2)
        n = nested(x)
        np.testing.assert_array_equal(n["b"][0], x * 2)


def test_symbolic_fast_path_sizes_outputs_and_strides():
    """A symbolic-batch function called with alternating sizes, kept and dropped outputs,
    and a strided input: the per-size argument arrays and recycled outputs never mix
    sizes or overwrite an output the caller still holds."""
    import numpy as np

    import graphc as gc

    f = gc.compile(lambda x: x * 2.0 + 1.0, dynamic="batch")
    kept = {}
    for n in (3, 5, 3, 7, 5, 3):
        x = np.arange(n * 4, dtype=np.float32).reshape(n, 4)
        out = f(x)
        np.testing.assert_array_equal(out, x * 2 + 1)
        kept.setdefault(n, []).append((out, x * 2 + 1))
    for pairs in kept.values():  # outputs held by the caller were not reused
        for out, expect in pairs:
            np.testing.assert_array_equal(out, expect)
    wide = np.arange(6 * 8, dtype=np.float32).reshape(6, 8)
    np.testing.assert_array_equal(f(wide[:, ::2]), wide[:, ::2] * 2 + 1)  # not C-contiguous: copied
    assert f.trace_count == 1


def test_explain_of_a_symbolic_function():
    """The profiled entry of a symbolic-batch program passes its record buffer after the
    per-size arguments (it once got the sizes' slots wrong and crashed)."""
    import numpy as np

    import graphc as gc

    w = gc.Variable(np.full((6, 3), 0.5, np.float32))
    f = gc.compile(lambda x: gc.tanh(x @ w).sum(axis=1), dynamic="batch")
    for n in (4, 9):
        x = np.linspace(-1, 1, n * 6, dtype=np.float32).reshape(n, 6)
        rows = f.explain(x, format="json")
        assert "steps" in rows
        np.testing.assert_allclose(f(x), np.tanh(x @ np.full((6, 3), 0.5, np.float32)).sum(axis=1), rtol=1e-5)
    assert f.trace_count == 1
