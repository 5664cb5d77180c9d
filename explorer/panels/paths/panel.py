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

from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal

from models.explore.interpolation import latent_arithmetic
from models.explore.latent_paths import LatentPath, ModelIdentity, random_path

from ...latent_history import Merge
from ...model_access import decode_one
from ...widgets.layout import grid_group, push_button, spin_box
from ..base import IMAGE_FILE, PATH_FILE, Dropped, ExplorePanel
from .export import PathExport
from .keyframe_list import Keyframe, KeyframeList
from .playback import PathPlayback


#: keyframes the panel's list holds (each has a row, a thumbnail and an interpolation menu)
MAX_KEYFRAMES = 500


class PathsPanel(ExplorePanel):
    """Build a path from keyframes, play it through LatentState, export or send it on.
    The parts' controls the window and tests use are reachable from the panel too."""

    #: "Send to compare": the current path, for playing across several models
    path_ready = Signal(object)  # LatentPath

    NO_MODEL_HINT = "Open or train a model to build interpolation paths."

    def _setup(self) -> None:
        self._frames: np.ndarray | None = None  # cache of path().frames(n)
        self._random_seed = 0
        self._thumb_timer = self.make_timer(400)  # coalesce weight snapshots

    # -- construction ------------------------------------------------------------------
    def _build(self) -> None:
        layout = self.make_body()
        self.add_current_btn = push_button("Current point", "Add the point the sliders show now", clicked=self.add_current)
        self.add_random_btn = push_button("Random sample", "Add a point drawn from the prior", clicked=self.add_random)
        self.test_index = spin_box(0, 0, prefix="#")
        self.add_test_btn = push_button("Test image", "Encode the test image with this index",
                                        clicked=self.add_test_image)
        self.add_file_btn = push_button("Image file…", "Encode an image file (you can also drop images on this panel)",
                                        clicked=self.add_image_file)
        layout.addWidget(grid_group("Add keyframe", [[self.add_current_btn, self.add_random_btn, None],
                                                     [self.add_test_btn, self.test_index, self.add_file_btn]]))

        self.keyframe_list = KeyframeList(lambda flat: decode_one(self.model_state, flat))
        layout.addWidget(self.keyframe_list, 1)
        # a path being played (and scrubbed) is one undo step: Undo goes back to before Play
        self.playback = PathPlayback(self.frames, partial(self.latent_state.set_flat, merge=Merge("path playback", None)))
        layout.addWidget(self.playback)
        self.export = PathExport(self.model_state, self.path, self.frame_count, self.set_path, self.job_runner("paths"),
                                 self.job_runner("path-file"))
        layout.addWidget(self.export)
        self.jobs, self.load_jobs = self.export.jobs, self.export.load_jobs
        self.progress = self.add_busy_bar(layout, self.jobs, self.load_jobs)
        self.add_message_line(layout)

        # the parts' controls the window and tests reach through the panel
        self.table = self.keyframe_list.table
        self.arith_a, self.arith_b, self.arith_c = (self.keyframe_list.arith_a, self.keyframe_list.arith_b,
                                                    self.keyframe_list.arith_c)
        self.arith_btn = self.keyframe_list.arith_btn
        self.frames_per_segment, self.fps = self.playback.frames_per_segment, self.playback.fps
        self.loop, self.pingpong, self.timeline = self.playback.loop, self.playback.pingpong, self.playback.timeline

    def _wire(self) -> None:
        self.model_state.weights_updated.connect(self._thumb_timer.start)
        self._thumb_timer.timeout.connect(self.keyframe_list.refresh_thumbnails)
        self.keyframe_list.clear_btn.clicked.connect(self.clear)
        self.keyframe_list.arith_btn.clicked.connect(lambda: self.add_arithmetic())
        self.keyframe_list.table.cellDoubleClicked.connect(lambda row, _col: self.go_to(row))
        self.keyframe_list.changed.connect(self._invalidate)
        self.playback.changed.connect(self._invalidate)
        self.export.path_ready.connect(self.path_ready)
        self.export.status.connect(self.say)

    # -- model -------------------------------------------------------------------------
    def on_model_changed(self, model: object) -> None:
        self.stop()
        if not self.refresh_availability():
            return
        spec = self.model_state.spec
        if self.keyframes and self.keyframes[0].flat.shape[0] != spec.input_dim:
            self.clear()
            self.say("The new model's latent layout differs: keyframes cleared.")
        enc = spec.has_encoder
        tip = "" if enc else "This model has no encoder: it cannot map images to latents."
        for w in (self.add_test_btn, self.add_file_btn, self.test_index):
            w.setEnabled(enc)
            w.setToolTip(tip or w.toolTip())
        self.refresh_test_range()
        self.keyframe_list.refresh_thumbnails()

    def on_dataset_changed(self) -> None:
        self.refresh_test_range()

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
            self.say(f"That point has {flat.shape[0]} values; this model's latent has {spec.input_dim if spec else 0}.")
            return
        if len(self.keyframes) >= MAX_KEYFRAMES:
            self.say(f"The path has {MAX_KEYFRAMES:,} keyframes, as many as the Paths panel holds.")
            return
        self.keyframe_list.append(flat, label)

    def add_current(self) -> None:
        self.add_keyframe(self.latent_state.flat, "current point")

    def add_arithmetic(self, a: int | None = None, b: int | None = None, c: int | None = None) -> None:
        """Add keyframe C + (A - B) (1-based keyframe numbers; default: the spin boxes) and go there."""
        spec = self.model_state.spec
        a, b, c = (v if v is not None else shown for v, shown in zip((a, b, c), self.keyframe_list.operands()))
        if spec is None or not all(1 <= i <= len(self.keyframes) for i in (a, b, c)):
            self.say("Arithmetic needs keyframes A, B and C: add some first.")
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
        picked = self.pick_test_image(index, None if ds is not None else
                                      "No dataset is loaded: train a model or open one with its dataset first.")
        flat = self.latent_of(picked[0]) if picked is not None else None
        if flat is None:
            return
        index = picked[1]
        label = f"test #{index}"
        if ds.test.labels is not None:
            y = int(ds.test.labels[index])
            label += f" ({ds.class_names[y] if y < len(ds.class_names) else y})"
        self.add_keyframe(flat, label)

    def add_image_file(self, file: str | Path | None = None) -> None:
        encoded = self.encode_image_file(file, "Encode an image")
        if encoded is not None:
            self.add_keyframe(*encoded)

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

    def set_path(self, path: LatentPath, label: str = "path") -> bool:
        """Replace the keyframes with ``path``'s (loaded files, paths drawn on the map);
        False, said why, when the path does not fit."""
        spec = self.model_state.spec
        if spec is None or path.dim != spec.input_dim:
            self.say(f"That path's latents have {path.dim} values; this model's have {spec.input_dim if spec else 0}.")
            return False
        if len(path.keyframes) > MAX_KEYFRAMES:  # a row, a thumbnail and a menu each: the list would freeze
            self.say(f"That path has {len(path.keyframes):,} keyframes; the Paths panel holds at most {MAX_KEYFRAMES:,} "
                     "(latent-explorer render-path plays longer ones).")
            return False
        self.stop()
        self.keyframe_list.set_keyframes([Keyframe(k.copy(), f"{label} {i + 1}") for i, k in enumerate(path.keyframes)],
                                         list(path.kinds))
        self.fps.setValue(path.fps)
        self.loop.setChecked(path.loop)
        self.pingpong.setChecked(path.pingpong)
        if path.notes:
            self.say("Note: " + " ".join(path.notes))
        return True

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

    # -- dropped files -----------------------------------------------------------------
    def files_dropped(self, files: list[Dropped]) -> None:
        for f in files:
            if f.kind == PATH_FILE:
                self.load_path_file(f.path)
            elif f.kind == IMAGE_FILE:
                self.add_image_file(f.path)

    def shutdown(self) -> None:
        self.stop()
        super().shutdown()
