"""The session file (explorer.session_file, explorer.session_write): a saved session reads back as it was, its model
is found beside it after the folder moves, and every kind of bad file is refused with one
message that names the file and the problem, before anything of it is used."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from explorer.session_file import (
    FORMAT, MAX_SESSION_BYTES, VERSION, DirectionsWalk, FileRef, ModelRef, Session, SessionRefused, WindowLayout, layout_problem,
    read_session,
)
from explorer.session_write import model_ref_of, save_session
from models.explore.directions import principal_directions
from models.explore.latent_paths import path_from_keyframes
from models.families.registry import build_model


@pytest.fixture(scope="module")
def infogan():
    """Categorical and continuous codes: the layout with every kind of block."""
    return build_model("infogan", z_dim=6, fc_hidden=32, g_channels=8, d_channels=8)


@pytest.fixture(scope="module")
def directions(infogan):
    return principal_directions(infogan, n_samples=200, k=3)


def a_session(model, model_file: Path, directions=None, walk=None) -> Session:
    spec = model.latent_spec
    rng = np.random.default_rng(0)
    point = spec.zeros(1)[0].numpy()
    point[: spec.z_dim] = rng.standard_normal(spec.z_dim)
    point[spec.z_dim + 3] = 1.0  # category 3
    point[spec.z_dim] = 0.0
    point[-spec.continuous:] = [0.25, -1.5]
    second = point.copy()
    second[0] += 1.0
    path = path_from_keyframes(model, [point, second], kind="linear")
    path.fps = 7.5
    return Session(model=model_ref_of(model_file, model), point=point, path=path, path_labels=["here", "there"],
                   directions=directions, walk=walk, panels={"traversal": {"steps": 11, "around": False, "sweep": "z dimensions"},
                                                  "paths": {"fps": 7.5}},
                   window=WindowLayout(b"\x01geometry\x00", b"\x02state\xff", "compare"),
                   compare=[FileRef(model_file.parent / "ae.safetensors"), FileRef(Path("/elsewhere/gan.safetensors"))])


def write(file: Path, obj) -> Path:
    file.write_text(json.dumps(obj))
    return file


def saved_dict(tmp_path, infogan, directions=None) -> dict:
    model_file = tmp_path / "infogan.safetensors"
    model_file.write_bytes(b"weights")
    file = save_session(a_session(infogan, model_file, directions), tmp_path / "s.session.json")
    return json.loads(file.read_text())


def refused(file: Path) -> str:
    with pytest.raises(SessionRefused) as info:
        read_session(file)
    message = str(info.value)
    assert message.startswith(f"{file.name}: "), message
    assert "\n" not in message and "Traceback" not in message
    return message


def test_a_saved_session_reads_back_as_it_was(tmp_path, infogan, directions):
    model_file = tmp_path / "runs" / "infogan.safetensors"
    model_file.parent.mkdir()
    model_file.write_bytes(b"weights")
    walk = DirectionsWalk(np.linspace(-1, 1, 18).astype(np.float32), np.asarray([1.5, 0.0, -0.25], np.float32))
    session = a_session(infogan, model_file, directions, walk)
    file = save_session(session, tmp_path / "explore.session.json")
    text = file.read_text()
    assert json.loads(text)["format"] == FORMAT and json.loads(text)["version"] == VERSION
    assert len(text.splitlines()) == 13  # one top-level key per line, readable and diffable
    back = read_session(file)
    assert back.model.path == model_file.absolute() and back.model.relative == "runs/infogan.safetensors"
    assert back.model.latent_spec == infogan.latent_spec and back.model.family == "infogan"
    np.testing.assert_array_equal(back.point, session.point)  # bit for bit
    assert json.loads(text)["point"]["categories"] == [3] and json.loads(text)["point"]["codes"] == [0.25, -1.5]
    assert len(back.path.keyframes) == 2 and back.path.kinds == ["linear"] and back.path.fps == 7.5
    for a, b in zip(back.path.keyframes, session.path.keyframes):
        np.testing.assert_array_equal(a, b)
    assert back.path_labels == ["here", "there"]
    np.testing.assert_array_equal(back.directions.directions, directions.directions)
    np.testing.assert_array_equal(back.directions.stdev, directions.stdev)
    assert back.directions.weights == directions.weights and back.directions.layer == directions.layer
    np.testing.assert_array_equal(back.walk.base, walk.base)
    np.testing.assert_array_equal(back.walk.coefficients, walk.coefficients)
    assert back.panels == session.panels
    assert back.window == session.window
    assert [(r.path, r.relative) for r in back.compare] == [
        (model_file.parent / "ae.safetensors", "runs/ae.safetensors"), (Path("/elsewhere/gan.safetensors"), None)]


def test_the_model_is_found_beside_the_session_after_the_folder_moves(tmp_path, infogan):
    folder = tmp_path / "project"
    (folder / "models").mkdir(parents=True)
    model_file = folder / "models" / "g.safetensors"
    model_file.write_bytes(b"weights")
    save_session(a_session(infogan, model_file), folder / "s.session.json")
    moved = shutil.move(str(folder), str(tmp_path / "elsewhere"))
    back = read_session(Path(moved) / "s.session.json")
    assert back.model.path == model_file.absolute()  # gone from there...
    assert back.model.resolve(Path(moved) / "s.session.json") == Path(moved) / "models" / "g.safetensors"
    # a model outside the session's folder is named by its absolute path only
    outside = ModelRef(tmp_path / "x.safetensors", infogan.latent_spec)
    save_session(Session(model=outside), folder.parent / "sub" / "t.session.json")
    assert json.loads((folder.parent / "sub" / "t.session.json").read_text())["model"]["relative"] is None


def test_a_session_without_a_model_holds_only_settings_and_layout(tmp_path):
    file = save_session(Session(panels={"draw": {"pen": 12}}, window=WindowLayout(b"g", b"s")), tmp_path / "e.json")
    back = read_session(file)
    assert back.model is None and back.point is None and back.path is None and back.panels == {"draw": {"pen": 12}}


def test_files_that_are_not_sessions_are_refused(tmp_path, infogan):
    (tmp_path / "not.json").write_text("{\"format\": ")
    assert "is not valid JSON" in refused(tmp_path / "not.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00binary")
    assert "UTF-8" in refused(tmp_path / "bin.json")
    assert "expected a JSON object" in refused(write(tmp_path / "list.json", [1, 2]))
    assert "is not a Latent Explorer session" in refused(write(tmp_path / "other.json", {"name": "another program"}))
    path_file = write(tmp_path / "walk.json", path_from_keyframes(infogan, [infogan.latent_spec.zeros(1)[0].numpy()]).to_dict())
    assert "is a latent path file, not a session" in refused(path_file)
    assert "no such session file" in refused(tmp_path / "missing.json")
    assert "is a folder" in refused(tmp_path)
    if hasattr(os, "mkfifo"):  # read from a pipe, it would wait for a writer forever
        os.mkfifo(tmp_path / "pipe.json")
        assert "not a regular file" in refused(tmp_path / "pipe.json")


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    huge = tmp_path / "huge.session.json"
    with open(huge, "wb") as f:
        f.truncate(MAX_SESSION_BYTES + 1)  # sparse: no disk, yet too big
    assert "is not read" in refused(huge) and "64 MB" in refused(huge)
    deep = write(tmp_path / "deep.json", {"format": FORMAT, "version": 1, "panels": json.loads("[" * 200 + "]" * 200)})
    assert "levels deep (at most 64 are read)" in refused(deep)


def test_versions_other_than_this_one_are_refused(tmp_path, infogan):
    d = saved_dict(tmp_path, infogan)
    newer = ("was saved by a newer Latent Explorer (session format version 3); this one reads version 1 or 2: "
             "update Latent Explorer to open it")
    for version, words in ((3, newer),
                           (0, "has session format version 0"), ("1", 'has session format version "1"'),
                           (None, "has session format version null"), (True, "has session format version true")):
        assert words in refused(write(tmp_path / "v.json", {**d, "version": version}))


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update(point="here"), "point must be an object or null, got 'here'"),
    (lambda d: d["point"].update(flat=[1, "2"]), "point.flat[1] must be a finite number, got '2'"),
    (lambda d: d["point"].update(flat=[1.0] * 3), "point.flat has 3 values but the session's model has a latent of 18"),
    (lambda d: d["point"].update(flat=[1e39] * 18), "too large for the model's float32 latent"),
    (lambda d: d["point"].update(categories=[7]), "point.categories is [7] but point.flat holds categories [3]"),
    (lambda d: d["point"].update(codes=[0.0, 0.0]), "point.codes disagree"),
    (lambda d: d["model"].update(path=3), "model.path must be a string, got 3"),
    (lambda d: d["model"]["latent_spec"].update(z_dim="6"), "model.latent_spec.z_dim must be an integer"),
    (lambda d: d["model"]["latent_spec"].update(categorical=[0]), "model.latent_spec.categorical[0] must be an integer from 1 to"),
    (lambda d: d["model"].update(relative="../../etc/passwd"), "model.relative must be a path inside the session's folder"),
    (lambda d: d["panels"].update(traversal={"steps": {"a": 1}}), "panels.traversal.steps must be true, false, a finite"),
    (lambda d: d["panels"].update(traversal=[1]), "panels.traversal must be an object"),
    (lambda d: d["window"].update(state="not base64!"), "window.state is not base64 text"),
    (lambda d: d["window"].update(workspace=["explore"]), "window.workspace must be a string"),
    (lambda d: d.update(compare={"path": "a"}), "compare must be a list"),
    (lambda d: d["compare"].append({"path": ""}), "compare[2].path must name the model's file"),
    (lambda d: d["compare"].append({"path": "x", "relative": "../../etc/x"}), "compare[2].relative must be a path inside"),
    (lambda d: d["compare"].append({"path": "x", "run": "import os"}), "compare[2] has a field this Latent Explorer does not know: 'run'"),
    (lambda d: d["compare"].extend([{"path": "x"}] * 63), "compare must be a list of at most 64 values"),
    (lambda d: d["compare"].append({"path": "x", "relative": "C:/Windows/x"}), "compare[2].relative must be a path inside"),
    (lambda d: d["compare"].append({"path": "x", "relative": "\\\\server\\share\\x"}), "compare[2].relative must be a path inside"),
    (lambda d: d["window"].update(workspace="x" * 65), "window.workspace"),
    (lambda d: d.update(path_labels=["one"]), "path_labels has 1 labels for 2 keyframes"),
    (lambda d: d["path"].update(kinds=["cubic"]), "path: kinds[0] must be one of 'linear', 'slerp'"),
    (lambda d: d["path"]["keyframes"][0].update(z=[0.0] * 2), "path: keyframe 0 has 2 z values but this infogan model"),
    (lambda d: d["path"].update(version=9), "path has path format version 9"),
    (lambda d: d.update(model=None), "has a point but no model to decode it"),
])
def test_wrong_types_and_sizes_are_refused_naming_the_field(tmp_path, infogan, change, words):
    d = saved_dict(tmp_path, infogan)
    change(d)
    assert words in refused(write(tmp_path / "bad.session.json", d))


def test_nan_anywhere_in_the_point_is_refused(tmp_path, infogan):
    d = saved_dict(tmp_path, infogan)
    text = json.dumps(d).replace('"flat": [', '"flat": [NaN, ', 1)
    (tmp_path / "nan.json").write_text(text)
    assert "point.flat[0] must be a finite number, got NaN" in refused(tmp_path / "nan.json")
    (tmp_path / "inf.json").write_text(json.dumps(d).replace('"flat": [', '"flat": [1e400, ', 1))
    assert "too large for a float" in refused(tmp_path / "inf.json")


def test_unknown_fields_are_refused_saying_which(tmp_path, infogan):
    d = saved_dict(tmp_path, infogan)
    for where, obj in (("", d), ("model has", d["model"]), ("point has", d["point"]), ("window has", d["window"]),
                       ("model.latent_spec has", d["model"]["latent_spec"]), ("path has", d["path"])):
        obj["run_this"] = "import os"
        message = refused(write(tmp_path / "u.json", d))
        assert f"{where or 'has'} a field this Latent Explorer does not know: 'run_this'" in message, message
        del obj["run_this"]
    read_session(write(tmp_path / "u.json", d))  # and with them gone it reads


def test_directions_that_do_not_fit_are_refused(tmp_path, infogan, directions):
    d = saved_dict(tmp_path, infogan, directions)
    good = json.loads(json.dumps(d))
    d["directions"]["stdev"] = [1.0]
    assert "directions: stdev has shape (1,), expected (3,)" in refused(write(tmp_path / "d.json", d))
    d = json.loads(json.dumps(good))
    d["directions"]["directions"][0] = [2.0] + [0.0] * 17
    assert "direction 1 has length 2, not 1" in refused(write(tmp_path / "d.json", d))
    d = json.loads(json.dumps(good))
    d["model"]["latent_spec"]["z_dim"] = 7
    for k in ("flat",):
        d["point"][k] = d["point"][k] + [0.0]
    d["point"]["categories"] = d["point"]["codes"] = None
    d["path"] = None
    d["path_labels"] = []
    message = refused(write(tmp_path / "d.json", d))
    assert "directions do not fit the session's model: the directions are for a latent of 18 values" in message


def test_directions_past_float32_are_refused(tmp_path, infogan, directions):
    d = saved_dict(tmp_path, infogan, directions)
    d["directions"]["stdev"][0] = 1e300  # finite as JSON reads it, infinite as the float32 a slider uses
    assert "stdev holds a value that is not a finite number" in refused(write(tmp_path / "f.json", d))


def test_random_corruptions_only_ever_give_one_clear_refusal(tmp_path, infogan, directions):
    """Values of every JSON type put anywhere in a good session (and fields dropped): each
    read either works or ends in one SessionRefused naming the file, never another error."""
    import copy
    import random
    import warnings

    good = saved_dict(tmp_path, infogan, directions)
    good["directions_walk"] = {"base": [0.0] * 18, "coefficients": [0.0] * 3}

    def places(o, at=()):
        yield at
        children = o.items() if isinstance(o, dict) else enumerate(o[:2]) if isinstance(o, list) else ()
        for k, v in children:
            yield from places(v, (*at, k))

    spots = [p for p in places(good) if p]
    values = [None, True, 0, -1, 1.5, 1e300, "", "x", [], [1], [[1]], {}, {"a": 1}, 2**70, [None]]
    rng = random.Random(0)
    refusals = 0
    for trial in range(300):
        x = copy.deepcopy(good)
        for _ in range(rng.randint(1, 3)):
            *parents, last = rng.choice(spots)
            o = x
            try:
                for k in parents:
                    o = o[k]
                if isinstance(o, dict) and rng.random() < 0.1:
                    o.pop(last, None)
                else:
                    o[last] = copy.deepcopy(rng.choice(values))
            except (KeyError, IndexError, TypeError):
                pass  # an earlier change removed the way there
        file = write(tmp_path / "f.json", x)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an overflow warning would be a value let through
            try:
                read_session(file)
            except SessionRefused as e:
                refusals += 1
                assert str(e).startswith("f.json: ") and "\n" not in str(e)
    assert refusals > 200  # most corruptions are refused (a few change nothing that matters)


def test_a_directions_walk_must_fit_its_directions(tmp_path, infogan, directions):
    d = saved_dict(tmp_path, infogan, directions)
    d["directions_walk"] = {"base": [0.0] * 18, "coefficients": [1.0, 2.0]}
    assert "directions_walk has a base of 18 values and 2 coefficients; its directions need 18 and 3" in \
        refused(write(tmp_path / "w.json", d))
    d["directions"] = None
    assert "has directions_walk but no directions" in refused(write(tmp_path / "w.json", d))


def test_layout_problem_names_both_layouts(infogan):
    vae = build_model("vae", latent_dim=5, hidden=16, image_shape=(1, 28, 28))
    assert layout_problem(infogan.latent_spec, infogan.latent_spec, "infogan") is None
    text = layout_problem(infogan.latent_spec, vae.latent_spec, "vae")
    assert "18 values (6 z, categorical codes of 10, 2 continuous codes)" in text and "latent of 5 (5 z)" in text


def test_a_version_1_session_without_workspace_or_compare_still_opens(tmp_path, infogan):
    """What the previous release saved: no window.workspace and no compare (which a version-1
    reader would refuse, hence version 2 for files that have them)."""
    d = saved_dict(tmp_path, infogan)
    assert d["version"] == VERSION == 2
    del d["compare"], d["window"]["workspace"]
    back = read_session(write(tmp_path / "v1.session.json", {**d, "version": 1}))
    assert back.compare is None and back.window.workspace == ""  # Compare and the workspace stay as they are
    assert back.model.family == "infogan" and back.point is not None
