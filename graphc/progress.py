"""Console progress for training loops, and loss/accuracy curves (used by the samples).

    from graphc.progress import Progress, compiling, save_curves

    with compiling("train step (MLP 784-300-100-10, Adam)"):
        model.train_step(x0, y0)              # "compiling train step ... done in 1.2 s"
    for epoch in range(1, epochs + 1):
        bar = Progress(steps, f"epoch {epoch}/{epochs}")
        for s in range(steps):
            ...
            bar.update(s + 1, loss=loss)     # in place on a terminal (\\r), throttled
        bar.close(f"train loss {loss:.4f}, test accuracy {acc:.2%}")
    save_curves("curve.png", {"train loss": ..., "test accuracy": ...})

On a terminal the progress line (steps done, steps/s, ETA, metrics) is redrawn in
place; when the output is not a terminal (a log file, CI) nothing is written until
the epoch ends, and then exactly one line per epoch. ``save_curves`` needs matplotlib
(``pip install graphc[plot]``) and says so instead of failing when it is missing.
"""
from __future__ import annotations

import contextlib
import sys
import time


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """Progress of ``total`` steps (one epoch). ``update`` redraws the line on a
    terminal at most every ``interval`` seconds; ``close`` ends the epoch with one line."""

    def __init__(self, total: int, label: str = "", stream=None, interval: float = 0.1, clock=time.perf_counter):
        self.total, self.label = int(total), label
        self.stream = stream if stream is not None else sys.stdout
        self.tty = _isatty(self.stream)
        self.interval, self.clock = interval, clock
        self.start = clock()
        self.done = 0
        self._last_draw = None
        self._width = 0
        self.metrics: dict = {}

    def rate(self) -> float:
        elapsed = self.clock() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """The progress line: steps done, steps/s, ETA, metrics."""
        rate = self.rate()
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        parts = [f"{self.label} " if self.label else "",
                 f"{self.done}/{self.total} steps, {rate:,.0f} steps/s, ETA {_duration(eta) if rate > 0 else '?'}"]
        parts += [f", {k} {v:.4f}" if isinstance(v, float) else f", {k} {v}" for k, v in self.metrics.items()]
        return "".join(parts)

    def update(self, done: int, **metrics) -> None:
        self.done = int(done)
        self.metrics.update(metrics)
        if not self.tty:
            return
        now = self.clock()
        if self._last_draw is not None and now - self._last_draw < self.interval and self.done < self.total:
            return
        self._last_draw = now
        self._draw(self.line())

    def _draw(self, text: str) -> None:
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        """Erase the in-place line (on a terminal), for a caller printing its own epoch line."""
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def close(self, summary: str = "") -> str:
        """End the epoch: one line with the steps, their rate and time, and ``summary``."""
        elapsed = self.clock() - self.start
        text = (f"{self.label} " if self.label else "") + \
            f"{self.done}/{self.total} steps in {elapsed:.2f} s ({self.rate():,.0f} steps/s)"
        if summary:
            text += f"  {summary}"
        if self.tty:
            self._draw(text)
            self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        return text


@contextlib.contextmanager
def compiling(what: str, stream=None, clock=time.perf_counter):
    """Say that compilation starts before a first call that compiles ``what``, and how
    long it took after it: "compiling train step ... done in 1.23 s"."""
    stream = stream if stream is not None else sys.stdout
    tty = _isatty(stream)
    stream.write(f"compiling {what} ..." + ("" if tty else "\n"))
    stream.flush()
    t0 = clock()
    yield
    seconds = clock() - t0
    stream.write((" " if tty else "") + f"{'' if tty else 'compiled ' + what + ': '}done in {seconds:.2f} s\n")
    stream.flush()


def save_curves(path: str, series: dict, title: str = "", xlabel: str = "epoch", stream=None) -> bool:
    """Plot each named series (a list of numbers per epoch) into a PNG at ``path``:
    losses on the left axis, series whose name contains "accuracy" on a right axis.
    Returns False (and says why) when matplotlib is not installed."""
    stream = stream if stream is not None else sys.stdout
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        stream.write(f"matplotlib is not installed (pip install 'graphc[plot]'): no curve written to {path}\n")
        return False
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    ax2 = None
    for name, values in series.items():
        xs = list(range(1, len(values) + 1))
        if "accuracy" in name:
            ax2 = ax2 or ax.twinx()
            ax2.plot(xs, values, "o-", color="tab:green", label=name)
            ax2.set_ylabel("accuracy")
        else:
            ax.plot(xs, values, "o-", label=name)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    handles, labels = ax.get_legend_handles_labels()
    if ax2 is not None:
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, loc="center right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    stream.write(f"wrote {path}\n")
    return True
