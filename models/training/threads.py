"""How many intra-op threads CPU training uses: the policy, and applying it.

The CLI trains with one thread fewer than the cores this process may run on
(:func:`default_threads`); the window trains with one (:func:`window_threads`). Why not all
of them: torch's CPU kernels split their work over OpenMP threads that spin-wait for each
other at the end of every parallel region, so a region lasts as long as its slowest thread.
When another process takes one of the cores, the OS deschedules one training thread for a
whole time slice and every region (several per layer, forward and backward) waits for it.

Measured on a 2-core machine training the MLP VAE (784-400-20, batch 128), 200 steps:

    ================  ==========  ==========
    threads           idle        one other busy process
    ================  ==========  ==========
    2 (torch's own)   ~1 s        24.7 s
    1                 ~1 s        2.5 s
    ================  ==========  ==========

Idle, the second thread buys nothing on a model this small; under load it costs 10x. A
laptop always has something else running, so leaving one core to the rest of the machine
is the safe default; ``--threads N`` (or ``OMP_NUM_THREADS``) sets it for a quiet machine or
a bigger model. ``benchmarks/cpu_threads.py`` measures the policy on another machine.

No Qt here: the CLI and the window both read this module.
"""
from __future__ import annotations

import os

import torch

#: the environment variable torch's OpenMP runtime reads its thread count from; torchrun
#: sets it to 1 for each of several processes on one machine, so they do not oversubscribe
OMP_ENV = "OMP_NUM_THREADS"


def usable_cores() -> int:
    """The CPU cores this process may run on: its affinity mask where the OS has one
    (``taskset``, a container's cpuset), else every core of the machine."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no affinity mask to read
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """Intra-op threads for CLI training on the CPU: one fewer than :func:`usable_cores`,
    at least 1 (see the module docstring for the measurement behind it)."""
    return max(1, usable_cores() - 1)


def window_threads() -> int:
    """Intra-op threads for training in the window: 1. The window's own thread paints and
    decodes slider moves on another core; a second training thread would compete with it
    (and stall whenever it is descheduled), for little gain on the models the window trains."""
    return 1


def env_threads(environ: dict[str, str] | None = None) -> int | None:
    """The thread count ``OMP_NUM_THREADS`` asks for (a positive integer), else None."""
    text = (os.environ if environ is None else environ).get(OMP_ENV, "").strip()
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 1 else None


def apply_threads(n: int | None = None) -> int:
    """Set torch's intra-op thread count to ``n`` (None: :func:`default_threads`) and return it.

    Raises ValueError for a count below 1 (torch would refuse it less clearly)."""
    if n is None:
        n = default_threads()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of CPU threads must be a whole number of at least 1, got {n!r}")
    torch.set_num_threads(n)
    return n
