"""host_call (issue 12): a compiled program calling a registered Python function in the
middle of a step (graphc.distributed reduces gradients with it)."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc._runtime import host_calls
from graphc.errors import ExportError
from graphc.ops.host_call import host_call
from gradcheck import exempt

exempt("host_call", "an arbitrary Python function (e.g. an MPI reduction): no gradient rule")


def test_compiled_step_calls_the_function_on_its_buffers_and_continues():
    calls = []

    def triple(x, out):
        calls.append(x.copy())
        np.multiply(x, 3, out=out)

    fid = host_calls.register("tests.host_call.triple", triple, (2, 3), "float32")
    w = gc.Variable(np.ones((2, 3), np.float32), name="w")

    @gc.compile
    def step(x):
        y = host_call(x + w, fid)
        w.assign(y - 1)
        return y * 2

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(step(x), (x + 1) * 6)          # exact: small integers in float32
    np.testing.assert_array_equal(w.numpy(), (x + 1) * 3 - 1)
    np.testing.assert_array_equal(calls[0], x + 1)               # the function saw the program's buffer
    np.testing.assert_array_equal(step(x), (x + (x + 1) * 3 - 1) * 6)
    assert len(calls) == 2


def test_an_exception_in_the_function_is_raised_and_the_rest_of_the_step_does_not_run():
    def fail(x, out):
        raise ValueError("refused by the host function")

    fid = host_calls.register("tests.host_call.fail", fail, (3,), "float32")
    w = gc.Variable(np.zeros(3, np.float32), name="w")

    @gc.compile
    def step(x):
        w.assign(host_call(x, fid))
        return x + 1

    with pytest.raises(ValueError, match="refused by the host function"):
        step(np.ones(3, np.float32))
    np.testing.assert_array_equal(w.numpy(), np.zeros(3, np.float32))


def test_interpreter_runs_the_same_function():
    fid = host_calls.register("tests.host_call.neg", lambda x, out: np.negative(x, out=out), (4,), "float64")
    x = np.linspace(-1, 1, 4)
    g = gc.trace(lambda x: host_call(x * 2, fid) + 1, x)
    np.testing.assert_array_equal(gc.interpret(g, x), -2 * x + 1)


def test_a_program_with_a_host_call_cannot_be_exported(tmp_path):
    fid = host_calls.register("tests.host_call.copy", lambda x, out: np.copyto(out, x), (4,), "float32")
    with pytest.raises(ExportError, match="calls back into the running Python process.*cannot be exported"):
        gc.export(lambda x: host_call(x, fid) + 1, (np.ones(4, np.float32),), str(tmp_path / "libh.so"), name="h")
    x = np.ones(4, np.float32)
    assert "call i32 @\"graphc_host_call\"" in gc.compile(lambda x: host_call(x, fid) + 1).ir(x, stage="llvm")


def test_ids_are_stable_across_processes():
    assert host_calls.function_id("a.key") == host_calls.function_id("a.key") != host_calls.function_id("b.key")
    assert host_calls.function_id("a.key") == 0x1e75981b0e1b16c6  # sha256-derived (not hash()): same in every process


def test_several_inputs_are_packed_flat_in_order():
    seen = []

    def total(x, out):
        seen.append(x.copy())
        out[...] = x.sum()

    fid = host_calls.register("tests.host_call.total", total, (7,), "float32", (1,), "float32")
    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.array([10], np.float32)
    f = gc.compile(lambda a, b: host_call([a * 2, b], fid) + 1)
    np.testing.assert_array_equal(f(a, b), [41.0])                # 2 * (0+...+5) + 10 + 1
    np.testing.assert_array_equal(seen[0], [0, 2, 4, 6, 8, 10, 10])
    np.testing.assert_array_equal(gc.interpret(gc.trace(lambda a, b: host_call([a * 2, b], fid) + 1, a, b), a, b), [41.0])


def test_inputs_must_match_the_registered_size():
    fid = host_calls.register("tests.host_call.three", lambda x, out: np.copyto(out, x), (3,), "float32")
    with pytest.raises(gc.ShapeError, match="takes float32\\[3\\], given float32 values of 4 elements"):
        gc.compile(lambda x: host_call(x, fid))(np.ones(4, np.float32))
