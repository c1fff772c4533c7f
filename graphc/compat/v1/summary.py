"""tf.summary: scalar/histogram/image summaries, merge, and FileWriter (graphc.summary).

A summary op is a *host* op: the compiled program outputs the summarized value, and
the serialized Summary protobuf (bytes, as TF's fetch returns) is made in Python after
the run, by graphc.summary's encoder.
"""
from __future__ import annotations

import numpy as np

from ...summary import events
from . import dtypes
from .convert import as_operand
from .graph import Graph, Spec, get_default_graph
from .record import record
from .variables import GraphKeys


def _tag(name):
    scope = get_default_graph().get_name_scope()
    return f"{scope}/{name}" if scope else name


def _summary(op_type, make, name, value, collections):
    graph = get_default_graph()
    tag = _tag(name)
    if getattr(value, "_v1_variable", False):
        value = value.value()       # a summary runs on fetched values: summarize the variable's read
    t = record(op_type, lambda v: make(tag, v), (as_operand(value),), name=name, host=True,
               out=Spec((), dtypes.string))
    for c in (collections if collections is not None else [GraphKeys.SUMMARIES]):
        graph.add_to_collection(c, t)
    return t


def scalar(name, tensor, collections=None, family=None):
    return _summary("ScalarSummary", lambda tag, v: events.scalar_summary(tag, float(np.asarray(v))), name,
                    tensor, collections)


def histogram(name, values, collections=None, family=None):
    return _summary("HistogramSummary", lambda tag, v: events.histogram_summary(tag, np.asarray(v)), name,
                    values, collections)


def image(name, tensor, max_outputs=3, collections=None, family=None):
    def make(tag, v):
        v = np.asarray(v)
        if v.dtype != np.uint8:
            v = np.clip(v * 255.0 if v.max() <= 1.0 else v, 0, 255).astype(np.uint8)
        return events.merge_summaries([events.image_summary(f"{tag}/image/{i}" if len(v) > 1 else f"{tag}/image",
                                                            img) for i, img in enumerate(v[:max_outputs])])
    return _summary("ImageSummary", make, name, tensor, collections)


def merge(inputs, collections=None, name=None):
    inputs = list(inputs)
    return record("MergeSummary", lambda *s: events.merge_summaries(list(s)), tuple(inputs), name=name,
                  host=True, out=Spec((), dtypes.string))


def merge_all(key=GraphKeys.SUMMARIES, scope=None, name=None):
    summaries = get_default_graph().get_collection(key, scope)
    return merge(summaries, name=name) if summaries else None


_SOURCE_TYPES = ("Placeholder", "PlaceholderWithDefault", "VariableV2", "Const")


def _tensor_name(t):
    return t.op.name if t.value_index == 0 else t.name


def _op_inputs(op) -> list:
    """TF-style inputs of an op, variables included: an op reading a variable reads its
    ``<var>/read`` snapshot (the snapshot itself, and assigns, the variable op), and an
    op updating variables (an optimizer) has them as inputs too."""
    from .graph import Ref, Tensor, _is_variable

    inputs = []

    def add(name):
        if name not in inputs:
            inputs.append(name)

    def var_read(v):
        snap = getattr(v, "_snapshot", None)
        if op.type == "Identity" or snap is None or snap.op is op:
            return v.op.name
        return _tensor_name(snap)

    for leaf in op._leaves:
        if isinstance(leaf, Tensor):
            inputs.append(_tensor_name(leaf))
        elif isinstance(leaf, Ref) and _is_variable(leaf.obj):
            add(leaf.obj.op.name)
        elif _is_variable(leaf):
            add(var_read(leaf))
    for v in sorted(op._reads, key=lambda v: v.op.name):
        if v.op is not op:
            add(var_read(v))
    for v in sorted(op._writes, key=lambda v: v.op.name):
        if v.op is not op:
            add(v.op.name)
    inputs += ["^" + c.name for c in op.control_inputs]
    return inputs


def _op_attrs(op) -> dict:
    """Output shapes (``_output_shapes``, drawn on TensorBoard's edges) and the dtype
    (``dtype`` for sources, ``T`` otherwise) of an op's outputs."""
    outs = list(op.outputs)
    var = getattr(op, "_variable", None)
    specs = [(t._shape.dims_ if t._shape.dims_ is None else [getattr(d, "value", d) for d in t._shape.dims_],
              t._dtype) for t in outs]
    if var is not None and not specs:
        specs = [([getattr(d, "value", d) for d in var.shape.dims_], var.dtype)]
    if not specs:
        return {}
    attrs = {"_output_shapes": {"list": {"shape": [events.shape_attr(shape) for shape, _ in specs]}}}
    code = events.DATA_TYPES.get(getattr(specs[0][1], "name", str(specs[0][1])))
    if code is not None:
        attrs["dtype" if op.type in _SOURCE_TYPES else "T"] = {"type": code}
    return attrs


def _graph_nodes(graph: Graph):
    for op in graph.get_operations():
        yield op.name, op.type, _op_inputs(op), op.device, _op_attrs(op)


class FileWriter:
    """Writes events.out.tfevents.* files for TensorBoard into ``logdir``."""

    def __init__(self, logdir, graph=None, max_queue=10, flush_secs=120, graph_def=None, filename_suffix=None,
                 session=None):
        self._writer = events.EventFileWriter(logdir)
        if graph is not None:
            self.add_graph(graph)

    def get_logdir(self):
        return self._writer.logdir

    def add_graph(self, graph, global_step=None, graph_def=None):
        self._writer.add_graph(list(_graph_nodes(graph)))

    def add_summary(self, summary, global_step=None):
        """Write a serialized Summary (the value a summary op's run returns)."""
        self._writer.add_summary(bytes(summary), 0 if global_step is None else int(global_step))

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


