"""The follow bar (explorer.panels.follow_bar): it shows the follower's status and which
checkpoint is shown, Reload now loads a newer one (and is off when there is none), the toggle
switches automatic reloading, Stop following asks the window to stop."""
from __future__ import annotations

from PySide6.QtCore import Qt

from explorer.panels.follow_bar import FollowBar
from explorer.run_follower import RunFollower
from models.families.registry import build_model
from models.runs.checkpoint import save_checkpoint
from models.runs.run_dir import RunDir


def test_the_bar_follows_the_follower_and_drives_it(qtbot, tmp_path):
    run = RunDir(tmp_path / "vae-run").create()
    follower = RunFollower(run.path, poll_ms=50, debounce_ms=10)
    bar = FollowBar(follower)
    qtbot.addWidget(bar)
    bar.resize(1100, bar.sizeHint().height())
    bar.show()
    assert not bar.reload.isEnabled() and bar.checkpoint.text() == "no checkpoint yet"
    follower.start()
    try:
        qtbot.waitUntil(lambda: bar.status.text() == "following (nothing written yet)", timeout=5000)
        save_checkpoint(run.latest, build_model("vae", latent_dim=2, hidden=16), {"step": 40})
        qtbot.waitUntil(bar.reload.isEnabled, timeout=5000)
        assert bar.checkpoint.text() == "newest checkpoint: step 40 (not loaded)"
        assert bar.status.text().startswith("following (last update")
        bar.grab().save(str(tmp_path / "follow_bar.png"))
        with qtbot.waitSignal(follower.checkpoint_loaded, timeout=5000):
            qtbot.mouseClick(bar.reload, Qt.MouseButton.LeftButton)
        assert not bar.reload.isEnabled()
        assert bar.checkpoint.text() == "showing the newest checkpoint (step 40)"
        bar.auto_reload.click()
        assert follower.auto_reload
        with qtbot.waitSignal(bar.stop_requested, timeout=1000):
            qtbot.mouseClick(bar.stop, Qt.MouseButton.LeftButton)
    finally:
        follower.stop()
