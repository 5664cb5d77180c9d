"""A screenshot of the main window mid-training, for people (and reviews) to look at.

Saved to $LATENT_EXPLORER_SCREENSHOT when set, else into the test's temp folder.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def test_screenshot_while_training(qtbot, window, small_vae_form, vae_checkpoint, tmp_path):
    small_vae_form(window.train_panel, latent=6)
    with qtbot.waitSignal(window.session.started, timeout=15_000):
        window.train_panel.train_button.click()
    qtbot.waitUntil(lambda: window.training_view.samples.updates > 2 and window.training_view.redraws > 2, timeout=20_000)
    window.latent_panel.z_rows[1].slider.setValue(1.3)
    window.latent_panel.z_rows[4].slider.setValue(-2.0)
    qtbot.wait(150)  # one more curve redraw
    path = Path(os.environ.get("LATENT_EXPLORER_SCREENSHOT") or tmp_path / "main_window.png")
    pixmap = window.grab()
    assert pixmap.save(str(path))
    with qtbot.waitSignal(window.session.finished, timeout=10_000):
        window.session.stop()
    image = pixmap.toImage()
    assert (image.width(), image.height()) == (1400, 900)
    # not blank: the central view holds the decoded image, which has many grey levels
    centre = window.image_view.image
    assert centre is not None and len(np.unique(centre)) > 10
