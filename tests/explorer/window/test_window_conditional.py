"""A class-conditional model in the window: trained from the form (its classes come from the
dataset, not from a field to type), steered with the Class buttons, kept by a session."""
from __future__ import annotations

import numpy as np
import torch

from models.families.registry import build_model
from models.runs.checkpoint import save_checkpoint

FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def test_training_a_cvae_from_the_form_names_its_classes_from_the_data(qtbot, window):
    panel = window.train_panel
    panel.family.setCurrentIndex(panel.family.findData("cvae"))
    assert "num_classes" not in panel.fields and "class_names" not in panel.fields  # nothing to type
    panel.fields["arch"].set("mlp")
    panel.fields["hidden"].set(32)
    panel.batch_size.setValue(32)
    panel.epochs.setValue(1000.0)
    panel.device.setCurrentText("cpu")
    with qtbot.waitSignal(window.session.started, timeout=15_000):
        panel.train_button.click()
    qtbot.waitUntil(lambda: window.session.state == "running", timeout=15_000)
    spec = window.model_state.model.latent_spec
    assert spec.class_names == tuple(str(i) for i in range(10))  # the tiny dataset's names
    lp = window.latent_panel
    qtbot.waitUntil(lambda: lp.class_row.isVisibleTo(lp), timeout=5_000)  # Qt shows a new child a turn later
    assert len(lp.class_row.buttons()) == 10
    with qtbot.waitSignal(window.session.finished, timeout=15_000):
        panel.stop_button.click()


def test_class_buttons_steer_a_cgan_and_a_session_keeps_the_class(qtbot, window, tmp_path):
    torch.manual_seed(0)
    model = build_model("cgan", {"num_classes": 10, "class_names": list(FASHION), "g_channels": 8, "d_channels": 8,
                                 "fc_hidden": 64})
    ck = save_checkpoint(tmp_path / "cgan.safetensors", model, {"dataset": "fashion", "step": 1})
    with qtbot.waitSignal(window.model_state.model_changed, timeout=20_000):
        assert window.open_path(ck)
    row = window.latent_panel.class_row
    assert row.buttons()[9].toolTip().endswith("Ankle boot")  # named from the checkpoint, not numbered
    qtbot.waitUntil(lambda: window.decoder.last_image is not None, timeout=10_000)
    row.button(1).click()
    assert window.latent_state.category(0) == 1
    qtbot.waitUntil(lambda: window.decoder.last_image is not None, timeout=10_000)
    trouser = np.array(window.decoder.last_image, copy=True)
    row.button(8).click()
    qtbot.waitUntil(lambda: not np.array_equal(window.decoder.last_image, trouser), timeout=10_000)
    assert window.latent_state.category(0) == 8  # the class changed what is drawn
    file = window.sessions.save(tmp_path / "s.session.json")
    assert file is not None
    window.latent_panel.class_row.button(3).click()
    with qtbot.waitSignal(window.sessions.restored, timeout=30_000):
        assert window.sessions.open(file)
    assert window.latent_state.category(0) == 8 and window.latent_panel.class_row.current() == 8


def test_encoding_a_test_image_with_a_cvae_gives_it_the_images_own_class(qtbot, window, tiny_dataset, tmp_path):
    torch.manual_seed(0)
    model = build_model("cvae", {"arch": "mlp", "hidden": 16, "latent_dim": 3, "num_classes": 10,
                                 "class_names": [str(i) for i in range(10)]})
    ck = save_checkpoint(tmp_path / "cvae.safetensors", model, {"dataset": "tiny", "step": 1})
    with qtbot.waitSignal(window.model_state.model_changed, timeout=20_000):
        assert window.open_path(ck)
    qtbot.waitUntil(lambda: window.data_state.dataset is not None, timeout=10_000)
    panel = window.latent_panel
    qtbot.waitUntil(panel.encode_button.isEnabled, timeout=10_000)
    for index in (0, 1, 2, 3):
        panel.test_index.setValue(index)
        panel.encode_button.click()
        label = int(tiny_dataset.test.labels[index])
        assert window.latent_state.category(0) == label  # the test set's label, not a guess
        assert panel.class_row.current() == label
