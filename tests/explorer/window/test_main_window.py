"""The main window: building it, opening models, sliders -> image, files, layout memory."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from explorer.window import model_controller
from explorer import settings
from models.runs.checkpoint import load_checkpoint, save_checkpoint
from models.io.images import load_png
from models.families.registry import build_model


def open_and_wait(qtbot, window, path) -> None:
    with qtbot.waitSignal(window.model_state.model_changed, timeout=10_000):
        assert window.open_path(path)


def test_window_builds_with_docks_and_hint(window):
    assert window.width() == 1400 and window.height() == 900
    titles = {d.windowTitle() for d in (window.train_dock, window.latent_dock, window.training_dock)}
    assert titles == {"Model && data", "Latent space", "Training"}
    assert window.model_state.model is None
    assert "Open a model or press Train" in window.image_view.hint.text()
    assert not window.save_action.isEnabled() and not window.random_action.isEnabled()
    assert window.train_action.isEnabled() and not window.stop_action.isEnabled()
    assert window.train_panel.train_button.isEnabled() and not window.train_panel.stop_button.isEnabled()


def test_open_checkpoint_builds_sliders_and_slider_changes_image(qtbot, window, vae_checkpoint):
    open_and_wait(qtbot, window, vae_checkpoint)
    panel = window.latent_panel
    assert len(panel.z_rows) == 5 == window.model_state.spec.z_dim
    assert window.image_view.image is not None and window.image_view.image.shape == (28, 28)
    assert "vae" in window.windowTitle() and "vae5.safetensors" in window.windowTitle()
    assert settings.recent_files()[0] == str(vae_checkpoint.resolve())
    before = window.image_view.image.copy()
    count = window.image_view.images_set
    panel.z_rows[2].slider.setValue(2.5)  # the real widget, as a drag would
    assert window.latent_state.flat[2] == pytest.approx(2.5)
    assert window.image_view.images_set > count
    assert not np.array_equal(before, window.image_view.image)
    # state -> sliders: Zero moves the slider back without feeding back into the state
    window.zero_action.trigger()
    assert panel.z_rows[2].slider.value() == pytest.approx(0.0)
    assert np.array_equal(window.image_view.image, before)


def test_reset_button_and_random(qtbot, window, vae_checkpoint):
    open_and_wait(qtbot, window, vae_checkpoint)
    row = window.latent_panel.z_rows[1]
    row.slider.setValue(-1.5)
    row.reset.click()
    assert window.latent_state.flat[1] == 0.0 and row.slider.value() == 0.0
    window.random_action.trigger()
    flat = window.latent_state.flat
    assert np.any(flat != 0)
    assert [r.slider.value() for r in window.latent_panel.z_rows] == pytest.approx(np.clip(flat, -3, 3), abs=0.01)


def test_copy_and_paste_a_latent_point(qtbot, window, vae_checkpoint):
    from PySide6.QtGui import QGuiApplication

    open_and_wait(qtbot, window, vae_checkpoint)
    rows = window.latent_panel.z_rows
    rows[0].slider.setValue(1.25)
    rows[3].slider.setValue(-2.0)
    image = window.image_view.image.copy()
    window.copy_point_action.trigger()
    copied = QGuiApplication.clipboard().text()
    assert copied == "[1.25, 0, 0, -2, 0]"  # a plain list: it reads back in Python as it is

    window.zero_action.trigger()
    assert rows[0].slider.value() == 0.0
    window.paste_point_action.trigger()
    assert rows[0].slider.value() == pytest.approx(1.25) and rows[3].slider.value() == pytest.approx(-2.0)
    assert np.array_equal(window.image_view.image, image)

    QGuiApplication.clipboard().setText("1, 2, 3")  # another model's point
    window.paste_point_action.trigger()
    assert "holds 3 numbers; this model's point has 5" in window.statusBar().currentMessage()
    assert rows[0].slider.value() == pytest.approx(1.25)  # nothing moved


def test_corrupt_file_shows_message_and_keeps_model(qtbot, window, vae_checkpoint, tmp_path):
    open_and_wait(qtbot, window, vae_checkpoint)
    model = window.model_state.model
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x00\x01 definitely not safetensors")
    assert window.open_path(bad)
    qtbot.waitUntil(lambda: window.last_error is not None, timeout=10_000)
    title, text = window.last_error
    assert "Could not open" in title and "broken.safetensors" in text
    assert "broken.safetensors" in window.statusBar().currentMessage()
    assert window._error_box is not None and not window._error_box.isModal()
    # the window still works with the previous model
    assert window.model_state.model is model
    count = window.image_view.images_set
    window.latent_panel.z_rows[0].slider.setValue(1.0)
    assert window.image_view.images_set > count
    assert window.open_action.isEnabled()


def test_missing_path_message(qtbot, window, tmp_path):
    window.open_path(tmp_path / "nope.safetensors")
    qtbot.waitUntil(lambda: window.last_error is not None, timeout=10_000)
    assert "no such file" in window.last_error[1]


def test_open_run_folder(qtbot, window, tmp_path):
    model = build_model("ae", latent_dim=3, hidden=16)
    save_checkpoint(tmp_path / "run" / "checkpoints" / "latest.safetensors", model, {})
    open_and_wait(qtbot, window, tmp_path / "run")
    assert window.model_state.model.family == "ae"
    assert len(window.latent_panel.z_rows) == 3


def test_opening_a_run_shows_its_loss_curves_and_last_samples(qtbot, window, tiny_dataset, tmp_path):
    """A finished run opened later: the Training panel shows what happened in it."""
    from models.runs.run_dir import RunDir
    from models.training.loop import TrainConfig, train

    run = RunDir(tmp_path / "vae-run")
    model = build_model("vae", latent_dim=3, hidden=16, image_shape=(1, 28, 28))
    cfg = TrainConfig(steps=30, batch_size=20, log_every=5, snapshot_every=15, device="cpu", validation_size=20)
    for _ in train(model, tiny_dataset, cfg, run=run):
        pass
    view = window.training_view
    assert view.point_count() == 0
    open_and_wait(qtbot, window, run.path)
    qtbot.waitUntil(lambda: view.point_count() > 0, timeout=5000)
    logged = run.read_metrics()
    assert view.series["recon"].n == sum("recon" in r for r in logged) >= 6
    assert view.series["val total"].n >= 1
    assert np.allclose(view.series["kl"].y[: view.series["kl"].n], [r["kl"] for r in logged if "kl" in r])
    assert "vae-run" in view.summary.text() and "step 30" in view.summary.text()
    assert view.samples.item.image is not None
    assert np.array_equal(view.samples.item.image, load_png(run.newest_samples()))
    # a plain checkpoint (no run around it) leaves the panel to the next training
    other = save_checkpoint(tmp_path / "loose.safetensors", model, {})
    open_and_wait(qtbot, window, other)
    assert "vae-run" in view.summary.text()


def _pickle_checkpoint(path: Path) -> Path:
    model = build_model("vae", latent_dim=3, hidden=16)
    torch.save({"family": "vae", "model_config": model.config.to_dict(), "state_dict": model.state_dict()}, path)
    return path


def test_pickle_needs_confirmation(qtbot, window, tmp_path, monkeypatch):
    path = _pickle_checkpoint(tmp_path / "old.pt")
    asked: list[Path] = []
    monkeypatch.setattr(model_controller, "confirm_untrusted", lambda parent, p: asked.append(p) or False)
    assert not window.open_path(path)
    assert asked == [path] and window.model_state.model is None
    monkeypatch.setattr(model_controller, "confirm_untrusted", lambda parent, p: True)
    open_and_wait(qtbot, window, path)
    assert len(window.latent_panel.z_rows) == 3


def test_save_and_export(qtbot, window, vae_checkpoint, tmp_path):
    open_and_wait(qtbot, window, vae_checkpoint)
    window.latent_panel.z_rows[0].slider.setValue(1.2)
    saved = window.save_model(tmp_path / "copy")
    assert saved == tmp_path / "copy.safetensors"
    again = load_checkpoint(saved)
    z = torch.zeros(1, 5)
    assert torch.equal(again.model.decode(z), window.model_state.model.decode(z))
    assert window.export_action.isEnabled()
    png = window.export_image(tmp_path / "img")
    from PIL import Image

    with Image.open(png) as im:
        assert im.size == (280, 280)  # 28 px, x10 nearest: at least 256
        arr = np.asarray(im)
    assert np.array_equal(arr[::10, ::10], window.image_view.image)


def test_drop_image_encodes_and_drop_checkpoint_opens(qtbot, window, vae_checkpoint, tmp_path):
    from PIL import Image

    # a dropped checkpoint goes through the real drop event
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(vae_checkpoint))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.model_state.model_changed, timeout=10_000):
        window.dropEvent(event)
    # a dropped image sets the sliders to its latent mean
    img = np.zeros((56, 56), np.uint8)
    img[10:40, 20:30] = 255
    Image.fromarray(img).save(tmp_path / "digit.png")
    window.handle_dropped([tmp_path / "digit.png"])
    flat = window.latent_state.flat
    assert np.any(flat != 0)
    assert window.latent_panel.z_rows[0].slider.value() == pytest.approx(np.clip(flat[0], -3, 3), abs=0.01)
    assert "Encoded digit.png" in window.statusBar().currentMessage()


def test_encode_test_image_from_dataset(qtbot, window, tiny_dataset, vae_checkpoint):
    open_and_wait(qtbot, window, vae_checkpoint)
    # the checkpoint says it was trained on "tiny": the window loads it (no download) for Encode + KL
    qtbot.waitUntil(lambda: window.data_state.dataset is not None, timeout=10_000)
    qtbot.waitUntil(lambda: window.model_state.kl_per_dim is not None, timeout=10_000)
    panel = window.latent_panel
    assert panel.encode_button.isEnabled()
    assert panel.z_rows[0].kl.isVisible() and panel.sort_by_kl.isEnabled()
    panel.test_index.setValue(3)
    panel.encode_button.click()
    expected = window.model_state.model.encode(tiny_dataset.test.batch(torch.tensor([3])))[0].detach().numpy()
    np.testing.assert_allclose(window.latent_state.flat, expected, rtol=1e-5, atol=1e-6)
    panel.sort_by_kl.setChecked(True)
    order = [panel.z_layout.itemAt(i).widget() for i in range(5)]
    kl = window.model_state.kl_per_dim
    assert [panel.z_rows.index(r) for r in order] == list(np.argsort(-kl, kind="stable"))


@pytest.mark.parametrize("family,kw", [("aae", {"latent_dim": 3, "hidden": 16, "disc_hidden": (8,)}),
                                       ("ae", {"latent_dim": 3, "hidden": 16})])
def test_encoder_models_open_with_their_test_images(qtbot, window, dataset_factory, tiny_dataset, tmp_path, family, kw):
    """Not only VAEs: an AE or AAE opened from disk gets its dataset (from the folder the run
    recorded) so Encode works at once; no per-dimension KL is computed for it."""
    path = save_checkpoint(tmp_path / f"{family}.safetensors", build_model(family, image_shape=(1, 28, 28), **kw),
                           {"dataset": "tiny", "data_dir": "/where/the/run/found/it", "step": 3})
    open_and_wait(qtbot, window, path)
    panel = window.latent_panel
    qtbot.waitUntil(panel.encode_button.isEnabled, timeout=10_000)
    assert dataset_factory.folders[-1] == "/where/the/run/found/it"
    panel.test_index.setValue(2)
    panel.encode_button.click()
    expected = window.model_state.model.encode(tiny_dataset.test.batch(torch.tensor([2])))[0].detach().numpy()
    np.testing.assert_allclose(window.latent_state.flat, expected, rtol=1e-5, atol=1e-6)
    assert window.model_state.kl_per_dim is None and not panel.sort_by_kl.isEnabled()


def test_layout_is_remembered(qtbot, dataset_factory):
    from explorer.window.main_window import MainWindow

    w = MainWindow(dataset_factory=dataset_factory)
    qtbot.addWidget(w)
    w.show()
    # the offscreen screen is 800x800 and restoreGeometry fits windows into their screen, so
    # only the height (inside it) says whether the geometry came back
    w.resize(790, 650)
    w.training_dock.hide()
    w.close()
    ini = settings.home_dir() / "settings.ini"
    assert ini.exists()
    w2 = MainWindow(dataset_factory=dataset_factory)
    qtbot.addWidget(w2)
    w2.show()
    assert w2.height() == 650
    assert not w2.training_dock.isVisible()
    w2.reset_layout()
    assert w2.training_dock.isVisible()
    w2.close()


def test_shortcuts_are_set(window):
    keys = {a.text().replace("&", ""): a.shortcut().toString() for a in window.actions()}
    assert keys["Open…"] == "Ctrl+O" and keys["Save Model As…"] == "Ctrl+S"
    assert keys["Export Image as PNG…"] == "Ctrl+E" and keys["Train"] == "Ctrl+T"
    assert keys["Pause / Resume"] == "Space" and keys["Stop"] == "Esc"
    assert keys["Random Point"] == "R" and keys["Zero"] == "0"


def test_help_menu_lists_the_real_shortcuts_and_copies_the_about_facts(qtbot, window):
    from PySide6.QtGui import QGuiApplication

    help_menu = next(m.menu() for m in window.menuBar().actions() if m.text().replace("&", "") == "Help")
    shortcuts = next(a for a in help_menu.actions() if "Shortcuts" in a.text())
    shortcuts.trigger()
    table = window._help_dialog.table
    assert window._help_dialog.isVisible()
    rows = {table.item(r, 1).text(): table.item(r, 0).text() for r in range(table.rowCount())}
    # read from the actions themselves: change a key and the table follows
    assert rows["Train"] == window.train_action.shortcut().toString() == "Ctrl+T"
    assert rows["Random Point"] == "R" and rows["Stop"] == "Esc"
    window.zero_action.setShortcut("Z")
    shortcuts.trigger()
    table = window._help_dialog.table
    assert "Z" in [table.item(r, 0).text() for r in range(table.rowCount())]

    window.about_action.trigger()
    about = window._help_dialog
    assert about.isVisible()
    qtbot.mouseClick(about.copy_button, Qt.MouseButton.LeftButton)
    copied = QGuiApplication.clipboard().text()
    assert f"PyTorch: {torch.__version__}" in copied
    from models.training.device import resolve_device

    if resolve_device("auto").type == "cpu":
        assert "Training device: CPU, no GPU found" in copied
    assert str(settings.runs_dir()) in copied


def test_default_model_hint_without_demo(window, monkeypatch, tmp_path):
    monkeypatch.setattr(model_controller, "DEMO_DIR", tmp_path / "no-demo")
    assert not window.open_default_model()
    assert window.image_view._stack.currentWidget() is window.image_view.hint


def test_default_model_opens_demo(qtbot, window, monkeypatch, tmp_path):
    demo = tmp_path / "demo"
    save_checkpoint(demo / "vae_mnist.safetensors", build_model("vae", latent_dim=2, hidden=16), {})
    monkeypatch.setattr(model_controller, "DEMO_DIR", demo)
    with qtbot.waitSignal(window.model_state.model_changed, timeout=10_000):
        assert window.open_default_model()
    assert len(window.latent_panel.z_rows) == 2


def test_single_key_shortcuts_do_not_steal_typing(qtbot, window, vae_checkpoint):
    open_and_wait(qtbot, window, vae_checkpoint)
    window.latent_state.set_z(0, 1.0)
    editor = window.train_panel.batch_size.lineEdit()  # a number box: "0" is typing there
    window.activateWindow()
    editor.setFocus()
    qtbot.waitUntil(editor.hasFocus, timeout=2000)
    qtbot.keyClick(editor, Qt.Key.Key_0)
    assert window.latent_state.flat[0] == 1.0  # the Zero shortcut did not fire
    assert "0" in window.train_panel.batch_size.text()  # the key went into the box ("128" had none)
    window.image_view.setFocus()
    qtbot.keyClick(window.image_view, Qt.Key.Key_0)
    assert window.latent_state.flat[0] == 0.0  # elsewhere it does


def test_missing_dataset_message_fits_the_status_bar_and_keeps_the_whole_text(qtbot, tmp_path):
    """A VAE trained on MNIST opened where the MNIST files are not: the status bar says what
    is off and what to do in a line that fits; its tooltip has the loader's full message."""
    from explorer.window.main_window import MainWindow
    from explorer.window.messages import STATUS_CHARS
    from models.data.base import DataError

    reason = ("mnist files not found: train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz; looked in "
              + ", ".join(f"/very/long/folder/number/{i}" for i in range(6)))
    asked: list = []

    def offline(name, data_dir=None, *, download=True, progress=None, image_size=None, channels=1):
        asked.append((name, None if data_dir is None else str(data_dir), download))
        raise DataError(reason)

    w = MainWindow(dataset_factory=offline)
    qtbot.addWidget(w)
    w.show()
    w.train_panel.dataset.setCurrentText("mnist")
    w.train_panel.data_dir.setText(str(tmp_path))
    path = save_checkpoint(tmp_path / "m.safetensors", build_model("vae", latent_dim=3, hidden=16, image_shape=(1, 28, 28)),
                           {"dataset": "mnist", "step": 1})
    w.open_path(path)
    qtbot.waitUntil(lambda: "Encode" in w.statusBar().currentMessage(), timeout=5000)
    shown = w.statusBar().currentMessage()
    assert len(shown) <= STATUS_CHARS + 1 and shown.endswith("…")
    assert reason in w.statusBar().toolTip()
    # the folder chosen in Model & data was searched, and nothing was downloaded
    assert asked == [("mnist", str(tmp_path), False)]
    assert w.model_state.model is not None  # the model is open all the same
    w.shutdown()


def test_a_dataset_in_another_shape_than_the_model_is_said(qtbot, window, tmp_path):
    """The files are here but their images are not the model's shape (a 16x16 model, the
    28x28 tiny set): the window says so, and Encode and test images stay off."""
    path = save_checkpoint(tmp_path / "small.safetensors",
                           build_model("vae", latent_dim=3, hidden=16, image_shape=(1, 16, 16)), {"dataset": "tiny"})
    open_and_wait(qtbot, window, path)
    qtbot.waitUntil(lambda: "Encode" in window.statusBar().currentMessage(), timeout=10_000)
    said = window.statusBar().toolTip() or window.statusBar().currentMessage()  # the whole text
    assert "the model works on (1, 16, 16) images but tiny has (1, 28, 28)" in said
    assert window.data_state.dataset is None and not window.latent_panel.encode_button.isEnabled()


POSTSCRIPT = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n(pwned) (w) file closefile\n{ } loop\n"


def test_postscript_disguised_as_images_never_reaches_ghostscript(qtbot, window, tiny_dataset, tmp_path, monkeypatch):
    """A run folder's samples/*.png and a dropped .jpg holding PostScript: refused, nothing runs."""
    import subprocess

    from models.runs.run_dir import RunDir
    from models.training.loop import TrainConfig, train

    def refuse(*args, **kwargs):
        raise AssertionError(f"a process was started: {args[:1]}")

    for name in ("Popen", "check_call", "run", "call", "check_output"):
        monkeypatch.setattr(subprocess, name, refuse)
    monkeypatch.chdir(tmp_path)
    run = RunDir(settings.runs_dir() / "evil-run")
    model = build_model("vae", latent_dim=3, hidden=16, image_shape=(1, 28, 28))
    list(train(model, tiny_dataset, TrainConfig(steps=6, batch_size=20, log_every=3, snapshot_every=3,
                                                device="cpu", validation_size=20), run=run))
    for png in run.path.glob("samples/*.png"):
        png.write_bytes(POSTSCRIPT)
    open_and_wait(qtbot, window, run.path)
    assert len(window.latent_panel.z_rows) == 3  # the model opened; its bad sample grid is not shown

    window.runs_action.trigger()
    browser = window.runs_browser
    qtbot.waitUntil(lambda: browser.message.text() not in ("", "Scanning…"), timeout=10_000)
    assert browser.selected().name == "evil-run" and "No samples" in browser.preview.text()
    browser.close()

    (tmp_path / "digit.jpg").write_bytes(POSTSCRIPT)
    before = window.latent_state.flat.copy()
    window.handle_dropped([tmp_path / "digit.jpg"])
    assert np.array_equal(window.latent_state.flat, before)
    assert "digit.jpg" in window.statusBar().currentMessage()
    assert "not a supported image" in window.statusBar().currentMessage()
    assert not (tmp_path / "pwned").exists()
