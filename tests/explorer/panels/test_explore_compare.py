"""Compare panel: models side by side, a metrics table, one path across models."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QLabel

from explorer.panels.compare import ComparePanel
from explorer.state import LatentState, ModelState
from models.runs.checkpoint import save_checkpoint
from models.explore.latent_paths import random_path
from models.families.registry import build_model


@pytest.fixture
def panel(qtbot, tiny_dataset):
    ms, ls = ModelState(), LatentState()
    model = build_model("vae", latent_dim=4, hidden=16)
    ms.set_model(model)
    ls.reset(model.latent_spec)
    p = ComparePanel(ms, ls, lambda: tiny_dataset)
    qtbot.addWidget(p)
    p.resize(640, 460)
    yield p
    p.shutdown()


def test_two_models_grid_and_metrics(qtbot, panel, tmp_path):
    panel.add_current()
    ckpt = save_checkpoint(tmp_path / "ae4.safetensors", build_model("ae", latent_dim=4, hidden=16))
    panel.add_files([ckpt])
    qtbot.waitUntil(lambda: len(panel.entries) == 2 and len(panel.recon_grid.tiles) == 3, timeout=5000)
    assert [e.model.family for e in panel.entries] == ["vae", "ae"]
    # originals row + one row per model, 8 images each
    assert len(panel.recon_grid.tiles) == 3 and all(len(r) == 8 for r in panel.recon_grid.tiles)
    assert panel.recon_grid.tiles[1][0].image.shape == (28, 28)
    with qtbot.waitSignal(panel.grid_ready, timeout=5000):
        panel.heatmap.setChecked(True)
    assert panel.recon_grid.tiles[2][0].image.shape == (28, 28, 3)  # colour-mapped error
    panel.sample_quality.setChecked(False)
    with qtbot.waitSignal(panel.metrics_ready, timeout=10000):
        panel.compute_metrics()
    assert panel.table.rowCount() == 2
    for r in range(2):
        mse, ssim = float(cell(panel, r, "MSE ↓")), float(cell(panel, r, "SSIM ↑"))
        assert 0 < mse < 1 and -1 <= ssim <= 1
        assert cell(panel, r, "Images") == "50"
        assert cell(panel, r, "IS ↑") == "—"  # sample quality was off
    panel.tabs.setCurrentIndex(0)
    panel.show()
    qtbot.waitExposed(panel)
    panel.grab().save("/tmp/panel_compare.png")


def cell(panel, row: int, header: str) -> str:
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    return panel.table.item(row, headers.index(header)).text()


def test_sample_quality_scores_every_model_with_a_prior(qtbot, panel, tmp_path):
    """VAE, AE and GAN side by side: the VAE gets reconstruction and sample scores, the AE
    (no prior) reconstruction only, the GAN (no encoder) sample scores only."""
    panel.add_current()
    files = [save_checkpoint(tmp_path / "ae.safetensors", build_model("ae", latent_dim=4, hidden=16)),
             save_checkpoint(tmp_path / "gan.safetensors", build_model("gan", z_dim=8, g_hidden=(16,), d_hidden=(16,)))]
    panel.add_files(files)
    qtbot.waitUntil(lambda: len(panel.entries) == 3, timeout=5000)
    assert panel.sample_quality.isChecked()  # on by default
    with qtbot.waitSignal(panel.metrics_ready, timeout=60_000):
        panel.compute_metrics()  # trains the (tiny) dataset's classifier first
    vae, ae, gan = range(3)
    for r in (vae, gan):
        assert 1.0 <= float(cell(panel, r, "IS ↑")) <= 10.0
        assert float(cell(panel, r, "Sample FID ↓")) >= 0 and cell(panel, r, "Classes").endswith("%")
    assert cell(panel, ae, "IS ↑") == "—" and float(cell(panel, ae, "MSE ↓")) > 0
    assert cell(panel, gan, "MSE ↓") == "—"
    assert panel.metrics[vae]["inception_score"] == pytest.approx(float(cell(panel, vae, "IS ↑")), abs=0.005)
    # the table goes to the clipboard as tab-separated lines
    from PySide6.QtWidgets import QApplication

    panel.copy_btn.click()
    lines = QApplication.clipboard().text().splitlines()
    assert len(lines) == 4 and lines[0].split("\t")[:3] == ["Model", "Family", "MSE ↓"]
    assert lines[3].split("\t")[1] == "gan" and lines[3].split("\t")[6] == cell(panel, gan, "IS ↑")


def test_models_from_runs_are_named_by_their_run(qtbot, panel, tmp_path):
    """Every run's checkpoint is called latest.safetensors: the list and the table name the run."""
    small = {"z_dim": 8, "g_hidden": (16,), "d_hidden": (16,)}
    a = save_checkpoint(tmp_path / "dcgan-run" / "checkpoints" / "latest.safetensors", build_model("gan", **small),
                        {"step": 1200})
    b = save_checkpoint(tmp_path / "wgan-run" / "checkpoints" / "latest.safetensors", build_model("gan", **small))
    loose = save_checkpoint(tmp_path / "mine.safetensors", build_model("gan", **small))
    panel.add_files([a, b, loose, a])
    qtbot.waitUntil(lambda: len(panel.entries) == 4, timeout=5000)
    names = [e.name for e in panel.entries]
    assert names == ["dcgan-run (latest) @ step 1200", "wgan-run (latest)", "mine", "dcgan-run (latest) @ step 1200 (2)"]
    assert [panel.table.item(r, 0).text() for r in range(4)] == names
    assert [panel.model_list.item(r).text().split("  ·  ")[0] for r in range(4)] == names
    # GANs cannot reconstruct: each row says so once instead of a tile per image
    qtbot.waitUntil(lambda: len(panel.recon_grid.tiles) == 5, timeout=5000)
    assert all(row == [] for row in panel.recon_grid.tiles[1:])
    texts = [w.text() for w in panel.recon_grid.findChildren(QLabel) if w.isVisibleTo(panel.recon_grid)]
    assert sum("No encoder" in t for t in texts) == 4


def test_path_plays_on_models_of_its_size(qtbot, panel):
    a, b = build_model("vae", latent_dim=4, hidden=16), build_model("ae", latent_dim=4, hidden=16)
    panel.add_model(a, "A")
    panel.add_model(b, "B")
    panel.add_model(build_model("vae", latent_dim=3, hidden=16), "C (3-D)")
    path = random_path(a, 3, seed=1)
    panel.path_frames_per_segment.setValue(3)
    with qtbot.waitSignal(panel.path_frames_ready, timeout=5000):
        panel.play_path(path)
    assert sorted(panel.path_frames) == [0, 1]  # C's latent has another size
    assert all(len(f) == 7 for f in panel.path_frames.values())
    assert panel.playing
    qtbot.waitUntil(lambda: panel._path_frame >= 2, timeout=3000)
    i = panel._path_frame
    np.testing.assert_array_equal(panel.path_tiles[0].image, panel.path_frames[0][i])  # in step
    np.testing.assert_array_equal(panel.path_tiles[1].image, panel.path_frames[1][i])
    panel.show()
    qtbot.waitExposed(panel)
    panel.grab().save("/tmp/panel_compare_path.png")
    panel.stop()
    assert not panel.playing


def test_cancel_during_the_classifiers_first_training_caches_nothing(qtbot, panel, tiny_dataset):
    """Cancel reaches the classifier's training through the engine's cancel token: the job
    ends at once with no rows, and no half-trained classifier is cached."""
    from models.metrics.classifier import cache_path

    panel.add_current()
    assert not cache_path(tiny_dataset).exists()
    panel.compute_metrics()
    qtbot.waitUntil(lambda: panel.metrics_tab.metrics_progress.value() > 0, timeout=30_000)  # training steps
    with qtbot.waitSignal(panel.metrics_ready, timeout=30_000):
        panel.metrics_tab.metrics_cancel.click()
    assert panel.message.text() == "Metrics cancelled: the rows computed so far are shown."
    assert panel.metrics == [None] and not cache_path(tiny_dataset).exists()
