"""A bare state dict of one of the app's own families (weights only, as other tools export
them), opened in the window: the window asks which family and config made it (the family
preselected from the tensor names), opens it with the answer in the job runner, says a
wrong config once and keeps the previous model, opens nothing on Cancel, and asks again
from Open Recent with the last answer filled in."""
from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from explorer import settings
from explorer.dialogs.family_weights_dialog import FamilyWeightsDialog, remembered_answer
from explorer.window import model_controller
from models.families.registry import build_model


@pytest.fixture
def vae_weights(tmp_path):
    """``(model, write)``: a small VAE and ``write(suffix)``, its bare state dict saved as
    ``.safetensors`` (safetensors' save_file) or ``.pth`` (``torch.save``)."""
    torch.manual_seed(3)
    model = build_model("vae", latent_dim=4, hidden=32).eval()

    def write(suffix: str):
        path = tmp_path / f"exported{suffix}"
        if suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
        else:
            torch.save(model.state_dict(), path)
        return path

    return model, write


class DialogScript:
    """Stands in for the user at the family dialog: records what the real dialog showed when
    it came up, then fills its real form and presses Open (or Cancel)."""

    def __init__(self, monkeypatch, log: list[str]) -> None:
        self.shown: list[dict] = []
        self.values: dict = {}
        self.cancel = False
        self.log = log
        script = self

        def exec_(dialog: FamilyWeightsDialog) -> int:
            script.log.append("dialog")
            script.shown.append({"family": dialog.chosen_family(), "matches": dialog.matches,
                                 "values": dialog.form.values(),
                                 "filled": "" if dialog.filled.isHidden() else dialog.filled.text()})
            if script.cancel:
                dialog.reject()
            else:
                for name, value in script.values.items():
                    dialog.form.fields[name].set(value)
                dialog.accept()
            return dialog.result()

        monkeypatch.setattr(FamilyWeightsDialog, "exec", exec_)


@pytest.fixture
def user(monkeypatch):
    log: list[str] = []
    monkeypatch.setattr(model_controller, "confirm_untrusted", lambda parent, p: log.append("pickle") or True)
    return DialogScript(monkeypatch, log)


def _settle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.models.loading is None and not window.jobs.busy, timeout=20_000)


def open_file(qtbot, window, monkeypatch, path, how: str = "menu") -> None:
    """File > Open of ``path`` (or a real drop of it on the window), waiting until the window
    is done with it."""
    if how == "menu":
        monkeypatch.setattr(model_controller, "ask_model_to_open", lambda parent, start: str(path))
        window.open_action.trigger()
    else:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        window.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                                    Qt.KeyboardModifier.NoModifier))
    _settle(qtbot, window)


def assert_decodes_as(window, original) -> None:
    z = torch.randn(6, 4)
    with torch.no_grad():
        got, want = window.model_state.model.decode(z), original.decode(z)
    assert torch.equal(got, want)


@pytest.mark.parametrize(("suffix", "how"), [(".safetensors", "menu"), (".pth", "menu"), (".safetensors", "drop")])
def test_the_window_asks_the_family_preselected_and_opens_the_weights_with_the_answer(qtbot, window, vae_weights,
                                                                                      user, monkeypatch, suffix, how):
    original, write = vae_weights
    path = write(suffix)
    user.values = {}  # the user only presses Open: the file's shapes filled the form in
    open_file(qtbot, window, monkeypatch, path, how)
    assert user.log == (["pickle", "dialog"] if suffix == ".pth" else ["dialog"])  # the pickle question first
    shown = user.shown[0]
    assert shown["family"] == "vae" and "vae" in shown["matches"]
    assert (shown["values"]["latent_dim"], shown["values"]["hidden"]) == (4, 32)  # not the defaults' 20 and 400
    assert shown["values"]["image_shape"] == (1, 28, 28) and shown["values"]["mlp_layers"] == 1
    assert "Latent size" in shown["filled"] and "from the file's tensor shapes" in shown["filled"]
    assert window.last_error is None
    model = window.model_state.model
    assert model.family == "vae" and model.config.latent_dim == 4 and model.config.hidden == 32
    assert len(window.latent_panel.z_rows) == 4
    assert_decodes_as(window, original)
    assert str(path.resolve()) in settings.recent_files()


def test_a_wrong_config_is_said_once_keeps_the_previous_model_and_the_dialog_comes_back_filled_in(
        qtbot, window, vae_checkpoint, vae_weights, user, monkeypatch):
    original, write = vae_weights
    path = write(".safetensors")
    open_file(qtbot, window, monkeypatch, vae_checkpoint)
    previous = window.model_state.model
    errors: list[tuple[str, str]] = []
    window.models.error.connect(lambda title, text: errors.append((title, text)))
    user.values = {"latent_dim": 5, "hidden": 32}
    open_file(qtbot, window, monkeypatch, path)
    assert len(errors) == 1 and window.last_error == errors[0]
    title, text = errors[0]
    assert title == "Could not open the model" and text.startswith(path.name)
    assert "of another shape" in text and "the config makes" in text and "\n" not in text
    assert window._error_box is not None and window._error_box.text() == text  # the window's error box
    assert window.model_state.model is previous
    assert window.open_action.isEnabled()

    user.values = {}  # File > Open again: the file's shapes beat the wrong answer remembered
    open_file(qtbot, window, monkeypatch, path)
    assert user.shown[1]["family"] == "vae" and user.shown[1]["values"]["latent_dim"] == 4
    assert user.shown[1]["values"]["hidden"] == 32
    assert len(errors) == 1 and window.model_state.model is not previous
    assert_decodes_as(window, original)


def test_cancel_opens_nothing_and_keeps_the_model(qtbot, window, vae_checkpoint, vae_weights, user, monkeypatch):
    _, write = vae_weights
    open_file(qtbot, window, monkeypatch, vae_checkpoint)
    previous, source = window.model_state.model, window.model_state.source
    user.cancel = True
    window.last_error = None
    open_file(qtbot, window, monkeypatch, write(".pth"))
    assert user.log == ["pickle", "dialog"]
    assert window.model_state.model is previous and window.model_state.source == source
    assert window.last_error is None
    assert "Did not open exported.pth" in window.statusBar().currentMessage()
    assert window.open_action.isEnabled()


def test_open_recent_asks_again_with_the_last_answer_filled_in(qtbot, window, vae_weights, user, monkeypatch):
    original, write = vae_weights
    path = write(".safetensors")
    user.values = {"latent_dim": 4, "hidden": 32}
    open_file(qtbot, window, monkeypatch, path)
    window.models.close_model()
    user.values = {}  # the user only presses Open
    entry = next(a for a in window.recent_menu.actions() if a.text() == str(path.resolve()))
    entry.trigger()
    _settle(qtbot, window)
    assert user.shown[1]["family"] == "vae"
    assert (user.shown[1]["values"]["latent_dim"], user.shown[1]["values"]["hidden"]) == (4, 32)
    assert_decodes_as(window, original)


def test_the_dialog_checks_its_form_and_follows_the_family(qtbot, tmp_path):
    dialog = FamilyWeightsDialog(tmp_path / "w.safetensors", ["vae", "ae"])
    qtbot.addWidget(dialog)
    assert dialog.chosen_family() == "vae" and "lr" not in dialog.form.fields  # no shape depends on lr
    assert "image_shape" in dialog.form.fields
    dialog.form.fields["image_shape"].widget.setText("1, twenty")
    dialog.accept()
    assert dialog.answer() is None and not dialog.problem.isHidden()
    assert "Image shape" in dialog.problem.text()  # the field, as the form labels it
    dialog.family.setCurrentIndex(dialog.family.findData("dcgan"))  # another family: its own fields
    assert "z_dim" in dialog.form.fields and "latent_dim" not in dialog.form.fields and dialog.problem.isHidden()
    dialog.form.fields["z_dim"].set(7)
    dialog.accept()
    answer = dialog.answer()
    assert answer.family == "dcgan" and answer.config["z_dim"] == 7


def test_a_remembered_answer_that_no_longer_checks_is_not_offered(tmp_path):
    path = tmp_path / "w.safetensors"
    settings.add_family_weights_answer(path, "vae", {"latent_dim": "four"})
    assert remembered_answer(path, ["vae"]) is None
    settings.settings().setValue("family_weights_answers", ["{not json", '{"path": 3}'])
    assert settings.family_weights_answers() == []
    settings.add_family_weights_answer(tmp_path / "other.safetensors", "vae", {"latent_dim": 6})
    answer = remembered_answer(path, ["vae", "ae"])  # another file of the family: its answer is offered
    assert answer.family == "vae" and answer.config["latent_dim"] == 6
    assert remembered_answer(path, ["dcgan"]) is None


def test_the_form_starts_from_the_answer_given_with_the_files_shapes_over_it(qtbot, tmp_path):
    """A remembered answer (perhaps for another file of the family) fills the fields the shapes
    do not tell; the ones they tell are the file's; a family without hints shows the answer
    alone and no "filled in" line."""
    from explorer.dialogs.family_weights_dialog import FamilyAnswer

    hints = {"vae": {"arch": "mlp", "image_shape": [1, 28, 28], "hidden": 32, "latent_dim": 4, "mlp_layers": 2}}
    previous = FamilyAnswer("vae", {"latent_dim": 9, "hidden": 64, "beta": 2.5})
    dialog = FamilyWeightsDialog(tmp_path / "w.safetensors", ["ae", "vae"], previous, hints=hints)
    qtbot.addWidget(dialog)
    values = dialog.form.values()
    assert dialog.chosen_family() == "vae"
    assert (values["latent_dim"], values["hidden"], values["mlp_layers"], values["beta"]) == (4, 32, 2, 2.5)
    assert "Latent size" in dialog.filled.text() and "square" in dialog.filled.text() and not dialog.filled.isHidden()
    dialog.family.setCurrentIndex(dialog.family.findData("ae"))  # no hints for it: the defaults, no such line
    assert dialog.filled.isHidden() and dialog.form.values()["latent_dim"] == 20

    other = FamilyAnswer("dcgan", {"z_dim": 7})  # an answer for a family the file's shapes fit better
    dialog = FamilyWeightsDialog(tmp_path / "w.safetensors", ["vae", "dcgan"], other, hints=hints)
    qtbot.addWidget(dialog)
    assert dialog.chosen_family() == "vae" and dialog.form.values()["latent_dim"] == 4
    dialog.family.setCurrentIndex(dialog.family.findData("dcgan"))
    assert dialog.form.values()["z_dim"] == 7 and dialog.filled.isHidden()

