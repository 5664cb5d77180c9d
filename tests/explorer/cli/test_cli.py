"""The headless CLI end to end (in-process: explorer.cli imports no Qt)."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.cli import main
from models.runs.checkpoint import load_checkpoint
from models.runs.run_dir import RunDir


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    rc = main(["train", "--model", "vae", "--dataset", "shapes", "--image-size", "28", "--steps", "30",
               "--batch-size", "32", "--latent-dim", "4", "--hidden", "32", "--log-every", "10", "--out", str(out)])
    assert rc == 0
    return out


def test_train_writes_a_run_folder(shapes_run):
    assert (shapes_run / "config.json").exists() and (shapes_run / "metrics.jsonl").exists()
    ck = load_checkpoint(shapes_run)
    assert ck.model.family == "vae" and ck.model.config.latent_dim == 4 and ck.train_state["step"] == 30
    assert ck.train_state["dataset"] == "shapes"


def test_eval_json(shapes_run, capsys):
    assert main(["eval", str(shapes_run), "--json", "--n", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"test_loss", "recon_bce", "kl", "recon_mse", "active_units"} <= set(out)
    assert out["test_loss"] == pytest.approx(out["recon_bce"] + out["kl"])
    assert "inception_score" not in out  # --n 0: no sample scores
    # without --json: one figure per line, rounded for a person
    assert main(["eval", str(shapes_run), "--n", "0"]) == 0
    lines = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in capsys.readouterr().out.splitlines())}
    assert float(lines["test_loss"]) == pytest.approx(out["test_loss"], rel=1e-3)
    assert len(lines["test_loss"]) <= 8  # 4 significant digits, not 16


def test_eval_records_its_figures_in_the_run_for_the_run_browser(shapes_run, capsys, tmp_path):
    from models.runs.listing import summarize_run

    assert main(["eval", str(shapes_run), "--json", "--n", "0", "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    recorded = json.loads((shapes_run / "eval.json").read_text())
    assert recorded["test_loss"] == out["test_loss"] and recorded["seed"] == 3
    assert recorded["checkpoint"] in ("best.safetensors", "latest.safetensors") and "evaluated" in recorded
    assert summarize_run(shapes_run).headline == f"test_loss {out['test_loss']:.1f}"

    # a loose checkpoint file (not in a run folder) is evaluated, and nothing is written beside it
    loose = tmp_path / "loose.safetensors"
    loose.write_bytes((shapes_run / "checkpoints" / "latest.safetensors").read_bytes())
    assert main(["eval", str(loose), "--json", "--n", "0"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loose.safetensors"]


@pytest.mark.parametrize("family", ["vae", "aae"])
def test_eval_scores_prior_samples_of_vaes_and_aaes(family, tmp_path, monkeypatch, capsys):
    """VAEs and AAEs are generators too: eval scores their prior samples on the same scale as
    the GANs' (the dataset's classifier), next to the reconstruction figures."""
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path / "cache"))  # the classifier cache
    rng = np.random.default_rng(0)
    for label, (r0, r1) in {"bars": (4, 24), "blobs": (10, 18)}.items():
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(24):
            a = np.zeros((28, 28), np.uint8)
            a[r0:r1, 10 + i % 4: 18 - i % 4] = 255
            Image.fromarray(np.clip(a + rng.integers(0, 40, a.shape), 0, 255).astype(np.uint8)).save(
                tmp_path / "imgs" / label / f"{i}.png")
    run = tmp_path / "run"
    flags = {"vae": ["--latent-dim", "2"], "aae": ["--latent-dim", "2"]}[family]
    assert main(["train", "--model", family, "--dataset", "folder", "--data-dir", str(tmp_path / "imgs"),
                 "--image-size", "28", "--steps", "6", "--batch-size", "16", "--hidden", "16", *flags,
                 "--out", str(run)]) == 0
    capsys.readouterr()
    # unasked, a VAE's eval does not train a classifier (minutes on a CPU for 64x64 sets)
    assert main(["eval", str(run), "--json"]) == 0  # the folder is found from the run
    out = json.loads(capsys.readouterr().out)
    assert out["test_loss"] > 0 and "inception_score" not in out and "--n 10000" in out["sample_note"]
    assert main(["eval", str(run), "--json", "--n", "300"]) == 0  # asked: trains it, once
    printed = capsys.readouterr()
    out = json.loads(printed.out)
    # minutes on a CPU for real data: said on stderr, with the steps, so it does not look hung
    assert "training the folder classifier" in printed.err and "classifier: test accuracy" in printed.err
    assert "classifier: step" in printed.err
    assert out["test_loss"] > 0 and out["n"] == 300
    assert 1.0 <= out["inception_score"] <= 2.0 + 1e-6  # two classes
    assert out["classifier_fid"] >= 0 and out["class_coverage"] in (0.5, 1.0)
    assert "prior" in out["sample_note"]
    assert main(["eval", str(run), "--json"]) == 0  # cached now: scored by default
    printed = capsys.readouterr()
    assert json.loads(printed.out)["n"] == 10000 and "classifier" not in printed.err


def test_sample_npy_and_png(shapes_run, tmp_path):
    assert main(["sample", str(shapes_run), "--n", "6", "--out", str(tmp_path / "s.npy")]) == 0
    a = np.load(tmp_path / "s.npy")
    assert a.shape == (6, 1, 28, 28) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert main(["sample", str(shapes_run), "--n", "9", "--out", str(tmp_path / "s.png")]) == 0
    assert Image.open(tmp_path / "s.png").size[0] > 3 * 28


def test_mnist_eval_matches_classic_metric_on_real_data(tmp_path, mnist_dir, capsys):
    out = tmp_path / "m"
    assert main(["train", "--model", "ae", "--dataset", "mnist", "--data-dir", str(mnist_dir), "--steps", "5",
                 "--latent-dim", "2", "--hidden", "16", "--out", str(out)]) == 0
    capsys.readouterr()
    # the run records where its files were, so the window finds its test images later
    recorded = load_checkpoint(out).train_state["data_dir"]
    assert Path(recorded).resolve().is_relative_to(Path(mnist_dir).resolve())
    assert main(["eval", str(out), "--data-dir", str(mnist_dir), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) >= {"recon_bce", "recon_mse"} and "test_loss" not in res
    assert "inception_score" not in res  # a plain AE has no prior to sample


@pytest.mark.parametrize("argv,needle", [
    (["train", "--model", "nope", "--out", "x"], "invalid choice"),
    (["eval", "/no/such/run", "--json"], "no such file"),
    (["train", "--model", "vae", "--dataset", "mnist", "--data-dir", "/no/where", "--no-download", "--out", "x"], "mnist"),
    (["train", "--model", "vae", "--device", "cuda", "--steps", "1", "--out", "x"], "CUDA"),
])
def test_failures_are_one_line_no_traceback(argv, needle, capsys, tmp_path, monkeypatch):
    import torch

    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("has a GPU")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) if argv[2] == "nope" else _nothing():
        rc = main(argv)
        assert rc != 0
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_corrupt_checkpoint_is_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    assert main(["sample", str(bad), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "corrupt or truncated" in err and len(err.strip().splitlines()) == 1


def test_model_flags_are_documented_from_the_configs(capsys):
    """--help explains each family flag with its config's own comment, who takes it, and
    its default (or that families differ)."""
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--adv-weight ADV_WEIGHT weight of the encoder's adversarial term -log D(q(x)), added to its" in out
    assert "[aae; default 1.0]" in out  # long docs are cut at a word, with an ellipsis, before the owners
    assert "[gan, dcgan, wgan-gp, infogan, pggan, cgan; default per family]" in out  # z_dim: 100, 100, 128, 62, 128, 100
    assert "(families that have it)" not in out


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_resume_continues_the_run(shapes_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "resumed"
    shutil.copytree(shapes_run, run)
    before = load_checkpoint(run / "checkpoints" / "latest.safetensors")
    assert main(["train", "--resume", str(run), "--steps", "10", "--batch-size", "32"]) == 0
    after = load_checkpoint(run / "checkpoints" / "latest.safetensors")
    assert after.train_state["step"] == before.train_state["step"] + 10
    # Adam's moments carried over: its step count went on from 30 instead of restarting
    (adam_steps,) = {float(st["step"]) for st in after.optimizer_state["model"]["state"].values()}
    assert adam_steps == before.train_state["step"] + 10
    assert after.model.config == before.model.config
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 40 and steps == sorted(steps)
    # resuming with model flags is refused: the run's own model continues
    assert main(["train", "--resume", str(run), "--latent-dim", "3", "--steps", "1"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_resume_keeps_the_runs_training_settings_unless_given(shapes_run, tmp_path):
    import shutil

    run = tmp_path / "resumed"
    shutil.copytree(shapes_run, run)  # trained with --batch-size 32 --log-every 10
    assert main(["train", "--resume", str(run), "--steps", "4", "--lr", "5e-4"]) == 0
    cfg = load_checkpoint(run).train_state["train_config"]
    assert (cfg["batch_size"], cfg["log_every"], cfg["lr"]) == (32, 10, 5e-4)
    # the epoch count goes on at the run's own batch size (30 + 4 steps of 32 images)
    n = len_shapes_train()
    assert load_checkpoint(run).train_state["epoch"] == pytest.approx(34 / (n // 32))
    assert main(["train", "--resume", str(run), "--steps", "2", "--batch-size", "16"]) == 0
    cfg = load_checkpoint(run).train_state["train_config"]
    assert (cfg["batch_size"], cfg["log_every"], cfg["lr"]) == (16, 10, 5e-4)
    # a new batch size counts on from the epochs already done (not 36 steps of 16 images)
    assert load_checkpoint(run).train_state["epoch"] == pytest.approx(34 / (n // 32) + 2 / (n // 16))


def len_shapes_train() -> int:
    from explorer.cli.inputs import load_data

    return len(load_data("shapes", None, 28, 1, True, quiet=True).train)


def test_resume_may_switch_on_the_generator_average(tmp_path, capsys):
    run = tmp_path / "dcgan"
    small = ["--z-dim", "8", "--g-channels", "4", "--d-channels", "4", "--fc-hidden", "32", "--batch-size", "16", "--log-every", "5"]
    assert main(["train", "--model", "dcgan", "--dataset", "shapes", "--image-size", "28", "--steps", "10", *small,
                 "--ema", "0", "--out", str(run)]) == 0
    before = load_checkpoint(run / "checkpoints" / "latest.safetensors")
    assert before.model.config.ema == 0.0 and before.model.generator_ema is None
    assert main(["train", "--resume", str(run), "--steps", "5", "--batch-size", "16", "--ema", "0.99"]) == 0
    after = load_checkpoint(run / "checkpoints" / "latest.safetensors")
    assert after.train_state["step"] == 15 and after.model.config.ema == 0.99
    assert int(after.model.generator_ema.n_averaged) == 5  # started at the resumed weights, one update per step
    g = after.model.generator.state_dict()
    avg = after.model.generator_ema.module.state_dict()
    assert any(not np.allclose(avg[k].numpy(), g[k].numpy()) for k in g if g[k].is_floating_point())
    # the other model flags stay refused
    assert main(["train", "--resume", str(run), "--z-dim", "4", "--steps", "1"]) == 2
    assert "only --ema" in capsys.readouterr().err


def test_runs_lists_the_run_folders_with_their_last_eval(shapes_run, capsys, tmp_path):
    assert main(["eval", str(shapes_run), "--json", "--n", "0"]) == 0
    loss = json.loads(capsys.readouterr().out)["test_loss"]
    assert main(["runs", str(shapes_run.parent)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["run", "family", "dataset", "steps"]
    assert lines[1].split()[:4] == ["run", "vae", "shapes", "30"] and f"test_loss {loss:.1f}" in lines[1]
    assert main(["runs", str(shapes_run.parent), "--json"]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["step"] == 30 and record["eval"]["test_loss"] == loss and record["problem"] is None
    assert main(["runs", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_wgan_gp_trains_with_the_papers_batch_by_default(tmp_path):
    """64 real images per critic update, as in the paper: the step's batch is 64 x n_critic."""
    run = tmp_path / "w"
    assert main(["train", "--model", "wgan-gp", "--dataset", "shapes", "--image-size", "28", "--steps", "1",
                 "--n-critic", "3", "--g-channels", "8", "--d-channels", "8", "--fc-hidden", "16", "--out", str(run)]) == 0
    assert json.loads((run / "config.json").read_text())["train_config"]["batch_size"] == 192  # 64 x 3
    assert main(["train", "--model", "wgan-gp", "--dataset", "shapes", "--image-size", "28", "--steps", "1",
                 "--batch-size", "32", "--g-channels", "8", "--d-channels", "8", "--fc-hidden", "16",
                 "--out", str(tmp_path / "w2")]) == 0
    assert json.loads((tmp_path / "w2" / "config.json").read_text())["train_config"]["batch_size"] == 32


def _labelled_folder(root, n=24):
    rng = np.random.default_rng(0)
    for label, (r0, r1) in {"bars": (4, 24), "blobs": (10, 18)}.items():
        (root / label).mkdir(parents=True)
        for i in range(n):
            a = np.zeros((28, 28), np.uint8)
            a[r0:r1, 10 + i % 4: 18 - i % 4] = 255
            Image.fromarray(np.clip(a + rng.integers(0, 40, a.shape), 0, 255).astype(np.uint8)).save(root / label / f"{i}.png")
    return root


def test_train_scores_a_gans_samples_at_its_checkpoints(tmp_path, monkeypatch, capsys):
    from models.runs.checkpoint import checkpoint_state

    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path / "cache"))  # no classifier cached yet
    data = _labelled_folder(tmp_path / "imgs")
    common = ["train", "--model", "gan", "--dataset", "folder", "--data-dir", str(data), "--image-size", "28",
              "--z-dim", "4", "--batch-size", "16", "--steps", "6"]
    assert main([*common, "--out", str(tmp_path / "off")]) == 0  # default without a cached classifier: off
    assert not any("val_sample_is" in r for r in RunDir(tmp_path / "off").read_metrics())
    capsys.readouterr()

    assert main([*common, "--score-samples", "100", "--out", str(tmp_path / "on")]) == 0  # asked: trains it
    err = capsys.readouterr().err
    assert "training the folder classifier" in err and "scoring 100 samples at every checkpoint" in err
    assert err.splitlines()[0].startswith("training gan on folder")  # the first line stays first
    run = RunDir(tmp_path / "on")
    scored = [r for r in run.read_metrics() if "val_sample_fid" in r]
    assert scored and all(1.0 <= r["val_sample_is"] <= 2.0 + 1e-6 for r in scored)  # two classes
    assert checkpoint_state(run.best)["best_score"] == min(r["val_sample_fid"] for r in scored)

    assert main([*common, "--out", str(tmp_path / "auto")]) == 0  # cached now: a GAN is scored by default
    assert any("val_sample_is" in r for r in RunDir(tmp_path / "auto").read_metrics())
    assert main(["train", "--model", "ae", "--dataset", "folder", "--data-dir", str(data), "--image-size", "28",
                 "--steps", "2", "--score-samples", "50", "--out", str(tmp_path / "ae")]) == 2  # no prior
    assert "has no prior" in capsys.readouterr().err


def test_a_short_run_leaves_its_final_samples_for_the_run_browser(shapes_run):
    """30 steps, snapshots every 1000: the final step's grid is written all the same."""
    assert RunDir(shapes_run).newest_samples() == shapes_run / "samples" / "step_00000030.png"


def test_resume_of_a_loose_checkpoint_asks_for_a_new_folder(shapes_run, tmp_path, capsys):
    loose = tmp_path / "loose.safetensors"
    loose.write_bytes((shapes_run / "checkpoints" / "latest.safetensors").read_bytes())
    # a checkpoint file is no run folder to write the continuation into
    assert main(["train", "--resume", str(loose), "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert "not in a run folder" in err and "--out" in err and len(err.strip().splitlines()) == 1
    assert loose.is_file()
    out = tmp_path / "continued"
    assert main(["train", "--resume", str(loose), "--steps", "2", "--out", str(out)]) == 0
    after = load_checkpoint(out / "checkpoints" / "latest.safetensors")
    assert after.train_state["step"] == 32
    assert {float(st["step"]) for st in after.optimizer_state["model"]["state"].values()} == {32.0}  # the file's moments
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()][-1] == 32


def test_resume_of_an_older_checkpoint_branches_into_a_new_folder(shapes_run, tmp_path, capsys):
    import shutil

    from models.runs.checkpoint import save_checkpoint

    run = tmp_path / "run"
    shutil.copytree(shapes_run, run)
    ck = load_checkpoint(run / "checkpoints" / "latest.safetensors")
    older = save_checkpoint(run / "checkpoints" / "best.safetensors", ck.model, {**ck.train_state, "step": 20})
    metrics_before = (run / "metrics.jsonl").read_text()
    assert main(["train", "--resume", str(older), "--steps", "2"]) == 2
    assert "behind its run's latest checkpoint" in capsys.readouterr().err
    assert main(["train", "--resume", str(older), "--steps", "2", "--out", str(run)]) == 2  # would rewind latest
    assert main(["train", "--resume", str(older), "--steps", "2", "--out", str(tmp_path / "branch")]) == 0
    assert load_checkpoint(tmp_path / "branch").train_state["step"] == 22
    assert load_checkpoint(run / "checkpoints" / "latest.safetensors").train_state["step"] == 30  # untouched
    assert (run / "metrics.jsonl").read_text() == metrics_before
