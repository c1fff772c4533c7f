"""Background stages of a pipeline: ``prefetch`` and ``map(num_parallel_calls=k)``.

Each stage is an iterator whose work runs in daemon threads, so the Python work of
batch i+1 (slicing, shuffling, augmenting) happens while the consumer's compiled step
for batch i runs in native code, which releases the GIL (ctypes CFUNCTYPE calls do).

Shutdown, the part that must never hang: the threads hold the queue, a stop Event and
the upstream iterator, never the stage object itself, so breaking out of a loop or
dropping an iterator lets the stage be collected; its ``close()`` (also run by
``__del__`` and, for every live stage, at interpreter exit) sets the stop event.
Threads block only in waits with a short timeout that re-check the event, and they
close their upstream iterator themselves (in their own thread) when they stop.
Errors travel in order: an exception raised by the upstream, the map function or a
generator is delivered to the consumer at the element where it happened.

Handoff: a stage with one producer thread (``Prefetcher``; a ``map`` with one parallel
call and any ``prefetch`` after it are fused into one, see dataset.py) passes elements
through a ``Channel``, a deque the consumer pops without waiting while it holds
elements; a side is woken only when it sleeps, and a full channel's producer only once
the consumer has drained it to half (so it builds several elements per wakeup instead
of one element per ``get``). On a machine with few cores every wakeup and every extra
thread competes with the compiled step's own kernel threads for a core; so a producer
that is building elements (from its wakeup until the channel is full again) and a map
worker running its function are *external work* for graphc's kernel thread pool
(``threadpool.begin_external_work``): meanwhile the pool's idle threads sleep instead of
spinning on the core the pipeline needs, and the step's kernels that find no free
worker run on the caller.
"""
from __future__ import annotations

import atexit
import collections
import queue
import threading
import weakref

from ..codegen import threadpool as _pool

_POLL = 0.05          # seconds between re-checks of the stop event while blocked
_END = object()       # end of the upstream
_live_stops: "weakref.WeakSet[threading.Event]" = weakref.WeakSet()


class _StopEvent(threading.Event):
    """A stop event that can sit in a WeakSet (threading.Event itself can too, but a
    subclass makes the intent searchable)."""


def _new_stop() -> _StopEvent:
    stop = _StopEvent()
    _live_stops.add(stop)
    return stop


@atexit.register
def _stop_all():
    """Interpreter exit: every background stage stops (they are daemon threads anyway,
    so exit never waits for one blocked in user code)."""
    for stop in list(_live_stops):
        stop.set()


class Failed:
    """An exception travelling down a queue to be raised at the consumer."""

    __slots__ = ("exc",)

    def __init__(self, exc):
        self.exc = exc


def _note(exc, text):
    if hasattr(exc, "add_note"):
        exc.add_note(text)


def put(q, item, stop) -> bool:
    """Put unless stopped (False then)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL)
            return True
        except queue.Full:
            pass
    return False


def _close(it):
    close = getattr(it, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # closing a broken upstream must not mask the real outcome
            pass


def _get(q, threads):
    """Blocking get that notices producer threads that died without a word (cannot
    happen unless the interpreter is tearing them down)."""
    while True:
        try:
            return q.get(timeout=0.5)
        except queue.Empty:
            if not any(t.is_alive() for t in threads):
                try:
                    return q.get_nowait()
                except queue.Empty:
                    return _END


class _Stage:
    """Common consumer side: next(), close(), and close on collection."""

    _done = False

    def __iter__(self):
        return self

    def close(self):
        self._done = True
        self._stop.set()

    def __del__(self):
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()


class Channel:
    """A bounded FIFO from one producer thread to one consumer.

    ``get`` pops from the deque without waiting while elements are there (deque
    operations are atomic); the lock is taken to sleep or to wake the other side, and a
    side is notified only when it is waiting. A producer that found the channel full
    is woken when it has drained to ``low`` elements, then refills it in one go."""

    def __init__(self, size: int):
        self.size = max(1, int(size))
        self.low = self.size // 2
        self._items: collections.deque = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._producer_waits = False
        self._consumer_waits = False
        self._active = False    # between the producer's start() and finish()
        self._working = False   # counted as the kernel pool's external work (under _cond)

    def _set_working(self, working):
        """Under ``_cond``: the producer starts or stops building elements."""
        working = working and self._active
        if working != self._working:
            self._working = working
            (_pool.begin_external_work if working else _pool.end_external_work)()

    def start(self):
        """The producer thread begins (it builds until the channel is full)."""
        with self._cond:
            self._active = True
            self._set_working(True)

    def finish(self):
        """The producer thread ends (call it in a ``finally``: until then the thread
        counts as the pool's external work whenever it is not waiting)."""
        with self._cond:
            self._active = False
            self._set_working(False)

    def put(self, item, stop) -> bool:
        """Append unless stopped (False then); waits while the channel is full."""
        items = self._items
        if len(items) >= self.size:
            with self._cond:
                while len(items) >= self.size:
                    if stop.is_set():
                        return False
                    self._set_working(False)
                    self._producer_waits = True
                    self._cond.wait(_POLL)
                self._producer_waits = False
                self._set_working(True)   # (the consumer sets it when it wakes us)
        items.append(item)
        if self._consumer_waits:
            with self._cond:
                self._cond.notify()
        return True

    def get(self, threads):
        """The next element; ``_END`` if the producer thread died without a word."""
        items = self._items
        try:
            item = items.popleft()
        except IndexError:
            item = self._wait(threads)
        if self._producer_waits and len(items) <= self.low:
            with self._cond:
                if self._producer_waits:
                    self._set_working(True)   # before it runs: the pool frees its core now
                    self._cond.notify()
        return item

    def _wait(self, threads):
        with self._cond:
            self._consumer_waits = True
            try:
                while not self._items:
                    if not self._cond.wait(0.5) and not self._items and not any(t.is_alive() for t in threads):
                        return _END
                return self._items.popleft()
            finally:
                self._consumer_waits = False


def _produce(upstream, channel, stop):
    channel.start()
    try:
        for item in upstream:
            if not channel.put(item, stop):
                return
        channel.put(_END, stop)
    except BaseException as e:  # noqa: BLE001 - delivered to the consumer at this element
        channel.put(Failed(e), stop)
    finally:
        channel.finish()
        _close(upstream)


class Prefetcher(_Stage):
    """Runs ``upstream`` in a background thread, keeping up to ``size`` elements ready."""

    def __init__(self, upstream, size: int, name="graphc.data prefetch"):
        self._channel = Channel(size)
        self._stop = _new_stop()
        self._thread = threading.Thread(target=_produce, args=(upstream, self._channel, self._stop), name=name,
                                        daemon=True)
        self._thread.start()

    def __next__(self):
        if self._done:
            raise StopIteration
        item = self._channel.get((self._thread,))
        if item is _END:
            self.close()
            raise StopIteration
        if isinstance(item, Failed):
            self.close()
            raise item.exc
        return item


class _Slot:
    __slots__ = ("index", "element", "value", "exc", "done")

    def __init__(self, index, element):
        self.index, self.element = index, element
        self.value = self.exc = None
        self.done = threading.Event()


def _feed(upstream, order, work, stop, workers):
    try:
        for i, element in enumerate(upstream):
            slot = _Slot(i, element)
            if not put(order, slot, stop):
                return
            work.put(slot)
        put(order, _END, stop)
    except BaseException as e:  # noqa: BLE001
        slot = _Slot(-1, None)
        slot.exc = e
        slot.done.set()
        put(order, slot, stop)
    finally:
        for _ in range(workers):
            work.put(None)
        _close(upstream)


def _work(work, fn, stop):
    while not stop.is_set():
        try:
            slot = work.get(timeout=_POLL)
        except queue.Empty:
            continue
        if slot is None:
            return
        _pool.begin_external_work()
        try:
            slot.value = fn(slot.element, slot.index)
        except BaseException as e:  # noqa: BLE001
            slot.exc = e
        finally:
            _pool.end_external_work()
            slot.element = None
            slot.done.set()


class ParallelMap(_Stage):
    """``fn(element, index)`` on ``workers`` threads, results in input order.

    A feeder thread pulls the upstream and hands out slots; at most ``2 * workers``
    elements (plus ``extra``: a ``prefetch`` fused into this stage) are in flight (the
    order queue is bounded), so a slow consumer is not buried under finished work."""

    def __init__(self, upstream, fn, workers: int, name="graphc.data map", extra: int = 0):
        workers = max(1, int(workers))
        self._order = queue.Queue(maxsize=2 * workers + max(0, int(extra)))
        work = queue.Queue()
        self._stop = stop = _new_stop()
        self._threads = [threading.Thread(target=_feed, args=(upstream, self._order, work, stop, workers),
                                          name=name + " feeder", daemon=True)]
        self._threads += [threading.Thread(target=_work, args=(work, fn, stop), name=f"{name} worker {k}",
                                           daemon=True) for k in range(workers)]
        for t in self._threads:
            t.start()

    def __next__(self):
        if self._done:
            raise StopIteration
        slot = _get(self._order, self._threads)
        if slot is _END:
            self.close()
            raise StopIteration
        while not slot.done.wait(0.5):
            if not any(t.is_alive() for t in self._threads[1:]):
                break
        if slot.exc is not None:
            self.close()
            raise slot.exc
        return slot.value
