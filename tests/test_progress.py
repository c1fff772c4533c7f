"""graphc.progress (the samples' console progress and curves), against a fake terminal
and a fake clock: in place with \\r on a terminal, one line per epoch otherwise."""
from __future__ import annotations

import io
import sys

import pytest

from graphc.progress import Progress, compiling, save_curves


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_progress_redraws_in_place_on_a_terminal():
    term, clock = FakeTerminal(), FakeClock()
    bar = Progress(100, "epoch 1/3", stream=term, interval=0.5, clock=clock)
    for step in range(1, 101):
        clock.t += 0.01                      # 100 steps/s
        bar.update(step, loss=1.0 / step)
    text = term.getvalue()
    assert "\n" not in text
    frames = text.split("\r")[1:]
    # throttled: a redraw every 0.5 s of fake time (50 steps) and the last step
    assert 2 <= len(frames) <= 4
    assert frames[0].startswith("epoch 1/3 ") and "steps/s" in frames[0] and "ETA 0:01" in frames[0]
    assert frames[-1].rstrip().startswith("epoch 1/3 100/100 steps, 100 steps/s, ETA 0:00, loss 0.0100")
    bar.close("test accuracy 97.00%")
    last = term.getvalue().split("\r")[-1]
    assert last.startswith("epoch 1/3 100/100 steps in 1.00 s (100 steps/s)  test accuracy 97.00%")
    assert last.endswith("\n")


def test_shorter_redraw_blanks_the_rest_of_the_line():
    term, clock = FakeTerminal(), FakeClock()
    bar = Progress(10, "x", stream=term, interval=0, clock=clock)
    clock.t += 1
    bar.update(1, note="a long note that makes the line long")
    bar.metrics.clear()
    clock.t += 1
    bar.update(2)
    first, second = term.getvalue().split("\r")[1:]
    assert len(second) == len(first)      # padded over the longer previous frame
    before = term.getvalue()
    bar.clear()
    assert term.getvalue() == before + "\r" + " " * len(second.rstrip()) + "\r"


def test_progress_writes_one_line_per_epoch_when_not_a_terminal():
    log, clock = io.StringIO(), FakeClock()
    for epoch in (1, 2):
        bar = Progress(50, f"epoch {epoch}/2", stream=log, clock=clock)
        for step in range(1, 51):
            clock.t += 0.02
            bar.update(step, loss=0.5)
        bar.close("loss 0.5")
        bar.clear()  # nothing to erase off a terminal
    lines = log.getvalue().splitlines()
    assert lines == ["epoch 1/2 50/50 steps in 1.00 s (50 steps/s)  loss 0.5",
                     "epoch 2/2 50/50 steps in 1.00 s (50 steps/s)  loss 0.5"]
    assert "\r" not in log.getvalue()


def test_compiling_header():
    term, clock = FakeTerminal(), FakeClock()
    with compiling("train step", stream=term, clock=clock):
        assert term.getvalue() == "compiling train step ..."   # shown before compilation starts
        clock.t += 1.5
    assert term.getvalue() == "compiling train step ... done in 1.50 s\n"
    log = io.StringIO()
    with compiling("train step", stream=log, clock=clock):
        assert log.getvalue() == "compiling train step ...\n"
    assert log.getvalue().splitlines()[1] == "compiled train step: done in 0.00 s"


def test_save_curves_without_matplotlib(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    out = io.StringIO()
    path = tmp_path / "curve.png"
    assert save_curves(str(path), {"loss": [3, 2, 1]}, stream=out) is False
    assert "matplotlib is not installed" in out.getvalue() and "graphc[plot]" in out.getvalue()
    assert not path.exists()


def test_save_curves_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'graphc[plot]')")
    path = tmp_path / "curve.png"
    out = io.StringIO()
    assert save_curves(str(path), {"train loss": [1.0, 0.5], "test accuracy": [0.8, 0.9]}, stream=out)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.getvalue() == f"wrote {path}\n"
