"""The Paths panel: interpolation paths built from keyframes, played through LatentState,
exported as GIF/PNG/JSON or sent to the Compare panel.

Frames are latents (``LatentPath.frames``, numpy, microseconds), so playback
(``playback.PathPlayback``) costs one decode per tick, done by the main view's decoder.
Exports (``export.PathExport``) decode every frame at once in a background job on a model copy.

Keyframes are flat latents of the current model. A new model with the same latent layout
keeps them (paths are meant to be replayed through other models: that is what "Send to
compare" is for); a different layout clears them. This module adds keyframes from their
sources (the sliders, the prior, test images, image files, arithmetic) and wires the parts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QGridLayout, QGroupBox, QPushButton, QSpinBox, QWidget

from models.data.base import Dataset
from models.explore.latent_paths import LatentPath, ModelIdentity, latent_arithmetic, random_path
from models.io.images import IMAGE_SUFFIXES

from ...image_input import IMAGE_FILTER, encode_images, load_image_file
from ...model_access import decode_one
from ...state import LatentState, ModelState
from ...widgets.layout import caption_label, install_hint_stack, panel_body, thin_busy_bar
from .export import PathExport
from .keyframe_list import Keyframe, KeyframeList
from .playback import PathPlayback

DatasetProvider = Callable[[], "Dataset | None"]


class PathsPanel(QWidget):
    """Build a path from keyframes, play it through LatentState, export or send it on.
    The parts' controls the window and tests use are reachable from the panel too."""

    #: "Send to compare": the current path, for playing across several models
    path_ready = Signal(object)  # LatentPath
    #: short user-facing messages (also shown in the panel)
    status = Signal(str)

    def __init__(self, model_state: ModelState, latent_state: LatentState, dataset_provider: DatasetProvider,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_state, self.latent_state, self.dataset_provider = model_state, latent_state, dataset_provider
        self._frames: np.ndarray | None = None  # cache of path().frames(n)
        self._random_seed = 0
        self._thumb_timer = QTimer(self, singleShot=True, interval=400)  # coalesce weight snapshots
        self.setAcceptDrops(True)
        self._build()
        self._wire()
        self._on_model_changed(model_state.model)

    # -- construction ------------------------------------------------------------------
    def _build(self) -> None:
        body, layout = panel_body()

        add = QGroupBox("Add keyframe")
        grid = QGridLayout(add)
        self.add_current_btn = QPushButton("Current point")
        self.add_current_btn.setToolTip("Add the point the sliders show now")
        self.add_random_btn = QPushButton("Random sample")
        self.add_random_btn.setToolTip("Add a point drawn from the prior")
        self.test_index = QSpinBox()
        self.test_index.setRange(0, 0)
        self.test_index.setPrefix("#")
        self.add_test_btn = QPushButton("Test image")
        self.add_test_btn.setToolTip("Encode the test image with this index")
        self.add_file_btn = QPushButton("Image file…")
        self.add_file_btn.setToolTip("Encode an image file (you can also drop images on this panel)")
        grid.addWidget(self.add_current_btn, 0, 0)
        grid.addWidget(self.add_random_btn, 0, 1, 1, 2)
        grid.addWidget(self.add_test_btn, 1, 0)
        grid.addWidget(self.test_index, 1, 1)
        grid.addWidget(self.add_file_btn, 1, 2)
        layout.addWidget(add)

        self.keyframe_list = KeyframeList(lambda flat: decode_one(self.model_state, flat))
        layout.addWidget(self.keyframe_list, 1)
        self.playback = PathPlayback(self.frames, self.latent_state.set_flat)
        layout.addWidget(self.playback)
        self.export = PathExport(self.model_state, self.path, self.frame_count, self.set_path)
        layout.addWidget(self.export)
        self.progress = thin_busy_bar()
        layout.addWidget(self.progress)
        self.message = caption_label()
        layout.addWidget(self.message)

        # the parts' controls the window and tests reach through the panel
        self.table = self.keyframe_list.table
        self.arith_a, self.arith_b, self.arith_c = (self.keyframe_list.arith_a, self.keyframe_list.arith_b,
                                                    self.keyframe_list.arith_c)
        self.arith_btn = self.keyframe_list.arith_btn
        self.frames_per_segment, self.fps = self.playback.frames_per_segment, self.playback.fps
        self.loop, self.pingpong, self.timeline = self.playback.loop, self.playback.pingpong, self.playback.timeline
        self.jobs = self.export.jobs

        self.stack = install_hint_stack(self, body)

    def _wire(self) -> None:
        ms = self.model_state
        ms.model_changed.connect(self._on_model_changed)
        ms.weights_updated.connect(self._thumb_timer.start)
        self._thumb_timer.timeout.connect(self.keyframe_list.refresh_thumbnails)
        self.add_current_btn.clicked.connect(self.add_current)
        self.add_random_btn.clicked.connect(self.add_random)
        self.add_test_btn.clicked.connect(lambda: self.add_test_image())
        self.add_file_btn.clicked.connect(lambda: self.add_image_file())
        self.keyframe_list.clear_btn.clicked.connect(self.clear)
        self.keyframe_list.arith_btn.clicked.connect(lambda: self.add_arithmetic())
        self.keyframe_list.table.cellDoubleClicked.connect(lambda row, _col: self.go_to(row))
        self.keyframe_list.changed.connect(self._invalidate)
        self.playback.changed.connect(self._invalidate)
        self.export.path_ready.connect(self.path_ready)
        self.export.status.connect(self._say)
        self.jobs.busy_changed.connect(self.progress.setVisible)
        self.jobs.failed.connect(self._say)

    # -- model -------------------------------------------------------------------------
    def _on_model_changed(self, model: object) -> None:
        self.stop()
        spec = self.model_state.spec
        if spec is None:
            self.stack.show_hint("Open or train a model to build interpolation paths.")
            return
        self.stack.show_hint(None)
        if self.keyframes and self.keyframes[0].flat.shape[0] != spec.input_dim:
            self.clear()
            self._say("The new model's latent layout differs: keyframes cleared.")
        enc = spec.has_encoder
        tip = "" if enc else "This model has no encoder: it cannot map images to latents."
        for w in (self.add_test_btn, self.add_file_btn, self.test_index):
            w.setEnabled(enc)
            w.setToolTip(tip or w.toolTip())
        self._refresh_test_range()
        self.keyframe_list.refresh_thumbnails()

    def on_dataset_changed(self) -> None:
        self._refresh_test_range()

    def _refresh_test_range(self) -> None:
        ds = self.dataset_provider()
        self.test_index.setRange(0, max(0, len(ds.test) - 1) if ds is not None else 0)

    # -- keyframes ---------------------------------------------------------------------
    @property
    def keyframes(self) -> list[Keyframe]:
        return self.keyframe_list.keyframes

    @property
    def kinds(self) -> list[str]:
        """One interpolation kind per segment."""
        return self.keyframe_list.kinds

    def add_keyframe(self, flat: np.ndarray, label: str = "point") -> None:
        """Append a keyframe (also the slot projection results and other panels use)."""
        spec = self.model_state.spec
        flat = np.asarray(flat, np.float32).reshape(-1).copy()
        if spec is None or flat.shape[0] != spec.input_dim:
            self._say(f"That point has {flat.shape[0]} values; this model's latent has {spec.input_dim if spec else 0}.")
            return
        self.keyframe_list.append(flat, label)

    def add_current(self) -> None:
        self.add_keyframe(self.latent_state.flat, "current point")

    def add_arithmetic(self, a: int | None = None, b: int | None = None, c: int | None = None) -> None:
        """Add keyframe C + (A - B) (1-based keyframe numbers; default: the spin boxes) and go there."""
        spec = self.model_state.spec
        a, b, c = (v if v is not None else shown for v, shown in zip((a, b, c), self.keyframe_list.operands()))
        if spec is None or not all(1 <= i <= len(self.keyframes) for i in (a, b, c)):
            self._say("Arithmetic needs keyframes A, B and C: add some first.")
            return
        flat = latent_arithmetic(spec, *(self.keyframes[i - 1].flat for i in (a, b, c)))
        self.add_keyframe(flat, f"{a} − {b} + {c}")
        self.go_to(len(self.keyframes) - 1)

    def add_random(self) -> None:
        model = self.model_state.model
        if model is None:
            return
        self._random_seed += 1
        # random_path honours a model's own prior (the mixture AAE), not only the spec's
        with self.model_state.lock:
            flat = random_path(model, 1, seed=int(np.random.randint(2**31 - 1))).keyframes[0]
        self.add_keyframe(flat, f"random sample {self._random_seed}")

    def add_test_image(self, index: int | None = None) -> None:
        ds = self.dataset_provider()
        if ds is None:
            self._say("No dataset is loaded: train a model or open one with its dataset first.")
            return
        self._refresh_test_range()
        index = self.test_index.value() if index is None else int(index)
        if not 0 <= index < len(ds.test):
            self._say(f"The test set has images 0..{len(ds.test) - 1}.")
            return
        try:
            flat = encode_images(self.model_state, ds.test.batch(torch.tensor([index])))
        except ValueError as e:
            self._say(str(e))
            return
        label = f"test #{index}"
        if ds.test.labels is not None:
            y = int(ds.test.labels[index])
            label += f" ({ds.class_names[y] if y < len(ds.class_names) else y})"
        self.add_keyframe(flat, label)

    def add_image_file(self, file: str | Path | None = None) -> None:
        model = self.model_state.model
        if model is None:
            return
        if file is None:
            file, _ = QFileDialog.getOpenFileName(self, "Encode an image", "", IMAGE_FILTER)
            if not file:
                return
        try:
            x, inverted = load_image_file(str(file), tuple(model.config.image_shape))
            flat = encode_images(self.model_state, x)
        except ValueError as e:
            self._say(str(e))
            return
        self.add_keyframe(flat, Path(file).name + (" (inverted)" if inverted else ""))

    def clear(self) -> None:
        self.stop()
        self.keyframe_list.clear()

    def set_all_kinds(self, kind: str) -> None:
        self.keyframe_list.set_all_kinds(kind)

    def set_kind(self, segment: int, kind: str) -> None:
        self.keyframe_list.set_kind(segment, kind)

    def go_to(self, row: int) -> None:
        if 0 <= row < len(self.keyframes):
            self.stop()
            self.latent_state.set_flat(self.keyframes[row].flat)

    # -- the path ----------------------------------------------------------------------
    def path(self) -> LatentPath | None:
        """The keyframes as a LatentPath (None without keyframes)."""
        model = self.model_state.model
        if model is None or not self.keyframes:
            return None
        with self.model_state.lock:
            identity = ModelIdentity.of(model, self.model_state.source)
        return LatentPath([k.flat for k in self.keyframes], list(self.kinds), identity, fps=self.fps.value(),
                          loop=self.loop.isChecked(), pingpong=self.pingpong.isChecked())

    def set_path(self, path: LatentPath, label: str = "path") -> None:
        """Replace the keyframes with ``path``'s (loaded files, paths drawn on the map)."""
        spec = self.model_state.spec
        if spec is None or path.dim != spec.input_dim:
            self._say(f"That path's latents have {path.dim} values; this model's have {spec.input_dim if spec else 0}.")
            return
        self.stop()
        self.keyframe_list.set_keyframes([Keyframe(k.copy(), f"{label} {i + 1}") for i, k in enumerate(path.keyframes)],
                                         list(path.kinds))
        self.fps.setValue(path.fps)
        self.loop.setChecked(path.loop)
        self.pingpong.setChecked(path.pingpong)
        if path.notes:
            self._say("Note: " + " ".join(path.notes))

    def frame_count(self) -> int:
        return 1 + max(0, len(self.keyframes) - 1) * self.frames_per_segment.value()

    def frames(self) -> np.ndarray | None:
        """(n, D) latents of the path at the current frames/segment (cached)."""
        if self._frames is None:
            path = self.path()
            if path is None:
                return None
            self._frames = path.frames(self.frame_count())
        return self._frames

    def _invalidate(self) -> None:
        self._frames = None
        n = self.frame_count() if self.keyframes else 0
        has_path = len(self.keyframes) >= 2
        self.playback.set_frame_count(n, has_path)
        self.export.set_available(has_path, bool(self.keyframes))
        if not has_path:
            self.stop()

    # -- playback and files, reached through the panel ---------------------------------
    def play(self) -> None:
        if len(self.keyframes) < 2:
            return
        self.playback.play()

    def stop(self) -> None:
        self.playback.stop()

    @property
    def playing(self) -> bool:
        return self.playback.playing

    @property
    def last_export(self) -> Path | None:
        return self.export.last_export

    def export_gif(self, file: str | Path | None = None) -> None:
        self.export.export_gif(file)

    def export_strip(self, file: str | Path | None = None) -> None:
        self.export.export_strip(file)

    def save_path_file(self, file: str | Path | None = None) -> Path | None:
        return self.export.save_path_file(file)

    def load_path_file(self, file: str | Path | None = None) -> bool:
        return self.export.load_path_file(file)

    def send_to_compare(self) -> None:
        self.export.send_to_compare()

    # -- drops -------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            file = url.toLocalFile()
            if file.lower().endswith(".json"):
                self.load_path_file(file)
            elif file.lower().endswith(IMAGE_SUFFIXES):
                self.add_image_file(file)
        event.acceptProposedAction()

    # -- misc --------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.status.emit(text)

    def shutdown(self) -> None:
        self.stop()
        self.jobs.shutdown()
