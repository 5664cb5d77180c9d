"""The Paths panel's keyframe list: the keyframes in order with thumbnails and each segment's
interpolation, the buttons that reorder, remove and retype them, and the A − B + C box."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSpinBox, QTableWidget,
    QTableWidgetItem, QVBoxLayout, QWidget,
)

from models.explore.latent_paths import KINDS

from ...widgets.qt_utils import signals_blocked
from ...widgets.tiles import array_to_qimage

THUMB = 36

#: a flat latent -> its decoded (H, W[, C]) uint8 image, or None when there is no model
Decode = Callable[[np.ndarray], "np.ndarray | None"]


@dataclass
class Keyframe:
    flat: np.ndarray  # (input_dim,) float32
    label: str  # where it came from, for the list


class KeyframeList(QWidget):
    """Keyframes and the kind of each segment between them ("Into next").

    The Clear and "Add A − B + C" buttons and a double-click on a row are left to the
    panel, which also stops playback and knows the model."""

    #: the keyframes, their order or a segment's interpolation changed
    changed = Signal()

    def __init__(self, decode: Decode, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.decode = decode
        self.keyframes: list[Keyframe] = []
        self.kinds: list[str] = []  # one per segment
        self._build()
        self._wire()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Keyframe", "Into next"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setDefaultSectionSize(THUMB + 6)
        self.table.verticalHeader().hide()  # the labels number the keyframes
        self.table.setIconSize(QSize(THUMB, THUMB))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setToolTip("Double-click a keyframe to go there")
        self.table.setMinimumHeight(120)
        layout.addWidget(self.table, 1)

        rows = QHBoxLayout()
        self.up_btn, self.down_btn = QPushButton("▲"), QPushButton("▼")
        self.up_btn.setToolTip("Move the selected keyframe earlier")
        self.down_btn.setToolTip("Move the selected keyframe later")
        self.remove_btn, self.clear_btn = QPushButton("Remove"), QPushButton("Clear")
        self.kind_all = QComboBox()
        self.kind_all.addItems(list(KINDS))
        self.kind_all.setCurrentText("slerp")
        self.kind_all.setToolTip("Interpolation of new segments; choosing one sets every segment.\n"
                                 "slerp keeps Gaussian samples at a typical norm (no blurry middle).")
        for w in (self.up_btn, self.down_btn):
            w.setFixedWidth(32)
            rows.addWidget(w)
        rows.addWidget(self.remove_btn)
        rows.addWidget(self.clear_btn)
        rows.addStretch(1)
        rows.addWidget(QLabel("All:"))
        rows.addWidget(self.kind_all)
        layout.addLayout(rows)

        # The DCGAN paper's vector arithmetic on keyframes: A - B + C ("smiling woman -
        # neutral woman + neutral man"): the difference A - B carried over to C.
        arith = QGroupBox("Arithmetic")
        ar = QHBoxLayout(arith)
        self.arith_a, self.arith_b, self.arith_c = QSpinBox(), QSpinBox(), QSpinBox()
        for box, name, tip in ((self.arith_a, "A", "The keyframe with the attribute"),
                               (self.arith_b, "B", "A keyframe like A without the attribute"),
                               (self.arith_c, "C", "The keyframe to give the attribute to")):
            box.setPrefix(f"{name} #")
            box.setRange(1, 1)
            box.setToolTip(tip)
        self.arith_btn = QPushButton("Add A − B + C")
        self.arith_btn.setToolTip("Add the keyframe C + (A − B) and go there: A's difference from B, carried over to C.\n"
                                  "Categorical codes are C's.")
        self.arith_btn.setEnabled(False)  # until there are keyframes
        ar.addWidget(self.arith_a)
        ar.addWidget(QLabel("−"))
        ar.addWidget(self.arith_b)
        ar.addWidget(QLabel("+"))
        ar.addWidget(self.arith_c)
        ar.addWidget(self.arith_btn, 1)
        layout.addWidget(arith)

    def _wire(self) -> None:
        self.up_btn.clicked.connect(lambda: self.move_selected(-1))
        self.down_btn.clicked.connect(lambda: self.move_selected(1))
        self.remove_btn.clicked.connect(self.remove_selected)
        self.kind_all.activated.connect(lambda _i: self.set_all_kinds(self.kind_all.currentText()))

    # -- editing -----------------------------------------------------------------------
    def append(self, flat: np.ndarray, label: str) -> None:
        """Add a keyframe at the end (its segment takes the "All" kind) and select it."""
        if self.keyframes:
            self.kinds.append(self.kind_all.currentText())
        self.keyframes.append(Keyframe(flat, label))
        self._rebuild()
        self.table.selectRow(len(self.keyframes) - 1)

    def set_keyframes(self, keyframes: list[Keyframe], kinds: list[str]) -> None:
        self.keyframes, self.kinds = keyframes, kinds
        self._rebuild()

    def remove_selected(self) -> None:
        row = self.table.currentRow()
        if not 0 <= row < len(self.keyframes):
            return
        del self.keyframes[row]
        if self.kinds:
            del self.kinds[min(row, len(self.kinds) - 1)]
        self._rebuild()
        if self.keyframes:
            self.table.selectRow(min(row, len(self.keyframes) - 1))

    def move_selected(self, step: int) -> None:
        row = self.table.currentRow()
        to = row + step
        if not (0 <= row < len(self.keyframes) and 0 <= to < len(self.keyframes)):
            return
        self.keyframes[row], self.keyframes[to] = self.keyframes[to], self.keyframes[row]
        self._rebuild()
        self.table.selectRow(to)

    def clear(self) -> None:
        self.set_keyframes([], [])

    def set_all_kinds(self, kind: str) -> None:
        self.kinds = [kind] * len(self.kinds)
        self._rebuild()

    def set_kind(self, segment: int, kind: str) -> None:
        self.kinds[segment] = kind
        self.changed.emit()

    def operands(self) -> tuple[int, int, int]:
        """The 1-based keyframe numbers A, B and C of the arithmetic box."""
        return self.arith_a.value(), self.arith_b.value(), self.arith_c.value()

    # -- the table ---------------------------------------------------------------------
    def _rebuild(self) -> None:
        self.table.setRowCount(len(self.keyframes))
        n = max(1, len(self.keyframes))
        boxes = (self.arith_a, self.arith_b, self.arith_c)
        for box in boxes:
            box.setMaximum(n)
        if n >= 3 and all(box.value() == 1 for box in boxes):
            for i, box in enumerate(boxes):  # a starting point that is not 1 - 1 + 1
                box.setValue(i + 1)
        self.arith_btn.setEnabled(len(self.keyframes) >= 2)
        for row, key in enumerate(self.keyframes):
            item = QTableWidgetItem(f"{row + 1}. {key.label}")
            item.setToolTip(f"{key.label}\n|z| = {np.linalg.norm(key.flat):.2f}")
            self.table.setItem(row, 0, item)
            if row < len(self.kinds):
                # reuse the row's combo: replaced cell widgets linger until deleted later
                combo = self.table.cellWidget(row, 1)
                if not isinstance(combo, QComboBox):
                    combo = QComboBox()
                    combo.addItems(list(KINDS))
                    combo.currentTextChanged.connect(lambda text, seg=row: self.set_kind(seg, text))
                    self.table.setItem(row, 1, None)
                    self.table.setCellWidget(row, 1, combo)
                with signals_blocked(combo):
                    combo.setCurrentText(self.kinds[row])
            else:
                self.table.removeCellWidget(row, 1)
                self.table.setItem(row, 1, QTableWidgetItem("end"))
        self.refresh_thumbnails()
        self.changed.emit()

    def refresh_thumbnails(self) -> None:
        for row, key in enumerate(self.keyframes):
            item = self.table.item(row, 0)
            image = self.decode(key.flat)
            if item is not None and image is not None:
                pm = QPixmap.fromImage(array_to_qimage(image)).scaled(
                    THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
                item.setIcon(QIcon(pm))
