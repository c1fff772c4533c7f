"""Bad input gets a clear Python exception naming the op, the shapes and the user's line."""
import os

import numpy as np
import pytest

import graphc as gc

THIS = os.path.basename(__file__)


def test_shape_mismatch_names_op_shapes_and_line():
    f = gc.compile(lambda a, b: a + b)
    with pytest.raises(gc.ShapeError) as e:
        f(np.ones((2, 3), np.float32), np.ones((4,), np.float32))
    msg = str(e.value)
    assert "add" in msg and "(2, 3)" in msg and "float32[4]" in msg and THIS in msg


def test_matmul_mismatch():
    with pytest.raises(gc.ShapeError, match=r"matmul.*3 != 4"):
        gc.compile(lambda a, b: a @ b)(np.ones((2, 3), np.float32), np.ones((4, 5), np.float32))


def test_unsupported_dtype_and_non_arrays():
    with pytest.raises(gc.DTypeError, match="complex128"):
        gc.compile(lambda a: a + 1)(np.ones(3, np.complex128))
    with pytest.raises(TypeError, match="numpy arrays"):
        gc.compile(lambda a: a + 1)("not an array")
    with pytest.raises(TypeError):
        gc.compile(lambda a, b: a + b)(np.ones(3, np.float32))  # wrong number of arguments


def test_unknown_op():
    from graphc.tracing import bind

    with pytest.raises(gc.UnknownOpError, match="no_such_op"):
        gc.compile(lambda a: bind("no_such_op", [a]))(np.ones(3, np.float32))


def test_data_dependent_python_control_flow_is_rejected():
    def f(a):
        if a.sum() > 0:
            return a
        return -a

    with pytest.raises(gc.TraceError, match="gc.where"):
        gc.compile(f)(np.ones(3, np.float32))


def test_runtime_checks_inputs_before_native_code():
    f = gc.compile(lambda a: a * 2)
    x = np.ones((2, 2), np.float32)
    f(x)
    exe = f._compile((x,)).executable
    with pytest.raises(TypeError, match=r"expected float32\[2, 2\]"):
        exe([np.ones((3, 3), np.float32)])
    with pytest.raises(TypeError, match="expects 1 array inputs"):
        exe([])


def test_reduction_axis_errors():
    with pytest.raises(gc.ShapeError, match="out of bounds"):
        gc.compile(lambda a: a.sum(axis=2))(np.ones((2, 2), np.float32))
    with pytest.raises(gc.ShapeError, match="cannot reshape"):
        gc.compile(lambda a: a.reshape(5))(np.ones((2, 2), np.float32))
    with pytest.raises(gc.ShapeError, match="out of bounds"):
        gc.compile(lambda a: a[5])(np.ones((2, 2), np.float32))
