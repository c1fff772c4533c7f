"""The CUDA driver API through ctypes (libcuda is loaded lazily, on first use).

Only the driver API is used (no runtime library, no nvcc): the PTX graphc generates is
JIT-compiled by the driver with ``cuModuleLoadDataEx``. Every call's status goes
through ``check``, which raises ``CUDAError`` (a DeviceError) with the function name
and the driver's own error name and text. Importing this module needs no CUDA.

A ``CUDADevice`` is one GPU's primary context plus the operations the executables
need: allocation, copies, module loading, kernel launches and event timing.
"""
from __future__ import annotations

import ctypes
import threading

from ..errors import DeviceError

CUresult = ctypes.c_int
CUdeviceptr = ctypes.c_uint64
c_void_p, c_int, c_uint, c_size_t, c_char_p = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_size_t, ctypes.c_char_p

ATTR_MULTIPROCESSOR_COUNT = 16
ATTR_CC_MAJOR = 75
ATTR_CC_MINOR = 76
JIT_ERROR_LOG_BUFFER = 5
JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6

# name -> (argtypes); every function returns CUresult. Alternatives are tried in order.
_SIGNATURES = {
    "cuInit": [c_uint],
    "cuDriverGetVersion": [ctypes.POINTER(c_int)],
    "cuDeviceGetCount": [ctypes.POINTER(c_int)],
    "cuDeviceGet": [ctypes.POINTER(c_int), c_int],
    "cuDeviceGetName": [c_char_p, c_int, c_int],
    "cuDeviceGetAttribute": [ctypes.POINTER(c_int), c_int, c_int],
    "cuDeviceTotalMem_v2": [ctypes.POINTER(c_size_t), c_int],
    "cuDevicePrimaryCtxRetain": [ctypes.POINTER(c_void_p), c_int],
    "cuCtxSetCurrent": [c_void_p],
    "cuCtxSynchronize": [],
    "cuModuleLoadDataEx": [ctypes.POINTER(c_void_p), c_char_p, c_uint, ctypes.POINTER(c_int),
                           ctypes.POINTER(c_void_p)],
    "cuModuleGetFunction": [ctypes.POINTER(c_void_p), c_void_p, c_char_p],
    "cuModuleUnload": [c_void_p],
    "cuLaunchKernel": [c_void_p, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_void_p,
                       ctypes.POINTER(c_void_p), ctypes.POINTER(c_void_p)],
    "cuMemAlloc_v2": [ctypes.POINTER(CUdeviceptr), c_size_t],
    "cuMemFree_v2": [CUdeviceptr],
    "cuMemcpyHtoD_v2": [CUdeviceptr, c_void_p, c_size_t],
    "cuMemcpyDtoH_v2": [c_void_p, CUdeviceptr, c_size_t],
    "cuMemcpyDtoD_v2": [CUdeviceptr, CUdeviceptr, c_size_t],
    "cuMemsetD8_v2": [CUdeviceptr, ctypes.c_ubyte, c_size_t],
    "cuMemGetInfo_v2": [ctypes.POINTER(c_size_t), ctypes.POINTER(c_size_t)],
    "cuEventCreate": [ctypes.POINTER(c_void_p), c_uint],
    "cuEventRecord": [c_void_p, c_void_p],
    "cuEventSynchronize": [c_void_p],
    "cuEventElapsedTime_v2": [ctypes.POINTER(ctypes.c_float), c_void_p, c_void_p],
    "cuEventElapsedTime": [ctypes.POINTER(ctypes.c_float), c_void_p, c_void_p],
    "cuEventDestroy_v2": [c_void_p],
    "cuGetErrorName": [c_int, ctypes.POINTER(c_char_p)],
    "cuGetErrorString": [c_int, ctypes.POINTER(c_char_p)],
}


class CUDAError(DeviceError):
    """A CUDA driver call failed; ``code`` is the CUresult."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


_lock = threading.Lock()
_state: dict = {}   # "lib": CDLL, "error": str (why CUDA is unavailable), "count": int


def _load():
    """The initialized driver library, or DeviceError saying why there is none."""
    with _lock:
        if "lib" in _state:
            return _state["lib"]
        if "error" in _state:
            raise DeviceError(_state["error"])
        lib, errors = None, []
        for name in ("libcuda.so.1", "libcuda.so"):
            try:
                lib = ctypes.CDLL(name)
                break
            except OSError as e:
                errors.append(str(e))
        if lib is None:
            _state["error"] = "no CUDA device/driver available: libcuda could not be loaded (" + "; ".join(errors) + ")"
            raise DeviceError(_state["error"])
        for fname, argtypes in _SIGNATURES.items():
            fn = getattr(lib, fname, None)
            if fn is not None:
                fn.argtypes = argtypes
                fn.restype = CUresult
        rc = lib.cuInit(0)
        if rc != 0:
            _state["error"] = f"no CUDA device/driver available: cuInit failed with {_error_text(lib, rc)}"
            raise DeviceError(_state["error"])
        _state["lib"] = lib
        return lib


def _error_text(lib, rc) -> str:
    name, text = c_char_p(), c_char_p()
    try:
        lib.cuGetErrorName(rc, ctypes.byref(name))
        lib.cuGetErrorString(rc, ctypes.byref(text))
    except Exception:  # pragma: no cover - very old drivers
        pass
    n = name.value.decode() if name.value else "CUDA_ERROR"
    t = text.value.decode() if text.value else "unknown error"
    return f"{n} ({rc}): {t}"


def check(rc, what: str):
    """Raise CUDAError for a non-zero CUresult, naming the call and the driver's message."""
    if rc != 0:
        raise CUDAError(f"{what} failed: {_error_text(_load(), rc)}", rc)


def call(name: str, *args, what: str | None = None):
    lib = _load()
    fn = getattr(lib, name, None)
    if fn is None:
        raise CUDAError(f"the CUDA driver has no {name} (driver too old?)")
    check(fn(*args), what or name)


def availability() -> tuple:
    """(True, "") when a driver with at least one device is present, else (False, reason)."""
    try:
        lib = _load()
    except DeviceError as e:
        return False, str(e)
    n = c_int(0)
    rc = lib.cuDeviceGetCount(ctypes.byref(n))
    if rc != 0:
        return False, f"no CUDA device/driver available: cuDeviceGetCount failed with {_error_text(lib, rc)}"
    if n.value == 0:
        return False, "no CUDA device/driver available: the driver reports no devices"
    return True, ""


def device_count() -> int:
    """How many CUDA devices the driver sees; 0 without a driver (never raises)."""
    if "count" not in _state:
        ok, _ = availability()
        if not ok:
            _state["count"] = 0
        else:
            n = c_int(0)
            _load().cuDeviceGetCount(ctypes.byref(n))
            _state["count"] = n.value
    return _state["count"]


def driver_version() -> int:
    v = c_int(0)
    call("cuDriverGetVersion", ctypes.byref(v))
    return v.value


class CUDAModule:
    """A loaded PTX module; ``function(name)`` caches kernel handles."""

    def __init__(self, device, handle):
        self.device = device
        self.handle = handle
        self._functions: dict = {}

    def function(self, name: str):
        fn = self._functions.get(name)
        if fn is None:
            self.device.activate()
            h = c_void_p()
            call("cuModuleGetFunction", ctypes.byref(h), self.handle, name.encode(), what=f"cuModuleGetFunction({name})")
            fn = self._functions[name] = h
        return fn


class CUDADevice:
    """One GPU (its primary context): memory, copies, modules, launches, timing."""

    kind = "cuda"
    code_format = "ptx"

    def __init__(self, ordinal: int = 0):
        ok, reason = availability()
        if not ok:
            raise DeviceError(reason)
        count = device_count()
        if not 0 <= ordinal < count:
            raise DeviceError(f"no CUDA device /gpu:{ordinal} (the driver sees {count})")
        self.ordinal = ordinal
        dev = c_int()
        call("cuDeviceGet", ctypes.byref(dev), ordinal)
        self._dev = dev.value
        ctx = c_void_p()
        call("cuDevicePrimaryCtxRetain", ctypes.byref(ctx), self._dev)
        self._ctx = ctx
        buf = ctypes.create_string_buffer(256)
        call("cuDeviceGetName", buf, 256, self._dev)
        self.name = buf.value.decode()
        self.compute_capability = (self._attr(ATTR_CC_MAJOR), self._attr(ATTR_CC_MINOR))
        self.sm_count = self._attr(ATTR_MULTIPROCESSOR_COUNT)
        self.max_grid = self.sm_count * 32  # grid-stride kernels: enough blocks to fill the GPU

    def __repr__(self):
        return f"<CUDADevice /gpu:{self.ordinal} {self.name} sm_{self.compute_capability[0]}{self.compute_capability[1]}>"

    def _attr(self, attr) -> int:
        v = c_int()
        call("cuDeviceGetAttribute", ctypes.byref(v), attr, self._dev)
        return v.value

    def activate(self):
        call("cuCtxSetCurrent", self._ctx)

    # -- memory -------------------------------------------------------------------------------
    def alloc(self, nbytes: int) -> int:
        self.activate()
        p = CUdeviceptr()
        call("cuMemAlloc_v2", ctypes.byref(p), max(int(nbytes), 1), what=f"cuMemAlloc({nbytes} bytes)")
        return p.value

    def free(self, ptr: int):
        if _state.get("lib") is not None and ptr:
            self.activate()
            call("cuMemFree_v2", CUdeviceptr(ptr))

    def htod(self, dptr: int, host_ptr: int, nbytes: int):
        if nbytes:
            self.activate()
            call("cuMemcpyHtoD_v2", CUdeviceptr(dptr), c_void_p(host_ptr), nbytes)

    def dtoh(self, host_ptr: int, dptr: int, nbytes: int):
        if nbytes:
            self.activate()
            call("cuMemcpyDtoH_v2", c_void_p(host_ptr), CUdeviceptr(dptr), nbytes)

    def dtod(self, dst: int, src: int, nbytes: int):
        if nbytes:
            self.activate()
            call("cuMemcpyDtoD_v2", CUdeviceptr(dst), CUdeviceptr(src), nbytes)

    def memset(self, dptr: int, byte: int, nbytes: int):
        if nbytes:
            self.activate()
            call("cuMemsetD8_v2", CUdeviceptr(dptr), byte, nbytes)

    def mem_info(self) -> tuple:
        self.activate()
        free, total = c_size_t(), c_size_t()
        call("cuMemGetInfo_v2", ctypes.byref(free), ctypes.byref(total))
        return free.value, total.value

    # -- code ----------------------------------------------------------------------------------
    def load_module(self, ptx: str) -> CUDAModule:
        """JIT-compile PTX; a failure carries the driver's compile log."""
        self.activate()
        log = ctypes.create_string_buffer(16384)
        opts = (c_int * 2)(JIT_ERROR_LOG_BUFFER_SIZE_BYTES, JIT_ERROR_LOG_BUFFER)
        vals = (c_void_p * 2)(c_void_p(len(log)), ctypes.cast(log, c_void_p))
        h = c_void_p()
        rc = _load().cuModuleLoadDataEx(ctypes.byref(h), ptx.encode() + b"\0", 2, opts, vals)
        if rc != 0:
            raise CUDAError(f"cuModuleLoadDataEx failed: {_error_text(_load(), rc)}\n{log.value.decode(errors='replace')}", rc)
        return CUDAModule(self, h)

    def launch(self, module: CUDAModule, name: str, grid: int, block: int, params, barrier=False):
        """Launch ``name`` on the default stream; ``params`` are device pointers (ints)."""
        fn = module.function(name)
        vals = [CUdeviceptr(p) for p in params]
        ptrs = (c_void_p * max(len(vals), 1))(*[ctypes.addressof(v) for v in vals])  # vals outlive the call
        call("cuLaunchKernel", fn, int(grid), 1, 1, int(block), 1, 1, 0, None, ptrs, None,
             what=f"cuLaunchKernel({name}, grid={grid}, block={block})")

    def synchronize(self):
        self.activate()
        call("cuCtxSynchronize")

    # -- timing ---------------------------------------------------------------------------------
    def time(self, fn, repeat: int = 1) -> float:
        """Seconds per run of ``fn()`` (which launches work), measured with CUDA events."""
        self.activate()
        start, end = c_void_p(), c_void_p()
        call("cuEventCreate", ctypes.byref(start), 0)
        call("cuEventCreate", ctypes.byref(end), 0)
        try:
            call("cuEventRecord", start, None)
            for _ in range(repeat):
                fn()
            call("cuEventRecord", end, None)
            call("cuEventSynchronize", end)
            ms = ctypes.c_float()
            lib = _load()
            elapsed = "cuEventElapsedTime_v2" if getattr(lib, "cuEventElapsedTime_v2", None) else "cuEventElapsedTime"
            call(elapsed, ctypes.byref(ms), start, end)
            return ms.value / 1e3 / repeat
        finally:
            call("cuEventDestroy_v2", start)
            call("cuEventDestroy_v2", end)
