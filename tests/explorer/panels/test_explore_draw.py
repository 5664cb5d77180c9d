"""Drawing pad: mouse strokes are encoded live into LatentState."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtGui import QMouseEvent
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from explorer.panels.draw_pad import DrawPadPanel, prepare_drawing
from models.families.registry import build_model


@pytest.fixture
def make(open_panel):
    return lambda qtbot, model: open_panel(DrawPadPanel, model)


def drag(canvas, points: list[tuple[int, int]]) -> None:
    """Press, move with the button held, release (QTest.mouseMove can't hold a button)."""
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(*points[0]))
    for x, y in points[1:]:
        p = QPointF(x, y)
        ev = QMouseEvent(QEvent.Type.MouseMove, p, canvas.mapToGlobal(p), Qt.MouseButton.NoButton,
                         Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(canvas, ev)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(*points[-1]))


def test_drawing_changes_the_latent(qtbot, make):
    ms, ls, panel = make(qtbot, build_model("vae", latent_dim=4, hidden=16))
    panel.show()
    qtbot.waitExposed(panel)
    before = ls.flat
    encodings = []
    panel.encoded.connect(encodings.append)
    drag(panel.canvas, [(60, 40), (80, 90), (110, 150), (120, 190)])
    assert panel.canvas.array().max() == 255  # ink on the canvas
    assert encodings, "release encodes at once"
    assert not np.array_equal(ls.flat, before)
    x = prepare_drawing(panel.canvas.array(), (1, 28, 28))
    with torch.no_grad():
        np.testing.assert_allclose(ls.flat, ms.model.encode(x)[0].numpy(), rtol=1e-5, atol=1e-6)
    assert panel.input_tile.image.shape == (28, 28) and panel.recon_tile.image is not None
    panel.grab().save("/tmp/panel_draw.png")
    panel.clear()
    assert panel.canvas.array().max() == 0


def test_prepare_drawing_centres_the_ink():
    canvas = np.zeros((224, 224), np.uint8)
    canvas[10:60, 150:170] = 255  # a bar in a corner
    x = prepare_drawing(canvas, (1, 28, 28))[0, 0].numpy()
    ys, xs = np.nonzero(x > 0.5)
    assert abs(ys.mean() - 13.5) < 1.5 and abs(xs.mean() - 13.5) < 1.5
    assert ys.max() - ys.min() + 1 <= 21  # into MNIST's 20-pixel box
    whole = prepare_drawing(canvas, (3, 28, 28), fit=False)
    assert whole.shape == (1, 3, 28, 28) and whole[0, 0, 2:7, 19:21].min() > 0.9


def test_gan_shows_a_hint(qtbot, make):
    _, _, panel = make(qtbot, build_model("gan", z_dim=4, g_hidden=(32,), d_hidden=(32,)))
    assert panel.stack.hinting and "no encoder" in panel.stack.hint.text()
