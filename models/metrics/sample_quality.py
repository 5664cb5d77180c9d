"""Sample-quality metrics of generators, measured by the dataset's own classifier.

FID and IS are normally computed with an ImageNet Inception net, which knows nothing about
28x28 digits. Here both are computed with the small CNN of :mod:`models.metrics.classifier`,
trained on the dataset's training split:

* ``classifier_fid``: Fréchet distance between Gaussians fitted to the classifier's
  128-d penultimate features of generated samples and of the test set;
* ``inception_score``: exp(E_x KL(p(y|x) || p(y))), 1 (all samples alike or ambiguous)
  to K (confident and evenly spread over K classes);
* ``class_coverage``: fraction of classes that receive at least half their fair share of
  the predictions (>= 5% of samples for 10 classes), a direct mode-collapse check;
* ``class_histogram``: the fraction of samples predicted as each class.

The numbers are only comparable between runs that use the same classifier (same dataset
and classifier version), which is why :func:`evaluate_generator` also reports what the
real test set scores (``"reference"``): the ceiling a perfect generator would reach.

The formulas themselves are in :mod:`models.metrics.score_math`; this module feeds them
the classifier's view of generated and real images.

:func:`code_accuracy` checks InfoGAN's claim that a categorical code learns the classes
unsupervised: the best one-to-one matching of code values to predicted labels.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from models.data.base import Dataset, Split
from models.metrics.classifier import Classifier, get_classifier
from models.metrics.score_math import (class_coverage, class_histogram, frechet_distance, gaussian_stats, inception_score,
                                       linear_sum_assignment)

ImagesFn = Callable[[int], torch.Tensor]


# -- classifier-based evaluation --------------------------------------------------------------
@torch.no_grad()
def _features_of_images(classifier: Classifier, images: ImagesFn | torch.Tensor, n: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    feats, probs, done = [], [], 0
    if isinstance(images, torch.Tensor):
        n = min(n, images.shape[0])
    while done < n:
        b = min(batch, n - done)
        x = images[done : done + b] if isinstance(images, torch.Tensor) else images(b)
        f, p = classifier.features_and_probs(x)
        feats.append(f.cpu().double())  # in this order: MPS has no float64
        probs.append(p.cpu().double())
        done += b
    return torch.cat(feats), torch.cat(probs)


@torch.no_grad()
def _features_of_split(classifier: Classifier, split: Split, batch: int, idx: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    idx = (torch.arange(len(split)) if idx is None else idx).to(classifier.device)
    feats, probs = [], []
    for a in range(0, idx.numel(), batch):
        f, p = classifier.features_and_probs(split.batch(idx[a : a + batch]))
        feats.append(f.cpu().double())  # in this order: MPS has no float64
        probs.append(p.cpu().double())
    return torch.cat(feats), torch.cat(probs)


def _scores(probs: torch.Tensor, fid: float) -> dict:
    hist = class_histogram(probs)
    return {
        "classifier_fid": fid,
        "inception_score": inception_score(probs),
        "class_coverage": class_coverage(hist),
        "class_histogram": hist,
    }


def classifier_scores(
    classifier: Classifier,
    images: ImagesFn | torch.Tensor,
    reference_split: Split,
    n: int = 10000,
    batch: int = 500,
) -> dict:
    """classifier_fid, inception_score, class_coverage and class_histogram of ``n``
    generated images against ``reference_split`` (the test set).

    ``images`` is either a tensor (N, C, H, W) in [0, 1] (its first ``n`` are used) or a
    function ``images(count) -> (count, C, H, W)`` called until ``n`` are drawn, so a
    generator never has to hold all samples at once.
    """
    ref_feats, _ = _features_of_split(classifier, reference_split, batch)
    return _generated_scores(classifier, images, gaussian_stats(ref_feats), n, batch)


def _generated_scores(classifier: Classifier, images: ImagesFn | torch.Tensor, ref_stats, n: int, batch: int) -> dict:
    feats, probs = _features_of_images(classifier, images, n, batch)
    return {**_scores(probs, frechet_distance(*gaussian_stats(feats), *ref_stats)), "n": int(feats.shape[0])}


def reference_scores(
    classifier: Classifier,
    test_split: Split,
    train_split: Split | None = None,
    n: int = 10000,
    batch: int = 500,
    seed: int = 0,
) -> dict:
    """What real data scores: the ceiling for IS and coverage and the floor for FID.

    IS, coverage and histogram are those of the whole test set. The FID of the test set
    against itself would be exactly 0 and hide the floor that finite samples put under
    every FID, so the comparison uses other real images: with ``train_split``, ``n``
    random training images against the whole test set, i.e. the same sample size and
    reference a generator's evaluation uses, hence a like-for-like floor (the classifier
    was trained on these images, a small bias at the accuracies it reaches); without it,
    two random disjoint halves of the test set against each other (half the samples, so
    a somewhat higher floor). ``fid_comparison`` in the result says which was used.
    """
    feats, probs = _features_of_split(classifier, test_split, batch)
    return _reference(classifier, feats, probs, train_split, n, batch, seed)


def _reference(classifier: Classifier, feats: torch.Tensor, probs: torch.Tensor, train_split: Split | None, n: int, batch: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    if train_split is not None:
        idx = torch.randperm(len(train_split), generator=g)[:n]
        cmp_feats, _ = _features_of_split(classifier, train_split, batch, idx)
        fid = frechet_distance(*gaussian_stats(cmp_feats), *gaussian_stats(feats))
        how = f"{idx.numel()} train images vs {feats.shape[0]} test images"
    else:
        perm = torch.randperm(feats.shape[0], generator=g)
        half = feats.shape[0] // 2
        fid = frechet_distance(*gaussian_stats(feats[perm[:half]]), *gaussian_stats(feats[perm[half : 2 * half]]))
        how = f"two disjoint halves of the test set ({half} images each)"
    # IS, coverage and histogram describe the test set itself
    return {**_scores(probs, fid), "n": int(feats.shape[0]), "fid_comparison": how}


@contextlib.contextmanager
def _eval_mode(model) -> Iterator[None]:
    """Eval mode for the duration, then back to whatever the model was in."""
    was = getattr(model, "training", False)
    if isinstance(model, nn.Module):
        model.eval()
    try:
        yield
    finally:
        if isinstance(model, nn.Module):
            model.train(was)


def _prior_latents(model, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """``n`` draws from the model's prior: its own ``sample_latents`` (every LatentModel, so
    the AAE's mixture is honoured), else its latent spec's (a bare decoder with a spec)."""
    sample = getattr(model, "sample_latents", None)
    if callable(sample):
        return sample(n, generator=generator, device=device)
    return model.latent_spec.sample(n, generator=generator, device=device)


def _model_device(model) -> torch.device:
    dev = getattr(model, "device", None)
    if dev is not None:
        return torch.device(dev)
    if isinstance(model, nn.Module):
        return next(iter(model.parameters()), torch.empty(0)).device
    return torch.device("cpu")


class SampleScorer:
    """Scores the prior samples of several models against one test set (the window's
    Compare table): the test set's features are computed once, here."""

    def __init__(self, classifier: Classifier, test_split: Split, batch: int = 500) -> None:
        self.classifier, self.batch = classifier, batch
        # the test set's features serve both as the FID reference and as the real-data scores
        self.test_feats, self.test_probs = _features_of_split(classifier, test_split, batch)
        self.reference = gaussian_stats(self.test_feats)

    @torch.no_grad()
    def __call__(self, model, n: int = 2000, seed: int = 0) -> dict:
        """:func:`classifier_scores` keys for ``n`` seeded samples of ``model``. FID falls
        with sample size: compare figures taken at one ``n``."""
        gen = torch.Generator(device=_model_device(model)).manual_seed(seed)
        with _eval_mode(model):
            return _generated_scores(self.classifier, lambda b: model.sample(b, generator=gen), self.reference, n, self.batch)


#: samples scored at each validation of a training run (see :func:`training_scorer`)
TRAINING_SAMPLES = 2000


def training_scorer(classifier: Classifier, test_split: Split, n: int = TRAINING_SAMPLES, seed: int = 0,
                    batch: int = 500) -> Callable[[object], dict[str, float]]:
    """A ``train(sample_scorer=...)`` callable: the inception score and classifier FID
    (``sample_is``, ``sample_fid``) of ``n`` samples drawn from the same seeded noise each
    time, so the curve follows the model, not the draw. FID at 2,000 samples sits above the
    10,000-sample figure of ``eval``: compare a run's points with each other."""
    scorer = SampleScorer(classifier, test_split, batch)

    def score(model) -> dict[str, float]:
        s = scorer(model, n=n, seed=seed)
        return {"sample_is": float(s["inception_score"]), "sample_fid": float(s["classifier_fid"])}

    return score


def default_training_scorer(model, dataset: Dataset, device: torch.device | str | None = None,
                            n: int = TRAINING_SAMPLES) -> Callable[[object], dict[str, float]] | None:
    """The sample scorer a run gets unless told otherwise: only for families without an
    encoder (a GAN's losses say least about its samples) and only when the dataset's
    classifier is already cached (training one first would cost minutes); else None."""
    from models.metrics.classifier import cache_path

    if not (model.has_prior and not model.latent_spec.has_encoder and dataset.labelled and cache_path(dataset).exists()):
        return None
    return training_scorer(get_classifier(dataset, device), dataset.test, n=n)


@torch.no_grad()
def evaluate_generator(
    model,
    dataset: Dataset,
    n: int = 10000,
    seed: int = 0,
    device: torch.device | str | None = None,
    classifier: Classifier | None = None,
    batch: int = 500,
) -> dict:
    """Score ``n`` samples of ``model`` (drawn with ``model.sample(b, generator=...)``,
    seeded) with the dataset's classifier (trained and cached on first use).

    ``device`` is where a classifier not given is loaded or trained (default: the
    model's). Returns :func:`classifier_scores`' keys plus ``classifier_accuracy`` and
    ``"reference"``: :func:`reference_scores` of the real test set, its FID floor taken
    against the training split.
    """
    device = torch.device(device) if device is not None else _model_device(model)
    if classifier is None:
        classifier = get_classifier(dataset, device)
    shape = tuple(getattr(getattr(model, "config", None), "image_shape", classifier.image_shape))
    if shape != tuple(classifier.image_shape):
        raise ValueError(f"the model makes {shape} images but the {dataset.name} classifier takes {tuple(classifier.image_shape)}")
    scorer = SampleScorer(classifier, dataset.test, batch)
    scores = scorer(model, n=n, seed=seed)
    scores["classifier_accuracy"] = float(classifier.accuracy)
    scores["reference"] = _reference(classifier, scorer.test_feats, scorer.test_probs, dataset.train, n, batch, seed)
    return scores


# -- InfoGAN: categorical code vs class ---------------------------------------------------------
@torch.no_grad()
def code_accuracy(model, classifier: Classifier, n_per_code: int = 1000, seed: int = 0, code: int = 0, batch: int = 500) -> dict:
    """How well categorical code ``code`` of an InfoGAN-style model matches the classes.

    For each code value k, ``n_per_code`` latents are drawn from the model's prior with the
    code forced to k (the other entries keep their draws, so the figure stays exact), decoded and classified. ``confusion[label, k]`` counts them; the best
    one-to-one mapping code value -> label (Hungarian algorithm) gives the accuracy, the
    usual unsupervised-clustering accuracy (the InfoGAN paper reports ~95% on MNIST).

    Returns ``accuracy`` (float), ``mapping`` (list: ``mapping[k]`` is the label of code
    value k, -1 when there are more values than labels) and ``confusion``
    (numpy int64, labels x code values). Only ``classifier.probs`` is used.
    """
    spec = model.latent_spec
    if not spec.categorical:
        raise ValueError("code_accuracy needs a model with a categorical latent code (InfoGAN)")
    k_values = spec.categorical[code]
    device = _model_device(model)
    gen = torch.Generator(device=device).manual_seed(seed)
    conf = None
    with _eval_mode(model):
        for k in range(k_values):
            for a in range(0, n_per_code, batch):
                b = min(batch, n_per_code - a)
                flat = spec.with_category(_prior_latents(model, b, gen, device), code, k)
                probs = classifier.probs(model.decode(flat))
                if conf is None:
                    conf = np.zeros((probs.shape[1], k_values), dtype=np.int64)
                conf[:, k] += np.bincount(probs.argmax(1).cpu().numpy(), minlength=probs.shape[1])
    assert conf is not None
    labels, values = linear_sum_assignment(-conf)
    mapping = [-1] * k_values
    for lab, val in zip(labels.tolist(), values.tolist()):
        mapping[val] = lab
    total = conf.sum()
    return {
        "accuracy": float(conf[labels, values].sum() / total) if total else float("nan"),
        "mapping": mapping,
        "confusion": conf,
    }
