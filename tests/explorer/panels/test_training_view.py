"""The training view's buffers and redraws."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QApplication

from explorer.panels.training_view import Series, TrainingView
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

    before_any_run = sample_width()
    assert not view.recons.viewbox.isVisible()  # nothing promises reconstructions a GAN will not have
    view.reset(8, reconstructions=True)  # a VAE run starts
    with_recons = sample_width()
    assert view.recons.viewbox.isVisible() and view.recons.viewbox.geometry().width() > 50
    assert before_any_run > 1.4 * with_recons
    view.reset(8, reconstructions=False)  # a GAN run starts
    alone = sample_width()
    assert not view.recons.viewbox.isVisible() and alone == pytest.approx(before_any_run, abs=2)
    view.reset(8, reconstructions=True)  # then a VAE run
    assert view.recons.viewbox.isVisible() and sample_width() == pytest.approx(with_recons, abs=2)
    view.stop_timers()


def test_a_growing_models_stage_is_named_in_the_summary_not_drawn(qtbot):
    """The progressive GAN logs its side and fade beside its losses: a side of 4 to 64 on the
    loss plot would flatten them, so the summary line names the stage instead; the FID is
    kept in the file but drawn nowhere."""
    view = TrainingView()
    qtbot.addWidget(view)
    m = StepMetrics(10, 100, 0.1, 1.0, {"d_loss": 0.5, "g_loss": 1.5, "resolution": 16.0, "fade": 0.43}, 50.0,
                    validation={"sample_fid": 120.0, "sample_is": 3.0})
    view.add_metrics([m])
    assert set(view.series) == {"d_loss", "g_loss", "val sample_is"}
    assert "16x16" in view.summary.text() and "resolution" not in view.summary.text()
    view.extend_history([{"step": 20, "d_loss": 0.4, "resolution": 32, "fade": 1.0, "val_sample_fid": 90.0}])
    assert set(view.series) == {"d_loss", "g_loss", "val sample_is"} and view.series["d_loss"].n == 2
    view.stop_timers()
