"""Every CLI failure is one line on stderr, a non-zero exit and no traceback, in the user's
words: hostile flags, hostile files, outputs too large to hold, and errors nobody expected."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save

from explorer.cli import main
from models.families.registry import build_model
from models.runs.checkpoint import save_checkpoint
from models.runs.run_dir import RunDir


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture
def ckpt(tmp_path) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "vae.safetensors", build_model("vae", latent_dim=3, hidden=8),
                           {"step": 2, "dataset": "shapes", "train_config": {"batch_size": 4, "log_every": 1}})


TRAIN = ["train", "--model", "vae", "--dataset", "shapes", "--image-size", "28", "--out", "run"]
FLAGS = [
    (TRAIN + ["--batch-size", "0"], "argument --batch-size: must be a positive integer, got '0'"),
    (TRAIN + ["--batch-size", "-8"], "argument --batch-size: must be a positive integer, got '-8'"),
    (TRAIN + ["--batch-size", "1e3"], "argument --batch-size: must be a positive integer, got '1e3'"),
    (TRAIN + ["--log-every", "0"], "argument --log-every: must be a positive integer, got '0'"),
    (TRAIN + ["--epochs", "inf"], "argument --epochs: must be a finite positive number, got 'inf'"),
    (TRAIN + ["--epochs", "0"], "argument --epochs: must be a finite positive number, got '0'"),
    (TRAIN + ["--epochs", "nan"], "argument --epochs: must be a finite positive number, got 'nan'"),
    (TRAIN + ["--epochs", "-1"], "argument --epochs: must be a finite positive number, got '-1'"),
    (TRAIN + ["--steps", "0"], "argument --steps: must be a positive integer, got '0'"),
    (TRAIN + ["--threads", "0"], "argument --threads: must be a positive integer, got '0'"),
    (TRAIN + ["--threads", "-2"], "argument --threads: must be a positive integer, got '-2'"),
    (TRAIN + ["--lr", "0"], "argument --lr: must be a finite positive number, got '0'"),
    (TRAIN + ["--lr", "nan"], "argument --lr: must be a finite positive number, got 'nan'"),
    (TRAIN + ["--lr", "1e999"], "argument --lr: must be a finite positive number, got '1e999'"),
    (TRAIN + ["--image-size", "-28"], "argument --image-size: must be a positive integer, got '-28'"),
    (TRAIN + ["--snapshot-every", "-1"], "argument --snapshot-every: must be a non-negative integer, got '-1'"),
    (TRAIN + ["--checkpoint-every", "-1"], "argument --checkpoint-every: must be a non-negative integer"),
    (TRAIN + ["--explode-factor", "-2"], "argument --explode-factor: must be a non-negative number, got '-2'"),
    (TRAIN + ["--score-samples", "-5"], "argument --score-samples: must be a non-negative integer"),
    (TRAIN + ["--seed", "1" * 30], "argument --seed: must be an integer of at most 18 digits"),
    (TRAIN + ["--hidden", "0"], "argument --hidden: must be a positive integer, got '0'"),
    (TRAIN + ["--latent-dim", "-2"], "argument --latent-dim: must be a positive integer, got '-2'"),
    (TRAIN + ["--beta", "nan"], "argument --beta: must be a finite number, got 'nan'"),
    (TRAIN + ["--sigma", "inf"], "argument --sigma: must be a finite number, got 'inf'"),
    (["eval", "x", "--n", "-1"], "argument --n: must be a non-negative integer, got '-1'"),
    (["sample", "x", "--out", "s.png", "--n", "0"], "argument --n: must be a positive integer, got '0'"),
    (["sample", "x", "--out", "s.png", "--truncation", "-1"], "argument --truncation: must be a finite positive number"),
    (["sample", "x", "--out", "s.png", "--continuous", "0.5,nan"], "argument --continuous: must be comma-separated finite numbers"),
    (["render-path", "x", "--random", "3", "--frames", "0", "--out", "a.gif"], "argument --frames: must be a positive integer"),
    (["render-path", "x", "--random", "3", "--fps", "0", "--out", "a.gif"], "argument --fps: must be a finite positive number"),
    (["traverse", "x", "--steps", "-3", "--out", "t.png"], "argument --steps: must be a positive integer, got '-3'"),
    (["traverse", "x", "--range", "inf", "--out", "t.png"], "argument --range: must be a finite positive number"),
]


@pytest.mark.parametrize("argv,message", FLAGS, ids=[" ".join(a[-2:]) for a, _ in FLAGS])
def test_bad_flag_values_are_a_usage_error_of_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert message in one_line(capsys)
    assert not (tmp_path / "run").exists()


def test_help_text_is_unchanged_by_the_value_types(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "--batch-size BATCH_SIZE" in out and "--latent-dim LATENT_DIM" in out and "--epochs EPOCHS" in out


def test_a_width_that_cannot_be_built_is_refused_before_allocating(tmp_path, capsys):
    t0 = time.perf_counter()
    assert main(["train", "--model", "vae", "--dataset", "shapes", "--image-size", "28", "--hidden", "1000000000",
                 "--steps", "1", "--out", str(tmp_path / "run")]) == 2
    assert time.perf_counter() - t0 < 5
    assert "--model vae: declares a model of" in one_line(capsys) and not (tmp_path / "run").exists()


def _rewrite(path: Path, **fields: str) -> Path:
    with safe_open(str(path), "pt") as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    meta.update(fields)
    out = path.with_name("hostile.safetensors")
    out.write_bytes(save(tensors, metadata=meta))
    return out


FILES = [
    ("step-string", {"train_state": '{"step": "abc"}'}, "train_state.step must be a non-negative integer, got 'abc'"),
    ("state-null", {"train_state": "null"}, "train_state must be an object, got null"),
    ("state-list", {"train_state": "[]"}, "train_state must be an object, got a list"),
    ("batch-0", {"train_state": '{"train_config": {"batch_size": 0}}'}, "train_config.batch_size must be a positive integer"),
    ("lr-string", {"train_state": '{"train_config": {"lr": "fast"}}'}, "train_config.lr must be a non-negative number or null"),
    ("optimizer-list", {"optimizers": '{"model": []}'}, "optimizers.model must be an object, got a list"),
    ("huge-width", {"model_config": '{"hidden": 1000000000, "latent_dim": 3}'}, "over the budget"),
    ("deep", {"train_state": "[" * 10_000 + "]" * 10_000}, "train_state nests 10000 levels deep"),
    ("overflow", {"model_config": '{"sigma": 1e400}'}, "model_config.sigma must be a finite number, got 1e400"),
]


@pytest.mark.parametrize("fields,message", [(f, m) for _, f, m in FILES], ids=[i for i, _, _ in FILES])
@pytest.mark.parametrize("command", ["sample", "eval", "traverse", "render-path", "train"])
def test_hostile_checkpoint_fields_are_one_line_in_every_command(ckpt, tmp_path, capsys, fields, message, command):
    bad = str(_rewrite(ckpt, **fields))
    argv = {"sample": ["sample", bad, "--out", str(tmp_path / "s.png")],
            "eval": ["eval", bad, "--json", "--n", "0"],
            "traverse": ["traverse", bad, "--out", str(tmp_path / "t.png")],
            "render-path": ["render-path", bad, "--random", "2", "--out", str(tmp_path / "a.gif")],
            "train": ["train", "--resume", bad, "--steps", "1", "--out", str(tmp_path / "cont")]}[command]
    assert main(argv) == 2
    err = one_line(capsys)
    assert "hostile.safetensors" in err and message in err, err


@pytest.mark.parametrize("command", ["sample", "eval", "traverse", "render-path", "train", "runs"])
def test_a_fifo_named_like_a_checkpoint_never_hangs_a_command(tmp_path, capsys, command, finishes):
    fifo = tmp_path / "x.safetensors"
    os.mkfifo(fifo)
    argv = {"sample": ["sample", str(fifo), "--out", str(tmp_path / "s.png")],
            "eval": ["eval", str(fifo), "--json"],
            "traverse": ["traverse", str(fifo), "--out", str(tmp_path / "t.png")],
            "render-path": ["render-path", str(fifo), "--random", "2", "--out", str(tmp_path / "a.gif")],
            "train": ["train", "--resume", str(fifo), "--steps", "1", "--out", str(tmp_path / "c")],
            "runs": ["runs", str(tmp_path)]}[command]
    rc = finishes(lambda: main(argv))
    if command == "runs":  # not a run folder: nothing to list, and nothing opened
        assert rc == 0
        return
    assert rc == 2 and "x.safetensors: is not a regular file" in one_line(capsys)


def test_a_path_file_that_is_a_fifo_never_hangs_render_path(ckpt, tmp_path, capsys, finishes):
    fifo = tmp_path / "p.json"
    os.mkfifo(fifo)
    assert finishes(lambda: main(["render-path", str(ckpt), str(fifo), "--out", str(tmp_path / "a.gif")])) == 2
    assert "p.json: is not a regular file" in one_line(capsys)


def test_a_file_that_exists_but_cannot_be_read_is_not_called_missing(ckpt, capsys, tmp_path, monkeypatch):
    real = os.stat

    def denied(p, *a, **k):
        if str(p) == str(ckpt):
            raise PermissionError(13, "Permission denied", str(p))
        return real(p, *a, **k)

    monkeypatch.setattr(os, "stat", denied)
    assert main(["sample", str(ckpt), "--out", str(tmp_path / "s.png")]) == 2
    err = one_line(capsys)
    assert "vae.safetensors: the checkpoint is not readable: permission denied" in err and "No such file" not in err


BIG = [
    (["sample", "{ck}", "--n", "100000000", "--out", "{tmp}/s.npy"], "100,000,000 samples is too many"),
    (["sample", "{ck}", "--n", "100001", "--out", "{tmp}/s.png"], "100,001 samples is too many"),
    (["render-path", "{ck}", "--random", "3", "--frames", "100000000", "--out", "{tmp}/a.gif"], "100,000,000 frames is too many"),
    (["render-path", "{ck}", "--random", "1000000", "--out", "{tmp}/a.gif"], "--random: at most 100,000 keyframes"),
    (["traverse", "{ck}", "--steps", "100000000", "--out", "{tmp}/t.png"], "traversal images is too many"),
]


@pytest.mark.parametrize("argv,message", BIG, ids=[a[0] + " " + a[-4] for a, _ in BIG])
def test_outputs_too_large_to_hold_are_refused_before_decoding(ckpt, tmp_path, capsys, argv, message):
    import models.runs.model_budget as budget

    argv = [a.format(ck=ckpt, tmp=tmp_path) for a in argv]
    t0 = time.perf_counter()
    assert main(argv) == 2
    assert time.perf_counter() - t0 < 5 and message in one_line(capsys)
    assert not any(tmp_path.glob("[sat].*"))
    assert budget.MAX_PARAMETERS  # the budget module is what bounds models; outputs are bounded by render's


def test_runs_json_is_strict_json_even_for_nan_losses(tmp_path, capsys):
    run = RunDir(tmp_path / "r").create()
    m = build_model("ae", latent_dim=2, hidden=8)
    run.save(m, {"step": 1, "train_config": {"batch_size": 4, "log_every": 1}}, score=1.0)
    with open(run.metrics_path, "w") as f:  # an older writer's bare NaN and Infinity
        f.write('{"step": 1, "total": NaN, "kl": Infinity}\n')
    run.eval_path.write_text('{"test_loss": NaN}')
    assert main(["runs", str(tmp_path), "--json"]) == 0
    record = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"bare {c} printed"))
    assert record["last"] == {"total": None, "kl": None} and record["eval"] == {"test_loss": None}


def test_eval_json_is_strict_json(ckpt, capsys, monkeypatch):
    import models.metrics.report as report

    monkeypatch.setattr(report, "evaluate_model", lambda *a, **k: {"family": "vae", "dataset": "shapes",
                                                                   "test_loss": float("nan"), "kl": float("inf")})
    assert main(["eval", str(ckpt), "--json", "--n", "0"]) == 0
    out = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"bare {c} printed"))
    assert out["test_loss"] is None and out["kl"] is None


@pytest.mark.parametrize("error,words", [
    (RuntimeError("[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: not enough memory: you tried to "
                  "allocate 1600000000000 bytes."), "not enough memory for this"),
    (MemoryError(), "not enough memory for this"),
    (PermissionError(13, "Permission denied", "/data/x.png"), "x.png: permission denied"),
    (OSError(28, "No space left on device", "/data/z.npy"), "z.npy: the disk is full"),
    (FileNotFoundError(2, "No such file or directory", "/data/y.png"), "y.png: no such file"),
])
def test_errors_are_told_in_the_users_words(ckpt, tmp_path, capsys, monkeypatch, error, words):
    from explorer.cli import sample

    def fail(args):
        raise error

    monkeypatch.setattr(sample, "run", fail)
    assert main(["sample", str(ckpt), "--out", str(tmp_path / "s.png")]) == 2
    err = one_line(capsys)
    assert words in err and "enforce fail" not in err and "Errno" not in err


def test_an_unexpected_error_is_one_line_too_with_a_way_to_the_traceback(ckpt, tmp_path, capsys, monkeypatch):
    from explorer.cli import sample

    monkeypatch.setattr(sample, "run", lambda args: {}["missing"])
    assert main(["sample", str(ckpt), "--out", str(tmp_path / "s.png")]) == 1
    err = one_line(capsys)
    assert "unexpected error (KeyError: 'missing')" in err and "LATENT_EXPLORER_DEBUG=1" in err
    monkeypatch.setenv("LATENT_EXPLORER_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["sample", str(ckpt), "--out", str(tmp_path / "s.png")])
