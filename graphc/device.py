"""Devices: names, discovery, and ``gc.device(name)`` for pinning ops while tracing.

Device names are canonicalized as TensorFlow's short forms, ``/cpu:0`` and ``/gpu:N``
(``/device:GPU:0``, ``gpu:0``, ``/GPU``, ``cuda:0`` and the long ``/job:.../device:GPU:0``
all mean ``/gpu:0``). Discovery asks the CUDA driver for its GPUs lazily and never
raises: without libcuda there is simply no ``/gpu:N``. Tests inject a fake device list
(``fake_devices``) for placement, or back ``/gpu:N`` by the CPU emulator
(``simulated_gpus``) to run GPU kernels without a GPU.
"""
from __future__ import annotations

import contextlib
import re
import threading

from .errors import DeviceError

_lock = threading.Lock()
_fake: list | None = None        # a device list replacing discovery (placement tests)
_backends: dict = {}             # ordinal -> device object (emulated GPUs, or CUDA devices opened)
_simulated: bool = False
_scope: list = []                # gc.device(...) entered outside a trace (for Variables)

_NAME = re.compile(r"^(?:/job:[^/]+)?(?:/replica:\d+)?(?:/task:\d+)?/?(?:device:)?(cpu|gpu|cuda)(?::(\d+))?$",
                   re.IGNORECASE)


def canonical(name) -> str | None:
    """``/cpu:0`` or ``/gpu:N`` for any accepted spelling; None stays None (no pin)."""
    if name is None:
        return None
    text = str(name).strip()
    m = _NAME.match(text)
    if not m:
        raise DeviceError(f"malformed device name {name!r} (expected e.g. '/cpu:0' or '/gpu:0')")
    kind = "cpu" if m.group(1).lower() == "cpu" else "gpu"
    return f"/{kind}:{int(m.group(2) or 0)}"


def kind_of(name: str) -> str:
    return "cpu" if canonical(name).startswith("/cpu") else "gpu"


def ordinal_of(name: str) -> int:
    return int(canonical(name).rsplit(":", 1)[1])


def gpu_count() -> int:
    """Number of usable GPUs (0 without a CUDA driver or device)."""
    if _fake is not None:
        return sum(1 for d in _fake if d.startswith("/gpu"))
    if _simulated:
        return len(_backends)
    from ._runtime import cuda

    return cuda.device_count()


def available_devices() -> list:
    """Every device ops can be placed on, CPU first."""
    if _fake is not None:
        return list(_fake)
    return ["/cpu:0"] + [f"/gpu:{i}" for i in range(gpu_count())]


def gpu_backend(name):
    """The runtime device object behind ``/gpu:N`` (raises DeviceError if there is none)."""
    ordinal = ordinal_of(name)
    with _lock:
        dev = _backends.get(ordinal)
        if dev is not None:
            return dev
        if _simulated:
            raise DeviceError(f"no simulated device {canonical(name)} (have {sorted(_backends)})")
        from ._runtime import cuda

        dev = cuda.CUDADevice(ordinal)
        _backends[ordinal] = dev
        return dev


@contextlib.contextmanager
def fake_devices(names):
    """Pretend these devices exist (for placement decisions only; nothing runs on them)."""
    global _fake
    saved = _fake
    _fake = [canonical(n) for n in names]
    try:
        yield list(_fake)
    finally:
        _fake = saved


@contextlib.contextmanager
def simulated_gpus(count: int = 1):
    """Back ``/gpu:0..count-1`` by the CPU emulator (graphc._runtime.cuda_sim): same kernels,
    host memory, slow. For tests of the GPU code path on machines without a GPU."""
    global _simulated
    from ._runtime.cuda_sim import SimDevice

    with _lock:
        saved = (_simulated, dict(_backends))
        _simulated = True
        _backends.clear()
        for i in range(count):
            _backends[i] = SimDevice(i)
    try:
        yield [_backends[i] for i in range(count)]
    finally:
        with _lock:
            _simulated = saved[0]
            _backends.clear()
            _backends.update(saved[1])


class device:
    """``with gc.device("/gpu:0"):`` pins the ops traced inside (and Variables created
    inside) to a device; ``gc.device(None)`` clears an outer pin."""

    def __init__(self, name):
        self.name = canonical(name)
        self._stack = None

    def __enter__(self):
        from .tracing import current_trace

        trace = current_trace()
        self._stack = trace.device_stack if trace is not None else _scope
        self._stack.append(self.name)
        return self.name

    def __exit__(self, *exc):
        self._stack.pop()
        return False


def current_device() -> str | None:
    """The innermost device scope entered outside a trace (used for new Variables)."""
    return _scope[-1] if _scope else None


# ``gc.device`` is the class above (it shadows this module as an attribute of graphc), so
# the helpers are reachable from it too: gc.device.available_devices(), gc.device.fake_devices(...)
for _f in (canonical, available_devices, gpu_count, gpu_backend, fake_devices, simulated_gpus, current_device):
    setattr(device, _f.__name__, staticmethod(_f))
del _f
