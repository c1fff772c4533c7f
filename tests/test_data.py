"""graphc.data: element structure, every transformation against a plain-Python model,
counts over epochs (nothing lost or duplicated, with and without shuffling and parallel
map), errors at the element where they happen, shutdown without hangs, and that a
compiled call releases the GIL so background stages run during it."""
import collections
import gc as pygc
import os
import subprocess
import sys
import threading
import time
import weakref

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
import graphc.data as gd
from graphc.data import _threads


def _live_data_threads():
    return [t for t in threading.enumerate() if t.name.startswith("graphc.data")]


def _wait_no_threads(before=(), timeout=5.0):
    """Background stages stop within a few polls once closed (no timing assertion on
    how fast; the bound only keeps a broken stop from hanging the test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = [t for t in _live_data_threads() if t not in before]
        if not live:
            return []
        time.sleep(0.02)
    return [t for t in _live_data_threads() if t not in before]


# -- structure and sources -------------------------------------------------------------------

def test_from_tensor_slices_structures():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6)
    elems = list(gd.Dataset.from_tensor_slices((x, y)))
    assert len(elems) == 6
    for i, (a, b) in enumerate(elems):
        np.testing.assert_array_equal(a, x[i])
        assert isinstance(b, np.ndarray) and b.shape == () and b == i
    d = list(gd.Dataset.from_tensor_slices({"image": x, "label": y}))
    assert list(d[3]) == ["image", "label"] and d[3]["label"] == 3
    # a list is one component (tf.data's rule), not a structure
    assert [int(v) for v in gd.Dataset.from_tensor_slices([1, 2, 3])] == [1, 2, 3]
    Pair = collections.namedtuple("Pair", "a b")
    p = next(iter(gd.Dataset.from_tensor_slices(Pair(x, y))))
    assert isinstance(p, Pair) and p.b == 0


def test_from_tensor_slices_mismatch_names_shapes():
    with pytest.raises(gc.ShapeError, match=r"\[0\] \(4, 2\).*\[1\] \(5,\)"):
        gd.Dataset.from_tensor_slices((np.zeros((4, 2)), np.zeros(5)))


def test_range_take_skip_repeat_zip_filter():
    r = gd.Dataset.range(10)
    assert [int(v) for v in r.skip(2).take(5)] == [2, 3, 4, 5, 6]
    assert [int(v) for v in gd.Dataset.range(2, 9, 3)] == [2, 5, 8]
    assert [int(v) for v in gd.Dataset.range(3).repeat(2)] == [0, 1, 2, 0, 1, 2]
    assert len(list(gd.Dataset.range(3).repeat().take(10))) == 10
    z = list(gd.Dataset.zip((gd.Dataset.range(3), gd.Dataset.range(10, 20))))
    assert [(int(a), int(b)) for a, b in z] == [(0, 10), (1, 11), (2, 12)]
    assert [int(v) for v in r.filter(lambda v: v % 3 == 0)] == [0, 3, 6, 9]
    assert list(gd.Dataset.range(0).repeat()) == []  # an empty input repeated forever ends


def test_from_generator_types_and_shapes():
    def gen():
        for i in range(4):
            yield np.full(i + 1, i), i

    ds = gd.Dataset.from_generator(gen, output_types=(np.float32, np.int32), output_shapes=((None,), ()))
    out = list(ds)
    assert out[2][0].dtype == np.float32 and out[2][0].shape == (3,) and out[2][1].dtype == np.int32
    assert ds.element_spec == (gd.Spec((None,), np.float32), gd.Spec((), np.int32))
    bad = gd.Dataset.from_generator(gen, output_types=(np.float32, np.int32), output_shapes=((2,), ()))
    with pytest.raises(gc.ShapeError, match=r"element 0.*shape \(1,\).*\(2,\)"):
        list(bad)
    assert len(list(ds)) == 4 and len(list(ds)) == 4  # a new pass calls the generator again


def test_batch_and_drop_remainder():
    ds = gd.Dataset.range(10).batch(4)
    assert [b.tolist() for b in ds] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [b.tolist() for b in gd.Dataset.range(10).batch(4, drop_remainder=True)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert gd.Dataset.range(10).batch(4, drop_remainder=True).element_spec == gd.Spec((4,), np.int64)
    # the vectorized in-memory path gives the same batches
    x = np.arange(10)
    assert [b.tolist() for b in gd.Dataset.from_tensor_slices(x).batch(4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_batch_shape_mismatch_names_element_and_shapes():
    ds = gd.Dataset.from_generator(lambda: (np.zeros(3) if i != 5 else np.zeros(2) for i in range(8))).batch(4)
    it = iter(ds)
    next(it)
    with pytest.raises(gc.ShapeError, match=r"element 5 \(position 1 in batch 1\).*shape \(2,\).*element 4.*\(3,\)"):
        next(it)


def test_padded_batch():
    ds = gd.Dataset.from_generator(lambda: (np.arange(n) + 1 for n in (1, 3, 2, 4, 1)))
    out = list(ds.padded_batch(2))
    assert out[0].tolist() == [[1, 0, 0], [1, 2, 3]]
    assert out[1].tolist() == [[1, 2, 0, 0], [1, 2, 3, 4]]
    assert out[2].tolist() == [[1]]
    fixed = list(ds.padded_batch(5, padded_shapes=(6,), padding_values=-1))
    assert fixed[0].shape == (5, 6) and fixed[0][0].tolist() == [1, -1, -1, -1, -1, -1]
    with pytest.raises(gc.ShapeError, match=r"element 3 \(position 3 in batch 0\).*\(4,\).*larger than.*\(3,\)"):
        list(ds.padded_batch(5, padded_shapes=(3,)))


def test_map_structures_and_parallel_order():
    ds = gd.Dataset.from_tensor_slices((np.arange(50), np.arange(50) * 10))
    seq = [(int(a), int(b)) for a, b in ds.map(lambda a, b: (b, a))]
    par = [(int(a), int(b)) for a, b in ds.map(lambda a, b: (b, a), num_parallel_calls=4)]
    assert seq == par == [(10 * i, i) for i in range(50)]
    d = next(iter(ds.map(lambda a, b: {"s": a + b})))
    assert list(d) == ["s"] and d["s"] == 0


def test_shuffle_is_a_permutation_seeded_and_reshuffled():
    ds = gd.Dataset.range(100).shuffle(10, seed=3)
    e1, e2 = [int(v) for v in ds], [int(v) for v in ds]
    assert sorted(e1) == list(range(100)) and sorted(e2) == list(range(100))
    assert e1 != e2  # reshuffle_each_iteration (probability of equality ~ 1/100!)
    assert e1 == [int(v) for v in gd.Dataset.range(100).shuffle(10, seed=3)]  # same seed, same first epoch
    fixed = gd.Dataset.range(100).shuffle(10, seed=3, reshuffle_each_iteration=False)
    assert [int(v) for v in fixed] == [int(v) for v in fixed]
    # a buffer of 10 keeps elements near their position: element k comes out no
    # earlier than position k - 9
    assert all(pos >= v - 9 for pos, v in enumerate(e1))
    # the vectorized index path and the element path agree for the same seed
    x = np.arange(100)
    a = [int(v) for v in gd.Dataset.from_tensor_slices(x).shuffle(10, seed=5).batch(1).map(lambda b: b[0])]
    b = [int(v) for v in gd.Dataset.from_tensor_slices(x).map(lambda v: v).shuffle(10, seed=5)]
    assert a == b


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 60), batch=st.integers(1, 9), buffer=st.integers(1, 80), epochs=st.integers(1, 3),
       workers=st.sampled_from([None, 1, 3]), shuffle=st.booleans(), drop=st.booleans(),
       vectorized=st.booleans())
def test_no_element_lost_or_duplicated_over_epochs(n, batch, buffer, epochs, workers, shuffle, drop, vectorized):
    """Counts per epoch over several epochs: every element exactly once (bar the
    dropped remainder), with and without shuffling, parallel map and prefetch."""
    src = gd.Dataset.from_tensor_slices(np.arange(n, dtype=np.int64))
    if not vectorized:
        src = src.map(lambda v: v + 0, num_parallel_calls=workers)
    if shuffle:
        src = src.shuffle(buffer, seed=n)
    ds = src.batch(batch, drop_remainder=drop).map(lambda b: b * 2, num_parallel_calls=workers).prefetch(2)
    for _ in range(epochs):
        got = np.concatenate([b for b in ds] or [np.zeros(0, np.int64)]) // 2
        kept = (n // batch) * batch if drop else n
        assert len(got) == kept
        assert len(set(got.tolist())) == kept
        if not shuffle:
            assert got.tolist() == list(range(kept))
        elif not drop:
            assert sorted(got.tolist()) == list(range(n))


def test_repeat_epochs_counts_with_shuffle_and_parallel_map():
    ds = (gd.Dataset.from_tensor_slices(np.arange(37)).shuffle(8, seed=1).map(lambda v: v, num_parallel_calls=3)
          .repeat(4).batch(5).prefetch(3))
    got = np.concatenate(list(ds))
    assert len(got) == 4 * 37
    assert all(c == 4 for c in collections.Counter(got.tolist()).values())
    # each repetition is a whole epoch: the first 37 are a permutation
    assert sorted(got[:37].tolist()) == list(range(37))


# -- errors reach the consumer at the element -----------------------------------------------

def _boom_at(k):
    def fn(v):
        if int(v) == k:
            raise KeyError(f"bad element {int(v)}")
        return v
    return fn


@pytest.mark.parametrize("workers", [None, 1, 3])
def test_map_exception_at_its_element(workers):
    ds = gd.Dataset.range(20).map(_boom_at(7), num_parallel_calls=workers).prefetch(2)
    seen = []
    with pytest.raises(KeyError, match="bad element 7") as info:
        for v in ds:
            seen.append(int(v))
    assert seen == list(range(7))
    assert any("element 7" in n for n in getattr(info.value, "__notes__", ["element 7"]))


def test_generator_exception_at_its_element():
    def gen():
        yield from range(5)
        raise OSError("disk gone")

    seen = []
    with pytest.raises(OSError, match="disk gone") as info:
        for v in gd.Dataset.from_generator(gen).prefetch(3):
            seen.append(int(v))
    assert seen == [0, 1, 2, 3, 4]
    assert any("element 5" in n for n in getattr(info.value, "__notes__", ["element 5"]))


# -- files and CSV ---------------------------------------------------------------------------

def test_text_lines_csv_and_errors(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("x,y,name\n1.5,2,ann\n,7,\n3,4,\"b,c\"\n")
    b = tmp_path / "b.csv"
    b.write_text("9,9,z\r\n")
    lines = list(gd.TextLineDataset([str(a), str(b)]))
    assert lines[1] == b"1.5,2,ann" and lines[4] == b"9,9,z"
    assert lines[2].filename == str(a) and lines[2].line == 3
    defaults = [[0.25], [0], [""]]
    rows = list(gd.TextLineDataset(str(a)).skip(1).map(lambda line: tuple(gd.decode_csv(line, defaults))))
    assert [float(r[0]) for r in rows] == [1.5, 0.25, 3.0]
    assert rows[1][2] == b"" and rows[2][2] == b"b,c" and rows[0][1].dtype == np.int32
    csv_rows = list(gd.CsvDataset(str(a), defaults, header=True))
    assert [int(r[1]) for r in csv_rows] == [2, 7, 4]
    # batched decode of an array of lines
    cols = gd.decode_csv(np.array([b"1,2,a", b"3,,b"], dtype=object), [[0.0], [5], [""]])
    assert cols[0].tolist() == [1.0, 3.0] and cols[1].tolist() == [2, 5] and cols[2].tolist() == [b"a", b"b"]
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,a\n4,oops,b\n")
    with pytest.raises(gd.DataFormatError, match=r"bad\.csv line 2, column 2: cannot convert 'oops' to int32"):
        list(gd.CsvDataset(str(bad), defaults))
    with pytest.raises(gd.DataFormatError, match=r"bad\.csv line 2, column 2"):
        list(gd.TextLineDataset(str(bad)).map(lambda l: tuple(gd.decode_csv(l, defaults)), num_parallel_calls=2))
    short = tmp_path / "short.csv"
    short.write_text("1,2\n")
    with pytest.raises(gd.DataFormatError, match=r"short\.csv line 1: expected 3 fields, found 2"):
        list(gd.CsvDataset(str(short), defaults))
    with pytest.raises(gd.DataFormatError, match=r"line 1, column 1: the field is empty and the column has no "):
        gd.decode_csv(gd.Line(b",1,a", "f.csv", 1), [np.float32, [0], [""]])


def test_fixed_length_records_and_decode_raw(tmp_path):
    data = np.arange(12, dtype=np.int16)
    f = tmp_path / "r.bin"
    f.write_bytes(b"HDR" + data.tobytes() + b"FT")
    recs = list(gd.FixedLengthRecordDataset(str(f), 8, header_bytes=3, footer_bytes=2))
    assert len(recs) == 3
    assert gd.decode_raw(recs[1], np.int16).tolist() == [4, 5, 6, 7]
    batch = gd.decode_raw(np.array(recs, dtype=object), np.int16)
    assert batch.shape == (3, 4) and batch.ravel().tolist() == data.tolist()
    with pytest.raises(gd.DataFormatError, match="body length 24, which is not an exact multiple"):
        list(gd.FixedLengthRecordDataset(str(f), 10, header_bytes=3, footer_bytes=2))


# -- shutdown ----------------------------------------------------------------------------------

def test_break_and_gc_stop_background_threads():
    before = _live_data_threads()

    def endless():
        i = 0
        while True:
            yield i
            i += 1

    ds = gd.Dataset.from_generator(endless).map(lambda v: v, num_parallel_calls=3).prefetch(4)
    for k, _ in enumerate(ds):
        if k == 10:
            break
    assert _wait_no_threads(before) == []
    it = iter(ds)
    next(it)
    ref = weakref.ref(it)
    del it
    pygc.collect()
    assert ref() is None
    assert _wait_no_threads(before) == []
    it = iter(ds)
    next(it)
    it.close()
    assert _wait_no_threads(before) == []


# -- how many threads and handoffs a pipeline costs ---------------------------------------------

def _threads_while_iterating(ds):
    """The graphc.data threads alive while a pass is one element in, and every element."""
    before = _live_data_threads()
    it = iter(ds)
    first = next(it)
    during = [t for t in _live_data_threads() if t not in before]
    rest = list(it)
    assert _wait_no_threads(before) == []
    return during, [first] + rest


@pytest.mark.parametrize("workers,expected_threads", [(1, 1), (3, 4)])
def test_map_and_prefetch_fuse_into_one_background_stage(workers, expected_threads):
    """``map(num_parallel_calls=1).prefetch(k)`` is one thread that gathers, maps and
    buffers (no feeder/worker/prefetcher chain handing each batch across three threads);
    k workers are a feeder and k workers, and the prefetch after them adds none."""
    x = np.arange(100, dtype=np.int64)
    ds = (gd.Dataset.from_tensor_slices(x).shuffle(100, seed=3).batch(8)
          .map(lambda b: b * 2, num_parallel_calls=workers).prefetch(2).prefetch(3))
    during, batches = _threads_while_iterating(ds)
    assert len(during) == expected_threads, [t.name for t in during]
    got = np.concatenate(batches)
    assert sorted((got // 2).tolist()) == list(range(100))
    during, _ = _threads_while_iterating(gd.Dataset.range(10).prefetch(1).prefetch(2))
    assert len(during) == 1


def test_autotune_map_threads_leave_a_core_to_the_consumer():
    """AUTOTUNE sizes a map from the CPUs this process may use: one stays with the
    consumer's compiled step (which runs on graphc's kernel threads)."""
    from graphc.data import dataset as gdd

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert gdd._workers(gd.AUTOTUNE) == max(1, cpus - 1)
    assert gdd._workers(None) == 0 and gdd._workers(4) == 4


@settings(max_examples=20, deadline=None)
@given(size=st.integers(1, 5), n=st.integers(0, 200), consumer_sleeps=st.booleans(), seed=st.integers(0, 9))
def test_channel_hands_over_every_element_in_order(size, n, consumer_sleeps, seed):
    """The prefetch channel (lock-free pops, wakeups only for a waiting side, a full
    producer woken at half) loses, duplicates and reorders nothing, whichever side is
    faster."""
    rng = np.random.default_rng(seed)
    pauses = rng.random(n + 1) < 0.05
    channel, stop = _threads.Channel(size), threading.Event()
    assert channel.low == size // 2

    def produce():
        channel.start()
        try:
            for i in range(n):
                if not consumer_sleeps and pauses[i]:
                    time.sleep(0.001)
                channel.put(i, stop)
            channel.put(_threads._END, stop)
        finally:
            channel.finish()

    th = threading.Thread(target=produce, daemon=True)
    th.start()
    got = []
    while True:
        item = channel.get((th,))
        if item is _threads._END:
            break
        got.append(item)
        if consumer_sleeps and pauses[len(got)]:
            time.sleep(0.001)
    th.join(5)
    assert got == list(range(n))
    assert not channel._working            # its producer no longer counts as the pool's external work


def test_stopped_producer_leaves_a_full_channel():
    channel, stop = _threads.Channel(2), threading.Event()
    assert channel.put(1, stop) and channel.put(2, stop)
    stop.set()
    assert channel.put(3, stop) is False          # full and stopped: gives up instead of waiting
    assert [channel.get(()), channel.get(())] == [1, 2]


def test_interpreter_exit_does_not_hang(tmp_path):
    """A process that leaves a prefetching iterator over a generator blocked forever
    exits (daemon threads, stop events at exit)."""
    code = ("import threading, graphc.data as gd\n"
            "ev = threading.Event()\n"
            "def gen():\n"
            "    yield 1\n"
            "    ev.wait()\n"   # blocks forever
            "    yield 2\n"
            "it = iter(gd.Dataset.from_generator(gen).map(lambda v: v, num_parallel_calls=2).prefetch(2))\n"
            "print(int(next(it)))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


# -- compiled functions ------------------------------------------------------------------------

def test_map_over_batches_with_a_compiled_function():
    @gc.compile
    def augment(x, y):
        return x * 2.0 + 1.0, y

    x = np.random.default_rng(0).standard_normal((40, 3)).astype(np.float32)
    y = np.arange(40)
    ds = gd.Dataset.from_tensor_slices((x, y)).batch(8).map(augment, num_parallel_calls=2).prefetch(2)
    out = list(ds)
    np.testing.assert_allclose(np.concatenate([a for a, _ in out]), x * 2 + 1, rtol=1e-6)
    assert np.concatenate([b for _, b in out]).tolist() == list(range(40))


def _python_progress_during(call):
    """Run ``call()`` (one native call of half a second or more) while a Python thread
    records timestamps; True if some fall inside the middle of the call's window.
    (Holding the GIL, the thread could not run between entering and leaving native code.)"""
    stamps, stop = [], threading.Event()

    def spin():
        while not stop.is_set():
            stamps.append(time.perf_counter())

    th = threading.Thread(target=spin)
    th.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    call()
    t1 = time.perf_counter()
    stop.set()
    th.join()
    d = t1 - t0
    return any(t0 + 0.1 * d < s < t0 + 0.9 * d for s in stamps), d


def test_compiled_call_releases_the_gil():
    """A program with control flow (its own compiled entry point) releases the GIL."""
    w = (np.eye(256, dtype=np.float32) * 0.5).astype(np.float32)

    @gc.compile
    def long_call(x, n):
        def body(c):
            return c[0] + 1, gc.tanh(c[1] @ w + 0.1)
        return gc.while_loop(lambda c: c[0] < n, body, (gc.zeros((), "int64"), x))[1]

    x = np.ones((256, 256), np.float32)
    long_call(x, np.int64(2))       # compile first
    t = time.perf_counter()
    long_call(x, np.int64(50))
    per = (time.perf_counter() - t) / 50
    n = np.int64(max(50, int(0.6 / per)))   # a call of roughly half a second or more
    progressed, d = _python_progress_during(lambda: long_call(x, n))
    assert progressed, f"no Python progress during a {d:.2f} s native call"


def test_step_table_call_releases_the_gil():
    """A program without control flow runs through the step-table interpreter (another
    ctypes entry, codegen/step_table.py: what a training step uses); it releases the GIL
    too."""
    w = (np.eye(512, dtype=np.float32) * 0.5).astype(np.float32)

    def chain(x, layers):
        for _ in range(layers):
            x = gc.tanh(x @ w + 0.1)
        return x

    f = gc.compile(chain, static_argnums=(1,))
    x = np.ones((512, 512), np.float32)
    f(x, 8)
    t = time.perf_counter()
    f(x, 8)
    per_layer = (time.perf_counter() - t) / 8
    layers = max(8, min(400, int(0.6 / per_layer)))
    f(x, layers)                    # compile first
    executable = [c for c in f._cache.values() if c.executable is not None][-1].executable
    assert getattr(executable, "_table", None) is not None, "expected the step-table path"
    progressed, d = _python_progress_during(lambda: f(x, layers))
    assert progressed, f"no Python progress during a {d:.2f} s step-table call"


def test_input_pipeline_bench_runs():
    """The bench case (bench/input_pipeline.py) runs end to end and reports both rates
    (no assertion on the ratio: timing is the bench's job, not a test's)."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from bench.input_pipeline import measure

    r = measure(quick=True, epochs=1)
    assert r["presliced_steps_per_s"] > 0 and r["pipeline_steps_per_s"] > 0 and r["pipeline_ratio"] > 0
    lo, hi = r["pipeline_ratio_spread"]
    assert 0 < lo <= r["pipeline_ratio"] <= hi
    assert r["steps_per_epoch"] == 2048 // 256
