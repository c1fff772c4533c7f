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


# -- damaged checkpoints (issue 18): one CheckpointError, nothing assigned ----------------------

def _saved(tmp_path):
    w, b, step = _vars()
    path = gc.Saver([w, b, step]).save(str(tmp_path / "good"))
    for v, value in ((w, np.full((2, 3), -1, np.float32)), (b, np.zeros(2)), (step, np.int64(99))):
        v.assign(value)  # values that a failed restore must leave in place
    return (w, b, step), path + ".npz", open(path + ".npz", "rb").read()


def _restore_fails(variables, path, match):
    before = [v.numpy().copy() for v in variables]
    with pytest.raises(gc.CheckpointError, match=match) as info:
        gc.Saver(list(variables)).restore(path[:-4])
    assert path in str(info.value)
    for v, value in zip(variables, before):
        np.testing.assert_array_equal(v.numpy(), value)


def test_checkpoint_error_is_the_public_one():
    assert CheckpointError is gc.CheckpointError and issubclass(gc.CheckpointError, gc.GraphcError)


def test_empty_checkpoint(tmp_path):
    variables, path, _ = _saved(tmp_path)
    open(path, "wb").close()
    _restore_fails(variables, path, r"is empty \(0 bytes\)")


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_truncated_checkpoint(tmp_path, keep):
    variables, path, good = _saved(tmp_path)
    open(path, "wb").write(good[:max(1, int(len(good) * keep))])
    _restore_fails(variables, path, "truncated or corrupted|is corrupted")


def test_flipped_data_byte_fails_the_checks(tmp_path):
    variables, path, good = _saved(tmp_path)
    data = bytearray(good)
    data[good.index(b"\x93NUMPY") + 140] ^= 0xFF  # inside the first array's data
    open(path, "wb").write(bytes(data))
    _restore_fails(variables, path, "corrupted")


def test_consistent_zip_with_other_contents_fails_the_checksum(tmp_path):
    """Data rewritten with valid zip CRCs (which the zip layer cannot catch) but the
    original checksum comment."""
    import zipfile

    variables, path, good = _saved(tmp_path)
    comment = zipfile.ZipFile(path).comment
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["layer/b"] = arrays["layer/b"] + 1
    np.savez(path, **arrays)
    with zipfile.ZipFile(path, "a") as archive:
        archive.comment = comment
    _restore_fails(variables, path, "fail the SHA-256 checksum")


def test_corrupted_header_does_not_allocate_the_declared_size(tmp_path):
    """A .npy header claiming a 224 GiB array: refused from the header, before reading."""
    import zipfile

    w = gc.Variable(np.zeros((2, 3), np.float32), name="w")
    path = str(tmp_path / "big.npz")
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (60129542144,), }"
    header += b" " * (117 - len(header)) + b"\n"
    with zipfile.ZipFile(path, "w") as archive:  # an old-style checkpoint: no checksum comment
        archive.writestr("w.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 24)
    with pytest.raises(gc.ShapeError, match=r"saved with shape \(60129542144,\)"):
        gc.Saver([w]).restore(path[:-4])
    # the same header with the variable's shape but too little data
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
    header += b" " * (117 - len(header)) + b"\n"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 8)
    with pytest.raises(gc.CheckpointError, match="needs 24 bytes of data, its entry holds 8"):
        gc.Saver([w]).restore(path[:-4])
    np.testing.assert_array_equal(w.numpy(), np.zeros((2, 3)))


def test_entry_declaring_more_bytes_than_the_file_is_refused(tmp_path):
    variables, path, good = _saved(tmp_path)
    data = bytearray(good)
    central = good.rindex(b"PK\x01\x02")  # the last entry's central directory record
    data[central + 24:central + 28] = (2 ** 31).to_bytes(4, "little")  # its uncompressed size
    open(path, "wb").write(bytes(data))
    _restore_fails(variables, path, "corrupted")


def test_checkpoints_without_checksum_still_load(tmp_path):
    w, b, step = _vars()
    np.savez(str(tmp_path / "old.npz"), **{"layer/w": np.ones((2, 3), np.float32), "layer/b": np.ones(2),
                                           "global_step": np.int64(3)})
    gc.Saver([w, b, step]).restore(str(tmp_path / "old"))
    np.testing.assert_array_equal(w.numpy(), np.ones((2, 3)))
    assert step.numpy() == 3


def test_saved_checkpoint_is_a_plain_npz_with_a_checksum_comment(tmp_path):
    import zipfile

    _, path, _ = _saved(tmp_path)
    assert zipfile.ZipFile(path).comment.startswith(b"graphc-sha256:")
    with np.load(path) as data:
        assert sorted(data.files) == ["global_step", "layer/b", "layer/w"]
