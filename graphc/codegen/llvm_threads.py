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

``private_llvm_work()`` marks such a section on the calling thread. Inside it,
llvmlite's lock is taken *shared*: any number of threads in private sections run
together. Every other LLVM call (loading objects into an engine, publishing symbols,
anything on the global context) still takes it *exclusive*, waiting for the private
sections in flight and holding new ones back while it waits, so nothing that was
serialized before runs concurrently with anything but other private compiles.

The lock is installed once, by ``install()``; ``GRAPHC_PARALLEL_LLVM=0`` keeps
llvmlite's own lock, and so does an llvmlite whose internals differ from what this
module expects (the compile is then serialized, never wrong).
"""
from __future__ import annotations

import contextlib
import os
import threading

_local = threading.local()


class SharedExclusiveLock:
    """A reentrant lock with two modes, chosen by the calling thread: shared inside a
    ``private_llvm_work()`` section, exclusive otherwise. Waiting exclusive takers go
    before new shared ones, so a thread loading objects is not starved by a stream of
    compiles."""

    def __init__(self, replaced=None):
        self._replaced = replaced  # the lock this one replaced (see release)
        self._cond = threading.Condition(threading.Lock())
        self._owner = None        # ident of the exclusive holder
        self._depth = 0           # its reentrancy depth
        self._shared = 0          # shared holds in progress (all threads)
        self._waiting_exclusive = 0

    def acquire(self, blocking=True, timeout=-1):
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            shared_depth = getattr(_local, "shared_depth", 0)
            if getattr(_local, "private", 0):
                # a nested call of a thread already inside goes ahead (it holds a share)
                while self._owner is not None or (self._waiting_exclusive and not shared_depth):
                    self._cond.wait()
                self._shared += 1
                _local.shared_depth = shared_depth + 1
                return True
            self._waiting_exclusive += 1
            try:
                while self._owner is not None or self._shared:
                    self._cond.wait()
            finally:
                self._waiting_exclusive -= 1
            self._owner, self._depth = me, 1
            return True

    def release(self):
        if self._owner != threading.get_ident() and not getattr(_local, "shared_depth", 0):
            # a thread that took llvmlite's own lock just before install() swapped it
            self._replaced.release()
            return
        with self._cond:
            if self._owner == threading.get_ident():
                self._depth -= 1
                if self._depth == 0:
                    self._owner = None
                    self._cond.notify_all()
                return
            self._shared -= 1
            _local.shared_depth -= 1
            if self._shared == 0:
                self._cond.notify_all()


_installed = None  # True: shared mode available; False: llvmlite's lock kept


def install() -> bool:
    """Put a ``SharedExclusiveLock`` in place of llvmlite's process-wide lock (once);
    returns whether private sections now run concurrently."""
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
    except AttributeError:
        return False
    if not (hasattr(inner, "acquire") and hasattr(inner, "release")):
        return False
    with outer:                                    # no LLVM call is in flight during the swap
        outer._lock = SharedExclusiveLock(replaced=inner)
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
