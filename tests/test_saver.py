"""gc.Saver: named .npz checkpoints, atomic writes, strict restores, max_to_keep."""
from __future__ import annotations

import os

import numpy as np
import pytest

import graphc as gc
from graphc.saver import CheckpointError, latest_checkpoint


def _vars():
    w = gc.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="layer/w")
    b = gc.Variable(np.array([1.5, -2.0], np.float64), name="layer/b")
    step = gc.Variable(np.int64(7), name="global_step", trainable=False)
    return w, b, step


def test_round_trip_restores_values(tmp_path):
    w, b, step = _vars()
    saver = gc.Saver([w, b, step])
    path = saver.save(str(tmp_path / "model"))
    assert os.path.exists(path + ".npz")
    w.assign(np.zeros((2, 3), np.float32))
    b.assign_add(np.ones(2))
    step.assign(np.int64(0))
    saver.restore(path)
    np.testing.assert_array_equal(w.numpy(), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(b.numpy(), [1.5, -2.0])
    assert step.numpy() == 7
    with np.load(path + ".npz") as data:  # a plain npz with the variables' names
        assert sorted(data.files) == ["global_step", "layer/b", "layer/w"]


def test_dict_names_restore_into_other_variables(tmp_path):
    w, b, _ = _vars()
    gc.Saver({"weights": w}).save(str(tmp_path / "ckpt"))
    other = gc.Variable(np.zeros((2, 3), np.float32), name="different_name")
    gc.Saver({"weights": other}).restore(str(tmp_path / "ckpt"))
    np.testing.assert_array_equal(other.numpy(), w.numpy())


def test_training_resumes_exactly_with_optimizer_state(tmp_path):
    """Saving weights + Adam slots + beta powers, restoring, and continuing gives the
    same weights as never stopping."""
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)

    def make():
        w = gc.Variable(np.ones((3, 1), np.float32), name="w")
        opt = gc.optim.Adam(0.1)

        @gc.compile
        def step(x):
            opt.minimize(gc.mean(gc.square(x @ w - 1.0)))
            return w.value()
        return w, opt, step

    w, opt, step = make()
    for _ in range(3):
        step(x)
    saver = gc.Saver([w] + opt.variables())
    path = saver.save(str(tmp_path / "resume"))
    for _ in range(3):
        step(x)
    uninterrupted = w.numpy()

    w2, opt2, step2 = make()
    step2(x)  # creates the slots (with other values), then restore overwrites them
    names = {v.name: v for v in [w2] + opt2.variables()}
    assert sorted(names) == sorted(v.name for v in [w] + opt.variables())
    gc.Saver(names).restore(path)
    for _ in range(3):
        step2(x)
    np.testing.assert_array_equal(w2.numpy(), uninterrupted)


def test_global_step_suffix_max_to_keep_and_latest(tmp_path):
    w, _, step = _vars()
    saver = gc.Saver([w], max_to_keep=2)
    prefix = str(tmp_path / "m")
    paths = [saver.save(prefix, global_step=s) for s in (10, 20)]
    paths.append(saver.save(prefix, global_step=step))  # a Variable works: its value, 7
    assert paths == [prefix + "-10", prefix + "-20", prefix + "-7"]
    assert not os.path.exists(prefix + "-10.npz")  # only the newest 2 are kept
    assert os.path.exists(prefix + "-20.npz") and os.path.exists(prefix + "-7.npz")
    assert saver.last_checkpoints == [prefix + "-20", prefix + "-7"]
    assert latest_checkpoint(str(tmp_path)) == prefix + "-7"
    assert latest_checkpoint(str(tmp_path / "nowhere")) is None


def test_mismatches_are_refused_and_nothing_is_assigned(tmp_path):
    w, b, _ = _vars()
    path = gc.Saver([w, b]).save(str(tmp_path / "c"))
    before_b = b.numpy()
    wrong_shape = gc.Variable(np.zeros((3, 2), np.float32), name="layer/w")
    with pytest.raises(gc.ShapeError, match=r"layer/w.*shape \(2, 3\).*\(3, 2\)"):
        gc.Saver([b, wrong_shape]).restore(path)
    np.testing.assert_array_equal(b.numpy(), before_b)  # b was checked first but not assigned
    wrong_dtype = gc.Variable(np.zeros((2, 3), np.float64), name="layer/w")
    with pytest.raises(gc.DTypeError, match=r"layer/w.*float32.*float64"):
        gc.Saver([wrong_dtype]).restore(path)
    missing = gc.Variable(np.zeros(1, np.float32), name="absent")
    with pytest.raises(CheckpointError, match="no variable 'absent'"):
        gc.Saver([missing]).restore(path)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        gc.Saver([w]).restore(str(tmp_path / "never_saved"))


def test_duplicate_names_are_refused():
    a = gc.Variable(np.zeros(1, np.float32), name="same")
    b = gc.Variable(np.zeros(1, np.float32), name="same")
    with pytest.raises(ValueError, match="two variables are named 'same'"):
        gc.Saver([a, b])


def test_crash_mid_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    w, _, _ = _vars()
    saver = gc.Saver([w])
    path = saver.save(str(tmp_path / "atomic"))
    good = open(path + ".npz", "rb").read()

    def crashing_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip file")
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(np, "savez", crashing_savez)
    w.assign(np.full((2, 3), 9.0, np.float32))
    with pytest.raises(KeyboardInterrupt):
        saver.save(str(tmp_path / "atomic"))
    monkeypatch.undo()
    assert open(path + ".npz", "rb").read() == good
    assert sorted(os.listdir(tmp_path)) == ["atomic.npz", "checkpoint"]  # no temp file left behind
    saver.restore(path)
    np.testing.assert_array_equal(w.numpy(), np.arange(6).reshape(2, 3))


def test_save_inside_a_compiled_function_is_an_error(tmp_path):
    w, _, _ = _vars()
    saver = gc.Saver([w])

    @gc.compile
    def f(x):
        saver.save(str(tmp_path / "x"))
        return x

    with pytest.raises(gc.TraceError, match="outside compiled functions"):
        f(np.ones(1))
