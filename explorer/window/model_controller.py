"""Which model the window explores, and where it comes from and goes to.

    File > Open / drops / recent files ──> (ask: pickle? code?) ──> JobRunner (open_model) ──> ModelState
                  a bare state dict of our families ──> (ask: family, config?) ──> JobRunner (open_model) ─┘
    a followed run's newest checkpoint (follow_mode) ──> adopt_followed ──> ModelState (in place when it fits)
    TrainingSession.started ──> ModelState (the model being trained)
    TrainingSession.metrics ──> live weight snapshots ──> ModelState.load_weights
    TrainingSession.finished ──> the run's checkpoint becomes the model's source
    save / export ──> .safetensors / ONNX folder / PNG;   a dropped image ──> its latent ──> LatentState

Anything the app opens comes in through ``models.foreign.open.open_model``: its own
checkpoints and run folders, and models made elsewhere (state dicts, ONNX, adapters). What
a file would need the user to trust is known from its name (``trust_needed``), so the
window asks before anything is read, and a refused or failed file opens nothing and is
said once, the previous model staying loaded. A bare state dict of one of the app's own
families (weights only) cannot say its config: the job then returns the families its names
match (``open_job``), and the window asks which family and config made it
(:mod:`explorer.dialogs.family_weights_dialog`) before opening it again with them. A model made elsewhere cannot be saved as a
checkpoint: it is exported to ONNX instead (``export_onnx``, in the job runner).

``ModelController`` is a QObject, not a widget: it reports through signals (messages,
errors, "menus and title need a refresh") and the window shows them. After every open
or run it asks ``ModelData`` for the model's test images and per-dimension KL.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from models.foreign.errors import ONNX_INSTALL_HINT, onnx_available
from models.foreign.open import open_model, trust_needed
from models.foreign.protocol import ForeignModel, unavailable
from models.io.images import IMAGE_SUFFIXES, load_png
from models.runs.checkpoint import Checkpoint, save_checkpoint
from models.runs.run_dir import RunDir
from models.training.loop import StepMetrics

from .. import settings
from ..assets import DEMO_DIR
from ..datasets import DatasetFactory
from ..dialogs.family_weights_dialog import FamilyAnswer, ask_family_weights, remembered_answer
from ..image_input import encode_images, load_image_file
from ..errors import about_file, describe_error
from ..jobs import JobRunner
from ..live_decoder import Decoder
from ..model_access import model_name, sentence, snapshot_model
from ..run_follower import apply_checkpoint
from ..state import DataState, LatentState, ModelState
from ..training_session import TrainingSession, TrainStarted
# looked up here at call time, so tests can replace it (no modal dialog)
from .file_dialogs import (
    ask_checkpoint_path, ask_export_folder, ask_model_to_open, ask_png_path, ask_run_folder, confirm_code,
    confirm_untrusted,
)
from .model_data import ModelData
from .open_job import FamilyNeeded, not_a_file_or_folder, open_or_guess


class ModelController(QObject):
    status = Signal(str, int)  # a short status-bar message, its timeout in ms (0: until the next one)
    report = Signal(str, int)  # a message that may be long: fitted to the status bar, whole text in its tooltip
    error = Signal(str, str)  # title, text
    changed = Signal()  # loading began or ended, the model's source or the recent files changed
    model_opened = Signal(object, object)  # model, train_state: the Model & data form follows it
    history_ready = Signal(object, str, object)  # metrics records, run name, last sample grid (or None)
    image_encoded = Signal(object)  # the (C, H, W) image whose latent was just set
    exported = Signal(object)  # export_onnx's result dict, once File > Export Model has written the folder

    def __init__(self, model_state: ModelState, latent_state: LatentState, data_state: DataState,
                 decoder: Decoder, session: TrainingSession, jobs: JobRunner, dataset_factory: DatasetFactory,
                 chosen_data_dir: Callable[[str], str | None], window: QWidget,
                 chosen_dataset: Callable[[], str | None] | None = None) -> None:
        """``window``: the parent of the dialogs; ``chosen_data_dir``, ``chosen_dataset``: see ``ModelData``."""
        super().__init__(window)
        self.window = window
        self.model_state, self.latent_state, self.data_state = model_state, latent_state, data_state
        self.decoder, self.session, self.jobs = decoder, session, jobs
        #: the path being opened, None when no load is under way
        self.loading: str | None = None
        self._training_generation = -1
        self.data = ModelData(model_state, data_state, jobs, dataset_factory, chosen_data_dir, self, chosen_dataset)
        self.data.status.connect(self.status)
        self.data.report.connect(self.report)
        session.started.connect(self._on_training_started)
        session.metrics.connect(self._on_training_metrics)
        session.finished.connect(self._on_training_finished)

    # -- opening -------------------------------------------------------------------------
    def open_dialog(self) -> None:
        path = ask_model_to_open(self.window, self.last_dir())
        if path:
            self.open_path(path)

    def open_run_dialog(self) -> None:
        path = ask_run_folder(self.window, settings.runs_dir())
        if path:
            self.open_path(path)

    def last_dir(self) -> Path:
        recent = settings.recent_files()
        return Path(recent[0]).parent if recent else Path.home()

    def open_path(self, path: str | Path) -> bool:
        """Open anything the app opens (a checkpoint, a run folder, a state dict, an ONNX file
        or folder, an adapter file) in the background, asking first when it would run code;
        an image file is encoded. Returns whether a load was started."""
        path = Path(path).expanduser()
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            self.encode_file(path)
            return False
        if self.session.active:
            self.error.emit("Training is running", "Stop training before opening another model.")
            return False
        refused = not_a_file_or_folder(path)
        if refused is not None:  # said now: the loader would wait on a pipe forever
            self.error.emit("Could not open the model", refused)
            return False
        trust = trust_needed(path) if not path.is_dir() else None
        # asked before anything is read: refused, nothing of the file runs
        confirm = {"pickle": confirm_untrusted, "code": confirm_code}.get(trust or "")
        if confirm is not None and not confirm(self.window, path):
            self.status.emit(f"Did not open {path.name}", 5000)
            return False
        self._start_open(path, trust == "pickle", trust == "code")
        return True

    def _start_open(self, path: Path, allow_pickle: bool, allow_code: bool, answer: FamilyAnswer | None = None) -> None:
        self.loading = str(path)
        self.status.emit(f"Opening {path}…", 0)
        self.changed.emit()
        try:
            # open_model looked up here when the job runs: the one door every model comes in by
            self.jobs.submit(lambda _ctx: open_or_guess(path, allow_pickle, allow_code, answer, open_model),
                             on_done=lambda result: self._on_opened(path, allow_pickle, result),
                             on_error=lambda e: self._on_load_failed(path, e))
        except BaseException:
            self._end_loading()
            raise

    def _on_opened(self, path: Path, allow_pickle: bool, result: Checkpoint | FamilyNeeded) -> None:
        if isinstance(result, Checkpoint):
            self._on_loaded(path, result)
            return
        self._end_loading()
        if self.session.active:
            return
        # asked again each time, with the last answer filled in: the config is the user's claim, not the file's
        answer = ask_family_weights(self.window, path, result.matches, remembered_answer(path, result.matches),
                                    hints=result.hints)
        if answer is None:
            self.status.emit(f"Did not open {path.name}", 5000)
            return
        settings.add_family_weights_answer(path, answer.family, answer.config)
        self._start_open(path, allow_pickle, False, answer)

    def _end_loading(self) -> None:
        """Every open ends here, however it ended: the menus and Open come back."""
        self.loading = None
        self.changed.emit()

    def _on_loaded(self, requested: Path, ckpt: Checkpoint) -> None:
        self._end_loading()
        if self.session.active:  # training started while the file was loading: keep the live model
            return
        self.model_state.set_model(ckpt.model, ckpt.path, ckpt.train_state)
        self._show_opened(requested, ckpt)
        self._load_run_history(ckpt.path)

    def _show_opened(self, requested: Path, ckpt: Checkpoint) -> None:
        """A new model is in ModelState: remember its file, say so, refresh the form, the menus and its data."""
        settings.add_recent_file(requested)
        step = self.model_state.step
        self.status.emit(f"Opened {model_name(ckpt.model)} from {ckpt.path}" + (f" (step {step})" if step is not None else ""),
                         8000)
        self.model_opened.emit(ckpt.model, self.model_state.train_state)
        self.changed.emit()  # the form's Continue may have changed with it
        self.data.load_for_model()

    def adopt_followed(self, ckpt: Checkpoint) -> None:
        """The newest checkpoint of a run another process is writing (``follow_mode``): its
        weights copied into the open model when that has the same architecture (the sliders
        and the point stay), else opened like any model, without reading the run's history
        (the follower feeds the curves). A training session of this window keeps its model."""
        if self.session.active:
            return
        if apply_checkpoint(self.model_state, ckpt):
            step = ckpt.train_state.get("step")
            self.status.emit("Showing the run's newest checkpoint" + (f" (step {step})" if step is not None else ""), 3000)
            self.changed.emit()  # the title names the model's source
            return
        run = RunDir.of_checkpoint(ckpt.path)
        self._show_opened(run.path if run is not None else ckpt.path, ckpt)

    def _on_load_failed(self, path: Path, error: BaseException) -> None:
        self._end_loading()
        # one message naming the file, whatever refused it (the engine's checks, the OS); the previous model stays
        self.error.emit("Could not open the model", about_file(path, error))

    def _load_run_history(self, checkpoint: Path | None) -> None:
        """A checkpoint inside a run folder: its loss curves and last sample grid (read in a
        worker: metrics.jsonl of a long run is megabytes) go out as ``history_ready``; the
        run's last evaluation, when it was of this checkpoint at this step, labels the sliders."""
        run = RunDir.of_checkpoint(checkpoint)
        if run is None or not run.metrics_path.is_file():  # a pipe there would block the reader
            return
        generation, stamp, step = self.model_state.generation, self.model_state.weights_stamp, self.model_state.step

        def load() -> tuple[list[dict[str, Any]], np.ndarray | None, dict[str, Any] | None]:
            newest = run.newest_samples()
            return run.read_metrics(), (load_png(newest) if newest is not None else None), run.read_eval()

        def loaded(result: tuple[list[dict[str, Any]], np.ndarray | None, dict[str, Any] | None]) -> None:
            if generation != self.model_state.generation or self.session.active:
                return  # another model was opened, or a run started, meanwhile
            records, samples, figures = result
            self.history_ready.emit(records, run.path.name, samples)
            if figures and figures.get("checkpoint") == checkpoint.name and figures.get("step") == step:
                self.model_state.set_factor_dims(figures.get("factor_dims"), stamp)

        self.jobs.submit(lambda _ctx: load(), loaded, lambda e: self.report.emit(f"Could not read the run's history: {e}", 8000))

    def demo_checkpoint(self) -> Path | None:
        """The bundled demo model (the MNIST VAE first), if there is one."""
        demos = sorted(DEMO_DIR.glob("*.safetensors"), key=lambda p: (p.name != "vae_mnist.safetensors", p.name))
        return demos[0] if demos else None

    # -- recent files --------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        return settings.recent_files()

    def clear_recent_files(self) -> None:
        settings.clear_recent_files()
        self.changed.emit()

    # -- saving and exporting ------------------------------------------------------------
    def save_dialog(self) -> None:
        if self.model_state.model is None or self._refused_save():
            return
        path = ask_checkpoint_path(self.window, self.last_dir() / f"{self.model_state.model.family}.safetensors")
        if path:
            self.save_model(path)

    def save_model(self, path: str | Path) -> Path | None:
        model = self.model_state.model
        if model is None or self._refused_save():
            return None
        try:
            with self.model_state.lock:
                saved = save_checkpoint(path, model, self.model_state.train_state)
        except Exception as e:  # noqa: BLE001 - CheckpointError (disk full...), anything else
            self.error.emit(*describe_error(e))
            return None
        if not self.session.active:
            self.model_state.source = saved
        settings.add_recent_file(saved)
        self.changed.emit()
        self.status.emit(f"Saved {saved}", 8000)
        return saved

    def _refused_save(self) -> bool:
        """A model made elsewhere is not saved as a checkpoint: say so, and that Export takes it."""
        reason = unavailable(self.model_state.model, "save_checkpoint")
        if reason is not None:
            self.error.emit("Cannot save this model as a checkpoint", sentence(f"{reason} (File ▸ Export Model as ONNX…)"))
        return reason is not None

    def export_model_dialog(self) -> None:
        if self.model_state.model is None:
            return
        folder = ask_export_folder(self.window, self.last_dir())
        if folder:
            self.export_model(folder)

    def export_model(self, folder: str | Path) -> bool:
        """Write the model as ONNX graphs and a manifest into ``folder`` (in the job runner;
        the export is opened again and compared with the model before anything is written).
        Returns whether the export was started; ``exported`` carries the result."""
        if self.model_state.model is None:
            return False
        if not onnx_available():
            self.error.emit("ONNX is not installed",
                            f"Exporting to ONNX needs the onnx and onnxruntime packages: {ONNX_INSTALL_HINT}")
            return False
        from models.foreign.export import export_onnx

        folder, model = Path(folder).expanduser(), snapshot_model(self.model_state)
        self.status.emit(f"Exporting to {folder} as ONNX…", 0)
        self.jobs.submit(lambda _ctx: export_onnx(model, folder), self._on_exported,
                         lambda e: self.error.emit("Could not export the model", about_file(folder, e)))
        return True

    def _on_exported(self, result: dict[str, Any]) -> None:
        diff = result["max_abs_diff"]
        files = ", ".join(p.name for p in (result["decoder"], result["encoder"], result["manifest"]) if p is not None)
        enc = f" and encodes within {diff['encoder']:.1e}" if diff.get("encoder") is not None else ""
        self.report.emit(f"Exported as ONNX: opened again, it decodes within {diff['decoder']:.1e} of the model{enc}. "
                         f"Wrote {files} to {result['manifest'].parent}.", 15000)
        self.exported.emit(result)

    def close_model(self) -> None:
        """Explore no model (a model made elsewhere is closed this way before Train)."""
        if self.session.active or self.model_state.model is None:
            return
        self.model_state.set_model(None)
        self.model_opened.emit(None, {})
        self.changed.emit()

    def export_dialog(self) -> None:
        if self.decoder.last_image is None:
            return
        path = ask_png_path(self.window, self.last_dir() / "latent.png")
        if path:
            self.export_image(path)

    def export_image(self, path: str | Path, min_side: int = 256) -> Path | None:
        """Save the decoded image, upscaled by a whole factor to at least ``min_side`` pixels
        with nearest-neighbour (what the view shows: crisp pixels)."""
        from models.io.images import save_png

        image = self.decoder.last_image
        if image is None:
            return None
        factor = max(1, -(-min_side // max(image.shape[:2])))
        big = np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        try:
            save_png(big, path)
        except OSError as e:
            self.error.emit("Could not export the image", f"{path}: {e.strerror or e}")
            return None
        self.status.emit(f"Exported {path} ({big.shape[1]}×{big.shape[0]}, ×{factor} nearest)", 8000)
        return path

    # -- a dropped image -----------------------------------------------------------------
    def encode_file(self, path: str | Path) -> bool:
        """A dropped image: its latent (the mean, for a VAE) sets the sliders."""
        model = self.model_state.model
        if model is None:
            self.error.emit("No model", "Open or train a model before dropping images on the window.")
            return False
        if not model.latent_spec.has_encoder:
            reason = unavailable(model, "encode") or ""
            self.error.emit("This model has no encoder", sentence(reason) if isinstance(model, ForeignModel) else
                            f"{model.family} generates images from noise but cannot map an image to its latent space.")
            return False
        try:
            x, inverted = load_image_file(str(path), tuple(model.config.image_shape))
            flat = encode_images(self.model_state, x)
        except Exception as e:  # noqa: BLE001 - unreadable image, shape trouble
            self.error.emit("Could not encode the image", str(e))
            return False
        self.image_encoded.emit(x[0])
        self.latent_state.set_flat(flat)
        self.status.emit(f"Encoded {Path(path).name}" + (" (inverted to light-on-dark)" if inverted else ""), 8000)
        return True

    # -- the model being trained -----------------------------------------------------------
    def _on_training_started(self, info: TrainStarted) -> None:
        self.data_state.set_dataset(info.dataset)
        self.model_state.set_model(info.model, None, {"dataset": info.dataset.name})
        self._training_generation = self.model_state.generation

    def _on_training_metrics(self, batch: list[StepMetrics]) -> None:
        weights = next((m.weights for m in reversed(batch) if m.weights is not None), None)
        if weights is not None and self.model_state.generation == self._training_generation:
            try:
                self.model_state.load_weights(weights)
            except RuntimeError as e:  # never expected (same architecture), never fatal
                self.status.emit(f"Could not show live weights: {e}", 5000)

    def _on_training_finished(self, last: StepMetrics | None) -> None:
        if last is None:  # failed or stopped before the first step: the error says why
            return
        if last.checkpoint and self.model_state.generation == self._training_generation:
            self.model_state.source = Path(last.checkpoint)
            dataset = self.data_state.dataset
            # what the checkpoint records too: Continue training reads the same data again
            self.model_state.train_state = {"dataset": dataset.name if dataset else None,
                                            "data_dir": dataset.data_dir if dataset else None,
                                            "step": last.step, "epoch": last.epoch}
            settings.add_recent_file(Path(last.checkpoint).parents[1])  # the run folder
            self.changed.emit()
            self.model_opened.emit(self.model_state.model, self.model_state.train_state)
        self.data.load_for_model()
