"""The one validation layer: safe opening, bounded JSON, typed field checks.

Every hostile file here is made by the test in tmp_path; one parametrized case per input."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from models.io import files
from models.io.files import FileRefused, check_regular_file, open_regular, read_bytes, read_text
from models.io.json_io import MAX_DEPTH, dumps_json, nesting_depth, parse_json, read_json
from models.io.validate import (Bool, Int, InvalidField, ListOf, Number, Obj, Str, check, check_config,
                                config_schema)


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


# -- safe opening --------------------------------------------------------------------------
NOT_READABLE = [
    ("fifo", lambda p: _fifo(p), "not a regular file"),
    ("folder", lambda p: p.mkdir(), "is a folder"),
    ("missing", lambda p: None, "no such"),
]


@pytest.mark.parametrize("kind,make,reason", NOT_READABLE, ids=[k for k, _, _ in NOT_READABLE])
@pytest.mark.parametrize("reader", ["check", "open", "bytes", "text", "json"])
def test_non_regular_and_missing_files_are_refused_without_blocking(tmp_path, kind, make, reason, reader, finishes):
    path = tmp_path / "x.safetensors"
    make(path)
    call = {"check": lambda: check_regular_file(path, "checkpoint"),
            "open": lambda: open_regular(path).__enter__(),
            "bytes": lambda: read_bytes(path),
            "text": lambda: read_text(path),
            "json": lambda: read_json(path)}[reader]
    with pytest.raises(FileRefused, match=reason) as err:
        finishes(call)
    assert str(err.value).startswith("x.safetensors: ") and err.value.path == path


def test_a_file_that_exists_but_cannot_be_read_says_permission_denied(tmp_path, monkeypatch):
    path = tmp_path / "locked.json"
    path.write_text("{}")
    real = os.stat

    def denied(p, *a, **k):
        if Path(p) == path:
            raise PermissionError(13, "Permission denied", str(p))
        return real(p, *a, **k)

    monkeypatch.setattr(os, "stat", denied)
    with pytest.raises(FileRefused, match="not readable: permission denied"):
        read_json(path, "settings file")


def test_open_that_fails_after_stat_is_described_too(tmp_path, monkeypatch):
    path = tmp_path / "a.json"
    path.write_text("{}")
    monkeypatch.setattr(os, "open", lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
    with pytest.raises(FileRefused, match="a.json: the file is not readable: permission denied"):
        read_bytes(path)


def test_a_fifo_swapped_in_after_the_stat_is_caught_by_fstat(tmp_path, monkeypatch, finishes):
    fifo = _fifo(tmp_path / "swap.json")
    regular = os.stat(tmp_path)  # any stat result passes the first check once S_ISREG is faked below
    monkeypatch.setattr(files, "check_regular_file", lambda *a, **k: regular)
    with pytest.raises(FileRefused, match="not a regular file"):
        finishes(lambda: read_bytes(fifo))


@pytest.mark.parametrize("size,cap", [(101, 100), (10_000, 1_000)])
def test_files_over_their_kinds_cap_are_refused_before_reading(tmp_path, size, cap):
    path = tmp_path / "big.json"
    path.write_bytes(b" " * size)
    with pytest.raises(FileRefused, match="big.json: is .* over"):
        read_bytes(path, "path file", cap)


def test_text_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "bin.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(FileRefused, match="bin.json: is not a text file"):
        read_text(path)


# -- bounded JSON --------------------------------------------------------------------------
HOSTILE_JSON = [
    ("deep-arrays", "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nests 65 levels deep"),
    ("deep-objects", '{"a":' * 10_000 + "1" + "}" * 10_000, "nests 10000 levels deep"),
    ("million-deep", "[" * 1_000_000, "nests 1000000 levels deep"),
    ("overflow", '{"lr": 1e400}', r"lr must be a finite number, got 1e400 \(too large for a float\)"),
    ("negative-overflow", '{"a": {"b": [0, -2e308]}}', r"a.b\[1\] must be a finite number, got -2e308"),
    ("nan", '{"step": NaN}', "step must be a finite number, got NaN"),
    ("infinity", '[1, Infinity]', r"\[1\] must be a finite number, got Infinity"),
    ("minus-infinity", '{"x": -Infinity}', "x must be a finite number, got -Infinity"),
    ("huge-integer", '{"n": ' + "9" * 5000 + "}", "number too long"),
    ("not-json", "{nope", "is not valid JSON"),
    ("empty", "", "is not valid JSON"),
    ("truncated", '{"step": 1, "epoch"', "is not valid JSON"),
]


@pytest.mark.parametrize("text,match", [(t, m) for _, t, m in HOSTILE_JSON], ids=[i for i, _, _ in HOSTILE_JSON])
def test_hostile_json_is_refused_with_the_file_and_field_named(tmp_path, text, match, finishes):
    path = tmp_path / "state.json"
    path.write_text(text)
    with pytest.raises(FileRefused, match=match) as err:
        finishes(lambda: read_json(path))
    assert str(err.value).startswith("state.json: ") and len(str(err.value).splitlines()) == 1


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"cli": "[" * 1000, "note": '{"quoted \\" [[['})
    assert nesting_depth(text.encode()) == 1
    assert parse_json(text, "f.json")["cli"] == "[" * 1000


def test_nonfinite_may_be_kept_where_a_file_may_hold_them():
    value = parse_json('{"validation": {"fid": NaN, "big": 1e999}}', "ck.safetensors", nonfinite="keep")
    assert value["validation"]["fid"] != value["validation"]["fid"] and value["validation"]["big"] == float("inf")
    assert type(value["validation"]["big"]) is float  # no marker type leaks out


def test_a_field_of_a_file_is_named_in_the_message():
    with pytest.raises(FileRefused, match=r"run.safetensors: train_state.lr must be a finite number, got 1e400"):
        parse_json('{"lr": 1e400}', "/runs/a/run.safetensors", field="train_state")


def test_what_the_app_writes_is_strict_json():
    text = dumps_json({"loss": float("nan"), "best": float("inf"), "terms": [float("-inf"), 1.5], "n": (1, 2)})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} written")) == \
        {"loss": None, "best": None, "terms": [None, 1.5], "n": [1, 2]}


# -- typed field checks --------------------------------------------------------------------
SCHEMA = Obj({"step": Int(lo=0), "batch_size": Int(lo=1), "lr": Number(lo=0, optional=True),
              "name": Str(choices=("none", "linear")), "flag": Bool(), "shape": ListOf(Int(lo=1), length=3),
              "nested": Obj({"fps": Number(positive=True)})}, required=("step",))
WRONG = [
    ({"step": "abc"}, "train_state.step must be a non-negative integer, got 'abc'"),
    ({"step": -1}, "train_state.step must be a non-negative integer, got -1"),
    ({"step": 1.5}, "train_state.step must be a non-negative integer, got 1.5"),
    ({"step": True}, "train_state.step must be a non-negative integer, got true"),
    ({"step": None}, "train_state.step must be a non-negative integer, got null"),
    ({"step": 10**30}, "train_state.step must be a non-negative integer"),
    ({"step": 1, "batch_size": 0}, "train_state.batch_size must be a positive integer, got 0"),
    ({"step": 1, "lr": "1e-3"}, "train_state.lr must be a non-negative number or null, got '1e-3'"),
    ({"step": 1, "lr": float("nan")}, "train_state.lr must be a non-negative number or null, got NaN"),
    ({"step": 1, "lr": 10**400}, "train_state.lr must be a non-negative number or null"),
    ({"step": 1, "name": "cubic"}, "train_state.name must be one of 'none', 'linear', got 'cubic'"),
    ({"step": 1, "flag": "yes"}, "train_state.flag must be true or false, got 'yes'"),
    ({"step": 1, "shape": [1, 28]}, "train_state.shape must be a list of 3 values"),
    ({"step": 1, "shape": [1, 0, 28]}, "train_state.shape[1] must be a positive integer, got 0"),
    ({"step": 1, "nested": []}, "train_state.nested must be an object, got a list of 0 values"),
    ({"step": 1, "nested": {"fps": 0}}, "train_state.nested.fps must be a finite positive number, got 0"),
    ({}, "train_state.step is missing"),
]


@pytest.mark.parametrize("value,message", WRONG)
def test_each_wrong_value_is_one_line_naming_file_field_and_expectation(value, message):
    with pytest.raises(FileRefused) as err:
        check(value, SCHEMA, "/somewhere/run.safetensors", "train_state")
    assert str(err.value).startswith("run.safetensors: ") and len(str(err.value).splitlines()) == 1
    assert message in str(err.value)


@pytest.mark.parametrize("value", [None, [], "x", 3])
def test_a_value_of_the_wrong_kind_at_the_top_is_refused(value):
    with pytest.raises(InvalidField, match="train_state must be an object"):
        check(value, SCHEMA, "f", "train_state")


def test_unknown_keys_pass_through_unchecked_and_valid_values_come_back():
    good = {"step": 3, "batch_size": 2, "lr": None, "extra": {"anything": [1]}}
    assert check(good, SCHEMA, "f", "train_state") == good


def _family_configs():
    from models.families.registry import FAMILIES, config_class

    return [(fam, config_class(fam)) for fam in FAMILIES]


@pytest.mark.parametrize("family,cls", _family_configs(), ids=[f for f, _ in _family_configs()])
def test_every_familys_default_config_passes_its_own_schema(family, cls):
    d = json.loads(cls().to_json())
    assert check_config(cls, d, "m.safetensors") == d


CONFIG_WRONG = [
    ("vae", {"hidden": "abc"}, "model_config.hidden must be a positive integer, got 'abc'"),
    ("vae", {"hidden": 0}, "model_config.hidden must be a positive integer, got 0"),
    ("vae", {"latent_dim": -3}, "model_config.latent_dim must be a positive integer, got -3"),
    ("vae", {"latent_dim": 2.5}, "model_config.latent_dim must be a positive integer, got 2.5"),
    ("vae", {"lr": "fast"}, "model_config.lr must be a non-negative number, got 'fast'"),
    ("vae", {"beta": float("inf")}, "model_config.beta must be a finite number"),
    ("vae", {"arch": ["mlp"]}, "model_config.arch must be a string of at most 256 characters, got a list"),
    ("vae", {"image_shape": [1, 28]}, "model_config.image_shape must be a list of 3 values"),
    ("vae", {"image_shape": [1, 28, 10**6]}, "model_config.image_shape[2] must be an integer from 1 to 4096"),
    ("beta-vae", {"capacity": 1}, "model_config.capacity must be true or false, got 1"),
    ("gan", {"g_hidden": [128, "x"]}, "model_config.g_hidden[1] must be a positive integer, got 'x'"),
    ("gan", {"d_hidden": list(range(1, 100))}, "model_config.d_hidden must be a list of at most 64 values"),
    ("infogan", {"continuous": -1}, "model_config.continuous must be a non-negative integer, got -1"),
    ("infogan", {"categorical": {"a": 1}}, "model_config.categorical must be a list of at most 64 values, got an object"),
    ("wgan-gp", {"n_critic": 0}, "model_config.n_critic must be a positive integer, got 0"),
    ("dcgan", {"g_channels": 2**40}, "model_config.g_channels must be a positive integer"),
]


@pytest.mark.parametrize("family,fields,message", CONFIG_WRONG)
def test_config_fields_are_checked_against_the_dataclass_annotations(family, fields, message):
    from models.families.registry import config_class

    cls = config_class(family)
    with pytest.raises(InvalidField) as err:
        check_config(cls, {**json.loads(cls().to_json()), **fields}, "m.safetensors")
    assert str(err.value).startswith("m.safetensors: " + message)


def test_config_schema_reads_the_annotations_not_a_list_kept_elsewhere():
    from models.families.registry import config_class

    schema = config_schema(config_class("infogan"))
    assert isinstance(schema.fields["categorical"], ListOf) and isinstance(schema.fields["learn_std"], Bool)
    assert schema.fields["z_dim"].lo == 1 and schema.fields["continuous"].lo == 0


def test_a_fields_own_bound_is_the_rule_for_checkpoints_and_flags():
    """A conv net's residual blocks and a cvae's classes: past their bound a tampered
    checkpoint or a mistyped flag is refused by name before anything is built."""
    from models.families.cvae import CVAEConfig
    from models.families.vae import MAX_RES_BLOCKS, VAEConfig
    from models.io.validate import config_schema

    rule = config_schema(VAEConfig).fields["res_blocks"]
    assert rule.accepts(MAX_RES_BLOCKS) and not rule.accepts(MAX_RES_BLOCKS + 1)
    assert "0 to 64" in rule.describe()
    classes = config_schema(CVAEConfig).fields["num_classes"]
    assert not classes.accepts(257) and not classes.accepts(0) and "1 to 256" in classes.describe()
    assert config_schema(VAEConfig).fields["latent_dim"].accepts(2**31 - 1)  # no bound of its own
