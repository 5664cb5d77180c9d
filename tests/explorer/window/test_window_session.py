"""Sessions through the window (explorer.session): a session saved from a window with a model,
a moved point, a two-keyframe path and computed directions restores into a fresh window as
it was, without computing the directions again; a session that cannot be restored says so
once and leaves the window as it was; the last session is offered at start only when the
user asked for it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from explorer import session as session_module
from explorer.directions_state import directions_store
from explorer.model_access import decode_one
from explorer.session import OPEN_TITLE, RESTORE_TITLE, SAVE_TITLE, SessionController, offer_last_session
from explorer.session_file import MAX_SESSION_BYTES
from models.families.registry import build_model
from models.runs.checkpoint import save_checkpoint

JOB_MS = 15_000


def controller(window) -> SessionController:
    """The window's session controller (one is made here until the window makes its own)."""
    found = getattr(window, "sessions", None)
    if found is None:
        found = window.sessions = SessionController(window)
    return found


def open_and_wait(qtbot, window, path) -> None:
    with qtbot.waitSignal(window.model_state.model_changed, timeout=10_000):
        assert window.open_path(path)


def explored(qtbot, window, checkpoint, directions: bool = True):
    """``window`` with ``checkpoint`` open, the point moved, a two-keyframe path, settings
    changed and (``directions``) the principal directions computed, Directions mode on."""
    open_and_wait(qtbot, window, checkpoint)
    panel = window.latent_panel
    paths = window.explore_docks["paths"].widget()
    panel.z_rows[1].slider.setValue(1.25)
    paths.add_current()
    panel.z_rows[3].slider.setValue(-2.0)
    paths.add_current()
    paths.set_kind(0, "linear")
    paths.fps.setValue(8.0)
    window.explore_docks["traversal"].widget().steps.setValue(7)
    if directions:
        qtbot.mouseClick(panel.directions_mode, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.directions.walk is not None, timeout=JOB_MS)
        panel.directions.rows[0].slider.setValue(1.5)  # along PC1
    window.training_dock.hide()
    qtbot.waitUntil(lambda: window.decoder.last_image is not None, timeout=5000)
    return paths


def test_a_session_restores_model_point_path_directions_settings_and_layout(
        qtbot, window, open_window, vae_checkpoint, tmp_path, monkeypatch):
    paths = explored(qtbot, window, vae_checkpoint)
    point = window.latent_state.flat
    image = decode_one(window.model_state, point)  # what the first window shows once its decoder catches up
    computed = directions_store(window.model_state).current
    file = controller(window).save(tmp_path / "explore.session.json")
    assert file is not None and window.last_error is None
    assert json.loads(file.read_text())["model"]["relative"] == "vae5.safetensors"  # beside the session

    def no_computing(*_a, **_k):
        raise AssertionError("the directions were computed again")

    monkeypatch.setattr("explorer.directions_state.principal_directions", no_computing)
    w2 = open_window()
    ctl = controller(w2)
    with qtbot.waitSignal(ctl.restored, timeout=JOB_MS):
        assert ctl.open(file)
    assert w2.last_error is None
    assert Path(w2.model_state.source).resolve() == vae_checkpoint.resolve()
    np.testing.assert_array_equal(w2.latent_state.flat, point)
    qtbot.waitUntil(lambda: w2.decoder.last_image is not None and np.array_equal(w2.decoder.last_image, image),
                    timeout=5000)
    paths2 = w2.explore_docks["paths"].widget()
    assert [k.label for k in paths2.keyframes] == [k.label for k in paths.keyframes] == ["current point"] * 2
    for a, b in zip(paths2.keyframes, paths.keyframes):
        np.testing.assert_array_equal(a.flat, b.flat)
    assert paths2.kinds == ["linear"] and paths2.fps.value() == 8.0
    assert paths2.table.rowCount() == 2
    # the directions: the saved ones, in the Directions mode that was on, none computed
    restored = directions_store(w2.model_state).current
    np.testing.assert_array_equal(restored.directions, computed.directions)
    np.testing.assert_array_equal(restored.stdev, computed.stdev)
    panel2 = w2.latent_panel
    assert panel2.directions_mode.isChecked() and panel2.directions.isVisible()
    qtbot.waitUntil(lambda: panel2.directions.walk is not None, timeout=2000)
    assert panel2.directions.walk.directions is restored and len(panel2.directions.rows) == restored.k
    # its sliders where they stood: PC1 at 1.5 from where the walk started
    assert panel2.directions.rows[0].slider.value() == 1.5 and panel2.directions.walk.coefficients[0] == 1.5
    np.testing.assert_array_equal(panel2.directions.walk.point(), point)
    assert not panel2.directions_jobs.busy
    assert w2.explore_docks["traversal"].widget().steps.value() == 7
    assert w2.training_dock.isHidden()  # the window layout
    assert "Restored the session explore.session.json" in w2.statusBar().currentMessage()


def test_reopening_in_directions_mode_shows_the_saved_directions_instead_of_computing(qtbot, window, vae_checkpoint,
                                                                                    tmp_path, monkeypatch):
    explored(qtbot, window, vae_checkpoint)
    saved = directions_store(window.model_state).current
    ctl = controller(window)
    file = ctl.save(tmp_path / "s.session.json")
    monkeypatch.setattr("explorer.directions_state.principal_directions",
                        lambda *_a, **_k: (_ for _ in ()).throw(AssertionError("computed again")))
    with qtbot.waitSignal(ctl.restored, timeout=JOB_MS):  # the mode is on as the model reopens
        assert ctl.open(file)
    controls = window.latent_panel.directions
    qtbot.waitUntil(lambda: controls.walk is not None, timeout=2000)
    restored = directions_store(window.model_state).current
    assert controls.walk.directions is restored and restored is not saved
    np.testing.assert_array_equal(restored.directions, saved.directions)
    qtbot.waitUntil(lambda: not window.latent_panel.directions_jobs.busy, timeout=2000)
    assert directions_store(window.model_state).current is restored and "computed again" not in controls.status.text()


def test_a_session_whose_model_is_gone_says_so_once_and_changes_nothing(qtbot, window, open_window, vae_checkpoint,
                                                                        tmp_path):
    explored(qtbot, window, vae_checkpoint, directions=False)
    file = controller(window).save(tmp_path / "s.session.json")
    vae_checkpoint.unlink()
    other = save_checkpoint(tmp_path / "other" / "vae4.safetensors",
                            build_model("vae", latent_dim=4, hidden=16, image_shape=(1, 28, 28)), {"step": 1})
    w2 = open_window()
    open_and_wait(qtbot, w2, other)
    model, point = w2.model_state.model, w2.latent_state.flat
    ctl = controller(w2)
    assert not ctl.open(file)
    title, text = w2.last_error
    assert title == OPEN_TITLE
    assert text == (f"s.session.json: its model {vae_checkpoint} is not there (moved or deleted?), "
                    "so nothing was restored")
    qtbot.wait(50)
    assert w2.model_state.model is model and np.array_equal(w2.latent_state.flat, point)
    assert ctl.pending is None and w2.models.loading is None
    assert w2.explore_docks["traversal"].widget().steps.value() != 7 and w2.training_dock.isVisible()


def hostile(tmp_path: Path, good: dict, name: str):
    if name == "not JSON":
        return "is not valid JSON", "{\"format\": \"latent-explorer-session\", "
    if name == "huge":
        return "is not read", None
    d = json.loads(json.dumps(good))
    if name == "future version":
        d["version"] = 3
        return "was saved by a newer Latent Explorer", d
    if name == "wrong types":
        d["point"]["flat"] = "zeros"
        return "point.flat must be a list", d
    if name == "NaN in the point":
        return "point.flat[0] must be a finite number, got NaN", json.dumps(d).replace('"flat": [', '"flat": [NaN, ', 1)
    if name == "wrong size":
        d["point"]["flat"] = d["point"]["flat"][:3]
        return "point.flat has 3 values but the session's model has a latent of 5", d
    if name == "unknown field":
        d["exec"] = "rm -rf ~"
        return "has a field this Latent Explorer does not know: 'exec'", d
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["not JSON", "huge", "future version", "wrong types", "NaN in the point",
                                  "wrong size", "unknown field"])
def test_hostile_session_files_get_one_message_and_change_nothing(qtbot, window, vae_checkpoint, tmp_path, name):
    explored(qtbot, window, vae_checkpoint, directions=False)
    ctl = controller(window)
    good = json.loads(ctl.save(tmp_path / "good.session.json").read_text())
    words, content = hostile(tmp_path, good, name)
    bad = tmp_path / "bad.session.json"
    if content is None:
        with open(bad, "wb") as f:
            f.truncate(MAX_SESSION_BYTES + 1)
    else:
        bad.write_text(content if isinstance(content, str) else json.dumps(content))
    model, point = window.model_state.model, window.latent_state.flat
    keyframes = [k.flat for k in window.explore_docks["paths"].widget().keyframes]
    assert not ctl.open(bad)
    title, text = window.last_error
    assert title == OPEN_TITLE and text.startswith("bad.session.json: ") and words in text, text
    assert "\n" not in text and "Traceback" not in text
    qtbot.wait(50)
    assert window.model_state.model is model and np.array_equal(window.latent_state.flat, point)
    assert ctl.pending is None and window.models.loading is None
    assert len(window.explore_docks["paths"].widget().keyframes) == len(keyframes) == 2


def test_a_model_whose_layout_changed_since_opens_but_nothing_else_is_forced_onto_it(
        qtbot, window, open_window, vae_checkpoint, write_checkpoint, tmp_path):
    explored(qtbot, window, vae_checkpoint, directions=False)
    file = controller(window).save(tmp_path / "s.session.json")
    write_checkpoint(vae_checkpoint)  # the same file now holds a VAE of latent size 3
    w2 = open_window()
    ctl = controller(w2)
    assert ctl.open(file)
    qtbot.waitUntil(lambda: w2.last_error is not None, timeout=JOB_MS)
    title, text = w2.last_error
    assert title == RESTORE_TITLE
    assert text == ("s.session.json: the session's point and path have 5 values (5 z), but vae now has a latent of "
                    "3 (3 z). The model is open; nothing else of the session was restored")
    assert w2.model_state.spec.input_dim == 3 and not w2.explore_docks["paths"].widget().keyframes
    assert w2.explore_docks["traversal"].widget().steps.value() != 7 and ctl.pending is None


def test_directions_of_other_weights_are_not_restored(qtbot, window, open_window, vae_checkpoint, tmp_path):
    explored(qtbot, window, vae_checkpoint)
    window.latent_panel.dims_mode.click()  # the directions stay computed; the session keeps them
    file = controller(window).save(tmp_path / "s.session.json")
    assert json.loads(file.read_text())["directions"] is not None
    retrained = build_model("vae", latent_dim=5, hidden=32, image_shape=(1, 28, 28))  # same layout, new weights
    save_checkpoint(vae_checkpoint, retrained, {"dataset": "tiny", "step": 9})
    w2 = open_window()
    ctl = controller(w2)
    with qtbot.waitSignal(ctl.restored, timeout=JOB_MS):
        assert ctl.open(file)
    assert directions_store(w2.model_state).current is None
    np.testing.assert_array_equal(w2.latent_state.flat, window.latent_state.flat)
    assert w2.latent_panel.dims_mode.isChecked()
    assert "principal directions were computed with other weights" in w2.statusBar().currentMessage()


def test_a_window_layout_qt_cannot_use_is_said_and_the_rest_restored(qtbot, window, open_window, vae_checkpoint,
                                                                      tmp_path):
    import base64

    explored(qtbot, window, vae_checkpoint, directions=False)
    file = controller(window).save(tmp_path / "s.session.json")
    d = json.loads(file.read_text())
    d["window"] = {"geometry": base64.b64encode(b"\x00" * 40).decode(), "state": base64.b64encode(b"junk" * 10).decode()}
    file.write_text(json.dumps(d))
    w2 = open_window()
    ctl = controller(w2)
    with qtbot.waitSignal(ctl.restored, timeout=JOB_MS):
        assert ctl.open(file)
    np.testing.assert_array_equal(w2.latent_state.flat, window.latent_state.flat)
    assert "its window layout could not be restored" in w2.statusBar().currentMessage()
    assert w2.training_dock.isVisible() and w2.last_error is None


def test_a_session_is_not_opened_while_a_model_is_being_opened(qtbot, window, vae_checkpoint, tmp_path):
    explored(qtbot, window, vae_checkpoint, directions=False)
    ctl = controller(window)
    file = ctl.save(tmp_path / "s.session.json")
    with qtbot.waitSignal(window.model_state.model_changed, timeout=10_000):
        assert window.open_path(vae_checkpoint)
        assert not ctl.open(file)
        assert window.last_error == (OPEN_TITLE, "s.session.json: a model is being opened; open the session once it is open")


def test_a_model_without_a_file_is_not_saved_in_a_session(qtbot, window, tmp_path):
    window.model_state.set_model(build_model("vae", latent_dim=2, hidden=8, image_shape=(1, 28, 28)), None)
    assert controller(window).save(tmp_path / "s.session.json") is None
    title, text = window.last_error
    assert title == SAVE_TITLE and "has no file yet" in text and "Save Model As" in text
    assert not (tmp_path / "s.session.json").exists()


def test_the_last_session_is_offered_at_start_only_when_asked_for(qtbot, window, open_window, vae_checkpoint, tmp_path,
                                                                  monkeypatch):
    asked: list[Path] = []
    monkeypatch.setattr(session_module, "ask_reopen", lambda _parent, file: asked.append(file) or True)
    explored(qtbot, window, vae_checkpoint, directions=False)
    ctl = controller(window)
    file = ctl.save(tmp_path / "s.session.json")
    w2 = open_window()
    assert not offer_last_session(w2, controller(w2)) and asked == []  # off by default: the demo model opens
    assert not ctl.reopen_action.isChecked()
    ctl.reopen_action.setChecked(True)  # File ▸ Offer to Reopen the Last Session at Start
    w3 = open_window()
    ctl3 = controller(w3)
    assert ctl3.reopen_action.isChecked()
    with qtbot.waitSignal(ctl3.restored, timeout=JOB_MS):
        assert offer_last_session(w3, ctl3)
    assert asked == [file.absolute()]
    np.testing.assert_array_equal(w3.latent_state.flat, window.latent_state.flat)


def test_the_file_menu_saves_a_session_and_a_dropped_session_reopens_it(qtbot, window, open_window, vae_checkpoint,
                                                                        tmp_path, monkeypatch):
    assert window.sessions is controller(window)  # the window makes its own controller
    assert window.save_session_action.shortcut().toString() == "Ctrl+Shift+S"
    assert window.open_session_action.shortcut().toString() == "Ctrl+Alt+O"
    open_and_wait(qtbot, window, vae_checkpoint)
    window.latent_panel.z_rows[2].slider.setValue(0.75)
    point = window.latent_state.flat
    target = tmp_path / "menu.session.json"
    monkeypatch.setattr("explorer.session.QFileDialog.getSaveFileName", lambda *a, **k: (str(target), ""))
    window.save_session_action.trigger()
    qtbot.waitUntil(target.exists, timeout=5000)
    w2 = open_window()
    with qtbot.waitSignal(w2.sessions.restored, timeout=JOB_MS):
        w2.handle_dropped([target])  # what a drop on the window does
    np.testing.assert_array_equal(w2.latent_state.flat, point)
    assert Path(w2.model_state.source).resolve() == vae_checkpoint.resolve()


def test_a_session_saved_in_compare_reopens_in_compare_with_its_layout(qtbot, window, open_window, vae_checkpoint,
                                                                       tmp_path):
    """The layout a session keeps is one workspace's: it reopens there (the Compare dock in
    front, the image hidden), and Explore keeps its own arrangement to switch back to."""
    open_and_wait(qtbot, window, vae_checkpoint)
    window.workspaces.switch("compare")
    qtbot.waitUntil(window.explore_docks["compare"].isVisible, timeout=5000)
    file = controller(window).save(tmp_path / "compare.session.json")
    assert json.loads(file.read_text())["window"]["workspace"] == "compare"
    w2 = open_window()
    assert w2.workspaces.current == "explore"
    ctl = controller(w2)
    with qtbot.waitSignal(ctl.restored, timeout=JOB_MS):
        assert ctl.open(file)
    assert w2.workspaces.current == "compare" and w2.workspaces.actions["compare"].isChecked()
    qtbot.waitUntil(lambda: w2.explore_docks["compare"].isVisible() and not w2.centralWidget().isVisible(),
                    timeout=5000)
    w2.workspaces.switch("explore")
    qtbot.waitUntil(lambda: w2.centralWidget().isVisible() and w2.latent_dock.isVisible(), timeout=5000)
    assert not w2.explore_docks["compare"].isVisible()


def test_a_session_naming_a_workspace_this_version_lacks_restores_the_rest_and_says_so(
        qtbot, window, open_window, vae_checkpoint, tmp_path):
    open_and_wait(qtbot, window, vae_checkpoint)
    file = controller(window).save(tmp_path / "future.session.json")
    d = json.loads(file.read_text())
    d["window"]["workspace"] = "sculpt"
    file.write_text(json.dumps(d))
    w2 = open_window()
    ctl = controller(w2)
    with qtbot.waitSignal(ctl.restored, timeout=JOB_MS):
        assert ctl.open(file)
    assert w2.last_error is None and w2.workspaces.current == "explore"
    assert "its workspace 'sculpt' is not one this version has" in w2.statusBar().currentMessage()


def test_compares_models_come_back_in_their_order_and_a_missing_one_is_said(qtbot, window, open_window,
                                                                            vae_checkpoint, tmp_path):
    """Side by side is part of what a user left: Compare's list reopens (the files found
    beside the session first), a file gone since is said in the panel, the rest load."""
    other = save_checkpoint(tmp_path / "ae3.safetensors", build_model("ae", latent_dim=3, hidden=16,
                                                                         image_shape=(1, 28, 28)), {"step": 2})
    gone = save_checkpoint(tmp_path / "gone.safetensors", build_model("ae", latent_dim=2, hidden=8,
                                                                         image_shape=(1, 28, 28)), {"step": 1})
    open_and_wait(qtbot, window, vae_checkpoint)
    compare = window.explore_docks["compare"].widget()
    compare.add_current()
    compare.add_files([other, gone])
    qtbot.waitUntil(lambda: len(compare.entries) == 3, timeout=JOB_MS)
    file = controller(window).save(tmp_path / "side.session.json")
    saved = json.loads(file.read_text())["compare"]
    assert [e["relative"] for e in saved] == ["vae5.safetensors", "ae3.safetensors", "gone.safetensors"]
    gone.unlink()
    w2 = open_window()
    compare2 = w2.explore_docks["compare"].widget()
    ctl = controller(w2)
    with qtbot.waitSignal(ctl.restored, timeout=JOB_MS):
        assert ctl.open(file)
    qtbot.waitUntil(lambda: len(compare2.entries) == 2, timeout=JOB_MS)
    assert [Path(e.source).name for e in compare2.entries] == ["vae5.safetensors", "ae3.safetensors"]
    assert [e.model.latent_spec.z_dim for e in compare2.entries] == [5, 3]
    qtbot.waitUntil(lambda: "gone.safetensors" in compare2.message.text(), timeout=JOB_MS)
    assert "Compare is opening the 3 models it listed" in w2.statusBar().currentMessage()
