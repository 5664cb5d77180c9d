"""Every panel against hostile input: dropped files of every kind, path files that are not
paths, a model without an encoder, keyboard-entered values at their extremes. Nothing may
raise uncaught (the conftest guard fails the test if anything does); each refusal is one
message. Every hostile file is written by the test."""
from __future__ import annotations

import json
import os
import resource
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractSpinBox, QFileDialog, QLineEdit, QMessageBox, QPushButton

from explorer.panels.base import Dropped, drop_kind
from models.families.registry import build_model
from models.runs.checkpoint import save_checkpoint

POSTSCRIPT = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n(pwned) print\nshowpage\n"


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` pixels and holds almost nothing."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))


def _deep(n: int) -> str:
    return "[" * n + "]" * n


def hostile_files(root: Path) -> list[Path]:
    """Files of every kind a user (or an attacker) may drop on the window."""
    root.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []

    def write(name: str, data: bytes | str) -> None:
        p = root / name
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        out.append(p)

    for suffix in (".png", ".json", ".safetensors"):
        (root / f"folder{suffix}").mkdir()
        out.append(root / f"folder{suffix}")
        write(f"empty{suffix}", b"")
        write(f"noise{suffix}", np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
        if hasattr(os, "mkfifo"):
            os.mkfifo(root / f"fifo{suffix}")
            out.append(root / f"fifo{suffix}")
    # images that are not what they say, or too much of one
    write("postscript.png", POSTSCRIPT)
    write("postscript.jpg", POSTSCRIPT)
    write("huge.png", _png_header(100_000, 100_000))
    write("zero.png", _png_header(0, 0))
    good = root / "good.png"
    Image.fromarray(np.full((20, 20), 200, np.uint8)).save(good)
    write("truncated.png", good.read_bytes()[:40])
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(root / "one-pixel.png")
    Image.fromarray((np.arange(64 * 64, dtype=np.uint16) * 16).reshape(64, 64)).save(root / "sixteen-bit.png")
    Image.fromarray(np.zeros((30, 10, 4), np.uint8)).save(root / "rgba-tall.png")
    out += [root / "one-pixel.png", root / "sixteen-bit.png", root / "rgba-tall.png"]
    # JSON that is not a latent path
    for name, text in {"object": '{"hello": 1}', "list": "[1, 2, 3]", "string": '"path"', "null": "null",
                       "number": "1e999", "nan": "NaN", "deep": _deep(50_000), "bad-utf8": b"\xff\xfe{}",
                       "no-keyframes": '{"version": 1, "keyframes": []}',
                       "text-keyframes": '{"version": 1, "keyframes": ["a", "b"]}',
                       "nested-keyframes": '{"version": 1, "keyframes": [[[1, 2]], [[3, 4]]]}',
                       "nan-keyframes": '{"version": 1, "keyframes": [[NaN, 1, 2, 3], [1, 2, 3, 4]]}',
                       "huge-numbers": '{"version": 1, "keyframes": [[1e308, 1e308, 1e308, 1e308], [1, 2, 3, 4]]}',
                       "wide-keyframes": json.dumps({"version": 1, "keyframes": [[0.0] * 50_000] * 2}),
                       "bad-kinds": '{"version": 1, "keyframes": [[1, 2, 3, 4], [1, 2, 3, 4]], "kinds": [5]}',
                       "version-9": '{"version": 9, "keyframes": [[1, 2, 3, 4]]}'}.items():
        write(f"{name}.json", text)
    # checkpoints that are not
    ckpt = save_checkpoint(root / "cut.safetensors", build_model("vae", latent_dim=4, hidden=16))
    ckpt.write_bytes(ckpt.read_bytes()[:300])
    out.append(ckpt)
    write("text.safetensors", "not a checkpoint")
    write("claims-4EB.safetensors", (2**62).to_bytes(8, "little") + b"{}")
    return out


@pytest.fixture
def no_modal_dialogs(monkeypatch):
    """Every file dialog is cancelled and every question answered No: nothing blocks."""
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: ("", "")))
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: ([], "")))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: ("", "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: ""))
    for name in ("warning", "question", "critical", "information"):
        monkeypatch.setattr(QMessageBox, name, staticmethod(lambda *a, **k: QMessageBox.StandardButton.Cancel))


def _panels(window) -> dict:
    panels = {key: dock.widget() for key, dock in window.explore_docks.items()}
    panels["latent"] = window.latent_panel
    return panels


def _settle(qtbot, window, timeout_ms: int = 20_000) -> None:
    """Wait until every runner of the window and its panels is idle."""
    runners = [window.jobs] + [r for p in _panels(window).values() for r in getattr(p, "runners", ())]
    qtbot.waitUntil(lambda: not any(r.busy for r in runners), timeout=timeout_ms)


MODELS = {
    "vae": lambda: build_model("vae", latent_dim=4, hidden=16, image_shape=(1, 28, 28)),
    "gan without encoder": lambda: build_model("gan", latent_dim=4, hidden=(16,), disc_hidden=(16,), image_shape=(1, 28, 28)),
}


@pytest.mark.parametrize("make_model", MODELS.values(), ids=MODELS.keys())
def test_every_panel_takes_every_hostile_dropped_file(qtbot, window, tmp_path, tiny_dataset, no_modal_dialogs,
                                                      make_model):
    window.data_state.set_dataset(tiny_dataset)
    window.model_state.set_model(make_model(), None, {"dataset": "tiny", "step": 1})
    files = hostile_files(tmp_path / "hostile")
    panels = _panels(window)
    for path in files:
        dropped = [Dropped(str(path), drop_kind(str(path)))]
        for name, panel in panels.items():
            panel.files_dropped(dropped)
        panels["paths"].add_image_file(path)
        panels["paths"].load_path_file(path)
        panels["projection"].open_image(path)
        panels["compare"].add_files([path])
        panels["compare"].reconstructions.add_image_files([path])
        window.handle_dropped([path])
        window.encode_file(path)
        _settle(qtbot, window)
    assert window.open_action.isEnabled()


def hostile_outputs(root: Path) -> list[Path]:
    """Places a user may ask the window to write to that cannot take a file."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "folder.png").mkdir()
    (root / "folder.json").mkdir()
    (root / "folder.gif").mkdir()
    (root / "folder.safetensors").mkdir()
    (root / "a-file").write_text("x")
    out = [root / "folder.png", root / "folder.json", root / "folder.gif", root / "folder.safetensors",
           root / "missing-folder" / "x.png", root / "a-file" / "under-a-file.png", root / ("n" * 300 + ".png")]
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "fifo.png")
        os.mkfifo(root / "fifo.json")
        out += [root / "fifo.png", root / "fifo.json"]
    return out


def test_every_save_and_export_to_a_place_that_cannot_take_a_file_says_why(qtbot, window, tmp_path, tiny_dataset,
                                                                          no_modal_dialogs):
    window.data_state.set_dataset(tiny_dataset)
    window.model_state.set_model(MODELS["vae"](), None, {"dataset": "tiny", "step": 1})
    panels = _panels(window)
    paths = panels["paths"]
    paths.add_random()
    paths.add_random()
    traversal = panels["traversal"]
    traversal.render()
    _settle(qtbot, window)
    qtbot.waitUntil(lambda: window.decoder.last_image is not None, timeout=5000)
    for target in hostile_outputs(tmp_path / "out"):
        paths.save_path_file(target)
        paths.export_gif(target)
        paths.export_strip(target)
        traversal.export_png(target)
        window.export_image(target)
        window.save_model(target.with_suffix(".safetensors"))
        _settle(qtbot, window)
    assert window.open_action.isEnabled()


#: what a person may type into a line edit (ASCII: QTest types nothing else)
HOSTILE_TEXT = ["", " ", "-1", "999999999999999999999", "1e999", "-1e999", "1e-999", "nan", "inf", "0-99999999", "3-1",
                "a,b", "1,,2;;3", "9" * 40, "-", "0-", "--1", "1e5"]


def _click_everything(qtbot, window, panel, spare: set) -> None:
    for button in panel.findChildren(QPushButton):
        if button.isEnabled() and button.isVisible() and button.text() not in spare:
            button.click()
            for runner in getattr(panel, "runners", ()):  # started work is asked to stop: only the start matters
                runner.cancel()
    window.session.stop()
    _settle(qtbot, window, 30_000)
    window.session.wait(10_000)


@pytest.mark.parametrize("make_model", MODELS.values(), ids=MODELS.keys())
def test_every_control_at_its_extremes_then_every_button(qtbot, window, tmp_path, tiny_dataset, no_modal_dialogs,
                                                         make_model):
    window.data_state.set_dataset(tiny_dataset)
    window.model_state.set_model(make_model(), None, {"dataset": "tiny", "step": 1})
    panels = dict(_panels(window), train=window.train_panel, training=window.training_view)
    spare = {"Train", "Continue training"}  # they start a run: tested on their own with a stopped run
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, panel in panels.items():
        dock = window.explore_docks.get(name)
        if dock is not None:  # in front: a dock tabbed behind another hides its controls
            dock.show()
            dock.raise_()
            qtbot.waitUntil(panel.isVisible, timeout=5000)
        boxes = [b for b in panel.findChildren(QAbstractSpinBox) if b.isEnabled() and b.isVisible()]
        for end in ("maximum", "minimum"):
            for box in boxes:
                box.setValue(getattr(box, end)())
            _click_everything(qtbot, window, panel, spare)
        for box in boxes[:12]:  # typed as a person types: the box's own validator has its say
            for text in ("99999999999", "-99999999999", "-", "1e999", "0.000000001", "abc"):
                box.selectAll()
                qtbot.keyClicks(box, text)
                qtbot.keyClick(box, Qt.Key.Key_Return)
            box.clearFocus()
        _click_everything(qtbot, window, panel, spare)
        edits = [e for e in panel.findChildren(QLineEdit)  # free text, and the value labels of sliders
                 if e.isEnabled() and e.isVisible() and not e.isReadOnly() and not isinstance(e.parent(), QAbstractSpinBox)]
        for edit in edits[:12]:
            for text in HOSTILE_TEXT:
                edit.setFocus()
                edit.selectAll()
                qtbot.keyClicks(edit, text)
                qtbot.keyClick(edit, Qt.Key.Key_Return)
            edit.clearFocus()
        _click_everything(qtbot, window, panel, spare)
    assert window.open_action.isEnabled()
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mb < 1000, f"the sweep took {grown_mb:.0f} MB more at its peak (a typed value expanded unchecked?)"


def test_training_a_model_too_large_for_the_machine_is_refused_with_a_message(qtbot, window, no_modal_dialogs):
    panel = window.train_panel
    panel.device.setCurrentText("cpu")
    for box in panel.findChildren(QAbstractSpinBox):
        if box.isEnabled():
            box.setValue(box.maximum())
    with qtbot.waitSignal(window.session.failed, timeout=60_000):
        panel.train_button.click()
    window.session.wait(10_000)
    title, text = window.last_error
    assert title == "The model is too large" and "parameters" in text
    assert "Traceback" not in text and "alloc_cpu" not in text and "enforce fail" not in text
    assert window.open_action.isEnabled() and window.train_panel.train_button.isEnabled()


def test_each_refused_file_gets_one_message_naming_it_once(qtbot, window, tmp_path, tiny_dataset, no_modal_dialogs):
    window.data_state.set_dataset(tiny_dataset)
    window.model_state.set_model(MODELS["vae"](), None, {"dataset": "tiny", "step": 1})
    panels = _panels(window)
    said: list[str] = []
    for panel in panels.values():
        panel.status.connect(said.append)
    readable = {"one-pixel.png", "sixteen-bit.png", "rgba-tall.png"}
    for path in hostile_files(tmp_path / "hostile"):
        for act in (lambda: panels["paths"].load_path_file(path), lambda: panels["projection"].open_image(path),
                    lambda: panels["compare"].add_files([path])):
            said.clear()
            act()
            _settle(qtbot, window)
            if path.name in readable and act is not None and not said:
                continue  # an image that reads fine as an image
            assert said, f"{path.name}: nothing said"
            last = said[-1]
            assert path.name in last and "Traceback" not in last and "Errno" not in last, last
            assert last.count(f"{path.name}:") <= 1, f"the name twice: {last}"
        window.last_error = None
        window.handle_dropped([path])
        _settle(qtbot, window)
        if path.suffix == ".json" and not path.is_dir():
            assert "paths" in window.explore_docks and said, f"{path.name}: a dropped path file goes to Paths"
        elif path.name not in readable:
            assert window.last_error is not None or path.name in window.statusBar().currentMessage(), path.name


def test_a_path_file_dropped_on_the_window_loads_in_the_paths_panel(qtbot, window, tmp_path):
    from models.explore.latent_paths import random_path, save_path

    model = MODELS["vae"]()
    window.model_state.set_model(model)
    file = save_path(random_path(model, 3, seed=4), tmp_path / "walk.json")
    window.handle_dropped([file])
    paths = window.explore_docks["paths"].widget()
    qtbot.waitUntil(lambda: len(paths.keyframes) == 3, timeout=10_000)
    assert window.model_state.source is None  # not opened as a model
