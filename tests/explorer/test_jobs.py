"""The one job runner: newest-wins and run-once modes, cancel, the error contract, no thread left."""
from __future__ import annotations

import threading

import torch

from explorer.errors import describe_error, error_text
from explorer.jobs import JobCancelled, JobRunner, live_threads


def test_newest_wins_and_older_results_are_dropped(qtbot):
    runner = JobRunner("test")
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
    runner = JobRunner("test")
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
    runner = JobRunner("test")
    errors = []

    def fail(ctx):
        raise ValueError("the image is (1, 64, 64) but the model reads (1, 28, 28)\nmore")

    with qtbot.waitSignal(runner.failed, timeout=3000) as blocker:
        runner.submit(fail, on_error=lambda e: errors.append(error_text(e)))
    assert errors == [blocker.args[0]] == ["the image is (1, 64, 64) but the model reads (1, 28, 28)"]
    runner.shutdown()


def test_job_runner_delivers_results_and_errors_on_gui_thread(qtbot):
    jobs = JobRunner("test", newest_wins=False)
    gui = threading.get_ident()
    seen: list = []
    jobs.submit(lambda ctx: threading.get_ident(), on_done=lambda r: seen.append(("done", r != gui, threading.get_ident() == gui)))
    jobs.submit(lambda ctx: 1 / 0, on_error=lambda e: seen.append(("err", type(e).__name__, threading.get_ident() == gui)))
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
    assert seen == [("done", True, True), ("err", "ZeroDivisionError", True)]
    assert jobs.wait(2000) and not jobs.busy


def test_describe_error():
    from models.runs.checkpoint import CheckpointError
    from models.training.loop import TrainingDiverged

    assert describe_error(CheckpointError("x.safetensors is corrupt")) == ("Could not open the model", "x.safetensors is corrupt")
    assert describe_error(TrainingDiverged("nan"))[0] == "Training diverged"
    assert describe_error(torch.OutOfMemoryError("CUDA out of memory"))[0] == "Out of memory"
    assert describe_error(KeyError("boom"))[0].startswith("Unexpected error")


def test_run_once_runs_every_job_in_order_with_its_own_progress(qtbot):
    runner = JobRunner("test", newest_wins=False)
    gate = threading.Event()
    order: list[str] = []
    done: list[str] = []
    progress: dict[str, list] = {"a": [], "b": []}

    def job(name):
        def run(ctx):
            if name == "a":
                gate.wait(2)
            order.append(name)
            ctx.progress(1, 2)
            return name
        return run

    runner.submit(job("a"), on_done=done.append, on_progress=lambda d, t: progress["a"].append((d, t)))
    runner.submit(job("b"), on_done=done.append, on_progress=lambda d, t: progress["b"].append((d, t)))
    assert runner.busy
    with qtbot.waitSignal(runner.busy_changed, timeout=3000) as idle:
        gate.set()
    assert idle.args == [False]
    assert order == done == ["a", "b"]  # neither replaced the other
    assert progress == {"a": [(1, 2)], "b": [(1, 2)]}
    assert runner.wait(1.0) and runner.thread is None


def test_run_once_cancel_asks_every_job_and_each_still_delivers(qtbot):
    runner = JobRunner("test", newest_wins=False)
    started = threading.Event()
    results: list = []

    def long(ctx):
        started.set()
        while not ctx.cancelled():
            ctx._stop.wait(0.01)
        return "stopped early"

    runner.submit(long, on_done=results.append)
    runner.submit(lambda ctx: "told to stop" if ctx.cancelled() else "ran in full", on_done=results.append)
    assert started.wait(2)
    with qtbot.waitSignal(runner.busy_changed, timeout=3000):
        runner.cancel()
    assert results == ["stopped early", "told to stop"]
    runner.shutdown()


def test_run_once_cancel_before_the_job_starts_still_delivers(qtbot):
    """The evaluation dialog's Cancel right after Evaluate: the job sees it at once and its
    None result still reaches the dialog."""
    runner = JobRunner("test", newest_wins=False)
    gate = threading.Event()
    results: list = []
    runner.submit(lambda ctx: gate.wait(2))  # keeps the next one waiting
    runner.submit(lambda ctx: None if ctx.cancelled() else "result", on_done=results.append)
    runner.cancel()
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy, timeout=3000)
    assert results == [None]


def test_shutdown_drops_waiting_jobs(qtbot):
    runner = JobRunner("test", newest_wins=False)
    started = threading.Event()
    ran: list[str] = []

    def running(ctx):
        started.set()
        ctx._stop.wait(2)  # ends once shutdown cancels it

    runner.submit(running)
    runner.submit(lambda ctx: ran.append("waiting"))
    assert started.wait(2)
    assert runner.shutdown(2.0)
    assert ran == []


def test_job_cancelled_unwinds_quietly(qtbot):
    for newest_wins in (True, False):
        runner = JobRunner("test", newest_wins=newest_wins)
        outcomes: list = []
        failures: list = []
        runner.failed.connect(failures.append)

        def unwind(ctx):
            raise JobCancelled

        runner.submit(unwind, on_done=outcomes.append, on_error=outcomes.append)
        qtbot.waitUntil(lambda: not runner.busy, timeout=3000)
        assert outcomes == [] and failures == []
        runner.shutdown()


def test_one_error_contract_exception_to_callback_one_line_to_failed(qtbot):
    runner = JobRunner("test", newest_wins=False)
    errors: list[BaseException] = []

    def fail(ctx):
        raise ValueError("the batch size (64) is larger than the dataset (20 images)\ndetails")

    with qtbot.waitSignal(runner.failed, timeout=3000) as blocker:
        runner.submit(fail, on_error=errors.append)
    assert isinstance(errors[0], ValueError)
    assert blocker.args == [error_text(errors[0])] == ["the batch size (64) is larger than the dataset (20 images)"]
    assert describe_error(errors[0])[0] == "Invalid settings"
    assert error_text(KeyError("x")) == "KeyError: 'x'"
    runner.shutdown()


def test_superseded_newest_wins_cancel_leaves_the_runner_idle(qtbot):
    """A running job superseded by a waiting one, then cancel(): busy ends when the running
    job does, and neither result is delivered."""
    runner = JobRunner("test")
    gate = threading.Event()
    done: list[str] = []
    runner.submit(lambda ctx: gate.wait(2) and "old", on_done=done.append)
    qtbot.waitUntil(lambda: runner._running is not None, timeout=2000)
    runner.submit(lambda ctx: "new", on_done=done.append)
    runner.cancel()
    assert runner.busy
    with qtbot.waitSignal(runner.busy_changed, timeout=3000):
        gate.set()
    assert done == [] and not runner.busy
    assert runner.wait(1.0)


def test_live_threads_sees_a_busy_runner(qtbot):
    runner = JobRunner("leak-check")
    gate = threading.Event()
    runner.submit(lambda ctx: gate.wait(2))
    assert any("latent-explorer-leak-check" in t for t in live_threads())
    gate.set()
    assert runner.wait(2.0)
    assert live_threads() == []
