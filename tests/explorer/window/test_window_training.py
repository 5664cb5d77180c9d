"""Training from the window: Train button -> curves, previews, live weights; Stop; close; errors."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from explorer import settings
from models.runs.checkpoint import load_checkpoint
from models.data.base import DataError


def start(qtbot, window, fill) -> None:
    fill(window.train_panel)
    with qtbot.waitSignal(window.session.started, timeout=15_000):
        window.train_panel.train_button.click()


def test_train_click_curves_previews_live_weights_then_stop(qtbot, window, small_vae_form, dataset_factory):
    start(qtbot, window, small_vae_form)
    panel, view = window.train_panel, window.training_view
    assert dataset_factory.calls == ["shapes"]
    assert not panel.train_button.isEnabled() and panel.stop_button.isEnabled()
    assert not panel.family.isEnabled()  # the form is frozen while a run uses it
    assert len(window.latent_panel.z_rows) == 4  # the explored model is the one being trained
    first_image = window.image_view.image.copy()
    # curves get points, redrawn by the timer; the sample grid refreshes from snapshots
    qtbot.waitUntil(lambda: view.redraws > 0 and view.samples.updates > 1 and view.recons.updates > 0, timeout=20_000)
    assert set(view.curves) >= {"recon", "kl", "total"}
    x, y = view.curves["total"].getData()
    assert len(x) >= 2 and np.all(np.isfinite(y))
    # snapshots reach the explored model: the decoded image changes with live weights
    qtbot.waitUntil(lambda: not np.array_equal(window.image_view.image, first_image), timeout=20_000)
    assert "steps/s" in window.rate_label.text() and "epoch" in window.epoch_label.text()
    # the status bar names the device, its one training thread and the step actually used
    assert window.device_label.text() == "CPU (1 training thread) · eager"
    assert "Step" in panel.progress.format() and "ETA" in panel.progress.format()
    # pause / resume through the real buttons, then Stop ends the thread
    panel.pause_button.click()
    assert window.session.state == "paused" and window.session.control.paused
    assert panel.resume_button.isVisible() and not panel.pause_button.isVisible()
    panel.resume_button.click()
    assert window.session.state == "running"
    with qtbot.waitSignal(window.session.finished, timeout=10_000) as finished:
        panel.stop_button.click()
    last = finished.args[0]
    assert last is not None and last.event == "stopped" and Path(last.checkpoint).exists()
    assert not window.session.active and panel.train_button.isEnabled()
    assert window.model_state.source == Path(last.checkpoint)
    # after the run the VAE gets its per-dimension KL (the run's dataset is at hand)
    qtbot.waitUntil(lambda: window.model_state.kl_per_dim is not None, timeout=10_000)
    assert window.latent_panel.sort_by_kl.isEnabled()
    assert str(Path(last.checkpoint).parents[1]) in settings.recent_files()[0]


def test_space_and_escape_shortcuts_pause_and_stop(qtbot, window, small_vae_form):
    start(qtbot, window, small_vae_form)
    qtbot.waitUntil(lambda: window.session.state == "running", timeout=10_000)
    window.pause_action.trigger()
    assert window.session.state == "paused"
    window.pause_action.trigger()
    assert window.session.state == "running"
    with qtbot.waitSignal(window.session.finished, timeout=10_000):
        window.stop_action.trigger()


def test_close_during_training_stops_within_two_seconds_and_leaves_checkpoint(qtbot, window, small_vae_form):
    start(qtbot, window, small_vae_form)
    qtbot.waitUntil(lambda: window.training_view.point_count() > 0, timeout=15_000)
    run_dir = window.session.info.run_dir
    t0 = time.monotonic()
    window.close()
    assert time.monotonic() - t0 < 2.5
    assert not window.session.active
    latest = run_dir / "checkpoints" / "latest.safetensors"
    assert latest.exists()
    assert load_checkpoint(latest).model.latent_spec.z_dim == 4


def test_dataset_error_is_reported_and_window_stays_usable(qtbot, window, small_vae_form):
    def broken(name, data_dir=None, **kw):
        raise DataError("could not download mnist: no network. Put the files in ~/data or use shapes.")

    window.session.dataset_factory = broken
    small_vae_form(window.train_panel)
    with qtbot.waitSignal(window.session.finished, timeout=10_000):
        window.train_panel.train_button.click()
    assert window.last_error[0] == "Could not load the dataset"
    assert "no network" in window.last_error[1]
    assert window.session.state == "idle" and window.train_panel.train_button.isEnabled()
    assert window.train_panel.progress.format() == "Failed"


def test_invalid_settings_message(qtbot, window):
    window.train_panel.dataset.setCurrentText("folder")
    window.train_panel.data_dir.setText("")
    window.train_panel.train_button.click()
    assert window.last_error[0] == "Cannot start training"
    assert not window.session.active


def test_diverged_run_is_reported(qtbot, window, small_vae_form):
    small_vae_form(window.train_panel)
    window.train_panel.lr.setValue(1e6)  # sure to blow up
    with qtbot.waitSignal(window.session.finished, timeout=20_000):
        window.train_panel.train_button.click()
    assert window.last_error is not None
    title, text = window.last_error
    assert title in ("Training diverged", "Invalid settings") or "diverged" in text
    assert window.session.state == "idle"


def small_gan(panel) -> None:
    panel.family.setCurrentIndex(panel.family.findData("gan"))
    panel.fields["z_dim"].set(8)
    panel.fields["g_hidden"].set((32,))
    panel.fields["d_hidden"].set((32,))
    panel.batch_size.setValue(32)
    panel.epochs.setValue(1000.0)
    panel.device.setCurrentText("cpu")


def test_gan_run_previews_the_weight_average_over_the_whole_preview_area(qtbot, window):
    start(qtbot, window, small_gan)
    view = window.training_view
    assert window.model_state.model.config.ema == 0.999 and window.model_state.model.generator_ema is not None
    assert "weight average" in view.samples.label.text
    assert not view.recons.viewbox.isVisible()  # a GAN has nothing to reconstruct
    qtbot.waitUntil(lambda: view.samples.updates > 1 and {"d_loss", "g_loss"} <= set(view.curves), timeout=20_000)
    with qtbot.waitSignal(window.session.finished, timeout=10_000) as finished:
        window.train_panel.stop_button.click()
    saved = load_checkpoint(finished.args[0].checkpoint)
    assert int(saved.model.generator_ema.n_averaged) == finished.args[0].step


def test_a_gan_run_plots_its_samples_inception_score_when_the_classifier_is_cached(qtbot, window, tiny_dataset):
    from models.metrics.classifier import get_classifier
    from models.runs.run_dir import RunDir
    from models.runs.checkpoint import checkpoint_state

    view = window.training_view
    get_classifier(tiny_dataset, "cpu", epochs=1)  # cached, as Evaluate or `eval` leave it
    start(qtbot, window, small_gan)
    # an epoch of the tiny set is 6 steps: every epoch end scores 2,000 samples
    qtbot.waitUntil(lambda: "val sample_is" in view.series and view.series["val sample_is"].n >= 2, timeout=60_000)
    assert view.quality_plot_widget.isVisible()
    x, y = view.curves["val sample_is"].getData()
    assert len(x) >= 1 and np.all((1.0 <= y) & (y <= 10.0))
    assert "val sample_fid" not in view.curves  # recorded, not drawn
    with qtbot.waitSignal(window.session.finished, timeout=20_000) as finished:
        window.train_panel.stop_button.click()
    run = RunDir(Path(finished.args[0].checkpoint).parents[1])
    best = checkpoint_state(run.best)  # a GAN has a best checkpoint now: its lowest sample FID
    fids = [r["val_sample_fid"] for r in run.read_metrics() if "val_sample_fid" in r]
    assert best is not None and fids and best["best_score"] <= min(fids)
