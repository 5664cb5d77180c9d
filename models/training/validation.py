"""The held-out loss that ranks checkpoints: each validation term's mean over the first
images of the test split, summed on the device and read with one host sync."""
from __future__ import annotations

import torch

from models.data.base import Split
from models.families.base import LatentModel
from models.training.steps import check_labels, gather

#: images per forward pass: bounds the memory a validation takes, whatever its size
CHUNK = 500


def validation_means(model: LatentModel, split: Split, n: int, chunk: int = CHUNK) -> dict[str, float]:
    """Mean of each of ``model.validation_terms`` over ``split``'s first ``n`` images ({} for
    none, or for a family without held-out terms). The model's mode is left as it is (the
    caller puts it in eval mode). Every chunk's terms are added up on the device and all
    sums come back in one read, so a GPU waits once, not once per chunk per term. A
    class-conditional family gets (images, labels) batches (``steps.gather``)."""
    if n <= 0:
        return {}
    check_labels(model, split, "test", ranges=False)  # no host read: the training split's were checked
    idx_all = torch.arange(n, device=model.device)
    sums: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for a in range(0, n, chunk):
            idx = idx_all[a : a + chunk]
            for k, v in model.validation_terms(gather(model, split, idx)).items():
                weighted = v.detach().float().reshape(()) * len(idx)  # a chunk's share of the mean
                sums[k] = sums[k] + weighted if k in sums else weighted
    if not sums:
        return {}
    values = torch.stack(list(sums.values())).tolist()  # the one host sync
    return {k: v / n for k, v in zip(sums, values)}
