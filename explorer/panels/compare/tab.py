"""The shared base of the Compare panel's tabs: the panel's list of models, the current
dataset, the runner the panel lent the tab for its work, and a line for the status bar."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from models.data.base import Dataset

from ...jobs import JobRunner
from ..base import DatasetProvider
from .entry import CompareEntry


class CompareTab(QWidget):
    """A tab that works on ``entries`` (the panel's list, shared: changed in place, never
    replaced) in ``jobs`` (the panel's runner: the panel says its failures and stops it).
    A subclass overrides ``_setup`` (its own attributes), ``_build`` and ``_wire``."""

    #: short user-facing messages (the panel says them)
    status = Signal(str)

    def __init__(self, entries: list[CompareEntry], dataset_provider: DatasetProvider, jobs: JobRunner,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries, self.dataset_provider, self.jobs = entries, dataset_provider, jobs
        self._setup()
        self._build()
        self._wire()

    def _setup(self) -> None:
        """The tab's own state."""

    def _build(self) -> None:
        """Make the tab's controls."""

    def _wire(self) -> None:
        """Connect them."""

    def dataset_or_say(self, why: str) -> Dataset | None:
        """The current dataset; None, after saying ``why`` it is needed, when none is loaded."""
        ds = self.dataset_provider()
        if ds is None:
            self.status.emit(why)
        return ds
