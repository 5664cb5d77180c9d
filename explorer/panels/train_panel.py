"""The Model & data panel: what to train, on what, and the Train / Pause / Resume / Stop buttons.

The per-family hyperparameter rows are a :class:`~.config_form.ConfigForm` generated from the
family's config dataclass (``models.families.registry.config_class``), so a new family gets
its own controls without touching this file. The Data and Training groups are in
``train_sections``; this module chooses the family, starts and continues runs, remembers the
form between sessions and shows a run's progress. Train and Continue training are greyed,
saying why in their tooltips, while a model made elsewhere is open (the app trains only its
own families: ``models.foreign.protocol.unavailable``).
"""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QScrollArea,
    QVBoxLayout, QWidget,
)

from models.families.base import LatentModel
from models.families.registry import config_class
from models.foreign.protocol import unavailable
from models.runs.checkpoint import Checkpoint
from models.runs.opening import recorded_data_dir
from models.training.loop import StepMetrics, TrainConfig

from ..model_access import snapshot_model
from ..state import ModelState
from ..training_session import TrainingSession, TrainRequest, format_eta
from ..widgets.qt_utils import connect_all
from .config_form import ConfigForm, FieldControl
from .train_form_memory import remember_form, restore_form
from .train_sections import CONTINUE_TIP, TRAIN_TIP, DataSection, TrainingSection, family_availability

#: fields every run sets elsewhere (image_shape and a conditional family's classes from the
#: dataset, lr in the Training group)
HIDDEN_FIELDS = ("image_shape", "lr", "num_classes", "class_names")


class TrainPanel(QWidget):
    error = Signal(str, str)  # title, message

    def __init__(self, session: TrainingSession, model_state: ModelState | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        #: the explored model, which Continue training picks up (None: no Continue)
        self.model_state = model_state

        # -- data
        self.data_box = DataSection()
        self.dataset, self.data_dir, self.browse = self.data_box.dataset, self.data_box.data_dir, self.data_box.browse
        self.image_size, self.channels = self.data_box.image_size, self.data_box.channels
        self.known_datasets = self.data_box.known_datasets
        self.data_form, self._dir_row = self.data_box.form, self.data_box.dir_row

        # -- model
        self.availability = family_availability()
        self.family = QComboBox()
        for fam, problem in self.availability.items():
            self.family.addItem(fam if problem is None else f"{fam} (unavailable)", fam)
            index = self.family.count() - 1
            if problem is not None:
                item = self.family.model().item(index)  # type: ignore[attr-defined]
                item.setEnabled(False)
                item.setToolTip(f"This family could not be loaded: {problem}")
        self.family.setToolTip("The model family to train")
        model_box = QGroupBox("Model")
        model_layout = QVBoxLayout(model_box)
        family_form = QFormLayout()
        family_form.addRow("Family", self.family)
        model_layout.addLayout(family_form)
        self.config_form = ConfigForm(hidden=HIDDEN_FIELDS)
        self.hyper_form = self.config_form.form
        model_layout.addWidget(self.config_form)
        self.family.currentIndexChanged.connect(lambda _: self._build_family_form())

        # -- training
        self.train_box = TrainingSection()
        self.epochs, self.batch_size, self.lr = self.train_box.epochs, self.train_box.batch_size, self.train_box.lr
        self.lr_decay, self.device, self.detected = self.train_box.lr_decay, self.train_box.device, self.train_box.detected

        # -- run controls
        self.train_button = QPushButton("Train")
        self.train_button.setToolTip(TRAIN_TIP)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Pause training (Space)")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Resume training (Space)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop training and save a checkpoint (Esc)")
        self.continue_button = QPushButton("Continue training")
        self.continue_button.setToolTip(CONTINUE_TIP)
        self.train_button.clicked.connect(self.start_training)
        self.continue_button.clicked.connect(self.continue_training)
        self.pause_button.clicked.connect(session.pause)
        self.resume_button.clicked.connect(session.resume)
        self.stop_button.clicked.connect(session.stop)
        buttons = QHBoxLayout()
        for b in (self.train_button, self.continue_button, self.pause_button, self.resume_button, self.stop_button):
            buttons.addWidget(b)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("Idle")
        self.run_label = QLabel("")
        self.run_label.setWordWrap(True)
        self.run_label.setStyleSheet("color: #8a8a8a; font-size: 11px;")
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._said_untrainable = ""  # the reason run_label shows while an untrainable model is open

        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.data_box)
        layout.addWidget(model_box)
        layout.addWidget(self.train_box)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(inner)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 6)
        outer.addWidget(scroll, 1)
        run_box = QVBoxLayout()
        run_box.setContentsMargins(6, 0, 6, 0)
        run_box.addLayout(buttons)
        run_box.addWidget(self.progress)
        run_box.addWidget(self.run_label)
        outer.addLayout(run_box)

        connect_all([(session.state_changed, self._on_state), (session.loading, self._on_loading),
                     (session.download_progress, self._on_download), (session.started, self._on_started),
                     (session.metrics, self._on_metrics), (session.finished, self._on_finished),
                     (session.failed, lambda *_: self.progress.setFormat("Failed"))])
        if model_state is not None:
            model_state.model_changed.connect(lambda _: (self.refresh_train(), self.refresh_continue()))

        first = next((i for i in range(self.family.count()) if self.family.itemData(i) == "vae"
                      and self.availability.get("vae") is None), 0)
        self.family.setCurrentIndex(first)
        self._build_family_form()
        self.data_box.refresh()
        self._restore()
        self._on_state("idle")

    # -- form --------------------------------------------------------------------------
    def current_family(self) -> str:
        return str(self.family.currentData())

    @property
    def fields(self) -> dict[str, FieldControl]:
        """The current family's generated controls, by field name."""
        return self.config_form.fields

    def _build_family_form(self) -> None:
        fam = self.current_family()
        if self.availability.get(fam) is not None:
            self.config_form.clear()
            return
        cls = config_class(fam)
        self.config_form.build(cls)
        defaults = cls()
        self.train_box.follow_family(fam, defaults.default_batch_size() or 128, defaults.lr)
        for control in self.config_form.fields.values():  # a conv VAE's batch of 64 follows the arch
            control.changed.connect(self._follow_form_defaults)

    def _follow_form_defaults(self, *_: object) -> None:
        """The batch size the config now on the form prefers (it may depend on a field, e.g.
        the arch), taken unless the user chose one; a half-typed field changes nothing."""
        fam = self.current_family()
        try:
            config = config_class(fam).from_dict(self.config_form.values())
        except (TypeError, ValueError):
            return
        self.train_box.follow_family(fam, config.default_batch_size() or 128, config.lr)

    def request(self) -> TrainRequest:
        """The settings as a TrainRequest; ValueError says what to fix."""
        dataset = self.dataset.currentText()
        data_dir = self.data_dir.text().strip() or None
        if dataset == "folder" and not data_dir:
            raise ValueError("The folder dataset needs a folder of images: choose one next to 'Folder'.")
        fam = self.current_family()
        if self.availability.get(fam) is not None:
            raise ValueError(f"The {fam} family is not available: {self.availability[fam]}")
        config = self.config_form.values()
        cfg = self.train_config()
        image_size, channels = self.data_box.image_options(dataset)
        return TrainRequest(fam, dataset, data_dir, config, cfg, image_size=image_size, channels=channels)

    def start_training(self) -> None:
        problem = self.train_problem()
        if problem is not None and not self.session.active:
            self.error.emit("Cannot start training", problem)
            return
        self._start(self.request, "Cannot start training")

    def train_problem(self) -> str | None:
        """Why Train can't start now (a run is going; a model made elsewhere is open); None when it can."""
        if self.session.active:
            return "A training run is going."
        model = self.model_state.model if self.model_state is not None else None
        reason = unavailable(model, "train") if model is not None else None
        return f"{reason} Close it (File ▸ Close Model) to train a new model." if reason else None

    def refresh_train(self) -> None:
        problem = self.train_problem()
        self.train_button.setEnabled(problem is None)
        self.train_button.setToolTip(TRAIN_TIP + (f"\n\nNot available: {problem}" if problem else ""))
        # said under the buttons too, not only on hover: the whole form stays editable meanwhile
        model = self.model_state.model if self.model_state is not None else None
        why = unavailable(model, "train") if model is not None else None
        if why is not None:
            self.run_label.setText(why)
        elif self.run_label.text() == self._said_untrainable:
            self.run_label.setText("")
        self._said_untrainable = why or ""

    def _start(self, make_request: Callable[[], TrainRequest], refusal: str) -> None:
        """Start a run from ``make_request()`` (Train or Continue), or say why it can't start."""
        if self.session.active:
            return
        try:
            request = make_request()
        except ValueError as e:
            self.error.emit(refusal, str(e))
            return
        self._remember(request)
        self.session.start(request)

    def train_config(self) -> TrainConfig:
        """The Training group's settings (used by Train and Continue training alike)."""
        return self.train_box.train_config()

    # -- following the loaded model; continuing it -----------------------------------
    def show_model(self, model: LatentModel | None, train_state: dict[str, Any] | None = None) -> None:
        """Set the form from a model: its family, every family field from ``model.config``,
        the dataset it was trained on (when it is one of ours; for an image folder, its size
        and colour from the model's images), and the batch size and learning rate of its last
        run when recorded. All stays editable; nothing is applied until Train (a fresh model)
        or Continue training."""
        if model is not None:
            ts = train_state if isinstance(train_state, dict) else {}
            index = self.family.findData(model.family)
            if index >= 0 and self.availability.get(model.family) is None:
                self.family.setCurrentIndex(index)  # rebuilds the rows when the family changes
                self.config_form.set_values(model.config)
            dataset = ts.get("dataset")
            if isinstance(dataset, str) and dataset in self.known_datasets:
                self.dataset.setCurrentText(dataset)
            if dataset == "folder":  # Train on the same folder makes a model of the same shape
                c, h, _ = model.config.image_shape
                self.data_box.set_image_options(int(h), int(c))
            tc = ts.get("train_config")
            if isinstance(tc, dict):
                batch, lr = tc.get("batch_size"), tc.get("lr")
                if isinstance(batch, int) and not isinstance(batch, bool) and batch > 0:
                    self.batch_size.setValue(batch)
                usable_lr = isinstance(lr, (int, float)) and not isinstance(lr, bool) and 0 < lr < float("inf")
                self.lr.setValue(float(lr) if usable_lr else 0.0)
        self.refresh_continue()

    def continue_problem(self) -> str | None:
        """Why Continue training can't run now; None when it can."""
        if self.session.active:
            return "A training run is going."
        ms = self.model_state
        if ms is None or ms.model is None:
            return "Open or train a model first."
        reason = unavailable(ms.model, "train")  # a model made elsewhere: nothing to continue
        if reason is not None:
            return reason
        dataset = ms.train_state.get("dataset")
        if not isinstance(dataset, str) or dataset not in self.known_datasets:
            which = f" ({dataset})" if isinstance(dataset, str) and dataset else ""
            return f"The loaded model's training dataset is not known{which}: use Train for a new model."
        return None

    def refresh_continue(self) -> None:
        problem = self.continue_problem()
        self.continue_button.setEnabled(problem is None)
        tip = CONTINUE_TIP
        ms = self.model_state
        if problem is not None:
            tip += f"\n\nNot available: {problem}"
        elif ms is not None and ms.model is not None:
            tip += f"\n\nNow: {ms.model.family} from step {ms.step or 0} on {ms.train_state.get('dataset')}."
        self.continue_button.setToolTip(tip)

    def continue_request(self) -> TrainRequest:
        """A request that continues the loaded model; ValueError says why it can't."""
        problem = self.continue_problem()
        if problem is not None:
            raise ValueError(problem)
        ms = self.model_state
        assert ms is not None and ms.model is not None
        dataset = str(ms.train_state["dataset"])
        # the folder chosen here for the model's dataset, else the one its checkpoint records
        chosen = (self.data_dir.text().strip() or None) if self.dataset.currentText() == dataset else None
        if dataset == "folder" and not chosen and recorded_data_dir(ms.train_state) is None:
            raise ValueError("The model was trained on an image folder: choose that folder next to 'Folder'.")
        model = snapshot_model(ms)  # the worker trains its own copy; the explored model keeps decoding
        assert model is not None
        # where it goes, from which step and with which moments: models.training.resume's plan,
        # made by the run's worker (it reads the run's latest checkpoint)
        resume = Checkpoint(model, dict(ms.train_state), ms.source)
        return TrainRequest(model.family, dataset, chosen, {}, self.train_config(), resume=resume)

    def continue_training(self) -> None:
        self._start(self.continue_request, "Cannot continue training")

    # -- remembering the form ----------------------------------------------------------
    def _remember(self, request: TrainRequest) -> None:
        remember_form(self, request)

    def _restore(self) -> None:
        restore_form(self)

    # -- run feedback ------------------------------------------------------------------
    def _on_state(self, state: str) -> None:
        idle = state == "idle"
        self.refresh_train()
        self.refresh_continue()
        self.pause_button.setEnabled(state == "running")
        self.resume_button.setEnabled(state == "paused")
        self.stop_button.setEnabled(state in ("loading", "running", "paused"))
        self.pause_button.setVisible(state != "paused")
        self.resume_button.setVisible(state == "paused")
        for w in (self.dataset, self.data_dir, self.browse, self.image_size, self.channels, self.family,
                  self.config_form, self.epochs, self.batch_size, self.lr, self.lr_decay, self.device):
            w.setEnabled(idle)
        if state == "paused":
            self.progress.setFormat(self.progress.format().split(" · ")[0] + " · paused")
        elif state == "stopping":
            self.progress.setFormat("Stopping: saving a checkpoint…")

    def _on_loading(self, text: str) -> None:
        self.progress.setRange(0, 0)  # busy indicator
        self.progress.setFormat(text)

    def _on_download(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"Downloading… {done / 1e6:.1f} / {total / 1e6:.1f} MB")
        else:
            self.progress.setFormat(f"Downloading… {done / 1e6:.1f} MB")

    def _on_started(self, info: object) -> None:
        total, start = getattr(info, "total_steps", 0), getattr(info, "start_step", 0)
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(1000 * start / max(1, total)))
        self.progress.setFormat(f"Step {start} / {total}")
        self.run_label.setText(f"Run folder: {getattr(info, 'run_dir', '')}")

    def _on_metrics(self, batch: list[StepMetrics]) -> None:
        if not batch:
            return
        m = batch[-1]
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(1000 * m.step / max(1, m.total_steps)))
        if m.event in ("done", "stopped"):
            self.progress.setFormat(f"{'Finished' if m.event == 'done' else 'Stopped'} at step {m.step} / {m.total_steps}")
        else:
            paused = " · paused" if self.session.state == "paused" else ""
            self.progress.setFormat(f"Step {m.step} / {m.total_steps} · ETA {format_eta(m.eta_s)}{paused}")

    def _on_finished(self, last: StepMetrics | None) -> None:
        self.progress.setRange(0, 1000)
        if last is not None and last.checkpoint:
            self.run_label.setText(f"Checkpoint: {last.checkpoint}")
