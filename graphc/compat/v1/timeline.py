"""``tensorflow.python.client.timeline`` for graphc: a run's trace as Chrome trace JSON.

    import graphc.compat.v1 as tf
    from graphc.compat.v1 import timeline

    opts = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE)
    meta = tf.RunMetadata()
    sess.run(train_op, feed_dict=..., options=opts, run_metadata=meta)
    with open("timeline.json", "w") as f:
        f.write(timeline.Timeline(meta.step_stats).generate_chrome_trace_format())

The events are graphc's own trace (graphc/profiler.py): the Session.run span, compile
phases when the run compiled, and every step of the native program on each thread
that ran it. ``step_stats.dev_stats`` groups them per thread as TF groups its
NodeExecStats per device, for code that walks them.
"""
from __future__ import annotations

import json


class NodeExecStats:
    def __init__(self, event: dict):
        self.node_name = event["name"]
        self.timeline_label = f"{event['name']} ({event.get('cat', '')})"
        self.all_start_micros = int(event["ts"])
        self.op_start_rel_micros = 0
        self.op_end_rel_micros = self.all_end_rel_micros = int(round(event.get("dur", 0)))
        self.thread_id = event["tid"]


class DeviceStepStats:
    def __init__(self, device: str, node_stats: list):
        self.device = device
        self.node_stats = node_stats


class StepStats:
    """The events of one traced run (``events``: trace-event dicts), and per thread a
    DeviceStepStats of NodeExecStats (``dev_stats``)."""

    def __init__(self, events: list):
        self.events = list(events)
        by_thread: dict = {}
        for e in self.events:
            if e.get("ph") == "X":
                by_thread.setdefault(e["tid"], []).append(NodeExecStats(e))
        self.dev_stats = [DeviceStepStats(f"/job:localhost/replica:0/task:0/device:CPU:0/thread:{tid}", stats)
                          for tid, stats in sorted(by_thread.items())]


class Timeline:
    """Builds Chrome trace JSON from a run's ``step_stats`` (as TF's timeline.Timeline)."""

    def __init__(self, step_stats, graph=None):
        if step_stats is None:
            raise ValueError("Timeline: run_metadata.step_stats is None; run with "
                             "options=tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE) and run_metadata=")
        self._step_stats = step_stats

    def generate_chrome_trace_format(self, show_dataflow: bool = True, show_memory: bool = False) -> str:
        """The trace-event JSON text (open it in chrome://tracing or ui.perfetto.dev)."""
        return json.dumps({"traceEvents": self._step_stats.events, "displayTimeUnit": "ms"})
