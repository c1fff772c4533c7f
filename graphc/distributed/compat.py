"""graphc.distributed for TF-1 programs (graphc.compat.v1), with Horovod's names.

    opt = gd.DistributedOptimizer(tf.train.AdamOptimizer(1e-3 * gd.size()))
    train_op = opt.minimize(loss)
    bcast = gd.broadcast_global_variables(0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(bcast)

A tf.train optimizer stands for one gc.optim optimizer per session (compat/v1/train.py);
the distributed one hands each session a DistributedOptimizer of it, so gradients are
averaged inside the session's compiled training step. ``broadcast_global_variables``
is an op whose program packs the variables, broadcasts them from the root with one
``Bcast`` per dtype (a host call, as the gradient reduction) and assigns them.
"""
from __future__ import annotations

import hashlib

import numpy as np

from .._runtime import host_calls
from ..ops.host_call import host_call
from ..ops.shape_ops import reshape
from ._comm import WORLD, init, waiting_in
from .collectives import variable_signature, verify_same_program


def is_tf_optimizer(obj) -> bool:
    if not type(obj).__module__.startswith("graphc.compat"):
        return False
    from ..compat.v1.train import Optimizer

    return isinstance(obj, Optimizer)


_TF_CLASSES: dict = {}


def tf_distributed_optimizer(tf_opt):
    from .optimizer import DistributedOptimizer

    cls = type(tf_opt)
    sub = _TF_CLASSES.get(cls)
    if sub is None:
        def _make(self, session=None, _base=cls._make):
            return DistributedOptimizer(_base(self, session))

        sub = _TF_CLASSES[cls] = type(f"Distributed{cls.__name__}", (cls,),
                                      {"_make": _make, "_graphc_distributed": True, "__module__": __name__})
    wrapped = object.__new__(sub)
    wrapped.__dict__ = tf_opt.__dict__
    return wrapped


class _Broadcast:
    """Host function: the root's packed values into ``out`` on every rank."""

    def __init__(self, signature, root, digest):
        self.signature, self.root, self.digest = signature, root, digest
        self.verified = False

    def __call__(self, x, out):
        w = WORLD
        if not self.verified:
            verify_same_program(self.signature, "broadcast_global_variables")
            self.verified = True
        if w.rank == self.root:
            out[...] = x
        with waiting_in(f"broadcast_global_variables from rank {self.root}"):
            w.comm.Bcast(out, root=self.root)


def broadcast_in_trace(variables, root: int = 0) -> None:
    """Inside a trace: assign ``root``'s values of ``variables`` (gc.Variables) on every rank."""
    variables = list(variables)
    if WORLD.size == 1 or not variables:
        return
    signature = variable_signature(variables)
    digest = hashlib.sha256(repr((signature, root)).encode()).hexdigest()
    groups: dict = {}
    for v in variables:
        groups.setdefault(str(v.dtype), []).append(v)
    for dtype, group in groups.items():
        sizes = [int(np.prod(v.shape, dtype=np.int64)) for v in group]
        fid = host_calls.register(f"graphc.distributed.broadcast:{digest}:{dtype}",
                                  _Broadcast(signature, root, digest), (sum(sizes),), dtype)
        values = host_call([reshape(v.value(), (n,)) for v, n in zip(group, sizes)], fid)  # packed by memcpy
        offset = 0
        for v, n in zip(group, sizes):
            v.assign(reshape(values[offset:offset + n], v.shape))
            offset += n


def _broadcast_replay(root, variables):
    broadcast_in_trace(variables, root)


def broadcast_global_variables(root_rank: int = 0):
    """An op giving every rank ``root_rank``'s values of all global variables (run it
    after ``tf.global_variables_initializer()`` and after creating the optimizer's
    slots, i.e. after ``minimize``)."""
    init()
    from ..compat.v1.graph import Ref
    from ..compat.v1.record import record
    from ..compat.v1.variables import global_variables

    variables = global_variables()
    return record("BroadcastGlobalVariables", _broadcast_replay, (int(root_rank), [Ref(v) for v in variables]),
                  name="broadcast_global_variables", out=(), reads=set(variables))
