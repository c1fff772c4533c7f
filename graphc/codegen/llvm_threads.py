"""Let graphc's compile threads run LLVM at the same time.

llvmlite serializes every call into LLVM behind one process-wide lock
(``llvmlite.binding.ffi.lib._lock``), because the C API as a whole is not
thread-safe. LLVM itself is, for work that touches nothing shared: a module parsed
into its own ``LLVMContext``, optimized with its own pass builder and emitted with a
target machine no other thread uses may be compiled on several threads at once (this
is how LLVM's own ORC JIT compiles in parallel). That is exactly what graphc's code
units and runtime objects are (``llvm_cpu.compile_unit_object``, ``_runtime_object``,
the thread pool's object), yet under the one lock the compile threads of
``code_cache`` took turns, so a cold compile on two cores ran its LLVM work on one.

``private_llvm_work()`` marks such a section on the calling thread. Inside it, the
calls that do the work (parse, verify, build and run the pass pipeline, emit:
``SHAREABLE_FUNCTIONS``) take llvmlite's lock *shared*: any number of threads run them
together. Every other LLVM call (loading objects into an engine, publishing symbols,
disposing of any object, anything on the global context) still takes it *exclusive*,
waiting for the shared calls in flight and holding new ones back while it waits, so
nothing that was serialized before runs concurrently with anything but other private
compiles.

The lock is installed once, by ``install()``; ``GRAPHC_PARALLEL_LLVM=0`` keeps
llvmlite's own lock, and so does an llvmlite whose internals differ from what this
module expects (the compile is then serialized, never wrong).
"""
from __future__ import annotations

import contextlib
import os
import threading

_local = threading.local()


# The llvmlite functions that do the heavy work of a private compile, all on objects of the
# calling thread (its context, module, pass builder, target machine): only these may run
# shared, and only inside private_llvm_work(). Every other call, including any llvmlite
# object's disposal (finalizers run wherever the garbage collector happens to run, and may
# dispose objects of the global context), takes the lock exclusive.
SHAREABLE_FUNCTIONS = ("LLVMPY_ParseAssembly", "LLVMPY_VerifyModule", "LLVMPY_CreatePassBuilder",
                       "LLVMPY_buildPerModuleDefaultPipeline", "LLVMPY_RunNewModulePassManager",
                       "LLVMPY_TargetMachineEmitToMemory")


class SharedExclusiveLock:
    """A reentrant lock taken shared (``acquire(shared=True)``) or exclusive. Waiting
    exclusive takers go before new shared ones, so a thread loading objects is not starved
    by a stream of compiles.

    Reentrancy includes the garbage collector: a finalizer that calls into LLVM may run
    inside ``acquire``/``release`` themselves (any allocation can trigger it), so the
    internal condition uses an RLock, and an exclusive taker does not wait for shares held
    by its own thread (it is the one running)."""

    def __init__(self, replaced=None):
        self._replaced = replaced  # the lock this one replaced (see release)
        self._cond = threading.Condition(threading.RLock())
        self._owner = None        # ident of the exclusive holder
        self._depth = 0           # its reentrancy depth
        # thread ident -> shares it holds; one dict entry per thread, updated by a single
        # store of a small int (no allocation, so no finalizer can run half way through)
        self._holders: dict = {}
        self._waiting_exclusive = 0

    def _others_hold_shares(self, me) -> bool:
        return any(n for t, n in list(self._holders.items()) if t != me)

    def acquire(self, blocking=True, timeout=-1, shared=False):
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            if shared:
                # a thread already holding a share goes ahead (it must not wait for itself)
                while self._owner is not None or (self._waiting_exclusive and not self._holders.get(me)):
                    self._cond.wait()
                self._holders[me] = self._holders.get(me, 0) + 1
                return True
            self._waiting_exclusive += 1
            try:
                while self._owner is not None or self._others_hold_shares(me):
                    self._cond.wait()
            finally:
                self._waiting_exclusive -= 1
            self._owner, self._depth = me, 1
            return True

    def release(self):
        me = threading.get_ident()
        if self._owner != me and not self._holders.get(me):
            # a thread that took llvmlite's own lock just before install() swapped it
            self._replaced.release()
            return
        with self._cond:
            if self._owner == me:
                self._depth -= 1
                if self._depth == 0:
                    self._owner = None
                    self._cond.notify_all()
                return
            n = self._holders[me] - 1
            if n:
                self._holders[me] = n
            else:
                del self._holders[me]
                self._cond.notify_all()


class _CallLock:
    """What a SHAREABLE_FUNCTIONS call enters in place of llvmlite's lock: the shared mode
    inside ``private_llvm_work()``, the exclusive one elsewhere (llvmlite's lock callbacks
    run either way)."""

    def __init__(self, lock: SharedExclusiveLock, llvmlite_lock):
        self._lock = lock
        self._callbacks = getattr(llvmlite_lock, "_cblist", [])

    def __enter__(self):
        self._lock.acquire(shared=bool(getattr(_local, "private", 0)))
        for acq, _rel in self._callbacks:
            acq()

    def __exit__(self, *exc):
        for _acq, rel in self._callbacks:
            rel()
        self._lock.release()


_installed = None  # True: shared mode available; False: llvmlite's lock kept


def install() -> bool:
    """Put a ``SharedExclusiveLock`` in place of llvmlite's process-wide lock (once):
    exclusive for every llvmlite call, shared for SHAREABLE_FUNCTIONS called inside
    ``private_llvm_work()``. Returns whether private sections now run concurrently."""
    global _installed
    if _installed is not None:
        return _installed
    _installed = False
    if os.environ.get("GRAPHC_PARALLEL_LLVM", "1") == "0":
        return False
    try:
        from llvmlite.binding import ffi
        outer = ffi.lib._lock                      # llvmlite's _LLVMLock: enter/exit call
        inner = outer._lock                        # .acquire() / .release() of this RLock
        wrappers = [getattr(ffi.lib, name) for name in SHAREABLE_FUNCTIONS]
        if not all(w._lock is outer for w in wrappers):
            return False
    except AttributeError:
        return False
    if not (hasattr(inner, "acquire") and hasattr(inner, "release")):
        return False
    with outer:                                    # no LLVM call is in flight during the swap
        lock = SharedExclusiveLock(replaced=inner)
        outer._lock = lock
        for w in wrappers:
            w._lock = _CallLock(lock, outer)
        _installed = True
    return True


@contextlib.contextmanager
def private_llvm_work():
    """A section whose LLVM calls only touch objects private to this thread (its own
    context, module, pass builder and target machine): it may overlap other threads'."""
    _local.private = getattr(_local, "private", 0) + 1
    try:
        yield
    finally:
        _local.private -= 1
