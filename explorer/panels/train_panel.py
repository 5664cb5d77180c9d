"""The Model & data panel: what to train, on what, and the Train / Pause / Resume / Stop buttons.

The per-family hyperparameter rows are generated from the family's config dataclass
(``models.families.registry.config_class``): one control per field, chosen by the type of its
default, labelled from its name and tooltipped with its ``#:`` comment. A new family gets
its own controls without touching this file. String fields whose comment lists quoted
choices ("mlp" or "conv") become combo boxes.
"""
from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path
from typing import Any, Callable

import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
    QProgressBar, QPushButton, QScrollArea, QSpinBox, QToolButton, QVBoxLayout, QWidget,
)

from models.families.base import LatentModel
from models.families.registry import FAMILIES, config_class, field_docs
from models.training.loop import StepMetrics, TrainConfig, device_description, resolve_device, resume_point

from .. import settings
from ..explore_workers import snapshot_model
from ..state import ModelState
from ..workers import ResumeFrom, TrainingSession, TrainRequest, continue_run_dir, format_eta

#: fields every run sets elsewhere (image_shape from the dataset, lr in the Training group)
HIDDEN_FIELDS = ("image_shape", "lr")
LABELS = {
    "arch": "Architecture",
    "latent_dim": "Latent size",
    "z_dim": "Noise size (z)",
    "likelihood": "Likelihood",
    "beta": "β (KL weight)",
    "hidden": "Hidden units",
    "g_lr": "Generator LR",
    "ema": "G weight average (EMA)",
    "fc_hidden": "Dense layer width",
    "g_batch_norm": "G batch norm",
    "g_slope": "G LeakyReLU slope",
    "adv_weight": "Adversarial weight",
    "adv_lr": "Adversarial LR",
    "adv_beta1": "Adversarial Adam β1",
    "disc_hidden": "D hidden layers",
    "g_hidden": "G hidden layers",
    "d_hidden": "D hidden layers",
    "sigma": "Decoder σ",
    "gamma": "Capacity weight γ",
    "capacity": "Capacity schedule",
    "capacity_max": "Capacity max (nats)",
    "capacity_steps": "Capacity ramp steps",
    "categorical": "Categorical codes",
    "continuous": "Continuous codes",
    "lambda_cat": "λ categorical",
    "lambda_cont": "λ continuous",
    "learn_std": "Q learns its std",
    "q_hidden": "Q hidden units",
    "gp_lambda": "Gradient penalty λ",
    "n_critic": "Critic steps per G step",
    "beta1": "Adam β1",
    "beta2": "Adam β2",
}
DATASET_HELP = {
    "shapes": "Procedural white shapes on black, 64×64 (dSprites-style). Offline: nothing to download.",
    "mnist": "Handwritten digits, 28×28. Downloaded once (~11 MB) into the data folder.",
    "fashion-mnist": "Clothing images, 28×28. Downloaded once (~30 MB) into the data folder.",
    "folder": "Your own images: every image file in the chosen folder, resized to 64×64.",
}


# ---------------------------------------------------------------------------------------
# generating controls from a config dataclass
# ---------------------------------------------------------------------------------------
def field_label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


class SciSpinBox(QDoubleSpinBox):
    """A float box that shows 0.0002 as "0.0002" and accepts "2e-4" (learning rates, sigmas)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(12)  # no rounding of typed values; display is %g below
        self.setRange(-1e9, 1e9)
        self.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt override
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt override
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> object:  # noqa: D401 - Qt override
        stripped = text.strip()
        if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", stripped):
            return QValidator.State.Acceptable, text, pos
        if re.fullmatch(r"[-+]?(\d*\.?\d*)([eE][-+]?\d*)?", stripped):
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Invalid, text, pos


class FieldControl:
    """One generated form row: the widget plus how to read and write its value."""

    def __init__(self, name: str, default: Any, doc: str) -> None:
        self.name, self.default, self.doc = name, default, doc
        self.widget: QWidget
        self.changed: Any  # the widget's value-changed signal
        self.get: Callable[[], Any]
        self.set: Callable[[Any], None]
        if isinstance(default, bool):
            box = QCheckBox()
            box.setChecked(default)
            self.widget, self.get, self.set = box, box.isChecked, lambda v: box.setChecked(bool(v))
            self.changed = box.toggled
        elif isinstance(default, int):
            spin = QSpinBox()
            spin.setRange(1 if name in ("latent_dim", "z_dim") else 0, 10_000_000)
            spin.setValue(default)
            spin.setKeyboardTracking(False)
            self.widget, self.get, self.set = spin, spin.value, lambda v: spin.setValue(int(v))
            self.changed = spin.valueChanged
        elif isinstance(default, float):
            sci = SciSpinBox()
            if (zero := re.search(r"\b0 = (off\b)?", doc)) and default >= 0:  # 0 means "pick for me" or "off": say so
                sci.setMinimum(0.0)
                sci.setSpecialValueText("off" if zero.group(1) else "auto")
            sci.setValue(default)
            self.widget, self.get, self.set = sci, sci.value, lambda v: sci.setValue(float(v))
            self.changed = sci.valueChanged
        elif isinstance(default, str) and len(choices := _choices(doc, default)) >= 2:
            combo = QComboBox()
            combo.addItems(choices)
            combo.setCurrentText(default)
            self.widget, self.get = combo, combo.currentText
            self.changed = combo.currentTextChanged
            self.set = lambda v: combo.setCurrentText(str(v)) if combo.findText(str(v)) >= 0 else None
        elif isinstance(default, tuple):
            edit = QLineEdit(", ".join(str(v) for v in default))
            edit.setPlaceholderText("comma-separated, e.g. 256, 512")
            self.widget, self.get = edit, lambda: _parse_tuple(edit.text(), default, name)
            self.changed = edit.textChanged
            self.set = lambda v: edit.setText(", ".join(str(x) for x in v) if isinstance(v, (list, tuple)) else str(v))
        else:
            edit = QLineEdit(str(default))
            self.widget, self.get, self.set = edit, edit.text, lambda v: edit.setText(str(v))
            self.changed = edit.textChanged
        self.widget.setToolTip(f"{doc}\n(default: {default})" if doc else f"default: {default}")


def _choices(doc: str, default: str) -> list[str]:
    quoted = re.findall(r'"([^"\s]+)"', doc)
    choices = list(dict.fromkeys(quoted))
    return choices if default in choices else []


def _parse_tuple(text: str, default: tuple, name: str) -> tuple:
    kind = type(default[0]) if default else int
    try:
        return tuple(kind(p.strip()) for p in text.split(",") if p.strip())
    except ValueError:
        raise ValueError(f"{field_label(name)}: expected comma-separated {kind.__name__} values, got {text!r}") from None


def family_availability() -> dict[str, str | None]:
    """family -> None when importable, else why not (families land one by one)."""
    out: dict[str, str | None] = {}
    for fam, (module, name) in FAMILIES.items():
        try:
            getattr(importlib.import_module(module), name)
            out[fam] = None
        except Exception as e:  # noqa: BLE001 - any import failure just greys the family out
            out[fam] = f"{type(e).__name__}: {e}"
    return out


# ---------------------------------------------------------------------------------------
# the panel
# ---------------------------------------------------------------------------------------
CONTINUE_TIP = (
    "Continue training the loaded model from its current weights and step count (Ctrl+Shift+T), "
    "on the dataset it was trained on.\n"
    "Epochs, Batch size, Learning rate and Device below apply. The Family and model fields do not: "
    "they only shape new models (Train). Adam's moments carry on when the run's latest checkpoint "
    "holds them (continuing its run folder); otherwise the optimizer starts afresh.\n"
    "A checkpoint from a run folder (<run>/checkpoints/) continues that run: metrics are appended "
    "and its checkpoints updated; otherwise a new run folder is made."
)


class TrainPanel(QWidget):
    error = Signal(str, str)  # title, message

    def __init__(self, session: TrainingSession, model_state: ModelState | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        #: the explored model, which Continue training picks up (None: no Continue)
        self.model_state = model_state
        self.fields: dict[str, FieldControl] = {}

        # -- data
        try:
            from models.data import DATASETS
        except Exception:  # noqa: BLE001 - the data module can be mid-edit; shapes is the safe default
            DATASETS = ("mnist", "fashion-mnist", "shapes", "folder")
        self.known_datasets: tuple[str, ...] = tuple(DATASETS)
        self.dataset = QComboBox()
        self.dataset.addItems(list(DATASETS))
        self.dataset.setCurrentText("shapes")
        self.dataset.currentTextChanged.connect(self._on_dataset_changed)
        self.data_dir = QLineEdit()
        self.browse = QToolButton()
        self.browse.setText("…")
        self.browse.setToolTip("Choose the folder")
        self.browse.clicked.connect(self._browse_data_dir)
        dir_row = QWidget()
        dir_layout = QHBoxLayout(dir_row)
        dir_layout.setContentsMargins(0, 0, 0, 0)
        dir_layout.addWidget(self.data_dir, 1)
        dir_layout.addWidget(self.browse)
        self.dataset_help = QLabel()
        self.dataset_help.setWordWrap(True)
        self.dataset_help.setStyleSheet("color: #8a8a8a; font-size: 11px;")
        data_box = QGroupBox("Data")
        self.data_form = QFormLayout(data_box)
        self.data_form.addRow("Dataset", self.dataset)
        self.data_form.addRow("Folder", dir_row)
        self.data_form.addRow(self.dataset_help)
        self._dir_row = dir_row

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
        self.hyper_box = QWidget()
        self.hyper_form = QFormLayout(self.hyper_box)
        self.hyper_form.setContentsMargins(0, 0, 0, 0)
        model_layout.addWidget(self.hyper_box)
        self.family.currentIndexChanged.connect(lambda _: self._build_family_form())

        # -- training
        self.epochs = QDoubleSpinBox()
        self.epochs.setRange(0.01, 10_000)
        self.epochs.setDecimals(2)
        self.epochs.setValue(1.0)
        self.epochs.setToolTip("Passes over the training images (fractions allowed: shapes has 727k images)")
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 65_536)
        self.batch_size.setValue(128)
        self._batch_default = 128  # the current family's own batch size (see _build_family_form)
        self.batch_size.setToolTip("Images per optimisation step")
        self.lr = SciSpinBox()
        self.lr.setRange(0.0, 10.0)
        self.lr.setValue(0.0)
        self.lr.setSpecialValueText("family default")
        self.lr.setToolTip("Adam learning rate; 0 uses the family's paper default")
        self.lr_decay = QCheckBox("Decay to 0 over the run")
        self.lr_decay.setToolTip("Every learning rate falls linearly to 0 by the last step: annealing sharpens "
                                 "GAN samples (useful for a last few epochs with Continue training)")
        self.device = QComboBox()
        self.device.setToolTip("Where to train: auto picks CUDA, then Apple MPS, then the CPU")
        cuda = torch.cuda.is_available()
        mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
        for name, ok in (("auto", True), ("cpu", True), ("cuda", cuda), ("mps", mps)):
            self.device.addItem(name)
            if not ok:
                item = self.device.model().item(self.device.count() - 1)  # type: ignore[attr-defined]
                item.setEnabled(False)
                item.setToolTip(f"No {name.upper()} device on this computer")
        detected = resolve_device("auto")
        self.detected = QLabel(device_description(detected) if detected.type != "cpu" else "CPU (no GPU found)")
        self.detected.setStyleSheet("color: #8a8a8a; font-size: 11px;")
        self.detected.setWordWrap(True)
        train_box = QGroupBox("Training")
        train_form = QFormLayout(train_box)
        train_form.addRow("Epochs", self.epochs)
        train_form.addRow("Batch size", self.batch_size)
        train_form.addRow("Learning rate", self.lr)
        train_form.addRow("", self.lr_decay)
        train_form.addRow("Device", self.device)
        train_form.addRow("", self.detected)

        # -- run controls
        self.train_button = QPushButton("Train")
        self.train_button.setToolTip("Start training a new model with these settings (Ctrl+T)")
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

        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(data_box)
        layout.addWidget(model_box)
        layout.addWidget(train_box)
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

        session.state_changed.connect(self._on_state)
        session.loading.connect(self._on_loading)
        session.download_progress.connect(self._on_download)
        session.started.connect(self._on_started)
        session.metrics.connect(self._on_metrics)
        session.finished.connect(self._on_finished)
        session.failed.connect(lambda *_: self.progress.setFormat("Failed"))
        if model_state is not None:
            model_state.model_changed.connect(lambda _: self.refresh_continue())

        first = next((i for i in range(self.family.count()) if self.family.itemData(i) == "vae"
                      and self.availability.get("vae") is None), 0)
        self.family.setCurrentIndex(first)
        self._build_family_form()
        self._on_dataset_changed(self.dataset.currentText())
        self._restore()
        self._on_state("idle")

    # -- form --------------------------------------------------------------------------
    def current_family(self) -> str:
        return str(self.family.currentData())

    def _build_family_form(self) -> None:
        while self.hyper_form.rowCount():
            self.hyper_form.removeRow(0)
        self.fields = {}
        fam = self.current_family()
        if self.availability.get(fam) is not None:
            return
        cls = config_class(fam)
        docs = field_docs(cls)
        defaults = cls()
        for f in dataclasses.fields(cls):
            if f.name in HIDDEN_FIELDS:
                continue
            control = FieldControl(f.name, getattr(defaults, f.name), docs.get(f.name, ""))
            label = QLabel(field_label(f.name))
            label.setToolTip(control.widget.toolTip())
            self.hyper_form.addRow(label, control.widget)
            self.fields[f.name] = control
        self._link_conditional_fields(cls.APPLIES_WHEN)
        # the family's own batch size (WGAN-GP: 64 per critic step), unless the user chose one
        new_default = defaults.default_batch_size() or 128
        if self.batch_size.value() == self._batch_default:
            self.batch_size.setValue(new_default)
        self._batch_default = new_default
        self.lr.setToolTip(f"Adam learning rate; 0 uses the paper default for {fam} ({defaults.lr:g})")

    def _link_conditional_fields(self, applies_when: dict[str, tuple[str, Any]]) -> None:
        """Grey out fields that do nothing under the current choice (sigma with a Bernoulli
        decoder, the mixture's shape with a normal prior...), following the choice live."""
        for name, (other, value) in applies_when.items():
            control, switch = self.fields.get(name), self.fields.get(other)
            if control is None or switch is None:
                continue
            label = self.hyper_form.labelForField(control.widget)
            tip = control.widget.toolTip()
            shown = {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

            def update(*_, control=control, switch=switch, value=value, label=label, tip=tip,
                       when=f"(only used when {field_label(other)} is {shown})") -> None:
                on = switch.get() == value
                control.widget.setEnabled(on)
                if label is not None:
                    label.setEnabled(on)
                    label.setToolTip(tip if on else f"{tip}\n{when}")
                control.widget.setToolTip(tip if on else f"{tip}\n{when}")

            switch.changed.connect(update)
            update()

    def _on_dataset_changed(self, name: str) -> None:
        needs_dir = name in ("mnist", "fashion-mnist", "folder")
        self._dir_row.setVisible(needs_dir)
        self.data_form.labelForField(self._dir_row).setVisible(needs_dir)
        if name == "folder":
            self.data_dir.setPlaceholderText("a folder of images (required)")
            self.data_dir.setToolTip("The folder whose images to train on")
        else:
            from models.data import default_cache_dir

            self.data_dir.setPlaceholderText(f"default: {default_cache_dir()}")
            self.data_dir.setToolTip("Where the dataset files are (downloaded there when missing)")
        self.dataset_help.setText(DATASET_HELP.get(name, ""))

    def _browse_data_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a folder", self.data_dir.text() or str(Path.home()))
        if path:
            self.data_dir.setText(path)

    def request(self) -> TrainRequest:
        """The settings as a TrainRequest; ValueError says what to fix."""
        dataset = self.dataset.currentText()
        data_dir = self.data_dir.text().strip() or None
        if dataset == "folder" and not data_dir:
            raise ValueError("The folder dataset needs a folder of images: choose one next to 'Folder'.")
        fam = self.current_family()
        if self.availability.get(fam) is not None:
            raise ValueError(f"The {fam} family is not available: {self.availability[fam]}")
        config = {name: control.get() for name, control in self.fields.items()}
        cfg = self.train_config()
        return TrainRequest(fam, dataset, data_dir, config, cfg)

    def start_training(self) -> None:
        if self.session.active:
            return
        try:
            request = self.request()
        except ValueError as e:
            self.error.emit("Cannot start training", str(e))
            return
        self._remember(request)
        self.session.start(request)

    def train_config(self) -> TrainConfig:
        """The Training group's settings (used by Train and Continue training alike)."""
        return TrainConfig(epochs=self.epochs.value(), batch_size=self.batch_size.value(),
                           lr=self.lr.value() or None, device=self.device.currentText(),
                           lr_decay="linear" if self.lr_decay.isChecked() else "none")

    # -- following the loaded model; continuing it -----------------------------------
    def show_model(self, model: LatentModel | None, train_state: dict[str, Any] | None = None) -> None:
        """Set the form from a model: its family, every family field from ``model.config``,
        the dataset it was trained on (when it is one of ours), and the batch size and
        learning rate of its last run when recorded. All stays editable; nothing is applied
        until Train (a fresh model) or Continue training."""
        if model is not None:
            ts = train_state or {}
            index = self.family.findData(model.family)
            if index >= 0 and self.availability.get(model.family) is None:
                self.family.setCurrentIndex(index)  # rebuilds the rows when the family changes
                for name, control in self.fields.items():
                    if hasattr(model.config, name):
                        try:
                            control.set(getattr(model.config, name))
                        except (TypeError, ValueError):  # an odd stored value keeps the form's
                            pass
            dataset = ts.get("dataset")
            if isinstance(dataset, str) and dataset in self.known_datasets:
                self.dataset.setCurrentText(dataset)
            tc = ts.get("train_config")
            if isinstance(tc, dict):
                batch, lr = tc.get("batch_size"), tc.get("lr")
                if isinstance(batch, int) and batch > 0:
                    self.batch_size.setValue(batch)
                self.lr.setValue(float(lr) if isinstance(lr, (int, float)) and lr > 0 else 0.0)
        self.refresh_continue()

    def continue_problem(self) -> str | None:
        """Why Continue training can't run now; None when it can."""
        if self.session.active:
            return "A training run is going."
        ms = self.model_state
        if ms is None or ms.model is None:
            return "Open or train a model first."
        dataset = ms.train_state.get("dataset")
        if dataset not in self.known_datasets:
            which = f" ({dataset})" if dataset else ""
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
            tip += (f"\n\nNow: {ms.model.family} from step {int(ms.train_state.get('step') or 0)} "
                    f"on {ms.train_state.get('dataset')}.")
        self.continue_button.setToolTip(tip)

    def continue_request(self) -> TrainRequest:
        """A request that continues the loaded model; ValueError says why it can't."""
        problem = self.continue_problem()
        if problem is not None:
            raise ValueError(problem)
        ms = self.model_state
        assert ms is not None and ms.model is not None
        dataset = str(ms.train_state["dataset"])
        data_dir = self.data_dir.text().strip() or None
        if dataset == "folder" and not data_dir:
            raise ValueError("The model was trained on an image folder: choose that folder next to 'Folder'.")
        step, epoch = resume_point(ms.train_state)
        model = snapshot_model(ms)  # the worker trains its own copy; the explored model keeps decoding
        assert model is not None
        cfg = self.train_config()
        resume = ResumeFrom(model, step, continue_run_dir(ms.source, step), start_epoch=epoch)
        return TrainRequest(model.family, dataset, data_dir, {}, cfg, resume=resume)

    def continue_training(self) -> None:
        if self.session.active:
            return
        try:
            request = self.continue_request()
        except ValueError as e:
            self.error.emit("Cannot continue training", str(e))
            return
        self._remember(request)
        self.session.start(request)

    # -- remembering the form ----------------------------------------------------------
    def _remember(self, request: TrainRequest) -> None:
        s = settings.settings()
        s.setValue("train/dataset", request.dataset)
        s.setValue("train/data_dir", request.data_dir or "")
        s.setValue("train/family", request.family)
        s.setValue("train/epochs", request.train_config.epochs)
        s.setValue("train/batch_size", request.train_config.batch_size)
        s.setValue("train/device", request.train_config.device)

    def _restore(self) -> None:
        s = settings.settings()
        dataset = s.value("train/dataset")
        if dataset and self.dataset.findText(str(dataset)) >= 0:
            self.dataset.setCurrentText(str(dataset))
        self.data_dir.setText(str(s.value("train/data_dir") or ""))
        fam = s.value("train/family")
        index = self.family.findData(fam) if fam else -1
        if index >= 0 and self.availability.get(str(fam)) is None:
            self.family.setCurrentIndex(index)
        try:
            self.epochs.setValue(float(s.value("train/epochs", self.epochs.value())))
            self.batch_size.setValue(int(s.value("train/batch_size", self.batch_size.value())))
        except (TypeError, ValueError):
            pass
        device = s.value("train/device")
        index = self.device.findText(str(device)) if device else -1
        if index >= 0 and self.device.model().item(index).isEnabled():  # type: ignore[attr-defined]
            self.device.setCurrentIndex(index)

    # -- run feedback ------------------------------------------------------------------
    def _on_state(self, state: str) -> None:
        idle = state == "idle"
        self.train_button.setEnabled(idle)
        self.refresh_continue()
        self.pause_button.setEnabled(state == "running")
        self.resume_button.setEnabled(state == "paused")
        self.stop_button.setEnabled(state in ("loading", "running", "paused"))
        self.pause_button.setVisible(state != "paused")
        self.resume_button.setVisible(state == "paused")
        for w in (self.dataset, self.data_dir, self.browse, self.family, self.hyper_box, self.epochs,
                  self.batch_size, self.lr, self.lr_decay, self.device):
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
