"""Paint soak: pyqtgraph image widgets repainted by a 5 ms timer for several seconds.

PySide6 6.12.0 on Python 3.11 aborts the process ("none_dealloc") after some thousands of
QPainter calls from Python; this catches it. The soak runs in a subprocess, so an abort
fails this test instead of killing the whole pytest run.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SOAK = textwrap.dedent(
    """
    import os, sys, time
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    import pyqtgraph as pg
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    view = pg.ImageView()          # with its histogram: the heaviest painter user
    layout = pg.GraphicsLayoutWidget()
    vb = layout.addViewBox(lockAspect=True)
    item = pg.ImageItem()
    vb.addItem(item)
    view.resize(400, 300); layout.resize(300, 300)
    view.show(); layout.show()
    rng = np.random.default_rng(0)
    frames = [0]
    t_end = time.monotonic() + float(sys.argv[1])

    def tick():
        img = rng.integers(0, 255, (64, 64), dtype=np.uint8)  # a fresh array every frame
        view.setImage(img, levels=(0, 255), autoRange=False, autoLevels=False, autoHistogramRange=False)
        item.setImage(img.copy(), levels=(0, 255))
        view.repaint(); layout.repaint()
        frames[0] += 1
        if time.monotonic() > t_end:
            app.quit()

    timer = QTimer(); timer.timeout.connect(tick); timer.start(5)
    app.exec()
    print("frames", frames[0])
    """
)


def test_paint_soak_does_not_crash(tmp_path):
    script = tmp_path / "soak.py"
    script.write_text(SOAK)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, str(script), "6"], capture_output=True, text=True, timeout=90, env=env)
    assert proc.returncode == 0, f"soak died with {proc.returncode}:\n{proc.stderr[-2000:]}"
    frames = int(proc.stdout.split("frames")[-1])
    assert frames > 200, proc.stdout  # it really painted, many times
