"""What the mouse means on the latent map: a click on a point goes to that point's code (on
empty space, to the latent the position maps back to), hovering shows the test image under
the cursor, and a shift+drag stroke becomes a path of keyframes evenly spaced along it."""
from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np
import torch
from PySide6.QtCore import QObject, QPointF, Signal

from models.data.base import Dataset
from models.explore.latent_paths import LatentPath, path_from_keyframes

from models.io.images import to_display

from ...state import LatentState, ModelState
from .coordinates import MODE_LATENT, latent_at, nearest_point, resample_stroke
from .jobs import Encoded
from .plot import MapPlot
from .sidebar import MapSidebar

#: a hover or click within this many screen pixels of a point hits it
HIT_PX = 8.0
#: keyframes a drawn stroke becomes
STROKE_KEYFRAMES = 6


class ShownMap(Protocol):
    """The points on the map now (the panel): their codes, positions and coordinates."""

    encoded: Encoded | None
    coords: np.ndarray | None  # (N, 2)

    @property
    def mode(self) -> str: ...


class MapPointer(QObject):
    """Turns clicks, hovers and strokes at map coordinates into latents, paths and messages."""

    #: short user-facing messages
    status = Signal(str)
    #: a path drawn on the map (shift+drag), for the Paths panel
    path_drawn = Signal(object)  # LatentPath

    def __init__(self, shown: ShownMap, model_state: ModelState, latent_state: LatentState,
                 dataset_provider: Callable[[], "Dataset | None"], plot: MapPlot, sidebar: MapSidebar,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.shown, self.model_state, self.latent_state, self.dataset_provider = shown, model_state, latent_state, dataset_provider
        self.plot, self.sidebar = plot, sidebar
        self.hovered: int | None = None
        self._stroke: list[tuple[float, float]] = []

    def nearest(self, x: float, y: float, radius_px: float = HIT_PX) -> int | None:
        """Index of the point nearest (x, y) in screen pixels, if within ``radius_px``."""
        coords = self.shown.coords
        if coords is None or not len(coords):
            return None
        return nearest_point(coords, x, y, self.plot.pixel_size(), radius_px)

    def _latent_at(self, x: float, y: float, snap: bool = False) -> np.ndarray | None:
        """The latent at a map position: the inverse map, or the nearest code (t-SNE)."""
        enc, spec = self.shown.encoded, self.model_state.spec
        if enc is None or spec is None:
            return None
        return latent_at(self.shown.mode, spec, enc.pca, enc.codes, self.shown.coords, x, y, snap,
                         keep=self.latent_state.flat)

    # -- clicks ------------------------------------------------------------------------
    def click_at(self, x: float, y: float) -> None:
        """A click at map coordinates: a point goes to its code, empty space to the inverse map."""
        i = self.nearest(x, y)
        if i is not None:
            self.select_point(i)
            return
        flat = self._latent_at(x, y)
        if flat is None:
            if self.shown.encoded is not None:
                self.status.emit("t-SNE and UMAP positions can't be mapped back to latents: click a point.")
            return
        self.latent_state.set_flat(flat)
        self.status.emit(f"({x:.2f}, {y:.2f}) on the {'latent plane' if self.shown.mode == MODE_LATENT else 'PCA plane'}")

    def select_point(self, i: int) -> None:
        enc = self.shown.encoded
        if enc is None or not 0 <= i < len(enc.codes):
            return
        self.latent_state.set_flat(enc.codes[i])
        self.status.emit(f"Test image #{int(enc.indices[i])}{self._label_text(i)}: its code is now the slider state.")

    def _label_text(self, i: int) -> str:
        enc = self.shown.encoded
        if enc is None or enc.labels is None:
            return ""
        y = int(enc.labels[i])
        ds = self.dataset_provider()
        return f" (label {ds.class_names[y] if ds is not None and y < len(ds.class_names) else y})"

    def on_scatter_clicked(self, _item: object, _points: object, ev: Any) -> None:
        self.click_at(*self.plot.to_map(ev.scenePos()))

    # -- hover -------------------------------------------------------------------------
    def on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self.shown.coords is None or not self.plot.viewbox.sceneBoundingRect().contains(scene_pos):
            return
        self.hover_at(*self.plot.to_map(scene_pos))

    def hover_at(self, x: float, y: float) -> None:
        i = self.nearest(x, y)
        if i is None or i == self.hovered:
            return
        self.hovered = i
        ds, enc = self.dataset_provider(), self.shown.encoded
        if ds is None or enc is None:
            return
        index = int(enc.indices[i])
        image = ds.test.batch(torch.tensor([index]))[0]
        self.sidebar.show_hover(to_display(image), f"test #{index}{self._label_text(i)}")

    # -- strokes -----------------------------------------------------------------------
    def stroke_start(self, x: float, y: float) -> None:
        self._stroke = []

    def stroke_add(self, x: float, y: float) -> None:
        self._stroke.append((x, y))
        self.plot.set_stroke(np.asarray(self._stroke, np.float32))

    def stroke_finish(self) -> LatentPath | None:
        """Turn the drawn stroke into a path: keyframes evenly spaced along it."""
        pts, self._stroke = np.asarray(self._stroke, np.float64), []
        model = self.model_state.model
        if model is None or self.shown.encoded is None or len(pts) < 2:
            return None
        along = resample_stroke(pts, STROKE_KEYFRAMES)
        if along is None:
            return None
        keys: list[np.ndarray] = []
        for x, y in zip(*along):
            flat = self._latent_at(float(x), float(y), snap=True)
            if flat is not None and not (keys and np.array_equal(keys[-1], flat)):
                keys.append(flat)
        if len(keys) < 2:
            self.status.emit("Draw a longer stroke: it passed too few distinct points.")
            return None
        with self.model_state.lock:
            # linear: the stroke lies in a plane of the latent space (latent dims or PCA)
            path = path_from_keyframes(model, keys, kind="linear", checkpoint=self.model_state.source)
        self.path_drawn.emit(path)
        self.status.emit(f"Drawn path with {len(keys)} keyframes sent to the Paths panel.")
        return path
