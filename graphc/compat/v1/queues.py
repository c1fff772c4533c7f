"""tf.FIFOQueue, tf.RandomShuffleQueue, tf.PaddingFIFOQueue: queues shared by the
threads that run a session (queue runners enqueue, the training loop dequeues).

A queue object belongs to the graph; its contents belong to each session (``_State``,
made on first use, as TF keeps queues in the session's resources). Every queue op is a
host-input op (hostrun.py): ``sess.run(dequeue)`` blocks in Python (GIL released while
it waits) until enough elements are there, then feeds them to the compiled program. A
closed queue that cannot satisfy a dequeue raises ``tf.errors.OutOfRangeError``; an
enqueue to a closed queue, or one pending when the queue is closed with
``cancel_pending_enqueues=True`` (or its session is closed), raises ``CancelledError``.
"""
from __future__ import annotations

import collections
import threading

import numpy as np

from . import dtypes as _dtypes
from .errors import CancelledError, InvalidArgumentError, OutOfRangeError
from .graph import Spec, Tensor, get_default_graph
from .hostrun import cancel_requested, mark_graph, record_host_input, session_state
from .shapes import TensorShape

_WAIT = 0.1   # seconds between re-checks while blocked (wakes at once on notify)


class _State:
    """One session's contents of one queue."""

    def __init__(self, queue):
        self.queue = queue
        self.cond = threading.Condition()
        self.items = collections.deque()
        self.closed = False
        self.cancelled = False
        self.rng = np.random.default_rng(queue._seed)

    def _on_session_close(self):
        with self.cond:
            self.closed = self.cancelled = True
            self.cond.notify_all()

    def close(self, cancel):
        with self.cond:
            self.closed = True
            self.cancelled = self.cancelled or bool(cancel)
            self.cond.notify_all()

    def enqueue_one(self, item):
        q = self.queue
        with self.cond:
            if self.closed:
                raise CancelledError(None, None, f"{q._kind} '{q.name}' is closed.")
            while len(self.items) >= q.capacity:
                if self.cancelled:
                    raise CancelledError(None, None, f"Enqueue operation was cancelled: {q._kind} '{q.name}' "
                                         "was closed with cancel_pending_enqueues")
                _check_cancel(q)
                self.cond.wait(_WAIT)
            self.items.append(item)
            self.cond.notify_all()

    def dequeue(self, n, up_to=False):
        """n elements (n=None: one, unbatched); ``up_to``: fewer once the queue is closed."""
        q = self.queue
        want = 1 if n is None else n
        with self.cond:
            while True:
                ready = len(self.items) - (0 if self.closed else q._min_after)
                if ready >= want:
                    break
                if self.closed:
                    if up_to and len(self.items) > 0:
                        want = len(self.items)
                        break
                    raise OutOfRangeError(None, None, f"{q._kind} '{q.name}' is closed and has insufficient "
                                          f"elements (requested {want}, current size {len(self.items)})")
                _check_cancel(q)
                self.cond.wait(_WAIT)
            taken = [self._take() for _ in range(want)]
            self.cond.notify_all()
        return taken

    def _take(self):
        if self.queue._shuffle:
            i = int(self.rng.integers(len(self.items)))
            self.items[i], self.items[-1] = self.items[-1], self.items[i]
            return self.items.pop()
        return self.items.popleft()


def _check_cancel(q):
    if cancel_requested():
        raise CancelledError(None, None, f"{q._kind} '{q.name}': the wait was cancelled (the coordinator of this "
                             "queue-runner thread requested a stop)")


class QueueBase:
    """Common queue API; the ops it returns run when a session fetches them."""

    _kind = "FIFOQueue"
    _shuffle = False
    _pad = False

    def __init__(self, capacity, dtypes, shapes=None, names=None, shared_name=None, name=None, seed=None,
                 min_after_dequeue=0, default_name="fifo_queue"):
        if not isinstance(dtypes, (list, tuple)):
            dtypes = [dtypes]
        self._dtypes = [_dtypes.as_dtype(d) for d in dtypes]
        if shapes is not None:
            shapes = [shapes] if isinstance(shapes, TensorShape) else list(shapes)
            if len(self._dtypes) == 1 and (not shapes or all(isinstance(d, int) or d is None for d in shapes)) \
                    and len(shapes) != 1:
                shapes = [shapes]      # one component's shape given bare: shapes=[3] or []
            if len(shapes) != len(self._dtypes):
                raise ValueError(f"Queue shapes must have the same length as dtypes: {len(shapes)} vs "
                                 f"{len(self._dtypes)}")
            self._shapes = [TensorShape(sh) for sh in shapes]
        else:
            self._shapes = [TensorShape(None) for _ in self._dtypes]
        self._names = list(names) if names is not None else None
        if self._names is not None and len(self._names) != len(self._dtypes):
            raise ValueError("Queue names must have the same length as dtypes")
        self.capacity = int(capacity)
        if self.capacity < 1:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self._min_after = int(min_after_dequeue)
        graph = get_default_graph()
        self.name = graph.unique_name(name or default_name)
        self._seed = seed if seed is not None else (graph.seed if graph.seed is not None else None)
        self.graph = graph
        mark_graph(graph)

    # -- TF attributes -----------------------------------------------------------------------
    @property
    def dtypes(self):
        return list(self._dtypes)

    @property
    def shapes(self):
        return list(self._shapes)

    @property
    def names(self):
        return self._names

    @property
    def queue_ref(self):
        return self

    def _state(self, session) -> _State:
        return session_state(session, ("queue", self), lambda: _State(self))

    # -- components ------------------------------------------------------------------------------
    def _flat_components(self, vals, op):
        if self._names is not None:
            if not isinstance(vals, dict):
                raise ValueError(f"{op}: this queue has names {self._names}; pass a dict")
            if set(vals) != set(self._names):
                raise ValueError(f"{op}: keys {sorted(vals)} do not match the queue's names {self._names}")
            vals = [vals[k] for k in self._names]
        elif not isinstance(vals, (list, tuple)):
            vals = [vals]
        vals = list(vals)
        if len(vals) != len(self._dtypes):
            raise ValueError(f"{op}: expected {len(self._dtypes)} components, got {len(vals)}")
        return vals

    def _check(self, k, value, many):
        dt = self._dtypes[k]
        if dt.name == "string":
            a = value if isinstance(value, (bytes, str)) else np.asarray(value, dtype=object)
        else:
            a = np.asarray(value, dtype=dt.as_numpy_dtype)
        shape = self._shapes[k]
        got = np.shape(a)[1:] if many else np.shape(a)
        if shape.dims_ is not None and not self._pad_ok(shape, got):
            raise InvalidArgumentError(None, None, f"Shape mismatch in tuple component {k}. Expected "
                                       f"{shape.tf_text()}, got {list(got)}")
        return a

    def _pad_ok(self, shape, got):
        dims = shape.dims_
        return len(dims) == len(got) and all(d is None or d == g for d, g in zip(dims, got))

    def _structure(self, tensors):
        if self._names is not None:
            return dict(zip(self._names, tensors))
        return tensors[0] if len(tensors) == 1 else list(tensors)

    # -- ops ----------------------------------------------------------------------------------------
    def enqueue(self, vals, name=None):
        vals = self._flat_components(vals, "enqueue")

        def run(session, values):
            item = tuple(self._check(k, v, False) for k, v in enumerate(values))
            self._state(session).enqueue_one(item)
            return ()

        return record_host_input("QueueEnqueueV2", run, vals, (), name=name or f"{self.name}_enqueue")

    def enqueue_many(self, vals, name=None):
        vals = self._flat_components(vals, "enqueue_many")

        def run(session, values):
            arrays = [self._check(k, v, True) for k, v in enumerate(values)]
            sizes = {len(a) for a in arrays}
            if len(sizes) > 1:
                raise InvalidArgumentError(None, None, f"enqueue_many: components have different sizes in axis 0: "
                                           f"{[np.shape(a) for a in arrays]}")
            state = self._state(session)
            for i in range(sizes.pop() if sizes else 0):
                state.enqueue_one(tuple(a[i] for a in arrays))
            return ()

        return record_host_input("QueueEnqueueManyV2", run, vals, (), name=name or f"{self.name}_EnqueueMany")

    def _out_specs(self, lead):
        """Output Specs: each component's shape, after ``lead`` (n, None, or "scalar": none)."""
        specs = []
        for dt, sh in zip(self._dtypes, self._shapes):
            if sh.dims_ is None:
                specs.append(Spec(None, dt))
            else:
                specs.append(Spec(([] if lead == "scalar" else [lead]) + list(sh.dims_), dt))
        return specs

    def dequeue(self, name=None):
        def run(session, values):
            item = self._state(session).dequeue(None)[0]
            return [np.asarray(v) if not isinstance(v, (bytes, str)) else v for v in item]

        return self._structure(record_host_input("QueueDequeueV2", run, (), self._out_specs("scalar"),
                                                 name=name or f"{self.name}_Dequeue"))

    def dequeue_many(self, n, name=None):
        return self._dequeue_n(n, False, name or f"{self.name}_DequeueMany")

    def dequeue_up_to(self, n, name=None):
        return self._dequeue_n(n, True, name or f"{self.name}_DequeueUpTo")

    def _dequeue_n(self, n, up_to, name):
        if isinstance(n, Tensor):
            raise TypeError("dequeue_many/dequeue_up_to: n must be a Python int in graphc")
        n = int(n)

        def run(session, values):
            items = self._state(session).dequeue(n, up_to)
            return [self._stack(k, [it[k] for it in items]) for k in range(len(self._dtypes))]

        return self._structure(record_host_input("QueueDequeueUpToV2" if up_to else "QueueDequeueManyV2", run, (),
                                                 self._out_specs(None if up_to else n), name=name))

    def _stack(self, k, values):
        if self._dtypes[k].name == "string":
            out = np.empty((len(values),) + np.shape(values[0]), dtype=object)
            for i, v in enumerate(values):
                out[i] = v
            return out
        shapes = {np.shape(v) for v in values}
        if len(shapes) > 1:
            if not self._pad:
                raise InvalidArgumentError(None, None, f"{self._kind} '{self.name}' component {k}: dequeued "
                                           f"elements have different shapes {sorted(shapes)}; give the queue "
                                           "shapes, or use a PaddingFIFOQueue")
            target = tuple(max(d) for d in zip(*[np.shape(v) for v in values]))
            out = np.zeros((len(values),) + target, dtype=self._dtypes[k].as_numpy_dtype)
            for i, v in enumerate(values):
                out[(i,) + tuple(slice(0, s) for s in np.shape(v))] = v
            return out
        return np.stack(values)

    def close(self, cancel_pending_enqueues=False, name=None):
        def run(session, values):
            self._state(session).close(cancel_pending_enqueues)
            return ()

        return record_host_input("QueueCloseV2", run, (), (), name=name or f"{self.name}_Close")

    def is_closed(self, name=None):
        def run(session, values):
            return [np.asarray(self._state(session).closed)]

        return record_host_input("QueueIsClosedV2", run, (), [Spec((), _dtypes.bool)],
                                 name=name or f"{self.name}_IsClosed")[0]

    def size(self, name=None):
        def run(session, values):
            st = self._state(session)
            with st.cond:
                return [np.asarray(len(st.items), np.int32)]

        return record_host_input("QueueSizeV2", run, (), [Spec((), _dtypes.int32)], name=name or f"{self.name}_Size")[0]


class FIFOQueue(QueueBase):
    """First in, first out."""

    def __init__(self, capacity, dtypes, shapes=None, names=None, shared_name=None, name="fifo_queue"):
        super().__init__(capacity, dtypes, shapes, names, shared_name, name, default_name="fifo_queue")


class PaddingFIFOQueue(QueueBase):
    """FIFO whose dequeue_many pads components (None dims in ``shapes``) to the longest."""

    _kind = "PaddingFIFOQueue"
    _pad = True

    def __init__(self, capacity, dtypes, shapes, names=None, shared_name=None, name="padding_fifo_queue"):
        if shapes is None:
            raise ValueError("PaddingFIFOQueue requires shapes (None for dimensions to pad)")
        super().__init__(capacity, dtypes, shapes, names, shared_name, name, default_name="padding_fifo_queue")


class RandomShuffleQueue(QueueBase):
    """Dequeues a uniformly random element; until closed, keeps ``min_after_dequeue``
    elements back so what comes out is well mixed."""

    _kind = "RandomShuffleQueue"
    _shuffle = True

    def __init__(self, capacity, min_after_dequeue, dtypes, shapes=None, names=None, seed=None, shared_name=None,
                 name="random_shuffle_queue"):
        if min_after_dequeue >= capacity:
            raise ValueError(f"min_after_dequeue ({min_after_dequeue}) must be less than capacity ({capacity})")
        super().__init__(capacity, dtypes, shapes, names, shared_name, name, seed=seed,
                         min_after_dequeue=min_after_dequeue, default_name="random_shuffle_queue")
