"""The shared base of the Explore panels: what every panel does the same way.

Like napari's layer controls (small controls on a shared base), each panel only says what is
its own: its controls, its jobs, its hints. :class:`ExplorePanel` gives them

* the preamble: the model state, the latent state and a dataset provider, and the order a
  panel is set up in (``_setup``, ``_build``, ``_wire``, then the current model);
* its states: a hint instead of the body while the panel can't work, saying why (no model:
  ``NO_MODEL_HINT``; a feature the model lacks, ``NEEDS``: the one-line reason of
  ``models.foreign.protocol.unavailable``, or ``NO_ENCODER_HINT`` for the app's own models
  without an encoder, then what to use instead, ``INSTEAD``);
* one way to tell the user, :meth:`say`: the panel's message line and ``status``, which the
  window shows in its status bar;
* its background work: the :class:`~explorer.jobs.JobRunner` s and timers it owns (their
  failures are said; :meth:`shutdown` stops them all), and a busy bar that follows them;
* the dock's questions: ``on_dataset_changed()`` and ``set_on_screen(bool)``, no-ops unless a
  panel follows them, so the window calls them on every panel;
* dropped files, sorted by kind for :meth:`files_dropped` (a panel that handles them accepts
  drops), test images picked by index, and image files read and encoded as everywhere else
  in the app (:mod:`explorer.image_input`).

The file-dialog helpers take the file a caller already has (tests, drops) and only ask the
user when there is none.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
import torch
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import QFileDialog, QLabel, QLayout, QProgressBar, QSpinBox, QVBoxLayout, QWidget

from models.data.base import Dataset
from models.foreign.manifest import MANIFEST_NAME
from models.foreign.open import OPENABLE_SUFFIXES
from models.foreign.protocol import ForeignModel, unavailable
from models.io.images import IMAGE_SUFFIXES

from ..image_input import IMAGE_FILTER, encode_images, load_image_file
from ..jobs import JobRunner
from ..model_access import has_encoder, sentence
from ..state import LatentState, ModelState
from ..widgets.layout import HintStack, caption_label, install_hint_stack, panel_body, thin_busy_bar

DatasetProvider = Callable[[], "Dataset | None"]
L = TypeVar("L", bound=QLayout)

#: what a dropped file is, by its name (see :func:`drop_kind`)
IMAGE_FILE, PATH_FILE, MODEL_FILE = "image", "path", "model"
#: the file dialogs' filter for models (folders are added with a folder dialog)
MODEL_FILTER = (f"Models ({' '.join(MANIFEST_NAME if s == '.json' else '*' + s for s in OPENABLE_SUFFIXES)});;"
                "All files (*)")


def drop_kind(file: str) -> str | None:
    """IMAGE_FILE, PATH_FILE (a path's JSON), MODEL_FILE (anything File > Open takes: a
    checkpoint, a run folder, a state dict, an ONNX model or manifest, an adapter) or None."""
    name = file.lower()
    if name.endswith(".json") and Path(name).name != MANIFEST_NAME:
        return PATH_FILE
    if name.endswith(IMAGE_SUFFIXES):
        return IMAGE_FILE
    if name.endswith(OPENABLE_SUFFIXES) or Path(file).is_dir():
        return MODEL_FILE
    return None


@dataclass(frozen=True)
class Dropped:
    """One dropped file, and what kind of file it is."""

    path: str
    kind: str | None


def dropped_of(files: list[Dropped], kind: str) -> list[str]:
    """The dropped files of one kind, in the order they were dropped."""
    return [f.path for f in files if f.kind == kind]


# ---------------------------------------------------------------------------------------
# file dialogs: the file the caller has, or the one the user picks (None: cancelled)
# ---------------------------------------------------------------------------------------
def open_file(parent: QWidget, file: str | Path | None, title: str, filters: str) -> str | Path | None:
    if file is not None:
        return file
    chosen, _ = QFileDialog.getOpenFileName(parent, title, "", filters)
    return chosen or None


def open_files(parent: QWidget, files: list[str | Path] | None, title: str, filters: str) -> list[str | Path]:
    if files is not None:
        return files
    chosen, _ = QFileDialog.getOpenFileNames(parent, title, "", filters)
    return list(chosen)


def save_file(parent: QWidget, file: str | Path | None, title: str, suggested: str, filters: str) -> str | Path | None:
    if file is not None:
        return file
    chosen, _ = QFileDialog.getSaveFileName(parent, title, suggested, filters)
    return chosen or None


def open_folder(parent: QWidget, title: str) -> str | None:
    return QFileDialog.getExistingDirectory(parent, title) or None


class ExplorePanel(QWidget):
    """The base of every Explore panel (and of the latent panel). A subclass overrides the
    hooks it needs: ``_setup`` (its own attributes, runners and timers), ``_build`` (its
    controls), ``_wire`` (their connections), ``on_model_changed`` and the others below."""

    #: a one-line message for the window's status bar (see :meth:`say`)
    status = Signal(str)

    #: the hint while no model is open
    NO_MODEL_HINT = "Open or train a model to explore it."
    #: the features (``models.foreign.protocol.FEATURES``) the panel cannot work without
    NEEDS: tuple[str, ...] = ()
    #: set by a panel that needs an encoder: the hint for one of the app's models without one ({family})
    NO_ENCODER_HINT: str | None = None
    #: (feature, text): what to use instead, said after the reason when the model has that feature
    INSTEAD: tuple[str, str] | None = None

    def __init__(self, model_state: ModelState, latent_state: LatentState, dataset_provider: DatasetProvider,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_state, self.latent_state, self.dataset_provider = model_state, latent_state, dataset_provider
        #: False while the panel's dock is a tab behind another: Qt keeps such widgets
        #: "visible", so isVisible() alone can't tell (see set_on_screen)
        self.on_screen = True
        self.message: QLabel | None = None  # the panel's message line, if it has one
        self.stack: HintStack | None = None  # the body or the hint, if the panel has hints
        self.test_index: QSpinBox | None = None  # which test image, for panels that take them
        self._runners: list[JobRunner] = []
        self._timers: list[QTimer] = []
        self._body: QWidget | None = None  # what make_body made, for the hint stack
        self.setAcceptDrops(type(self).files_dropped is not ExplorePanel.files_dropped)
        self._setup()
        self._build()
        if self._body is not None:
            # around the finished body: a stack made before the body's children sizes the
            # panel from an empty body until it is first shown
            self.stack = install_hint_stack(self, self._body)
        self._wire()
        self.model_state.model_changed.connect(self.on_model_changed)
        self.on_model_changed(self.model_state.model)

    def _setup(self) -> None:
        """The panel's own state: attributes, runners (:meth:`job_runner`), timers (:meth:`make_timer`)."""

    def _build(self) -> None:
        """Make the controls (see :meth:`make_body`)."""

    def _wire(self) -> None:
        """Connect the controls to the states and to the panel's own methods."""

    # -- states ------------------------------------------------------------------------
    def on_model_changed(self, model: object) -> None:
        """A new model (or none): by default, only whether the panel can work with it."""
        self.refresh_availability()

    def unavailable_reason(self) -> str | None:
        """Why the panel can't work with the current model (the hint it shows), or None."""
        model = self.model_state.model
        if model is None:
            return self.NO_MODEL_HINT
        if self.NO_ENCODER_HINT is not None and not has_encoder(model) and not isinstance(model, ForeignModel):
            return self.NO_ENCODER_HINT.format(family=model.family)
        for feature in self.NEEDS:
            reason = unavailable(model, feature)
            if reason is not None:
                if self.INSTEAD is not None and unavailable(model, self.INSTEAD[0]) is None:
                    reason += "\n" + self.INSTEAD[1]
                return sentence(reason)
        return None

    def refresh_availability(self) -> bool:
        """Show the body, or the hint saying why the panel can't work; True when it can."""
        reason = self.unavailable_reason()
        if self.stack is not None:
            self.stack.show_hint(reason)
        return reason is None

    def on_dataset_changed(self) -> None:
        """The current dataset changed: refresh what depends on it now, not at next use."""

    # -- on screen ---------------------------------------------------------------------
    @property
    def shown(self) -> bool:
        """On screen: visible, and not a dock tab behind another."""
        return self.on_screen and self.isVisible()

    def set_on_screen(self, on: bool) -> None:
        """False while the panel's dock is a tab behind another (the dock's visibilityChanged)."""
        self.on_screen = on
        if on:
            self.on_shown()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt naming
        super().showEvent(event)
        # next turn: a dock shown as a tab behind another learns so only after this event
        QTimer.singleShot(0, self.on_shown)

    def on_shown(self) -> None:
        """The panel came on screen: catch up on work put off while it was not."""

    # -- layout ------------------------------------------------------------------------
    def make_body(self, layout_type: type[L] = QVBoxLayout, hints: bool = True) -> L:  # type: ignore[assignment]
        """The layout the panel's controls go in (6 px margins). ``hints``: inside a
        HintStack (installed once ``_build`` returns), so :meth:`refresh_availability` can
        replace the body by a hint."""
        if not hints:
            layout = layout_type(self)
            layout.setContentsMargins(6, 6, 6, 6)
            return layout
        self._body, layout = panel_body(layout_type)
        return layout

    def add_message_line(self, layout: QLayout, text: str = "") -> QLabel:
        """The grey line under the controls where :meth:`say` writes."""
        self.message = caption_label(text)
        layout.addWidget(self.message)
        return self.message

    def add_busy_bar(self, layout: QLayout, *runners: JobRunner, height: int = 10) -> QProgressBar:
        """A thin busy bar, shown while any of ``runners`` is busy."""
        bar = thin_busy_bar(height)
        layout.addWidget(bar)
        for runner in runners:
            runner.busy_changed.connect(lambda _busy: bar.setVisible(any(r.busy for r in runners)))
        return bar

    # -- telling the user --------------------------------------------------------------
    def say(self, text: str) -> None:
        """One line for the user: the panel's message line (if any) and the status bar."""
        if self.message is not None:
            self.message.setText(text)
        self.status.emit(text)

    # -- background work ---------------------------------------------------------------
    def job_runner(self, name: str, newest_wins: bool = True, failure_prefix: str = "") -> JobRunner:
        """A runner the panel owns: its failures are said (after ``failure_prefix``), and
        :meth:`shutdown` stops it."""
        runner = JobRunner(name, self, newest_wins=newest_wins)
        runner.failed.connect(lambda text: self.say(failure_prefix + text))
        self._runners.append(runner)
        return runner

    def make_timer(self, interval_ms: int, slot: Callable[[], None] | None = None, single_shot: bool = True) -> QTimer:
        """A timer the panel owns (:meth:`shutdown` stops it)."""
        timer = QTimer(self, singleShot=single_shot, interval=interval_ms)
        if slot is not None:
            timer.timeout.connect(slot)
        self._timers.append(timer)
        return timer

    @property
    def runners(self) -> tuple[JobRunner, ...]:
        return tuple(self._runners)

    @property
    def timers(self) -> tuple[QTimer, ...]:
        return tuple(self._timers)

    def shutdown(self) -> None:
        """Stop the panel's timers and background jobs (the window is closing)."""
        for timer in self._timers:
            timer.stop()
        for runner in self._runners:
            runner.shutdown()

    # -- dropped files -----------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt naming
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt naming
        files = [u.toLocalFile() for u in event.mimeData().urls()]
        self.files_dropped([Dropped(f, drop_kind(f)) for f in files])
        event.acceptProposedAction()

    def files_dropped(self, files: list[Dropped]) -> None:
        """Files dropped on the panel, in order (a panel that overrides this accepts drops)."""

    # -- images ------------------------------------------------------------------------
    def refresh_test_range(self) -> None:
        """The test-image box spans the current dataset's test split."""
        assert self.test_index is not None
        ds = self.dataset_provider()
        self.test_index.setRange(0, max(0, len(ds.test) - 1) if ds is not None else 0)

    def pick_test_image(self, index: int | None, problem: str | None) -> tuple[torch.Tensor, int] | None:
        """Test image ``index`` (None: the box's) as (1, C, H, W) and its index; None, said
        why, when there is a ``problem`` or no such image."""
        assert self.test_index is not None
        if problem:
            self.say(problem)
            return None
        ds = self.dataset_provider()
        assert ds is not None
        self.refresh_test_range()
        index = self.test_index.value() if index is None else int(index)
        if not 0 <= index < len(ds.test):
            self.say(f"The test set has images 0..{len(ds.test) - 1}.")
            return None
        self.test_index.setValue(index)
        return ds.test.batch(torch.tensor([index])), index

    def read_image_file(self, file: str | Path | None, title: str) -> tuple[torch.Tensor, str] | None:
        """An image file (None: ask, with ``title``) as the current model reads it, (1, C, H, W)
        in [0, 1], and the name to show ("digit.png (inverted)"); None without a model, when
        the user cancels, or, said why, when it can't be read."""
        model = self.model_state.model
        if model is None:
            return None
        file = open_file(self, file, title, IMAGE_FILTER)
        if file is None:
            return None
        try:
            x, inverted = load_image_file(str(file), tuple(model.config.image_shape))
        except ValueError as e:
            self.say(str(e))
            return None
        return x, Path(file).name + (" (inverted)" if inverted else "")

    def latent_of(self, x: torch.Tensor) -> np.ndarray | None:
        """(1, C, H, W) images -> the model's flat latent; None, said why, when it can't."""
        try:
            return encode_images(self.model_state, x)
        except ValueError as e:
            self.say(str(e))
            return None

    def encode_image_file(self, file: str | Path | None, title: str) -> tuple[np.ndarray, str] | None:
        """An image file's latent and the name to show (see :meth:`read_image_file`)."""
        read = self.read_image_file(file, title)
        if read is None:
            return None
        flat = self.latent_of(read[0])
        return None if flat is None else (flat, read[1])
