"""Class control of a class-conditional model in the window: the latent panel's class
buttons (named by class, exclusive, fitting a narrow dock), the traversal panel's rows =
classes, ``traverse --rows classes``, and sessions keeping the class names and the chosen class."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from class_drawer import DIGITS, FASHION, SHAPES, SIDE, ClassDrawer, drawn_class
from PIL import Image

from explorer.cli import main
from explorer.panels.latent_class_row import MAX_BUTTON_WIDTH, MAX_CLASS_BUTTONS
from explorer.panels.latent_panel import LatentPanel
from explorer.panels.traversal_classes import CLASSES_DIRECTION, CLASSES_Z
from explorer.panels.traversal_panel import TraversalPanel
from explorer.session import _class_notes
from explorer.session_file import ModelRef, Session, SessionRefused, chosen_class, layout_problem, read_session
from explorer.session_write import save_session, session_to_dict
from explorer.state import DataState, LatentState, ModelState
from models.families.registry import build_model
from models.latent import LatentPoint, LatentSpec

TILE = SIDE + 2  # a grid tile with its 2-pixel gap


def _panel(qtbot, model, width: int = 320) -> tuple[ModelState, LatentState, LatentPanel]:
    ms, ls = ModelState(), LatentState()
    panel = LatentPanel(ms, ls, DataState())
    qtbot.addWidget(panel)
    ms.set_model(model)
    ls.reset(model.latent_spec)
    panel.resize(width, 640)
    panel.show()
    qtbot.waitExposed(panel)
    return ms, ls, panel


def test_clicking_a_class_button_draws_that_class(window):
    window.model_state.set_model(ClassDrawer(DIGITS))
    panel = window.latent_panel
    assert panel.class_group.isVisible() and not panel.categorical_group.isVisible()
    row = panel.class_row
    assert [b.text() for b in row.buttons()] == list(DIGITS)
    assert row.current() == 0 and drawn_class(window.image_view.image) == 0
    row.button(7).click()
    assert window.latent_state.category(0) == 7
    assert drawn_class(window.image_view.image) == 7  # the decoder drew class 7
    assert row.current() == 7 and sum(b.isChecked() for b in row.buttons()) == 1  # exclusive
    assert panel.class_group.title() == "Class: 7"
    # state -> buttons: a point set elsewhere (Random, a path frame) shows its class
    window.latent_state.set_category(0, 2)
    assert row.current() == 2 and panel.class_group.title() == "Class: 2"
    assert drawn_class(window.image_view.image) == 2


def test_switching_models_rebuilds_the_right_groups(qtbot):
    ms, ls, panel = _panel(qtbot, ClassDrawer(SHAPES, extra_codes=(4,)))
    assert panel.class_group.isVisible() and [b.text() for b in panel.class_row.buttons()] == list(SHAPES)
    # the InfoGAN-style code after the class keeps its numbered buttons, as c1
    assert panel.categorical_group.isVisible() and len(panel.category_controls) == 2
    panel.category_controls[1].button(3).click()
    assert ls.category(1) == 3 and ls.category(0) == 0
    infogan = build_model("infogan", z_dim=4, categorical=(10,), continuous=2, fc_hidden=16, q_hidden=8, channels=4)
    ms.set_model(infogan)
    ls.reset(infogan.latent_spec)
    assert panel.class_row is None and not panel.class_group.isVisible()
    assert panel.categorical_group.isVisible() and panel.categorical_group.title() == "Categorical codes"
    assert [b.text() for b in panel.category_controls[0].buttons()] == [str(i) for i in range(10)]
    vae = build_model("vae", latent_dim=3, hidden=16)
    ms.set_model(vae)
    ls.reset(vae.latent_spec)
    assert not panel.class_group.isVisible() and not panel.categorical_group.isVisible()
    assert panel.category_controls == [] and len(panel.z_rows) == 3
    ms.set_model(ClassDrawer(FASHION))
    ls.reset(ms.spec)
    assert panel.class_group.isVisible() and len(panel.class_row.buttons()) == 10


@pytest.mark.parametrize("names", [DIGITS, FASHION, SHAPES], ids=["digits", "fashion", "shapes"])
def test_class_names_fit_a_320_pixel_dock(qtbot, names):
    _, _, panel = _panel(qtbot, ClassDrawer(names))
    panel.class_row.button(len(names) - 1).click()
    qtbot.wait(10)
    for button, name in zip(panel.class_row.buttons(), names):
        assert button.text() == name  # whole: these names are short enough
        assert button.sizeHint().width() <= button.width()  # the text is not squeezed
        right = button.mapTo(panel, button.rect().topRight()).x()
        assert button.sizeHint().width() <= panel.width() and right < panel.width()  # nothing clipped
        assert name in button.toolTip()
    assert panel.width() == 320 and panel.minimumSizeHint().width() <= 320  # they wrap, not widen the dock
    lines = {b.y() for b in panel.class_row.buttons()}
    assert len(lines) == (4 if names is FASHION else 1)  # Fashion: three a line at 320 px
    panel.grab().save(f"/tmp/classui_{len(names)}_{names[0][:2]}.png")


def test_long_names_are_elided_and_many_classes_get_a_list(qtbot):
    long = ("a class named after its whole folder path, far too long for a button", "short")
    _, ls, panel = _panel(qtbot, ClassDrawer(long), width=240)
    first = panel.class_row.button(0)
    assert first.text().endswith("…") and first.width() <= MAX_BUTTON_WIDTH
    assert long[0] in first.toolTip()
    many = tuple(f"class {i}" for i in range(MAX_CLASS_BUTTONS + 1))
    spec = LatentSpec(z_dim=2, categorical=(len(many),), class_names=many, has_encoder=False)
    model = ClassDrawer(DIGITS)
    model._spec = spec  # a stand-in too wide to draw, but the panel only builds controls
    panel.model_state.set_model(model)
    ls.reset(spec)
    combo = panel.class_row.combo
    assert combo is not None and combo.count() == len(many) and combo.itemText(5) == "5: class 5"
    combo.activated.emit(5)
    assert ls.category(0) == 5 and panel.class_group.title() == "Class: class 5"
    ls.set_category(0, 9)
    assert combo.currentIndex() == 9


def test_traversal_rows_are_the_classes(qtbot):
    model = ClassDrawer(FASHION)
    ms, ls = ModelState(), LatentState()
    ms.set_model(model)
    ls.reset(model.latent_spec)
    ls.set_category(0, 4)  # the point's own class does not decide the rows
    panel = TraversalPanel(ms, ls, lambda: None)
    qtbot.addWidget(panel)
    panel.resize(520, 520)
    assert panel.sweep.currentData() == CLASSES_Z and panel.sweep_index.isVisible() is False  # not shown yet
    panel.steps.setValue(5)
    with qtbot.waitSignal(panel.image_ready, timeout=8000):
        panel.show()
    assert panel.sweep_index.isVisible() and panel.sweep_index.text() == "z auto"
    assert panel.rows == list(FASHION)
    assert panel.image.shape == (10 * TILE + 2, 5 * TILE + 2, 1)
    for c in range(10):
        tile = panel.image[2 + c * TILE : 2 + c * TILE + SIDE, 2 : 2 + SIDE, 0]
        assert drawn_class(tile.astype(np.float32) / 255) == c
    assert "rows: the 10 classes; columns: z0 (most influential)" in panel.caption.text()
    assert [item.toPlainText() for item in panel._labels] == list(FASHION)  # labelled by name
    panel.grab().save("/tmp/classui_traversal.png")
    with qtbot.waitSignal(panel.image_ready, timeout=8000):
        panel.sweep_index.setValue(2)
    assert "columns: z2" in panel.caption.text()
    with qtbot.waitSignal(panel.image_ready, timeout=15000):
        panel.sweep.setCurrentIndex(panel.sweep.findData(CLASSES_DIRECTION))
    assert panel.rows == list(FASHION) and "PC1" in panel.caption.text()
    # an InfoGAN next: its own figure and the Rows box are back
    infogan = build_model("infogan", z_dim=4, categorical=(3,), continuous=1, fc_hidden=16, q_hidden=8, channels=4)
    ms.set_model(infogan)
    ls.reset(infogan.latent_spec)
    assert panel.sweep.currentData() == ("category", 0) and panel.sweep.findData(CLASSES_Z) == -1
    assert panel.rows_mode.isVisible() and not panel.sweep_index.isVisible()
    panel.shutdown()


def test_traverse_rows_classes_on_the_command_line(tmp_path, monkeypatch, capsys):
    import explorer.cli.traverse as traverse

    monkeypatch.setattr(traverse, "load_run", lambda args: SimpleNamespace(model=ClassDrawer(SHAPES), train_state={}))
    out = tmp_path / "classes.png"
    assert main(["traverse", "m.safetensors", "--rows", "classes", "--steps", "4", "--out", str(out)]) == 0
    assert "rows: square, ellipse, heart; columns: z0 (the most influential)" in capsys.readouterr().err
    with Image.open(out) as im:
        image = np.asarray(im)
    assert image.shape[:2] == (3 * TILE + 2, 4 * TILE + 2)
    assert [drawn_class(image[2 + c * TILE : 2 + c * TILE + SIDE, 2 : 2 + SIDE] / 255) for c in range(3)] == [0, 1, 2]
    assert main(["traverse", "m.safetensors", "--rows", "classes", "--dims", "0,1", "--out", str(out)]) == 2
    assert "sweeps one dimension" in capsys.readouterr().err
    plain = build_model("vae", latent_dim=3, hidden=16)
    monkeypatch.setattr(traverse, "load_run", lambda args: SimpleNamespace(model=plain, train_state={}))
    assert main(["traverse", "m.safetensors", "--rows", "classes", "--out", str(out)]) == 2
    assert "needs a class-conditional model" in capsys.readouterr().err


def test_a_session_keeps_the_class_names_and_the_chosen_class(tmp_path):
    spec = ClassDrawer(FASHION).latent_spec
    point = LatentPoint(np.array([0.5, 0, 0, 1], np.float32), [7]).to_flat(spec)
    file = tmp_path / "s.session.json"
    save_session(Session(model=ModelRef(tmp_path / "m.safetensors", spec, family="cgan"), point=point), file)
    back = read_session(file)
    assert back.model.latent_spec == spec and back.model.latent_spec.class_names == FASHION
    assert np.array_equal(back.point, point) and chosen_class(back.model.latent_spec, back.point) == "Sneaker"
    # names that do not fit the code are refused whole, with the file named
    d = session_to_dict(Session(model=ModelRef(tmp_path / "m.safetensors", spec)), file)
    d["model"]["latent_spec"]["class_names"] = ["one", "two"]
    bad = tmp_path / "bad.session.json"
    bad.write_text(json.dumps(d))
    with pytest.raises(SessionRefused, match="bad.session.json.*2 classes"):
        read_session(bad)
    # restored into a model that names its classes otherwise: the number is kept, and said
    renamed = LatentSpec(z_dim=4, categorical=(10,), class_names=tuple("ABCDEFGHIJ"), has_encoder=False)
    assert _class_notes(spec, renamed, point) == ["class H", "the model names its classes differently now "
                                                              "(the saved class Sneaker is H)"]
    assert _class_notes(spec, spec, point) == ["class Sneaker"]
    # a model of another layout: the message counts the classes as classes
    assert "14 values (4 z, 10 classes)" in layout_problem(spec, LatentSpec(z_dim=5), "vae")
