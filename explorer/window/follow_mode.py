"""The window following a run folder that another process is writing (``latent-explorer
train`` or ``torchrun`` here, or on a GPU box through a shared or mounted folder).

    RunFollower ── metrics_reset / metrics_added ──> TrainingView (curves, from the file's records)
                ── samples_ready ─────────────────> TrainingView (the newest sample grid)
                ── checkpoint_loaded ─────────────> ModelController.adopt_followed ──> sliders
                ── status_changed ────────────────> a permanent status-bar label
                ── problem ───────────────────────> a status-bar message
    FollowBar (a toolbar) ── Stop following ──> FollowMode.stop

The run is not opened through File > Open: a run with no checkpoint yet would be an error
there, and its history would be read twice (the follower delivers every record). Following
ends when the user stops it, opens another model (the followed checkpoints would replace
it), starts training in this window, or closes the window.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QSizePolicy, QToolBar, QWidget

from .. import settings
from ..panels.follow_bar import FollowBar
from ..run_follower import RunFollower

SAMPLES_TITLE = "Samples (newest grid)"


def ask_followed_run(parent: QWidget, start_dir: Path) -> str | None:
    """The run folder to follow (None: cancelled)."""
    path = QFileDialog.getExistingDirectory(parent, "Follow a run folder another process is writing", str(start_dir))
    return path or None


class FollowMode(QObject):
    """Follows at most one run folder in ``window`` (a MainWindow: its ``training_view``,
    ``models``, ``session`` and status bar)."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.follower: RunFollower | None = None
        self.toolbar: QToolBar | None = None
        self.bar: FollowBar | None = None
        self.status_label = QLabel("")
        self.status_label.setContentsMargins(8, 0, 8, 0)
        self.status_label.setVisible(False)
        window.statusBar().insertPermanentWidget(0, self.status_label)
        window.session.started.connect(lambda _info: self.stop())  # this window's run owns the model now
        window.models.changed.connect(self._on_models_changed)

    @property
    def following(self) -> bool:
        return self.follower is not None

    def ask_and_follow(self) -> None:
        """File > Follow Run…: ask for a run folder, then follow it."""
        path = ask_followed_run(self.window, settings.runs_dir())
        if path:
            self.follow(path)

    def follow(self, path: str | Path, **options: Any) -> RunFollower | None:
        """Follow the run folder ``path`` (it may not exist yet: it is waited for); its first
        checkpoint whose header passes is loaded into the sliders (``options``: RunFollower's
        keywords, e.g. ``poll_ms``). None (said) while this window
        trains or opens a model."""
        w = self.window
        if w.session.active or w.models.loading is not None:
            w.show_error("Cannot follow a run now", "Stop training before following a run." if w.session.active
                         else f"Wait until {Path(w.models.loading).name} has opened.")
            return None
        self.stop()
        f = self.follower = RunFollower(path, self, **options)
        w.training_view.reset(reconstructions=False, samples_title=SAMPLES_TITLE)
        w.training_view.summary.setText(f"{f.path.name}: waiting for metrics")
        f.metrics_reset.connect(lambda: w.training_view.reset(reconstructions=False, samples_title=SAMPLES_TITLE))
        f.metrics_added.connect(lambda records: w.training_view.extend_history(records, f.path.name))
        f.samples_ready.connect(w.training_view.show_sample_grid)
        f.checkpoint_loaded.connect(w.models.adopt_followed)
        f.status_changed.connect(self._show_status)
        f.problem.connect(lambda text: w.show_status(text, 10_000))
        self.bar = FollowBar(f)
        self.bar.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.bar.stop_requested.connect(self.stop)
        self.toolbar = QToolBar("Follow run", w)
        self.toolbar.setObjectName("toolbar_follow")  # saveState names toolbars by it
        self.toolbar.setMovable(False)
        self.toolbar.addWidget(self.bar)
        w.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)
        self.toolbar.show()  # a toolbar added to a window already shown starts hidden
        w.workspaces.reveal(w.training_dock)  # from Compare this switches to Train
        self._show_status("starting…")
        f.reload_now()  # the first checkpoint: later ones when asked, or with auto reload
        f.start()
        w.show_status(f"Following {f.path}", 5000)
        return f

    def unless_following(self, slot: Callable[..., object]) -> Callable[..., None]:
        """``slot``, called only while no run is followed (an opened run's history would
        duplicate the followed run's curves)."""
        def call(*args: object) -> None:
            if self.follower is None:
                slot(*args)

        return call

    def stop(self, quiet: bool = False) -> None:
        """Stop following (the model and the curves stay as they are). Safe when not following."""
        f, self.follower = self.follower, None
        if f is None:
            return
        f.stop()
        if self.toolbar is not None:
            self.window.removeToolBar(self.toolbar)
            self.toolbar.deleteLater()
        self.toolbar = self.bar = None
        self.status_label.setVisible(False)
        if not quiet:
            self.window.statusBar().showMessage(f"Stopped following {f.path.name}", 5000)
        f.deleteLater()

    def _show_status(self, text: str) -> None:
        f = self.follower
        name = f.path.name if f is not None else ""
        self.status_label.setText(f"{name}: {text}")
        self.status_label.setToolTip(str(f.path) if f is not None else "")
        self.status_label.setVisible(True)

    def _on_models_changed(self) -> None:
        if self.follower is not None and self.window.models.loading is not None:
            self.stop(quiet=True)  # another model is being opened: the followed checkpoints would replace it
