"""How responsive is the window while a model trains on the CPU, and what does it cost training?

    python benchmarks/ui_latency.py [--seconds 20] [--moves 300] [--dataset shapes|random]

Runs offscreen with the real MainWindow. A CPU training run (VAE on shapes, or on random
64x64 data) goes in the background, started with the Train button's code path, and while
it runs:

* a few hundred programmatic slider moves (the real QLabeledDoubleSlider.setValue), each
  timed from the move to the decoded image being set on the view (p50/p95/max, ms);
* a 5 ms precise QTimer whose lateness is the GUI event loop's stall (longest, p99, ms);
* training steps/s while the window is open, against the same training headless (no Qt)
  with one intra-op thread (what the window's training thread uses) and with torch's
  default thread count (what the CLI uses).

Prints ONE JSON object on stdout. Targets on a 2-core machine: p95 <= 5 ms, stall <= 50 ms.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

MODEL = {"arch": "mlp", "latent_dim": 10, "hidden": 400}
BATCH = 128


def make_dataset(name: str):
    if name == "shapes":
        from models.data import load_dataset

        return load_dataset("shapes")
    from models.data.base import Dataset, TensorSplit

    g = torch.Generator().manual_seed(0)
    imgs = (torch.rand(4000, 1, 64, 64, generator=g) * 255).to(torch.uint8)
    return Dataset("random", TensorSplit(imgs[:3500]), TensorSplit(imgs[3500:]))


def headless_steps_per_s(dataset, seconds: float, threads: int | None) -> float:
    """Steps/s of the same training with no Qt at all, in a plain thread (like the CLI)."""
    from models.families.registry import build_model
    from models.training.loop import TrainConfig, TrainControl, train

    result: dict[str, float] = {}

    def run() -> None:
        if threads is not None:
            torch.set_num_threads(threads)
        model = build_model("vae", {**MODEL, "image_shape": tuple(dataset.image_shape)})
        control = TrainControl()
        cfg = TrainConfig(epochs=1000, batch_size=BATCH, device="cpu", log_every=5, snapshot_every=50,
                          validation_size=200)
        t_first = step_first = None
        for m in train(model, dataset, cfg, control):
            now = time.perf_counter()
            if t_first is None:  # skip the start-up (first optimizer import, allocations)
                t_first, step_first = now, m.step
            elif now - t_first >= seconds:
                result["rate"] = (m.step - step_first) / (now - t_first)
                control.stop()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return result.get("rate", float("nan"))


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def window_run(dataset, seconds: float, moves: int) -> dict:
    from PySide6.QtCore import QCoreApplication, QEventLoop, Qt, QTimer

    from explorer.app import make_app
    from explorer.window.main_window import MainWindow

    app = make_app([])
    window = MainWindow(dataset_factory=lambda name, data_dir=None, **kw: dataset)
    window.show()
    panel = window.train_panel
    panel.family.setCurrentIndex(panel.family.findData("vae"))
    for k, v in MODEL.items():
        panel.fields[k].set(v)
    panel.batch_size.setValue(BATCH)
    panel.epochs.setValue(1000)
    panel.device.setCurrentText("cpu")

    steps: list[tuple[float, int]] = []
    window.session.metrics.connect(lambda batch: steps.append((time.perf_counter(), batch[-1].step)))
    panel.start_training()
    deadline = time.perf_counter() + 60
    while len(steps) < 3 and time.perf_counter() < deadline:  # past start-up, curves flowing
        app.processEvents()
        time.sleep(0.005)
    if not steps:
        raise SystemExit(f"training did not start: {window.last_error}")

    # -- the probes -------------------------------------------------------------------
    latencies: list[float] = []
    lateness: list[float] = []
    pending: dict[str, float] = {}
    view = window.image_view
    rng = np.random.default_rng(0)
    rows = window.latent_panel.z_rows

    def on_image(_img: object) -> None:  # after view.set_image (connected later)
        t0 = pending.pop("t0", None)
        if t0 is not None:
            latencies.append((view.last_set_time - t0) * 1e3)

    window.decoder.image_ready.connect(on_image)

    def move() -> None:
        if len(latencies) + ("t0" in pending) >= moves:
            return
        row = rows[int(rng.integers(len(rows)))]
        pending["t0"] = time.perf_counter()
        row.slider.setValue(float(rng.uniform(-3, 3)))  # sync decode: on_image has run already

    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        lateness.append(max(0.0, (now - last[0]) * 1e3 - 5.0))
        last[0] = now

    tick_timer = QTimer()
    tick_timer.setTimerType(Qt.TimerType.PreciseTimer)
    tick_timer.setInterval(5)
    tick_timer.timeout.connect(tick)
    move_timer = QTimer()
    move_timer.setInterval(max(10, int(seconds * 1000 / (moves * 1.1))))
    move_timer.timeout.connect(move)
    t_start = time.perf_counter()
    steps_at_start = steps[-1]
    last[0] = t_start
    tick_timer.start()
    move_timer.start()
    end = t_start + seconds
    while time.perf_counter() < end:
        app.processEvents()
        remaining = end - time.perf_counter()
        if remaining > 0:
            # block in the event loop, as a real app does (not a busy poll)
            loop = QEventLoop()  # not app.exec/quit: Qt 6's quit() closes every window
            QTimer.singleShot(int(min(remaining, 0.2) * 1000), loop.quit)
            loop.exec()
    tick_timer.stop()
    move_timer.stop()
    steps_at_end = steps[-1]
    rate = (steps_at_end[1] - steps_at_start[1]) / (steps_at_end[0] - steps_at_start[0])
    decoder = {"mode": "async" if window.decoder.asynchronous else "sync",
               "decode_ms_ema": round((window.decoder.ema_s or 0) * 1e3, 3)}
    curve_redraws = window.training_view.redraws
    t_close = time.perf_counter()
    window.close()
    close_s = time.perf_counter() - t_close
    QCoreApplication.processEvents()
    return {
        "slider_latency_ms": {"p50": round(percentile(latencies, 50), 3), "p95": round(percentile(latencies, 95), 3),
                              "max": round(max(latencies, default=float("nan")), 3), "n": len(latencies)},
        "event_loop_stall_ms": {"max": round(max(lateness, default=float("nan")), 2),
                                "p99": round(percentile(lateness, 99), 2), "ticks": len(lateness)},
        "train_steps_per_s_window": round(rate, 2),
        "curve_redraws_per_s": round(curve_redraws / (time.perf_counter() - t_start), 1),
        "decoder": decoder,
        "close_during_training_s": round(close_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the window measurement")
    parser.add_argument("--moves", type=int, default=300, help="slider moves during it")
    parser.add_argument("--headless-seconds", type=float, default=8.0)
    parser.add_argument("--dataset", choices=("shapes", "random"), default="shapes")
    parser.add_argument("--switch-interval", type=float, default=None,
                        help="GIL switch interval (s) while training runs in the window (default: the app's)")
    args = parser.parse_args()
    import explorer.training_session as training_session

    if args.switch_interval is not None:
        training_session.GUI_SWITCH_INTERVAL_S = args.switch_interval

    dataset = make_dataset(args.dataset)
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "torch_threads_default": torch.get_num_threads(),
                    "load_avg_1m": round(os.getloadavg()[0], 2)},
        "setup": {"model": {"family": "vae", **MODEL}, "dataset": dataset.name, "batch_size": BATCH,
                  "window_seconds": args.seconds, "slider_moves": args.moves,
                  "gil_switch_interval_s_while_training": training_session.GUI_SWITCH_INTERVAL_S or sys.getswitchinterval()},
    }
    default_threads = torch.get_num_threads()
    result["train_steps_per_s_headless_default_threads"] = round(
        headless_steps_per_s(dataset, args.headless_seconds, None), 2)
    result["train_steps_per_s_headless_1_thread"] = round(headless_steps_per_s(dataset, args.headless_seconds, 1), 2)
    torch.set_num_threads(default_threads)
    result.update(window_run(dataset, args.seconds, args.moves))
    w, h = result["train_steps_per_s_window"], result["train_steps_per_s_headless_1_thread"]
    result["window_vs_headless_1_thread"] = round(w / h, 3) if h else None
    result["targets_met"] = {"slider_p95_le_5ms": result["slider_latency_ms"]["p95"] <= 5.0,
                             "stall_le_50ms": result["event_loop_stall_ms"]["max"] <= 50.0}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
