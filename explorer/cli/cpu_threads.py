"""The ``--threads`` flag of the commands that compute for long (``train``, ``eval``), and
applying it: how many intra-op threads torch uses on the CPU, said in words for the command's
first line. :mod:`models.training.threads` holds the policy and the measurement behind it."""
from __future__ import annotations

import argparse
from contextlib import contextmanager
from typing import Any, Iterator

from .flags import positive_int


def add_threads_flag(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--threads", type=positive_int, metavar="N",
                   help=f"CPU threads for {what} (default: OMP_NUM_THREADS if set, else one fewer than the cores, "
                        "which keeps the pace when something else runs; on a GPU: torch's own)")


def apply_cli_threads(device: Any, requested: int | None) -> str:
    """Set the CPU threads and say them with the device, e.g. "CPU (1 thread, from --threads)".

    On the CPU: ``--threads``, else OMP_NUM_THREADS (torchrun sets it to 1 for each of
    several processes on one machine), else the policy. On a GPU the CPU only launches
    kernels, so its threads barely matter: torch's own count unless ``--threads`` is given."""
    from models.training.device import device_description
    from models.training.threads import OMP_ENV, apply_threads, env_threads, usable_cores

    if device.type != "cpu":
        if requested is None:
            return device_description(device)
        return f"{device_description(device)} ({_threads(apply_threads(requested), 'CPU ')}, from --threads)"
    if requested is not None:
        return f"CPU ({_threads(apply_threads(requested))}, from --threads)"
    if env_threads() is not None:
        return f"CPU ({_threads(apply_threads(env_threads()))}, from {OMP_ENV})"
    n, cores = apply_threads(None), usable_cores()
    if cores == 1:
        return "CPU (1 thread on 1 core; --threads N to change)"
    return f"CPU ({n} of {cores} cores: one left for the rest of the machine; --threads N to change)"


@contextmanager
def threads_kept() -> Iterator[None]:
    """Put torch's thread count back afterwards, for whoever called ``main()`` in-process."""
    import torch

    before = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _threads(n: int, kind: str = "") -> str:
    return f"{n} {kind}thread{'s' if n != 1 else ''}"
