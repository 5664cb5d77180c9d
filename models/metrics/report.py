"""The figures every front door shows: ``latent-explorer eval`` and the window's Evaluate
(:func:`evaluate_model`), and the window's Compare table (:func:`compare_models`, a
:func:`comparison_row` per model), all computed here.

:func:`evaluate_reconstruction` gives the encoder families' held-out figures.
``test_loss`` is exactly the classic PyTorch VAE example's metric: over the test set,
the mean of (binary cross-entropy on grey levels, summed over pixels, with z sampled by
the reparameterisation) + KL, in nats.

Long work takes the engine's one cancellation token (:mod:`models.cancel`): ``cancel`` is
checked between phases and inside the classifier's first training, and raises
``Cancelled``; ``progress(done, total)`` reports that training's steps.

On a dataset that knows its ground-truth factors (the shapes set), encoder families also get
the disentanglement scores of :mod:`models.metrics.disentanglement` (``mig``, ``dci`` and their
per-factor figures).

A class-conditional family (cvae, cgan) is scored on whether its samples are of the class
asked for (``class_accuracy``, overall and per class: :mod:`models.metrics.class_accuracy`)
beside the usual sample scores; a cvae's held-out figures give its encoder and decoder the
test images' true classes, so its ``test_loss`` bounds -log p(x | y).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch
import torch.nn.functional as F

from models.cancel import Cancelled, CancelToken, cancel_requested, raise_if_cancelled
from models.data.base import Dataset, Split, split_labels
from models.families.base import LatentModel
from models.families.vae import gaussian_kl
from models.metrics.class_accuracy import class_accuracy
from models.metrics.disentanglement import DISENTANGLEMENT_CODES, evaluate_disentanglement, has_factors
from models.training.steps import check_labels

if TYPE_CHECKING:  # the classifier module imports training: loaded only when scoring
    from models.metrics.classifier import Classifier
    from models.metrics.sample_quality import SampleScorer

#: ``progress(done, total)``
Progress = Callable[[int, int], None]


@torch.no_grad()
def evaluate_reconstruction(model: LatentModel, test: Split, batch_size: int = 1000, seed: int = 0,
                            active_threshold: float = 0.01) -> dict[str, float]:
    """recon_bce, recon_mse (+ test_loss, kl, active_units for VAEs), means per test image."""
    model.eval()
    device = model.device
    torch.manual_seed(seed)
    n = len(test)
    sums = {"recon_bce": 0.0, "recon_mse": 0.0, "kl": 0.0}
    mus = []
    gaussian = model.has_kl  # a posterior with a KL per dimension
    conditional = getattr(model, "conditional", False)
    if conditional and test.labels is not None and len(test.labels) == len(test):
        check_labels(model, test, "test")  # a label past the model's classes would be scored as no class at all
    for a in range(0, n, batch_size):
        idx = torch.arange(a, min(n, a + batch_size), device=device)
        x = test.batch(idx)
        given = {}
        if conditional:  # the true classes (inferred only for unlabelled images)
            y = split_labels(model, test, idx)
            given = {"labels": y if y is not None else model.infer_labels(x)}
        if gaussian:
            mu, logvar = model.encode_stats(x, **given)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            sums["kl"] += float(gaussian_kl(mu, logvar).sum())
            mus.append(mu.cpu())
            if conditional:
                z = model.with_class(z, given["labels"])
        else:
            z = model.encode(x, **given)
        mean = model.decode(z).clamp(0, 1)
        sums["recon_bce"] += float(F.binary_cross_entropy(mean, x, reduction="sum"))
        sums["recon_mse"] += float((mean - x).pow(2).sum())
    out = {k: v / n for k, v in sums.items()}
    if gaussian:
        out["test_loss"] = out["recon_bce"] + out["kl"]
        # a unit is active when its posterior mean varies across data (Burda et al. 2016)
        out["active_units"] = int((torch.cat(mus).var(0) > active_threshold).sum())
        out["latent_dim"] = model.latent_spec.z_dim
    else:
        del out["kl"]
    return out


#: samples scored by the dataset's classifier unless told otherwise: enough for a classifier
#: FID whose sampling noise is small next to the gaps between models
DEFAULT_SAMPLES = 10000


def evaluate_model(
    model: LatentModel,
    dataset: Dataset,
    n: int | None = None,
    seed: int = 0,
    classifier: Callable[[], Classifier] | None = None,
    *,
    progress: Progress | None = None,
    cancel: CancelToken = None,
    disentanglement_codes: int | None = None,
) -> dict[str, Any]:
    """Every figure that fits the model's family (``latent-explorer eval`` and the window's
    Evaluate): reconstruction figures for encoder families (AAE: its ``test_loss`` is the
    reconstruction term, said in ``note``); for families with a prior, the dataset
    classifier's scores of ``n`` samples (``classifier_fid``, ``inception_score``,
    ``class_coverage``, the real-data ``reference``) and, for a categorical code,
    ``code_accuracy`` (a class-conditional model: ``class_accuracy`` and
    ``class_accuracy_per_class`` of the same ``n`` samples instead). On a dataset with
    ground-truth factors, encoder families also get
    ``mig``, ``mig_per_factor``, ``dci`` and DCI's completeness and informativeness (overall
    and per factor) of ``disentanglement_codes`` test codes (None: 10,000; 0 skips them).

    ``n`` None: 10,000 samples, except that an encoder family is scored only when the
    classifier is already cached (training one costs minutes on a CPU; ``sample_note`` says
    how to ask); 0 skips sample scores for encoder families. ``classifier()`` supplies the
    classifier when needed (callers show its training progress); default: get_classifier
    on the model's device with ``progress`` and ``cancel``. ``cancel`` is also checked
    between the phases (reconstruction, classifier, sample scores, code accuracy) and raises
    ``Cancelled``. Raises ValueError for a generator with ``n`` < 1 or an image shape the
    dataset lacks.
    """
    from models.metrics.classifier import cache_path, get_classifier
    from models.metrics.sample_quality import code_accuracy, evaluate_generator

    if tuple(dataset.image_shape) != tuple(model.config.image_shape):
        raise ValueError(f"the model works on {tuple(model.config.image_shape)} images but {dataset.name} has "
                         f"{tuple(dataset.image_shape)}")
    result: dict[str, Any] = {"family": model.family, "dataset": dataset.name}
    encoder = model.latent_spec.has_encoder
    if encoder:
        result.update(evaluate_reconstruction(model, dataset.test, seed=seed))
        raise_if_cancelled(cancel)
        if model.family == "aae":
            result["note"] = "AAE test_loss is the reconstruction term only (no KL: the prior is matched adversarially)"
            result["test_loss"] = result["recon_bce"]
        if getattr(model, "conditional", False):
            result["note"] = "test_loss bounds -log p(x | class): encoder and decoder are given each test image's class"
        codes = DISENTANGLEMENT_CODES if disentanglement_codes is None else disentanglement_codes
        if codes > 0 and has_factors(dataset.test):
            result.update(evaluate_disentanglement(model, dataset.test, n=codes, seed=seed, cancel=cancel))
            raise_if_cancelled(cancel)
    samples = DEFAULT_SAMPLES if n is None else n
    if not model.has_prior or (samples <= 0 and encoder):
        return result
    if samples < 1:
        raise ValueError("a generator is scored on its samples: n must be at least 1")
    if encoder and not dataset.labelled:
        # scores need the dataset's classifier; the reconstruction figures stand alone
        result["sample_note"] = f"no sample scores: {dataset.name} has no labels to train the scoring classifier on"
        return result
    if encoder and n is None and not cache_path(dataset).exists():
        result["sample_note"] = (f"no sample scores: the {dataset.name} classifier is not trained yet; "
                                 f"pass --n {DEFAULT_SAMPLES} to train it once (cached) and score prior samples")
        return result
    clf = classifier() if classifier is not None else get_classifier(dataset, model.device, progress=progress,
                                                                      cancel=cancel)
    raise_if_cancelled(cancel)
    result.update(evaluate_generator(model, dataset, n=samples, seed=seed, classifier=clf))
    if encoder:
        result["sample_note"] = (f"classifier_fid, inception_score and class_coverage score {samples} images "
                                 "decoded from the prior (--n 0 skips them)")
    if model.latent_spec.conditional:  # the class is asked for, not discovered: no mapping to search
        raise_if_cancelled(cancel)
        if clf.num_classes == model.latent_spec.categorical[0]:
            result.update(class_accuracy(model, clf, n=samples, seed=seed))
        else:
            result["class_accuracy_note"] = (f"no class_accuracy: the model has {model.latent_spec.categorical[0]} "
                                             f"classes and {dataset.name} {clf.num_classes}")
    elif model.latent_spec.categorical:
        raise_if_cancelled(cancel)
        acc = code_accuracy(model, clf, seed=seed)
        result["code_accuracy"] = acc["accuracy"]
        result["code_mapping"] = acc.get("mapping")
    return result


# -- Compare: one row of figures per model, on one scale ----------------------------------
#: prior samples per model in a comparison (a few seconds per model on a CPU); FID falls with
#: sample size, so these read higher than eval's 10,000-sample figures
COMPARE_SAMPLES = 2000


def comparison_scorer(dataset: Dataset, device: torch.device | str | None = None, *,
                      progress: Progress | None = None, cancel: CancelToken = None) -> SampleScorer:
    """What :func:`comparison_row` scores samples with: the dataset's classifier (cached, or
    trained now with ``progress`` and ``cancel``; ``device`` None: the best available) and
    the test set's features, computed once for every model. Raises ValueError for a dataset
    without labels, ``Cancelled`` when cancelled during the classifier's training."""
    from models.metrics.classifier import get_classifier
    from models.metrics.sample_quality import SampleScorer

    return SampleScorer(get_classifier(dataset, device, progress=progress, cancel=cancel), dataset.test)


def comparison_row(model: LatentModel, dataset: Dataset, scorer: SampleScorer | None = None,
                   n: int = COMPARE_SAMPLES) -> dict[str, float] | None:
    """One model's row of the comparison, None when no figure fits it: reconstruction
    metrics on the test set for encoder families (``mse``, ``bce``, ``ssim`` per pixel and
    ``n`` images, see :mod:`models.metrics.reconstruction`) and, with a ``scorer`` and a
    prior, the scores of ``n`` seeded prior samples (``inception_score``, ``sample_fid``:
    the classifier FID, ``classes``: the class coverage; a class-conditional model also
    ``class_accuracy``, of ``n`` samples). On a dataset with ground-truth
    factors, encoder families also get ``mig`` and ``dci`` (10,000 codes, or the whole test
    set when smaller; ``dci`` missing without scikit-learn). A model made for other images
    than the dataset's gets None."""
    from models.metrics.reconstruction import reconstruction_metrics

    if tuple(model.config.image_shape) != tuple(dataset.image_shape):
        return None
    row: dict[str, float] = {}
    if model.latent_spec.has_encoder:
        row.update(reconstruction_metrics(model, dataset.test))
        if has_factors(dataset.test):
            scores = evaluate_disentanglement(model, dataset.test)
            row.update({k: scores[k] for k in ("mig", "dci") if isinstance(scores.get(k), float)})
    if scorer is not None and model.has_prior:
        s = scorer(model, n=n)
        row.update(inception_score=s["inception_score"], sample_fid=s["classifier_fid"], classes=s["class_coverage"])
        if model.latent_spec.conditional and scorer.classifier.num_classes == model.latent_spec.categorical[0]:
            row["class_accuracy"] = class_accuracy(model, scorer.classifier, n=n)["class_accuracy"]
    return row or None


def compare_models(models: Sequence[LatentModel], dataset: Dataset, *, sample_scores: bool = True,
                   n: int = COMPARE_SAMPLES, device: torch.device | str | None = None,
                   progress: Progress | None = None, classifier_progress: Progress | None = None,
                   cancel: CancelToken = None) -> list[dict[str, float] | None]:
    """A :func:`comparison_row` per model, in order. Sample scores when ``sample_scores``,
    some model has a prior and the dataset has labels (else reconstruction figures only).

    ``classifier_progress(step, total)`` reports the classifier's first training,
    ``progress(done, len(models))`` each finished row. ``cancel`` stops between models and
    returns the rows so far (an empty list when cancelled during the classifier's training):
    a partial table is still worth showing."""
    scorer = None
    if sample_scores and dataset.labelled and any(m.has_prior for m in models):
        try:
            scorer = comparison_scorer(dataset, device, progress=classifier_progress, cancel=cancel)
        except Cancelled:
            return []
    rows: list[dict[str, float] | None] = []
    for i, model in enumerate(models):
        if cancel_requested(cancel):
            break
        rows.append(comparison_row(model, dataset, scorer, n))
        if progress is not None:
            progress(i + 1, len(models))
    return rows
