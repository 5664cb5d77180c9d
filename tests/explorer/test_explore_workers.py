"""The Explore panels' job runner: newest request wins, cancel, errors, no thread left."""
from __future__ import annotations

import threading

import pytest

from explorer.explore_workers import LatestJobRunner, parse_indices


def test_newest_wins_and_older_results_are_dropped(qtbot):
    runner = LatestJobRunner("test")
    gate = threading.Event()
    done: list[str] = []

    def slow(ctx):
        gate.wait(2)
        return "old" if not ctx.cancelled() else "old, told to stop"

    runner.submit(slow, on_done=done.append)
    runner.submit(lambda ctx: "middle", on_done=done.append)  # replaced before it starts
    with qtbot.waitSignal(runner.busy_changed, timeout=3000):
        runner.submit(lambda ctx: "new", on_done=done.append)
        gate.set()
    assert done == ["new"] and not runner.busy
    assert runner.wait(1.0)  # the thread ends when idle


def test_cancel_asks_the_job_and_still_delivers_its_result(qtbot):
    runner = LatestJobRunner("test")
    started = threading.Event()
    results, progress = [], []
    runner.progress.connect(lambda d, t: progress.append((d, t)))

    def job(ctx):
        ctx.progress(1, 10)
        started.set()
        while not ctx.cancelled():
            ctx._stop.wait(0.01)
        return "partial"

    runner.submit(job, on_done=results.append)
    assert started.wait(2)
    with qtbot.waitSignal(runner.busy_changed, timeout=3000):
        runner.cancel()
    assert results == ["partial"] and progress == [(1, 10)]
    runner.shutdown()


def test_errors_become_one_line_messages(qtbot):
    runner = LatestJobRunner("test")
    errors = []

    def fail(ctx):
        raise ValueError("the image is (1, 64, 64) but the model reads (1, 28, 28)\nmore")

    with qtbot.waitSignal(runner.failed, timeout=3000) as blocker:
        runner.submit(fail, on_error=errors.append)
    assert errors == [blocker.args[0]] == ["the image is (1, 64, 64) but the model reads (1, 28, 28)"]
    runner.shutdown()


def test_parse_indices():
    assert parse_indices("0, 3, 10-12", 20) == [0, 3, 10, 11, 12]
    with pytest.raises(ValueError, match="out of range"):
        parse_indices("25", 20)
    with pytest.raises(ValueError, match="not an index"):
        parse_indices("x", 20)
