"""The column beside the latent map: the hovered test image and its label, the colour legend,
and (for a 2-D latent) the decoded manifold."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...widgets.image_view import ImageView
from ...widgets.tiles import Tile

HOVER_HINT = "hover a\npoint"


class MapSidebar(QWidget):
    """``inset`` (the hovered image), ``inset_text``, ``legend`` and ``manifold``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        sl = QVBoxLayout(self)
        sl.setContentsMargins(0, 0, 0, 0)
        self.inset = Tile(80)
        self.inset.set_array(None, HOVER_HINT)
        self.inset_text = QLabel("")
        self.inset_text.setWordWrap(True)
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        self.manifold = ImageView("")
        self.manifold.setMinimumSize(120, 120)
        self.manifold.setToolTip("The decoder's view of the 2-D latent: a grid over the prior's quantiles")
        sl.addWidget(self.inset, 0, Qt.AlignmentFlag.AlignHCenter)
        sl.addWidget(self.inset_text)
        sl.addWidget(self.legend)
        sl.addWidget(self.manifold, 1)
        sl.addStretch(0)

    def reset(self) -> None:
        """Nothing hovered and no manifold (a new model)."""
        self.inset.set_array(None, HOVER_HINT)
        self.inset_text.setText("")
        self.manifold.clear("")

    def show_hover(self, image: np.ndarray, text: str) -> None:
        self.inset.set_array(image)
        self.inset_text.setText(text)

    def add_legend_line(self, html: str) -> None:
        self.legend.setText(self.legend.text() + ("<br>" if self.legend.text() else "") + html)
