"""An image dropped on the window: with a GAN open (no encoder) the Projection dock comes
forward with the image as its target and projects it, and the projected latent becomes the
point shown; with an encoder model it is encoded as before; a file that is not an image is
said, never projected."""
from __future__ import annotations

import numpy as np
import torch
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from explorer.image_input import load_image_file
from models.families.registry import build_model
from models.io.images import save_png, to_display


def drop(window, path) -> None:
    """A real drop event carrying ``path``, as a file manager sends it."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    window.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                                Qt.KeyboardModifier.NoModifier))


def _open(window, model) -> None:
    window.model_state.set_model(model, None, {"dataset": "tiny", "step": 1})
    window.latent_state.reset(model.latent_spec)


def _dcgan():
    torch.manual_seed(0)
    return build_model("dcgan", z_dim=8, g_channels=8, d_channels=8, fc_hidden=32, image_shape=(1, 28, 28)).eval()


def test_a_png_dropped_with_a_dcgan_open_is_projected_and_becomes_the_point(qtbot, window, foreign, tmp_path):
    """The PyTorch examples' DCGAN generator, dropped as its state dict, then one of its own
    images dropped as a PNG: a latent that makes that image exists."""
    drop(window, foreign.state_dict_file("gen", ".safetensors"))
    qtbot.waitUntil(lambda: window.models.loading is None and not window.jobs.busy
                    and window.model_state.model is not None, timeout=20_000)
    dock = window.explore_docks["projection"]
    panel = dock.widget()
    panel.steps.setValue(60)
    panel.restarts.setValue(2)
    target = foreign.gen_images(torch.randn(1, foreign.nz, generator=torch.Generator().manual_seed(3)))[0]
    png = save_png(to_display(target), tmp_path / "generated.png")
    origin = window.latent_state.flat.copy()
    with qtbot.waitSignal(panel.finished, timeout=30_000) as finished:
        drop(window, png)
        assert panel.jobs.busy  # started by the drop itself
    result = finished.args[0]
    assert dock.isVisible() and not dock.visibleRegion().isEmpty()  # the dock came to the front
    assert panel.target_caption.text() == "Target: generated.png"
    # the target is the file as the app's image reader prepares it for this model
    x, _ = load_image_file(str(png), (1, 64, 64))
    torch.testing.assert_close(panel.target, x[0])
    assert result.steps_done == 60 and not result.cancelled and np.isfinite(result.mse)
    # the projection is the point now (Set sliders when done is on by default)
    np.testing.assert_array_equal(window.latent_state.flat, result.latent)
    at_origin = float(((foreign.gen_images(torch.from_numpy(origin)[None])[0] - x[0]) ** 2).mean())
    assert result.mse < 0.5 * at_origin  # much closer to the image than where it started
    qtbot.waitUntil(lambda: not window.jobs.busy, timeout=5000)


def test_an_image_dropped_with_a_vae_open_is_still_encoded(qtbot, window, tmp_path):
    model = build_model("vae", latent_dim=4, hidden=16, image_shape=(1, 28, 28)).eval()
    _open(window, model)
    png = save_png((np.arange(28 * 28).reshape(28, 28) % 255).astype(np.uint8), tmp_path / "digit.png")
    panel = window.explore_docks["projection"].widget()
    drop(window, png)
    x, _ = load_image_file(str(png), (1, 28, 28))
    with torch.no_grad():
        want = model.encode(x)[0].numpy()
    np.testing.assert_allclose(window.latent_state.flat, want, rtol=1e-5, atol=1e-6)
    assert panel.target is None and not panel.jobs.busy  # no projection


def test_a_broken_image_dropped_with_a_dcgan_open_is_said_and_not_projected(qtbot, window, tmp_path):
    _open(window, _dcgan())
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    panel = window.explore_docks["projection"].widget()
    messages: list[str] = []
    panel.status.connect(messages.append)
    drop(window, bad)
    assert panel.target is None and not panel.jobs.busy
    assert messages and "broken.png" in messages[-1]
