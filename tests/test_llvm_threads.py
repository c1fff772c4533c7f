"""graphc.codegen.llvm_threads: compile threads share llvmlite's lock, everything else
takes it alone, and parallel compiles give the same object code as serial ones."""
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import graphc as gc
from graphc.codegen import llvm_cpu, llvm_threads
from graphc.codegen.llvm_threads import SharedExclusiveLock


def _hold(lock, shared, entered, release):
    def run():
        lock.acquire(shared=shared)
        entered.set()
        release.wait(5)
        lock.release()
    return threading.Thread(target=run)


def test_private_sections_hold_the_lock_together():
    lock = SharedExclusiveLock()
    entered = [threading.Event(), threading.Event()]
    release = threading.Event()
    threads = [_hold(lock, True, e, release) for e in entered]
    for t in threads:
        t.start()
    try:
        assert all(e.wait(5) for e in entered), "the second private section waited for the first"
    finally:
        release.set()
        for t in threads:
            t.join()


def test_other_calls_wait_for_private_sections_and_exclude_them():
    lock = SharedExclusiveLock()
    shared_in, exclusive_in, release_shared, release_exclusive = (threading.Event() for _ in range(4))
    shared = _hold(lock, True, shared_in, release_shared)
    shared.start()
    assert shared_in.wait(5)
    exclusive = _hold(lock, False, exclusive_in, release_exclusive)
    exclusive.start()
    assert not exclusive_in.wait(0.3), "an exclusive call ran beside a private section"
    release_shared.set()
    shared.join()
    assert exclusive_in.wait(5)
    late_in, release_late = threading.Event(), threading.Event()
    late = _hold(lock, True, late_in, release_late)
    late.start()
    assert not late_in.wait(0.3), "a private section ran beside an exclusive call"
    release_exclusive.set()
    exclusive.join()
    assert late_in.wait(5)
    release_late.set()
    late.join()


def test_exclusive_lock_is_reentrant():
    lock = SharedExclusiveLock()
    lock.acquire()
    lock.acquire()
    lock.release()
    lock.release()
    done = threading.Event()
    t = threading.Thread(target=lambda: (lock.acquire(), lock.release(), done.set()))
    t.start()
    assert done.wait(5)
    t.join()


def test_a_thread_holding_a_share_may_take_the_lock_exclusive():
    """What a finalizer does when the garbage collector runs inside a shared call's
    acquire/release: it must not wait for the share its own thread holds."""
    lock = SharedExclusiveLock()
    done = threading.Event()

    def run():
        lock.acquire(shared=True)
        lock.acquire()          # exclusive, nested
        lock.acquire(shared=True)  # nested again while exclusive
        lock.release()
        lock.release()
        lock.release()
        done.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert done.wait(5), "deadlock: exclusive taker waited for its own share"
    other = threading.Event()
    threading.Thread(target=lambda: (lock.acquire(), lock.release(), other.set()), daemon=True).start()
    assert other.wait(5), "the lock was left held"


def test_only_the_compile_calls_are_shared():
    from llvmlite.binding import ffi

    llvm_cpu.init_llvm()
    assert llvm_threads.install() is True
    assert isinstance(ffi.lib.LLVMPY_RunNewModulePassManager._lock, llvm_threads._CallLock)
    assert ffi.lib.LLVMPY_DisposeModule._lock is ffi.lib._lock  # disposal: exclusive


def test_installed_in_place_of_llvmlites_lock():
    llvm_cpu.init_llvm()
    from llvmlite.binding import ffi

    assert llvm_threads.install() is True
    assert isinstance(ffi.lib._lock._lock, SharedExclusiveLock)


@pytest.fixture
def unit_texts(tmp_path, monkeypatch):
    """IR of a few distinct units (captured while compiling small programs; an empty
    disk cache, and constants no earlier test used, so every unit is compiled)."""
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    texts = []
    original = llvm_cpu.compile_unit_object

    def capture(text, speed_level=llvm_cpu.KERNEL_SPEED_LEVEL):
        texts.append((text, speed_level))
        return original(text, speed_level)

    llvm_cpu.compile_unit_object = capture
    try:
        x = np.linspace(-2, 2, 37 * 5, dtype=np.float32).reshape(37, 5)
        c = float(np.random.default_rng().uniform(1, 2))  # a fresh constant: no unit is cached yet
        for fn in (lambda v: gc.tanh(v) * c + 1, lambda v: gc.softmax(v * c, axis=1), lambda v: (v * c).sum(axis=0),
                   lambda v: gc.exp(v) - gc.sigmoid(v.T * c).T, lambda v: gc.argmax(v * c, axis=1)):
            gc.compile(fn)(x)
    finally:
        llvm_cpu.compile_unit_object = original
    return texts


def test_parallel_compiles_give_the_serial_object_code(unit_texts):
    """LLVM's output is deterministic: any interference between threads compiling at once
    would show as different bytes (or a crash)."""
    assert len(unit_texts) >= 3

    def digest(item):
        return hashlib.sha256(llvm_cpu.compile_unit_object(*item)).hexdigest()

    serial = [digest(item) for item in unit_texts]
    with ThreadPoolExecutor(4) as ex:
        for _ in range(3):
            assert list(ex.map(digest, unit_texts)) == serial
