"""The one timing rule every framework in the bench is measured with (no graphc import:
the peer worker runs it in another interpreter)."""
from __future__ import annotations

import statistics
import time


def timeit(fn, reps: int, min_seconds: float = 0.2):
    """(median ms, min ms) over at least ``reps`` runs after two warm-ups."""
    fn()
    fn()
    times = []
    t_end = time.perf_counter() + min_seconds
    while len(times) < reps or (time.perf_counter() < t_end and len(times) < 200):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, min(times) * 1e3
