"""graphc.compat.v1 queues, readers, queue runners and tf.data iterators in Session.run:
blocking, closing (OutOfRangeError / CancelledError), counts over epochs with several
runner threads, CSV errors naming file/line/column, and shutdown without hangs."""
import collections
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc.compat.v1 as tf


@pytest.fixture(autouse=True)
def fresh_graph():
    tf.reset_default_graph()
    yield


def _csv(tmp_path, name, rows):
    p = tmp_path / name
    p.write_text("".join(",".join(map(str, r)) + "\n" for r in rows))
    return str(p)


def test_fifo_queue_basics_and_out_of_range():
    q = tf.FIFOQueue(3, [tf.float32, tf.int32], shapes=[[2], []])
    x = tf.placeholder(tf.float32, [2])
    enq = q.enqueue([x, 7])
    a, b = q.dequeue()
    doubled = a * 2.0           # an ordinary op over a dequeued value: fed to the program
    with tf.Session() as s:
        s.run(enq, {x: [1, 2]})
        s.run(enq, {x: [3, 4]})
        assert s.run(q.size()) == 2
        np.testing.assert_array_equal(s.run(doubled), [2, 4])
        va, vb = s.run([a, b])
        np.testing.assert_array_equal(va, [3, 4])
        assert vb == 7 and s.run(q.size()) == 0
        assert not s.run(q.is_closed())
        s.run(q.close())
        assert s.run(q.is_closed())
        with pytest.raises(tf.errors.OutOfRangeError, match=r"is closed and has insufficient elements \(requested "
                                                            r"1, current size 0\)"):
            s.run(a)
        with pytest.raises(tf.errors.CancelledError, match="is closed"):
            s.run(enq, {x: [5, 6]})


def test_enqueue_shape_mismatch_names_shapes():
    q = tf.FIFOQueue(3, [tf.float32], shapes=[[3]])
    x = tf.placeholder(tf.float32, [None])
    enq = q.enqueue([x])
    with tf.Session() as s:
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"component 0. Expected \[3\], got \[2\]"):
            s.run(enq, {x: [1, 2]})


def test_dequeue_blocks_until_another_thread_enqueues():
    q = tf.FIFOQueue(2, [tf.int32], shapes=[[]])
    enq = q.enqueue([tf.constant(5)])
    deq = q.dequeue()
    with tf.Session() as s:
        got = []
        th = threading.Thread(target=lambda: got.append(s.run(deq)))
        th.start()
        time.sleep(0.1)
        assert th.is_alive() and not got        # blocked: nothing in the queue yet
        s.run(enq)
        th.join(30)
        assert got == [5]


def test_enqueue_many_dequeue_many_and_up_to():
    q = tf.FIFOQueue(100, [tf.int64], shapes=[[]])
    v = tf.placeholder(tf.int64, [None])
    enq = q.enqueue_many([v])
    many, up_to = q.dequeue_many(4), q.dequeue_up_to(4)
    assert many.shape.as_list() == [4] and up_to.shape.as_list() == [None]
    with tf.Session() as s:
        s.run(enq, {v: np.arange(10)})
        assert s.run(many).tolist() == [0, 1, 2, 3]
        s.run(q.close())
        assert s.run(up_to).tolist() == [4, 5, 6, 7]
        with pytest.raises(tf.errors.OutOfRangeError, match=r"requested 4, current size 2"):
            s.run(many)                 # dequeue_many needs all 4
        assert s.run(up_to).tolist() == [8, 9]   # dequeue_up_to takes the rest
        with pytest.raises(tf.errors.OutOfRangeError):
            s.run(up_to)


@settings(max_examples=20, deadline=None)
@given(chunks=st.lists(st.integers(0, 6), min_size=1, max_size=6), take=st.integers(1, 5))
def test_fifo_order_property(chunks, take):
    """Whatever the enqueue_many chunks and dequeue_up_to sizes, FIFO gives the input
    back in order, each element once."""
    tf.reset_default_graph()
    q = tf.FIFOQueue(1000, [tf.int32], shapes=[[]])
    v = tf.placeholder(tf.int32, [None])
    enq, deq = q.enqueue_many([v]), q.dequeue_up_to(take)
    sent, got = [], []
    with tf.Session() as s:
        k = 0
        for c in chunks:
            s.run(enq, {v: np.arange(k, k + c, dtype=np.int32)})
            sent += list(range(k, k + c))
            k += c
        s.run(q.close())
        while True:
            try:
                got += s.run(deq).tolist()
            except tf.errors.OutOfRangeError:
                break
    assert got == sent


def test_close_with_cancel_wakes_a_blocked_enqueue():
    q = tf.FIFOQueue(1, [tf.int32], shapes=[[]])
    enq = q.enqueue([tf.constant(1)])
    with tf.Session() as s:
        s.run(enq)
        errors = []

        def blocked():
            try:
                s.run(enq)                      # the queue is full: blocks
            except tf.errors.CancelledError as e:
                errors.append(e)

        th = threading.Thread(target=blocked)
        th.start()
        time.sleep(0.1)
        assert th.is_alive()
        s.run(q.close(cancel_pending_enqueues=True))
        th.join(30)
        assert not th.is_alive() and len(errors) == 1 and "cancel" in str(errors[0])


def test_session_close_wakes_a_blocked_dequeue():
    q = tf.FIFOQueue(1, [tf.int32], shapes=[[]])
    deq = q.dequeue()
    s = tf.Session()
    errors = []

    def blocked():
        try:
            s.run(deq)
        except tf.errors.OutOfRangeError as e:
            errors.append(e)

    th = threading.Thread(target=blocked)
    th.start()
    time.sleep(0.1)
    s.close()
    th.join(30)
    assert not th.is_alive() and len(errors) == 1


def test_random_shuffle_queue_keeps_min_after_dequeue_and_every_element():
    q = tf.RandomShuffleQueue(50, min_after_dequeue=5, dtypes=[tf.int32], shapes=[[]], seed=3)
    v = tf.placeholder(tf.int32, [None])
    enq, deq, size = q.enqueue_many([v]), q.dequeue(), q.size()
    with tf.Session() as s:
        s.run(enq, {v: np.arange(8, dtype=np.int32)})
        got = [int(s.run(deq)) for _ in range(3)]
        assert s.run(size) == 5
        th = threading.Thread(target=lambda: got.append(int(s.run(deq))))
        th.start()
        time.sleep(0.1)
        assert th.is_alive()                   # only min_after_dequeue left: it waits
        s.run(q.close())                        # closed: the rest can be drained
        th.join(30)
        while True:
            try:
                got.append(int(s.run(deq)))
            except tf.errors.OutOfRangeError:
                break
    assert sorted(got) == list(range(8)) and got != list(range(8))


def test_padding_fifo_queue_pads_dequeue_many():
    q = tf.PaddingFIFOQueue(10, [tf.int32], shapes=[[None]])
    v = tf.placeholder(tf.int32, [None])
    enq, deq = q.enqueue([v]), q.dequeue_many(3)
    assert deq.shape.as_list() == [3, None]
    with tf.Session() as s:
        for n in (1, 3, 2):
            s.run(enq, {v: np.arange(1, n + 1, dtype=np.int32)})
        assert s.run(deq).tolist() == [[1, 0, 0], [1, 2, 3], [1, 2, 0]]


def _reader_pipeline(files, num_epochs, batch_fn, **kw):
    fq = tf.train.string_input_producer(files, num_epochs=num_epochs, shuffle=True, seed=1)
    key, value = tf.TextLineReader(skip_header_lines=1).read(fq)
    x1, x2, label = tf.decode_csv(value, record_defaults=[[0.0], [0.0], [0]])
    features = tf.stack([x1, x2])
    return batch_fn([features, label], **kw)


@pytest.mark.parametrize("shuffle", [False, True])
def test_csv_reader_batches_count_every_row_each_epoch(tmp_path, shuffle):
    """Two files, three epochs, two runner threads: every row exactly three times."""
    f1 = _csv(tmp_path, "a.csv", [("x1", "x2", "y")] + [(i, i * 10, i) for i in range(7)])
    f2 = _csv(tmp_path, "b.csv", [("x1", "x2", "y")] + [(i, i * 10, i) for i in range(7, 12)])
    if shuffle:
        fb, lb = _reader_pipeline([f1, f2], 3, tf.train.shuffle_batch, batch_size=5, capacity=20,
                                  min_after_dequeue=4, num_threads=2, seed=2, allow_smaller_final_batch=True)
    else:
        fb, lb = _reader_pipeline([f1, f2], 3, tf.train.batch, batch_size=5, num_threads=2,
                                  allow_smaller_final_batch=True)
    assert fb.shape.as_list() == [None, 2]
    total = tf.reduce_sum(fb, axis=1)           # compiled, fed the dequeued batch
    labels = []
    with tf.Session() as sess:
        sess.run(tf.local_variables_initializer())
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess=sess, coord=coord)
        try:
            while not coord.should_stop():
                t, l, f = sess.run([total, lb, fb])
                np.testing.assert_allclose(t, f[:, 0] * 11)
                np.testing.assert_array_equal(f[:, 0], l)
                labels += l.tolist()
        except tf.errors.OutOfRangeError:
            pass
        finally:
            coord.request_stop()
        coord.join(threads)
    assert collections.Counter(labels) == {i: 3 for i in range(12)}


def test_malformed_csv_row_names_file_line_and_column(tmp_path):
    f = _csv(tmp_path, "bad.csv", [(1, 2, 0), (3, "x?", 1)])
    fq = tf.train.string_input_producer([f], num_epochs=1, shuffle=False)
    key, value = tf.TextLineReader().read(fq)
    cols = tf.decode_csv(value, record_defaults=[[0.0], [0.0], [0]])
    with tf.Session() as sess:
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess=sess, coord=coord)
        k, c = sess.run([key, cols])
        assert k == f"{f}:1".encode() and c[1] == 2.0
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"bad\.csv line 2, column 2: cannot convert 'x\?' "
                                                                 r"to float32"):
            sess.run(cols)
        coord.request_stop()
        coord.join(threads)


def test_fixed_length_records_and_decode_raw(tmp_path):
    data = np.arange(24, dtype=np.uint8)
    p = tmp_path / "r.bin"
    p.write_bytes(b"H" + data.tobytes())
    fq = tf.train.string_input_producer([str(p)], num_epochs=1, shuffle=False)
    key, value = tf.FixedLengthRecordReader(record_bytes=8, header_bytes=1).read(fq)
    rec = tf.decode_raw(value, tf.uint8)
    assert rec.shape.as_list() == [8]
    as_float = tf.cast(tf.reshape(rec, [2, 4]), tf.float32)
    with tf.Session() as sess:
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess=sess, coord=coord)
        out = [sess.run(as_float) for _ in range(3)]
        with pytest.raises(tf.errors.OutOfRangeError):
            sess.run(as_float)
        coord.request_stop()
        coord.join(threads)
    np.testing.assert_array_equal(np.concatenate([o.ravel() for o in out]), data.astype(np.float32))


def test_request_stop_ends_runner_threads_blocked_on_a_full_queue():
    """An endless producer fills its queue and blocks; request_stop cancels the pending
    enqueue and join returns."""
    fq = tf.train.string_input_producer(["a", "b", "c"], capacity=2)
    deq = fq.dequeue()
    with tf.Session() as sess:
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess=sess, coord=coord)
        assert sess.run(deq) in (b"a", b"b", b"c")
        coord.request_stop()
        coord.join(threads, stop_grace_period_secs=30)
        assert not any(t.is_alive() for t in threads)


def test_runner_errors_reach_the_coordinator(tmp_path):
    fq = tf.train.string_input_producer([str(tmp_path / "missing.csv")])
    key, value = tf.TextLineReader().read(fq)
    q = tf.FIFOQueue(4, [tf.string], shapes=[[]])
    tf.train.add_queue_runner(tf.train.QueueRunner(q, [q.enqueue([value])]))
    with tf.Session() as sess:
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess=sess, coord=coord)
        with pytest.raises(tf.errors.NotFoundError, match="missing.csv"):
            coord.join(threads, stop_grace_period_secs=30)


def test_train_from_shuffle_batch():
    """The books' pattern: a model trained on batches a queue runner feeds."""
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((64, 3)).astype(np.float32)
    ys = (xs @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.25).astype(np.float32)
    xb, yb = tf.train.shuffle_batch([tf.constant(xs), tf.constant(ys)], batch_size=16, capacity=64,
                                    min_after_dequeue=16, enqueue_many=True, seed=1)
    w = tf.Variable(tf.zeros([3, 1]))
    b = tf.Variable(0.0)
    loss = tf.reduce_mean(tf.square(tf.matmul(xb, w) + b - yb))
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess=sess, coord=coord)
        first = sess.run(loss)
        for _ in range(150):
            sess.run(train)
        last = sess.run(loss)
        coord.request_stop()
        coord.join(threads)
    assert last < 1e-3 * first


def test_dataset_one_shot_iterator():
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    it = tf.data.Dataset.from_tensor_slices((x, np.arange(5))).batch(2).make_one_shot_iterator()
    a, b = it.get_next()
    assert a.shape.as_list() == [None, 2] and a.dtype == tf.float32 and b.dtype == tf.int64
    s = tf.reduce_sum(a, axis=1)
    got = []
    with tf.Session() as sess:
        while True:
            try:
                sv, bv = sess.run([s, b])
            except tf.errors.OutOfRangeError:
                break
            np.testing.assert_allclose(sv, x[bv].sum(1))
            got += bv.tolist()
        with pytest.raises(tf.errors.OutOfRangeError):
            sess.run(s)
    assert got == [0, 1, 2, 3, 4]


def test_dataset_initializable_iterator_with_placeholder():
    p = tf.placeholder(tf.float32, [None, 2])
    it = tf.data.make_initializable_iterator(tf.data.Dataset.from_tensor_slices(p).shuffle(10, seed=1).batch(3))
    nxt = it.get_next()
    assert nxt.shape.as_list() == [None, 2]
    total = tf.reduce_sum(nxt)
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    with tf.Session() as sess:
        with pytest.raises(tf.errors.FailedPreconditionError, match="not been initialized"):
            sess.run(nxt)
        for scale in (1, 2):
            sess.run(it.initializer, feed_dict={p: x * scale})
            vals = []
            while True:
                try:
                    vals.append(sess.run(total))
                except tf.errors.OutOfRangeError:
                    break
            assert sum(vals) == pytest.approx(45.0 * scale) and len(vals) == 2


def test_no_host_ops_no_change():
    """A graph without queues runs exactly as before (the stage check is cached)."""
    a = tf.placeholder(tf.float32, [None])
    b = a * 2.0
    with tf.Session() as s:
        np.testing.assert_array_equal(s.run(b, {a: [1, 2]}), [2, 4])
        assert getattr(s, "_host_stages", None) is not None


def test_decode_csv_in_a_dataset_map_and_the_book_sample():
    """In a tf.data map function graphc passes values, so decode_csv decodes at once;
    the chapter-12-style sample runs end to end (its own asserts: every row once per
    epoch, accuracy > 0.9) and removes its temporary directory."""
    import os
    import sys

    cols = tf.decode_csv(b"1.5,,3", record_defaults=[[0.0], [2.0], [0]])
    assert [c.tolist() for c in cols] == [1.5, 2.0, 3]
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "samples",
                                    "tf1_book"))
    import csv_reader_pipeline

    before = set(os.listdir(__import__("tempfile").gettempdir()))
    out = csv_reader_pipeline.main()
    assert out["rows_read"] == 1000 and out["dataset_rows"] == 200 and out["accuracy"] > 0.9
    after = set(os.listdir(__import__("tempfile").gettempdir()))
    assert not [d for d in after - before if d.startswith("graphc_csv_")]


def test_interpreter_exit_with_runner_threads_still_blocked():
    """A program that never calls request_stop/join (runner threads blocked on a full
    queue) still exits: the runner threads are daemons."""
    import subprocess
    import sys

    code = ("import graphc.compat.v1 as tf\n"
            "q = tf.train.string_input_producer(['a', 'b'], capacity=2)\n"
            "d = q.dequeue()\n"
            "sess = tf.Session()\n"
            "threads = tf.train.start_queue_runners(sess=sess)\n"
            "print(sess.run(d) in (b'a', b'b'))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"


def test_initializable_iterator_over_a_mapped_placeholder_dataset():
    """The element spec of a map over not-yet-bound placeholders comes from applying the
    map function to a stand-in element."""
    p = tf.placeholder(tf.float32, [None, 3])
    it = tf.data.Dataset.from_tensor_slices(p).map(lambda r: r * 2).batch(2).make_initializable_iterator()
    n = it.get_next()
    assert n.shape.as_list() == [None, 3]
    total = tf.reduce_sum(n)
    with tf.Session() as s:
        s.run(it.initializer, {p: np.ones((3, 3), np.float32)})
        assert s.run(total) == 12.0
        np.testing.assert_array_equal(s.run(n), np.full((1, 3), 2.0))
        with pytest.raises(tf.errors.OutOfRangeError):
            s.run(n)


def test_train_batch_dict_and_dynamic_pad():
    """tf.train.batch keeps a dict's keys; dynamic_pad pads variable-length components."""
    q = tf.FIFOQueue(10, [tf.int32], shapes=[[None]])
    v = tf.placeholder(tf.int32, [None])
    enq = q.enqueue([v])
    seq = q.dequeue()
    out = tf.train.batch({"seq": seq, "n": tf.size(seq)}, batch_size=2, dynamic_pad=True)
    assert sorted(out) == ["n", "seq"] and out["seq"].shape.as_list() == [2, None]
    with tf.Session() as s:
        for n in (2, 4, 1, 3):
            s.run(enq, {v: np.arange(1, n + 1, dtype=np.int32)})
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess=s, coord=coord)
        a = s.run(out)
        b = s.run(out)
        coord.request_stop()
        coord.join(threads)
    assert a["seq"].tolist() == [[1, 2, 0, 0], [1, 2, 3, 4]] and a["n"].tolist() == [2, 4]
    assert b["seq"].tolist() == [[1, 0, 0], [1, 2, 3]] and b["n"].tolist() == [1, 3]
