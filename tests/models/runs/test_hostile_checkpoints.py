"""Hostile, corrupt and foreign checkpoints: one clear CheckpointError naming the file and
the field, in bounded time and memory, and nothing built that the budget refuses.

Each hostile file is made here from a tiny real checkpoint with one metadata field
rewritten; one parametrized case per input."""
from __future__ import annotations

import json
import os
import resource
import time

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save, save_file

from models.families.registry import build_model
from models.runs import checkpoint as checkpoint_module
from models.runs.checkpoint import (CheckpointError, checkpoint_state, load_checkpoint, load_optimizer_state,
                                    save_checkpoint)
from models.runs.model_budget import MAX_PARAMETERS, ModelTooLarge, build_within_budget, check_budget, meta_model


@pytest.fixture
def good(tmp_path):
    """A tiny VAE checkpoint with a train state and Adam's moments, as a run's latest has."""
    m = build_model("vae", latent_dim=2, hidden=8)
    opt = m.configure_optimizers(1e-3)
    m.training_step(torch.rand(4, 1, 28, 28), opt)
    state = {"step": 3, "epoch": 0.5, "seconds": 1.0, "dataset": "shapes", "data_dir": None,
             "image_shape": [1, 28, 28], "train_config": {"batch_size": 4, "log_every": 1, "lr": None},
             "validation": {"total": 1.0}}
    return save_checkpoint(tmp_path / "run.safetensors", m, state, opt)


def rewrite(path, **fields):
    """The checkpoint at ``path`` with metadata fields replaced (None: removed)."""
    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    for k, v in fields.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    out = path.with_name("hostile.safetensors")
    out.write_bytes(save(tensors, metadata=meta))
    return out


def _state(**changes):
    base = {"step": 3, "epoch": 0.5, "dataset": "shapes", "train_config": {"batch_size": 4, "log_every": 1}}
    base.update(changes)
    return json.dumps(base)


TRAIN_STATE = [
    ("null", "null", "train_state must be an object, got null"),
    ("list", "[1, 2]", "train_state must be an object, got a list of 2 values"),
    ("string", '"hello"', "train_state must be an object, got 'hello'"),
    ("step-string", _state(step="abc"), "train_state.step must be a non-negative integer, got 'abc'"),
    ("step-float", _state(step=2.5), "train_state.step must be a non-negative integer, got 2.5"),
    ("step-negative", _state(step=-4), "train_state.step must be a non-negative integer, got -4"),
    ("step-huge", '{"step": 1e400}', "train_state.step must be a non-negative integer, got a number too large for a float"),
    ("epoch-string", _state(epoch="one"), "train_state.epoch must be a non-negative number or null, got 'one'"),
    ("seconds-list", _state(seconds=[1]), "train_state.seconds must be a non-negative number or null, got a list"),
    ("dataset-number", _state(dataset=5), "train_state.dataset must be a string"),
    ("data-dir-object", _state(data_dir={}), "train_state.data_dir must be a string or null, got an object"),
    ("image-shape", _state(image_shape=[1, 28]), "train_state.image_shape must be a list of 3 values"),
    ("train-config-null", _state(train_config=None), "train_state.train_config must be an object, got null"),
    ("train-config-list", _state(train_config=[128]), "train_state.train_config must be an object, got a list"),
    ("batch-size-0", _state(train_config={"batch_size": 0}), "train_state.train_config.batch_size must be a positive integer, got 0"),
    ("log-every-0", _state(train_config={"log_every": 0}), "train_state.train_config.log_every must be a positive integer, got 0"),
    ("lr-string", _state(train_config={"lr": "0.001"}), "train_state.train_config.lr must be a non-negative number or null, got '0.001'"),
    ("lr-negative", _state(train_config={"lr": -1}), "train_state.train_config.lr must be a non-negative number or null, got -1"),
    ("epochs-string", _state(train_config={"epochs": "10"}), "train_state.train_config.epochs must be"),
    ("snapshot-negative", _state(train_config={"snapshot_every": -5}), "train_state.train_config.snapshot_every must be a non-negative integer"),
    ("lr-decay-unknown", _state(train_config={"lr_decay": "exponential"}), "train_state.train_config.lr_decay must be one of 'none', 'linear', 'cosine'"),
    ("validation-list", _state(validation=[1]), "train_state.validation must be an object or null"),
    ("validation-string", _state(validation={"total": "low"}), "train_state.validation.total must be a number or null, got 'low'"),
    ("best-score-string", _state(best_score="5"), "train_state.best_score must be a number, got '5'"),
    ("deep", '{"a":' * 100 + "1" + "}" * 100, "train_state nests 100 levels deep"),
    ("not-json", "{step: 3}", "train_state is not valid JSON"),
]


def _config(**changes):
    base = {"arch": "mlp", "latent_dim": 2, "hidden": 8, "image_shape": [1, 28, 28], "likelihood": "bernoulli"}
    base.update(changes)
    return json.dumps(base)


MODEL_CONFIG = [
    ("list", "[1]", "model_config must be an object, got a list"),
    ("null", "null", "model_config must be an object, got null"),
    ("hidden-string", _config(hidden="8"), "model_config.hidden must be a positive integer, got '8'"),
    ("hidden-zero", _config(hidden=0), "model_config.hidden must be a positive integer, got 0"),
    ("hidden-negative", _config(hidden=-8), "model_config.hidden must be a positive integer, got -8"),
    ("latent-float", _config(latent_dim=2.0), "model_config.latent_dim must be a positive integer, got 2.0"),
    ("image-shape-short", _config(image_shape=[28, 28]), "model_config.image_shape must be a list of 3 values"),
    ("image-shape-zero", _config(image_shape=[1, 0, 28]), "model_config.image_shape[1] must be an integer from 1 to 4096"),
    ("lr-string", _config(lr="1e-3"), "model_config.lr must be a non-negative number, got '1e-3'"),
    ("beta-nan", '{"beta": NaN}', "model_config.beta must be a finite number, got NaN"),
    ("sigma-overflow", '{"sigma": 1e999}', "model_config.sigma must be a finite number, got 1e999"),
    ("arch-list", _config(arch=["mlp"]), "model_config.arch must be a string"),
    ("unknown-field", _config(wings=2), "unknown VAEConfig fields: wings"),
    ("arch-unknown", _config(arch="transformer"), "cannot rebuild the model"),
    ("hidden-huge", _config(hidden=10**9), "over the budget"),
    ("image-huge", _config(image_shape=[3, 4096, 4096]), "images"),
]


OPTIMIZERS = [
    ("list", "[]", "optimizers must be an object, got a list"),
    ("entry-list", '{"model": [1]}', "optimizers.model must be an object, got a list"),
    ("no-groups", '{"model": {"scalars": {}}}', "optimizers.model.param_groups is missing"),
    ("groups-string", '{"model": {"param_groups": "all"}}', "optimizers.model.param_groups must be a list"),
    ("params-strings", '{"model": {"param_groups": [{"params": ["a"]}]}}', "optimizers.model.param_groups[0].params[0] must be a non-negative integer"),
    ("scalar-key", '{"model": {"param_groups": [{"params": [0]}], "scalars": {"x": {}}}}', "not a parameter index"),
    ("scalar-string", '{"model": {"param_groups": [{"params": [0]}], "scalars": {"0": {"step": "3"}}}}', "optimizers.model.scalars.0.step must be a number or null"),
    ("other-name", '{"other": {"param_groups": [{"params": [0]}]}}', "belongs to no optimizer"),
]


LATENT_SPEC = [
    ("list", "[3]", "latent_spec must be an object, got a list"),
    ("z-dim-string", '{"z_dim": "3"}', "latent_spec.z_dim must be a non-negative integer, got '3'"),
    ("categorical-zero", '{"categorical": [0]}', "latent_spec.categorical[0] must be a positive integer, got 0"),
    ("range-short", '{"z_range": [3]}', "latent_spec.z_range must be a list of 2 values"),
]


#: every metadata field's hostile values: (field, id, text, message)
METADATA = [(field, *case) for field, table in (("train_state", TRAIN_STATE), ("model_config", MODEL_CONFIG),
                                               ("optimizers", OPTIMIZERS), ("latent_spec", LATENT_SPEC))
            for case in table]
#: the cheap reads that the run listing and resume make of one field, which refuse it quietly
QUIET_READS = {"train_state": checkpoint_state, "optimizers": load_optimizer_state}


@pytest.mark.parametrize("field,text,message", [(f, t, m) for f, _, t, m in METADATA],
                         ids=[f"{f}-{i}" for f, i, _, _ in METADATA])
def test_a_metadata_field_of_the_wrong_type_is_one_clear_line(good, field, text, message, monkeypatch):
    bad = rewrite(good, **{field: text})
    monkeypatch.setattr(checkpoint_module, "build_model", lambda *a, **k: pytest.fail("a model was built"))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(bad)
    assert str(err.value).startswith("hostile.safetensors: ") and message in str(err.value), str(err.value)
    assert len(str(err.value).splitlines()) == 1
    if field in QUIET_READS:
        assert QUIET_READS[field](bad) is None


@pytest.mark.parametrize("family,message", [("nope", "unknown model 'nope'"), ("", "unknown model ''")])
def test_an_unknown_family_is_named(good, family, message):
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(rewrite(good, family=family))


def test_a_fifo_named_like_a_checkpoint_is_refused_at_once(tmp_path, finishes):
    fifo = tmp_path / "x.safetensors"
    os.mkfifo(fifo)
    for read in (load_checkpoint, checkpoint_state, load_optimizer_state):
        with pytest.raises(CheckpointError, match="x.safetensors: is not a regular file") if read is load_checkpoint \
                else _returns_none():
            assert finishes(lambda: read(fifo)) is None
    assert checkpoint_module.checkpoint_metadata(fifo) is None
    pt = tmp_path / "x.pt"
    os.mkfifo(pt)
    with pytest.raises(CheckpointError, match="x.pt: is not a regular file"):
        finishes(lambda: load_checkpoint(pt, allow_pickle=True))


class _returns_none:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


@pytest.mark.parametrize("make,message", [
    (lambda p: p.write_bytes(b""), "corrupt or truncated"),
    (lambda p: p.write_bytes(b"\xff" * 8 + b"{}"), "corrupt or truncated"),
    (lambda p: p.write_bytes((10**6).to_bytes(8, "little") + b'{"__metadata__": {}}'), "corrupt or truncated"),
    (lambda p: save_file({"w": torch.zeros(1)}, str(p), metadata={"format": "other"}), "not a Latent Explorer"),
])
def test_empty_garbled_and_foreign_files(tmp_path, make, message, finishes):
    p = tmp_path / "f.safetensors"
    make(p)
    with pytest.raises(CheckpointError, match=message):
        finishes(lambda: load_checkpoint(p))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_a_tiny_file_declaring_a_huge_width_fails_fast_without_allocating(good, monkeypatch):
    """1,340 bytes that declare a 10**9-wide hidden layer: refused from the meta build's count."""
    monkeypatch.setattr(checkpoint_module, "build_model", lambda *a, **k: pytest.fail("a model was built"))
    bad = rewrite(good, model_config=_config(hidden=10**9))
    before, t0 = _rss_mb(), time.perf_counter()
    with pytest.raises(CheckpointError, match=r"declares a model of [\d,]+ parameters .* over the budget"):
        load_checkpoint(bad)
    assert time.perf_counter() - t0 < 1.0
    assert _rss_mb() - before < 100
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 4 * 2**20  # KB: nowhere near the 6 TB declared


def test_a_width_within_budget_whose_tensors_do_not_fit_is_refused_from_the_header(good, monkeypatch):
    monkeypatch.setattr(checkpoint_module, "build_model", lambda *a, **k: pytest.fail("a model was built"))
    monkeypatch.setattr(checkpoint_module, "_read_tensors", lambda *a, **k: pytest.fail("tensors were read"))
    with pytest.raises(CheckpointError, match=r"weights do not match the model config \(.* is \[8, 784\] in the file"):
        load_checkpoint(rewrite(good, model_config=_config(hidden=100_000)))


def test_the_budget_is_exposed_for_builders_and_says_how_far_over(monkeypatch):
    assert check_budget(meta_model("vae", latent_dim=2, hidden=8)) > 0
    assert build_within_budget("vae", {"latent_dim": 2, "hidden": 8}).config.hidden == 8
    with pytest.raises(ModelTooLarge, match=f"over the budget of {MAX_PARAMETERS:,}"):
        build_within_budget("dcgan", {"g_channels": 100_000, "image_shape": (1, 64, 64)}, name="flags")
    import models.runs.model_budget as budget

    monkeypatch.setattr(budget, "available_memory", lambda: 1000)
    with pytest.raises(ModelTooLarge, match="this machine has 0.0 GB available"):
        check_budget(meta_model("vae", latent_dim=2, hidden=8), "small.safetensors")


def test_pickle_files_are_checked_like_safetensors(tmp_path):
    m = build_model("ae", latent_dim=2, hidden=8)
    for name, obj, message in [
        ("state-list", {"family": "ae", "model_config": m.config.to_dict(), "state_dict": m.state_dict(),
                        "train_state": [1]}, "train_state must be an object"),
        ("config-bad", {"family": "ae", "model_config": {**m.config.to_dict(), "hidden": "x"},
                        "state_dict": m.state_dict()}, "model_config.hidden must be a positive integer"),
        ("family-list", {"family": ["ae"], "model_config": {}, "state_dict": {}}, "family must be a string"),
        ("huge", {"family": "ae", "model_config": {**m.config.to_dict(), "hidden": 10**9}, "state_dict": {}},
         "over the budget"),
    ]:
        torch.save(obj, tmp_path / f"{name}.pt")
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(tmp_path / f"{name}.pt", allow_pickle=True)


def test_nan_in_an_older_train_state_still_opens_and_is_written_back_as_null(good, tmp_path):
    old = rewrite(good, train_state='{"step": 3, "validation": {"sample_fid": NaN}, "best_score": 1.5}')
    ck = load_checkpoint(old)
    assert ck.train_state["step"] == 3 and ck.train_state["validation"]["sample_fid"] != ck.train_state["validation"]["sample_fid"]
    again = save_checkpoint(tmp_path / "again.safetensors", ck.model, ck.train_state)
    with safe_open(str(again), "pt") as f:
        text = f.metadata()["train_state"]
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} written"))["validation"]["sample_fid"] is None
    assert load_checkpoint(again).train_state["validation"]["sample_fid"] is None


@pytest.mark.parametrize("settings,message", [
    ({"batch_size": 0}, "training settings: batch_size must be a positive integer, got 0"),
    ({"log_every": 0}, "training settings: log_every must be a positive integer, got 0"),
    ({"lr": "fast"}, "training settings: lr must be a non-negative number or null, got 'fast'"),
    ({"lr_decay": "exponential"}, "training settings: lr_decay must be one of 'none', 'linear', 'cosine', got 'exponential'"),
])
def test_training_settings_are_checked_by_the_same_rules_before_a_step(tiny_dataset, settings, message):
    from models.training.loop import TrainConfig, train

    with pytest.raises(ValueError) as err:
        next(train(build_model("ae", latent_dim=2, hidden=8), tiny_dataset, TrainConfig(steps=1, device="cpu", **settings)))
    assert str(err.value) == message
