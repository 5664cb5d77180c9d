"""Slider rows for latents too wide to build a widget per dimension.

A model may have thousands of latent dimensions (a 20,000-dimension latent would take
minutes to build as rows, and as long again to lay out). :class:`VirtualDimRows` builds only
the rows that fit on screen, a pool of :class:`~.latent_rows.DimRow`, and a scroll bar over
the whole list: scrolling shows other dimensions in the same rows. Rows only display and
forward, as the built rows do: the panel keeps the values, the KL and the order, hands them
over with :meth:`set_values`, :meth:`set_kl` and :meth:`set_order`, and hears a user's edit
through ``on_value(dim, value)`` and ``on_reset(dim)``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QHBoxLayout, QScrollBar, QVBoxLayout, QWidget

from .latent_rows import DimRow, GestureTarget, factor_label_width, set_quietly

#: rows the pool may grow to (a very tall screen); more than that are never on screen
MAX_POOL = 120


class VirtualDimRows(QWidget):
    """``count`` dimension rows named ``prefix<name_offset + i>``, of which only the visible ones exist."""

    def __init__(self, prefix: str, value_range: tuple[float, float], tooltip: Callable[[int], str],
                 on_value: Callable[[int, float], None], on_reset: Callable[[int], None],
                 name_offset: int = 0, gestures: GestureTarget | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prefix, self.value_range, self.tooltip = prefix, value_range, tooltip
        self.name_offset = name_offset
        self.gestures = gestures  # where a slider press..release is reported: one undo step per drag
        self.on_value, self.on_reset = on_value, on_reset
        self.count = 0
        self.values = np.zeros(0, np.float32)
        self.kl: np.ndarray | None = None
        self.factors: dict[int, tuple[str, ...]] = {}
        self.factor_width = 0
        self.order: np.ndarray = np.zeros(0, np.int64)  # position -> dimension
        #: the rows that exist, top to bottom; ``dims[j]`` is the dimension row j shows (-1: none)
        self.pool: list[DimRow] = []
        self.dims: list[int] = []
        self._row_height = DimRow("z0", value_range, "").sizeHint().height() + 2

        self.rows_box = QWidget()
        self.rows_layout = QVBoxLayout(self.rows_box)
        self.rows_layout.setContentsMargins(0, 0, 0, 0)
        self.rows_layout.setSpacing(2)
        self.rows_layout.addStretch(1)
        self.scrollbar = QScrollBar(Qt.Orientation.Vertical)
        self.scrollbar.setSingleStep(1)
        self.scrollbar.valueChanged.connect(lambda _v: self.refresh())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.rows_box, 1)
        layout.addWidget(self.scrollbar)
        self.setMinimumHeight(self._row_height * 3)

    # -- what it shows -------------------------------------------------------------------
    def set_count(self, count: int) -> None:
        self.count = count
        self.values = np.zeros(count, np.float32)
        self.kl = None
        self.factors, self.factor_width = {}, 0
        self.order = np.arange(count)
        self.scrollbar.setValue(0)
        self._fit()

    def set_values(self, values: np.ndarray) -> None:
        """The value of every dimension (the panel's copy; only the visible rows read it)."""
        self.values = values
        self.refresh()

    def set_factors(self, factors: dict[int, tuple[str, ...]]) -> None:
        """The factor labels of the dimensions (see ``DimRow.show_factors``)."""
        self.factors = dict(factors)
        self.factor_width = factor_label_width(self, self.factors)  # once, not at every scroll
        self.refresh()

    def set_kl(self, kl: np.ndarray | None) -> None:
        self.kl = kl
        self.refresh()

    def set_order(self, order: np.ndarray | None) -> None:
        """Which dimension each position shows (None: 0, 1, 2…)."""
        self.order = np.arange(self.count) if order is None else np.asarray(order, np.int64)
        self.refresh()

    @property
    def first(self) -> int:
        """The position of the top row."""
        return self.scrollbar.value()

    def scroll_to(self, dim: int) -> None:
        """Bring dimension ``dim`` into view."""
        where = np.flatnonzero(self.order == dim)
        if where.size:
            position = int(where[0])
            if not self.first <= position < self.first + len(self.pool):
                self.scrollbar.setValue(position)

    def row_of(self, dim: int) -> DimRow | None:
        """The row showing dimension ``dim``, while it is in view."""
        return self.pool[self.dims.index(dim)] if dim in self.dims else None

    # -- the pool --------------------------------------------------------------------------
    def _fit(self) -> None:
        """As many rows as the height holds (at least one), the scroll bar over the rest."""
        wanted = max(1, min(MAX_POOL, self.count, self.height() // self._row_height))
        while len(self.pool) < wanted:
            row = DimRow(f"{self.prefix}0", self.value_range, "", gestures=self.gestures)
            row.slider.valueChanged.connect(lambda value, row=row: self._edited(row, value))
            row.reset.clicked.connect(lambda _checked=False, row=row: self._reset(row))
            self.rows_layout.insertWidget(self.rows_layout.count() - 1, row)
            self.pool.append(row)
            self.dims.append(-1)
        while len(self.pool) > wanted:
            row = self.pool.pop()
            self.dims.pop()
            self.rows_layout.removeWidget(row)
            row.deleteLater()
        self.scrollbar.setRange(0, max(0, self.count - len(self.pool)))
        self.scrollbar.setPageStep(max(1, len(self.pool)))
        self.refresh()

    def refresh(self) -> None:
        first = self.first
        for j, row in enumerate(self.pool):
            position = first + j
            if position >= self.count:
                self.dims[j] = -1
                row.setVisible(False)
                continue
            dim = int(self.order[position])
            if self.dims[j] != dim:
                self.dims[j] = dim
                name = f"{self.prefix}{self.name_offset + dim}"
                row.name.setText(name)
                tip = self.tooltip(dim)
                row.name.setToolTip(tip)
                row.slider.setToolTip(tip)
                row.reset.setToolTip(f"Reset {name} to 0")
            set_quietly(row.slider, float(self.values[dim]) if dim < len(self.values) else 0.0)
            row.show_kl(float(self.kl[dim]) if self.kl is not None and dim < len(self.kl) else None)
            row.show_factors(self.factors.get(dim, ()), self.factor_width)
            row.setVisible(True)

    def _edited(self, row: DimRow, value: float) -> None:
        dim = self.dims[self.pool.index(row)]
        if dim >= 0:
            self.on_value(dim, float(value))

    def _reset(self, row: DimRow) -> None:
        dim = self.dims[self.pool.index(row)]
        if dim >= 0:
            self.on_reset(dim)

    # -- Qt events -------------------------------------------------------------------------
    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._fit()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt naming
        steps = event.angleDelta().y() // 40
        self.scrollbar.setValue(self.scrollbar.value() - steps)
        event.accept()
