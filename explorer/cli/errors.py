"""The CLI's name and the failures it reports as one line on stderr with exit code 2."""
from __future__ import annotations

PROG = "latent-explorer"


class CLIError(Exception):
    """A user-facing failure: printed as one line, exit code 2."""


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that are the user's to fix (a bad file, missing data, a diverged run),
    printed as one line instead of a traceback."""
    from models.runs.checkpoint import CheckpointError
    from models.data.base import DataError
    from models.families.registry import UnknownFamily
    from models.training.loop import TrainingDiverged

    return (CLIError, CheckpointError, DataError, UnknownFamily, TrainingDiverged, ValueError, OSError, RuntimeError)
