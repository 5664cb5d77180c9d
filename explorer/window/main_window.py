"""The main window: composes state objects, panels, the decoder and the workers.

    Model & data (left dock) ──> TrainingSession ──> metrics ──> Training (bottom dock)
                                        └── snapshot weights ──> ModelController ──> ModelState
    File > Open / drops ──> ModelController (open_model in a JobRunner) ──> ModelState
    ModelState ──> LatentState.reset ──> Latent panel (right dock)
    LatentState / new weights ──> Decoder ──> ImageView (centre)

Widgets talk through the state objects; this class builds and wires them and owns the
status bar and error reporting. The menus are the table in ``actions``; the model's life
(open, save, export, the model being trained) is ``model_controller``; what the open model
allows and the title are ``capabilities``; dropped files are sorted by ``drops``; the docks'
places per job are ``workspaces``; the secondary windows are ``tool_windows``; following a run is ``follow_mode``.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QWidget

from models.training.device import device_description, resolve_device
from models.training.loop import StepMetrics

from ..datasets import DatasetFactory, default_dataset_factory
from ..jobs import JobRunner
from ..latent_clipboard import point_to_text, text_to_point
from ..latent_history import LatentHistory
from ..live_decoder import Decoder
from ..panels.latent_panel import LatentPanel
from ..panels.train_panel import TrainPanel
from ..panels.training_view import TrainingView
from ..settings_file import set_notice_handler, take_notices
from ..state import DataState, LatentState, ModelState
from ..training_session import TrainingSession, TrainStarted
from ..widgets.image_view import ImageView
from ..widgets.latency_meter import LatencyMeter
from ..widgets.view_export import wait_for_exports
from .actions import build_menus, fill_recent_menu, update_enabled
from .capabilities import APP_TITLE, action_state, window_title
from .drops import local_paths, route_drops
from ..session import SessionController
from .follow_mode import FollowMode
from .layout import make_dock
from .messages import error_box, fit_status_line
from .model_controller import ModelController
from .tool_windows import ToolWindows
from .workspaces import Workspaces, optional_explore_docks

HINT = ("<p style='font-size:18px; color:#c8c8c8'>Open a model or press Train</p>"
        "<p>File ▸ Open (Ctrl+O) loads a checkpoint, a run folder or a model made elsewhere<br>"
        "(a PyTorch state dict, an ONNX model, a Python adapter file); you can also drop one here.<br>"
        "Train (Ctrl+T) fits a new model: the <i>shapes</i> dataset needs no download.</p>")


def _forwarded(part: str, name: str) -> property:
    """A read-only attribute of the window that is ``self.<part>.<name>``."""
    return property(lambda self: getattr(getattr(self, part), name))


class MainWindow(QMainWindow):
    # the menu actions, made from actions.MENUS and kept under these names
    open_action: QAction
    open_run_action: QAction
    follow_run_action: QAction
    open_session_action: QAction
    save_session_action: QAction
    runs_action: QAction
    save_action: QAction
    export_model_action: QAction
    export_action: QAction
    close_model_action: QAction
    quit_action: QAction
    train_action: QAction
    continue_action: QAction
    pause_action: QAction
    stop_action: QAction
    evaluate_action: QAction
    random_action: QAction
    zero_action: QAction
    copy_point_action: QAction
    paste_point_action: QAction
    reset_layout_action: QAction
    shortcuts_action: QAction
    about_action: QAction

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
        self.latent_history = LatentHistory(self.model_state, self.latent_state, self)  # Edit > Undo / Redo
        self.session = TrainingSession(self.dataset_factory, self)
        self.jobs = JobRunner("window", self, newest_wins=False)
        self.last_error: tuple[str, str] | None = None
        self._error_box: QMessageBox | None = None

        # views
        self.image_view = ImageView(HINT)
        self.setCentralWidget(self.image_view)
        self.train_panel = TrainPanel(self.session, self.model_state)
        self.latent_panel = LatentPanel(self.model_state, self.latent_state, self.data_state)
        self.training_view = TrainingView()
        # "&&": a dock title takes "&" as a mnemonic marker, like a menu entry
        self.train_dock = make_dock(self, "Model && data", "dock_train", self.train_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.latent_dock = make_dock(self, "Latent space", "dock_latent", self.latent_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.training_dock = make_dock(self, "Training", "dock_training", self.training_view,
                                       Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self._build_status_bar()

        # what the menus do
        self.models = ModelController(self.model_state, self.latent_state, self.data_state, self.decoder, self.session,
                                      self.jobs, self.dataset_factory, self._chosen_data_dir, self,
                                      chosen_dataset=self.train_panel.dataset.currentText)
        self.tools = ToolWindows(self, self.model_state, self.data_state, self.open_path, self.add_to_compare)
        self.follow = FollowMode(self)  # File > Follow Run…: a run another process is writing
        self.sessions = SessionController(self)
        self.menus = build_menus(self, [d.toggleViewAction() for d in (self.train_dock, self.latent_dock, self.training_dock)])
        for name, action in self.menus.actions.items():
            setattr(self, name, action)
        self.recent_menu = self.menus.submenus["recent_menu"]
        self.sessions.install_reopen_toggle(after=self.save_session_action)
        self._rebuild_recent_menu()

        self._wire()
        # the Explore and compare docks (optional: the window works without them), before the restore
        self.explore_docks = optional_explore_docks(self, lambda dock: self.workspaces.reveal(dock))
        docks = {"train": self.train_dock, "latent": self.latent_dock, "training": self.training_dock, **self.explore_docks}
        self.workspaces = Workspaces(self, docks, self.menus.submenus["workspace_menu"])  # Explore, Train, Compare
        self.workspaces.restore()
        self._update_actions()
        self.statusBar().showMessage("Ready", 3000)
        self._say_settings_notices()

    # -- construction ------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        """Messages on the left; device, speed and epoch always visible on the right."""
        detected = resolve_device("auto")
        self.device_label = QLabel(device_description(detected) if detected.type != "cpu" else "CPU")
        self.device_label.setToolTip("The device training runs on (and a run's training step: cuda graph or eager)")
        self.rate_label = QLabel("")
        self.epoch_label = QLabel("")
        self.latency_meter = LatencyMeter()  # decode time and fps of the main view while the point moves
        for w in (self.latency_meter, self.rate_label, self.epoch_label, self.device_label):
            w.setContentsMargins(8, 0, 8, 0)
            self.statusBar().addPermanentWidget(w)

    def _wire(self) -> None:
        self.model_state.model_changed.connect(self._on_model_changed)
        self.decoder.image_ready.connect(self.image_view.set_image)
        self.decoder.image_ready.connect(self._on_first_image)
        self.decoder.frame_timed.connect(self.latency_meter.record)
        self.latent_history.changed.connect(self._update_actions)
        self.latent_panel.error.connect(self.show_error)
        self.latent_panel.status.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.train_panel.error.connect(self.show_error)
        m = self.models
        m.status.connect(lambda text, timeout_ms: self.statusBar().showMessage(text, timeout_ms))
        m.report.connect(self.show_status)
        m.error.connect(self.show_error)
        m.changed.connect(self._on_models_changed)
        m.model_opened.connect(self.train_panel.show_model)
        m.history_ready.connect(self.follow.unless_following(self.training_view.show_history))
        m.image_encoded.connect(self.latent_panel.set_thumbnail)
        self.train_panel.dataset.currentTextChanged.connect(lambda _name: m.data.dataset_choice_changed())
        self.tools.status.connect(lambda text, timeout_ms: self.statusBar().showMessage(text, timeout_ms))
        s = self.session
        s.state_changed.connect(lambda _: self._update_actions())
        s.loading.connect(lambda text: self.statusBar().showMessage(text))
        s.started.connect(self._on_training_started)
        s.stepper.connect(self._on_training_stepper)
        s.metrics.connect(self._on_training_metrics)
        s.finished.connect(self._on_training_finished)
        s.failed.connect(self.show_error)

    def _chosen_data_dir(self, dataset_name: str) -> str | None:
        """The folder chosen in Model & data, when the dataset chosen there is ``dataset_name``."""
        panel = self.train_panel
        return (panel.data_dir.text().strip() or None) if panel.dataset.currentText() == dataset_name else None

    # -- what tests, the app and the secondary windows call ---------------------------
    def open_path(self, path: str | Path) -> bool:
        """Open a checkpoint or run folder in the background; an image file is encoded.
        Returns whether a load was started."""
        return self.models.open_path(path)

    def open_default_model(self) -> bool:
        """First launch: open the bundled demo model if there is one."""
        demo = self.models.demo_checkpoint()
        if demo is not None:
            return self.open_path(demo)
        self.image_view.clear(HINT)
        return False

    def save_model(self, path: str | Path) -> Path | None:
        return self.models.save_model(path)

    def export_image(self, path: str | Path, min_side: int = 256) -> Path | None:
        return self.models.export_image(path, min_side)

    def encode_file(self, path: str | Path) -> bool:
        return self.models.encode_file(path)

    def show_evaluation(self) -> None:
        self.tools.show_evaluation()

    def show_runs_browser(self) -> None:
        self.tools.show_runs_browser()

    # the secondary windows (ToolWindows keeps them) and the file being opened (ModelController's)
    runs_browser = _forwarded("tools", "runs_browser")
    eval_dialog = _forwarded("tools", "eval_dialog")
    _help_dialog = _forwarded("tools", "help_dialog")
    _loading = _forwarded("models", "loading")

    def add_to_compare(self, paths: list[str | Path]) -> None:
        """Load checkpoints or runs into the Compare panel and bring that panel forward (in the
        Compare workspace, from one that does not show it)."""
        dock = self.explore_docks.get("compare") if self.explore_docks else None
        if dock is None:
            self.show_error("Compare is not available", "The Compare panel could not be created in this window.")
            return
        self.workspaces.reveal(dock)
        dock.widget().add_files(list(paths))

    def copy_point(self) -> None:
        if self.latent_state.spec is None:
            return
        QGuiApplication.clipboard().setText(point_to_text(self.latent_state.flat))
        self.statusBar().showMessage("Copied the latent point", 3000)

    def paste_point(self) -> None:
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

    def reset_layout(self) -> None:
        self.workspaces.reset()

    # -- errors and messages -------------------------------------------------------------
    def _say_settings_notices(self) -> None:
        """What was wrong with the settings (said once, after the window is built), then
        anything found later as it is found."""
        found = take_notices()
        if found:
            self.show_status(" ".join(found), 30000)
        self._notice_handler = lambda text: self.show_status(text, 30000)
        set_notice_handler(self._notice_handler)

    def show_status(self, text: str, timeout_ms: int = 8000) -> None:
        """A message that fits the status bar: long ones are cut at a sentence or clause
        end with "…", and the whole text is the status bar's tooltip."""
        line = fit_status_line(text)
        self.statusBar().setToolTip(text if line != text else "")
        self.statusBar().showMessage(line, timeout_ms)

    def show_error(self, title: str, text: str) -> None:
        """Status bar + a non-modal message box: the window stays usable behind it."""
        self.last_error = (title, text)
        self.show_status(f"{title}: {text}", 15000)
        if self._error_box is not None:
            self._error_box.close()
        box = self._error_box = error_box(self, title, text)
        box.destroyed.connect(lambda *_: setattr(self, "_error_box", None) if self._error_box is box else None)

    # -- menus and title follow the state --------------------------------------------------
    def _update_actions(self) -> None:
        problem: str | None = "The Model & data panel could not say."
        try:
            self.train_panel.refresh_continue()  # source / train_state may have changed under it
            problem = self.train_panel.continue_problem()
        finally:  # the menus follow the state whatever happened above: Open must never stay greyed out
            state = action_state(self.model_state.model, self.session.state, self.decoder.last_image is not None,
                                 problem, self.models.loading is not None)
            update_enabled(self.menus, replace(state, can_undo=self.latent_history.can_undo,
                                               can_redo=self.latent_history.can_redo))

    def _on_first_image(self, _image: object) -> None:
        if not self.export_action.isEnabled():
            self._update_actions()

    def _update_title(self) -> None:
        self.setWindowTitle(window_title(self.model_state.model, self.model_state.source, self.session.active))

    def _rebuild_recent_menu(self) -> None:
        fill_recent_menu(self.recent_menu, self.models.recent_files(), self.open_path, self.models.clear_recent_files)

    def _on_models_changed(self) -> None:
        self._rebuild_recent_menu()
        self._update_title()
        self._update_actions()

    def _on_model_changed(self, model: object) -> None:
        current = self.model_state.model  # a generator starts at a draw from its own prior
        self.latent_state.reset(self.model_state.spec, current.sample_latents if current is not None else None)
        if model is None:
            self.image_view.clear()
        self._update_title()
        self._update_actions()

    # -- drag and drop -----------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        if paths := local_paths(event.mimeData()):
            event.acceptProposedAction()
            self.handle_dropped(paths)

    def handle_dropped(self, paths: list[Path]) -> None:
        """What dropped files do (see :func:`drops.route_drops`)."""
        route_drops(self, paths)

    # -- training: what the views show (ModelController keeps the model) ------------------
    def _on_training_started(self, info: TrainStarted) -> None:
        averaged = getattr(info.model, "generator_ema", None) is not None  # GANs: previews come from the weight average
        self.training_view.reset(info.preview_columns, reconstructions=info.model.latent_spec.has_encoder,
                                 samples_title="Samples (fixed noise, G's weight average)" if averaged else "Samples (fixed noise)")
        self.device_label.setText(info.device)
        self.workspaces.reveal(self.training_dock)
        self.statusBar().showMessage(f"Training {info.model.family} on {info.dataset.name}: {info.total_steps} steps", 5000)
        self._update_title()
        if "timeline" in self.explore_docks:  # the run being trained is the one to watch learn
            from .docks import explore_panel

            explore_panel(self.explore_docks["timeline"]).load_run(info.run_dir)

    def _on_training_stepper(self, name: str) -> None:  # the step actually used: a failed capture shows here
        if self.session.info is not None:
            self.device_label.setText(f"{self.session.info.device} · {name}")

    def _on_training_metrics(self, batch: list[StepMetrics]) -> None:
        if not batch:
            return
        self.training_view.add_metrics(batch)
        m = batch[-1]
        self.rate_label.setText(f"{m.steps_per_s:.1f} steps/s")
        self.epoch_label.setText(f"epoch {m.epoch:.2f}")

    def _on_training_finished(self, last: StepMetrics | None) -> None:
        self._update_actions()
        if last is not None:  # else failed or stopped before the first step: the error says why
            verb = "finished" if last.event == "done" else "stopped"
            where = f"; checkpoint saved to {last.checkpoint}" if last.checkpoint else ""
            self.statusBar().showMessage(f"Training {verb} at step {last.step}{where}", 15000)
        self._update_title()

    # -- closing -------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self, timeout_ms: int = 2000) -> None:
        """Stop training (its loop saves a checkpoint), wait at most ``timeout_ms``, and
        stop every helper thread. Safe to call twice."""
        self.follow.stop()
        self.session.shutdown(timeout_ms)
        self.decoder.close()
        self.latent_panel.shutdown()
        if self.explore_docks:
            from .docks import shutdown_explore_docks

            shutdown_explore_docks(self.explore_docks)
        self.jobs.wait(timeout_ms / 1000)
        wait_for_exports(timeout_ms / 1000)  # a view exported just before closing still lands on disk
        self.training_view.stop_timers()
        if self._error_box is not None:
            self._error_box.close()
        self.tools.shutdown()
        self.workspaces.save()
        handler = set_notice_handler(None)
        if handler is not getattr(self, "_notice_handler", None):
            set_notice_handler(handler)  # another window's: leave it
