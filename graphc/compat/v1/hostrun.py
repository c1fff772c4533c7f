"""Host-input ops: queues, readers, CSV decoding and dataset iterators in Session.run.

Most ops replay inside one compiled graphc program (session.py). Input ops cannot: a
dequeue blocks until another thread enqueues, a reader opens files, ``decode_csv``
parses strings. They are recorded as *host-input* ops (``record_host_input``): Python
functions of the session and their input values, run before the compiled part of a
``Session.run``, whose outputs are then fed to that program like placeholders.

``HostStage`` is the plan of one (fetches, fed tensors) pair that needs such ops: the
host-input ops in dependency order and, for each, the ordinary ops that compute its
inputs (a sub-run: its own compiled program, fed with what is already known), then the
fetches' own program fed with every host output it reads. Stages are cached per pair,
so a training step fetching ``train_op`` over a dequeued batch is one Python dequeue
plus one native call. Ops needed both by a host-input op and directly by the fetches
run in each program that needs them (pure ops give the same values).

Device runs made here hold a per-session lock: queue-runner threads and the training
loop then never compile or run programs of one session at the same time, while the
blocking and parsing parts (queue waits, file reads) run outside the lock.
"""
from __future__ import annotations

import threading

import numpy as np

from .graph import Operation, Tensor, get_default_graph
from .record import record

_NO_STAGE = object()


def _never(*args, **kwargs):
    raise RuntimeError("a host-input op was replayed inside a compiled program (graphc bug: the session feeds "
                       "its outputs)")


def record_host_input(op_type, run, inputs=(), outputs=(), name=None):
    """Record an op computed in Python before the compiled part of a run.

    ``run(session, values) -> tuple of output values``: ``values`` are ``inputs`` with
    each Tensor replaced by its value in this run. ``outputs``: Specs of the outputs.
    Returns the output Tensors (a list) or, with no outputs, the Operation."""
    inputs = list(inputs)
    result = record(op_type, _never, tuple(inputs), name=name, out=tuple(outputs))
    if isinstance(result, Operation):
        op, tensors = result, []
    else:
        tensors = list(result)
        op = tensors[0].op
    op._host_input = run
    op._host_args = inputs
    return tensors if tensors else op


def is_host_input(op) -> bool:
    return getattr(op, "_host_input", None) is not None


def _all_needed(leaves, stop):
    """Every op the leaves depend on (data and control), dependencies first, not
    looking past tensors in ``stop``."""
    order, seen = [], set()
    roots = [x if isinstance(x, Operation) else x.op for x in leaves
             if isinstance(x, Operation) or (isinstance(x, Tensor) and x not in stop)]
    for root in roots:
        stack = [(root, False)]
        while stack:
            op, done = stack.pop()
            if done:
                order.append(op)
                continue
            if op in seen:
                continue
            seen.add(op)
            stack.append((op, True))
            deps = list(op.control_inputs) + [t.op for t in op.inputs if t not in stop]
            for d in reversed(deps):
                if d not in seen:
                    stack.append((d, False))
    return order


class _SubRun:
    """Ordinary ops computing some tensors (and running some ops) from known values."""

    def __init__(self, leaves, available):
        self.leaves = list(leaves)
        ops = _all_needed(self.leaves, available)
        fed = []
        for op in ops:
            for t in op.inputs:
                if t in available and t not in fed:
                    fed.append(t)
        for x in self.leaves:   # a fetched known tensor: take it as is
            if isinstance(x, Tensor) and x in available and x not in fed:
                fed.append(x)
        self.fed = sorted(fed, key=lambda t: t._id)

    def run(self, session, env):
        if not self.leaves:
            return []
        feeds = [(t, _as_feed(t, env[t])) for t in self.fed]
        with session_lock(session):
            return session._run_leaves(self.leaves, feeds)


def _as_feed(t, value):
    if t.dtype.name == "string":
        raise TypeError(f"'{t.name}' is a string tensor; only host ops (decode_csv, decode_raw, readers, "
                        "queues) can consume it inside graphc")
    a = np.asarray(value, dtype=t.dtype.as_numpy_dtype)
    # graphc computes in bool/int32/int64/float32/float64: narrower host values (decode_raw's
    # uint8 pixels) are widened exactly before the program (then cast as the graph says)
    wider = _WIDER.get(a.dtype.name)
    return a.astype(wider) if wider is not None else a


_WIDER = {"uint8": np.int32, "int8": np.int32, "int16": np.int32, "uint16": np.int32, "float16": np.float32}


class HostStage:
    """How one (fetches, fed tensors) pair runs when it needs host-input ops."""

    def __init__(self, leaves, fed):
        fed = set(fed)
        order = _all_needed(leaves, fed)
        self.host_ops = [op for op in order if is_host_input(op)]
        available = set(fed)
        self.steps = []
        for op in self.host_ops:
            device_inputs = [t for t in op.inputs if t not in available]
            controls = [c for c in op.control_inputs if not is_host_input(c)]
            self.steps.append((op, _SubRun(device_inputs + controls, available), device_inputs))
            available.update(op.outputs)
        host_out = {t for op in self.host_ops for t in op.outputs}
        self.device_leaves = [x for x in leaves
                              if not (isinstance(x, Operation) and is_host_input(x)) and x not in host_out]
        self.final = _SubRun(self.device_leaves, available)
        self.leaves = list(leaves)
        self.fed = fed

    def run(self, session, leaves, feeds):
        env = {t: v for t, v in feeds}
        for op, sub, device_inputs in self.steps:
            values = sub.run(session, env)
            for t, v in zip(device_inputs, values):
                env[t] = v
            args = [env[x] if isinstance(x, Tensor) else x for x in op._host_args]
            outs = op._host_input(session, args)
            for t, v in zip(op.outputs, outs or ()):
                env[t] = v
        values = iter(self.final.run(session, env))
        out = []
        for x in self.leaves:
            if isinstance(x, Operation) and is_host_input(x):
                out.append(None)
            elif isinstance(x, Tensor) and x in env and x not in self.fed:
                v = env[x]
                out.append(v[()] if isinstance(v, np.ndarray) and v.ndim == 0 else v)
            else:
                out.append(next(values))
        return out


def stage_for(session, leaves, feeds):
    """The HostStage of this run, or None when it needs no host-input op (cached)."""
    cache = session.__dict__.setdefault("_host_stages", {})
    key = (tuple(leaves), tuple(t for t, _ in feeds))
    stage = cache.get(key)
    if stage is None:
        graph = session.graph
        if not getattr(graph, "_has_host_inputs", False):
            stage = _NO_STAGE
        else:
            s = HostStage(leaves, key[1])
            stage = s if s.host_ops else _NO_STAGE
        cache[key] = stage
    return None if stage is _NO_STAGE else stage


def mark_graph(graph=None):
    """Note that a graph has host-input ops (sessions of other graphs skip the check)."""
    g = graph or get_default_graph()
    g._has_host_inputs = True


_locks_guard = threading.Lock()
_thread = threading.local()


def set_cancel_event(event):
    """This thread's runs end their blocking waits (queue dequeues and enqueues) with
    CancelledError once ``event`` is set: a queue-runner thread gets its Coordinator's
    stop event, so request_stop wakes it wherever it waits, even on another queue."""
    _thread.cancel = event


def cancel_requested() -> bool:
    ev = getattr(_thread, "cancel", None)
    return ev is not None and ev.is_set()


def session_lock(session):
    lock = session.__dict__.get("_host_lock")
    if lock is None:
        with _locks_guard:
            lock = session.__dict__.setdefault("_host_lock", threading.RLock())
    return lock


def session_state(session, key, make):
    """Per-session state of a queue/reader/iterator (a new session starts afresh, as in
    TF where these live in the session's resource manager)."""
    with _locks_guard:
        return session._object(key, make)


def close_session_state(session):
    """Session.close: wake and cancel everything blocked on this session's queues."""
    for obj in list(getattr(session, "_objects", {}).values()):
        close = getattr(obj, "_on_session_close", None)
        if close is not None:
            close()
