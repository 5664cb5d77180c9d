"""The controls generated from a config dataclass."""
from __future__ import annotations

import pytest

from explorer.panels import config_form as cf
from models.families.registry import config_class


def test_sci_spinbox_accepts_exponents(qtbot):
    box = cf.SciSpinBox()
    qtbot.addWidget(box)
    box.lineEdit().setText("2e-4")
    box.interpretText()
    assert box.value() == pytest.approx(2e-4)
    assert box.text() == "0.0002"


def test_field_docs_reads_comments():
    docs = cf.field_docs(config_class("vae"))
    assert "beta" in docs and "KL" in docs["beta"]
    assert "image_shape" in docs  # inherited from ModelConfig


def test_a_fields_own_bound_limits_its_spin_box(qtbot):
    """The form cannot ask for what a checkpoint of the same config would be refused for."""
    form = cf.ConfigForm()
    qtbot.addWidget(form)
    form.build(config_class("vae"))
    spin = form.fields["res_blocks"].widget
    assert spin.maximum() == 64
    spin.setValue(1000)
    assert form.fields["res_blocks"].get() == 64
    assert form.fields["latent_dim"].widget.maximum() == 10_000_000  # no bound of its own


def test_the_beta_vaes_depth_row_starts_at_four_is_bounded_and_greys_out_for_the_conv_net(qtbot):
    form = cf.ConfigForm()
    qtbot.addWidget(form)
    form.build(config_class("beta-vae"))
    layers = form.fields["mlp_layers"]
    assert layers.get() == 4 and (layers.widget.minimum(), layers.widget.maximum()) == (1, 8)
    layers.widget.setValue(0)
    assert layers.get() == 1
    layers.widget.setValue(3)
    assert layers.widget.isEnabled() and form.values()["mlp_layers"] == 3
    form.fields["arch"].widget.setCurrentText("conv")
    assert not layers.widget.isEnabled()  # the conv net has no dense stack to deepen
    form.fields["arch"].widget.setCurrentText("mlp")
    assert layers.widget.isEnabled() and form.values()["mlp_layers"] == 3
