"""``latent-explorer timeline``: a GIF with one frame per snapshot of a run, the same latents
in each, captioned by step; a run without snapshots, a damaged snapshot and bad arguments
each say so in one line."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from explorer.cli import entry, timeline
from models.families.registry import build_model
from models.runs.run_dir import RunDir
from models.runs.snapshots import snapshot_path
from models.training.loop import TrainConfig, train


@pytest.fixture(autouse=True)
def _registered(monkeypatch):
    """The command as entry.COMMANDS registers it (the dispatch and its one-line errors)."""
    monkeypatch.setitem(entry.COMMANDS, "timeline", timeline)


def _run(tmp_path, dataset, name="run", steps=40, every=4) -> RunDir:
    run = RunDir(tmp_path / name)
    cfg = TrainConfig(steps=steps, batch_size=16, log_every=20, snapshot_every=every, validation_size=16, device="cpu")
    for _ in train(build_model("vae", latent_dim=2, hidden=16), dataset, cfg, run=run):
        pass
    return run


@pytest.fixture
def run(tmp_path, tiny_dataset):
    return _run(tmp_path, tiny_dataset)


def _frames(path) -> list[np.ndarray]:
    with Image.open(path) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append(np.asarray(im.convert("L")))
        return out


def test_one_frame_per_snapshot_each_the_same_latents_at_its_step(run, tmp_path, capsys):
    out = tmp_path / "learning.gif"
    assert entry.main(["timeline", str(run.path), "--random", "16", "--seed", "0", "--out", str(out)]) == 0
    assert "wrote 12 frames (steps 1 to 40)" in capsys.readouterr().err  # 1, 2, then every 4 steps
    frames = _frames(out)
    assert len(frames) == 12
    label_h = 18
    assert not np.array_equal(frames[0][label_h:], frames[-1][label_h:])  # the model learned something
    again = tmp_path / "again.gif"
    assert entry.main(["timeline", str(run.path), "--random", "16", "--seed", "0", "--out", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()  # same seed, same latents


def test_given_latents_in_a_grid_of_ncol_columns(run, tmp_path):
    z = tmp_path / "z.npy"
    np.save(z, np.array([[0, 0], [1, -1], [-2, 2]], np.float32))
    out = tmp_path / "row.gif"
    assert entry.main(["timeline", str(run.path), "--z", str(z), "--ncol", "3", "--no-labels", "--out", str(out)]) == 0
    frames = _frames(out)
    assert len(frames) == 12 and frames[0].shape == (2 + 30, 2 + 3 * 30)  # one row of three 28-px tiles, 2-px pads
    labelled = tmp_path / "labelled.gif"
    assert entry.main(["timeline", str(run.path), "--z", str(z), "--ncol", "3", "--out", str(labelled)]) == 0
    assert _frames(labelled)[0].shape == (18 + 2 * 32, 2 * 92)  # scaled to >= 160 px wide, under an 18-px caption


def test_a_run_without_snapshots_says_so(tmp_path, tiny_dataset, capsys):
    old = _run(tmp_path, tiny_dataset, "old", steps=2, every=0)
    assert entry.main(["timeline", str(old.path), "--out", str(tmp_path / "x.gif")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "old has no training snapshots" in err
    assert not (tmp_path / "x.gif").exists()


def test_a_folder_that_is_no_run_says_so(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    assert entry.main(["timeline", str(tmp_path / "photos"), "--out", str(tmp_path / "x.gif")]) == 2
    assert "photos is not a run folder" in capsys.readouterr().err


def test_a_truncated_snapshot_is_skipped_with_a_note(run, tmp_path, capsys):
    bad = snapshot_path(run.snapshots, 12)
    bad.write_bytes(bad.read_bytes()[:-50])
    out = tmp_path / "t.gif"
    assert entry.main(["timeline", str(run.path), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    (note,) = [line for line in err.splitlines() if "note:" in line]
    assert "step_00000012.safetensors" in note and "truncated" in note
    assert len(_frames(out)) == 11


@pytest.mark.parametrize("args, message", [
    (["--out", "x.png"], "--out must end in .gif"),
    (["--random", "4", "--z", "z.npy", "--out", "x.gif"], "either --z Z.npy or --random N"),
    (["--random", "5000", "--out", "x.gif"], "at most 1,024 latents"),
    (["--z", "wide.npy", "--out", "x.gif"], "must be N x 2"),
    (["--z", "missing.npy", "--out", "x.gif"], "missing.npy"),
])
def test_bad_arguments_fail_in_one_line(run, tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "wide.npy", np.zeros((3, 5), np.float32))
    assert entry.main(["timeline", str(run.path), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err
