"""LatentSpec's helpers that set a categorical code and summarise the codes."""
from __future__ import annotations

import pytest
import torch

from models.latent import LatentSpec


def test_with_category_sets_one_block_and_keeps_the_rest():
    spec = LatentSpec(z_dim=2, categorical=(3, 4), continuous=1)
    flat = torch.rand(5, spec.input_dim)
    before = flat.clone()
    every = spec.with_category(flat, 1, 2)  # one category for every row
    z, blocks, codes = spec.split(every)
    assert torch.equal(blocks[1], torch.eye(4)[[2] * 5])
    assert torch.equal(z, flat[:, :2]) and torch.equal(blocks[0], flat[:, 2:5]) and torch.equal(codes, flat[:, -1:])
    per_row = spec.with_category(flat, 0, torch.tensor([0, 1, 2, 0, 5]))  # 5 is no category: an all-zero block
    assert torch.equal(spec.split(per_row)[1][0], torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 0.]]))
    assert torch.equal(flat, before)  # a copy: the input is left as it was
    with pytest.raises(ValueError, match="categorical code 2"):
        spec.with_category(flat, 2, 0)


def test_a_class_label_is_not_counted_among_the_other_codes():
    assert LatentSpec(z_dim=2, categorical=(3, 4)).other_categorical == (3, 4)
    assert LatentSpec(z_dim=2, categorical=(3, 4), class_names=("a", "b", "c")).other_categorical == (4,)
    assert LatentSpec(z_dim=2).other_categorical == ()
