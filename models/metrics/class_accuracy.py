"""Whether a class-conditional model (cvae, cgan) makes the class it is asked for.

:func:`class_accuracy` decodes ``n`` latents drawn from the model's prior with the classes
spread evenly (class ``i mod K`` for the i-th latent, so every class gets ``n / K`` of them),
classifies them with the dataset's classifier (:mod:`models.metrics.classifier`) and reports
the share recognised as the class asked for, overall and per class. Unlike InfoGAN's
``code_accuracy`` no matching of code values to labels is searched: a conditional model's
class k is trained to be the dataset's label k.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # the classifier module imports training: loaded only when scoring
    from models.metrics.classifier import Classifier

#: samples scored unless told otherwise (the figure the issue's target is stated for)
DEFAULT_SAMPLES = 10000


@torch.no_grad()
def class_accuracy(model: Any, classifier: Classifier, n: int = DEFAULT_SAMPLES, seed: int = 0,
                   batch: int = 500) -> dict[str, Any]:
    """``class_accuracy`` (float: the share of ``n`` samples the classifier puts in the class
    they were decoded for), ``class_accuracy_per_class`` ({class name: share}) and
    ``class_accuracy_n``. Seeded: the same model gives the same figures. ValueError for a
    model without a class label, ``n`` < 1, or a classifier of another number of classes."""
    from models.metrics.sample_quality import _eval_mode, _model_device, _prior_latents

    spec = model.latent_spec
    if not spec.conditional:
        raise ValueError(f"class_accuracy needs a class-conditional model (cvae, cgan), not {model.family}")
    if n < 1:
        raise ValueError("class_accuracy scores samples: n must be at least 1")
    k = spec.categorical[0]
    if classifier.num_classes != k:
        raise ValueError(f"the model has {k} classes but the {classifier.dataset_name or 'dataset'} classifier knows "
                         f"{classifier.num_classes}: they are not the same classes")
    device = _model_device(model)
    gen = torch.Generator(device=device).manual_seed(seed)
    wanted = torch.arange(n, device=device) % k
    hits = torch.zeros(k, dtype=torch.long)
    with _eval_mode(model):
        for a in range(0, n, batch):
            y = wanted[a:a + batch]
            flat = spec.with_category(_prior_latents(model, len(y), gen, device), 0, y)
            predicted = classifier.predict(model.decode(flat)).to(device)
            hits += torch.bincount(y[predicted == y], minlength=k).cpu()
    counts = torch.bincount(wanted, minlength=k).cpu()
    per_class = {name: float(hits[i] / counts[i]) if counts[i] else float("nan")
                 for i, name in enumerate(spec.class_names)}
    return {"class_accuracy": float(hits.sum() / n), "class_accuracy_per_class": per_class, "class_accuracy_n": n}
