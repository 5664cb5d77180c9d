"""Traversal grids with rows = classes for a class-conditional model (no Qt): each row draws
its class, the columns sweep one z dimension or one principal direction, the rest of the
point is held."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from class_drawer import DIGITS, FASHION, SIDE, ClassDrawer, drawn_class

from models.explore.directions_format import Directions
from models.explore.render import decode_batched
from models.explore.traversal import (
    class_traversal_grid, class_traversal_latents, most_influential_dim, traversal_grid,
)
from models.families.registry import build_model
from models.latent import LatentPoint


def _around(model: ClassDrawer, category: int) -> np.ndarray:
    spec = model.latent_spec
    return LatentPoint(np.array([0.5, -1.0, 2.0, 0.25], np.float32), [category]).to_flat(spec)


def test_rows_are_classes_and_columns_sweep_the_chosen_dim():
    model = ClassDrawer(FASHION)
    spec = model.latent_spec
    around = _around(model, 7)  # the point draws class 7: every row still draws its own
    flat = class_traversal_latents(model, dim=0, steps=5, value_range=2.0, around=around)
    assert flat.shape == (10 * 5, spec.input_dim)
    images = decode_batched(model, flat)
    for c in range(10):
        row = images[c * 5 : (c + 1) * 5]
        assert [drawn_class(im) for im in row] == [c] * 5
        # the sweep: z0 from -2 to 2 changes the z0 rows of the image, left to right
        z0_shade = row[:, 0, SIDE - 1, 0]
        assert torch.all(z0_shade[1:] > z0_shade[:-1])
    z = flat[:, : spec.z_dim].view(10, 5, -1)
    assert torch.allclose(z[:, :, 0], torch.linspace(-2, 2, 5).expand(10, 5))
    assert torch.all(z[:, :, 1:] == torch.as_tensor(around[1:4]))  # the rest held at the point


def test_a_principal_direction_sweeps_the_columns():
    model = ClassDrawer(DIGITS)
    spec = model.latent_spec
    dirs = np.zeros((2, spec.input_dim), np.float32)
    dirs[0, 1], dirs[1, 0] = 1.0, 1.0  # PC1 along z1, PC2 along z0
    directions = Directions(dirs, np.array([0.6, 0.3], np.float32), np.array([1.0, 0.5], np.float32),
                            spec.zeros(1)[0].numpy(), "output", "test", 100, 0, spec.z_dim)
    around = _around(model, 3)
    flat = class_traversal_latents(model, steps=3, value_range=2.0, around=around, directions=directions, direction=1)
    z = flat[:, : spec.z_dim].view(10, 3, -1)
    # PC2 moves z0 by -2..2 of its 0.5 stdev around the point's 0.5; z1 stays
    assert torch.allclose(z[:, :, 0], torch.tensor([-0.5, 0.5, 1.5]).expand(10, 3))
    assert torch.all(z[:, :, 1] == -1.0)
    assert [drawn_class(im) for im in decode_batched(model, flat)[::3]] == list(range(10))
    with pytest.raises(ValueError, match="2 principal directions"):
        class_traversal_latents(model, steps=3, directions=directions, direction=2)


def test_the_grid_and_its_default_dim():
    model = ClassDrawer(("square", "ellipse", "heart"))
    assert most_influential_dim(model) == 0  # only z0 changes the stand-in's image
    image = class_traversal_grid(model, steps=4, seed=3)
    tile = SIDE + 2
    assert image.shape == (3 * tile + 2, 4 * tile + 2, 1) and image.dtype == np.uint8
    assert np.array_equal(image, class_traversal_grid(model, dim=0, steps=4, seed=3))


def test_refuses_what_it_cannot_draw():
    infogan = build_model("infogan", z_dim=4, categorical=(3,), continuous=1, fc_hidden=16, q_hidden=8, channels=4)
    with pytest.raises(ValueError, match="no class label"):
        class_traversal_latents(infogan, dim=0)
    model = ClassDrawer()
    with pytest.raises(ValueError, match="out of range"):
        class_traversal_latents(model, dim=4)
    with pytest.raises(ValueError, match="at least 2 steps"):
        class_traversal_latents(model, dim=0, steps=1)
    # the InfoGAN figure stays what it was: its categories as rows, its code as columns
    assert traversal_grid(infogan, steps=3).shape[0] == 3 * 30 + 2


def test_a_model_of_very_many_classes_draws_a_window_of_them_from_the_points_class():
    """Thousands of classes would make an image hundreds of thousands of pixels tall."""
    from models.explore.traversal import MAX_CLASS_ROWS, class_rows, class_traversal_latents
    from models.families.registry import build_model

    model = build_model("cgan", {"z_dim": 4, "g_channels": 4, "d_channels": 4, "fc_hidden": 8, "num_classes": 500})
    spec = model.latent_spec
    assert class_rows(spec) == list(range(MAX_CLASS_ROWS))
    assert class_rows(spec, first=490)[:12] == [*range(490, 500), 0, 1]  # wraps
    flat = class_traversal_latents(model, dim=0, steps=3, classes=class_rows(spec, first=7))
    assert flat.shape == (MAX_CLASS_ROWS * 3, spec.input_dim)
    labels = flat[:, spec.z_dim:spec.z_dim + 500].argmax(1)
    assert labels[::3].tolist() == list(range(7, 7 + MAX_CLASS_ROWS))
