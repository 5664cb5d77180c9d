"""Models made elsewhere, opened in the window the ways a user opens them (File > Open, a
drop, Open Recent): the image shown is the original module's output for the current latent,
the title says what was opened, Train / Continue / Save are greyed with their reasons, code
runs only after the user says yes, and a file that fails opens nothing and is said once."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from explorer import settings
from explorer.window import model_controller
from models.io.images import to_display

#: the largest difference allowed between the module's and the window's decodes
STATE_DICT_TOL, ONNX_TOL = 1e-5, 1e-4


def _settle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.models.loading is None and not window.jobs.busy, timeout=20_000)


def open_by(qtbot, window, how: str, path, monkeypatch) -> None:
    """Open ``path`` as a user would: "menu" (File > Open), "drop" (a real drop event) or
    "recent" (its Open Recent entry), and wait until the window is done with it."""
    if how == "menu":
        monkeypatch.setattr(model_controller, "ask_model_to_open", lambda parent, start: str(path))
        window.open_action.trigger()
    elif how == "drop":
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        window.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                                    Qt.KeyboardModifier.NoModifier))
    else:
        entry = next(a for a in window.recent_menu.actions() if a.text() == str(path.resolve()))
        entry.trigger()
    _settle(qtbot, window)


def assert_shows(window, original, tol: float) -> None:
    """The window decodes the current latent as ``original`` does, and shows that image."""
    z = torch.from_numpy(window.latent_state.flat)[None]
    with torch.no_grad():
        got = window.model_state.model.decode(z)
    want = original(z)
    assert got.shape == want.shape
    assert float((got - want).abs().max()) <= tol
    shown = window.image_view.image.astype(int)
    assert np.abs(shown - to_display(want[0]).astype(int)).max() <= 1  # rounding to 8 bits only


def assert_not_trainable(window) -> None:
    panel = window.train_panel
    for action in (window.train_action, window.continue_action):
        assert not action.isEnabled() and "made elsewhere" in action.toolTip()
    assert not panel.train_button.isEnabled() and "made elsewhere" in panel.train_button.toolTip()
    assert not panel.continue_button.isEnabled() and "made elsewhere" in panel.continue_button.toolTip()
    assert "made elsewhere" in panel.run_label.text()  # said without hovering too
    assert not window.save_action.isEnabled() and "Export Model as ONNX" in window.save_action.toolTip()
    assert window.export_model_action.isEnabled()


@pytest.mark.parametrize("how", ["menu", "drop"])
@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_the_examples_vae_opens_and_shows_the_modules_images(qtbot, window, foreign, monkeypatch, suffix, how):
    path = foreign.state_dict_file("vae", suffix)
    asked = []
    monkeypatch.setattr(model_controller, "confirm_untrusted", lambda parent, p: asked.append(p.name) or True)
    open_by(qtbot, window, how, path, monkeypatch)
    assert asked == ([path.name] if suffix == ".pth" else [])  # a pickle asks first; safetensors never
    assert window.last_error is None
    assert "PyTorch examples VAE" in window.windowTitle() and path.name in window.windowTitle()
    assert len(window.latent_panel.z_rows) == 20
    assert_shows(window, foreign.vae_images, STATE_DICT_TOL)
    window.latent_panel.z_rows[3].slider.setValue(1.5)  # a slider moves the image the module's way
    assert window.latent_state.flat[3] == pytest.approx(1.5)
    assert_shows(window, foreign.vae_images, STATE_DICT_TOL)
    assert_not_trainable(window)
    assert settings.recent_files()[0] == str(path.resolve())


@pytest.mark.parametrize("how", ["menu", "recent"])
def test_the_examples_dcgan_generator_opens_from_a_state_dict_and_from_onnx(qtbot, window, foreign, monkeypatch, how):
    state_dict = foreign.state_dict_file("gen", ".safetensors")
    open_by(qtbot, window, "menu", state_dict, monkeypatch)
    assert "PyTorch examples DCGAN generator" in window.windowTitle() and "netG.safetensors" in window.windowTitle()
    assert window.image_view.image.shape == (64, 64) and len(np.unique(window.image_view.image)) > 10
    assert_shows(window, foreign.gen_images, STATE_DICT_TOL)
    assert_not_trainable(window)

    folder = foreign.onnx_folder("gen")
    if how == "recent":  # opened once, then again from Open Recent
        open_by(qtbot, window, "menu", folder / "manifest.json", monkeypatch)
        open_by(qtbot, window, "drop", state_dict, monkeypatch)
        open_by(qtbot, window, "recent", folder / "manifest.json", monkeypatch)
    else:
        open_by(qtbot, window, "drop", folder, monkeypatch)  # the folder itself
    assert window.last_error is None
    assert "(ONNX)" in window.windowTitle() and window.model_state.source in (folder, folder / "manifest.json")
    window.latent_panel.z_rows[0].slider.setValue(-2.0)
    assert_shows(window, foreign.gen_images, ONNX_TOL)
    assert_not_trainable(window)


def test_a_generator_exported_with_torch_onnx_opens_as_one_onnx_file(qtbot, window, foreign, monkeypatch):
    import warnings

    path = foreign.folder / "netG.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on itself
        torch.onnx.export(foreign.gen, (torch.zeros(1, foreign.nz, 1, 1),), str(path), input_names=["z"],
                          output_names=["image"], dynamic_axes={"z": {0: "batch"}, "image": {0: "batch"}},
                          opset_version=17, dynamo=False)
    open_by(qtbot, window, "drop", path, monkeypatch)
    assert window.last_error is None and "netG.onnx" in window.windowTitle()
    assert_shows(window, foreign.gen_images, ONNX_TOL)  # the Tanh output read as [-1, 1]


def test_an_adapter_file_runs_only_after_the_user_says_yes(qtbot, window, foreign, monkeypatch):
    decoder = torch.nn.Sequential(torch.nn.Linear(8, 784), torch.nn.Sigmoid())
    torch.save(decoder.state_dict(), foreign.folder / "dec.pt")
    marker = foreign.folder / "ran.marker"
    adapter = foreign.folder / "my_model.py"
    adapter.write_text(
        "import pathlib\nimport torch\n"
        "HERE = pathlib.Path(__file__).parent\n"
        "(HERE / 'ran.marker').write_text('the adapter ran')\n"
        "def load():\n"
        "    dec = torch.nn.Sequential(torch.nn.Linear(8, 784), torch.nn.Sigmoid())\n"
        "    dec.load_state_dict(torch.load(HERE / 'dec.pt', weights_only=True))\n"
        "    return {'decoder': dec, 'latent_dim': 8, 'image_shape': (1, 28, 28), 'name': 'my decoder'}\n")
    asked = []
    monkeypatch.setattr(model_controller, "confirm_code", lambda parent, p: asked.append(p.name) or False)
    monkeypatch.setattr(model_controller, "confirm_untrusted", lambda parent, p: pytest.fail("not a pickle"))
    open_by(qtbot, window, "drop", adapter, monkeypatch)
    assert asked == ["my_model.py"] and not marker.exists() and window.model_state.model is None
    assert "Did not open my_model.py" in window.statusBar().currentMessage()

    monkeypatch.setattr(model_controller, "confirm_code", lambda parent, p: asked.append(p.name) or True)
    open_by(qtbot, window, "menu", adapter, monkeypatch)
    assert marker.exists() and window.last_error is None
    assert "my decoder" in window.windowTitle()

    def original(z):
        with torch.no_grad():
            return decoder(z).reshape(-1, 1, 28, 28)

    assert_shows(window, original, STATE_DICT_TOL)
    assert_not_trainable(window)

    marker.unlink()  # Open Recent asks again: a yes once is not a yes for ever
    model = window.model_state.model
    monkeypatch.setattr(model_controller, "confirm_code", lambda parent, p: asked.append(p.name) or False)
    open_by(qtbot, window, "recent", adapter, monkeypatch)
    assert asked == ["my_model.py"] * 3 and not marker.exists() and window.model_state.model is model


class _Payload:
    """What a hostile .pth holds: unpickling it would write a marker file."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


def test_a_pickle_payload_never_runs_and_the_previous_model_stays(qtbot, window, foreign, monkeypatch):
    good = foreign.state_dict_file("gen", ".safetensors")
    open_by(qtbot, window, "menu", good, monkeypatch)
    model = window.model_state.model
    marker = foreign.folder / "pwned.marker"
    hostile = foreign.folder / "netG_evil.pth"
    torch.save({"main.0.weight": _Payload(marker)}, hostile)
    for allow in (False, True):
        window.last_error = None
        monkeypatch.setattr(model_controller, "confirm_untrusted", lambda parent, p, allow=allow: allow)
        open_by(qtbot, window, "drop", hostile, monkeypatch)
        assert not marker.exists()
        assert window.model_state.model is model  # nothing opened; the previous model stays
    title, text = window.last_error  # with the allow: read with weights_only, refused, said once
    assert title == "Could not open the model" and "netG_evil.pth" in text
    assert "Traceback" not in text and text.count("\n") == 0
    assert window.open_action.isEnabled()


def test_a_state_dict_of_nothing_known_opens_nothing_and_says_what_was_recognised(qtbot, window, foreign,
                                                                                     monkeypatch):
    from safetensors.torch import save_file

    odd = foreign.folder / "resnet.safetensors"
    save_file({"conv1.weight": torch.zeros(8, 3, 3, 3), "fc.bias": torch.zeros(10)}, str(odd))
    open_by(qtbot, window, "menu", odd, monkeypatch)
    assert window.model_state.model is None
    title, text = window.last_error
    assert title == "Could not open the model" and text.startswith("resnet.safetensors")
    assert "Traceback" not in text
    assert window._error_box is not None and window._error_box.text() == text
    assert window.train_action.isEnabled()  # nothing opened: nothing greyed


def test_export_model_writes_onnx_that_decodes_as_the_model_and_save_points_there(qtbot, window, foreign, monkeypatch):
    open_by(qtbot, window, "menu", foreign.state_dict_file("vae", ".safetensors"), monkeypatch)
    assert window.save_model(foreign.folder / "copy.safetensors") is None  # refused, with where to go
    title, text = window.last_error
    assert "checkpoint" in title and "Export Model as ONNX" in text
    assert not (foreign.folder / "copy.safetensors").exists()

    out = foreign.folder / "exported"
    monkeypatch.setattr(model_controller, "ask_export_folder", lambda parent, start: str(out))
    with qtbot.waitSignal(window.models.exported, timeout=30_000) as done:
        window.export_model_action.trigger()
    result = done.args[0]
    assert {p.name for p in out.iterdir()} == {"decoder.onnx", "encoder.onnx", "manifest.json"}
    assert result["max_abs_diff"]["decoder"] <= ONNX_TOL and result["max_abs_diff"]["encoder"] <= ONNX_TOL
    assert window.statusBar().currentMessage().startswith("Exported as ONNX: opened again, it decodes within")
    assert str(out) in window.statusBar().toolTip()  # the whole message, with the folder

    open_by(qtbot, window, "drop", out / "manifest.json", monkeypatch)  # a manifest dropped opens its model
    assert "(ONNX" in window.windowTitle() and "PyTorch examples VAE" in window.windowTitle()
    assert_shows(window, foreign.vae_images, ONNX_TOL)


def test_export_without_onnx_installed_says_how_to_install_it(qtbot, window, foreign, monkeypatch):
    open_by(qtbot, window, "menu", foreign.state_dict_file("gen", ".safetensors"), monkeypatch)
    from explorer.window import capabilities

    monkeypatch.setattr(model_controller, "onnx_available", lambda: False)
    monkeypatch.setattr(capabilities, "onnx_available", lambda: False)
    window.close_model_action.trigger()  # any change of state refreshes the menus
    open_by(qtbot, window, "menu", foreign.state_dict_file("gen", ".safetensors"), monkeypatch)
    action = window.export_model_action
    assert not action.isEnabled() and 'pip install "latent-explorer[onnx]"' in action.toolTip()
    assert not window.models.export_model(foreign.folder / "out")
    title, text = window.last_error
    assert "ONNX" in title and 'pip install "latent-explorer[onnx]"' in text
    assert not (foreign.folder / "out").exists()


def test_close_model_gives_train_back(qtbot, window, foreign, monkeypatch):
    open_by(qtbot, window, "menu", foreign.state_dict_file("gen", ".safetensors"), monkeypatch)
    assert "File ▸ Close Model" in window.train_panel.train_button.toolTip()
    window.close_model_action.trigger()
    assert window.model_state.model is None and window.windowTitle() == "Latent Explorer"
    assert window.train_action.isEnabled() and window.train_panel.train_button.isEnabled()
    assert window.train_panel.run_label.text() == "" and not window.close_model_action.isEnabled()


def test_about_lists_every_format_and_the_onnx_install_hint(qtbot, window, monkeypatch):
    from explorer.dialogs import help_dialogs
    from models.foreign.open import FORMATS

    window.about_action.trigger()
    about = window._help_dialog
    text = about.formats.text()
    assert all(line in text for line in FORMATS) and "pip install" not in text
    assert "onnxruntime" in about.text()
    monkeypatch.setattr(help_dialogs, "onnx_available", lambda: False)
    window.about_action.trigger()
    missing = window._help_dialog
    assert 'pip install "latent-explorer[onnx]"' in missing.formats.text()
    assert 'pip install "latent-explorer[onnx]"' in missing.text()  # the copied facts say it too


def test_file_open_and_drops_take_every_format_and_a_manifest_but_not_a_path_file(tmp_path):
    from explorer.panels.base import MODEL_FILE, PATH_FILE, drop_kind
    from explorer.window.drops import sort_drops
    from explorer.window.file_dialogs import OPEN_FILTER
    from models.foreign.open import OPENABLE_SUFFIXES

    models_filter = OPEN_FILTER.split(";;")[0]
    assert all(f"*{s}" in models_filter for s in OPENABLE_SUFFIXES if s != ".json")
    assert "manifest.json" in models_filter and "*.json" not in models_filter  # a path file is not a model
    names = [f"m{s}" for s in OPENABLE_SUFFIXES if s != ".json"] + ["manifest.json"]
    drops = sort_drops([tmp_path / n for n in [*names, "walk.json", "digit.png"]])
    assert [p.name for p in drops.models] == names
    assert [p.name for p in drops.path_files] == ["walk.json"] and [p.name for p in drops.images] == ["digit.png"]
    assert {drop_kind(str(tmp_path / n)) for n in names} == {MODEL_FILE}  # the Compare panel's drops too
    assert drop_kind("walk.json") == PATH_FILE
