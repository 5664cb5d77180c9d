"""The latent sliders named by the dataset factor each dimension tells most, once the model
was evaluated on data with ground-truth factors (the shapes set): after Evaluate in the
window, again when the evaluated run is reopened, and gone when the weights change under them."""
from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import Qt

from explorer.panels.latent_panel import LatentPanel
from explorer.panels.latent_rows import factor_text
from explorer.state import DataState, LatentState, ModelState
from models.data.shapes import load_shapes
from models.families.registry import build_model
from models.runs.checkpoint import save_checkpoint
from models.runs.run_dir import RunDir
from models.training.loop import TrainConfig, train

pytestmark = pytest.mark.usefixtures("one_thread")


def _labels(panel: LatentPanel) -> dict[int, str]:
    return {i: row.factor.text() for i, row in enumerate(panel.z_rows) if not row.factor.isHidden() and row.factor.text()}


def test_rows_show_the_factors_their_dimension_tells_and_drop_them_for_other_weights(qtbot):
    ms, ls, ds = ModelState(), LatentState(), DataState()
    panel = LatentPanel(ms, ls, ds)
    qtbot.addWidget(panel)
    panel.show()
    model = build_model("beta-vae", latent_dim=4, hidden=16, image_shape=(1, 28, 28))
    ms.set_model(model)
    ls.reset(ms.spec)
    stamp = ms.weights_stamp
    ms.set_factor_dims({"shape": None, "scale": 2, "pos_x": 0, "pos_y": 2, "rotation": 9}, stamp)  # 9: not a dim
    assert _labels(panel) == {0: "pos_x", 2: "scale +1"}
    assert "pos_x" in panel.z_rows[0].factor.toolTip() and "scale and pos_y" in panel.z_rows[2].factor.toolTip()
    qtbot.waitUntil(lambda: len({row.slider.width() for row in panel.z_rows}) == 1)  # labelled or not: one length

    ms.load_weights(model.state_dict())  # a training snapshot: those figures were of other weights
    assert _labels(panel) == {} and ms.factor_dims == {}
    ms.set_factor_dims({"scale": 1}, stamp)  # an evaluation finishing late, of the weights before
    assert _labels(panel) == {}
    ms.set_factor_dims({"scale": 1}, ms.weights_stamp)
    assert _labels(panel) == {1: "scale"}
    ms.set_model(build_model("beta-vae", latent_dim=4, hidden=16, image_shape=(1, 28, 28)))  # same shape, new model
    assert _labels(panel) == {}
    ms.set_factor_dims({"<b>bold</b>" + "x" * 10_000: 1, "  ": 2}, ms.weights_stamp)  # names from a file
    assert _labels(panel) == {1: "<b>bold</b>" + "x" * 29}  # plain text, a name's length; an empty name: none
    assert panel.z_rows[1].factor.textFormat() == Qt.TextFormat.PlainText
    hostile = {f"f{i}": 3 for i in range(200_000)}  # an eval.json of very many "factors": only the first few read
    ms.set_factor_dims(hostile, ms.weights_stamp)
    assert _labels(panel)[3] == "f0 +63"  # the label stays short; the tooltip lists them
    assert "f63" in panel.z_rows[3].factor.toolTip() and "f64" not in panel.z_rows[3].factor.toolTip()


def test_evaluate_in_the_window_labels_the_sliders_and_the_reopened_run_has_them_again(qtbot, tmp_path):
    from explorer.window.main_window import MainWindow

    shapes = load_shapes(size=28, test_size=400, seed=0)
    model = build_model("beta-vae", latent_dim=4, hidden=16, mlp_layers=1, image_shape=(1, 28, 28))
    run = RunDir(tmp_path / "runs" / "bvae")
    list(train(model, shapes, TrainConfig(steps=1, batch_size=8, device="cpu", validation_size=50), run=run,
               extra_state={"dataset": "shapes"}))
    with torch.no_grad():  # an encoder whose z2 is the image's mean brightness: it tells the shape's size
        for weight in model.parameters():
            weight.zero_()
        model.encoder.net[1].weight[0] = 1.0 / 784
        model.to_latent.weight[2, 0] = 10.0
    save_checkpoint(run.latest, model, {"dataset": "shapes", "step": 1})
    window = MainWindow(dataset_factory=lambda *a, **k: shapes)
    qtbot.addWidget(window)
    window.show()
    try:
        with qtbot.waitSignal(window.model_state.model_changed, timeout=10_000):
            assert window.open_path(run.latest)
        qtbot.waitUntil(lambda: window.data_state.dataset is shapes, timeout=10_000)
        assert _labels(window.latent_panel) == {}  # never evaluated: nothing said
        window.show_evaluation()
        dialog = window.eval_dialog
        dialog.samples.setValue(0)
        with qtbot.waitSignal(dialog.finished, timeout=60_000) as done:
            qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
        told = {dim: [] for dim in range(4)}
        for factor, dim in done.args[0]["factor_dims"].items():
            if dim is not None:
                told[dim].append(factor)
        expected = {dim: factor_text(tuple(names)) for dim, names in told.items() if names}
        assert 2 in expected and "scale" in done.args[0]["factor_dims"] and set(expected) == {2}, done.args[0]
        assert _labels(window.latent_panel) == expected
        dialog.close()

        window.models.close_model()
        assert _labels(window.latent_panel) == {}
        with qtbot.waitSignal(window.model_state.model_changed, timeout=10_000):
            assert window.open_path(run.latest)
        qtbot.waitUntil(lambda: _labels(window.latent_panel) == expected, timeout=10_000)  # from the run's eval.json

        figures = run.load_eval()
        run.write_eval({**figures, "step": figures["step"] - 1})  # an evaluation of another step of the run
        window.models.close_model()
        with qtbot.waitSignal(window.models.history_ready, timeout=10_000):
            assert window.open_path(run.latest)
        qtbot.wait(50)
        assert _labels(window.latent_panel) == {}
    finally:
        window.shutdown()


def test_rows_beyond_the_eager_ones_are_labelled_too(qtbot):
    ms, ls = ModelState(), LatentState()
    panel = LatentPanel(ms, ls, DataState())
    qtbot.addWidget(panel)
    panel.resize(320, 640)
    panel.show()
    ms.set_model(build_model("beta-vae", latent_dim=400, hidden=8, image_shape=(1, 8, 8)))
    ls.reset(ms.spec)
    rows = panel.virtual_z
    assert rows is not None and not panel.z_rows
    ms.set_factor_dims({"scale": 1, "pos_x": 350}, ms.weights_stamp)
    shown = {rows.dims[j]: row.factor.text() for j, row in enumerate(rows.pool) if row.isVisible() and row.factor.text()}
    assert shown == {1: "scale"}
    rows.scrollbar.setValue(345)  # scroll down to dimension 350
    shown = {rows.dims[j]: row.factor.text() for j, row in enumerate(rows.pool) if row.isVisible() and row.factor.text()}
    assert shown == {350: "pos_x"}
    ms.set_factor_dims(None)
    assert not any(row.factor.text() for row in rows.pool)
