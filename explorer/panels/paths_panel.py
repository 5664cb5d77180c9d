"""Interpolation paths: keyframes, playback through LatentState, GIF/PNG/JSON export.

Playing a path *is* setting LatentState to successive frames: the main view decodes
whatever LatentState holds, so the animation appears there with no extra view. Frames
are latents (``LatentPath.frames``, numpy, microseconds), so playback costs one decode per
tick, done by the main view's decoder. Exports decode every frame at once
(``render_frames``) and run in a background job on a model copy.

Keyframes are flat latents of the current model. A new model with the same latent layout
keeps them (paths are meant to be replayed through other models: that is what "Send to
compare" is for); a different layout clears them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QGridLayout, QGroupBox, QHBoxLayout,
    QHeaderView, QLabel, QPushButton, QSlider, QSpinBox, QTableWidget, QTableWidgetItem, QWidget,
)

from models.data.base import Dataset
from models.explore.latent_paths import (KINDS, LatentPath, ModelIdentity, latent_arithmetic, load_path, random_path, render_frames, save_gif,
                          save_path, save_strip)

from ..decoder import IMAGE_FILTER, IMAGE_SUFFIXES, encode_images, load_image_file
from ..explore_workers import LatestJobRunner, array_to_qimage, decode_one, snapshot_model
from ..state import LatentState, ModelState
from .common import caption_label, install_hint_stack, panel_body, thin_busy_bar

DatasetProvider = Callable[[], "Dataset | None"]
THUMB = 36


@dataclass
class Keyframe:
    flat: np.ndarray  # (input_dim,) float32
    label: str  # where it came from, for the list


class PathsPanel(QWidget):
    """Build a path from keyframes, play it through LatentState, export or send it on."""

    #: "Send to compare": the current path, for playing across several models
    path_ready = Signal(object)  # LatentPath
    #: short user-facing messages (also shown in the panel)
    status = Signal(str)

    def __init__(self, model_state: ModelState, latent_state: LatentState, dataset_provider: DatasetProvider,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_state, self.latent_state, self.dataset_provider = model_state, latent_state, dataset_provider
        self.keyframes: list[Keyframe] = []
        self.kinds: list[str] = []  # one per segment
        self._frames: np.ndarray | None = None  # cache of path().frames(n)
        self._frame = 0
        self._direction = 1
        self._random_seed = 0
        self.last_export: Path | None = None
        self.jobs = LatestJobRunner("paths", self)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self._thumb_timer = QTimer(self, singleShot=True, interval=400)  # coalesce weight snapshots
        self._thumb_timer.timeout.connect(self._refresh_thumbnails)
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

        play = QGroupBox("Playback")
        pl = QGridLayout(play)
        self.play_btn = QPushButton("▶ Play")
        self.play_btn.setCheckable(True)
        self.timeline = QSlider(Qt.Orientation.Horizontal)
        self.timeline.setRange(0, 0)
        self.timeline.setToolTip("Scrub through the path")
        self.frame_label = QLabel("0 / 0")
        self.frame_label.setMinimumWidth(64)
        self.frames_per_segment = QSpinBox()
        self.frames_per_segment.setRange(2, 240)
        self.frames_per_segment.setValue(24)
        self.frames_per_segment.setSuffix(" frames/seg.")
        self.frames_per_segment.setToolTip("Frames per segment (between two keyframes)")
        self.fps = QDoubleSpinBox()
        self.fps.setRange(0.5, 60.0)
        self.fps.setValue(12.0)
        self.fps.setSuffix(" fps")
        self.loop = QCheckBox("Loop")
        self.loop.setChecked(True)
        self.pingpong = QCheckBox("Ping-pong")
        pl.addWidget(self.play_btn, 0, 0)
        pl.addWidget(self.timeline, 0, 1, 1, 3)
        pl.addWidget(self.frame_label, 0, 4)
        for row, pair in enumerate(((self.frames_per_segment, self.fps), (self.loop, self.pingpong)), start=1):
            options = QHBoxLayout()
            for w in pair:
                options.addWidget(w)
            options.addStretch(1)
            pl.addLayout(options, row, 0, 1, 5)
        layout.addWidget(play)

        out = QGridLayout()
        self.gif_btn, self.strip_btn = QPushButton("GIF…"), QPushButton("PNG strip…")
        self.gif_btn.setToolTip("Export the path as an animated GIF (fps, loop and ping-pong as set)")
        self.strip_btn.setToolTip("Export the path as one row of frames (frames/segment as set)")
        self.save_btn, self.load_btn = QPushButton("Save…"), QPushButton("Load…")
        self.save_btn.setToolTip("Save the path as JSON")
        self.load_btn.setToolTip("Load a path JSON (you can also drop one here)")
        self.compare_btn = QPushButton("Send to compare")
        self.compare_btn.setToolTip("Play this path side by side on the models of the Compare panel")
        for i, w in enumerate((self.gif_btn, self.strip_btn, self.compare_btn, self.save_btn, self.load_btn)):
            out.addWidget(w, i // 3, i % 3)
        layout.addLayout(out)
        self.progress = thin_busy_bar()
        layout.addWidget(self.progress)
        self.message = caption_label()
        layout.addWidget(self.message)

        self.stack = install_hint_stack(self, body)

    def _wire(self) -> None:
        ms = self.model_state
        ms.model_changed.connect(self._on_model_changed)
        ms.weights_updated.connect(self._thumb_timer.start)
        self.add_current_btn.clicked.connect(self.add_current)
        self.add_random_btn.clicked.connect(self.add_random)
        self.add_test_btn.clicked.connect(lambda: self.add_test_image())
        self.add_file_btn.clicked.connect(lambda: self.add_image_file())
        self.up_btn.clicked.connect(lambda: self.move_selected(-1))
        self.down_btn.clicked.connect(lambda: self.move_selected(1))
        self.remove_btn.clicked.connect(self.remove_selected)
        self.clear_btn.clicked.connect(self.clear)
        self.kind_all.activated.connect(lambda _i: self.set_all_kinds(self.kind_all.currentText()))
        self.table.cellDoubleClicked.connect(lambda row, _col: self.go_to(row))
        self.play_btn.toggled.connect(self._on_play_toggled)
        self.timeline.valueChanged.connect(self._on_scrub)
        self.frames_per_segment.valueChanged.connect(self._invalidate)
        self.fps.valueChanged.connect(self._on_fps)
        self.gif_btn.clicked.connect(lambda: self.export_gif())
        self.strip_btn.clicked.connect(lambda: self.export_strip())
        self.save_btn.clicked.connect(lambda: self.save_path_file())
        self.load_btn.clicked.connect(lambda: self.load_path_file())
        self.compare_btn.clicked.connect(self.send_to_compare)
        self.arith_btn.clicked.connect(lambda: self.add_arithmetic())
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
        self._refresh_thumbnails()

    def on_dataset_changed(self) -> None:
        self._refresh_test_range()

    def _refresh_test_range(self) -> None:
        ds = self.dataset_provider()
        self.test_index.setRange(0, max(0, len(ds.test) - 1) if ds is not None else 0)

    # -- keyframes ---------------------------------------------------------------------
    def add_keyframe(self, flat: np.ndarray, label: str = "point") -> None:
        """Append a keyframe (also the slot projection results and other panels use)."""
        spec = self.model_state.spec
        flat = np.asarray(flat, np.float32).reshape(-1).copy()
        if spec is None or flat.shape[0] != spec.input_dim:
            self._say(f"That point has {flat.shape[0]} values; this model's latent has {spec.input_dim if spec else 0}.")
            return
        if self.keyframes:
            self.kinds.append(self.kind_all.currentText())
        self.keyframes.append(Keyframe(flat, label))
        self._rebuild_table()
        self.table.selectRow(len(self.keyframes) - 1)

    def add_current(self) -> None:
        self.add_keyframe(self.latent_state.flat, "current point")

    def add_arithmetic(self, a: int | None = None, b: int | None = None, c: int | None = None) -> None:
        """Add keyframe C + (A - B) (1-based keyframe numbers; default: the spin boxes) and go there."""
        spec = self.model_state.spec
        a, b, c = (v if v is not None else box.value() for v, box in ((a, self.arith_a), (b, self.arith_b), (c, self.arith_c)))
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

    def remove_selected(self) -> None:
        row = self.table.currentRow()
        if not 0 <= row < len(self.keyframes):
            return
        del self.keyframes[row]
        if self.kinds:
            del self.kinds[min(row, len(self.kinds) - 1)]
        self._rebuild_table()
        if self.keyframes:
            self.table.selectRow(min(row, len(self.keyframes) - 1))

    def move_selected(self, step: int) -> None:
        row = self.table.currentRow()
        to = row + step
        if not (0 <= row < len(self.keyframes) and 0 <= to < len(self.keyframes)):
            return
        self.keyframes[row], self.keyframes[to] = self.keyframes[to], self.keyframes[row]
        self._rebuild_table()
        self.table.selectRow(to)

    def clear(self) -> None:
        self.stop()
        self.keyframes, self.kinds = [], []
        self._rebuild_table()

    def set_all_kinds(self, kind: str) -> None:
        self.kinds = [kind] * len(self.kinds)
        self._rebuild_table()

    def set_kind(self, segment: int, kind: str) -> None:
        self.kinds[segment] = kind
        self._invalidate()

    def go_to(self, row: int) -> None:
        if 0 <= row < len(self.keyframes):
            self.stop()
            self.latent_state.set_flat(self.keyframes[row].flat)

    def _rebuild_table(self) -> None:
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
                combo.blockSignals(True)
                combo.setCurrentText(self.kinds[row])
                combo.blockSignals(False)
            else:
                self.table.removeCellWidget(row, 1)
                self.table.setItem(row, 1, QTableWidgetItem("end"))
        self._refresh_thumbnails()
        self._invalidate()

    def _refresh_thumbnails(self) -> None:
        for row, key in enumerate(self.keyframes):
            item = self.table.item(row, 0)
            image = decode_one(self.model_state, key.flat)
            if item is not None and image is not None:
                pm = QPixmap.fromImage(array_to_qimage(image)).scaled(
                    THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
                item.setIcon(QIcon(pm))

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
        self.keyframes = [Keyframe(k.copy(), f"{label} {i + 1}") for i, k in enumerate(path.keyframes)]
        self.kinds = list(path.kinds)
        self.fps.setValue(path.fps)
        self.loop.setChecked(path.loop)
        self.pingpong.setChecked(path.pingpong)
        self._rebuild_table()
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
        self.timeline.blockSignals(True)
        self.timeline.setRange(0, max(0, n - 1))
        self.timeline.blockSignals(False)
        self._frame = min(self._frame, max(0, n - 1))
        self.frame_label.setText(f"{self._frame + 1 if n else 0} / {n}")
        has_path = len(self.keyframes) >= 2
        for w in (self.play_btn, self.gif_btn, self.strip_btn, self.compare_btn, self.timeline):
            w.setEnabled(has_path)
        self.save_btn.setEnabled(bool(self.keyframes))
        if not has_path:
            self.stop()

    # -- playback ----------------------------------------------------------------------
    def play(self) -> None:
        if len(self.keyframes) < 2:
            return
        self.play_btn.setChecked(True)

    def stop(self) -> None:
        if self.play_btn.isChecked():
            self.play_btn.setChecked(False)  # -> _on_play_toggled(False)
        self.timer.stop()

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def _on_play_toggled(self, on: bool) -> None:
        self.play_btn.setText("‖ Pause" if on else "▶ Play")
        if not on:
            self.timer.stop()
            return
        frames = self.frames()
        if frames is None or len(frames) < 2:
            self.play_btn.setChecked(False)
            return
        if self._frame >= len(frames) - 1 and not self.loop.isChecked():
            self._frame, self._direction = 0, 1  # replay a finished one-shot from the start
        self._show_frame(self._frame)
        self.timer.start(max(1, round(1000.0 / self.fps.value())))

    def _on_fps(self, fps: float) -> None:
        self._invalidate()
        if self.timer.isActive():
            self.timer.setInterval(max(1, round(1000.0 / fps)))

    def _tick(self) -> None:
        frames = self.frames()
        if frames is None:
            self.stop()
            return
        last = len(frames) - 1
        loop, pingpong = self.loop.isChecked(), self.pingpong.isChecked()
        nxt = self._frame + self._direction
        if nxt > last:  # only when looping: a one-shot stops on its last frame
            self._direction, nxt = (-1, max(0, last - 1)) if pingpong else (1, 0)
        elif nxt < 0:  # ping-pong, looping: turn again at the start
            self._direction, nxt = 1, min(1, last)
        self._show_frame(nxt)
        # a one-shot ends on the frame it stops at (the last, or the first after ping-pong)
        if not loop and ((nxt == last and not pingpong) or (nxt == 0 and self._direction < 0)):
            self._direction = 1
            self.stop()

    def _show_frame(self, i: int) -> None:
        frames = self.frames()
        if frames is None:
            return
        self._frame = int(np.clip(i, 0, len(frames) - 1))
        self.timeline.blockSignals(True)
        self.timeline.setValue(self._frame)
        self.timeline.blockSignals(False)
        self.frame_label.setText(f"{self._frame + 1} / {len(frames)}")
        self.latent_state.set_flat(frames[self._frame])

    def _on_scrub(self, value: int) -> None:
        self.stop()
        self._show_frame(value)

    # -- export ------------------------------------------------------------------------
    def _export(self, file: str | Path | None, title: str, filters: str, suffix: str, write: Callable[[list, Path, LatentPath], Path]) -> None:
        path = self.path()
        if path is None or len(path.keyframes) < 2:
            self._say("Add at least two keyframes first.")
            return
        if file is None:
            file, _ = QFileDialog.getSaveFileName(self, title, f"path{suffix}", filters)
            if not file:
                return
        file = Path(file)
        if not file.suffix:
            file = file.with_suffix(suffix)
        model = snapshot_model(self.model_state)
        n = self.frame_count()
        self._say(f"Rendering {n} frames…")

        def job(ctx) -> Path:
            frames = render_frames(model, path, n)  # decodes in batches: the slow part
            return write(frames, file, path)

        self.jobs.submit(job, on_done=self._exported)

    def export_gif(self, file: str | Path | None = None) -> None:
        self._export(file, "Export GIF", "GIF (*.gif)", ".gif",
                     lambda frames, f, p: save_gif(frames, f, fps=p.fps, loop=p.loop, pingpong=p.pingpong))

    def export_strip(self, file: str | Path | None = None) -> None:
        self._export(file, "Export PNG strip", "PNG (*.png)", ".png", lambda frames, f, p: save_strip(frames, f))

    def _exported(self, file: Path) -> None:
        self.last_export = Path(file)
        self._say(f"Saved {Path(file).name}")

    def save_path_file(self, file: str | Path | None = None) -> Path | None:
        path = self.path()
        if path is None:
            return None
        if file is None:
            file, _ = QFileDialog.getSaveFileName(self, "Save path", "path.json", "Latent path (*.json)")
            if not file:
                return None
        try:
            out = save_path(path, file)
        except OSError as e:
            self._say(f"Could not save {Path(file).name}: {e.strerror or e}")
            return None
        self._say(f"Saved {out.name}")
        return out

    def load_path_file(self, file: str | Path | None = None) -> bool:
        model = self.model_state.model
        if model is None:
            return False
        if file is None:
            file, _ = QFileDialog.getOpenFileName(self, "Load path", "", "Latent path (*.json)")
            if not file:
                return False
        try:
            with self.model_state.lock:
                path = load_path(file, model)
        except (ValueError, OSError) as e:
            self._say(str(e))
            return False
        self.set_path(path, Path(file).stem)
        if not path.notes:
            self._say(f"Loaded {Path(file).name}: {len(path.keyframes)} keyframes")
        return True

    def send_to_compare(self) -> None:
        path = self.path()
        if path is not None and len(path.keyframes) >= 2:
            path.fps = self.fps.value()
            self.path_ready.emit(path)
            self._say("Sent to the Compare panel.")

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
