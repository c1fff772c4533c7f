"""The placement pass: TensorFlow 1.x's simple placer, plus the copies between devices.

Rules, in order (SEEDS.md, "Devices and execution"):
- Variables: their own device (``Variable.device``), else the device their read was
  pinned to, else the default. Ops computing a variable's new value (the update of
  ``assign``/``assign_add``/an optimizer) sit with the variable.
- Other ops: the device pinned with ``gc.device(...)`` while tracing, else the default:
  GPU 0 when one exists (``target="cuda"`` asks for it explicitly), else the CPU.
- A pinned device that does not exist, or that has no kernel for the op (as in TF 1.x,
  int32 variables have no GPU kernel), is an error naming the op, the device and the
  available devices -- unless ``allow_soft_placement``, which falls back to the CPU. An
  unpinned op without a GPU kernel quietly goes to the CPU, as in TF.
- Graph inputs and constants are fed/uploaded by the runtime wherever they are used;
  they are logged on their first user's device.
Edges between ops on different devices get a ``copy_to_device`` node; kernels formed
by fusion are split where they now span devices. ``log_device_placement`` prints one
``name: device`` line per op (TF-style names: ``add``, ``add_1``, ...). The device list
comes from ``graphc.device.available_devices()`` (tests inject a fake one).
"""
from __future__ import annotations

import sys

import numpy as np

from ..errors import DeviceError
from ..ir import Node
from ..ops.registry import defop, get_op
from .fusion import build_groups
from .manager import Pass, register_pass

CPU = "/cpu:0"
# Ops without a GPU kernel (besides those with only a CPU step lowering). Extendable.
# patches_matmul: the CPU GEMM's implicit-GEMM convolution (conv_gemm.py), made by the
# simplify pass for CPU programs only; on a GPU conv2d stays extract_patches + matmul.
NO_GPU_KERNEL: set = {"patches_matmul"}


# -- the copy op -------------------------------------------------------------------------------------

def _copy_emit(kb, node, idx):
    return kb.read(node.inputs[0], idx)


defop("copy_to_device", "opaque", lambda types, attrs: types[0], lambda attrs, x: np.array(x, copy=True),
      emit=_copy_emit, vjp=lambda g, ins, out, attrs: [g], pure=False)


def copy_to_device(node: Node, device: str) -> Node:
    return Node("copy_to_device", [node], {"device": device}, node.type, node.loc, device)


# -- kernels per device ---------------------------------------------------------------------------------

def has_kernel(node, kind: str) -> bool:
    """Whether ``node``'s op can run on a device of ``kind`` ("cpu" or "gpu")."""
    if kind == "cpu":
        return True
    op = get_op(node.op)
    if node.op == "read_variable":
        return node.type.dtype != "int32"  # TF 1.x registers no GPU kernel for int32 variables
    if op.kind == "source":
        return True
    if node.op in NO_GPU_KERNEL:
        return False
    if "cuda" in op.lowerings:
        return True
    return op.kernel is None and op.emit is not None


def _unavailable_reason(devices) -> str:
    if any(d.startswith("/gpu") for d in devices):
        return ""
    from .._runtime import cuda

    ok, why = cuda.availability()
    return "" if ok else f" ({why})"


class Placer:
    def __init__(self, graph, ctx, devices):
        self.graph = graph
        self.devices = devices
        self.soft = bool(ctx.options.get("allow_soft_placement", False))
        self.want_gpu = ctx.target == "cuda"
        self.default = "/gpu:0" if (self.want_gpu or "/gpu:0" in devices) else CPU
        self.device: dict = {}   # node id -> device
        # a program with symbolic dimensions is CPU code only (GPU code needs static sizes)
        self.symbolic = any(not p.type.is_static for p in graph.params)

    def describe(self, node) -> str:
        where = f" at {node.loc}" if node.loc else ""
        return f"op {node.op} (%{node.id}, {node.type}){where}"

    def choose(self, node, requested, pinned: bool, what=None) -> str:
        """``requested`` if usable; else an error (pinned, no soft placement) or the CPU."""
        from ..device import canonical, kind_of

        requested = canonical(requested)
        kind = kind_of(requested)
        if requested not in self.devices:
            problem = f"device {requested} does not exist" + _unavailable_reason(self.devices)
            strict = pinned or (kind == "gpu" and self.want_gpu)
        elif not has_kernel(node, kind) or (kind == "gpu" and self.symbolic):
            problem = f"no {kind.upper()} kernel is registered for {node.op} with dtype {node.type.dtype}"
            strict = pinned
        else:
            return requested
        if strict and not self.soft:
            raise DeviceError(f"cannot place {what or self.describe(node)} on {requested}: {problem}. "
                              f"Available devices: {', '.join(self.devices)}. "
                              f"Pass allow_soft_placement=True to fall back to the CPU.")
        return CPU

    def run(self):
        g = self.graph
        var_dev = {}
        for var in list(g.var_reads) + [v for v in g.var_updates if v not in g.var_reads]:
            read = g.var_reads.get(var)
            pin = getattr(var, "device", None) or (read.device if read is not None else None)
            probe = read if read is not None else Node("read_variable", [], {"var": var}, g.var_updates[var].type)
            var_dev[var] = self.choose(probe, pin or self.default, pin is not None,
                                       what=f"variable '{var.name}' ({var.dtype}{list(var.shape)})")
        for var, read in g.var_reads.items():
            self.device[read.id] = var_dev[var]
        updates = {}
        for var, n in g.var_updates.items():
            updates.setdefault(n.id, var)
        for n in g.nodes:
            if get_op(n.op).kind == "source":
                continue
            var = updates.get(n.id)
            if var is not None:
                dev = var_dev[var]
                if n.device is not None and _canon(n.device) != dev and not self.soft:
                    raise DeviceError(f"cannot place {self.describe(n)} on {_canon(n.device)}: it updates "
                                      f"variable '{var.name}', which is on {dev} (ops that modify a variable "
                                      f"sit with it). Pass allow_soft_placement=True to colocate it.")
                self.device[n.id] = self.choose(n, dev, False)
            else:
                self.device[n.id] = self.choose(n, n.device or self.default, n.device is not None)
        for n in g.nodes:  # views of another value (tuple_get) live with it
            if n.id not in self.device and n.inputs:
                self.device[n.id] = self.device[n.inputs[0].id]
        users = g.users()
        for n in g.nodes:
            if n.id not in self.device:
                first = next((u for u in users.get(n.id, []) if u.id in self.device), None)
                self.device[n.id] = self.device[first.id] if first is not None else self.default
        for n in g.nodes:
            n.device = self.device[n.id]
        return var_dev


def _canon(name):
    from ..device import canonical

    return canonical(name)


def insert_copies(graph, var_dev) -> int:
    """A copy_to_device node on every edge between two devices (one per value and device)."""
    copies: dict = {}

    def moved(src, dev):
        if src.device == dev or src.op in ("param", "constant"):
            return src
        key = (src.id, dev)
        c = copies.get(key)
        if c is None:
            c = copies[key] = copy_to_device(src, dev)
        return c

    for n in list(graph.nodes):
        if n.op != "copy_to_device":
            n.inputs = [moved(i, n.device) for i in n.inputs]
    for var, n in list(graph.var_updates.items()):
        graph.var_updates[var] = moved(n, var_dev[var])
    return len(copies)


def split_kernels(graph):
    """Redo fusion's inlining decisions where a group now spans devices.

    A node fusion inlined stays inlined into the group of its users when they all sit on
    its device (not a copy) in one group: its old group if that is still possible, else,
    for elementwise and index-remapping nodes, the group its users now form.
    """
    old = graph.kernels
    if old is None:
        return
    from .fusion import GEMM_OPS

    old_target = {m.id: grp.root.id for grp in old for m in grp.members if m is not grp.root}
    users = graph.users()
    by_id = {n.id: n for n in graph.nodes}
    group_of, inline = {}, set()
    for n in reversed(graph.nodes):
        group_of[n.id] = n.id
        if n.id not in old_target:
            continue
        us = users.get(n.id, [])
        targets = {group_of.get(u.id, u.id) for u in us}
        if not us or len(targets) != 1:
            continue
        target = by_id[next(iter(targets))]
        if target.device != n.device or any(u.device != n.device or u.op == "copy_to_device" for u in us):
            continue
        retarget_ok = get_op(n.op).kind in ("elementwise", "injective") and \
            get_op(target.op).kind != "opaque" and target.op not in GEMM_OPS
        if target.id == old_target[n.id] or retarget_ok:
            inline.add(n.id)
            group_of[n.id] = target.id
    groups = build_groups(graph, inline, group_of)
    before = {grp.root.id: grp for grp in old}
    for grp in groups:
        prev = before.get(grp.root.id)
        mm = getattr(prev, "epilogue_of", None)
        if mm is not None and mm.device == grp.root.device and \
                {m.id for m in prev.members} == {m.id for m in grp.members}:
            grp.epilogue_of = mm
    graph.kernels = groups


def placement_names(graph) -> dict:
    """TF-style unique names per node id: add, add_1, ... in topological order."""
    counts, names = {}, {}
    for n in graph.nodes:
        k = counts.get(n.op, 0)
        counts[n.op] = k + 1
        names[n.id] = n.op if k == 0 else f"{n.op}_{k}"
    return names


@register_pass
class Placement(Pass):
    name = "placement"
    reason = "assign every op a device (TF's simple placer) and copy tensors between devices"

    def run(self, graph, ctx):
        from ..device import available_devices, canonical

        devices = [canonical(d) for d in (ctx.options.get("devices") or available_devices())]
        var_dev = Placer(graph, ctx, devices).run()
        insert_copies(graph, var_dev)
        graph.sort()
        split_kernels(graph)
        on_gpu = any(n.device != CPU for n in graph.nodes if get_op(n.op).kind != "source")
        ctx.target = "cuda" if on_gpu else "cpu"
        if ctx.options.get("log_device_placement"):
            names = placement_names(graph)
            for n in graph.nodes:
                print(f"{names[n.id]}: {n.device}", file=sys.stdout)

