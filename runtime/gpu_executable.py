"""DeviceExecutable: runs a Program whose steps are placed on the CPU and on GPUs.

The Program's buffers exist once per device that touches them: host memory (the
numpy inputs and outputs, variable storage, one host workspace) and, per GPU, device
memory (inputs, outputs and the workspace allocated once per executable, constants
uploaded once). During a call every buffer records the devices holding its current
value; before a step runs, each buffer it reads is copied to the step's device if
that device's copy is stale, and afterwards the step's destination is current only
there. So whole-graph GPU runs copy inputs in and outputs out, and mixed placements
(a CPU segment between GPU kernels) move exactly the tensors that cross devices. The
``copy_to_device`` steps inserted by the placement pass are plain transfers.

Variables stay resident on their GPU between calls (``ResidentVariable``, reachable
from the Variable as ``_device_copy``): a GPU update leaves the host copy stale until
the Variable is read on the host, which pulls it back (Variable._host_value).
"""
from __future__ import annotations

import ctypes
import threading
import weakref

import numpy as np

from .buffers import aligned_empty
from .executable import RuntimeFailure, check_inputs

CPU = "/cpu:0"


class ResidentVariable:
    """A Variable's copy in one GPU's memory and which side (host, device) is current."""

    def __init__(self, var, device, device_name):
        self.device = device
        self.device_name = device_name
        self.nbytes = int(var._host_value(False).nbytes)
        self.dptr = device.alloc(self.nbytes)
        self.host_valid, self.device_valid = True, False
        weakref.finalize(var, _free_quietly, device, self.dptr)

    def sync_host(self, host: np.ndarray, write: bool):
        """Make the host array current; ``write``: the caller will modify it (device stale)."""
        if not self.host_valid:
            self.device.dtoh(host.ctypes.data, self.dptr, self.nbytes)
            self.host_valid = True
        if write:
            self.device_valid = False

    def to_device(self, host: np.ndarray):
        if not self.device_valid:
            self.device.htod(self.dptr, host.ctypes.data, self.nbytes)
            self.device_valid = True


def _free_quietly(device, ptr):
    try:
        device.free(ptr)
    except Exception:  # pragma: no cover - interpreter shutdown
        pass


def resident(var, device, device_name) -> ResidentVariable:
    rv = getattr(var, "_device_copy", None)
    if rv is None:
        rv = ResidentVariable(var, device, device_name)
        var._device_copy = rv
    elif rv.device is not device:
        raise RuntimeFailure(f"variable '{var.name}' is resident on {rv.device_name}; using it on "
                             f"{device_name} in the same process is not supported")
    return rv


def _resolve(buf):
    """(root buffer, byte offset) of a buffer that may be a view into another."""
    off = 0
    while getattr(buf, "base", None) is not None:
        off += buf.offset
        buf = buf.base
    return buf, off


class DeviceExecutable:
    """Calls a placed Program: ``plan`` is a list of ("cpu", [step indices], entry fn) |
    ("gpu", step index, device name) | ("copy", step index, device name)."""

    def __init__(self, program, plan, gpus: dict, modules: dict, launches: dict, scratch_bytes: int,
                 io: dict, llvm_ir: str = "", ptx: dict | None = None, keepalive=None):
        self.program = program
        self.plan = plan
        self.gpus = gpus                  # device name -> device object
        self.modules = modules            # device name -> loaded module
        self.launches = launches          # step index -> [Launch]
        self.io = io                      # step index -> (reads, writes) buffer lists
        self.llvm_ir = llvm_ir
        self.ptx = ptx or {}
        self._keepalive = keepalive
        self.inputs = [(tuple(b.shape), b.dtype) for b in program.inputs]
        self.outputs = [(tuple(b.shape), b.dtype) for b in program.outputs]
        self.variables = list(program.variables)
        self._lock = threading.Lock()
        self._host_ws = aligned_empty(max(program.workspace_bytes, 64), "uint8")
        n = len(self.inputs) + len(self.outputs) + len(self.variables) + 1
        self._args_type = ctypes.c_void_p * n
        self._dev_ws = {name: d.alloc(max(program.workspace_bytes, 64)) for name, d in gpus.items()}
        self._dev_scratch = {name: d.alloc(max(scratch_bytes, 64)) for name, d in gpus.items()}
        self._dev_bufs: dict = {}         # (device, kind, slot) -> device pointer
        self._consts: dict = {}           # constant slot -> contiguous host array
        for name, d in gpus.items():
            weakref.finalize(self, _free_all, d, [self._dev_ws[name], self._dev_scratch[name]], self._dev_bufs, name)

    # -- addresses ----------------------------------------------------------------------------
    def _const_host(self, root) -> np.ndarray:
        arr = self._consts.get(root.slot)
        if arr is None:
            value = np.asarray(root.value)
            arr = np.ascontiguousarray(value.astype(np.uint8) if value.dtype == np.bool_ else value)
            self._consts[root.slot] = arr
        return arr

    def _host(self, buf) -> int:
        root, off = _resolve(buf)
        kind = root.kind
        if kind == "input":
            return self._arrays[root.slot].ctypes.data + off
        if kind == "output":
            return self._outs[root.slot].ctypes.data + off
        if kind == "variable":
            return self.variables[root.slot]._host_value(False).ctypes.data + off
        if kind == "workspace":
            return self._host_ws.ctypes.data + root.slot + off
        if kind == "constant":
            return self._const_host(root).ctypes.data + off
        raise RuntimeFailure(f"no host memory for a {kind} buffer")

    def _device(self, dev, buf) -> int:
        if getattr(buf, "kind", None) is None:  # a codegen Scratch range
            return self._dev_scratch[dev] + buf.offset
        root, off = _resolve(buf)
        kind = root.kind
        if kind == "workspace":
            return self._dev_ws[dev] + root.slot + off
        if kind == "variable":
            var = self.variables[root.slot]
            return resident(var, self.gpus[dev], dev).dptr + off
        key = (dev, kind, root.slot)
        ptr = self._dev_bufs.get(key)
        if ptr is None:
            ptr = self._dev_bufs[key] = self.gpus[dev].alloc(max(root.nbytes, 1))
            if kind == "constant":
                self.gpus[dev].htod(ptr, self._const_host(root).ctypes.data, root.nbytes)
        return ptr + off

    # -- where values are current -------------------------------------------------------------
    def _valid_on(self, root) -> set:
        if root.kind == "constant":
            return {CPU, *self.gpus}
        if root.kind == "variable":
            rv = getattr(self.variables[root.slot], "_device_copy", None)
            if rv is None:
                return {CPU}
            return ({CPU} if rv.host_valid else set()) | ({rv.device_name} if rv.device_valid else set())
        return self._valid.setdefault(root.key(), set())

    def _ensure(self, buf, dev):
        """Make ``buf``'s current value present on ``dev``."""
        root, _ = _resolve(buf)
        if root.nbytes == 0:
            return
        where = self._valid_on(root)
        if dev in where:
            return
        if not where:
            raise RuntimeFailure(f"internal error: {root.kind} buffer {root.key()} read before it was written")
        if root.kind == "variable":
            var = self.variables[root.slot]
            if dev == CPU:
                var._host_value(False)  # pulls the device copy
            else:
                resident(var, self.gpus[dev], dev).to_device(var._host_value(False))
            return
        src = CPU if CPU in where else sorted(where)[0]
        self._transfer(root, src, root, dev)
        where.add(dev)

    def _written(self, buf, dev):
        root, _ = _resolve(buf)
        if root.kind == "variable":
            var = self.variables[root.slot]
            rv = getattr(var, "_device_copy", None)
            if dev == CPU:
                if rv is not None:
                    rv.host_valid, rv.device_valid = True, False
            else:
                rv = resident(var, self.gpus[dev], dev)
                rv.device_valid, rv.host_valid = True, False
            return
        self._valid[root.key()] = {dev}

    def _before_write(self, buf, dev):
        """A view writes part of its root: bring the rest of the root along first."""
        root, _ = _resolve(buf)
        if root is not buf and self._valid_on(root):
            self._ensure(root, dev)

    def _transfer(self, src, src_dev, dst, dst_dev):
        n = min(src.nbytes, dst.nbytes)
        if n == 0:
            return
        if src_dev == CPU and dst_dev == CPU:
            ctypes.memmove(self._host(dst), self._host(src), n)
        elif src_dev == CPU:
            self.gpus[dst_dev].htod(self._device(dst_dev, dst), self._host(src), n)
        elif dst_dev == CPU:
            self.gpus[src_dev].dtoh(self._host(dst), self._device(src_dev, src), n)
        elif src_dev == dst_dev:
            self.gpus[dst_dev].dtod(self._device(dst_dev, dst), self._device(src_dev, src), n)
        else:  # between GPUs through the host
            stage = np.empty(n, np.uint8)
            self.gpus[src_dev].dtoh(stage.ctypes.data, self._device(src_dev, src), n)
            self.gpus[dst_dev].htod(self._device(dst_dev, dst), stage.ctypes.data, n)

    # -- running ------------------------------------------------------------------------------------
    def check_inputs(self, arrays):
        return check_inputs(arrays, self.inputs)

    def __call__(self, arrays):
        arrays = self.check_inputs(arrays)
        with self._lock:
            self._arrays = arrays
            self._outs = [aligned_empty(shape, dtype) for shape, dtype in self.outputs]
            self._valid = {b.key(): {CPU} for b in self.program.inputs}
            try:
                for entry in self.plan:
                    getattr(self, f"_run_{entry[0]}")(*entry[1:])
                for b in self.program.outputs:
                    self._ensure(b, CPU)
                for d in self.gpus.values():
                    d.synchronize()
                return self._outs
            finally:
                self._arrays = self._outs = None

    def time_gpu(self, arrays, repeat: int = 10) -> float:
        """Seconds per run of the GPU kernels alone, timed with device events after one
        full call has put the inputs on the device (no host<->device copies counted)."""
        if any(e[0] != "gpu" for e in self.plan) or len(self.gpus) != 1:
            raise RuntimeFailure("time_gpu needs a program that runs entirely on one GPU")
        self(arrays)
        (dev, device), = self.gpus.items()
        module = self.modules[dev]
        calls = []
        for _, index, _ in self.plan:
            for ln in self.launches[index]:
                grid = max(1, min(ln.work if ln.per_block else -(-ln.work // ln.block), device.max_grid))
                calls.append((ln.name, grid, ln.block, [self._device(dev, r) for r in ln.args], ln.barrier))

        def run():
            for name, grid, block, params, barrier in calls:
                device.launch(module, name, grid, block, params, barrier=barrier)

        run()  # warm-up
        return device.time(run, repeat)

    def _run_cpu(self, indices, fn):
        produced, touched = set(), set()
        for i in indices:
            reads, writes = self.io[i]
            for b in reads + writes:
                root = _resolve(b)[0]
                if root.kind == "variable":
                    touched.add(root.slot)
            for b in reads:
                if _resolve(b)[0].key() not in produced:
                    self._ensure(b, CPU)
            for b in writes:
                self._before_write(b, CPU)
                produced.add(_resolve(b)[0].key())
        # variables this segment does not use keep their (maybe stale) host copy: pass null
        var_ptrs = [v._host_value(False).ctypes.data if k in touched else 0 for k, v in enumerate(self.variables)]
        ptrs = [a.ctypes.data for a in self._arrays] + [o.ctypes.data for o in self._outs] + \
               var_ptrs + [self._host_ws.ctypes.data]
        rc = fn(self._args_type(*ptrs))
        if rc != 0:
            raise RuntimeFailure(f"compiled code returned error code {rc}")
        for i in indices:
            for b in self.io[i][1]:
                self._written(b, CPU)

    def _run_gpu(self, index, dev):
        device, module = self.gpus[dev], self.modules[dev]
        reads, writes = self.io[index]
        for b in reads:
            self._ensure(b, dev)
        for b in writes:
            self._before_write(b, dev)
        for ln in self.launches[index]:
            grid = ln.work if ln.per_block else -(-ln.work // ln.block)
            grid = max(1, min(grid, device.max_grid))
            params = [self._device(dev, ref) for ref in ln.args]
            device.launch(module, ln.name, grid, ln.block, params, barrier=ln.barrier)
        for b in writes:
            self._written(b, dev)

    def _run_copy(self, index, dev):
        (src,), (dst,) = self.io[index]
        root, _ = _resolve(src)
        where = self._valid_on(root)
        if root.nbytes and not where:
            raise RuntimeFailure(f"internal error: copy of {root.key()} before it was written")
        if root.kind == "variable" and CPU in where:
            self.variables[root.slot]._host_value(False)
        src_dev = dev if dev in where else (CPU if CPU in where else sorted(where)[0])
        self._before_write(dst, dev)
        self._transfer(src, src_dev, dst, dev)
        self._written(dst, dev)


def _free_all(device, ptrs, dev_bufs, name):
    for p in ptrs:
        _free_quietly(device, p)
    for (d, _, _), p in list(dev_bufs.items()):
        if d == name:
            _free_quietly(device, p)
