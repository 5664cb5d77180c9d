"""The timeline: the same latents decoded with each snapshot of a run
(:mod:`models.runs.snapshots`), so training can be watched after the fact. The ``timeline``
command renders it to a GIF; the window's Timeline panel decodes, with any snapshot, one of
three views (:class:`TimelineView`, :func:`render_view`): the current point, the Paths panel's
path as a strip of frames, or a traversal grid around the point. All decode through a
:class:`SnapshotDecoder`, and the views through the functions the Paths and Traversal
panels render with (``render.render_frames``, ``traversal.traversal_latents``).

A snapshot that cannot be read (corrupt, truncated, foreign, deleted by a run still thinning
its folder) costs only its frame: it is skipped with one line saying why.
"""
from __future__ import annotations

import math
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from models.explore.latent_paths import LatentPath
from models.explore.render import check_output_size, decode_batched, render_frames, strip
from models.explore.traversal import dimension_influence, traversal_latents
from models.families.base import LatentModel
from models.families.registry import build_model
from models.foreign.arrays import check_latents
from models.io.images import grid, to_uint8
from models.runs.checkpoint_header import CheckpointHeader
from models.runs.snapshots import SnapshotError, SnapshotIndex, SnapshotInfo, apply_snapshot, read_snapshot_tensors

#: bytes of snapshot tensors a decoder keeps in memory (a DCGAN generator is ~3 MB, an MLP
#: VAE decoder ~1.3 MB: a whole 50-frame timeline of either stays cached)
DEFAULT_BUDGET = 256 * 2**20
#: models (one per config) a decoder keeps; a run has one config, a resumed one maybe two
MAX_MODELS = 4
#: a labelled frame is scaled up by a whole factor until it is at least this wide
MIN_LABELLED_WIDTH = 160
#: what the timeline can show with each snapshot
VIEW_POINT, VIEW_PATH, VIEW_TRAVERSAL = "point", "path", "traversal"
#: frames of a path strip, at most (every keyframe among them while the path has at most 12 segments)
PATH_FRAMES = 13
#: the traversal view: at most this many z dims as rows (the most influential, on a wider
#: latent), each swept over this many values of the slider range
TRAVERSAL_ROWS, TRAVERSAL_STEPS = 8, 7


class SnapshotDecoder:
    """Decodes with any snapshot: one model per config, into which each snapshot's tensors
    are copied, and the tensors of recently used snapshots cached within ``budget_bytes``
    (keyed by file, size and time, so a rewritten file is read again). Used by one thread at
    a time (a job runner's worker, a command)."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET) -> None:
        self.budget = int(budget_bytes)
        self._models: OrderedDict[tuple[str, str], LatentModel] = OrderedDict()
        self._tensors: OrderedDict[tuple[Path, int, int], tuple[SnapshotInfo, CheckpointHeader, dict[str, torch.Tensor], int]] = OrderedDict()
        self._bytes = 0

    def model(self, info: SnapshotInfo) -> LatentModel:
        """A model decoding as ``info``'s snapshot does (SnapshotError when it cannot be read).
        The same object comes back for every snapshot of one config: use it before the next call."""
        try:
            st = os.stat(info.path)
        except OSError as e:
            raise SnapshotError(f"{info.path.name}: {'no longer there' if isinstance(e, FileNotFoundError) else e.strerror}") from None
        key = (info.path, st.st_size, st.st_mtime_ns)
        cached = self._tensors.get(key)
        if cached is None:
            fresh, header, tensors = read_snapshot_tensors(info.path)
            size = sum(t.numel() * t.element_size() for t in tensors.values())
            cached = (fresh, header, tensors, size)
            self._tensors[key] = cached
            self._bytes += size
            while self._bytes > self.budget and len(self._tensors) > 1:
                _, (_, _, _, old) = self._tensors.popitem(last=False)
                self._bytes -= old
        else:
            self._tensors.move_to_end(key)
        fresh, header, tensors, _ = cached
        mkey = (fresh.family, fresh.config_json)
        model = self._models.get(mkey)
        if model is None:
            try:
                model = build_model(fresh.family, header.config)
            except (ValueError, TypeError, RuntimeError) as e:
                raise SnapshotError(f"{fresh.path.name}: cannot rebuild the model: {str(e).splitlines()[0]}") from None
            self._models[mkey] = model
            while len(self._models) > MAX_MODELS:
                self._models.popitem(last=False)
        else:
            self._models.move_to_end(mkey)
        return apply_snapshot(model, fresh, tensors)

    def decode(self, info: SnapshotInfo, latents: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) images in [0, 1] of ``latents`` (N x d, checked) by ``info``'s snapshot."""
        model = self.model(info)
        return decode_batched(model, check_latents(model, latents))


@dataclass
class TimelineFrames:
    """One frame per readable snapshot (its step alongside), and a line per skipped one."""

    frames: list[np.ndarray] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def random_latents(index: SnapshotIndex, n: int, seed: int, decoder: SnapshotDecoder | None = None) -> np.ndarray:
    """``n`` latents drawn (with ``seed``) from the prior of the run's model, as its first
    readable snapshot has it (an AAE's mixture, a GAN's normal...)."""
    decoder = decoder or SnapshotDecoder()
    problems: list[str] = []
    for info in index.snapshots:
        try:
            model = decoder.model(info)
        except SnapshotError as e:
            problems.append(str(e))
            continue
        return model.sample_latents(int(n), generator=torch.Generator().manual_seed(int(seed))).numpy()
    raise SnapshotError(index.note or "no snapshot could be read: " + "; ".join(problems[:3]))


def timeline_frames(index: SnapshotIndex, latents: np.ndarray, ncol: int | None = None, label: bool = True,
                    decoder: SnapshotDecoder | None = None,
                    progress: Callable[[int, int], None] | None = None) -> TimelineFrames:
    """Each snapshot of ``index`` decodes ``latents`` (N x d) into one grid of ``ncol``
    columns (default: about square), captioned with its step when ``label``. Raises
    SnapshotError when there is no snapshot, OutputTooLarge for too many images, ArrayRefused
    for latents no snapshot takes."""
    if not index.snapshots:
        raise SnapshotError(index.note or "no snapshots")
    latents = np.asarray(latents, np.float32)
    n = latents.shape[0] if latents.ndim == 2 else 1
    decoder = decoder or SnapshotDecoder()
    out = TimelineFrames(problems=list(index.problems))
    total, sized = len(index.snapshots), False
    for i, info in enumerate(index.snapshots):
        try:
            model = decoder.model(info)
            if not sized:  # before the first decode: the whole output is bounded
                check_output_size(total * n, model.config.image_shape, "timeline images")
                sized = True
            images = decode_batched(model, check_latents(model, latents))
        except SnapshotError as e:
            out.problems.append(str(e))
            continue
        frame = grid(images, ncol=ncol or math.ceil(math.sqrt(n)))
        out.frames.append(label_frame(frame, info.label()) if label else frame)
        out.steps.append(info.step)
        if progress is not None:
            progress(i + 1, total)
    if not out.frames:
        raise SnapshotError(f"none of the snapshots of {index.run.name} could be read: " + "; ".join(out.problems[:3]))
    return out


def label_frame(frame: np.ndarray, text: str) -> np.ndarray:
    """``frame`` (H, W, C uint8) scaled up by a whole factor to at least
    :data:`MIN_LABELLED_WIDTH` pixels wide, under a strip holding ``text``."""
    from PIL import Image, ImageDraw, ImageFont

    a = np.asarray(frame, np.uint8)
    if a.ndim == 2:
        a = a[..., None]
    k = max(1, math.ceil(MIN_LABELLED_WIDTH / max(1, a.shape[1])))
    if k > 1:
        a = a.repeat(k, axis=0).repeat(k, axis=1)
    font = ImageFont.load_default(size=12)
    strip_h = 18
    mode = "L" if a.shape[2] == 1 else "RGB"
    strip = Image.new(mode, (a.shape[1], strip_h), 24 if mode == "L" else (24, 24, 24))
    ImageDraw.Draw(strip).text((4, 2), text, fill=230 if mode == "L" else (230, 230, 230), font=font)
    top = np.asarray(strip, np.uint8).reshape(strip_h, a.shape[1], a.shape[2])
    return np.concatenate([top, a], axis=0)


def path_frame_count(path: LatentPath, most: int = PATH_FRAMES) -> int:
    """Frames of ``path``'s strip: as many per segment as fit in ``most``, so that every
    keyframe is one of them (``most`` frames, not all keyframes, past ``most - 1`` segments)."""
    segments = len(path.kinds)
    if segments == 0:
        return 1
    if segments >= most:
        return most
    return 1 + segments * max(1, (most - 1) // segments)


@dataclass(frozen=True)
class TimelineView:
    """What the timeline decodes with each snapshot: the current ``point`` (VIEW_POINT), a
    ``path`` as ``frames`` frames in one row (VIEW_PATH), or a traversal grid around the point
    (VIEW_TRAVERSAL), its rows the z ``dims`` (None: not chosen yet, see :func:`render_view`)."""

    kind: str
    point: np.ndarray
    path: LatentPath | None = None
    frames: int = 1
    dims: tuple[int, ...] | None = None

    def key(self) -> bytes:
        """Equal for views that decode the same latents (the frames kept for one view serve
        another with the same key): the kind, and the path's frames or the point."""
        if self.kind == VIEW_PATH and self.path is not None:
            return self.kind.encode() + b"|" + self.path.frames(self.frames).tobytes()
        return self.kind.encode() + b"|" + np.asarray(self.point, np.float32).tobytes()


def traversal_dims(model: LatentModel, around: np.ndarray, rows: int = TRAVERSAL_ROWS) -> tuple[int, ...]:
    """The z dims the traversal view shows: all of them up to ``rows``, else the ``rows`` that
    change ``model``'s image most at ``around`` (one batch of 2 * z_dim decodes)."""
    z_dim = model.latent_spec.z_dim
    if z_dim <= rows:
        return tuple(range(z_dim))
    influence = dimension_influence(model, around=around)
    return tuple(int(d) for d in torch.argsort(-influence, stable=True)[:rows])


def rank_traversal(decoder: SnapshotDecoder, view: TimelineView, snapshots: Sequence[SnapshotInfo]) -> TimelineView:
    """``view`` with its traversal rows ranked by the first readable of ``snapshots`` (give
    the newest first: the rows are then what training arrived at, and stay the same dims from
    snapshot to snapshot). SnapshotError when none can be read."""
    problem: SnapshotError | None = None
    for info in snapshots:
        try:
            model = decoder.model(info)
        except SnapshotError as e:
            problem = e
            continue
        point = check_latents(model, np.asarray(view.point, np.float32)[None])[0]
        return TimelineView(view.kind, view.point, dims=traversal_dims(model, point.numpy()))
    raise problem or SnapshotError("no snapshot to rank the traversal's rows by")


def render_view(decoder: SnapshotDecoder, info: SnapshotInfo, view: TimelineView) -> tuple[np.ndarray, TimelineView]:
    """``view`` decoded by ``info``'s snapshot as one (H, W, C) uint8 image, and the view as
    rendered (a traversal without rows gets them ranked by this snapshot: see
    :func:`rank_traversal` to rank by another). SnapshotError when the snapshot can't be read,
    ArrayRefused for latents it does not take."""
    if view.kind == VIEW_TRAVERSAL and view.dims is None:
        view = rank_traversal(decoder, view, [info])
    model = decoder.model(info)
    if view.kind == VIEW_PATH and view.path is not None:
        return strip(render_frames(model, view.path, view.frames)), view
    point = check_latents(model, np.asarray(view.point, np.float32)[None])
    if view.kind == VIEW_TRAVERSAL:
        flat, ncol = traversal_latents(model, list(view.dims or ()), TRAVERSAL_STEPS, around=point[0])
        return grid(decode_batched(model, flat), ncol=ncol), view
    return to_uint8(decode_batched(model, point))[0], view
