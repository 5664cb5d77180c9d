"""The generated Model & data form."""
from __future__ import annotations

import dataclasses

import pytest

from explorer.panels import train_panel as tp
from explorer.training_session import TrainingSession
from models.families.registry import FAMILIES, config_class


def test_family_form_is_generated_from_each_config(qtbot):
    panel = tp.TrainPanel(TrainingSession())
    qtbot.addWidget(panel)
    for i in range(panel.family.count()):
        fam = panel.family.itemData(i)
        if panel.availability[fam] is not None:
            continue
        panel.family.setCurrentIndex(i)
        expected = [f.name for f in dataclasses.fields(config_class(fam)) if f.name not in tp.HIDDEN_FIELDS]
        assert list(panel.fields) == expected, fam
        req = panel.request()
        assert req.family == fam
        assert set(req.model_config) == set(expected)
    panel.family.setCurrentIndex(panel.family.findData("vae"))
    assert isinstance(panel.fields["arch"].widget, tp.QComboBox)  # choices from its comment
    assert panel.fields["arch"].widget.count() == 2
    assert "conv" in panel.fields["arch"].widget.toolTip()
    panel.fields["beta"].set(4.0)
    panel.lr.setValue(0.0)
    req = panel.request()
    assert req.model_config["beta"] == 4.0 and req.train_config.lr is None  # family default
    # DCGAN: the arch choices and a generator rate whose 0 means "the arch's default"
    panel.family.setCurrentIndex(panel.family.findData("dcgan"))
    arch = panel.fields["arch"].widget
    assert [arch.itemText(i) for i in range(arch.count())] == ["auto", "dense", "conv"]
    g_lr = panel.fields["g_lr"].widget
    assert g_lr.text() == "auto" and g_lr.minimum() == 0.0
    panel.fields["g_lr"].set(5e-4)
    assert g_lr.text() == "0.0005" and panel.request().model_config["g_lr"] == 5e-4
    assert panel.request().train_config.lr_decay is None  # the family's own schedule
    panel.lr_decay.setCurrentIndex(panel.lr_decay.findData("linear"))
    assert panel.request().train_config.lr_decay == "linear"
    # GANs sample from a weight average by default; 0 switches it off, and the field says so
    panel.family.setCurrentIndex(panel.family.findData("gan"))
    ema = panel.fields["ema"]
    assert ema.widget.text() == "0.999" and panel.request().model_config["ema"] == 0.999
    ema.set(0.0)
    assert ema.widget.text() == "off" and panel.request().model_config["ema"] == 0.0


def test_wgan_gp_brings_the_papers_batch_unless_the_user_chose_one(qtbot):
    panel = tp.TrainPanel(TrainingSession())
    qtbot.addWidget(panel)
    panel.family.setCurrentIndex(panel.family.findData("vae"))
    assert panel.batch_size.value() == 128
    panel.family.setCurrentIndex(panel.family.findData("wgan-gp"))
    assert panel.batch_size.value() == 320  # 64 real images per critic update x 5 critic updates
    assert panel.train_config().batch_size == 320
    panel.family.setCurrentIndex(panel.family.findData("dcgan"))
    assert panel.batch_size.value() == 128
    panel.batch_size.setValue(50)  # the user's choice survives a family change
    panel.family.setCurrentIndex(panel.family.findData("wgan-gp"))
    assert panel.batch_size.value() == 50


def test_choosing_the_conv_arch_brings_its_batch_of_64_unless_the_user_chose_one(qtbot):
    panel = tp.TrainPanel(TrainingSession())
    qtbot.addWidget(panel)
    panel.family.setCurrentIndex(panel.family.findData("vae"))
    assert panel.batch_size.value() == 128  # the MLP: the classic example's batch
    panel.fields["arch"].set("conv")
    assert panel.batch_size.value() == 64
    panel.fields["arch"].set("mlp")
    assert panel.batch_size.value() == 128
    panel.batch_size.setValue(100)  # the user's choice survives the arch
    panel.fields["arch"].set("conv")
    assert panel.batch_size.value() == 100


def test_fields_that_do_nothing_under_the_current_choice_are_greyed(qtbot):
    """sigma only matters for a Gaussian decoder, the mixture's shape for the mixture prior,
    the capacity schedule's numbers once capacity is on; the form follows the choice live."""
    panel = tp.TrainPanel(TrainingSession())
    qtbot.addWidget(panel)
    panel.family.setCurrentIndex(panel.family.findData("aae"))
    f = panel.fields
    label = lambda name: panel.hyper_form.labelForField(f[name].widget)  # noqa: E731
    assert not f["sigma"].widget.isEnabled() and not label("sigma").isEnabled()
    assert "only used when Likelihood is gaussian" in f["sigma"].widget.toolTip()
    assert not f["mixture_radius"].widget.isEnabled() and not f["mixture_components"].widget.isEnabled()
    f["prior"].set("mixture")
    assert f["mixture_radius"].widget.isEnabled() and f["mixture_std"].widget.isEnabled()
    assert "only used" not in f["mixture_radius"].widget.toolTip()
    f["likelihood"].set("gaussian")
    assert f["sigma"].widget.isEnabled() and label("sigma").isEnabled()
    assert f["latent_dim"].widget.isEnabled()  # unconditional fields stay on
    panel.family.setCurrentIndex(panel.family.findData("beta-vae"))
    f = panel.fields
    assert not f["gamma"].widget.isEnabled() and not f["capacity_steps"].widget.isEnabled()
    f["capacity"].set(True)
    assert f["gamma"].widget.isEnabled() and f["capacity_max"].widget.isEnabled()
    assert panel.request().model_config["capacity"] is True  # greyed fields are still sent as set


def test_unavailable_family_is_greyed(qtbot, monkeypatch):
    monkeypatch.setitem(FAMILIES, "future-gan", ("models.not_written_yet", "FutureGAN"))
    panel = tp.TrainPanel(TrainingSession())
    qtbot.addWidget(panel)
    index = panel.family.findData("future-gan")
    assert "unavailable" in panel.family.itemText(index)
    item = panel.family.model().item(index)
    assert not item.isEnabled() and "ModuleNotFoundError" in item.toolTip()


def test_tuple_fields_and_data_dir_rows(qtbot):
    panel = tp.TrainPanel(TrainingSession())
    qtbot.addWidget(panel)
    panel.show()
    if panel.availability.get("gan") is None:
        panel.family.setCurrentIndex(panel.family.findData("gan"))
        panel.fields["g_hidden"].widget.setText("64, 128")
        assert panel.request().model_config["g_hidden"] == (64, 128)
        panel.fields["g_hidden"].widget.setText("64, x")
        with pytest.raises(ValueError, match="G hidden layers"):
            panel.request()
    panel.dataset.setCurrentText("shapes")
    assert not panel._dir_row.isVisible()
    panel.dataset.setCurrentText("mnist")
    assert panel._dir_row.isVisible()


def test_folder_image_size_and_colour_show_for_folders_and_are_remembered(qtbot, tmp_path):
    """The CLI's --image-size / --channels for an image folder: two rows shown only for the
    folder dataset, sent with the request, remembered with the rest of the form."""
    panel = tp.TrainPanel(TrainingSession())
    qtbot.addWidget(panel)
    panel.show()
    panel.dataset.setCurrentText("shapes")
    assert not panel.image_size.isVisible() and not panel.channels.isVisible()
    panel.dataset.setCurrentText("folder")
    assert panel.image_size.isVisible() and panel.channels.isVisible()
    assert panel.image_size.value() == 64 and panel.channels.currentData() == 1  # grey 64x64 unless chosen
    panel.data_dir.setText(str(tmp_path))
    panel.image_size.setValue(32)
    panel.channels.setCurrentIndex(panel.channels.findData(3))
    request = panel.request()
    assert (request.dataset, request.image_size, request.channels) == ("folder", 32, 3)
    panel.dataset.setCurrentText("mnist")  # the other datasets have their own size and are grey
    request = panel.request()
    assert (request.image_size, request.channels) == (None, 1)

    panel.dataset.setCurrentText("folder")
    started: list = []
    panel.session.start = started.append  # remember the form without training
    panel.start_training()
    assert started and started[0].channels == 3
    again = tp.TrainPanel(TrainingSession())
    qtbot.addWidget(again)
    assert again.dataset.currentText() == "folder" and again.data_dir.text() == str(tmp_path)
    assert again.image_size.value() == 32 and again.channels.currentData() == 3


def test_form_follows_a_folder_models_size_and_colour(qtbot):
    panel = tp.TrainPanel(TrainingSession())
    qtbot.addWidget(panel)
    from models.families.registry import build_model

    model = build_model("vae", latent_dim=3, hidden=16, image_shape=(3, 16, 16))
    panel.show_model(model, {"dataset": "folder", "step": 4})
    assert panel.dataset.currentText() == "folder"
    assert panel.image_size.value() == 16 and panel.channels.currentData() == 3
