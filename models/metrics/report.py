"""Held-out metrics (``latent-explorer eval`` and the window's Evaluate): reconstruction
figures for the encoder families, and :func:`evaluate_model`, which picks every figure that
fits a family.

``test_loss`` is exactly the classic PyTorch VAE example's metric: over the test set,
the mean of (binary cross-entropy on grey levels, summed over pixels, with z sampled by
the reparameterisation) + KL, in nats.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import torch
import torch.nn.functional as F

from models.families.base import LatentModel
from models.data.base import Dataset, Split
from models.families.vae import VAE, gaussian_kl

if TYPE_CHECKING:  # the classifier module imports training: loaded only when scoring
    from models.metrics.classifier import Classifier


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
    is_vae = isinstance(model, VAE)
    for a in range(0, n, batch_size):
        x = test.batch(torch.arange(a, min(n, a + batch_size), device=device))
        if is_vae:
            mu, logvar = model.encode_stats(x)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            sums["kl"] += float(gaussian_kl(mu, logvar).sum())
            mus.append(mu.cpu())
        else:
            z = model.encode(x)
        mean = model.decode(z).clamp(0, 1)
        sums["recon_bce"] += float(F.binary_cross_entropy(mean, x, reduction="sum"))
        sums["recon_mse"] += float((mean - x).pow(2).sum())
    out = {k: v / n for k, v in sums.items()}
    if is_vae:
        out["test_loss"] = out["recon_bce"] + out["kl"]
        # a unit is active when its posterior mean varies across data (Burda et al. 2016)
        out["active_units"] = int((torch.cat(mus).var(0) > active_threshold).sum())
        out["latent_dim"] = model.latent_spec.z_dim
    else:
        del out["kl"]
    return out


@torch.no_grad()
def kl_per_dimension(model: VAE, test: Split, n: int = 2000) -> torch.Tensor:
    """Mean KL of each latent dimension over ``n`` test images, shape (D,): which dims matter."""
    model.eval()
    x = test.batch(torch.arange(min(n, len(test)), device=model.device))
    mu, logvar = model.encode_stats(x)
    return gaussian_kl(mu, logvar).mean(0).cpu()


#: samples scored by the dataset's classifier unless told otherwise (the issue's 10,000)
DEFAULT_SAMPLES = 10000


def evaluate_model(
    model: LatentModel,
    dataset: Dataset,
    n: int | None = None,
    seed: int = 0,
    classifier: Callable[[], Classifier] | None = None,
) -> dict[str, Any]:
    """Every figure that fits the model's family (``latent-explorer eval`` and the window's
    Evaluate): reconstruction figures for encoder families (AAE: its ``test_loss`` is the
    reconstruction term, said in ``note``); for families with a prior, the dataset
    classifier's scores of ``n`` samples (``classifier_fid``, ``inception_score``,
    ``class_coverage``, the real-data ``reference``) and, for a categorical code,
    ``code_accuracy``.

    ``n`` None: 10,000 samples, except that an encoder family is scored only when the
    classifier is already cached (training one costs minutes on a CPU; ``sample_note`` says
    how to ask); 0 skips sample scores for encoder families. ``classifier()`` supplies the
    classifier when needed (callers show its training progress); default: get_classifier.
    Raises ValueError for a generator with ``n`` < 1 or an image shape the dataset lacks.
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
        if model.family == "aae":
            result["note"] = "AAE test_loss is the reconstruction term only (no KL: the prior is matched adversarially)"
            result["test_loss"] = result["recon_bce"]
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
    clf = classifier() if classifier is not None else get_classifier(dataset, model.device)
    result.update(evaluate_generator(model, dataset, n=samples, seed=seed, classifier=clf))
    if encoder:
        result["sample_note"] = (f"classifier_fid, inception_score and class_coverage score {samples} images "
                                 "decoded from the prior (--n 0 skips them)")
    if model.latent_spec.categorical:
        acc = code_accuracy(model, clf, seed=seed)
        result["code_accuracy"] = acc["accuracy"]
        result["code_mapping"] = acc.get("mapping")
    return result
