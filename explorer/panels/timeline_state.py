"""What the Timeline panel shows: a run's snapshots, which of them is current, and what it
decodes with it (the point, the Paths panel's path, or a traversal grid: ``view``).

Kept apart from the widgets (napari style): the panel's slider writes the position here and
follows ``position_changed`` with its signals blocked; the decode job reads the current
snapshot from here. A snapshot that failed to load is remembered with its message, so
playing skips it and the slider says why it shows nothing there.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from models.explore.timeline import VIEW_PATH, VIEW_POINT, VIEW_TRAVERSAL
from models.runs.snapshots import SnapshotIndex, SnapshotInfo

#: the views the timeline offers
VIEWS = (VIEW_POINT, VIEW_PATH, VIEW_TRAVERSAL)


class TimelineState(QObject):
    """A run's snapshots (a SnapshotIndex, or None before one is listed) and the current one."""

    #: SnapshotIndex | None: another run, or the same one listed again
    index_changed = Signal(object)
    #: the current snapshot's position in ``snapshots``
    position_changed = Signal(int)
    #: what is decoded with the snapshot: one of VIEWS
    view_changed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.index: SnapshotIndex | None = None
        self.position = 0
        #: snapshots that failed to load: path -> the message
        self.unreadable: dict[Path, str] = {}
        self.view = VIEW_POINT

    @property
    def run(self) -> Path | None:
        return self.index.run if self.index is not None else None

    @property
    def snapshots(self) -> list[SnapshotInfo]:
        return self.index.snapshots if self.index is not None else []

    @property
    def current(self) -> SnapshotInfo | None:
        snaps = self.snapshots
        return snaps[self.position] if 0 <= self.position < len(snaps) else None

    def set_index(self, index: SnapshotIndex | None) -> None:
        """A run's snapshots. The same run listed again stays at the step it showed (if that
        snapshot is still kept); another run starts at its newest snapshot, the model that
        was open."""
        same_run = self.index is not None and index is not None and index.run == self.index.run
        step = self.current.step if same_run and self.current is not None else None
        if not same_run:
            self.unreadable = {}
        self.index = index
        steps = [s.step for s in self.snapshots]
        self.position = steps.index(step) if step in steps else max(0, len(steps) - 1)
        self.index_changed.emit(index)
        self.position_changed.emit(self.position)

    def set_position(self, position: int) -> None:
        position = max(0, min(int(position), len(self.snapshots) - 1))
        if position != self.position:
            self.position = position
            self.position_changed.emit(position)

    def set_view(self, view: str) -> None:
        """Decode ``view`` (one of VIEWS) with the snapshots from now on."""
        if view not in VIEWS:
            raise ValueError(f"unknown timeline view {view!r}; one of {', '.join(VIEWS)}")
        if view != self.view:
            self.view = view
            self.view_changed.emit(view)

    @property
    def readable(self) -> list[SnapshotInfo]:
        """The snapshots not known to be unreadable, oldest first."""
        return [s for s in self.snapshots if s.path not in self.unreadable]

    def mark_unreadable(self, info: SnapshotInfo, message: str) -> None:
        self.unreadable[info.path] = message

    def next_position(self) -> int | None:
        """The next readable snapshot after the current one, from the first after the last;
        None when none is readable."""
        snaps = self.snapshots
        for k in range(1, len(snaps) + 1):
            i = (self.position + k) % len(snaps)
            if snaps[i].path not in self.unreadable:
                return i
        return None
