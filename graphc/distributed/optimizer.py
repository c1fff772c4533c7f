"""DistributedOptimizer: gradients averaged over ranks inside the compiled training step.

How a step runs (size > 1)::

    forward, backward --> host_call(all gradients): copied (memcpy) into one flat buffer
                          per dtype, then MPI Allreduce(SUM) from it into the output buffer
                      --> slices reshaped to each variable, / size --> optimizer update

All of it is one native program (graphc/ops/host_call.py): the compiled code packs the
gradients into one contiguous workspace buffer, calls back into Python once, where
mpi4py reduces straight from that buffer into the output buffer (buffer interface, no
copies to Python objects, no pickling), and continues with the unpacking fused into the
update kernels. One Allreduce per step moves every gradient (Horovod's tensor fusion);
there is no per-variable Python loop at run time.

Why a callback inside the program rather than two compiled programs with the reduction
between them: the user's ``@gc.compile`` step stays one function whose outputs, variable
updates and caching work as everywhere else, and nothing but the flat buffer crosses
into Python.

The first call of each reduction checks that every rank reduces the same variables
(names, shapes, dtypes) with a fixed-size digest Allgather; a difference raises
DistributedError on every rank, naming the variable, before any gradient moves.
"""
from __future__ import annotations

import hashlib
import time

import numpy as np

from .. import optim
from .._runtime import host_calls
from ..ops.common import cast_to
from ..ops.elementwise import divide
from ..ops.host_call import host_call
from ..ops.shape_ops import reshape
from ..tracing import Tensor, current_trace
from ._comm import WORLD, init, waiting_in
from .collectives import verify_same_program

_REDUCED = "graphc.distributed.reduced"   # trace.meta key: ids of nodes already averaged
_COMPUTED = "graphc.distributed.computed"  # trace.meta key: compute_gradients averaged this trace's gradients
_VERIFIED: set = set()                    # signature digests every rank agreed on


class _GradientAllreduce:
    """The host function of one packed gradient buffer: check once, then Allreduce."""

    def __init__(self, signature, group, digest):
        self.signature = signature  # every variable reduced by this step, all dtypes
        self.group = group          # the names in this buffer, for messages
        self.digest = digest

    def __call__(self, x, out):
        w = WORLD
        if self.digest not in _VERIFIED:
            # raises DistributedError on every rank (re-raised by the executable: the
            # update after this call does not run)
            verify_same_program(self.signature, "the first gradient Allreduce")
            _VERIFIED.add(self.digest)
        t0 = time.perf_counter()
        with waiting_in(f"the gradient Allreduce ({x.size} x {x.dtype.name}: {self.group})"):
            if x.__array_interface__["data"][0] == out.__array_interface__["data"][0]:
                w.comm.Allreduce(w.MPI.IN_PLACE, out, op=w.MPI.SUM)
            else:
                w.comm.Allreduce(x, out, op=w.MPI.SUM)
        st = w.stats
        st["allreduce_seconds"] += time.perf_counter() - t0
        st["allreduce_calls"] += 1
        st["allreduce_bytes"] += x.nbytes


def _signature(pairs) -> list:
    return [(v.name, tuple(int(d) for d in v.shape), str(v.dtype)) for _, v in pairs]


def allreduce_gradients(grads_and_vars) -> list:
    """[(averaged gradient, variable)]: inside a trace, the gradients of every rank
    averaged by one packed Allreduce per dtype (unchanged with size 1). Gradients that
    are None stay None; ones this function already averaged are passed through."""
    trace = current_trace()
    pairs = list(grads_and_vars)
    if WORLD.size == 1 or trace is None:
        return pairs
    reduced = trace.meta.setdefault(_REDUCED, set())
    todo = [k for k, (g, _) in enumerate(pairs)
            if g is not None and not (isinstance(g, Tensor) and g.node.id in reduced)]
    if not todo:
        return pairs
    work = [(cast_to(pairs[k][0], pairs[k][1].dtype), pairs[k][1]) for k in todo]
    signature = _signature(work)
    digest = hashlib.sha256(repr(signature).encode()).hexdigest()
    groups: dict = {}
    for j, (g, v) in enumerate(work):
        groups.setdefault(str(v.dtype), []).append(j)
    out = list(pairs)
    for dtype, members in groups.items():
        sizes = [int(np.prod(work[j][1].shape, dtype=np.int64)) for j in members]
        total = sum(sizes)
        names = ", ".join(work[j][1].name for j in members)
        fid = host_calls.register(f"graphc.distributed.allreduce:{digest}:{dtype}",
                                  _GradientAllreduce(signature, names, digest), (total,), dtype)
        summed = host_call([work[j][0] for j in members], fid)  # packed by memcpy, then one Allreduce
        n_ranks = cast_to(float(WORLD.size), dtype)
        offset = 0
        for i, j in enumerate(members):
            # / size after slicing: it fuses into each variable's update instead of a pass of its own
            g = divide(reshape(summed[offset:offset + sizes[i]], work[j][1].shape), n_ranks)
            reduced.add(g.node.id)
            out[todo[j]] = (g, work[j][1])
            offset += sizes[i]
    return out


class _Distributed:
    """Mixed into the wrapped optimizer's own class (so isinstance and every update
    rule stay as they were): gradients are averaged over ranks in compute_gradients
    (as Horovod does; apply_gradients then takes what it is given, e.g. clipped), or in
    apply_gradients for gradients computed elsewhere (gc.gradients, compat.v1's
    tf.gradients)."""

    _graphc_distributed = True

    def compute_gradients(self, loss, var_list=None):
        pairs = allreduce_gradients(super().compute_gradients(loss, var_list))
        trace = current_trace()
        if trace is not None:
            trace.meta[_COMPUTED] = True
        return pairs

    def apply_gradients(self, grads_and_vars, global_step=None):
        trace = current_trace()
        if trace is not None and trace.meta.get(_COMPUTED):
            # averaged by compute_gradients already; what the user made of them since
            # (clipping, scaling) is the same on every rank: no second reduction
            return super().apply_gradients(grads_and_vars, global_step=global_step)
        return super().apply_gradients(allreduce_gradients(grads_and_vars), global_step=global_step)


_CLASSES: dict = {}


def DistributedOptimizer(optimizer):
    """Wrap a ``gc.optim`` optimizer (or a ``graphc.compat.v1`` tf.train optimizer) so
    that its updates use gradients averaged over all ranks.

    The result is an instance of a subclass of the optimizer's class sharing its state
    (slots, learning rate): ``opt.variables()`` of either object lists the same slots.
    With size 1 the updates are exactly the wrapped optimizer's. Scale the learning
    rate yourself if the global batch grows with the ranks (Horovod's convention:
    ``lr * gd.size()``)."""
    init()
    if getattr(optimizer, "_graphc_distributed", False):
        return optimizer
    from .compat import is_tf_optimizer, tf_distributed_optimizer

    if is_tf_optimizer(optimizer):
        return tf_distributed_optimizer(optimizer)
    if not isinstance(optimizer, optim.Optimizer):
        raise TypeError(f"DistributedOptimizer wraps a gc.optim optimizer or a graphc.compat.v1 tf.train "
                        f"optimizer, got {type(optimizer).__name__}")
    cls = type(optimizer)
    sub = _CLASSES.get(cls)
    if sub is None:
        sub = _CLASSES[cls] = type(f"Distributed{cls.__name__}", (_Distributed, cls), {"__module__": __name__})
    wrapped = object.__new__(sub)
    wrapped.__dict__ = optimizer.__dict__  # one state: slots made through either object are shared
    return wrapped
