"""matrix_inverse: compiled Gauss-Jordan (partial pivoting) against numpy.linalg.inv."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

rng = np.random.default_rng(4)


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (8, 8), (2, 5, 5), (40, 40)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matches_numpy(shape, dtype):
    n = shape[-1]
    a = (rng.standard_normal(shape) + n ** 0.5 * np.eye(n)).astype(dtype)  # well conditioned
    got = gc.compile(gc.matrix_inverse)(a)
    assert got.dtype == np.dtype(dtype)
    # relative to the inverse's size; float32 pivoted elimination: ~n * 1e-7
    tol = 1e-5 if dtype == "float32" else 1e-12
    ref = np.linalg.inv(a.astype(np.float64))
    assert np.abs(got - ref).max() <= tol * np.abs(ref).max()


def test_needs_row_exchanges():
    """A zero leading pivot: only partial pivoting gets this right."""
    a = np.array([[0.0, 2.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 3.0]])
    np.testing.assert_allclose(gc.compile(gc.matrix_inverse)(a), np.linalg.inv(a), rtol=1e-13, atol=1e-15)


def test_fused_producer_and_consumer():
    a = rng.standard_normal((4, 4))
    f = gc.compile(lambda a: gc.matrix_inverse(a + 3.0 * np.eye(4)) * 2.0)
    np.testing.assert_allclose(f(a), 2 * np.linalg.inv(a + 3 * np.eye(4)), rtol=1e-12)


def test_errors():
    with pytest.raises(gc.ShapeError, match="square"):
        gc.compile(gc.matrix_inverse)(np.ones((2, 3)))
    with pytest.raises(gc.CompileError, match="n <= 64"):
        gc.compile(gc.matrix_inverse)(np.eye(65))
