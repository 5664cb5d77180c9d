"""Training > Evaluate Model: the CLI's figures for the open model, kept in its run folder."""
from __future__ import annotations

import json

from PySide6.QtCore import Qt

from explorer import settings
from models.metrics.classifier import cache_path
from models.families.registry import build_model
from models.runs.run_dir import RunDir
from models.training.loop import TrainConfig, train


def _open_run(qtbot, window, dataset, family="vae", **kw):
    run = RunDir(settings.runs_dir() / f"run-{family}")
    list(train(build_model(family, **kw), dataset, TrainConfig(steps=8, batch_size=32, log_every=8, snapshot_every=8,
                                                               device="cpu"), run=run,
               extra_state={"dataset": dataset.name}))
    with qtbot.waitSignal(window.model_state.model_changed, timeout=10_000):
        window.open_path(run.path)
    qtbot.waitUntil(lambda: window.data_state.dataset is not None, timeout=10_000)
    return run


def _figures(dialog) -> dict[str, str]:
    t = dialog.table
    return {t.item(r, 0).text(): t.item(r, 1).text() for r in range(t.rowCount())}


def test_evaluate_a_vae_shows_its_figures_and_keeps_them_in_the_run(qtbot, window, tiny_dataset):
    run = _open_run(qtbot, window, tiny_dataset, latent_dim=3, hidden=16)
    assert window.evaluate_action.isEnabled()
    window.evaluate_action.trigger()
    dialog = window.eval_dialog
    assert dialog.isVisible() and dialog.samples.value() == 10000
    dialog.samples.setValue(300)
    with qtbot.waitSignal(dialog.finished, timeout=60_000) as done:
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    result = done.args[0]
    figures = _figures(dialog)
    # the reconstruction figures and the prior samples' scores, as `eval` gives them
    assert float(figures["test_loss"]) == float(f"{result['test_loss']:.4g}") and "kl" in figures
    assert result["n"] == 300 and 1.0 <= result["inception_score"] <= 10.0
    assert "reference inception_score" in figures  # the real test set's, to read it against
    assert cache_path(tiny_dataset).exists()  # the classifier was trained once and cached
    kept = json.loads(run.eval_path.read_text())
    assert kept["test_loss"] == result["test_loss"] and kept["step"] == 8
    assert str(run.eval_path) in dialog.message.text()
    assert dialog.copy_button.isEnabled()


def test_evaluate_a_gan_and_cancel_the_classifier_training(qtbot, window, tiny_dataset):
    _open_run(qtbot, window, tiny_dataset, family="gan", z_dim=8, hidden=32)
    window.evaluate_action.trigger()
    dialog = window.eval_dialog
    assert dialog.samples.minimum() >= 100  # a generator is only its samples: 0 is not offered
    dialog.samples.setValue(200)
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)  # while the classifier trains
    qtbot.waitUntil(lambda: dialog.run_button.isEnabled(), timeout=30_000)
    assert "Cancelled" in dialog.message.text() and dialog.table.rowCount() == 0
    assert not cache_path(tiny_dataset).exists()

    with qtbot.waitSignal(dialog.finished, timeout=60_000) as done:  # again, to the end
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert done.args[0]["n"] == 200 and "classifier_fid" in _figures(dialog) and "test_loss" not in _figures(dialog)


def test_evaluate_needs_a_model(qtbot, window):
    window.show_evaluation()  # the action is disabled; called directly it explains
    assert window.eval_dialog is None and "Open or train a model first" in window.statusBar().currentMessage()
