"""The Timeline panel: watch the model learn. The current latent point decoded with any
snapshot its run kept (:mod:`models.runs.snapshots`): drag the slider through training, or
play it to see the same point from the first snapshot to the last. "Show" picks what is
decoded (:class:`~models.explore.timeline.TimelineView`): the point, the Paths panel's path
as a strip of frames (its source is set by the window: :meth:`TimelinePanel.set_path_source`),
or a traversal grid around the point whose rows, the z dims that change the image most, are
ranked once by the run's newest snapshot so they stay put through training.

The run is the open model's (a checkpoint inside a run folder), or one opened here. Listing a
run reads each snapshot's header in a job; decoding loads the snapshot's decoder tensors and
decodes in another, newest-wins, so dragging the slider never queues stale work. Decoded
frames are kept for the current view, so a second pass of Play decodes nothing. Playing
waits for each frame before the next, so every snapshot is shown. A snapshot that cannot be
read is skipped with one line saying why.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import Qt, SignalInstance
from PySide6.QtWidgets import QComboBox, QLabel, QSlider

from models.explore.latent_paths import LatentPath
from models.explore.timeline import (VIEW_PATH, VIEW_POINT, VIEW_TRAVERSAL, SnapshotDecoder, TimelineView,
                                     path_frame_count, rank_traversal, render_view)
from models.runs.run_dir import RunDir
from models.runs.snapshots import SnapshotError, SnapshotIndex, SnapshotInfo, list_snapshots, run_folder

from ..widgets.image_view import ImageView
from ..widgets.layout import double_spin_box, hrow, push_button
from ..widgets.playback import frame_interval_ms, play_button, show_playing
from ..widgets.qt_utils import signals_blocked
from .base import ExplorePanel, open_folder
from .timeline_state import TimelineState

#: a run being trained is listed again at most this often (its snapshots come and go)
RELIST_MS = 2000
#: the Show choices: (label, view, tooltip)
VIEW_CHOICES = (
    ("Point", VIEW_POINT, "The current point, decoded with the snapshot"),
    ("Path", VIEW_PATH, "The Paths panel's path as a strip of frames (every keyframe among them), decoded with "
                        "the snapshot"),
    ("Traversal", VIEW_TRAVERSAL, "A traversal grid around the current point: rows are the z dims that change the "
                                  "newest snapshot's image most, columns sweep each over the slider range"),
)
#: views whose decoded frames are kept (a grid each per snapshot: ~50 kB for 28x28 images)
KEPT_VIEWS = 3
NO_PATH = "Build a path in the Paths panel (two keyframes or more) to watch it through training."


class TimelinePanel(ExplorePanel):
    """A slider over a run's snapshots decoding the current point (or path, or traversal), with Play/Pause."""

    NO_MODEL_HINT = ("Open a model from a run folder (or train one) to watch it learn: the timeline decodes the "
                     "current point with each snapshot the run kept.")

    def _setup(self) -> None:
        self.state = TimelineState(self)
        self.decoder = SnapshotDecoder()  # used only by the decode jobs, one at a time
        self.jobs = self.job_runner("timeline", failure_prefix="Timeline: ")
        self.list_jobs = self.job_runner("timeline-list", failure_prefix="Could not list the run's snapshots: ")
        self.play_timer = self.make_timer(250, self._tick, single_shot=False)
        self._relist = self.make_timer(RELIST_MS, self.refresh)
        # decoded frames by view key (TimelineView.key), then by snapshot: the last few views
        # shown, so going back to one (Point, then Traversal again) decodes nothing
        self._frames: OrderedDict[bytes, dict[Path, np.ndarray]] = OrderedDict()
        self._dims: dict[tuple[Path | None, bytes], tuple[int, ...]] = {}  # traversal rows, per run and point
        self._path_source: Callable[[], LatentPath | None] | None = None
        self._dirty = False

    # -- construction ------------------------------------------------------------------
    def _build(self) -> None:
        layout = self.make_body()
        self.run_label = QLabel("No run")
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_btn = push_button("Open Run…", "A run folder whose snapshots to play", clicked=self.load_run)
        self.refresh_btn = push_button("Refresh", "List the run's snapshots again (a run being trained adds some)",
                                       clicked=self._refresh_clicked)
        layout.addLayout(hrow((self.run_label, 1), self.open_btn, self.refresh_btn))
        self.view = ImageView("Open a run that kept snapshots.")
        self.view.setMinimumSize(160, 160)
        layout.addWidget(self.view, 1)
        self.play_btn = play_button("Play the view through training")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("The snapshot decoding the view (left: early training)")
        self.step_label = QLabel("")
        self.fps = double_spin_box(0.5, 30.0, 4.0, suffix=" fps", tooltip="Snapshots per second while playing")
        self.show_view = QComboBox()
        for i, (label, view, tip) in enumerate(VIEW_CHOICES):
            self.show_view.addItem(label, view)
            self.show_view.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        self.show_view.setToolTip("What each snapshot decodes")
        layout.addLayout(hrow(self.play_btn, (self.slider, 1)))
        layout.addLayout(hrow(QLabel("Show"), self.show_view, (self.step_label, 1), self.fps))
        self.add_message_line(layout)
        self.add_busy_bar(layout, self.jobs, self.list_jobs)

    def _wire(self) -> None:
        self.state.index_changed.connect(self._on_index)
        self.state.position_changed.connect(self._on_position)
        self.state.view_changed.connect(lambda _view: self.request())
        self.show_view.currentIndexChanged.connect(lambda _i: self.state.set_view(self.show_view.currentData()))
        self.slider.valueChanged.connect(self._on_slider)
        self.play_btn.toggled.connect(self._on_play_toggled)
        self.fps.valueChanged.connect(lambda fps: self.play_timer.setInterval(frame_interval_ms(fps)))
        self.latent_state.changed.connect(lambda _flat: self.request())
        self.model_state.weights_updated.connect(self._on_weights_updated)

    # -- the run -----------------------------------------------------------------------
    def set_path_source(self, path: Callable[[], LatentPath | None], *changed: SignalInstance) -> None:
        """Where the Path view's path comes from (the Paths panel's ``path``), and the
        signals that say it changed (its keyframe list's ``changed``)."""
        self._path_source = path
        for signal in changed:
            signal.connect(self._on_path_changed)

    def _on_path_changed(self) -> None:
        if self.state.view == VIEW_PATH:
            self.request()

    def on_model_changed(self, model: object) -> None:
        self._frames, self._dims = OrderedDict(), {}
        if not self.refresh_availability():
            self.stop()
            return
        run = RunDir.of_checkpoint(self.model_state.source)
        if run is not None and run.path != self.state.run:
            self.load_run(run.path)
        else:
            self.request()

    def load_run(self, path: str | Path | None = None) -> None:
        """List the snapshots of the run folder ``path`` (None: ask for one) and show them."""
        if path is None:
            path = open_folder(self, "Open a run folder")
            if path is None:
                return
        folder = run_folder(path)
        self.run_label.setText(folder.name)
        self.run_label.setToolTip(str(folder))
        self.say(f"Listing the snapshots of {folder.name}…")
        self.list_jobs.submit(lambda ctx: list_snapshots(folder), on_done=self._on_listed)

    def refresh(self) -> None:
        """List the current run again (the status bar hears of it only when something is wrong)."""
        if self.state.run is not None:
            folder = self.state.run
            self.list_jobs.submit(lambda ctx: list_snapshots(folder), on_done=lambda index: self._on_listed(index, True))

    def _refresh_clicked(self) -> None:
        self.state.unreadable = {}  # asked for: try the ones that failed again too
        self.refresh()

    def _on_listed(self, index: SnapshotIndex, again: bool = False) -> None:
        self.state.set_index(index)
        if index.note:
            self.say(index.note)
        elif index.problems:
            more = f" (and {len(index.problems) - 1} more)" if len(index.problems) > 1 else ""
            self.say(f"Skipped a snapshot: {index.problems[0]}{more}")
        else:
            text = (f"{len(index.snapshots)} snapshots of {index.run.name}, steps {index.snapshots[0].step:,} "
                    f"to {index.snapshots[-1].step:,}")
            if again and self.message is not None:
                self.message.setText(text)  # a run being trained is listed every few seconds: not news
            else:
                self.say(text)

    def _on_weights_updated(self) -> None:
        # a run being trained keeps adding (and thinning) snapshots: list it again, now and then
        if self.state.run is not None and not self._relist.isActive():
            self._relist.start()

    def _on_index(self, index: SnapshotIndex | None) -> None:
        n = len(self.state.snapshots)
        with signals_blocked(self.slider):
            self.slider.setRange(0, max(0, n - 1))
        for w in (self.slider, self.play_btn):
            w.setEnabled(n > 1)
        if not n:
            self.stop()
            self.step_label.setText("")
            self.view.clear(index.note if index is not None and index.note else "Open a run that kept snapshots.")

    def _on_position(self, position: int) -> None:
        with signals_blocked(self.slider):
            self.slider.setValue(position)
        info = self.state.current
        if info is not None:
            self.step_label.setText(f"{info.label()}  ({position + 1} of {len(self.state.snapshots)})")
        self.request()

    def _on_slider(self, value: int) -> None:
        self.state.set_position(value)

    # -- decoding ----------------------------------------------------------------------
    def request(self) -> None:
        """Show the view decoded with the current snapshot (cached, or in a job)."""
        info = self.state.current
        if info is None or self.model_state.model is None:
            return
        if not self.shown:
            self._dirty = True
            return
        view = self._view(info.input_dim)
        if isinstance(view, str):
            self.view.clear(view)
            return
        key = view.key()
        frames = self._frames.setdefault(key, {})
        self._frames.move_to_end(key)
        while len(self._frames) > KEPT_VIEWS:
            self._frames.popitem(last=False)
        if info.path in self.state.unreadable:
            self.view.clear(f"{info.label()}: {self.state.unreadable[info.path]}")
            return
        cached = frames.get(info.path)
        if cached is not None:
            self.view.set_image(cached)
            return
        decoder, newest_first = self.decoder, self.state.readable[::-1]
        unranked = view.kind == VIEW_TRAVERSAL and view.dims is None

        def job(ctx) -> tuple[SnapshotInfo, bytes, np.ndarray | None, TimelineView, str | None]:
            try:
                # rows ranked by the newest snapshot (once per point), not by the one shown
                ranked = rank_traversal(decoder, view, newest_first) if unranked else view
                image, shown = render_view(decoder, info, ranked)
                return info, key, _for_view(image), shown, None
            except SnapshotError as e:  # this snapshot only: the rest of the timeline plays on
                return info, key, None, view, str(e)

        self.jobs.submit(job, on_done=self._on_decoded)

    def _view(self, input_dim: int) -> TimelineView | str:
        """What to decode now, or why nothing can be (said in the view)."""
        flat = self.latent_state.flat
        kind = self.state.view
        if kind == VIEW_PATH:
            path = self._path_source() if self._path_source is not None else None
            if path is None or len(path.keyframes) < 2:
                return NO_PATH
            if path.dim != input_dim:
                return (f"This run's models take {input_dim} latent values; the path's keyframes have {path.dim}. "
                        "Open this run's model to play its path.")
            return TimelineView(kind, flat, path, path_frame_count(path))
        if flat.shape[0] != input_dim:
            return (f"This run's models take {input_dim} latent values; the open model's point has "
                    f"{flat.shape[0]}. Open this run's model to play its point.")
        if kind == VIEW_TRAVERSAL:
            return TimelineView(kind, flat, dims=self._dims.get((self.state.run, flat.tobytes())))
        return TimelineView(kind, flat)

    def _on_decoded(self, result: tuple[SnapshotInfo, bytes, np.ndarray | None, TimelineView, str | None]) -> None:
        info, key, image, shown, problem = result
        if problem is not None and not info.path.exists():
            # a run still training thinned it away since the listing: list the run again
            self.refresh()
            return
        if problem is not None:
            self.state.mark_unreadable(info, problem)
            self.say(f"Skipped {info.label()}: {problem}")
        elif key in self._frames:
            self._frames[key][info.path] = image
            if shown.dims is not None:
                self._dims[(self.state.run, np.asarray(shown.point, np.float32).tobytes())] = shown.dims
        if info == self.state.current:
            if image is None:
                self.view.clear(f"{info.label()}: {problem}")
            else:
                self.view.set_image(image)
                if shown.kind == VIEW_TRAVERSAL and shown.dims is not None and self.message is not None:
                    self.message.setText("Traversal rows: " + ", ".join(f"z{d}" for d in shown.dims) +
                                         " (the dims that change the newest snapshot's image most here); columns "
                                         "sweep each over the slider range")

    def on_shown(self) -> None:
        if self._dirty:
            self._dirty = False
            self.request()

    # -- playing -----------------------------------------------------------------------
    def play(self) -> None:
        self.play_btn.setChecked(True)

    def stop(self) -> None:
        self.play_btn.setChecked(False)
        self.play_timer.stop()

    @property
    def playing(self) -> bool:
        return self.play_timer.isActive()

    def _on_play_toggled(self, on: bool) -> None:
        show_playing(self.play_btn, on)
        if not on:
            self.play_timer.stop()
            return
        if len(self.state.snapshots) < 2:
            self.play_btn.setChecked(False)
            return
        self.play_timer.start(frame_interval_ms(self.fps.value()))

    def _tick(self) -> None:
        if self.jobs.busy:
            return  # the frame shown last is still being decoded: every snapshot gets its turn
        nxt = self.state.next_position()
        if nxt is None:
            self.stop()
            self.say("No snapshot of this run could be read.")
            return
        self.state.set_position(nxt)


def _for_view(image: np.ndarray) -> np.ndarray:
    """(H, W, C) uint8 -> what the image view shows: (H, W) for grey, a fresh array."""
    return image[..., 0].copy() if image.shape[2] == 1 else np.ascontiguousarray(image)
