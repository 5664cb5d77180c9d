"""The strip shown while the window follows a run another process is writing: where the run
stands ("following (last update 3 s ago)", "run finished (step 2000)"), which checkpoint the
sliders decode and whether a newer one is on disk, a toggle to load each new one as it
appears, "Reload now", and "Stop following". It only wires: the state is
:class:`explorer.run_follower.RunFollower`'s."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from ..run_follower import RunFollower
from ..widgets.layout import CAPTION_STYLE, check_box, hrow, push_button
from ..widgets.qt_utils import connect_all, signals_blocked


class FollowBar(QWidget):
    """Controls of one :class:`RunFollower`."""

    #: the user asked to stop following (the window stops the follower and hides the bar)
    stop_requested = Signal()

    def __init__(self, follower: RunFollower, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.follower = follower
        self.title = QLabel(f"<b>{follower.path.name}</b>:")
        self.title.setToolTip(str(follower.path))
        self.status = QLabel()
        _set_text(self.status, follower.status or "starting…")
        self.checkpoint = QLabel("no checkpoint yet")
        self.checkpoint.setStyleSheet(CAPTION_STYLE)
        for label in (self.status, self.checkpoint):  # long texts are cut, never widen the window
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            label.setMinimumWidth(80)
        self.auto_reload = check_box(
            "Reload newest checkpoint automatically", follower.auto_reload,
            tooltip="Load each new checkpoint of the run into the sliders as soon as it is written\n"
                    "(the latent point stays where it is)")
        self.reload = push_button("Reload now", "Load the run's newest checkpoint into the sliders",
                                  enabled=follower.reload_available, clicked=follower.reload_now)
        self.stop = push_button("Stop following", "Stop watching the run folder (the model stays open)",
                                clicked=self.stop_requested.emit)
        hrow(self.title, (self.status, 2), (self.checkpoint, 2), self.auto_reload, self.reload, self.stop, parent=self)
        self.layout().setContentsMargins(6, 2, 6, 2)
        connect_all([
            (self.auto_reload.toggled, follower.set_auto_reload),
            (follower.status_changed, lambda text: _set_text(self.status, text)),
            (follower.checkpoint_changed, lambda _path: self._show_checkpoint()),
            (follower.checkpoint_loaded, lambda _ckpt: self._show_checkpoint()),
            (follower.reload_available_changed, lambda _on: self._show_checkpoint()),
        ])
        self._show_checkpoint()

    def _show_checkpoint(self) -> None:
        f = self.follower
        with signals_blocked(self.auto_reload):
            self.auto_reload.setChecked(f.auto_reload)
        self.reload.setEnabled(f.reload_available)
        if f.checkpoint_step is None:
            text = "no checkpoint yet"
        elif f.reload_available:
            shown = f"showing step {f.loaded_step}" if f.loaded_step is not None else "not loaded"
            text = f"newest checkpoint: step {f.checkpoint_step} ({shown})"
        else:
            text = f"showing the newest checkpoint (step {f.loaded_step})"
        _set_text(self.checkpoint, text)


def _set_text(label: QLabel, text: str) -> None:
    """A label that may be cut when the window is narrow: the whole text is its tooltip."""
    label.setText(text)
    label.setToolTip(text)
