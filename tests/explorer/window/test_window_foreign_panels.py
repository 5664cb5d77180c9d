"""Every explore panel with a model made elsewhere, in the main window: with the examples VAE
(an encoder) the encoder panels work and agree with the module's own encoder; with the
examples DCGAN generator (decode only) the decode panels work and the encoder panels say
plainly, in the panel, why they cannot; an ONNX decoder says why it cannot be projected."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel

from explorer.panels.draw_pad import prepare_drawing

TOL = 1e-5


def _open(qtbot, window, path) -> None:
    with qtbot.waitSignal(window.model_state.model_changed, timeout=20_000):
        assert window.open_path(path)
    qtbot.waitUntil(lambda: window.models.loading is None and not window.jobs.busy, timeout=20_000)


def _panel(window, key: str):
    dock = window.explore_docks[key]
    dock.show()
    dock.raise_()
    return dock.widget()


def _drag(canvas, points) -> None:
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(*points[0]))
    for x, y in points[1:]:
        p = QPointF(x, y)
        QApplication.sendEvent(canvas, QMouseEvent(QEvent.Type.MouseMove, p, canvas.mapToGlobal(p), Qt.MouseButton.NoButton,
                                                   Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(*points[-1]))


@pytest.fixture
def vae_window(qtbot, window, foreign, tiny_dataset):
    """The window with the examples VAE open; the test images are those of the dataset chosen
    in Model & data (the tiny 28x28 set here: a model made elsewhere records none)."""
    _open(qtbot, window, foreign.state_dict_file("vae", ".safetensors"))
    qtbot.waitUntil(lambda: window.data_state.dataset is tiny_dataset, timeout=10_000)
    return window


def test_with_the_examples_vae_encode_and_the_drawing_pad_give_the_modules_means(qtbot, vae_window, foreign,
                                                                                   tiny_dataset):
    w = vae_window
    latent = w.latent_panel
    assert latent.encode_button.isEnabled()
    latent.test_index.setValue(3)
    latent.encode_button.click()
    x = tiny_dataset.test.batch(torch.tensor([3]))
    np.testing.assert_allclose(w.latent_state.flat, foreign.vae_means(x)[0].numpy(), atol=TOL)
    qtbot.waitUntil(lambda: latent.sort_by_kl.isEnabled(), timeout=10_000)  # mean and log-variance: KL per dim

    draw = _panel(w, "draw")
    assert not draw.stack.hinting
    qtbot.waitExposed(draw.canvas)
    _drag(draw.canvas, [(60, 40), (80, 90), (110, 150), (120, 190)])
    drawn = prepare_drawing(draw.canvas.array(), (1, 28, 28))
    np.testing.assert_allclose(w.latent_state.flat, foreign.vae_means(drawn)[0].numpy(), atol=TOL)

    # a dropped image file sets the sliders to its mean too
    img = np.zeros((28, 28), np.uint8)
    img[6:22, 12:16] = 255
    Image.fromarray(img).save(foreign.folder / "one.png")
    w.handle_dropped([foreign.folder / "one.png"])
    assert "Encoded one.png" in w.statusBar().currentMessage()


def test_with_the_examples_vae_the_latent_map_and_compare_reconstructions_work(qtbot, vae_window, foreign,
                                                                               tiny_dataset):
    w = vae_window
    map_panel = _panel(w, "map")
    assert not map_panel.stack.hinting
    if map_panel.encoded is None:
        with qtbot.waitSignal(map_panel.map_ready, timeout=20_000):
            map_panel.encode()
    x = tiny_dataset.test.batch(torch.arange(len(tiny_dataset.test)))
    np.testing.assert_allclose(map_panel.encoded.codes, foreign.vae_means(x).numpy(), atol=1e-4)

    compare = _panel(w, "compare")
    with qtbot.waitSignal(compare.grid_ready, timeout=20_000):
        compare.add_current()
    tab = compare.reconstructions
    originals = torch.from_numpy(tab.originals)
    want = foreign.vae_images(foreign.vae_means(originals))
    np.testing.assert_allclose(tab.recons[0], want.numpy(), atol=TOL)
    assert "PyTorch examples VAE" in compare.model_list.item(0).text()

    w.show_evaluation()  # the dataset chosen in Model & data serves; the dialog says so
    assert "comes with no dataset" in w.eval_dialog.message.text()
    assert "tiny test set" in w.eval_dialog.message.text()
    w.eval_dialog.close()


def test_a_model_made_elsewhere_reads_the_dataset_chosen_in_model_and_data(qtbot, vae_window, dataset_factory):
    asked = len(dataset_factory.calls)
    vae_window.statusBar().clearMessage()
    vae_window.train_panel.dataset.setCurrentText("mnist")  # the factory stands in: any name gives the tiny set
    qtbot.waitUntil(lambda: dataset_factory.calls[asked:] == ["mnist"], timeout=10_000)
    qtbot.waitUntil(lambda: "test set chosen in Model & data" in vae_window.statusBar().currentMessage(),
                    timeout=10_000)


def test_the_examples_dcgan_decode_panels_work_and_the_encoder_panels_say_why_not(qtbot, window, foreign):
    _open(qtbot, window, foreign.state_dict_file("gen", ".safetensors"))
    w = window
    for key, what in (("map", "latent map"), ("draw", "drawing pad")):
        panel = _panel(w, key)
        assert panel.stack.hinting and panel.stack.hint.isVisible()  # on screen, in the panel
        hint = panel.stack.hint.text()
        assert "PyTorch examples DCGAN generator" in hint and "has no encoder" in hint and what in hint
        assert "Projection" in hint  # what to use instead: this decoder has gradients
    assert not w.latent_panel.encode_box.isVisible() and w.latent_panel.generator_box.isVisible()
    assert not w.encode_file(foreign.folder / "nothing.png")
    title, text = w.last_error
    assert "no encoder" in title and "PyTorch examples DCGAN generator" in text

    traversal = _panel(w, "traversal")
    assert not traversal.stack.hinting
    qtbot.waitUntil(lambda: traversal.image is not None, timeout=20_000)
    assert traversal.image.shape[0] > 64

    projection = _panel(w, "projection")
    assert not projection.stack.hinting
    target = (foreign.gen_images(torch.randn(1, foreign.nz))[0, 0].numpy() * 255).astype(np.uint8)
    Image.fromarray(target).save(foreign.folder / "target.png")
    projection.open_image(foreign.folder / "target.png")
    projection.steps.setValue(5)
    projection.restarts.setValue(1)
    with qtbot.waitSignal(projection.finished, timeout=20_000) as done:
        projection.run_btn.click()
    assert done.args[0].steps_done == 5 and np.isfinite(done.args[0].mse)

    compare = _panel(w, "compare")
    compare.add_current()
    assert "PyTorch examples DCGAN generator" in compare.model_list.item(0).text()
    with qtbot.waitSignal(compare.grid_ready, timeout=20_000):  # an image of its size: no reconstruction, and why
        compare.reconstructions.add_image_files([foreign.folder / "target.png"])
    assert compare.reconstructions.recons == [None]
    def said() -> bool:  # the row's note, shown (a new label shows on the next event-loop turn)
        return any(label.text().startswith("No encoder: this model cannot reconstruct images")
                   for label in compare.recon_grid.findChildren(QLabel) if label.isVisibleTo(compare))

    qtbot.waitUntil(said, timeout=5_000)
    paths = _panel(w, "paths")  # a path of two random points, played in Compare through the model
    paths.add_current()
    paths.add_random()
    paths.go_to(1)  # the sliders and the view go to the keyframe
    shown_vs_module = np.abs(w.image_view.image / 255.0 - foreign.gen_images(
        torch.from_numpy(paths.keyframes[1].flat)[None])[0, 0].numpy()).max()
    assert shown_vs_module <= 1 / 255 + 1e-6
    compare.path_frames_per_segment.setValue(4)
    with qtbot.waitSignal(compare.path_frames_ready, timeout=20_000):
        paths.send_to_compare()
    first = compare.path_frames[0][0]
    expected = foreign.gen_images(torch.from_numpy(paths.keyframes[0].flat)[None])[0, 0].numpy()
    assert first.shape == (64, 64) and np.abs(first / 255.0 - expected).max() <= 1 / 255 + 1e-6
    compare.stop()
    pickled = foreign.state_dict_file("gen", ".pth")  # Compare never unpickles: File > Open asks first
    compare.add_files([pickled])
    assert len(compare.entries) == 1 and "File ▸ Open" in compare.message.text()

    w.show_evaluation()  # no dataset of its size: said, nothing opens
    assert w.eval_dialog is None and "Cannot evaluate" in w.statusBar().currentMessage()


def test_an_onnx_decoder_says_it_cannot_be_projected(qtbot, window, foreign):
    _open(qtbot, window, foreign.onnx_folder("gen"))
    projection = _panel(window, "projection")
    assert projection.stack.hinting and "no gradients" in projection.stack.hint.text()
    traversal = _panel(window, "traversal")
    assert not traversal.stack.hinting
    qtbot.waitUntil(lambda: traversal.image is not None, timeout=20_000)
