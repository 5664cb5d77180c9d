"""The validation loss (models.training.validation): the mean over the held-out images, read
off the device once however many chunks and terms it has."""
from __future__ import annotations

import pytest
import torch

from models.families.registry import build_model
from models.training.validation import validation_means


def _reference(model, split, n, chunk):
    """The mean as a per-chunk host loop computes it (one read per chunk per term)."""
    sums: dict[str, float] = {}
    with torch.no_grad():
        for a in range(0, n, chunk):
            idx = torch.arange(a, min(a + chunk, n))
            for k, v in model.validation_terms(split.batch(idx)).items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(idx)
    return {k: v / n for k, v in sums.items()}


def test_validation_reads_the_device_once(tiny_dataset, host_read_spy, monkeypatch):
    model = build_model("vae", latent_dim=3, hidden=16).eval()
    tolist_calls = []
    real_tolist = torch.Tensor.tolist

    def counting_tolist(self):
        tolist_calls.append(self.shape)
        return real_tolist(self)

    monkeypatch.setattr(torch.Tensor, "tolist", counting_tolist)
    torch.manual_seed(1)  # the VAE's held-out loss draws its epsilon: both ways draw the same
    with host_read_spy:
        means = validation_means(model, tiny_dataset.test, 45, chunk=20)  # 3 chunks of 3 terms
    assert host_read_spy.host_reads == []  # no float() / .item() per chunk per term
    assert tolist_calls == [torch.Size([3])]  # the one read: every term's sum at once
    assert means.keys() == {"recon", "kl", "total"}
    torch.manual_seed(1)
    assert means == pytest.approx(_reference(model, tiny_dataset.test, 45, 20), rel=1e-5)


def test_no_images_or_no_terms_make_an_empty_validation(tiny_dataset):
    assert validation_means(build_model("vae", latent_dim=3, hidden=16), tiny_dataset.test, 0) == {}
    assert validation_means(build_model("gan", z_dim=4, hidden=16), tiny_dataset.test, 20) == {}  # a GAN has none
