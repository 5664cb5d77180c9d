"""File > Browse Runs: the runs folder as a table; open a run or add it to Compare from it."""
from __future__ import annotations

import os
import time

from PySide6.QtCore import Qt

from explorer import settings
from explorer.dialogs.runs_browser import COLUMNS
from models.families.registry import build_model
from models.runs.run_dir import RunDir
from models.training.loop import TrainConfig, train


def _train(dataset, name, family, steps, **kw):
    run = RunDir(settings.runs_dir() / name)
    list(train(build_model(family, **kw), dataset, TrainConfig(steps=steps, batch_size=32, log_every=steps,
                                                                 snapshot_every=steps, device="cpu"), run=run))
    return run.path


def _open_browser(qtbot, window):
    window.runs_action.trigger()
    browser = window.runs_browser
    qtbot.waitUntil(lambda: browser.message.text() not in ("", "Scanning…"), timeout=10_000)
    return browser


def test_browser_lists_runs_and_opens_the_chosen_one(qtbot, window, tiny_dataset):
    older = _train(tiny_dataset, "20260101-vae", "vae", 12, latent_dim=3, hidden=16)
    past = time.time() - 3600
    for p in older.rglob("*"):
        os.utime(p, (past, past))
    newer = _train(tiny_dataset, "20260102-ae", "ae", 6, latent_dim=2, hidden=16)
    RunDir(newer).write_eval({"test_loss": 123.456, "evaluated": "2026-01-02T10:00:00+00:00"})  # as `eval` leaves it
    (settings.runs_dir() / "20260103-gan" / "checkpoints").mkdir(parents=True)  # started, nothing saved yet
    os.utime(settings.runs_dir() / "20260103-gan", (past - 60, past - 60))

    browser = _open_browser(qtbot, window)
    table = browser.table
    assert browser.isVisible() and browser.message.text() == "3 runs"
    assert [table.item(r, 0).text() for r in range(3)] == ["20260102-ae", "20260101-vae", "20260103-gan"]
    col = COLUMNS.index
    assert table.item(1, col("Family")).text() == "vae" and table.item(1, col("Steps")).text() == "12"
    assert "kl" in table.item(1, col("Last losses")).text()
    assert table.item(0, col("Last eval")).text() == "test_loss 123.5" and table.item(1, col("Last eval")).text() == ""
    assert "eval 2026-01-02 10:00: test_loss 123.5" in browser.details.text()
    # the newest run is selected, with its sample grid beside the table
    assert browser.selected().name == "20260102-ae" and not browser.preview.pixmap().isNull()

    # sorting by steps is numeric, and the selection follows the run, not the row
    table.sortItems(col("Steps"), Qt.SortOrder.DescendingOrder)
    assert table.item(0, 0).text() == "20260101-vae"
    gan_row = next(r for r in range(3) if table.item(r, 0).text() == "20260103-gan")
    table.selectRow(gan_row)
    assert not browser.open_button.isEnabled() and "No samples" in browser.preview.text()

    table.selectRow(0)
    assert browser.open_button.isEnabled()
    with qtbot.waitSignal(window.model_state.model_changed, timeout=10_000):
        qtbot.mouseClick(browser.open_button, Qt.MouseButton.LeftButton)
    assert window.model_state.model.family == "vae" and window.model_state.model.config.latent_dim == 3

    compare = window.explore_docks["compare"].widget()
    before = len(compare.entries)
    qtbot.mouseClick(browser.compare_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(compare.entries) == before + 1, timeout=10_000)
    assert compare.entries[-1].model.family == "vae"

    # several runs at once (ctrl-click); the one with nothing saved is left out
    table.selectAll()
    assert browser.compare_button.text() == "Add 2 to Compare"
    qtbot.mouseClick(browser.compare_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(compare.entries) == before + 3, timeout=10_000)
    assert sorted(e.model.family for e in compare.entries[-2:]) == ["ae", "vae"]


def test_browser_says_how_to_get_runs_and_can_list_another_folder(qtbot, window, tiny_dataset, tmp_path):
    browser = _open_browser(qtbot, window)
    assert browser.table.rowCount() == 0 and "No run folders here yet" in browser.message.text()
    other = tmp_path / "cli-runs"
    (other / "run1" / "checkpoints").mkdir(parents=True)
    (other / "run1" / "config.json").write_text("{ broken")
    with qtbot.waitSignal(browser.scanned, timeout=10_000):
        browser.set_root(other)
    assert browser.table.rowCount() == 1 and "config.json unreadable" in browser.table.item(0, 0).toolTip()
    assert str(other) in browser.folder_label.text()

    # the next window's browser opens on the folder chosen last
    from explorer.window.main_window import MainWindow

    second = MainWindow(dataset_factory=window.dataset_factory)
    qtbot.addWidget(second)
    try:
        second.show_runs_browser()
        assert second.runs_browser.root == other
        qtbot.waitUntil(lambda: second.runs_browser.table.rowCount() == 1, timeout=10_000)
    finally:
        second.shutdown()
