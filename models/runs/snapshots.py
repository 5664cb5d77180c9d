"""Light snapshots of a run: only what decoding needs, kept at a bounded count, so the
explorer can show the same latent decoded at many points of training (the timeline).

Layout: ``<run>/snapshots/step_<8 digits>.safetensors``, beside ``checkpoints/`` and never
inside it, so nothing that picks ``best`` or ``latest`` (or resumes a run) sees them.

What one holds: the tensors ``decode`` reads (:func:`decoding_prefixes`): an autoencoder's
``decoder``, a GAN's generator as it samples: its weight average when the run keeps one
(``generator_ema``), else ``generator``. Its metadata is a checkpoint's (format, family,
model config, latent spec, training state with the step), so a snapshot is read through the
same checks as a checkpoint (:func:`models.runs.checkpoint_header.read_header`: the header,
field by field, before any tensor is read), plus its own: every tensor is one the config's
model has, of the shape it makes, and every tensor decoding needs is there.

Which are taken (:func:`is_snapshot_step`): every ``K = snapshot_every`` steps (the interval of
the run's preview grids), before that at steps 1, 2, 4, 8, ... (the powers of two below K:
the first K steps are where the images change most, and a short run would otherwise show
them as one frame), and at the run's end. Which are kept (:func:`thin`): once more than
:data:`MAX_SNAPSHOTS` are on disk, the one whose removal leaves the smallest gap on a log scale
(the smallest ratio between its neighbours' steps) is deleted, until :data:`MAX_SNAPSHOTS`
remain. The first and the newest always stay. So the kept steps spread about evenly in
log(step): consecutive ones differ by a factor of about ``T ** (1 / 49)`` for a run of ``T``
steps, and early training keeps the most frames (a 20,000-step run snapshotted every step
keeps steps 1-7, 9, 11, ... and half of its frames before step 140).

Writing (:mod:`models.runs.snapshot_writer`) costs the training thread only device-to-host
copies; serialising, the atomic write and the thinning happen on a writer thread.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch
from safetensors import SafetensorError, safe_open

from models.families.base import LatentModel
from models.families.registry import build_model
from models.runs.checkpoint_header import CheckpointError, CheckpointHeader, read_header
from models.runs.model_budget import ModelTooLarge, check_budget, expected_shapes, meta_model
from models.runs.run_dir import RunDir

#: snapshots a run keeps at most (first and newest included)
MAX_SNAPSHOTS = 50
#: the metadata value that marks a file as a snapshot (``snapshot``: what it is for)
SNAPSHOT_KIND = "decode"
#: a snapshot's file name; the step is also in its metadata, which is what counts
FILE_NAME = re.compile(r"step_(\d{1,12})\.safetensors")
#: files of a snapshots folder looked at by one listing (a run keeps 50; more is not ours)
MAX_LISTED = 1000


class SnapshotError(CheckpointError):
    """A snapshot that cannot be read or written; the message names the file and the problem."""


# ---------------------------------------------------------------------------------------
# what decoding needs
# ---------------------------------------------------------------------------------------
def decoding_prefixes(model: torch.nn.Module) -> tuple[str, ...]:
    """The state-dict prefixes of the parts ``model.decode`` reads: ``generator_ema.`` or
    ``generator.`` for a GAN (whichever it samples from), ``decoder.`` for an autoencoder,
    and everything ("") for a model of another shape. Works on a meta-device model."""
    if hasattr(model, "generator_ema") and isinstance(getattr(model, "generator", None), torch.nn.Module):
        return ("generator_ema.",) if model.generator_ema is not None else ("generator.",)
    if isinstance(getattr(model, "decoder", None), torch.nn.Module):
        return ("decoder.",)
    return ("",)


def decoding_keys(model: torch.nn.Module) -> list[str]:
    """The state-dict keys a snapshot of ``model`` holds (see :func:`decoding_prefixes`)."""
    prefixes = decoding_prefixes(model)
    return [k for k in model.state_dict() if k.startswith(prefixes)]


def snapshot_path(folder: Path, step: int) -> Path:
    return folder / f"step_{int(step):08d}.safetensors"


# ---------------------------------------------------------------------------------------
# which are kept
# ---------------------------------------------------------------------------------------
def is_snapshot_step(step: int, every: int) -> bool:
    """Whether a run snapshotted every ``every`` steps takes one at ``step``: each multiple of
    ``every``, and each power of two below it (1, 2, 4, ...: early training, denser)."""
    return step > 0 and every > 0 and (step % every == 0 or (step < every and step & (step - 1) == 0))


def thin(steps: Iterable[int], bound: int = MAX_SNAPSHOTS) -> list[int]:
    """The steps to delete so that at most ``bound`` of ``steps`` remain (see the module).

    One at a time, the step whose neighbours' ratio ``next / previous`` is smallest goes (the
    later of equal ones: early frames stay); ratios are compared exactly, so the choice never
    depends on rounding. The first and the last step always stay."""
    if bound < 2:
        raise ValueError(f"a timeline keeps at least 2 snapshots, not {bound}")
    kept = sorted({int(s) for s in steps if int(s) > 0})
    removed: list[int] = []
    while len(kept) > bound:
        best = 1
        for j in range(2, len(kept) - 1):
            # kept[j+1]/kept[j-1] <= kept[best+1]/kept[best-1], in integers: exact
            if kept[j + 1] * kept[best - 1] <= kept[best + 1] * kept[j - 1]:
                best = j
        removed.append(kept.pop(best))
    return removed


def steps_on_disk(folder: Path) -> list[int]:
    """The steps of the snapshot files in ``folder`` by their names (no file is opened)."""
    try:
        names = [e.name for e in os.scandir(folder)]
    except OSError:
        return []
    return sorted(int(m.group(1)) for n in names if (m := FILE_NAME.fullmatch(n)))


# ---------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SnapshotInfo:
    """One snapshot as its header says (checked; no tensor read)."""

    path: Path
    step: int
    family: str
    #: the model config as JSON: snapshots of one config load into one model
    config_json: str
    input_dim: int
    epoch: float | None = None
    seconds: float | None = None

    def label(self) -> str:
        """"step 1,200" (and "epoch 3.1" when known): how a frame is captioned."""
        return f"step {self.step:,}" + (f", epoch {self.epoch:.1f}" if self.epoch is not None else "")


@dataclass
class SnapshotIndex:
    """A run's snapshots, oldest first, and a line for each file that was skipped."""

    run: Path
    snapshots: list[SnapshotInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: whether ``run`` looks like a run folder (a config.json or a checkpoints/ in it)
    is_run: bool = True

    @property
    def note(self) -> str | None:
        """Why there is nothing to show (None when there is something)."""
        if self.snapshots:
            return None
        if not self.is_run:
            return f"{self.run.name or self.run} is not a run folder (it has no config.json or checkpoints/)"
        if self.problems:
            return f"none of the {len(self.problems)} snapshots of {self.run.name} could be read"
        return (f"{self.run.name} has no training snapshots: it was trained before the app kept them, "
                "or with snapshot_every 0")


@dataclass
class Snapshot:
    """A loaded snapshot: a model that decodes as the run's did at ``step`` (its parts that
    decoding does not use, such as an encoder or a discriminator, are freshly initialised)."""

    model: LatentModel
    info: SnapshotInfo
    train_state: dict[str, Any]


def run_folder(path: str | Path) -> Path:
    """The run folder of ``path``: the folder itself, or the run of a checkpoint inside one."""
    path = Path(path).expanduser()
    run = RunDir.of_checkpoint(path) if path.suffix == ".safetensors" else None
    return run.path if run is not None else path


def list_snapshots(run: str | Path) -> SnapshotIndex:
    """The snapshots of the run folder ``run`` (or of the run a checkpoint in it belongs to),
    by step. Each header is checked (:func:`check_snapshot`); a file that fails is left out
    with one line saying why. Never raises for a damaged or foreign file."""
    folder = run_folder(run)
    layout = RunDir(folder)
    snaps = layout.snapshots
    index = SnapshotIndex(folder, is_run=any(os.path.lexists(p) for p in (layout.config_path, layout.checkpoints, snaps)))
    try:
        names = sorted(e.name for e in os.scandir(snaps) if FILE_NAME.fullmatch(e.name))
    except FileNotFoundError:
        return index
    except OSError as e:
        index.problems.append(f"{snaps.name}: cannot be listed ({e.strerror or e})")
        return index
    if len(names) > MAX_LISTED:
        index.problems.append(f"{snaps.name} holds {len(names):,} snapshot files; only the first {MAX_LISTED:,} were read")
        names = names[:MAX_LISTED]
    by_step: dict[int, SnapshotInfo] = {}
    for name in names:
        try:
            info, _, _ = check_snapshot(snaps / name)
        except SnapshotError as e:
            if os.path.lexists(snaps / name):  # else thinned away since the listing: nothing wrong
                index.problems.append(str(e))
            continue
        by_step[info.step] = info  # two files claiming one step: the later name wins
    index.snapshots = [by_step[s] for s in sorted(by_step)]
    return index


def check_snapshot(path: str | Path) -> tuple[SnapshotInfo, CheckpointHeader, list[str]]:
    """The checked header of a snapshot, and the tensor names decoding reads from it.

    Beyond a checkpoint's checks (:func:`~models.runs.checkpoint_header.read_header`), the
    model its config makes is measured on the meta device against the size budget, and the
    file's tensors must all belong to it, in its shapes, and hold what decoding needs.
    SnapshotError names the file and the problem."""
    path = Path(path)
    try:
        header = read_header(path)
        measured = _measured(header)
        check_budget(measured, path)
    except CheckpointError as e:
        raise SnapshotError(str(e)) from None
    except ModelTooLarge as e:
        raise SnapshotError(str(e)) from None
    except (ValueError, TypeError, RuntimeError, NotImplementedError) as e:
        raise SnapshotError(f"{path.name}: cannot rebuild the model: {str(e).splitlines()[0]}") from None
    expected = expected_shapes(measured)
    found = header.shapes
    foreign = [k for k in found if k not in expected]
    if foreign:
        raise SnapshotError(f"{path.name}: holds tensors its {header.family} model has no place for "
                            f"({', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''})")
    for k, shape in found.items():
        if tuple(shape) != expected[k]:
            raise SnapshotError(f"{path.name}: {k} is {list(shape)} in the file, the config makes it {list(expected[k])}")
    needed = decoding_keys(measured)
    missing = [k for k in needed if k not in found]
    if missing:
        raise SnapshotError(f"{path.name}: lacks what decoding needs (missing {', '.join(missing[:3])}"
                            f"{' ...' if len(missing) > 3 else ''})")
    state = header.train_state
    info = SnapshotInfo(path, int(state["step"]), header.family, header.config.to_json(),
                        measured.latent_spec.input_dim, _number(state.get("epoch")), _number(state.get("seconds")))
    return info, header, needed


#: (family, config JSON) -> its model on the meta device: a run's 50 snapshots share one config,
#: and measuring a DCGAN takes longer than reading all 50 headers
_MEASURED: dict[tuple[str, str], LatentModel] = {}


def _measured(header: CheckpointHeader) -> LatentModel:
    key = (header.family, header.config.to_json())
    model = _MEASURED.get(key)
    if model is None:
        model = meta_model(header.family, header.config)
        if len(_MEASURED) >= 16:
            _MEASURED.pop(next(iter(_MEASURED)))
        _MEASURED[key] = model
    return model


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def read_snapshot_tensors(path: str | Path) -> tuple[SnapshotInfo, CheckpointHeader, dict[str, torch.Tensor]]:
    """A checked snapshot's decoding tensors (CPU), only those: nothing else is read."""
    info, header, needed = check_snapshot(path)
    try:
        with safe_open(str(info.path), framework="pt", device="cpu") as f:
            tensors = {k: f.get_tensor(k) for k in needed}
    except SafetensorError as e:
        raise SnapshotError(f"{info.path.name} is not a readable snapshot (corrupt or truncated): {e}") from None
    except OSError as e:
        raise SnapshotError(f"cannot read {info.path}: {e.strerror or e}") from None
    return info, header, tensors


def apply_snapshot(model: LatentModel, info: SnapshotInfo, tensors: dict[str, torch.Tensor]) -> LatentModel:
    """Copy a snapshot's tensors into ``model``, which must be of its family and config
    (SnapshotError otherwise); returns it in eval mode."""
    if model.family != info.family or model.config.to_json() != info.config_json:
        raise SnapshotError(f"{info.path.name}: was made by another {info.family} config than this model's")
    try:
        with torch.no_grad():
            model.load_state_dict(tensors, strict=False)  # the file's names were checked against this config
    except RuntimeError as e:  # a value the family refuses (a progress count out of range, ...)
        raise SnapshotError(f"{info.path.name}: {str(e).splitlines()[0]}") from e
    return model.eval()


def load_snapshot(path: str | Path, into: LatentModel | None = None) -> Snapshot:
    """Load a snapshot into ``into`` (a model of the same family and config), or into a model
    built from its header. SnapshotError for anything that is not a snapshot it can load."""
    info, header, tensors = read_snapshot_tensors(path)
    if into is None:
        try:
            into = build_model(info.family, header.config)
        except (ValueError, TypeError, RuntimeError) as e:
            raise SnapshotError(f"{info.path.name}: cannot rebuild the model: {str(e).splitlines()[0]}") from None
    return Snapshot(apply_snapshot(into, info, tensors), info, header.train_state)
