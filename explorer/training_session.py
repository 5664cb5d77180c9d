"""A training run in the window: its QThread, the worker that drives ``train()``, and what it needs.

The run keeps its own long-lived QThread rather than a :class:`~explorer.jobs.JobRunner` job:
it is one loop that pauses, resumes and stops many times over its life, through the
``threading.Event``s of TrainControl. The thread is registered with the window's thread
bookkeeping (``explorer.jobs.live_threads``) and its errors go through the same
``describe_error`` contract as every job's.

Threads and cores. On a 2-core CPU the training thread and the GUI share the machine:

* the training thread runs one intra-op thread on CPU
  (:func:`models.training.threads.window_threads`), so its kernels keep to one core and the
  GUI thread always has the other one for painting and slider decodes (intra-op parallelism
  gains little on these small models anyway, and collapses when a thread is descheduled);
* metrics reach the GUI at a bounded rate: the worker coalesces StepMetrics and emits
  a batch at most every ``EMIT_INTERVAL_S`` (only the final event goes at once), so the
  GUI does at most ~20 small updates a second whatever the step rate;
* pause/resume/stop set ``threading.Event``s in TrainControl directly from the GUI
  thread: a queued signal to a worker busy in its loop would never be delivered.
"""
from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from models.data.base import Dataset
from models.families.base import LatentModel
from models.runs.checkpoint import Checkpoint
from models.runs.run_dir import RunDir
from models.training.device import device_description, resolve_device
from models.training.loop import StepMetrics, TrainConfig, TrainControl
from models.training.threads import apply_threads, window_threads

from .datasets import DatasetFactory, default_dataset_factory
from .errors import describe_error
from .jobs import register_qthread
from .widgets.qt_utils import connect_all

EMIT_INTERVAL_S = 0.05
#: the GIL switch interval while a run trains in the window; None keeps Python's 5 ms.
#: Measured with benchmarks/ui_latency.py on the 2-core machine (A/B, twice each): 1 ms gave
#: a worse slider p95 (2.5-5.9 ms vs 2.1-2.2 ms), longer stalls (18-37 ms vs 15-28 ms) and
#: no faster training. The training thread spends most of its time in torch kernels with
#: the GIL released, so forcing more frequent hand-offs only adds convoy overhead.
GUI_SWITCH_INTERVAL_S: float | None = None
#: threads of runs a closing window stopped but could not wait for (see TrainingSession.shutdown)
_STILL_SAVING: list[QThread] = []


@dataclass
class TrainRequest:
    """Everything a run needs, collected from the Model & data panel."""

    family: str
    dataset: str = "shapes"
    data_dir: str | None = None
    #: family config fields (image_shape comes from the dataset); unused when resuming
    model_config: dict[str, Any] = field(default_factory=dict)
    train_config: TrainConfig = field(default_factory=TrainConfig)
    #: parent folder of the run folder; None: explorer.settings.runs_dir()
    runs_root: Path | None = None
    #: a fresh run's image side for the datasets that come in several sizes (None: the
    #: dataset's default) and its channels (3: an image folder read in colour); a
    #: continuation reads its model's own (models.runs.opening.dataset_request)
    image_size: int | None = None
    channels: int = 1
    #: continue this model instead of building one, as models.training.resume plans it (into
    #: its run, or a new folder here for an older or loose checkpoint): its ``model`` a private
    #: copy trained in place, its ``train_state`` and ``path`` (None for a model never saved)
    resume: Checkpoint | None = None


@dataclass
class TrainStarted:
    """Sent once the dataset is loaded and the model built."""

    model: LatentModel  # a CPU copy, for exploring with live weights
    dataset: Dataset
    run_dir: Path
    device: str  # human-readable ("CPU (1 training thread)", "CUDA: NVIDIA H100 ...")
    preview_columns: int
    total_steps: int
    #: the step the run starts from (non-zero when continuing a model)
    start_step: int = 0


def choose_cadence(device: torch.device, steps_per_epoch: int) -> dict[str, int]:
    """log / snapshot / checkpoint intervals for a GUI run.

    On the CPU a log is free (no device sync), so log often for smooth curves; the worker
    coalesces emissions anyway. Snapshots copy the weights and decode 64 previews: every
    50 steps is ~1 s at the speeds seen here. On a GPU steps are far faster and each log
    is a sync, so use larger intervals. Long epochs (shapes: 5,700 steps) get a checkpoint
    every 2,000 steps so a crash never loses much.
    """
    if device.type == "cpu":
        # every step: CPU training of a window-sized model runs 3-50 steps/s, and the curves
        # should move >= 10 times a second whenever training is that fast
        cadence = {"log_every": 1, "snapshot_every": 50}
    else:
        cadence = {"log_every": 50, "snapshot_every": 500}
    cadence["checkpoint_every"] = 0 if steps_per_epoch <= 2000 else 2000
    return cadence


def run_folder_name(family: str, dataset: str) -> str:
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{family}-{dataset}"


class TrainingWorker(QObject):
    """Lives in the run's QThread; ``run`` loads data, builds the model and iterates train()."""

    loading = Signal(str)  # what it is doing before the first step
    download_progress = Signal(int, int)
    started = Signal(object)  # TrainStarted
    stepper = Signal(str)  # the training step train() built ("cuda graph", "eager", ...), after started
    metrics = Signal(object)  # list[StepMetrics], coalesced
    failed = Signal(str, str)  # title, message
    finished = Signal()

    def __init__(self, request: TrainRequest, control: TrainControl, dataset_factory: DatasetFactory) -> None:
        super().__init__()
        self.request, self.control, self.dataset_factory = request, control, dataset_factory

    @Slot()
    def run(self) -> None:
        try:
            self._run()
        except BaseException as e:  # noqa: BLE001 - a failed run must never take the window down
            self.failed.emit(*describe_error(e))
        finally:
            self.finished.emit()
            # end the thread's event loop from here: a queued quit() would wait for the GUI
            # thread, which may itself be blocked in wait() (closing the window)
            thread = QThread.currentThread()
            if thread is not None:
                thread.quit()

    def _run(self) -> None:
        from models.families.registry import build_model, data_fields
        from models.metrics.sample_quality import default_training_scorer
        from models.runs.model_budget import check_budget, meta_model
        from models.runs.opening import downloads_allowed, load_model_dataset
        from models.training.loop import train
        from models.training.resume import plan_from_checkpoint

        from .settings import runs_dir

        req = self.request
        cfg = copy.deepcopy(req.train_config)
        device = resolve_device(cfg.device)
        if device.type == "cpu":
            apply_threads(window_threads())  # keep the GUI's core free (see the module docstring)
        self.loading.emit(f"Loading {req.dataset}…")
        # the resume plan reads the run's latest checkpoint (its moments): here, off the GUI thread
        plan = None if req.resume is None else plan_from_checkpoint(req.resume, dataset=req.dataset,
                                                                     data_dir=req.data_dir)
        if plan is None:
            dataset = self.dataset_factory(req.dataset, req.data_dir, download=downloads_allowed(),
                                           progress=self.download_progress.emit, image_size=req.image_size,
                                           channels=req.channels)
        else:  # the model's own data, in its size and colour; ShapeMismatch says when it does not fit
            dataset = load_model_dataset(plan.model, plan.dataset, progress=self.download_progress.emit,
                                         loader=self.dataset_factory)
        if self.control.stop_requested:
            return
        if plan is None:
            self.loading.emit(f"Building {req.family}…")
            # measured on the meta device first: a width that cannot fit is refused before it is allocated
            measured = meta_model(req.family, {**req.model_config, **data_fields(req.family, dataset)})
            check_budget(measured, f"The {req.family} model")
            model = build_model(req.family, measured.config)
            start_step, start_epoch, optimizer_state = 0, None, None
        else:
            model, start_step, start_epoch = plan.model, plan.start_step, plan.start_epoch
            optimizer_state = plan.optimizer_state  # Adam's moments carry on where the plan found them
        steps_per_epoch = max(1, len(dataset.train) // cfg.batch_size)
        if len(dataset.train) < cfg.batch_size:
            raise ValueError(f"the batch size ({cfg.batch_size}) is larger than the dataset ({len(dataset.train)} images)")
        for k, v in choose_cadence(device, steps_per_epoch).items():
            setattr(cfg, k, v)
        total = start_step + int(cfg.steps if cfg.steps is not None else round((cfg.epochs or 1) * steps_per_epoch))
        cfg.validation_size = min(cfg.validation_size, 1000)  # keeps the final checkpoint quick on Stop
        if plan is not None and plan.run_dir is not None:
            run = RunDir(plan.run_dir)  # train() appends metrics and keeps the run's best score
        else:  # a fresh run, or a branch (an older or loose checkpoint): a new folder among the runs
            run = RunDir((req.runs_root or runs_dir()) / run_folder_name(model.family, dataset.name))
        # a GAN's samples scored at each checkpoint when the classifier is cached (Evaluate caches it)
        if not model.latent_spec.has_encoder:
            self.loading.emit("Preparing the sample scores…")  # the test set through the classifier: seconds
        scorer = default_training_scorer(model, dataset, device)
        where = f"CPU ({window_threads()} training thread)" if device.type == "cpu" else device_description(device)
        self.started.emit(TrainStarted(copy.deepcopy(model).eval(), dataset, run.path, where,
                                       model.preview_columns(), total, start_step))
        pending: list[StepMetrics] = []
        last_emit = 0.0
        # keep_weights: snapshots carry CPU copies of the weights, which the explored model loads
        for m in train(model, dataset, cfg, self.control, run, start_step=start_step, optimizer_state=optimizer_state,
                       sample_scorer=scorer, start_epoch=start_epoch, keep_weights=True, on_start=self.stepper.emit,
                       previous_schedule=plan.lr_schedule if plan is not None else None):
            pending.append(m)
            now = time.monotonic()
            # snapshots wait for the interval too (a fast model makes one every few ms; the
            # GUI shows the newest weights and previews of a batch); the end goes at once
            if m.event in ("done", "stopped") or now - last_emit >= EMIT_INTERVAL_S:
                self.metrics.emit(pending)
                pending, last_emit = [], now
        if pending:
            self.metrics.emit(pending)


class TrainingSession(QObject):
    """Owns at most one training run: its QThread, worker and TrainControl.

    ``state`` is "idle", "loading", "running", "paused" or "stopping".
    """

    state_changed = Signal(str)
    loading = Signal(str)
    download_progress = Signal(int, int)
    started = Signal(object)  # TrainStarted
    #: the training step the run uses ("cuda graph", "eager", "eager (CUDA graph capture failed: ...)"),
    #: once train() has built it: after ``started``, before the first metrics
    stepper = Signal(str)
    metrics = Signal(object)  # list[StepMetrics]
    failed = Signal(str, str)
    finished = Signal(object)  # the last StepMetrics (done/stopped) or None

    def __init__(self, dataset_factory: DatasetFactory | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dataset_factory: DatasetFactory = dataset_factory or default_dataset_factory
        self.state = "idle"
        self.control: TrainControl | None = None
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._last: StepMetrics | None = None
        self.info: TrainStarted | None = None
        #: the current run's training step (see ``stepper``), "" until it is built
        self.stepper_name = ""
        self._gui_threads = torch.get_num_threads()

    @property
    def active(self) -> bool:
        return self._thread is not None

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def start(self, request: TrainRequest) -> None:
        if self.active:
            raise RuntimeError("a training run is already going")
        self.control = TrainControl()
        self._last, self.info, self.stepper_name = None, None, ""
        thread = QThread()
        thread.setObjectName(f"training {request.family} on {request.dataset}")
        worker = TrainingWorker(request, self.control, self.dataset_factory)
        worker.moveToThread(thread)
        connect_all([(thread.started, worker.run), (worker.loading, self.loading),
                     (worker.download_progress, self.download_progress), (worker.started, self._on_started),
                     (worker.stepper, self._on_stepper),
                     (worker.metrics, self._on_metrics), (worker.failed, self.failed),
                     (thread.finished, self._on_thread_finished)])
        self._thread, self._worker = thread, worker
        register_qthread(thread)
        # while training runs the GUI thread decodes with one intra-op thread too: the
        # other core is the training thread's (torch's thread count is per thread)
        self._gui_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        self._switch_interval = sys.getswitchinterval()
        if GUI_SWITCH_INTERVAL_S is not None:
            sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
        self._set_state("loading")
        thread.start()

    def pause(self) -> None:
        if self.control is not None and self.state == "running":
            self.control.pause()
            self._set_state("paused")

    def resume(self) -> None:
        if self.control is not None and self.state == "paused":
            self.control.resume()
            self._set_state("running")

    def toggle_pause(self) -> None:
        if self.state == "running":
            self.pause()
        elif self.state == "paused":
            self.resume()

    def stop(self) -> None:
        if self.control is not None and self.active:
            self.control.stop()
            self._set_state("stopping")

    def wait(self, timeout_ms: int) -> bool:
        """Block until the thread ends (close/tests). Delivers its final signals first."""
        thread = self._thread
        if thread is None:
            return True
        done = thread.wait(timeout_ms)
        if done:
            QCoreApplication.sendPostedEvents()  # the queued metrics/finished of the run
            QCoreApplication.processEvents()
        return done

    def shutdown(self, timeout_ms: int) -> bool:
        """Stop the run and wait at most ``timeout_ms`` for it to save and end (the window
        is closing). True when it ended; a thread still saving after that is kept referenced
        so Qt never destroys it running."""
        if not self.active:
            return True
        self.stop()
        if self.wait(timeout_ms):
            return True
        _STILL_SAVING.append(self._thread)
        return False

    @Slot(object)
    def _on_started(self, info: TrainStarted) -> None:
        self.info = info
        if self.state == "loading":
            self._set_state("running")
        self.started.emit(info)

    @Slot(str)
    def _on_stepper(self, name: str) -> None:
        self.stepper_name = name
        self.stepper.emit(name)

    @Slot(object)
    def _on_metrics(self, batch: list[StepMetrics]) -> None:
        if batch:
            self._last = batch[-1]
        self.metrics.emit(batch)

    @Slot()
    def _on_thread_finished(self) -> None:
        thread, worker = self._thread, self._worker
        self._thread, self._worker = None, None
        if thread is None:
            return
        torch.set_num_threads(self._gui_threads)
        sys.setswitchinterval(self._switch_interval)
        last = self._last if self._last is not None and self._last.event in ("done", "stopped") else None
        self._set_state("idle")
        self.finished.emit(last)
        if worker is not None:
            worker.deleteLater()
        thread.deleteLater()


def format_eta(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"

