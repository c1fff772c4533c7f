"""tf.train's queue-based input pipeline: QueueRunner, Coordinator, start_queue_runners,
string_input_producer, batch and shuffle_batch (the books' CSV/record readers).

A QueueRunner's threads call ``sess.run(enqueue_op)`` in a loop. When its input runs
out (``OutOfRangeError``, e.g. ``string_input_producer`` after ``num_epochs``) the
runner closes its queue, so the consumer's dequeue drains what is left and then raises
``OutOfRangeError``; any other error is reported to the Coordinator, which stops every
thread. ``coord.request_stop()`` also closes each runner's queue with
``cancel_pending_enqueues=True``, so threads blocked on a full queue wake up and end, and
``coord.join(threads)`` returns; a runner thread waiting on any other queue (a reader's
filename queue) is woken too (its blocking waits watch the coordinator's stop event).
Threads are daemons: interpreter exit never waits.
"""
from __future__ import annotations

import contextlib
import glob as _glob
import sys
import threading
import time

import numpy as np

from . import dtypes as _dtypes
from .errors import CancelledError, OutOfRangeError
from .graph import Tensor, get_default_graph
from .hostrun import mark_graph, record_host_input, session_state, set_cancel_event
from .queues import FIFOQueue, PaddingFIFOQueue, RandomShuffleQueue
from .variables import GraphKeys

GraphKeys.QUEUE_RUNNERS = getattr(GraphKeys, "QUEUE_RUNNERS", "queue_runners")


class Coordinator:
    """Lets threads ask each other to stop, and reports the first exception."""

    def __init__(self, clean_stop_exception_types=None):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._exc_info = None
        self._clean = tuple(clean_stop_exception_types or (OutOfRangeError,))
        self._registered: list = []
        self._on_stop: list = []

    def request_stop(self, ex=None):
        with self._lock:
            if ex is not None and self._exc_info is None and not isinstance(ex, self._clean):
                self._exc_info = (type(ex), ex, ex.__traceback__) if isinstance(ex, BaseException) else ex
            first = not self._stop.is_set()
            self._stop.set()
            callbacks = list(self._on_stop) if first else []
        for cb in callbacks:
            try:
                cb()
            except Exception:
                pass

    def should_stop(self):
        return self._stop.is_set()

    def clear_stop(self):
        with self._lock:
            self._stop.clear()
            self._exc_info = None

    def wait_for_stop(self, timeout=None):
        return self._stop.wait(timeout)

    @contextlib.contextmanager
    def stop_on_exception(self):
        try:
            yield
        except BaseException as e:  # noqa: BLE001
            self.request_stop(e)

    def register_thread(self, thread):
        with self._lock:
            self._registered.append(thread)

    def _add_stop_callback(self, fn):
        with self._lock:
            if self._stop.is_set():
                run_now = True
            else:
                self._on_stop.append(fn)
                run_now = False
        if run_now:
            fn()

    def join(self, threads=None, stop_grace_period_secs=120, ignore_live_threads=False):
        """Wait for the threads (and registered ones) to end after a stop was requested,
        then re-raise the exception a thread reported, if any."""
        threads = list(threads or []) + [t for t in self._registered if t not in (threads or [])]
        while any(t.is_alive() for t in threads) and not self.wait_for_stop(0.05):
            pass
        deadline = time.monotonic() + stop_grace_period_secs
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        live = [t.name for t in threads if t.is_alive()]
        if self._exc_info is not None:
            _, ex, tb = self._exc_info
            raise ex.with_traceback(tb)
        if live and not ignore_live_threads:
            raise RuntimeError(f"Coordinator stopped with threads still running: {' '.join(live)}")

    @property
    def joined(self):
        return False

    def raise_requested_exception(self):
        if self._exc_info is not None:
            _, ex, tb = self._exc_info
            raise ex.with_traceback(tb)


class QueueRunner:
    """Threads that run ``enqueue_ops`` (one thread each) into ``queue``."""

    def __init__(self, queue=None, enqueue_ops=None, close_op=None, cancel_op=None,
                 queue_closed_exception_types=None, queue_runner_def=None, import_scope=None):
        if queue is None or not enqueue_ops:
            raise ValueError("QueueRunner needs a queue and at least one enqueue op")
        self._queue = queue
        self._enqueue_ops = list(enqueue_ops)
        self._close_op = close_op if close_op is not None else queue.close()
        self._cancel_op = cancel_op if cancel_op is not None else queue.close(cancel_pending_enqueues=True)
        self._closed_types = tuple(queue_closed_exception_types or (OutOfRangeError, CancelledError))
        self._exceptions: list = []

    @property
    def queue(self):
        return self._queue

    @property
    def enqueue_ops(self):
        return list(self._enqueue_ops)

    @property
    def close_op(self):
        return self._close_op

    @property
    def cancel_op(self):
        return self._cancel_op

    @property
    def exceptions_raised(self):
        return list(self._exceptions)

    @property
    def name(self):
        return self._queue.name

    def create_threads(self, sess, coord=None, daemon=False, start=False):
        """One thread per enqueue op (daemon threads in graphc regardless of ``daemon``,
        so a program that forgets ``coord.join`` still exits)."""
        live = session_state(sess, ("queue_runner", self), _RunnerState)
        threads = [threading.Thread(target=self._run, args=(sess, op, coord, live),
                                    name=f"QueueRunnerThread-{self.name}-{k}", daemon=True)
                   for k, op in enumerate(self._enqueue_ops)]
        if coord is not None:
            coord._add_stop_callback(lambda: self._cancel(sess))
        with live.lock:
            live.running += len(threads)    # the last of them to finish closes the queue
        for t in threads:
            if coord is not None:
                coord.register_thread(t)
            if start:
                t.start()
        return threads

    def _cancel(self, sess):
        try:
            sess.run(self._cancel_op)
        except Exception:
            pass

    def _run(self, sess, enqueue_op, coord, live):
        decremented = False
        set_cancel_event(coord._stop if coord is not None else None)
        try:
            while not (coord is not None and coord.should_stop()):
                try:
                    sess.run(enqueue_op)
                except self._closed_types:
                    # the input is exhausted (or the queue closed): the last thread closes it
                    with live.lock:
                        live.running -= 1
                        decremented = True
                        last = live.running == 0
                    if last:
                        try:
                            sess.run(self._close_op)
                        except Exception as e:  # noqa: BLE001
                            self._exceptions.append(e)
                    return
        except BaseException as e:  # noqa: BLE001
            if sess._closed:     # the session went away under us: a normal end
                return
            self._exceptions.append(e)
            if coord is not None:
                coord.request_stop(e)
            else:
                print(f"QueueRunner {self.name}: {type(e).__name__}: {e}", file=sys.stderr)
        finally:
            if not decremented:
                with live.lock:
                    live.running -= 1


class _RunnerState:
    def __init__(self):
        self.lock = threading.Lock()
        self.running = 0


def add_queue_runner(qr, collection=GraphKeys.QUEUE_RUNNERS):
    get_default_graph().add_to_collection(collection, qr)


def start_queue_runners(sess=None, coord=None, daemon=True, start=True, collection=GraphKeys.QUEUE_RUNNERS):
    """Start the graph's queue runners in ``sess``; returns their threads."""
    from .session import get_default_session

    sess = sess or get_default_session()
    if sess is None:
        raise ValueError("Cannot start queue runners: No default session is registered. Use `with "
                         "sess.as_default()` or pass an explicit session to tf.start_queue_runners(sess=sess)")
    threads = []
    for qr in sess.graph.get_collection(collection):
        threads += qr.create_threads(sess, coord=coord, daemon=daemon, start=start)
    return threads


# -- producers ---------------------------------------------------------------------------------------

def match_filenames_once(pattern, name=None):
    """The files matching ``pattern`` (a glob), sorted; matched when called (TF matches
    once at initialization)."""
    patterns = [pattern] if isinstance(pattern, (str, bytes)) else list(pattern)
    out = []
    for p in patterns:
        out += sorted(_glob.glob(p.decode() if isinstance(p, bytes) else p))
    return out


class _EpochState:
    def __init__(self):
        self.lock = threading.Lock()
        self.epochs = 0


def _producer(values, dtype, num_epochs, shuffle, seed, capacity, name, shapes):
    """A FIFOQueue fed one epoch of ``values`` per enqueue run by its QueueRunner;
    after ``num_epochs`` the enqueue raises OutOfRangeError and the runner closes it."""
    graph = get_default_graph()
    mark_graph(graph)
    q = FIFOQueue(capacity, [dtype], shapes=shapes, name=name)
    if seed is None and graph.seed is not None:
        seed = graph.seed
    rng_key = ("producer_rng", q)

    def run(session, args):
        st = session_state(session, ("producer", q), _EpochState)
        rng = session_state(session, rng_key, lambda: np.random.default_rng(seed))
        with st.lock:
            if num_epochs is not None and st.epochs >= num_epochs:
                raise OutOfRangeError(None, None, f"{name}: reached the limit of {num_epochs} epochs")
            st.epochs += 1
            order = rng.permutation(len(values)) if shuffle else range(len(values))
        state = q._state(session)
        for i in order:
            state.enqueue_one((values[i],))
        return ()

    enqueue = record_host_input("QueueEnqueueManyV2", run, (), (), name=f"{q.name}/input_producer_enqueue")
    add_queue_runner(QueueRunner(q, [enqueue]))
    return q


def _constant_values(x, what):
    if isinstance(x, Tensor):
        raise TypeError(f"{what}: pass a Python list or numpy array (graphc reads file names and values on the host)")
    return list(np.asarray(x, dtype=object).ravel()) if not isinstance(x, (list, tuple)) else list(x)


def string_input_producer(string_tensor, num_epochs=None, shuffle=True, seed=None, capacity=32, shared_name=None,
                          name=None, cancel_op=None):
    """A queue of the strings (file names), one (shuffled) pass per epoch."""
    values = [v.encode() if isinstance(v, str) else bytes(v) for v in _constant_values(string_tensor,
                                                                                         "string_input_producer")]
    if not values:
        raise ValueError("string_input_producer: the list of strings is empty (no file matched?)")
    return _producer(values, _dtypes.string, num_epochs, shuffle, seed, capacity, name or "input_producer", [[]])


def range_input_producer(limit, num_epochs=None, shuffle=True, seed=None, capacity=32, shared_name=None, name=None):
    """A queue of the integers 0..limit-1, one (shuffled) pass per epoch."""
    values = [np.int32(i) for i in range(int(limit))]
    return _producer(values, _dtypes.int32, num_epochs, shuffle, seed, capacity, name or "input_producer", [[]])


# -- batching ---------------------------------------------------------------------------------------------

def _flatten_tensors(tensors):
    if isinstance(tensors, dict):
        keys = list(tensors)
        return [tensors[k] for k in keys], lambda out: dict(zip(keys, out))
    if isinstance(tensors, Tensor):
        return [tensors], lambda out: out[0]
    tensors = list(tensors)
    return tensors, lambda out: list(out)


def _queue_shapes(tensors, shapes, enqueue_many, dynamic_pad):
    if shapes is not None:
        return [list(s) if not hasattr(s, "dims_") else s.dims_ for s in shapes]
    out = []
    for t in tensors:
        dims = t.shape.dims_
        if dims is not None and enqueue_many:
            dims = dims[1:]
        if not dynamic_pad and (dims is None or any(d is None for d in dims)):
            raise ValueError(f"All shapes must be fully defined: {t.name} has shape {t.shape} (give `shapes`, or "
                             "dynamic_pad=True)")
        out.append(dims)
    return out


def _batch(queue_cls, tensors, batch_size, num_threads, enqueue_many, shapes, allow_smaller_final_batch, name,
           dynamic_pad=False, **queue_kwargs):
    flat, rebuild = _flatten_tensors(tensors)
    from .convert import as_operand
    flat = [t if isinstance(t, Tensor) else _const(as_operand(t)) for t in flat]
    dtypes = [t.dtype for t in flat]
    qshapes = _queue_shapes(flat, shapes, enqueue_many, dynamic_pad)
    q = queue_cls(dtypes=dtypes, shapes=qshapes, name=name, **queue_kwargs)
    enqueue = q.enqueue_many(flat) if enqueue_many else q.enqueue(flat)
    add_queue_runner(QueueRunner(q, [enqueue] * int(num_threads)))
    out = q.dequeue_up_to(batch_size) if allow_smaller_final_batch else q.dequeue_many(batch_size)
    out = [out] if len(flat) == 1 else list(out)
    return rebuild(out)


def _const(value):
    from .array_ops import constant

    return constant(value)


def batch(tensors, batch_size, num_threads=1, capacity=32, enqueue_many=False, shapes=None, dynamic_pad=False,
          allow_smaller_final_batch=False, shared_name=None, name=None):
    """Batches of ``tensors`` from a FIFO queue filled by ``num_threads`` runner threads."""
    if dynamic_pad:
        return _batch(PaddingFIFOQueue, tensors, batch_size, num_threads, enqueue_many, shapes,
                      allow_smaller_final_batch, name or "padding_fifo_queue", dynamic_pad=True, capacity=capacity)
    return _batch(FIFOQueue, tensors, batch_size, num_threads, enqueue_many, shapes, allow_smaller_final_batch,
                  name or "fifo_queue", capacity=capacity)


def shuffle_batch(tensors, batch_size, capacity, min_after_dequeue, num_threads=1, seed=None, enqueue_many=False,
                  shapes=None, allow_smaller_final_batch=False, shared_name=None, name=None):
    """Batches drawn at random from a RandomShuffleQueue kept ``min_after_dequeue`` full."""
    return _batch(RandomShuffleQueue, tensors, batch_size, num_threads, enqueue_many, shapes,
                  allow_smaller_final_batch, name or "shuffle_batch/random_shuffle_queue", capacity=capacity,
                  min_after_dequeue=min_after_dequeue, seed=seed)
