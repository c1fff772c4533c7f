"""TF 1.x reinitializable and feedable iterators (issue 14): Iterator.from_structure +
make_initializer, Iterator.from_string_handle + string_handle, initializable iterators
re-run per epoch, the output_types/output_shapes accessors, and their errors."""
from __future__ import annotations

import collections
import os
import sys

import numpy as np
import pytest

import graphc.compat.v1 as tf


def _drain(sess, fetch, feed_dict=None):
    out = []
    while True:
        try:
            out.append(sess.run(fetch, feed_dict))
        except tf.errors.OutOfRangeError:
            return out


def test_reinitializable_switches_datasets_with_counts_over_epochs():
    """One iterator, two datasets: every element exactly once per pass, over several
    passes, switching in the middle of a pass restarts cleanly."""
    train = tf.data.Dataset.from_tensor_slices(np.arange(50, dtype=np.int64)).shuffle(50, seed=0).batch(7)
    val = tf.data.Dataset.range(100, 120).batch(7)
    it = tf.data.Iterator.from_structure(train.output_types, train.output_shapes)
    nxt = it.get_next()
    assert nxt.dtype == tf.int64 and nxt.shape.as_list() == [None]
    doubled = nxt * 2
    train_init, val_init = it.make_initializer(train), it.make_initializer(val)
    orders = []
    with tf.Session() as sess:
        for epoch in range(3):
            sess.run(train_init)
            sess.run(nxt)                       # half a pass, then start again
            sess.run(train_init)
            batches = _drain(sess, nxt)
            assert sorted(np.concatenate(batches).tolist()) == list(range(50))
            assert [len(b) for b in batches] == [7] * 7 + [1]
            orders.append(np.concatenate(batches).tolist())
            sess.run(val_init)
            got = np.concatenate(_drain(sess, doubled)).tolist()
            assert got == [2 * v for v in range(100, 120)]
            with pytest.raises(tf.errors.OutOfRangeError):   # stays at the end until reinitialized
                sess.run(nxt)
    assert orders[0] != orders[1]                # reshuffled each pass


def test_get_next_before_initialization_raises_failed_precondition():
    it = tf.data.Iterator.from_structure(tf.float32, [None, 3])
    nxt = it.get_next()
    init = it.make_initializer(tf.data.Dataset.from_tensor_slices(np.ones((4, 3), np.float32)).batch(2))
    with tf.Session() as sess:
        with pytest.raises(tf.errors.FailedPreconditionError, match="not been initialized"):
            sess.run(nxt)
        sess.run(init)
        assert sess.run(tf.reduce_sum(nxt)) == 6.0
    with tf.Session() as sess:                   # iterator state belongs to the session
        with pytest.raises(tf.errors.FailedPreconditionError):
            sess.run(nxt)


def test_structure_mismatch_names_both_structures():
    it = tf.data.Iterator.from_structure((tf.float32, tf.int32), ([None, 2], [None]))
    with pytest.raises(TypeError) as e:          # wrong structure: one component instead of two
        it.make_initializer(tf.data.Dataset.from_tensor_slices(np.zeros((3, 2), np.float32)))
    assert "(tf.float32, tf.int32)" in str(e.value) and "tf.float32" in str(e.value).split("structured as")[-1]
    with pytest.raises(TypeError, match=r"\(tf.float32, tf.int32\).*\(tf.float32, tf.int64\)"):
        it.make_initializer(tf.data.Dataset.from_tensor_slices((np.zeros((3, 2), np.float32),
                                                                np.zeros(3, np.int64))))
    with pytest.raises(ValueError, match=r"compatible with .*\[None, 2\].*TensorShape\(\[4, 3\]\)"):
        it.make_initializer(tf.data.Dataset.from_tensor_slices((np.zeros((8, 3), np.float32),
                                                                np.zeros(8, np.int32))).batch(4, drop_remainder=True))
    # compatible: a more specific shape, and tf vs numpy dtypes
    it.make_initializer(tf.data.Dataset.from_tensor_slices((np.zeros((3, 2), np.float32),
                                                            np.zeros(3, np.int32))).batch(3, drop_remainder=True))


def test_dict_structures_match_by_key_and_unknown_shapes():
    it = tf.data.Iterator.from_structure({"x": tf.float32, "n": tf.int32})
    nxt = it.get_next()
    assert sorted(nxt) == ["n", "x"] and nxt["x"].shape.ndims is None
    ds = tf.data.Dataset.from_tensor_slices({"n": np.arange(3, dtype=np.int32),
                                             "x": np.arange(6, dtype=np.float32).reshape(3, 2)})
    init = it.make_initializer(ds)
    with tf.Session() as sess:
        sess.run(init)
        first = sess.run(nxt)
    assert first["n"] == 0 and first["x"].tolist() == [0.0, 1.0]
    with pytest.raises(TypeError, match="'x'.*'y'|'y'.*'x'"):
        it.make_initializer(tf.data.Dataset.from_tensor_slices({"y": np.zeros(3, np.float32),
                                                                "n": np.zeros(3, np.int32)}))


def test_initializable_iterator_rerun_per_epoch_with_placeholders():
    """The initializer binds the fed placeholders every time it runs: each epoch may feed
    different data; counts per epoch with shuffling and a parallel map."""
    x = tf.placeholder(tf.int64, [None])
    ds = tf.data.Dataset.from_tensor_slices(x).shuffle(100, seed=5).map(lambda v: v + 1, num_parallel_calls=2)
    it = ds.batch(8).make_initializable_iterator()
    nxt = it.get_next()
    with tf.Session() as sess:
        for epoch in range(4):
            n = 30 + 10 * epoch
            sess.run(it.initializer, feed_dict={x: np.arange(n)})
            got = np.concatenate(_drain(sess, nxt)).tolist()
            assert sorted(got) == list(range(1, n + 1))


def test_feedable_iterator_selects_by_handle_per_run():
    train = tf.data.Dataset.range(10).repeat()
    val = tf.data.Dataset.range(100, 105)
    handle = tf.placeholder(tf.string, shape=[])
    it = tf.data.Iterator.from_string_handle(handle, train.output_types, train.output_shapes)
    nxt = it.get_next()
    plus = nxt + 1000
    train_it = train.make_one_shot_iterator()
    val_it = val.make_initializable_iterator()
    with tf.Session() as sess:
        th, vh = sess.run([train_it.string_handle(), val_it.string_handle()])
        assert isinstance(th, bytes) and th != vh
        with pytest.raises(tf.errors.FailedPreconditionError):
            sess.run(nxt, {handle: vh})
        seen = []
        for epoch in range(3):
            seen += [int(sess.run(nxt, {handle: th})) for _ in range(7)]
            sess.run(val_it.initializer)
            assert [int(v) for v in _drain(sess, plus, {handle: vh})] == list(range(1100, 1105))
        assert seen == [i % 10 for i in range(21)]   # the training position survives validation passes
        with pytest.raises(tf.errors.InvalidArgumentError, match="names no live iterator"):
            sess.run(nxt, {handle: b"not a handle"})


def test_feedable_iterator_rejects_a_handle_of_another_structure():
    handle = tf.placeholder(tf.string, shape=[])
    it = tf.data.Iterator.from_string_handle(handle, tf.int64, [])
    nxt = it.get_next()
    other = tf.data.Dataset.from_tensor_slices(np.zeros((3, 2), np.float32)).make_one_shot_iterator()
    with tf.Session() as sess:
        h = sess.run(other.string_handle())
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"tf.int64.*tf.float32"):
            sess.run(nxt, {handle: h})


def test_output_types_and_shapes_accessors():
    Pair = collections.namedtuple("Pair", "image label")
    ds = tf.data.Dataset.from_tensor_slices(Pair(np.zeros((5, 28, 28), np.float32), np.zeros(5, np.int32))).batch(2)
    assert ds.output_types == Pair(np.float32, np.int32)
    assert ds.output_shapes == Pair((None, 28, 28), (None,))
    types = tf.data.get_output_types(ds)
    shapes = tf.data.get_output_shapes(ds)
    assert types == Pair(tf.float32, tf.int32) and isinstance(types.image, tf.DType)
    assert shapes.image.as_list() == [None, 28, 28] and isinstance(shapes.label, tf.TensorShape)
    it = tf.data.Iterator.from_structure(types, shapes)
    assert tf.data.get_output_types(it) == types and it.output_shapes == shapes
    assert tf.data.get_output_classes(ds) == Pair(tf.Tensor, tf.Tensor)
    assert tf.compat.v1.data.get_output_types(ds) == types


def test_from_structure_misuse_is_a_clear_error():
    it = tf.data.Iterator.from_structure(tf.float32, [None])
    with pytest.raises(ValueError, match="make_initializer"):
        it.initializer
    with pytest.raises(ValueError, match="does not match the structure"):
        tf.data.Iterator.from_structure((tf.float32, tf.int32), [None])
    with pytest.raises(TypeError, match="tf.string tensor"):
        tf.data.Iterator.from_string_handle(tf.placeholder(tf.float32, []), tf.float32)
    one_shot = tf.data.Dataset.range(3).make_one_shot_iterator()
    with pytest.raises(ValueError, match="one-shot"):
        one_shot.make_initializer(tf.data.Dataset.range(3))


def test_programmers_guide_sample():
    """samples/tf1_book/dataset_iterators.py: the guide's train/validation switching with
    initializable, reinitializable and feedable iterators (its own asserts: every row
    once per epoch, validation accuracy > 0.9)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "samples",
                                    "tf1_book"))
    import dataset_iterators

    out = dataset_iterators.main(epochs=2)
    assert out["initializable_rows"] == [400, 400]
    assert [h[:2] for h in out["reinitializable"]] == [(400, 100)] * 2
    assert [h[:2] for h in out["feedable"]] == [(400, 100)] * 2
