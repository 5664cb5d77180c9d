"""Hostile and broken files opened in the window: each is refused (or opened) with one
message, never an uncaught exception, and the window opens the next good file.

Every fixture is written by the test itself (no hostile file is kept in the repository)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from models.families.registry import build_model
from models.runs.checkpoint import save_checkpoint


def _settle(qtbot, window) -> None:
    """Wait until the window has finished with the file (opened it or said why not)."""
    qtbot.waitUntil(lambda: window.models.loading is None and not window.jobs.busy, timeout=10_000)


def _opens_the_next_good_file(qtbot, window, tmp_path) -> None:
    good = save_checkpoint(tmp_path / "good" / "good.safetensors",
                           build_model("vae", latent_dim=4, hidden=16, image_shape=(1, 28, 28)), {"step": 9})
    assert window.open_action.isEnabled(), "File > Open must never stay greyed out"
    assert window.open_path(good)
    _settle(qtbot, window)
    assert window.model_state.source == good and len(window.latent_panel.z_rows) == 4
    assert window.open_action.isEnabled()


#: training states a checkpoint's metadata may hold: the window must cope with every one
HOSTILE_TRAIN_STATES = {
    "step is text": {"dataset": "mnist", "step": "abc"},
    "step is a list": {"dataset": "mnist", "step": [1]},
    "step is negative": {"dataset": "mnist", "step": -5},
    "step is true": {"dataset": "mnist", "step": True},
    "step is a float": {"dataset": "mnist", "step": 12.5},
    "dataset is a list": {"dataset": ["mnist"], "step": 3},
    "dataset is an object": {"dataset": {"name": "mnist"}, "step": 3},
    "train_config is text": {"dataset": "mnist", "step": 3, "train_config": "fast"},
    "train_config of wrong types": {"dataset": "mnist", "step": 3,
                                    "train_config": {"batch_size": "big", "lr": "fast", "epochs": None}},
    "data_dir is a number": {"dataset": "folder", "step": 3, "data_dir": 5},
    "train_state is null": None,
    "train_state is a list": [1, 2, 3],
    "train_state is text": "hello",
}


@pytest.mark.parametrize("train_state", HOSTILE_TRAIN_STATES.values(), ids=HOSTILE_TRAIN_STATES.keys())
def test_a_checkpoint_with_a_hostile_training_state_never_wedges_the_window(qtbot, window, tmp_path, write_checkpoint,
                                                                           train_state):
    bad = write_checkpoint(tmp_path / "bad.safetensors", meta={"train_state": json.dumps(train_state)})
    assert window.open_path(bad)
    _settle(qtbot, window)
    # opened (the window shows what it understood) or refused with one message: either way usable
    assert window.model_state.source == bad or window.last_error is not None
    window.train_panel.refresh_continue()
    _opens_the_next_good_file(qtbot, window, tmp_path)


def test_a_step_too_large_for_a_float_and_deep_json_are_survived(qtbot, window, tmp_path, write_checkpoint):
    for i, raw in enumerate(['{"dataset": "mnist", "step": 1e999}', "[" * 100_000 + "]" * 100_000,
                             '{"dataset": "mnist", "step": ' + "9" * 5000 + "}"]):
        bad = write_checkpoint(tmp_path / f"bad{i}.safetensors", meta={"train_state": raw})
        assert window.open_path(bad)
        _settle(qtbot, window)
    _opens_the_next_good_file(qtbot, window, tmp_path)


def test_after_the_non_integer_step_file_the_next_good_file_opens_from_the_menu(qtbot, window, tmp_path, write_checkpoint):
    """The bug as reported: one checkpoint whose step is "abc" left Open greyed out."""
    bad = write_checkpoint(tmp_path / "abc.safetensors", train_state={"dataset": "mnist", "step": "abc"})
    assert window.open_path(bad)
    _settle(qtbot, window)
    window.model_state.model_changed.emit(window.model_state.model)  # what any later refresh does
    assert window.open_action.isEnabled() and window.open_run_action.isEnabled()
    assert window.recent_menu.isEnabled()
    _opens_the_next_good_file(qtbot, window, tmp_path)


def _odd_files(tmp_path):
    """(name, path) of files that are not checkpoints, written here."""
    folder = tmp_path / "empty-folder.safetensors"
    folder.mkdir()
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.safetensors"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    good = save_checkpoint(tmp_path / "cut.safetensors", build_model("vae", latent_dim=3, hidden=16))
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    huge_header = tmp_path / "huge-header.safetensors"
    huge_header.write_bytes((2**62).to_bytes(8, "little") + b"{}")
    text = tmp_path / "notes.json"
    text.write_text('{"hello": 1}')
    run = tmp_path / "run-without-checkpoints"
    (run / "checkpoints").mkdir(parents=True)
    missing = tmp_path / "gone.safetensors"
    files = [("a folder named .safetensors", folder), ("an empty file", empty), ("random bytes", noise),
             ("a truncated checkpoint", good), ("a header claiming 4 EB", huge_header), ("a .json", text),
             ("a run folder with no checkpoint", run), ("a missing file", missing)]
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "fifo.safetensors"
        os.mkfifo(fifo)
        files.append(("a FIFO", fifo))
    return files


def test_odd_files_are_refused_with_one_message_and_the_window_goes_on(qtbot, window, tmp_path):
    for name, path in _odd_files(tmp_path):
        window.last_error = None
        window.open_path(path)
        _settle(qtbot, window)
        assert window.last_error is not None, f"{name}: no message"
        title, text = window.last_error
        assert path.name in text or str(path) in text, f"{name}: the message does not name the file: {text}"
        assert "Traceback" not in text and "Errno" not in text, f"{name}: {text}"
    _opens_the_next_good_file(qtbot, window, tmp_path)


def test_a_fifo_in_a_run_folder_never_blocks_the_window(qtbot, window, tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    run = tmp_path / "run"
    save_checkpoint(run / "checkpoints" / "latest.safetensors", build_model("vae", latent_dim=3, hidden=16), {"step": 4})
    os.mkfifo(run / "metrics.jsonl")
    (run / "samples").mkdir()
    os.mkfifo(run / "samples" / "step_000004.png")
    assert window.open_path(run)
    _settle(qtbot, window)
    assert window.model_state.model is not None
    _opens_the_next_good_file(qtbot, window, tmp_path)
