"""tf.Session: run a fetched subgraph as one compiled graphc program.

``run(fetches, feed_dict)`` finds, once per (fetches, fed tensors), the operations the
fetches need (control dependencies first, stopping at fed tensors) and wraps their
replay in a ``graphc.CompiledFunction``: fed tensors are its parameters, tf.Variables
are this session's ``graphc.Variable``s (updated in place), every other op is the
graphc function it was recorded with. The CompiledFunction specializes per feed
shape/dtype, so a repeated run is one native call: no per-op Python dispatch, and an
input shared by several fetches is one node of one program, computed once.

Summary ops (``host`` ops) run in Python on the fetched values after the call; queue,
reader and dataset-iterator ops (host-input ops, hostrun.py) run in Python before it and
are fed to it.
"""
from __future__ import annotations

import contextlib
import time

import numpy as np

import graphc as gc
from ... import profiler as _profiler
from ...device import canonical as _canonical_device, gpu_count as _gpu_count
from ...errors import GraphcError
from . import hostrun as _hostrun
from .errors import FailedPreconditionError, InvalidArgumentError
from .graph import Operation, Tensor, _is_variable, get_default_graph
from .tree import flatten, unflatten

_TF_TYPE_NAMES = {"float32": "float", "float64": "double"}


class GPUOptions:
    def __init__(self, allow_growth=False, per_process_gpu_memory_fraction=0.0, visible_device_list="", **kwargs):
        self.allow_growth = allow_growth
        self.per_process_gpu_memory_fraction = per_process_gpu_memory_fraction
        self.visible_device_list = visible_device_list


class ConfigProto:
    """Session options, passed to graphc: log_device_placement and allow_soft_placement
    to its placer, intra_op_parallelism_threads to its kernel thread pool (process-wide).
    inter_op_parallelism_threads has no effect: a run is one program whose kernels
    execute in order."""

    def __init__(self, log_device_placement=False, allow_soft_placement=False, inter_op_parallelism_threads=0,
                 intra_op_parallelism_threads=0, device_count=None, gpu_options=None, operation_timeout_in_ms=0,
                 **kwargs):
        self.log_device_placement = log_device_placement
        self.allow_soft_placement = allow_soft_placement
        self.inter_op_parallelism_threads = inter_op_parallelism_threads
        self.intra_op_parallelism_threads = intra_op_parallelism_threads
        self.device_count = dict(device_count or {})
        self.gpu_options = gpu_options or GPUOptions()
        self.operation_timeout_in_ms = operation_timeout_in_ms


class RunOptions:
    """``trace_level=RunOptions.FULL_TRACE`` with a ``run_metadata`` makes ``Session.run``
    record a trace of that run (the Session.run span, compile phases, every step of the
    native program per thread) into ``run_metadata.step_stats``, for
    ``timeline.Timeline(step_stats).generate_chrome_trace_format()``."""

    NO_TRACE = 0
    SOFTWARE_TRACE = 1
    HARDWARE_TRACE = 2
    FULL_TRACE = 3

    def __init__(self, trace_level=0, timeout_in_ms=0, **kwargs):
        self.trace_level = trace_level
        self.timeout_in_ms = timeout_in_ms


class RunMetadata:
    def __init__(self):
        self.step_stats = None


_default_sessions: list = []


def get_default_session():
    return _default_sessions[-1] if _default_sessions else None


def _session_for(session, graph):
    s = session or get_default_session()
    if s is None:
        raise ValueError("Cannot evaluate tensor using `eval()`: No default session is registered. Use `with "
                         "sess.as_default()` or pass an explicit session to `eval(session=sess)`")
    if s.graph is not graph:
        raise ValueError("Cannot use the given session to evaluate tensor: the tensor's graph is different from "
                         "the session's graph.")
    return s


def _is_fetch_leaf(x):
    return isinstance(x, (Tensor, Operation, str)) or _is_variable(x)


class _Context:
    """What an op's replay may ask of the session."""

    __slots__ = ("session",)

    def __init__(self, session):
        self.session = session

    def read(self, var):
        return self.session._gc_variable(var).value()

    def ref(self, obj):
        if _is_variable(obj):
            return self.session._gc_variable(obj)
        return obj._for_session(self.session)


class _Plan:
    """The ops one (fetches, fed tensors) pair needs, and their compiled program."""

    def __init__(self, session, leaves, fed):
        order = _needed_ops(leaves, fed)
        _check_feeds(order)
        self.fed = list(fed)
        self.host_ops = [op for op in order if op._host]
        self.device_ops = [op for op in order if not op._host]
        self._layout(leaves)
        needs_value = set().union(*[op._static_inputs for op in self.device_ops])
        self.static_feeds = [i for i, t in enumerate(self.fed) if t in needs_value]
        self._initialization()
        options = self._placement_options(session._config, order)
        self.fn = gc.compile(self._replay_fn(session), **options)
        # Placeholders whose leading dimension is None (the batch) share one symbolic
        # dimension: one program serves every batch size fed (issue 13). A plan whose
        # ops do not support symbolic sizes falls back to ``fn`` (one program per shape).
        static = set(self.static_feeds)
        self.batch_feeds = [i for i, t in enumerate(self.fed) if i not in static and _leading_dim_unknown(t)]
        self.fn_batch = (gc.compile(self._replay_fn(session), dynamic="batch", dynamic_args=self.batch_feeds,
                                    **options) if self.batch_feeds else None)
        self.batch_failed: set = set()  # feed signatures (without the batch) it could not compile

    def _layout(self, leaves):
        """Program outputs (fetched tensors, then summary inputs, then fetched variables)
        and where each fetch leaf takes its value from."""
        host_out = {t for op in self.host_ops for t in op.outputs}
        for op in self.device_ops:
            for t in op.inputs:
                if t in host_out:
                    raise TypeError(f"op '{op.name}' consumes '{t.name}', a summary (string) tensor; only "
                                    "merge_all/merge and FileWriter.add_summary take those")
        wanted = [x for x in leaves if isinstance(x, Tensor) and x not in host_out]
        wanted += [t for op in self.host_ops for t in op.inputs if t not in host_out]
        self.out_tensors = list(dict.fromkeys(wanted))
        self.var_fetches = list(dict.fromkeys(x for x in leaves if _is_variable(x)))
        position = {t: i for i, t in enumerate(self.out_tensors)}
        n = len(self.out_tensors)
        position.update({v: n + i for i, v in enumerate(self.var_fetches)})
        self.leaf_src = [position.get(x, -1) if not isinstance(x, Operation) else None for x in leaves]
        self.host_leaves = [x if (isinstance(x, Tensor) and x in host_out) else None for x in leaves]

    def _initialization(self):
        """Variables read before this run writes them (must be initialized already) and
        variables it initializes (pure assigns), in replay order."""
        written, requires = set(), set()
        for op in self.device_ops:
            requires |= op._reads - written
            written |= op._writes
        requires |= set(self.var_fetches) - written
        self.requires = frozenset(requires)
        self.initializes = frozenset(written)
        self.checked = False

    def _placement_options(self, cfg, order):
        """graphc's placer when devices matter: pins honoured, else GPU 0 if there is
        one, else the CPU (TF's simple placer); soft placement and the log as configured."""
        variables = set(self.var_fetches) | self.requires | self.initializes
        if cfg.log_device_placement or _gpu_count() or any(op.device for op in order) or \
                any(v.op.device for v in variables):
            return {"placement": True, "allow_soft_placement": bool(cfg.allow_soft_placement),
                    "log_device_placement": bool(cfg.log_device_placement)}
        return {}

    def _replay_fn(self, session):
        fed, ops, outs, var_fetches = self.fed, self.device_ops, self.out_tensors, self.var_fetches

        def session_run(*feeds):
            ctx = _Context(session)
            env = dict(zip(fed, feeds))
            for op in ops:
                op._replay(env, ctx)
            return tuple([env[t] for t in outs] + [ctx.read(v) for v in var_fetches])

        return session_run

    def call(self, arrays):
        """Run the plan's program: the batch-symbolic one when the batch feeds agree in
        their leading size and it compiles, else the one specialized on these shapes."""
        fb = self.fn_batch
        if fb is not None:
            leading = {arrays[i].shape[0] if getattr(arrays[i], "ndim", 0) else None for i in self.batch_feeds}
            # what the batch-symbolic program specializes on: everything but the batch
            key = tuple((a.shape[1:], a.dtype.str) if isinstance(a, np.ndarray) else (type(a), a) for a in arrays)
            if len(leading) == 1 and None not in leading and key not in self.batch_failed:
                traces, compiled = fb.trace_count, len(fb._cache)
                try:
                    return fb(*arrays)
                except Exception:
                    if not (fb.trace_count > traces and len(fb._cache) == compiled):
                        raise  # it compiled, so a genuine error of this run
                    self.batch_failed.add(key)  # some op needs static sizes: specialize per shape
        return self.fn(*arrays)

    def results(self, outs):
        values = []
        env = None
        for src, host in zip(self.leaf_src, self.host_leaves):
            if src is None:
                values.append(None)
            elif host is not None:
                if env is None:
                    env = self._run_host(outs)
                values.append(env[host])
            else:
                a = outs[src]
                values.append(a[()] if a.ndim == 0 else a)
        return values

    def _run_host(self, outs):
        env = {t: outs[i] for i, t in enumerate(self.out_tensors)}
        for op in self.host_ops:
            op._replay(env, None)
        return env


def _leading_dim_unknown(t) -> bool:
    """A placeholder of unknown rank, or whose first dimension is None."""
    dims = t._shape.dims_
    return dims is None or (len(dims) > 0 and dims[0] is None)


def _check_feeds(order):
    for op in order:
        if op.type == "Placeholder":
            t = op.outputs[0]
            raise InvalidArgumentError(
                None, op, f"You must feed a value for placeholder tensor '{op.name}' with dtype "
                f"{_TF_TYPE_NAMES.get(t.dtype.name, t.dtype.name)} and shape {t.shape.tf_text()}")


def _needed_ops(leaves, fed):
    """Operations the fetches depend on (data and control), dependencies first."""
    fed = set(fed)
    order, seen = [], set()
    roots = []
    for x in leaves:
        if isinstance(x, Operation):
            roots.append(x)
        elif isinstance(x, Tensor) and x not in fed:
            roots.append(x.op)
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
            # (host-input ops, queues and readers, run before the program: hostrun.py)
            deps = [c for c in op.control_inputs if not _hostrun.is_host_input(c)]
            deps += [t.op for t in op.inputs if t not in fed]
            for d in reversed(deps):
                if d not in seen:
                    stack.append((d, False))
    return order


class Session:
    """Runs fetches of ``graph``; owns the values of its variables."""

    def __init__(self, target="", graph=None, config=None):
        self.graph = graph or get_default_graph()
        self._config = config or ConfigProto()
        self._vars: dict = {}
        self._objects: dict = {}
        self._initialized: set = set()
        self._plans: dict = {}
        self._closed = False
        self._exit = None
        if self._config.intra_op_parallelism_threads:
            from ...codegen.threadpool import set_num_threads

            set_num_threads(int(self._config.intra_op_parallelism_threads))

    # -- context management ---------------------------------------------------------------
    @contextlib.contextmanager
    def as_default(self):
        _default_sessions.append(self)
        try:
            with self.graph.as_default():
                yield self
        finally:
            _default_sessions.remove(self)

    def __enter__(self):
        self._exit = contextlib.ExitStack()
        self._exit.enter_context(self.as_default())
        return self

    def __exit__(self, *exc):
        stack, self._exit = self._exit, None
        if stack is not None:
            stack.close()
        self.close()

    def close(self):
        self._closed = True
        self._plans.clear()
        _hostrun.close_session_state(self)  # wake threads blocked on this session's queues

    @property
    def sess_str(self):
        return ""

    # -- state ---------------------------------------------------------------------------
    def _gc_variable(self, var):
        gv = self._vars.get(var)
        if gv is None:
            gv = gc.Variable(np.zeros(var.shape.as_list(), var.dtype.as_numpy_dtype), name=var.op.name,
                             trainable=var.trainable)
            gv.device = _canonical_device(var.op.device) if var.op.device else None
            self._vars[var] = gv
        return gv

    def _load_variable(self, var, value):
        self._gc_variable(var).assign(np.asarray(value, var.dtype.as_numpy_dtype))
        self._initialized.add(var)

    def _object(self, key, make):
        obj = self._objects.get(key)
        if obj is None:
            obj = self._objects[key] = make()
        return obj

    @property
    def compile_count(self):
        """How many programs this session has traced and compiled (for tests and tuning)."""
        # (programs compiled: an attempt at a batch-symbolic program that an op refused is not one)
        return sum(len(p.fn._cache) + (len(p.fn_batch._cache) if p.fn_batch is not None else 0)
                   for p in self._plans.values())

    # -- running -------------------------------------------------------------------------
    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        traced = (options is not None and run_metadata is not None
                  and getattr(options, "trace_level", 0) >= RunOptions.SOFTWARE_TRACE)
        if not traced and not _profiler.active():
            return self._run(fetches, feed_dict)
        # a trace is being recorded (gc.profile, GRAPHC_PROFILE) or asked for: one span
        # per Session.run; FULL_TRACE also collects this run's events into run_metadata
        from .timeline import StepStats

        rec = _profiler.start() if traced else None
        t0 = time.perf_counter()
        try:
            return self._run(fetches, feed_dict)
        finally:
            _profiler.span("Session.run", "session", t0, time.perf_counter() - t0,
                           args={"fetches": _fetch_names(fetches)})
            if rec is not None:
                _profiler.stop(rec)
                run_metadata.step_stats = StepStats(rec.trace()["traceEvents"])

    def _run(self, fetches, feed_dict=None):
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        leaves, tree = flatten(fetches, is_leaf=_is_fetch_leaf)
        leaves = [self._fetch(x) for x in leaves]
        feeds = self._feeds(feed_dict) if feed_dict else ()
        stage = _hostrun.stage_for(self, leaves, feeds)
        if stage is not None:  # queues, readers, dataset iterators: run in Python first (hostrun.py)
            return unflatten(tree, stage.run(self, leaves, feeds))
        return unflatten(tree, self._run_leaves(leaves, feeds))

    def _run_leaves(self, leaves, feeds):
        """Run fetch leaves with (tensor, array) feeds as one compiled program."""
        key = (tuple(leaves), tuple([t for t, _ in feeds]))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _Plan(self, leaves, key[1])
        if not plan.checked:
            missing = plan.requires - self._initialized
            if missing:
                v = min(missing, key=lambda v: v.op.name)
                raise FailedPreconditionError(None, v.op, f"Attempting to use uninitialized value {v.op.name}\n"
                                              f"\t [[{{{{node {v.op.name}/read}}}}]]")
            plan.checked = True
        arrays = [a for _, a in feeds]
        for i in plan.static_feeds:
            arrays[i] = arrays[i].item()  # a Python number: the program specializes on it
        try:
            outs = plan.call(arrays)
        except GraphcError as e:
            raise InvalidArgumentError(None, None, str(e)) from e
        if plan.initializes:
            self._initialized |= plan.initializes
        return plan.results(outs)

    def _fetch(self, x):
        if isinstance(x, str):
            x = self.graph.as_graph_element(x)
        if isinstance(x, (Tensor, Operation)) or _is_variable(x):
            if x.graph is not self.graph:
                raise ValueError(f"Fetch argument {x!r} cannot be interpreted as a Tensor. ({x.name} is not an "
                                 "element of this graph.)")
            return x
        raise TypeError(f"Fetch argument {x!r} has invalid type {type(x)}, must be a string or Tensor. (Can not "
                        "convert a {type(x).__name__} into a Tensor or Operation.)")

    def _feeds(self, feed_dict):
        out = []
        for k, v in feed_dict.items():
            t = self.graph.as_graph_element(k) if isinstance(k, str) else k
            if _is_variable(t):
                raise TypeError(f"feeding tf.Variable {t.name} is not supported (ops read the session's value); "
                                "assign it with tf.assign/Variable.load, or feed a tensor computed from it")
            if not isinstance(t, Tensor):
                raise TypeError(f"The value of a feed cannot be a tf.Tensor object... got key of type {type(k)}")
            try:
                arr = np.asarray(v, dtype=t._dtype._np)
            except (TypeError, ValueError) as e:
                raise InvalidArgumentError(None, t.op, f"Cannot feed value for Tensor '{t.name}': {e}") from None
            dims = t._shape.dims_
            if dims is not None and (len(dims) != arr.ndim or
                                     any(d is not None and d != s for d, s in zip(dims, arr.shape))):
                raise InvalidArgumentError(None, t.op, f"Cannot feed value of shape {arr.shape} for Tensor "
                                           f"'{t.name}', which has shape '{t._shape}'")
            out.append((t, arr))
        if len(out) > 1:
            out.sort(key=lambda p: p[0]._id)
        return out


def _fetch_names(fetches) -> list:
    leaves, _ = flatten(fetches, is_leaf=_is_fetch_leaf)
    return [x if isinstance(x, str) else getattr(x, "name", type(x).__name__) for x in leaves]


class InteractiveSession(Session):
    """A Session that installs itself as the default (for ``t.eval()`` in a shell)."""

    def __init__(self, target="", graph=None, config=None):
        super().__init__(target, graph, config)
        self._exit = contextlib.ExitStack()
        self._exit.enter_context(self.as_default())

    def close(self):
        stack, self._exit = self._exit, None
        if stack is not None:
            stack.close()
        super().close()
