"""A small CNN classifier per dataset, trained once and cached, for judging generators.

Inception-based metrics (FID, IS) are meaningless on 28x28 greyscale digits: the
Inception net was never trained on them and its features mostly see the upsampling. The
usual practice for MNIST-like data is to train a small classifier on the dataset itself
and compute the same statistics in *its* feature space. That is what
:mod:`models.metrics.sample_quality` does with the :class:`Classifier` built here.

The network is the classic Keras MNIST CNN (conv32-conv64-maxpool-dropout-fc128-dropout-
fcK); the max pool is adaptive (to 12x12) so the same recipe takes 28x28 and 64x64
images with one or three channels. Eight epochs of Adam, its rate decayed linearly to 0,
give 99.1% test accuracy on MNIST (about 400 s on two CPU cores, seconds on a GPU).

Trained weights are cached as ``<cache>/classifiers/<name>-<C>x<H>x<W>-v<VERSION>.safetensors``
(test accuracy and dataset name in the metadata), written atomically; a cache file that
cannot be read is retrained over rather than trusted or fatal. The ``v2`` tag versions
the architecture *and* training recipe: change either, bump :data:`VERSION`, so every
number computed with the old classifier stays comparable only with its own.

Version history (MNIST figures: test accuracy, then the test set's own inception score,
the ceiling every generator is read against):

- v1: two epochs at a constant rate: 98.6 %, IS 9.52. Under-trained: it misread 1.4 % of
  real digits and its soft outputs capped every IS well under 10.
- v2: eight epochs, rate decayed linearly to 0: 99.06 %, IS 9.79.
"""
from __future__ import annotations

import json
import logging
import re
import time
from glob import escape as glob_escape
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save
from torch import nn

from models.cancel import Cancelled, CancelToken, raise_if_cancelled  # noqa: F401 - Cancelled: what cancel raises
from models.data.base import Dataset, Split
from models.io.atomic import atomic_write_bytes
from models.io.cache import default_cache_dir
from models.io.files import check_regular_file
from models.training.device import resolve_device

log = logging.getLogger(__name__)

#: bump when the architecture or the training recipe changes (it is part of the file name)
VERSION = 2
FORMAT = "latent-explorer-classifier/1"
#: side of the feature map after the (adaptive) max pool; 12 is what 28x28 gives naturally
_POOLED = 12
FEATURE_DIM = 128

#: ``progress(steps_done, steps_total)`` while training
Progress = Callable[[int, int], None]


class Classifier(nn.Module):
    """conv32-conv64-maxpool-dropout-fc128-dropout-fcK on images in [0, 1].

    ``features`` (the 128-d penultimate activations) is the space FID is computed in;
    ``probs`` feeds the inception score and class coverage. Both run in eval mode without
    gradients and move their input to the classifier's device.
    """

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, dataset_name: str = "") -> None:
        super().__init__()
        c = image_shape[0]
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        self.dataset_name = dataset_name
        #: test accuracy measured after training (NaN until known)
        self.accuracy: float = float("nan")
        #: True when the weights came from the cache file rather than a fresh training run
        self.from_cache: bool = False
        #: the cache file, when there is one
        self.path: Path | None = None
        self.body = nn.Sequential(
            nn.Conv2d(c, 32, 3), nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3), nn.ReLU(inplace=True),
            # 24x24 -> 12x12 is exactly MaxPool2d(2) for 28x28 inputs; larger inputs pool wider
            nn.AdaptiveMaxPool2d(_POOLED),
            nn.Dropout(0.25), nn.Flatten(),
            nn.Linear(64 * _POOLED * _POOLED, FEATURE_DIM), nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(FEATURE_DIM, num_classes))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, K) of images (B, C, H, W) in [0, 1]."""
        return self.head(self.body(x))

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"the {self.dataset_name or 'dataset'} classifier takes {self.image_shape} images, got {tuple(x.shape[1:])}")
        # generators may overshoot [0, 1] slightly; the classifier never saw such values
        return x.to(self.device, torch.float32).clamp(0.0, 1.0)

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate (B, 128) activations: the feature space of the classifier FID."""
        self.eval()
        return self.body(self._prep(x))

    @torch.no_grad()
    def probs(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities p(y|x), (B, K)."""
        self.eval()
        return F.softmax(self.head(self.body(self._prep(x))), dim=1)

    @torch.no_grad()
    def features_and_probs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both at the cost of one forward pass (what the metrics need per batch)."""
        self.eval()
        f = self.body(self._prep(x))
        return f, F.softmax(self.head(f), dim=1)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Most likely class per image, (B,) int64."""
        return self.probs(x).argmax(dim=1)


# -- caching ---------------------------------------------------------------------------------
def cache_path(dataset: Dataset, cache_dir: str | Path | None = None) -> Path:
    """Where the classifier of ``dataset`` is (or will be) cached."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    c, h, w = dataset.image_shape
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", dataset.name) or "dataset"
    return root / "classifiers" / f"{name}-{c}x{h}x{w}-v{VERSION}.safetensors"


def _num_classes(dataset: Dataset) -> int:
    for split, which in ((dataset.train, "train"), (dataset.test, "test")):
        if split.labels is None or len(split.labels) != len(split):
            raise ValueError(
                f"dataset {dataset.name!r} has no class labels in its {which} split; the classifier-based "
                "generator metrics need a labelled dataset (e.g. mnist or fashion-mnist)."
            )
    top = int(max(dataset.train.labels.max(), dataset.test.labels.max())) + 1  # type: ignore[union-attr]
    return max(top, len(dataset.class_names))


def _load_cached(path: Path, dataset: Dataset, num_classes: int, device: torch.device) -> Classifier | None:
    """The cached classifier, or None when the file is missing, foreign or unreadable."""
    if not path.is_file():
        return None
    try:
        check_regular_file(path, "classifier cache")  # a FIFO would block the read forever
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r} is not {FORMAT!r}")
            if meta.get("dataset") != dataset.name or int(meta["num_classes"]) != num_classes:
                raise ValueError(f"made for {meta.get('dataset')!r} with {meta.get('num_classes')} classes")
            clf = Classifier(dataset.image_shape, num_classes, dataset.name)
            want = {k: tuple(v.shape) for k, v in clf.state_dict().items()}
            if {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()} != want:
                raise ValueError("its tensors are not this classifier's")  # checked before any is read
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        clf.load_state_dict(tensors, strict=True)
        clf.accuracy = float(meta["test_accuracy"])
    except (SafetensorError, OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
        # A cache is only a shortcut: whatever is wrong with it, retraining fixes it.
        log.warning("ignoring unreadable classifier cache %s (%s); retraining", path, str(e).splitlines()[0] if str(e) else type(e).__name__)
        return None
    clf.from_cache = True
    clf.path = path
    return clf.to(device).eval()


def save_classifier(clf: Classifier, path: Path, extra: dict | None = None) -> None:
    """Write the weights and metadata atomically (readers see the old file or the new one)."""
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in clf.state_dict().items()}
    meta = {
        "format": FORMAT,
        "dataset": clf.dataset_name,
        "image_shape": json.dumps(list(clf.image_shape)),
        "num_classes": str(clf.num_classes),
        "test_accuracy": repr(float(clf.accuracy)),
        **{k: str(v) for k, v in (extra or {}).items()},
    }
    atomic_write_bytes(path, st_save(tensors, metadata=meta))


# -- training ----------------------------------------------------------------------------------
@torch.no_grad()
def split_accuracy(clf: Classifier, split: Split, batch_size: int = 1000) -> float:
    """Fraction of ``split`` the classifier labels correctly."""
    if split.labels is None:
        raise ValueError("the split has no labels")
    device, correct, n = clf.device, 0, len(split)
    labels = split.labels.to(device)
    for a in range(0, n, batch_size):
        idx = torch.arange(a, min(n, a + batch_size), device=device)
        correct += int((clf.predict(split.batch(idx)) == labels[idx]).sum())
    return correct / max(n, 1)


#: epochs of the scoring classifier's recipe (see the version history above)
EPOCHS = 8
#: the most optimizer steps a scoring classifier trains for on 28x28 images: MNIST's eight
#: epochs (3,752 steps at batch 128) fit; bigger images get proportionally fewer (see
#: :func:`step_cap`), since the 727,280-image 64x64 shapes set would otherwise take 45,000
#: steps (hours on a CPU): scoring needs an accurate classifier, not every image
MAX_STEPS = 4000
#: ... but never fewer than this (shapes' three classes are not easy at the smallest scales:
#: 300 steps give 42 % accuracy; v1 ran 2,000 and so does v2)
MIN_STEPS = 2000


def step_cap(image_shape: tuple[int, int, int]) -> int:
    """The default ``max_steps`` for images of ``image_shape``: :data:`MAX_STEPS` scaled by
    28*28 / (H*W), the ratio of per-step costs, floored at :data:`MIN_STEPS`."""
    _, h, w = image_shape
    return max(MIN_STEPS, round(MAX_STEPS * 28 * 28 / (h * w)))


@torch.enable_grad()  # callers such as evaluate_generator run under no_grad
def train_classifier(
    dataset: Dataset,
    device: torch.device | str = "cpu",
    epochs: int = EPOCHS,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    progress: Progress | None = None,
    max_steps: int | None | str = "auto",
    cancel: CancelToken = None,
) -> Classifier:
    """Train on ``dataset.train`` (Adam with its rate decayed linearly to 0 over the run;
    shuffled mini-batches drawn on the device, no DataLoader) and measure accuracy on
    ``dataset.test``. Seeded, and leaves the global RNG state as it found it. ``max_steps``
    caps the run on big datasets ("auto": :func:`step_cap`; None: no cap).

    ``progress(done, total)`` after every optimizer step; ``cancel`` (see
    :mod:`models.cancel`) is checked before every step and raises :class:`Cancelled`."""
    device = torch.device(device)
    num_classes = _num_classes(dataset)
    train = dataset.train.to(device)
    labels = train.labels.to(device)  # type: ignore[union-attr]
    n = len(train)
    steps_per_epoch = max(1, -(-n // batch_size))
    if max_steps == "auto":
        max_steps = step_cap(dataset.image_shape)
    total = steps_per_epoch * epochs if max_steps is None else min(steps_per_epoch * epochs, int(max_steps))
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        clf = Classifier(dataset.image_shape, num_classes, dataset.name).to(device)
        opt = torch.optim.Adam(clf.parameters(), lr=lr)
        # The decay to 0 settles the weights: the last updates are tiny, so the result does
        # not hinge on which few batches came last, and the outputs end more confident.
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: max(0.0, 1.0 - i / total))
        gen = torch.Generator(device=device).manual_seed(seed)
        clf.train()
        step, t0 = 0, time.perf_counter()
        for _ in range(epochs):
            order = torch.randperm(n, device=device, generator=gen)
            for a in range(0, n, batch_size):
                if step == total:
                    break
                raise_if_cancelled(cancel)
                idx = order[a : a + batch_size]
                loss = F.cross_entropy(clf(train.batch(idx)), labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                if progress is not None:
                    progress(step, total)
    clf.eval()
    clf.accuracy = split_accuracy(clf, dataset.test.to(device))
    log.info("trained %s classifier: test accuracy %.4f in %.1f s", dataset.name, clf.accuracy, time.perf_counter() - t0)
    return clf


def _remove_older_versions(path: Path) -> None:
    """Delete the caches of earlier versions for the same dataset and shape: nothing reads
    them any more (figures are only comparable within a version), and each is megabytes."""
    stem = path.name.rsplit("-v", 1)[0]
    for old in path.parent.glob(f"{glob_escape(stem)}-v*.safetensors"):
        version = old.name[len(stem) + 2 : -len(".safetensors")]
        if version.isdigit() and int(version) < VERSION:
            try:
                old.unlink()
            except OSError:  # read-only or already gone: harmless
                pass


def get_classifier(
    dataset: Dataset,
    device: torch.device | str | None = None,
    cache_dir: str | Path | None = None,
    epochs: int = EPOCHS,
    progress: Progress | None = None,
    *,
    retrain: bool = False,
    batch_size: int = 128,
    cancel: CancelToken = None,
) -> Classifier:
    """The dataset's classifier: from the cache when it holds a readable one, otherwise
    trained now (``epochs`` of Adam) and cached.

    Progress and cancellation, the one contract every caller uses: ``progress(done, total)``
    reports the training's optimizer steps (never called for a cached classifier);
    ``cancel`` (a ``threading.Event`` or a function returning True to stop, see
    :mod:`models.cancel`) is checked between steps and raises :class:`Cancelled`, and a
    cancelled training caches nothing.

    ``device`` None or "auto" picks the best available. The cache is keyed by dataset name,
    image shape and :data:`VERSION`, not by ``epochs``: a cached classifier is reused as is
    (pass ``retrain=True`` to replace it). ``.from_cache`` says which happened. Raises
    ValueError for datasets without labels.
    """
    if not isinstance(device, torch.device):
        device = resolve_device(device or "auto")
    num_classes = _num_classes(dataset)
    path = cache_path(dataset, cache_dir)
    if not retrain:
        clf = _load_cached(path, dataset, num_classes, device)
        if clf is not None:
            return clf
    t0 = time.perf_counter()
    clf = train_classifier(dataset, device, epochs=epochs, batch_size=batch_size, progress=progress, cancel=cancel)
    try:
        save_classifier(clf, path, {"epochs": epochs, "batch_size": batch_size, "train_seconds": round(time.perf_counter() - t0, 1)})
        clf.path = path
        _remove_older_versions(path)
    except OSError as e:
        # A read-only or full cache disk costs a retraining next time, not the evaluation.
        log.warning("could not cache the classifier at %s: %s", path, e.strerror or e)
    return clf
