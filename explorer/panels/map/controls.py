"""The latent map's top bar: encode (how many points), the map coordinates, what colours the
points, the prior's samples on or off, and Cancel. The panel connects the controls.

t-SNE and UMAP come from optional packages: a choice whose package is not installed is
offered disabled, its tooltip saying what to install."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QLabel, QWidget

from models.explore.latent_map import TSNE_INSTALL, UMAP_INSTALL, tsne_available, umap_available

from ...widgets.layout import check_box, hrow, push_button, spin_box
from ...widgets.qt_utils import signals_blocked
from .coordinates import MODE_LATENT, MODE_PCA, MODE_TSNE, MODE_UMAP

#: the coordinates that are fitted in a background job, by their name in the combo
FITTED = {MODE_TSNE: "t-SNE", MODE_UMAP: "UMAP"}
#: per fitted choice: (is its package installed, what tells the user how to get it)
_NEEDS = {
    MODE_TSNE: (tsne_available, f"t-SNE needs scikit-learn, which is not installed:\n  {TSNE_INSTALL}\n"
                                "(or install the app with its map extra: pip install \"latent-explorer[map]\")"),
    MODE_UMAP: (umap_available, f"UMAP needs umap-learn, which is not installed:\n  {UMAP_INSTALL}\n"
                                "(or install the app with its map extra: pip install \"latent-explorer[map]\")"),
}
_TIPS = {
    MODE_TSNE: "t-SNE (scikit-learn): keeps neighbourhoods; can't be inverted (clicks pick the nearest point)",
    MODE_UMAP: "UMAP (umap-learn): keeps neighbourhoods and more of the global layout than t-SNE, and is faster on "
               "many points; can't be inverted (clicks pick the nearest point). The first fit in a session is "
               "slower: UMAP compiles its code then.",
}

ENCODE_TEXT, REENCODE_TEXT = "Encode test set", "Re-encode"


class MapControls(QWidget):
    """``encode_btn``, ``sample``, ``projection``, ``colour``, ``show_prior``, ``cancel_btn``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.encode_btn = push_button(ENCODE_TEXT, "Encode a random sample of the test images with the current model")
        self.sample = spin_box(10, 100_000, 3000, step=500, suffix=" points")
        self.projection = QComboBox()
        self.projection.setToolTip("How codes become map positions. PCA and the latent dims map back to latents;\n"
                                   "t-SNE and UMAP keep neighbourhoods but can't be inverted (clicks pick the "
                                   "nearest point).")
        self.projection.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.colour = QComboBox()
        self.colour.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.colour.setToolTip("Colour points by their label or by a ground-truth factor")
        self.show_prior = check_box(
            "Prior", True,
            "Grey points: as many samples of the model's prior, on the same axes. Where the coloured codes and the "
            "grey prior differ, decoding a random prior sample lands where the decoder saw no data: compare a "
            "VAE's KL with an AAE's adversarial matching. (Not under t-SNE or UMAP, fitted to the codes alone.)")
        self.cancel_btn = push_button("Cancel", enabled=False)
        hrow(self.encode_btn, self.sample, QLabel("Map"), self.projection, QLabel("Colour"), self.colour,
             self.show_prior, self.cancel_btn, stretch=True, parent=self)

    @property
    def mode(self) -> str:
        """The chosen map coordinates."""
        return self.projection.currentData() or MODE_PCA

    def set_modes(self, latent_plane: bool) -> None:
        """The coordinates on offer (the latent dims themselves only for a 2-D latent), quietly;
        a fitted one whose package is missing is shown disabled, saying how to install it."""
        with signals_blocked(self.projection):
            self.projection.clear()
            if latent_plane:
                self.projection.addItem("Latent z0 × z1", MODE_LATENT)
            self.projection.addItem("PCA", MODE_PCA)
            items = self.projection.model()
            assert isinstance(items, QStandardItemModel)
            for mode, name in FITTED.items():
                available, install = _NEEDS[mode]
                ok = available()
                self.projection.addItem(name if ok else f"{name} (not installed)", mode)
                i = self.projection.count() - 1
                items.item(i).setEnabled(ok)
                self.projection.setItemData(i, _TIPS[mode] if ok else install, Qt.ItemDataRole.ToolTipRole)

    def mode_enabled(self, mode: str) -> bool:
        """``mode`` is offered and can be chosen (its package is installed)."""
        i = self.projection.findData(mode)
        items = self.projection.model()
        return i >= 0 and isinstance(items, QStandardItemModel) and items.item(i).isEnabled()

    def show_mode(self, mode: str) -> None:
        """Put the choice back on ``mode`` without asking for a new map."""
        with signals_blocked(self.projection):
            self.projection.setCurrentIndex(max(0, self.projection.findData(mode)))

    def fill_colours(self, labelled: bool, factor_names: list[str]) -> None:
        """Colour choices for these points (keeping the current one where it is still offered), quietly."""
        with signals_blocked(self.colour):
            current = self.colour.currentData()
            self.colour.clear()
            if labelled:
                self.colour.addItem("Label", ("label", 0))
            for j, name in enumerate(factor_names):
                self.colour.addItem(name, ("factor", j))
            self.colour.addItem("None", ("none", 0))
            i = self.colour.findData(current)
            self.colour.setCurrentIndex(max(0, i))

    def colour_choice(self) -> tuple[str, int]:
        """("label", 0), ("factor", j) or ("none", 0)."""
        return self.colour.currentData() or ("none", 0)

    def set_stale(self, stale: bool) -> None:
        self.encode_btn.setText(REENCODE_TEXT if stale else ENCODE_TEXT)
