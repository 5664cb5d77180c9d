"""The main window: composes state objects, panels, the decoder and the workers.

    Model & data (left dock) ──> TrainingSession ──> metrics ──> Training (bottom dock)
                                        └── snapshot weights ──> ModelState
    File > Open / drops ──> JobRunner (load_checkpoint) ──> ModelState
    ModelState ──> LatentState.reset ──> Latent panel (right dock)
    LatentState / new weights ──> Decoder ──> ImageView (centre)

Widgets talk through the state objects; this class only wires them and owns the menus,
the status bar, error reporting and what is remembered between sessions.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QWidget

from models.runs.checkpoint import PICKLE_SUFFIXES, Checkpoint, load_checkpoint, save_checkpoint
from models.training.loop import StepMetrics, device_description, resolve_device
from models.io.images import load_png
from models.runs.run_dir import RunDir

from . import settings
from .assets import DEMO_DIR
from .decoder import IMAGE_SUFFIXES, Decoder, encode_images, load_image_file
from .explore_workers import snapshot_model
from .panels.image_view import ImageView
from .panels.latent_panel import LatentPanel
from .panels.train_panel import TrainPanel
from .panels.training_view import TrainingView
from .state import DataState, LatentState, ModelState
from .workers import DatasetFactory, JobRunner, TrainingSession, TrainStarted, default_dataset_factory, describe_error

APP_TITLE = "Latent Explorer"
DEFAULT_SIZE = (1400, 900)
STATUS_CHARS = 110  # what the status bar shows of a message at the default window width
HINT = ("<p style='font-size:18px; color:#c8c8c8'>Open a model or press Train</p>"
        "<p>File ▸ Open (Ctrl+O) loads a checkpoint or a run folder; you can also drop one here.<br>"
        "Train (Ctrl+T) fits a new model: the <i>shapes</i> dataset needs no download.</p>")
#: threads a closing window may not wait for; kept referenced so Qt doesn't destroy them running
_ORPHANS: list[object] = []


def confirm_untrusted(parent: QWidget, path: Path) -> bool:
    """Ask before unpickling. Module-level so tests can monkeypatch it (no modal dialog)."""
    answer = QMessageBox.warning(
        parent, "Open a pickle file?",
        f"{path.name} is a pickle-based file. Opening it can run code: only open files you trust.\n\n"
        "It will be read with torch.load(weights_only=True).",
        QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Open


class MainWindow(QMainWindow):
    def __init__(self, dataset_factory: DatasetFactory | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.dataset_factory: DatasetFactory = dataset_factory or default_dataset_factory

        # state, then the objects that serve it (the decoder before the panels: it must see
        # a model change before the latent reset that follows asks it to decode)
        self.model_state = ModelState(self)
        self.latent_state = LatentState(self)
        self.data_state = DataState(self)
        self.decoder = Decoder(self.model_state, self.latent_state, self)
        self.session = TrainingSession(self.dataset_factory, self)
        self.jobs = JobRunner(self)
        self.last_error: tuple[str, str] | None = None
        self._error_box: QMessageBox | None = None
        self.runs_browser = None  # File > Browse Runs, made on first use
        self.eval_dialog = None  # Training > Evaluate Model
        self._training_generation = -1
        self._loading: str | None = None

        # views
        self.image_view = ImageView(HINT)
        self.setCentralWidget(self.image_view)
        self.train_panel = TrainPanel(self.session, self.model_state)
        self.latent_panel = LatentPanel(self.model_state, self.latent_state, self.data_state)
        self.training_view = TrainingView()
        # "&&": a dock title takes "&" as a mnemonic marker, like a menu entry
        self.train_dock = self._dock("Model && data", "dock_train", self.train_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.latent_dock = self._dock("Latent space", "dock_latent", self.latent_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.training_dock = self._dock("Training", "dock_training", self.training_view, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

        # status bar: messages on the left, device / speed / epoch always visible on the right
        detected = resolve_device("auto")
        self.device_label = QLabel(device_description(detected) if detected.type != "cpu" else "CPU")
        self.device_label.setToolTip("The device training runs on")
        self.rate_label = QLabel("")
        self.epoch_label = QLabel("")
        for w in (self.rate_label, self.epoch_label, self.device_label):
            w.setContentsMargins(8, 0, 8, 0)
            self.statusBar().addPermanentWidget(w)

        self._build_menus()
        self._wire()
        self.explore_docks = self._add_explore_docks()  # before the restore: the layout includes them
        self._restore_layout()
        self._update_actions()
        self.statusBar().showMessage("Ready", 3000)

    # -- construction ------------------------------------------------------------------
    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # saveState/restoreState find docks by name
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, text: str, slot, shortcut: QKeySequence | str | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        # window-wide, so single keys work wherever focus is (text boxes still get their keys)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(lambda checked=False: slot())
        self.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_action = self._action("&Open…", self.open_dialog, QKeySequence.StandardKey.Open,
                                        "Open a checkpoint (.safetensors) or a run folder")
        self.open_run_action = self._action("Open &Run Folder…", self.open_run_dialog, None,
                                            "Open the best checkpoint of a training run folder")
        self.runs_action = self._action("&Browse Runs…", self.show_runs_browser, "Ctrl+Shift+O",
                                        "Every training run as a table with its samples: open one or add it to Compare")
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.save_action = self._action("&Save Model As…", self.save_dialog, QKeySequence.StandardKey.Save,
                                        "Save the current model as a .safetensors checkpoint")
        self.export_action = self._action("&Export Image as PNG…", self.export_dialog, "Ctrl+E",
                                          "Save the decoded image (upscaled with crisp pixels)")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        file_menu.insertAction(self.recent_menu.menuAction(), self.open_action)
        file_menu.insertAction(self.recent_menu.menuAction(), self.open_run_action)
        file_menu.insertAction(self.recent_menu.menuAction(), self.runs_action)
        file_menu.addSeparator()
        file_menu.addAction(self.save_action)
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        self._rebuild_recent_menu()

        train_menu = bar.addMenu("&Training")
        self.train_action = self._action("&Train", self.train_panel.start_training, "Ctrl+T",
                                         "Train a new model with the settings of the Model & data panel")
        self.continue_action = self._action("&Continue Training", self.train_panel.continue_training, "Ctrl+Shift+T",
                                            "Continue training the loaded model from its weights and step count")
        self.pause_action = self._action("&Pause / Resume", self.session.toggle_pause, Qt.Key.Key_Space,
                                         "Pause or resume training")
        self.stop_action = self._action("&Stop", self.session.stop, Qt.Key.Key_Escape,
                                        "Stop training (a checkpoint is saved)")
        self.evaluate_action = self._action("&Evaluate Model…", self.show_evaluation, "Ctrl+Shift+E",
                                            "The figures `latent-explorer eval` prints, for the open model")
        for a in (self.train_action, self.continue_action, self.pause_action, self.stop_action):
            train_menu.addAction(a)
        train_menu.addSeparator()
        train_menu.addAction(self.evaluate_action)

        latent_menu = bar.addMenu("&Latent")
        self.random_action = self._action("&Random Point", self.latent_panel.randomize, "R", "Draw a point from the prior")
        self.zero_action = self._action("&Zero", self.latent_panel.zero, "0", "Go to the origin of the latent space")
        self.copy_point_action = self._action("&Copy Point", self.copy_point, "Ctrl+Shift+C",
                                              "Copy the latent point as a list of numbers")
        self.paste_point_action = self._action("&Paste Point", self.paste_point, "Ctrl+Shift+V",
                                               "Go to the latent point on the clipboard")
        latent_menu.addAction(self.random_action)
        latent_menu.addAction(self.zero_action)
        latent_menu.addSeparator()
        latent_menu.addAction(self.copy_point_action)
        latent_menu.addAction(self.paste_point_action)

        view_menu = bar.addMenu("&View")
        for dock in (self.train_dock, self.latent_dock, self.training_dock):
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        view_menu.addAction(self._action("Reset &Layout", self.reset_layout, None, "Put the panels back where they started"))

        help_menu = bar.addMenu("&Help")
        self.shortcuts_action = self._action("&Keyboard Shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents,
                                             "Every key the window answers to")
        self.about_action = self._action("&About Latent Explorer", self.show_about, None,
                                         "Versions, the training device and where runs and caches live")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)

    def _wire(self) -> None:
        ms = self.model_state
        ms.model_changed.connect(self._on_model_changed)
        self.decoder.image_ready.connect(self.image_view.set_image)
        self.decoder.image_ready.connect(self._on_first_image)
        self.latent_panel.error.connect(self.show_error)
        self.latent_panel.status.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.train_panel.error.connect(self.show_error)
        s = self.session
        s.state_changed.connect(lambda _: self._update_actions())
        s.loading.connect(lambda text: self.statusBar().showMessage(text))
        s.started.connect(self._on_training_started)
        s.metrics.connect(self._on_training_metrics)
        s.finished.connect(self._on_training_finished)
        s.failed.connect(self.show_error)

    def _add_explore_docks(self) -> dict[str, QDockWidget]:
        """The Explore and compare docks (paths, projection, drawing pad, traversal, latent
        map, compare), tabbed behind the main docks. They are optional: if they fail to
        load, the window works without them and says so."""
        try:
            from .explore_docks import add_explore_docks

            return add_explore_docks(self, self.model_state, self.latent_state, lambda: self.data_state.dataset,
                                     dataset_changed=self.data_state.changed)
        except Exception as e:  # noqa: BLE001 - a broken optional panel must not stop the app
            QTimer.singleShot(0, lambda: self.statusBar().showMessage(f"Explore panels unavailable: {e}", 10000))
            return {}

    # -- layout memory -----------------------------------------------------------------
    def _restore_layout(self) -> None:
        self._default_state = self.saveState()
        s = settings.settings()
        geometry, state = s.value("window/geometry"), s.value("window/state")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(*self._default_size())
            self._default_sizes()
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)

    def _default_size(self) -> tuple[int, int]:
        """1400x900, or 90% of a smaller screen (a 1366x768 laptop). The offscreen platform
        (tests, screenshots) reports a tiny fake screen: ignore it there."""
        screen = self.screen()
        if screen is None or QGuiApplication.platformName() == "offscreen":
            return DEFAULT_SIZE
        avail = screen.availableGeometry()
        return min(DEFAULT_SIZE[0], int(avail.width() * 0.9)), min(DEFAULT_SIZE[1], int(avail.height() * 0.9))

    def _default_sizes(self) -> None:
        self.resizeDocks([self.train_dock, self.latent_dock], [330, 380], Qt.Orientation.Horizontal)
        self.resizeDocks([self.training_dock], [300], Qt.Orientation.Vertical)

    def copy_point(self) -> None:
        from .latent_clipboard import point_to_text

        if self.latent_state.spec is None:
            return
        QGuiApplication.clipboard().setText(point_to_text(self.latent_state.flat))
        self.statusBar().showMessage("Copied the latent point", 3000)

    def paste_point(self) -> None:
        from .latent_clipboard import text_to_point

        spec = self.latent_state.spec
        if spec is None:
            return
        try:
            flat = text_to_point(QGuiApplication.clipboard().text(), spec)
        except ValueError as e:
            self.statusBar().showMessage(f"Cannot paste the point: {e}", 8000)
            return
        self.latent_state.set_flat(flat)
        self.statusBar().showMessage("Moved to the pasted point", 3000)

    def show_evaluation(self) -> None:
        """Evaluate the open model on its dataset in a dialog (the work runs in a worker)."""
        from .explore_workers import dataset_problem, snapshot_model
        from .panels.eval_dialog import EvaluationDialog

        model, dataset = snapshot_model(self.model_state), self.data_state.dataset
        problem = dataset_problem(model, dataset)
        if problem is not None:
            self.statusBar().showMessage(f"Cannot evaluate: {problem}", 8000)
            return
        if self.eval_dialog is not None:
            self.eval_dialog.shutdown()
            self.eval_dialog.close()
        self.eval_dialog = EvaluationDialog(model, dataset, self.model_state.source, self.model_state.train_state, self)
        self.eval_dialog.finished.connect(lambda _result: self.runs_browser.refresh() if self.runs_browser is not None
                                          and self.runs_browser.isVisible() else None)
        self.eval_dialog.show()  # Evaluate there starts it, after a look at the sample count

    def show_runs_browser(self) -> None:
        """The run browser, over the runs folder (or the folder it was last pointed at)."""
        from .panels.runs_browser import RunsBrowser

        if self.runs_browser is None:
            remembered = Path(str(settings.settings().value("runs_browser/root") or ""))
            root = remembered if str(remembered) not in ("", ".") and remembered.is_dir() else settings.runs_dir()
            self.runs_browser = RunsBrowser(root, self)
            self.runs_browser.root_changed.connect(lambda folder: settings.settings().setValue("runs_browser/root", folder))
            self.runs_browser.open_requested.connect(self.open_path)
            self.runs_browser.compare_requested.connect(self.add_to_compare)
        else:
            self.runs_browser.refresh()  # runs may have been trained since
        self.runs_browser.show()
        self.runs_browser.raise_()

    def add_to_compare(self, paths: list[str | Path]) -> None:
        """Load checkpoints or runs into the Compare panel and bring that panel forward."""
        dock = self.explore_docks.get("compare") if self.explore_docks else None
        if dock is None:
            self.show_error("Compare is not available", "The Compare panel could not be created in this window.")
            return
        dock.show()
        dock.raise_()
        dock.widget().add_files(list(paths))

    def show_shortcuts(self) -> None:
        from .help_dialogs import ShortcutsDialog

        menus = [a for m in self.menuBar().actions() if m.menu() for a in m.menu().actions()]
        self._help_dialog = ShortcutsDialog([a for a in menus if not a.isSeparator()], self)
        self._help_dialog.show()

    def show_about(self) -> None:
        from .help_dialogs import AboutDialog

        self._help_dialog = AboutDialog(self)
        self._help_dialog.show()

    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        for dock in (self.train_dock, self.latent_dock, self.training_dock):
            dock.setFloating(False)
            dock.show()
        if self.explore_docks:
            from .explore_docks import place_explore_docks

            for dock in self.explore_docks.values():
                dock.setFloating(False)
            place_explore_docks(self, self.explore_docks)
            for dock in (self.train_dock, self.training_dock):
                dock.raise_()  # the main docks in front of the tabs behind them
        self._default_sizes()

    def save_layout(self) -> None:
        s = settings.settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.sync()

    # -- errors and messages -------------------------------------------------------------
    def show_status(self, text: str, timeout_ms: int = 8000) -> None:
        """A message that fits the status bar: long ones are cut at a sentence or clause
        end with "…", and the whole text is the status bar's tooltip."""
        line = text.splitlines()[0] if text else ""
        if len(line) > STATUS_CHARS:
            cut = max(line.rfind(sep, 0, STATUS_CHARS) for sep in (". ", "; ", ": ", ", "))
            line = (line[:cut] if cut > STATUS_CHARS // 3 else line[:STATUS_CHARS]).rstrip(" .;:,") + "…"
        self.statusBar().setToolTip(text if line != text else "")
        self.statusBar().showMessage(line, timeout_ms)

    def show_error(self, title: str, text: str) -> None:
        """Status bar + a non-modal message box: the window stays usable behind it."""
        self.last_error = (title, text)
        self.show_status(f"{title}: {text}", 15000)
        if self._error_box is not None:
            self._error_box.close()
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.destroyed.connect(lambda *_: setattr(self, "_error_box", None) if self._error_box is box else None)
        self._error_box = box
        box.show()

    def _update_actions(self) -> None:
        has_model = self.model_state.model is not None
        state = self.session.state
        idle = state == "idle"
        self.train_action.setEnabled(idle)
        self.train_panel.refresh_continue()  # source / train_state may have changed under it
        self.continue_action.setEnabled(self.train_panel.continue_button.isEnabled())
        self.pause_action.setEnabled(state in ("running", "paused"))
        self.stop_action.setEnabled(state in ("loading", "running", "paused"))
        # a model can't be swapped under a running training session (its snapshots feed it)
        self.open_action.setEnabled(idle)
        self.open_run_action.setEnabled(idle)
        self.recent_menu.setEnabled(idle)
        self.save_action.setEnabled(has_model)
        self.evaluate_action.setEnabled(has_model)
        self.export_action.setEnabled(has_model and self.decoder.last_image is not None)
        self.random_action.setEnabled(has_model)
        self.copy_point_action.setEnabled(has_model)
        self.paste_point_action.setEnabled(has_model)
        self.zero_action.setEnabled(has_model)

    def _on_first_image(self, _image: object) -> None:
        if not self.export_action.isEnabled():
            self.export_action.setEnabled(True)

    def _update_title(self) -> None:
        model = self.model_state.model
        if model is None:
            self.setWindowTitle(APP_TITLE)
            return
        where = self.model_state.source.name if self.model_state.source else ("training…" if self.session.active else "unsaved")
        self.setWindowTitle(f"{model.family} ({where}) — {APP_TITLE}")

    # -- the model -----------------------------------------------------------------------
    def _on_model_changed(self, model: object) -> None:
        self.latent_state.reset(self.model_state.spec)
        if model is None:
            self.image_view.clear()
        self._update_title()
        self._update_actions()

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a model", str(self._last_dir()),
            "Checkpoints (*.safetensors);;Pickle checkpoints — can run code (*.pt *.pth *.ckpt *.pkl *.bin);;All files (*)")
        if path:
            self.open_path(path)

    def open_run_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a run folder", str(settings.runs_dir()))
        if path:
            self.open_path(path)

    def _last_dir(self) -> Path:
        recent = settings.recent_files()
        return Path(recent[0]).parent if recent else Path.home()

    def open_path(self, path: str | Path) -> bool:
        """Open a checkpoint or run folder in the background; an image file is encoded.
        Returns whether a load was started."""
        path = Path(path).expanduser()
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            self.encode_file(path)
            return False
        if self.session.active:
            self.show_error("Training is running", "Stop training before opening another model.")
            return False
        allow_pickle = False
        if path.suffix.lower() in PICKLE_SUFFIXES:
            if not confirm_untrusted(self, path):
                self.statusBar().showMessage(f"Did not open {path.name}", 5000)
                return False
            allow_pickle = True
        self._loading = str(path)
        self.statusBar().showMessage(f"Opening {path}…")
        self.open_action.setEnabled(False)
        self.jobs.submit(lambda: load_checkpoint(path, allow_pickle=allow_pickle),
                         on_done=lambda ckpt: self._on_loaded(path, ckpt),
                         on_error=lambda e: self._on_load_failed(path, e))
        return True

    def _on_loaded(self, requested: Path, ckpt: Checkpoint) -> None:
        self._loading = None
        self._update_actions()
        if self.session.active:  # training started while the file was loading: keep the live model
            return
        self.model_state.set_model(ckpt.model, ckpt.path, ckpt.train_state)
        self._update_title()
        settings.add_recent_file(requested)
        self._rebuild_recent_menu()
        step = ckpt.train_state.get("step")
        self.statusBar().showMessage(
            f"Opened {ckpt.family} from {ckpt.path}" + (f" (step {step})" if step is not None else ""), 8000)
        self.train_panel.show_model(ckpt.model, ckpt.train_state)
        self._update_actions()
        self._after_model_ready(ckpt.train_state.get("dataset"), ckpt.train_state.get("data_dir"))
        self._show_run_history(ckpt.path)

    def _show_run_history(self, checkpoint: Path | None) -> None:
        """A checkpoint inside a run folder: its loss curves and last sample grid go to the
        Training panel (read in a worker: metrics.jsonl of a long run is megabytes)."""
        run = RunDir.of_checkpoint(checkpoint)
        if run is None or not run.metrics_path.exists():
            return
        generation = self.model_state.generation

        def load():
            newest = run.newest_samples()
            return run.read_metrics(), (load_png(newest) if newest is not None else None)

        def loaded(result) -> None:
            if generation != self.model_state.generation or self.session.active:
                return  # another model was opened, or a run started, meanwhile
            records, samples = result
            self.training_view.show_history(records, run.path.name, samples)

        self.jobs.submit(load, loaded, lambda e: self.show_status(f"Could not read the run's history: {e}", 8000))

    def _on_load_failed(self, path: Path, error: BaseException) -> None:
        self._loading = None
        self._update_actions()
        title, text = describe_error(error)
        self.show_error(title, text)  # the previous model stays loaded

    def open_default_model(self) -> bool:
        """First launch: open the bundled demo model if there is one."""
        demos = sorted(DEMO_DIR.glob("*.safetensors"), key=lambda p: (p.name != "vae_mnist.safetensors", p.name))
        if demos:
            return self.open_path(demos[0])
        self.image_view.clear(HINT)
        return False

    def save_dialog(self) -> None:
        if self.model_state.model is None:
            return
        suggested = self._last_dir() / f"{self.model_state.model.family}.safetensors"
        path, _ = QFileDialog.getSaveFileName(self, "Save model as", str(suggested), "Checkpoints (*.safetensors)")
        if path:
            self.save_model(path)

    def save_model(self, path: str | Path) -> Path | None:
        model = self.model_state.model
        if model is None:
            return None
        try:
            with self.model_state.lock:
                saved = save_checkpoint(path, model, self.model_state.train_state)
        except Exception as e:  # noqa: BLE001 - CheckpointError (disk full...), anything else
            self.show_error(*describe_error(e))
            return None
        if not self.session.active:
            self.model_state.source = saved
        settings.add_recent_file(saved)
        self._rebuild_recent_menu()
        self._update_title()
        self.statusBar().showMessage(f"Saved {saved}", 8000)
        return saved

    def export_dialog(self) -> None:
        if self.decoder.last_image is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export image", str(self._last_dir() / "latent.png"), "PNG images (*.png)")
        if path:
            self.export_image(path)

    def export_image(self, path: str | Path, min_side: int = 256) -> Path | None:
        """Save the decoded image, upscaled by a whole factor to at least ``min_side`` pixels
        with nearest-neighbour (what the view shows: crisp pixels)."""
        from models.io.images import save_png

        image = self.decoder.last_image
        if image is None:
            return None
        factor = max(1, -(-min_side // max(image.shape[:2])))
        big = np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        try:
            save_png(big, path)
        except OSError as e:
            self.show_error("Could not export the image", f"{path}: {e.strerror or e}")
            return None
        self.statusBar().showMessage(f"Exported {path} ({big.shape[1]}×{big.shape[0]}, ×{factor} nearest)", 8000)
        return path

    def encode_file(self, path: str | Path) -> bool:
        """A dropped image: its latent (the mean, for a VAE) sets the sliders."""
        model = self.model_state.model
        if model is None:
            self.show_error("No model", "Open or train a model before dropping images on the window.")
            return False
        if not model.latent_spec.has_encoder:
            self.show_error("This model has no encoder",
                            f"{model.family} generates images from noise but cannot map an image to its latent space.")
            return False
        try:
            x, inverted = load_image_file(str(path), tuple(model.config.image_shape))
            flat = encode_images(self.model_state, x)
        except Exception as e:  # noqa: BLE001 - unreadable image, shape trouble
            self.show_error("Could not encode the image", str(e))
            return False
        self.latent_panel.set_thumbnail(x[0])
        self.latent_state.set_flat(flat)
        self.statusBar().showMessage(f"Encoded {Path(path).name}" + (" (inverted to light-on-dark)" if inverted else ""), 8000)
        return True

    # -- recent files -----------------------------------------------------------------
    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = settings.recent_files()
        for f in files:
            action = self.recent_menu.addAction(f)
            action.triggered.connect(lambda checked=False, f=f: self.open_path(f))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", lambda: (settings.clear_recent_files(), self._rebuild_recent_menu()))
        else:
            self.recent_menu.addAction("(none)").setEnabled(False)

    # -- drag and drop -----------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        self.handle_dropped(paths)

    def handle_dropped(self, paths: list[Path]) -> None:
        images = [p for p in paths if p.suffix.lower() in IMAGE_SUFFIXES]
        models = [p for p in paths if p not in images]
        if models:
            self.open_path(models[0])
        elif images:
            self.encode_file(images[0])

    # -- training ------------------------------------------------------------------------
    def _on_training_started(self, info: TrainStarted) -> None:
        averaged = getattr(info.model, "generator_ema", None) is not None  # GANs: previews come from the weight average
        self.training_view.reset(info.preview_columns, reconstructions=info.model.latent_spec.has_encoder,
                                 samples_title="Samples (fixed noise, G's weight average)" if averaged else "Samples (fixed noise)")
        self.data_state.set_dataset(info.dataset)
        self.model_state.set_model(info.model, None, {"dataset": info.dataset.name})
        self._training_generation = self.model_state.generation
        self.device_label.setText(info.device)
        self.training_dock.show()
        self.statusBar().showMessage(f"Training {info.model.family} on {info.dataset.name}: {info.total_steps} steps", 5000)
        self._update_title()

    def _on_training_metrics(self, batch: list[StepMetrics]) -> None:
        if not batch:
            return
        self.training_view.add_metrics(batch)
        weights = next((m.weights for m in reversed(batch) if m.weights is not None), None)
        if weights is not None and self.model_state.generation == self._training_generation:
            try:
                self.model_state.load_weights(weights)
            except RuntimeError as e:  # never expected (same architecture), never fatal
                self.statusBar().showMessage(f"Could not show live weights: {e}", 5000)
        m = batch[-1]
        self.rate_label.setText(f"{m.steps_per_s:.1f} steps/s")
        self.epoch_label.setText(f"epoch {m.epoch:.2f}")

    def _on_training_finished(self, last: StepMetrics | None) -> None:
        self._update_actions()
        if last is None:  # failed or stopped before the first step: the error says why
            self._update_title()
            return
        if last.checkpoint and self.model_state.generation == self._training_generation:
            self.model_state.source = Path(last.checkpoint)
            self.model_state.train_state = {"dataset": self.data_state.dataset.name if self.data_state.dataset else None,
                                            "step": last.step, "epoch": last.epoch}
            settings.add_recent_file(Path(last.checkpoint).parents[1])  # the run folder
            self._rebuild_recent_menu()
            self.train_panel.show_model(self.model_state.model, self.model_state.train_state)
        self._update_actions()
        verb = "finished" if last.event == "done" else "stopped"
        where = f"; checkpoint saved to {last.checkpoint}" if last.checkpoint else ""
        self.statusBar().showMessage(f"Training {verb} at step {last.step}{where}", 15000)
        self._update_title()
        self._after_model_ready(None)

    # -- the opened model's test data, and per-dimension KL (VAEs) -------------------------
    def _after_model_ready(self, dataset_name: str | None, data_dir: str | None = None) -> None:
        """Load the dataset the model was trained on (no download) so that Encode, the latent
        map, Compare and projection targets have its test images; then, for a VAE, compute its
        per-dimension KL. ``data_dir``: the folder the run recorded, tried after the folder
        chosen in Model & data for this dataset."""
        model = self.model_state.model
        if model is None:
            return
        shape = tuple(model.config.image_shape)
        if self.data_state.fits(shape):
            self._compute_kl()
            return
        if not dataset_name:
            return
        generation = self.model_state.generation
        c, size = shape[0], shape[-1]
        panel = self.train_panel
        chosen = (panel.data_dir.text().strip() or None) if panel.dataset.currentText() == dataset_name else None
        folders = [d for d in dict.fromkeys((chosen, data_dir)) if d] or [None]
        off = "Encode and test images are" if model.latent_spec.has_encoder else "Test images (projection targets) are"

        def load():
            error: BaseException | None = None
            for folder in folders:
                try:
                    return self.dataset_factory(dataset_name, folder, download=False,
                                                image_size=size if dataset_name in ("shapes", "folder") else None,
                                                channels=c)
                except Exception as e:  # noqa: BLE001 - try the next folder; report the last failure
                    error = e
            raise error  # type: ignore[misc]

        def loaded(dataset) -> None:
            if generation != self.model_state.generation:
                return
            if tuple(dataset.image_shape) != shape:
                self.show_status(f"The {dataset_name} images are {tuple(dataset.image_shape)}, the model's are {shape}: "
                                 f"{off} off.", 10000)
                return
            self.data_state.set_dataset(dataset)
            self._compute_kl()

        def failed(e: BaseException) -> None:  # not fatal: Encode, KL and test images just stay unavailable
            self.show_status(f"{off} off: the {dataset_name} files are not here "
                             f"(choose their folder in Model & data, then open the model again). {e}", 10000)

        self.jobs.submit(load, loaded, failed)

    def _compute_kl(self) -> None:
        from models.metrics.report import kl_per_dimension
        from models.families.vae import VAE

        model, dataset = self.model_state.model, self.data_state.dataset
        if not isinstance(model, VAE) or dataset is None:
            return
        generation = self.model_state.generation
        clone = snapshot_model(self.model_state)  # the worker reads its own copy; the GUI keeps decoding

        def compute() -> np.ndarray:
            return kl_per_dimension(clone, dataset.test, n=1000).numpy()

        self.jobs.submit(compute, lambda kl: self.model_state.set_kl(kl, generation),
                         lambda e: self.statusBar().showMessage(f"Could not compute per-dimension KL: {e}", 8000))

    # -- closing -------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self, timeout_ms: int = 2000) -> None:
        """Stop training (its loop saves a checkpoint), wait at most ``timeout_ms``, and
        stop every helper thread. Safe to call twice."""
        if self.session.active:
            self.session.stop()
            if not self.session.wait(timeout_ms):
                # still saving: keep the thread referenced so Qt doesn't destroy it running
                _ORPHANS.append(self.session._thread)
        self.decoder.close()
        if self.explore_docks:
            from .explore_docks import shutdown_explore_docks

            shutdown_explore_docks(self.explore_docks)
        self.jobs.wait(timeout_ms)
        self.training_view.stop_timers()
        if self._error_box is not None:
            self._error_box.close()
        for dialog in (self.runs_browser, self.eval_dialog):
            if dialog is not None:
                dialog.shutdown()
                dialog.close()
        self.save_layout()
