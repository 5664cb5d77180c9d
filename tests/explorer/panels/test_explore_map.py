"""Latent map panel: encode in a job, click a point -> its code, draw a path, PCA/t-SNE."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from explorer.panels.map import MODE_LATENT, MODE_PCA, MODE_TSNE, MapPanel
from models.families.registry import build_model


@pytest.fixture
def make(open_panel):
    return lambda qtbot, model, dataset: open_panel(MapPanel, model, dataset, size=(640, 420))


def show_and_encode(qtbot, panel):
    with qtbot.waitSignal(panel.map_ready, timeout=8000):
        panel.show()  # encodes on first show
    qtbot.waitExposed(panel)


def test_2d_latent_click_goes_to_the_points_code(qtbot, tiny_dataset, make):
    ms, ls, panel = make(qtbot, build_model("vae", latent_dim=2, hidden=16), tiny_dataset)
    show_and_encode(qtbot, panel)
    assert panel.mode == MODE_LATENT
    enc = panel.encoded
    assert enc.codes.shape == (50, 2) and len(panel.coords) == 50
    np.testing.assert_array_equal(panel.coords, enc.codes)
    # a real mouse click at the point's data coordinates, through the view's transforms
    i = 7
    scene = panel.viewbox.mapViewToScene(QPointF(*map(float, panel.coords[i])))
    widget_pos = panel.plot.mapFromScene(scene)
    QTest.mouseClick(panel.plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, widget_pos)
    j = panel.nearest(*panel.coords[i])  # the point under the cursor (i, or one on top of it)
    np.testing.assert_array_equal(ls.flat, enc.codes[j])
    # hover shows that test image
    panel.hover_at(*panel.coords[3])
    assert panel.inset.image is not None and "test #" in panel.inset_text.text()
    # the manifold beside it
    qtbot.waitUntil(lambda: panel.manifold.image is not None, timeout=5000)
    assert panel.manifold.image.shape == (15 * 28, 15 * 28)
    panel.grab().save("/tmp/panel_map.png")
    panel.shutdown()


def test_pca_click_uses_the_code_and_empty_space_the_inverse(qtbot, tiny_dataset, make):
    ms, ls, panel = make(qtbot, build_model("vae", latent_dim=4, hidden=16), tiny_dataset)
    show_and_encode(qtbot, panel)
    assert panel.mode == MODE_PCA
    enc = panel.encoded
    panel.click_at(*panel.coords[5])
    np.testing.assert_array_equal(ls.flat, enc.codes[panel.nearest(*panel.coords[5])])
    far = panel.coords.max(0) + 10 * (panel.coords.max(0) - panel.coords.min(0))
    panel.click_at(*far)
    np.testing.assert_allclose(ls.flat, enc.pca.to_latent(far), rtol=1e-6)
    # shift+drag stroke -> a path for the Paths panel
    drawn = []
    panel.path_drawn.connect(drawn.append)
    a, b = panel.coords.min(0), panel.coords.max(0)
    panel.stroke_start(*a)
    for t in np.linspace(0, 1, 20):
        panel.stroke_add(*(a + t * (b - a)))
    panel.stroke_finish()
    assert len(drawn) == 1 and len(drawn[0].keyframes) == 6
    np.testing.assert_allclose(drawn[0].keyframes[0], enc.pca.to_latent(a), rtol=1e-5, atol=1e-6)
    panel.shutdown()


@pytest.mark.parametrize("latent_dim,mode", [(2, MODE_LATENT), (4, MODE_PCA)])
def test_prior_samples_sit_behind_the_codes_on_the_same_axes(qtbot, tiny_dataset, latent_dim, mode, make):
    """The grey cloud is the model's prior (here a mixture of 10 tight clusters on a circle of
    radius 6: easy to tell from any encoding), drawn with the same projection as the codes."""
    model = build_model("aae", latent_dim=latent_dim, hidden=16, disc_hidden=(8,), prior="mixture",
                        mixture_radius=6.0, mixture_std=0.05)
    ms, ls, panel = make(qtbot, model, tiny_dataset)
    show_and_encode(qtbot, panel)
    assert panel.mode == mode and panel.show_prior.isChecked()
    x, y = panel.prior_scatter.getData()
    assert len(x) == len(panel.coords) == 50
    expected = panel.encoded.prior[:, :2] if mode == MODE_LATENT else panel.encoded.pca.project(panel.encoded.prior)
    np.testing.assert_allclose(np.stack([x, y], 1), expected, rtol=1e-5, atol=1e-5)
    if mode == MODE_LATENT:
        assert np.allclose(np.hypot(x, y), 6.0, atol=0.3)  # the mixture, not N(0, I)
    panel.show_prior.setChecked(False)
    assert len(panel.prior_scatter.getData()[0]) == 0
    panel.shutdown()


def test_an_autoencoder_has_no_prior_to_show(qtbot, tiny_dataset, make):
    ms, ls, panel = make(qtbot, build_model("ae", latent_dim=3, hidden=16), tiny_dataset)
    show_and_encode(qtbot, panel)
    assert panel.encoded.prior is None and not panel.show_prior.isEnabled()
    assert len(panel.prior_scatter.getData()[0]) == 0
    panel.shutdown()


def test_tsne_and_colour_choices(qtbot, tiny_dataset, make):
    pytest.importorskip("sklearn")
    ms, ls, panel = make(qtbot, build_model("ae", latent_dim=3, hidden=16), tiny_dataset)
    show_and_encode(qtbot, panel)
    assert panel.colour.currentText() == "Label"
    with qtbot.waitSignal(panel.map_ready, timeout=20000):
        panel.projection.setCurrentIndex(panel.projection.findData(MODE_TSNE))
    assert panel.coords.shape == (50, 2) and panel.tsne is not None
    panel.click_at(*panel.coords[0])
    np.testing.assert_array_equal(ls.flat, panel.encoded.codes[panel.nearest(*panel.coords[0])])
    # a new encoding (fewer points) under t-SNE: until its own fit ends there are no
    # positions to pair its codes with, so the points export offers nothing rather than a mix
    import dataclasses

    old = panel.encoded
    fewer = dataclasses.replace(old, codes=old.codes[:30], labels=old.labels[:30], indices=old.indices[:30],
                                factors=None)
    with qtbot.waitSignal(panel.map_ready, timeout=20000):
        panel._on_encoded(fewer)
        assert panel.coords is None and panel.points_table() is None
    assert len(panel.points_table()["test_index"]) == 30 == len(panel.points_table()["map t-SNE 1"])
    panel.shutdown()


def test_gan_shows_a_hint(qtbot, tiny_dataset, make):
    _, _, panel = make(qtbot, build_model("gan", z_dim=4), tiny_dataset)
    assert panel.stack.hinting and "encoder" in panel.stack.hint.text()


def test_tsne_without_scikit_learn_says_so_and_weights_mark_the_map_stale(qtbot, tiny_dataset, monkeypatch, make):
    import explorer.panels.map.jobs as map_jobs

    def no_sklearn(*args, **kwargs):
        raise ImportError("t-SNE needs scikit-learn: pip install scikit-learn")

    monkeypatch.setattr(map_jobs, "tsne_2d", no_sklearn)
    ms, ls, panel = make(qtbot, build_model("vae", latent_dim=4, hidden=16), tiny_dataset)
    show_and_encode(qtbot, panel)
    with qtbot.waitSignal(panel.jobs.failed, timeout=5000):
        panel.projection.setCurrentIndex(panel.projection.findData(MODE_TSNE))
    assert "pip install scikit-learn" in panel.message.text()
    assert panel.mode == MODE_PCA  # back to the map still on screen
    ms.load_weights(ms.model.state_dict())  # a training snapshot
    assert panel.stale and panel.encode_btn.text() == "Re-encode"
    panel.shutdown()


def test_a_cvae_map_is_of_z_and_a_click_on_empty_space_keeps_the_chosen_class(qtbot, tiny_dataset, make):
    """The points sit by style (z), coloured by class; clicking between them moves z and keeps
    the class the user chose, as an exact one-hot (the PCA of the flat codes gave a blend)."""
    model = build_model("cvae", {"arch": "mlp", "hidden": 16, "latent_dim": 3, "num_classes": 10,
                                 "class_names": tuple("abcdefghij")})
    ms, ls, panel = make(qtbot, model, tiny_dataset)
    show_and_encode(qtbot, panel)
    assert panel.mode == MODE_PCA
    spec = model.latent_spec
    assert np.all(panel.encoded.pca.components[:, spec.z_dim:] == 0)
    ls.set_flat(spec.with_category(spec.zeros(1), 0, 6)[0].numpy())
    far = panel.coords.max(0) + 10 * (panel.coords.max(0) - panel.coords.min(0))
    panel.click_at(*far)
    assert ls.flat[spec.z_dim:].tolist() == [0, 0, 0, 0, 0, 0, 1, 0, 0, 0]
    np.testing.assert_allclose(ls.flat[:spec.z_dim], panel.encoded.pca.to_latent(far)[:spec.z_dim], rtol=1e-6)
    i = 4  # a point goes to its own code: its image's class
    panel.click_at(*panel.coords[i])
    np.testing.assert_array_equal(ls.flat, panel.encoded.codes[panel.nearest(*panel.coords[i])])
    panel.shutdown()


def test_the_maps_points_export_as_a_csv_table_with_classes_factors_and_codes(qtbot, make, tmp_path):
    """A researcher takes the map to pandas: one row per encoded test image, its class by
    name, the ground-truth factors, the two coordinates shown and the whole code."""
    import csv

    from models.data.shapes import FACTOR_NAMES, load_shapes

    shapes = load_shapes(size=28, test_size=300)
    ms, ls, panel = make(qtbot, build_model("vae", latent_dim=3, hidden=16, image_shape=(1, 28, 28)), shapes)
    said: list[str] = []
    panel.plot.export_btn.say = said.append
    assert not panel.plot.export_btn.export("Points as CSV", tmp_path / "early.csv")
    assert said == ["No points on the map yet: Encode first."] and not (tmp_path / "early.csv").exists()
    show_and_encode(qtbot, panel)
    enc = panel.encoded
    with qtbot.waitSignal(panel.plot.export_btn.exported, timeout=5000):
        assert panel.plot.export_btn.export("Points as CSV", tmp_path / "map.csv")
    with open(tmp_path / "map.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["test_index", "label", "class", *FACTOR_NAMES, "map PC 1", "map PC 2",
                             "code 0", "code 1", "code 2"]
    assert len(rows) == len(enc.codes) == 300
    i = 17
    assert int(rows[i]["test_index"]) == enc.indices[i]
    assert rows[i]["class"] == shapes.class_names[int(rows[i]["label"])] == shapes.class_names[enc.labels[i]]
    assert [int(rows[i][n]) for n in FACTOR_NAMES] == enc.factors[i].tolist()
    assert float(rows[i]["map PC 1"]) == pytest.approx(float(panel.coords[i, 0]))
    np.testing.assert_allclose([float(rows[i][f"code {d}"]) for d in range(3)], enc.codes[i], rtol=1e-6)
    panel.shutdown()
