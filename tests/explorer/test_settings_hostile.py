"""A settings file in any state never stops the window from starting: it starts with its
defaults, says once what it ignored, and keeps the user's file (moved aside, or left alone).

Every broken file is written by the test."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QByteArray, QPoint, QSettings

from explorer import settings, settings_file


@pytest.fixture
def settings_ini() -> Path:
    return settings.home_dir() / "settings.ini"


def _said(window) -> str:
    return window.statusBar().currentMessage() + " " + window.statusBar().toolTip()


def _defaults_hold(window) -> None:
    panel = window.train_panel
    assert panel.family.currentData() == "vae" and panel.batch_size.value() > 0
    assert window.width() == 1400 and window.height() == 900
    assert window.recent_menu.actions()[0].text() == "(none)"


CORRUPT = {
    "random bytes": lambda: np.random.default_rng(1).integers(0, 256, 20_000, dtype=np.uint8).tobytes(),
    "NUL bytes in an ini": lambda: b"[General]\nrecent_files=/a\x00/b\n",
    "not UTF-8": lambda: b"[General]\nrecent_files=\xff\xfe\xfa\n",
    "prose, not settings": lambda: b"Dear diary,\ntoday the settings file was eaten.\n",
    "2 MB of settings": lambda: b"[General]\n" + b"k=" + b"v" * (2 * 2**20) + b"\n",
}


@pytest.mark.parametrize("content", CORRUPT.values(), ids=CORRUPT.keys())
def test_a_corrupt_settings_file_is_moved_aside_and_the_window_starts_with_defaults(open_window, settings_ini, content):
    data = content()
    settings_ini.parent.mkdir(parents=True, exist_ok=True)
    settings_ini.write_bytes(data)
    window = open_window()
    _defaults_hold(window)
    backup = settings_ini.with_name("settings.ini.corrupt")
    assert backup.read_bytes() == data  # the user's file is kept as it was
    said = _said(window)
    assert said.startswith("Settings ignored, the defaults used: settings.ini") and "kept as settings.ini.corrupt" in said
    window.shutdown()
    assert settings.settings_path() == settings_ini and settings_ini.is_file()  # a fresh file from here on
    assert settings_file.ini_problem(settings_ini.read_bytes()) is None


def test_a_second_corrupt_file_does_not_overwrite_the_first_backup(open_window, settings_ini):
    settings_ini.parent.mkdir(parents=True, exist_ok=True)
    settings_ini.with_name("settings.ini.corrupt").write_bytes(b"older")
    settings_ini.write_bytes(b"\x00newer")
    open_window()
    assert settings_ini.with_name("settings.ini.corrupt").read_bytes() == b"older"
    assert settings_ini.with_name("settings.ini.corrupt-2").read_bytes() == b"\x00newer"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_as_settings_file_never_blocks_the_start(open_window, settings_ini):
    settings_ini.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(settings_ini)
    window = open_window()  # QSettings alone would wait on the pipe forever here
    _defaults_hold(window)
    assert "not a regular file" in _said(window) and "not kept" in _said(window)
    settings.add_recent_file(settings_ini.parent / "x.safetensors")  # this session still remembers
    assert settings.recent_files() == [str((settings_ini.parent / "x.safetensors").resolve())]
    window.shutdown()
    assert settings_ini.exists() and not settings_ini.is_file()  # left as it was


def test_a_folder_as_settings_file_is_left_alone(open_window, settings_ini):
    settings_ini.mkdir(parents=True)
    (settings_ini / "keep.txt").write_text("mine")
    window = open_window()
    _defaults_hold(window)
    assert "is a folder" in _said(window)
    window.shutdown()
    assert (settings_ini / "keep.txt").read_text() == "mine"


def test_values_of_the_wrong_type_fall_back_to_defaults_and_are_said_once(open_window, settings_ini, qtbot):
    s = QSettings(str(settings_ini), QSettings.Format.IniFormat)
    s.setValue("recent_files", QByteArray(b"\x01\x02"))
    s.setValue("window/geometry", QByteArray(np.random.default_rng(2).bytes(300)))
    s.setValue("window/state", QByteArray(b"garbage"))
    s.setValue("train/epochs", "nan")
    s.setValue("train/batch_size", -3)
    s.setValue("train/image_size", "huge")
    s.setValue("train/channels", 7)
    s.setValue("train/family", "x" * 10_000)
    s.setValue("train/device", ["cpu", "cuda"])
    s.setValue("train/dataset", QPoint(1, 2))
    s.setValue("runs_browser/root", QPoint(3, 4))
    s.sync()
    before = settings_ini.read_bytes()
    window = open_window()
    _defaults_hold(window)
    said = _said(window)
    for key in ("recent_files", "train/epochs", "train/batch_size", "train/image_size", "train/dataset",
                "train/device", "train/family"):
        assert f"Ignored the setting {key}" in said, key
    assert "Ignored the saved window layout" in said and "QPoint" not in said
    assert settings_ini.read_bytes() == before  # nothing written until the user changes something
    window.show_runs_browser()
    assert window.runs_browser.root == settings.runs_dir()
    window.runs_browser.close()
    second = open_window()  # said once: a second window does not say it again
    assert "Ignored the setting" not in _said(second)


def test_a_truncated_dock_layout_is_refused_and_the_default_layout_kept(open_window, settings_ini):
    first = open_window()
    first.shutdown()
    s = QSettings(str(settings_ini), QSettings.Format.IniFormat)
    state = bytes(s.value("window/state").data())
    s.setValue("window/state", QByteArray(state[: len(state) // 2]))
    s.setValue("window/geometry", QByteArray(bytes(s.value("window/geometry").data())[:20]))
    s.sync()
    window = open_window()
    assert window.train_dock.isVisible() and window.latent_dock.isVisible() and window.training_dock.isVisible()
    assert window.width() == 1400 and "Ignored the saved window layout" in _said(window)


def test_the_ini_check_accepts_what_qsettings_writes(tmp_path):
    f = tmp_path / "s.ini"
    s = QSettings(str(f), QSettings.Format.IniFormat)
    s.setValue("recent_files", ["/a b/c.safetensors", "/d,e/f", "ü"])
    s.setValue("window/state", QByteArray(bytes(range(256))))
    s.setValue("train/epochs", 2.5)
    s.setValue("train/data_dir", "C:\\images\\x=y")
    s.sync()
    assert settings_file.ini_problem(f.read_bytes()) is None
