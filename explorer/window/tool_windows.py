"""The window's non-modal secondary windows: the runs browser, the evaluation dialog and
the Help dialogs. Each is made on first use (or anew for each evaluation), kept so it
stays open beside the window, and shut down with it."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QMainWindow

from .. import settings
from ..model_access import dataset_problem, snapshot_model
from ..state import DataState, ModelState
from .actions import menu_actions

if TYPE_CHECKING:  # the dialogs themselves are imported on first use: the window starts without them
    from ..dialogs.eval_dialog import EvaluationDialog
    from ..dialogs.runs_browser import RunsBrowser


class ToolWindows(QObject):
    status = Signal(str, int)  # a short status-bar message, its timeout in ms

    def __init__(self, window: QMainWindow, model_state: ModelState, data_state: DataState,
                 open_path: Callable[[str], object], add_to_compare: Callable[[list[str]], None]) -> None:
        """``open_path`` and ``add_to_compare`` serve the runs browser's Open and Compare."""
        super().__init__(window)
        self.window = window
        self.model_state, self.data_state = model_state, data_state
        self.open_path, self.add_to_compare = open_path, add_to_compare
        self.runs_browser: RunsBrowser | None = None  # File > Browse Runs, made on first use
        self.eval_dialog: EvaluationDialog | None = None  # Training > Evaluate Model
        self.help_dialog: QDialog | None = None  # the Help dialog shown last

    def show_evaluation(self) -> None:
        """Evaluate the open model on its dataset in a dialog (the work runs in a worker)."""
        from ..dialogs.eval_dialog import EvaluationDialog

        model, dataset = snapshot_model(self.model_state), self.data_state.dataset
        problem = dataset_problem(model, dataset)
        if problem is not None:
            self.status.emit(f"Cannot evaluate: {problem}", 8000)
            return
        if self.eval_dialog is not None:
            self.eval_dialog.shutdown()
            self.eval_dialog.close()
        self.eval_dialog = EvaluationDialog(model, dataset, self.model_state.source, self.model_state.train_state,
                                            self.window)
        self.eval_dialog.finished.connect(lambda _result: self.runs_browser.refresh() if self.runs_browser is not None
                                          and self.runs_browser.isVisible() else None)
        stamp = self.model_state.weights_stamp  # the sliders are labelled only if these weights are still shown
        self.eval_dialog.finished.connect(
            lambda result: self.model_state.set_factor_dims(result.get("factor_dims"), stamp))
        self.eval_dialog.show()  # Evaluate there starts it, after a look at the sample count

    def show_runs_browser(self) -> None:
        """The run browser, over the runs folder (or the folder it was last pointed at)."""
        from ..dialogs.runs_browser import RunsBrowser

        if self.runs_browser is None:
            remembered = Path(settings.read_text("runs_browser/root"))
            root = remembered if str(remembered) not in ("", ".") and remembered.is_dir() else settings.runs_dir()
            self.runs_browser = RunsBrowser(root, self.window)
            self.runs_browser.root_changed.connect(lambda folder: settings.settings().setValue("runs_browser/root", folder))
            self.runs_browser.open_requested.connect(self.open_path)
            self.runs_browser.compare_requested.connect(self.add_to_compare)
        else:
            self.runs_browser.refresh()  # runs may have been trained since
        self.runs_browser.show()
        self.runs_browser.raise_()

    def show_shortcuts(self) -> None:
        """The keys of the menus' actions as they are now."""
        from ..dialogs.help_dialogs import ShortcutsDialog

        self.help_dialog = ShortcutsDialog(menu_actions(self.window), self.window)
        self.help_dialog.show()

    def show_about(self) -> None:
        from ..dialogs.help_dialogs import AboutDialog

        self.help_dialog = AboutDialog(self.window)
        self.help_dialog.show()

    def shutdown(self) -> None:
        """Stop the dialogs' workers and close them (the window is closing)."""
        for dialog in (self.runs_browser, self.eval_dialog):
            if dialog is not None:
                dialog.shutdown()
                dialog.close()
