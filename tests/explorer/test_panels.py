"""The training view's buffers and redraws, and the generated Model & data form."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QApplication

from explorer.panels import train_panel as tp
from explorer.panels.training_view import Series, TrainingView
from explorer.workers import TrainingSession
from models.families.registry import FAMILIES, config_class
from models.training.loop import StepMetrics


def test_series_grows_by_doubling_and_smooths_incrementally():
    s = Series(capacity=4)
    for i in range(10):
        s.append(i, float(i % 2))
    assert s.n == 10 and s.x.shape[0] == 16
    assert np.array_equal(s.x[:10], np.arange(10))
    raw = s.smoothed(0.0)
    assert np.array_equal(raw, s.y[:10])
    sm = s.smoothed(0.5)
    expected = [0.0]
    for v in s.y[1:10]:
        expected.append(0.5 * expected[-1] + 0.5 * v)
    np.testing.assert_allclose(sm, expected)
    s.append(10, 0.0)
    np.testing.assert_allclose(s.smoothed(0.5)[:10], expected)  # earlier points untouched


def _metrics(step: int, previews=None, validation=None) -> StepMetrics:
    return StepMetrics(step, 100, step / 10, 1.0, {"recon": 10.0 / step, "kl": -1.0 + step}, 50.0,
                       previews=previews, validation=validation)


def test_curves_created_once_and_redrawn_only_when_dirty(qtbot):
    view = TrainingView()
    qtbot.addWidget(view)
    view.add_metrics([_metrics(1), _metrics(2)])
    curves = dict(view.curves)
    view.add_metrics([_metrics(3, validation={"total": 1.0})])
    assert view.curves["recon"] is curves["recon"]  # setData on the same item, not a new one
    assert "val total" in view.curves
    view._redraw()
    assert view.redraws == 1
    view._redraw()  # nothing new: no redraw, the timer stops itself
    assert view.redraws == 1 and not view._timer.isActive()
    x, y = view.curves["recon"].getData()
    assert list(x) == [1, 2, 3]
    view.log_scale.setChecked(True)  # kl starts at 0 (log-undefined): those points are hidden
    view._redraw()
    x, _ = view.curves["kl"].getData()
    assert list(x) == [2, 3]
    view.reset()
    assert view.curves == {} and view.point_count() == 0
    view.stop_timers()


def test_adversarial_terms_beside_a_likelihood_get_their_own_plot(qtbot):
    """An AAE's recon (~100 nats) would flatten its D/G losses (~1) on one axis: they go to a
    second plot, x-linked; a GAN's terms (all adversarial) stay on one."""
    view = TrainingView()
    qtbot.addWidget(view)
    view.show()
    aae = lambda step: StepMetrics(step, 100, step / 10, 0.1, {"recon": 100.0 - step, "d_loss": 1.3, "g_loss": 0.7, "total": 100.0 - step}, 1.0)  # noqa: E731
    view.add_metrics([aae(1), aae(2)])
    assert view.adv_plot_widget.isVisible()
    assert view.curves["d_loss"] in view.adv_plot.listDataItems() and view.curves["g_loss"] in view.adv_plot.listDataItems()
    assert view.curves["recon"] in view.plot.listDataItems() and view.curves["d_loss"] not in view.plot.listDataItems()
    view._redraw()
    assert view.adv_plot.getViewBox().viewRange()[1][1] < 10  # D/G scaled to their own range
    view.reset()
    assert not view.adv_plot_widget.isVisible() and view.adv_plot.listDataItems() == []
    gan = StepMetrics(1, 100, 0.1, 0.1, {"d_loss": 1.3, "g_loss": 0.7, "d_real": 0.6, "d_fake": 0.4}, 1.0)
    view.add_metrics([gan])
    assert not view.adv_plot_widget.isVisible() and view.curves["d_loss"] in view.plot.listDataItems()
    view.stop_timers()


def test_previews_fill_the_grids(qtbot):
    view = TrainingView()
    qtbot.addWidget(view)
    previews = {"samples": torch.rand(64, 1, 8, 8), "originals": torch.rand(8, 1, 8, 8),
                "reconstructions": torch.rand(8, 1, 8, 8)}
    view.add_metrics([_metrics(1, previews=previews)])
    assert view.samples.updates == 1 and view.recons.updates == 1
    assert view.samples.item.image.shape == (8 * 10 + 2, 8 * 10 + 2)
    assert view.recons.item.image.shape == (4 * 10 + 2, 4 * 10 + 2)  # 4 rows: pairs of 4
    view.stop_timers()


def test_models_without_encoder_give_samples_the_whole_preview_area(qtbot):
    view = TrainingView()
    qtbot.addWidget(view)
    view.resize(900, 300)
    view.show()
    qtbot.waitExposed(view)

    def sample_width() -> float:
        QApplication.processEvents()
        return view.samples.viewbox.geometry().width()

    with_recons = sample_width()
    assert view.recons.viewbox.isVisible() and view.recons.viewbox.geometry().width() > 50
    view.reset(8, reconstructions=False)  # a GAN run starts
    alone = sample_width()
    assert not view.recons.viewbox.isVisible() and alone > 1.4 * with_recons
    view.reset(8, reconstructions=True)  # then a VAE run
    assert view.recons.viewbox.isVisible() and sample_width() == pytest.approx(with_recons, abs=2)
    view.stop_timers()


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
    assert panel.request().train_config.lr_decay == "none"
    panel.lr_decay.click()
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


def test_sci_spinbox_accepts_exponents(qtbot):
    box = tp.SciSpinBox()
    qtbot.addWidget(box)
    box.lineEdit().setText("2e-4")
    box.interpretText()
    assert box.value() == pytest.approx(2e-4)
    assert box.text() == "0.0002"


def test_field_docs_reads_comments():
    docs = tp.field_docs(config_class("vae"))
    assert "beta" in docs and "KL" in docs["beta"]
    assert "image_shape" in docs  # inherited from ModelConfig
