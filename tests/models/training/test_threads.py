"""The CPU thread policy: how many intra-op threads CLI and window training use, and applying a count."""
from __future__ import annotations

import os

import pytest
import torch

from models.training import threads


@pytest.fixture(autouse=True)
def keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def cores(monkeypatch, n: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(n)), raising=False)


@pytest.mark.parametrize("n_cores,expected", [(1, 1), (2, 1), (4, 3), (16, 15)])
def test_the_cli_leaves_one_core_to_the_rest_of_the_machine(monkeypatch, n_cores, expected):
    cores(monkeypatch, n_cores)
    assert threads.usable_cores() == n_cores
    assert threads.default_threads() == expected


def test_the_affinity_mask_counts_not_the_machines_cores(monkeypatch):
    """``taskset -c 0,1`` on a 16-core machine: the process may use 2 cores, so it trains with 1."""
    cores(monkeypatch, 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert threads.default_threads() == 1


@pytest.mark.parametrize("cpu_count,expected", [(8, 7), (1, 1), (None, 1)])
def test_without_an_affinity_mask_the_machines_cores_count(monkeypatch, cpu_count, expected):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # as on macOS and Windows
    monkeypatch.setattr(os, "cpu_count", lambda: cpu_count)
    assert threads.default_threads() == expected


def test_apply_threads_sets_torchs_count_and_returns_it(monkeypatch):
    assert threads.apply_threads(1) == 1 and torch.get_num_threads() == 1
    assert threads.apply_threads(2) == 2 and torch.get_num_threads() == 2
    cores(monkeypatch, 3)
    assert threads.apply_threads(None) == 2 and torch.get_num_threads() == 2  # None: the policy


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_apply_threads_refuses_a_count_below_one_and_leaves_torch_alone(bad):
    torch.set_num_threads(1)
    with pytest.raises(ValueError, match="at least 1"):
        threads.apply_threads(bad)
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("value,expected", [("3", 3), (" 1 ", 1), ("0", None), ("-2", None), ("four", None), ("", None)])
def test_omp_num_threads_is_read_when_it_is_a_positive_count(value, expected):
    assert threads.env_threads({"OMP_NUM_THREADS": value}) == expected
    assert threads.env_threads({}) is None


def test_the_window_trains_with_one_thread_whatever_the_cores(monkeypatch):
    cores(monkeypatch, 16)
    assert threads.window_threads() == 1
