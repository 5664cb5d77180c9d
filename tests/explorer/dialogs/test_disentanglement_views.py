"""The shapes set's disentanglement scores where a person reads figures: the Evaluate dialog
(every figure, per factor too), the run browser (after that evaluation, in the run's row) and
Compare's metrics table (MIG and DCI columns, shown only for data with ground-truth factors)."""
from __future__ import annotations

import json

import pytest
import torch
from PySide6.QtCore import Qt

from explorer.dialogs.eval_dialog import EvaluationDialog
from explorer.dialogs.runs_browser import COLUMNS, RunsBrowser
from explorer.panels.compare import ComparePanel
from explorer.state import LatentState, ModelState
from models.data.shapes import FACTOR_NAMES, load_shapes
from models.families.registry import build_model
from models.runs.run_dir import RunDir
from models.training.loop import TrainConfig, train


@pytest.fixture(scope="module")
def shapes():
    return load_shapes(size=28, test_size=300, seed=0)


def _figures(dialog) -> dict[str, str]:
    t = dialog.table
    return {t.item(r, 0).text(): t.item(r, 1).text() for r in range(t.rowCount())}


def test_evaluate_a_beta_vae_on_shapes_shows_mig_and_dci_and_the_run_browser_lists_them(qtbot, shapes, tmp_path):
    torch.manual_seed(0)
    model = build_model("beta-vae", latent_dim=4, hidden=32, image_shape=(1, 28, 28))
    run = RunDir(tmp_path / "runs" / "beta-vae-shapes")
    list(train(model, shapes, TrainConfig(steps=20, batch_size=64, log_every=20, snapshot_every=20, device="cpu",
                                          validation_size=200), run=run, extra_state={"dataset": "shapes"}))
    dialog = EvaluationDialog(model, shapes, source=run.latest, train_state={"dataset": "shapes", "step": 20})
    qtbot.addWidget(dialog)
    assert "MIG, DCI" in dialog.message.text()  # says what it will compute before it does
    dialog.samples.setValue(0)  # reconstruction and disentanglement only: no classifier to train
    dialog.show()
    with qtbot.waitSignal(dialog.finished, timeout=60_000) as done:
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    result, figures = done.args[0], _figures(dialog)
    assert float(figures["mig"]) == float(f"{result['mig']:.4g}") and 0 <= result["mig"] <= 1
    assert 0 <= float(figures["dci"]) <= 1 and "dci_informativeness" in figures
    for factor in FACTOR_NAMES:
        assert f"mig_per_factor {factor}" in figures and f"dci_completeness_per_factor {factor}" in figures
        dim = result["factor_dims"][factor]
        assert figures[f"factor_dims {factor}"] == (f"z{dim}" if dim is not None else "no one dimension")
    dialog.table.resizeRowsToContents()
    dialog.grab().save("/tmp/eval_dialog_shapes.png")
    kept = json.loads(run.eval_path.read_text())
    assert kept["mig"] == result["mig"] and tuple(kept["mig_per_factor"]) == FACTOR_NAMES

    browser = RunsBrowser(tmp_path / "runs")
    qtbot.addWidget(browser)
    qtbot.waitUntil(lambda: browser.table.rowCount() == 1, timeout=10_000)
    text = browser.table.item(0, COLUMNS.index("Last eval")).text()
    assert text.startswith("test_loss ") and f"MIG {result['mig']:.3f}" in text and f"DCI {result['dci']:.3f}" in text
    browser.table.selectRow(0)
    assert f"MIG {result['mig']:.3f}" in browser.details.text()
    browser.shutdown()


def test_run_browser_shows_no_scores_it_cannot_trust(qtbot, tmp_path):
    run = RunDir(tmp_path / "runs" / "odd")
    run.checkpoints.mkdir(parents=True)
    run.write_eval({"test_loss": 90.0, "mig": "high", "dci": True})  # not numbers: left out
    browser = RunsBrowser(tmp_path / "runs")
    qtbot.addWidget(browser)
    qtbot.waitUntil(lambda: browser.table.rowCount() == 1, timeout=10_000)
    assert browser.table.item(0, COLUMNS.index("Last eval")).text() == "test_loss 90.0"
    browser.shutdown()


def _compare(qtbot, dataset):
    ms, ls = ModelState(), LatentState()
    panel = ComparePanel(ms, ls, lambda: dataset)
    qtbot.addWidget(panel)
    torch.manual_seed(0)
    panel.add_model(build_model("beta-vae", latent_dim=4, hidden=16, image_shape=(1, 28, 28)), "beta")
    panel.add_model(build_model("ae", latent_dim=4, hidden=16, image_shape=(1, 28, 28)), "ae")
    panel.sample_quality.setChecked(False)
    with qtbot.waitSignal(panel.metrics_ready, timeout=60_000):
        panel.compute_metrics()
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    return panel, headers


def test_compare_shows_mig_and_dci_columns_on_shapes_only(qtbot, shapes, tiny_dataset):
    panel, headers = _compare(qtbot, shapes)
    for r in range(2):
        for name in ("MIG ↑", "DCI ↑"):
            c = headers.index(name)
            assert not panel.table.isColumnHidden(c) and 0 <= float(panel.table.item(r, c).text()) <= 1
    assert panel.metrics_tab.table_text().splitlines()[0].endswith("MIG ↑\tDCI ↑")
    panel.show()
    panel.tabs.setCurrentWidget(panel.metrics_tab)
    panel.resize(900, 300)
    panel.grab().save("/tmp/compare_shapes.png")
    panel.shutdown()

    other, headers = _compare(qtbot, tiny_dataset)  # no ground-truth factors: no empty columns either
    assert other.table.isColumnHidden(headers.index("MIG ↑")) and other.table.isColumnHidden(headers.index("DCI ↑"))
    assert "MIG" not in other.metrics_tab.table_text()
    other.shutdown()
