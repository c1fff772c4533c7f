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
"""
from __future__ import annotations

import atexit
import queue
import threading
import weakref

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


def _produce(upstream, q, stop):
    try:
        for item in upstream:
            if not put(q, item, stop):
                return
        put(q, _END, stop)
    except BaseException as e:  # noqa: BLE001 - delivered to the consumer at this element
        put(q, Failed(e), stop)
    finally:
        _close(upstream)


class Prefetcher(_Stage):
    """Runs ``upstream`` in a background thread, keeping up to ``size`` elements ready."""

    def __init__(self, upstream, size: int, name="graphc.data prefetch"):
        self._q = queue.Queue(maxsize=max(1, int(size)))
        self._stop = _new_stop()
        self._thread = threading.Thread(target=_produce, args=(upstream, self._q, self._stop), name=name,
                                        daemon=True)
        self._thread.start()

    def __next__(self):
        if self._done:
            raise StopIteration
        item = _get(self._q, (self._thread,))
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
        try:
            slot.value = fn(slot.element, slot.index)
        except BaseException as e:  # noqa: BLE001
            slot.exc = e
        finally:
            slot.element = None
            slot.done.set()


class ParallelMap(_Stage):
    """``fn(element, index)`` on ``workers`` threads, results in input order.

    A feeder thread pulls the upstream and hands out slots; at most ``2 * workers``
    elements are in flight (the order queue is bounded), so a slow consumer is not
    buried under finished work."""

    def __init__(self, upstream, fn, workers: int, name="graphc.data map"):
        workers = max(1, int(workers))
        self._order = queue.Queue(maxsize=2 * workers)
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
