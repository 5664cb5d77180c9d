"""The latent panel adapts to the LatentSpec: categorical buttons, code sliders, GAN controls."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn

from models.families.base import LatentModel, ModelConfig
from models.latent import LatentSpec


class FakeGenerator(LatentModel):
    """A decoder-only model with any LatentSpec (InfoGAN-style when given codes)."""

    family = "fake-gan"

    def __init__(self, spec: LatentSpec, image_shape=(1, 8, 8)) -> None:
        super().__init__(ModelConfig(image_shape=image_shape))
        self._spec = spec
        self.net = nn.Linear(spec.input_dim, int(np.prod(image_shape)))
        self.image_shape = image_shape

    @property
    def latent_spec(self) -> LatentSpec:
        return self._spec

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(latent)).view(-1, *self.image_shape)


INFOGAN_SPEC = LatentSpec(z_dim=6, prior="uniform", categorical=(10,), continuous=2, has_encoder=False)


def test_infogan_spec_category_buttons_and_code_sliders(window):
    window.model_state.set_model(FakeGenerator(INFOGAN_SPEC))
    panel = window.latent_panel
    assert len(panel.z_rows) == 6 and len(panel.code_rows) == 2
    assert panel.categorical_group.isVisible() and panel.continuous_group.isVisible()
    group = panel.category_controls[0]
    assert len(group.buttons()) == 10 and group.checkedId() == 0  # the origin is category 0
    assert panel.generator_box.isVisible() and not panel.encode_box.isVisible()
    assert not panel.sort_by_kl.isVisible()
    # a category button sets the one-hot block and re-decodes
    before = window.image_view.image.copy()
    group.button(7).click()
    assert window.latent_state.category(0) == 7
    flat = window.latent_state.flat
    assert flat[6:16].tolist() == [0.0] * 7 + [1.0] + [0.0] * 2
    assert not np.array_equal(before, window.image_view.image)
    # a continuous code slider writes its own slot of the flat vector
    panel.code_rows[1].slider.setValue(1.5)
    assert window.latent_state.flat[6 + 10 + 1] == pytest.approx(1.5)
    assert panel.code_rows[1].slider.maximum() == INFOGAN_SPEC.continuous_range[1]


def test_random_with_seed_and_truncation_is_reproducible(window):
    window.model_state.set_model(FakeGenerator(LatentSpec(z_dim=5, has_encoder=False, categorical=(3,))))
    panel = window.latent_panel
    panel.seed.setValue(42)
    panel.truncation.setValue(0.5)
    panel.randomize()
    first = window.latent_state.flat
    assert panel.seed.value() == 43  # the next draw is a new one
    assert np.all(np.abs(first[:5]) <= 0.5)
    panel.seed.setValue(42)
    panel.randomize()
    np.testing.assert_array_equal(window.latent_state.flat, first)
    # state -> controls: the category buttons follow a random draw
    assert panel.category_controls[0].checkedId() == window.latent_state.category(0)


def test_wide_categorical_code_gets_a_spin_box(window):
    window.model_state.set_model(FakeGenerator(LatentSpec(z_dim=2, categorical=(40,), has_encoder=False)))
    spin = window.latent_panel.category_controls[0]
    spin.setValue(33)
    assert window.latent_state.category(0) == 33
    window.latent_state.set_category(0, 5)
    assert spin.value() == 5


def test_hundred_dims_in_a_scroll_area_build_fast_and_drag_cheaply(window):
    t0 = time.perf_counter()
    window.model_state.set_model(FakeGenerator(LatentSpec(z_dim=100, has_encoder=False)))
    build = time.perf_counter() - t0
    panel = window.latent_panel
    assert len(panel.z_rows) == 100
    assert panel.scroll.widget() is panel.z_container
    assert build < 5.0, f"building 100 sliders took {build:.2f}s"
    t0 = time.perf_counter()
    for i in range(50):
        panel.z_rows[99].slider.setValue(-3 + i * 0.1)
    per_move = (time.perf_counter() - t0) / 50
    assert window.latent_state.flat[99] == pytest.approx(1.9)
    assert per_move < 0.05, f"one slider move took {per_move * 1e3:.1f} ms"


def test_kl_greys_inactive_dims_and_sorts(window, vae_checkpoint):
    from models.runs.checkpoint import load_checkpoint

    ckpt = load_checkpoint(vae_checkpoint)
    window.model_state.set_model(ckpt.model)
    kl = np.array([0.5, 0.001, 2.0, 0.0, 0.2])
    window.model_state.set_kl(kl)
    panel = window.latent_panel
    assert panel.z_rows[2].kl.text() == "KL 2.00"
    assert "8a8a8a" in panel.z_rows[1].name.styleSheet()  # inactive: greyed
    assert panel.z_rows[0].name.styleSheet() == ""
    assert "3 active" in panel.z_group.title()
    panel.sort_by_kl.setChecked(True)
    order = [panel.z_rows.index(panel.z_layout.itemAt(i).widget()) for i in range(5)]
    assert order == [2, 0, 4, 1, 3]
    panel.sort_by_kl.setChecked(False)
    assert [panel.z_rows.index(panel.z_layout.itemAt(i).widget()) for i in range(5)] == [0, 1, 2, 3, 4]
    # KL computed for an older model is dropped
    window.model_state.set_kl(np.ones(5), generation=window.model_state.generation - 1)
    assert window.model_state.kl_per_dim[2] == 2.0


def test_no_model_disables_controls(window):
    panel = window.latent_panel
    assert not panel.random_button.isEnabled() and not panel.zero_button.isEnabled()
    assert "No model loaded" in panel.info.text()
    window.model_state.set_model(FakeGenerator(LatentSpec(z_dim=3, has_encoder=False)))
    assert panel.random_button.isEnabled()
    window.model_state.set_model(None)
    assert not panel.random_button.isEnabled() and panel.z_rows == []


def test_a_gan_starts_at_a_typical_noise_point_an_encoder_model_at_its_origin():
    from explorer.state import LatentState

    state = LatentState()
    state.reset(LatentSpec(z_dim=100, has_encoder=False))
    z = state.flat
    assert 8.0 < float(np.linalg.norm(z)) < 12.0  # near sqrt(100), where its samples are, not at 0
    state.reset(LatentSpec(z_dim=100, has_encoder=False))
    assert np.array_equal(state.flat, z)  # the same point every time a model is opened
    info = LatentSpec(z_dim=4, categorical=(3,), continuous=2, has_encoder=False)
    state.reset(info)
    noise, (cat,), codes = info.split(torch.as_tensor(state.flat)[None])
    assert noise.abs().sum() > 0 and cat.tolist() == [[1.0, 0.0, 0.0]] and codes.abs().sum() == 0
    state.reset(LatentSpec(z_dim=5))  # a VAE: the prior mean
    assert not state.flat.any()


def test_random_draws_from_the_models_own_prior(qtbot, window):
    """A mixture-prior AAE: Random lands on the mixture (here 10 tight clusters on a circle of
    radius 10), not on the spec's standard normal; so do random paths and `sample`."""
    from models.explore.latent_paths import random_path
    from models.families.registry import build_model

    model = build_model("aae", latent_dim=3, hidden=16, disc_hidden=(8,), prior="mixture",
                        mixture_radius=10.0, mixture_std=0.1)
    window.model_state.set_model(model)
    for _ in range(5):
        window.latent_panel.random_button.click()
        radius = float(np.linalg.norm(window.latent_state.flat[:2]))
        assert 9.4 < radius < 10.6, radius
    keyframes = np.stack(random_path(model, 4, seed=1).keyframes)
    assert np.all(np.abs(np.linalg.norm(keyframes[:, :2], axis=1) - 10) < 0.6)
    z = model.sample_latents(200, torch.Generator().manual_seed(0))
    assert torch.all((z[:, :2].norm(dim=1) - 10).abs() < 0.6)


def test_a_20000_dimension_latent_opens_at_once_with_rows_only_on_screen(qtbot, window):
    """A stand-in model with a 20,000-dimension latent and a tiny decoder: building a row per
    dimension froze the window; only the rows on screen exist now."""
    from explorer.panels.latent_virtual import MAX_POOL

    panel = window.latent_panel
    t0 = time.perf_counter()
    window.model_state.set_model(FakeGenerator(LatentSpec(z_dim=20_000, has_encoder=False)))
    qtbot.wait(10)  # laid out and painted
    opened = time.perf_counter() - t0
    assert opened < 3.0, f"opening took {opened:.1f}s"
    view = panel.virtual_z
    assert view is not None and panel.z_rows == [] and 1 <= len(view.pool) <= MAX_POOL
    assert "20,000 dimensions" in panel.z_group.title()
    # the rows on screen show the state's point, and follow it
    flat = window.latent_state.flat
    assert view.pool[0].slider.value() == pytest.approx(np.clip(flat[0], -3, 3), abs=0.01)
    # scrolling shows far dimensions in the same rows; a drag there writes that dimension
    view.scroll_to(15_000)
    row = view.row_of(15_000)
    assert row is not None and row.name.text() == "z15000"
    row.slider.setValue(2.25)
    assert window.latent_state.flat[15_000] == pytest.approx(2.25)
    window.latent_state.set_z(15_000, -1.5)  # state -> the row showing it
    assert row.slider.value() == pytest.approx(-1.5)
    row.reset.click()
    assert window.latent_state.flat[15_000] == 0.0
    window.random_action.trigger()
    assert row.slider.value() == pytest.approx(np.clip(window.latent_state.flat[15_000], -3, 3), abs=0.01)
    # a smaller model after it gets its row per dimension again
    window.model_state.set_model(FakeGenerator(LatentSpec(z_dim=4, has_encoder=False)))
    assert panel.virtual_z is None and len(panel.z_rows) == 4


def test_a_wide_latents_kl_shows_on_its_rows_and_sorts_them(qtbot, window):
    from explorer.panels.latent_panel import EAGER_ROWS

    n = EAGER_ROWS + 44
    window.model_state.set_model(FakeGenerator(LatentSpec(z_dim=n, has_encoder=True)))
    panel = window.latent_panel
    kl = np.linspace(0.0, 1.0, n)
    kl[7] = 5.0
    window.model_state.set_kl(kl)
    view = panel.virtual_z
    assert view.pool[0].kl.text() == "KL 0.00" and "8a8a8a" in view.pool[0].name.styleSheet()
    panel.sort_by_kl.setChecked(True)
    assert view.pool[0].name.text() == "z7" and view.pool[0].kl.text() == "KL 5.00"
    assert view.pool[1].name.text() == f"z{n - 1}"
    panel.sort_by_kl.setChecked(False)
    assert view.pool[0].name.text() == "z0"


def test_very_many_codes_share_a_picker_and_on_screen_rows(qtbot, window):
    from explorer.panels.latent_panel import EAGER_ROWS, MAX_CATEGORY_ROWS

    blocks = (3,) * (MAX_CATEGORY_ROWS + 36)
    spec = LatentSpec(z_dim=2, categorical=blocks, continuous=EAGER_ROWS + 4, has_encoder=False)
    window.model_state.set_model(FakeGenerator(spec))
    panel = window.latent_panel
    picker = panel.category_picker
    assert picker is not None and panel.category_controls == []
    picker.code.setValue(50)
    picker.category.setValue(2)
    assert window.latent_state.category(50) == 2
    window.latent_state.set_category(50, 1)
    assert picker.category.value() == 1
    codes = panel.virtual_codes
    assert codes is not None and panel.code_rows == []
    assert codes.pool[0].name.text() == f"c{len(blocks)}"
    codes.pool[0].slider.setValue(0.5)
    assert window.latent_state.flat[2 + 3 * len(blocks)] == pytest.approx(0.5)
