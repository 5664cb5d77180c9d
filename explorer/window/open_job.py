"""What opening a model file does in the job runner, and what it may be refused for before
anything is read: the window's door to ``models.foreign.open.open_model``.

A bare state dict of one of the app's own families (weights only) cannot say its config:
the job then returns the families its tensor names match (``FamilyNeeded``) and the window
asks the user which family and config made it, with the fields the file's shapes tell
filled in.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.foreign.errors import ForeignModelError
from models.foreign.family_weights import guess_configs
from models.foreign.open import STATE_DICT_SUFFIXES, open_model
from models.runs.checkpoint import Checkpoint

from ..dialogs.family_weights_dialog import FamilyAnswer
from ..errors import error_text


def not_a_file_or_folder(path: Path) -> str | None:
    """Why ``path`` can be neither a checkpoint nor a run folder, from its ``stat`` alone
    (a FIFO or a device), or None (a missing file is the loader's to say)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as e:
        return error_text(e)
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return f"{path.name}: is not a regular file (a pipe or device), so it is not read"


@dataclass(frozen=True)
class FamilyNeeded:
    """What opening returns for a bare state dict of the app's families, given no family:
    the families its tensor names match, the likeliest first."""

    matches: list[str]
    #: {family: config fields its shapes tell} for the families the file says them for
    hints: dict[str, dict[str, Any]] = field(default_factory=dict)


def open_or_guess(path: Path, allow_pickle: bool, allow_code: bool, answer: FamilyAnswer | None = None,
                  opener: Callable[..., Checkpoint] = open_model) -> Checkpoint | FamilyNeeded:
    """``opener`` (``open_model``; of ``answer``'s family and config when given); in the job
    runner. A state dict that it refuses, opened without a family, whose tensor names are
    those of one of the app's families, is FamilyNeeded instead: the user can say which."""
    family, config = (answer.family, answer.config) if answer is not None else (None, None)
    try:
        return opener(path, allow_pickle=allow_pickle, allow_code=allow_code, family=family, config=config)
    except ForeignModelError as refused:
        if answer is not None or path.suffix.lower() not in STATE_DICT_SUFFIXES or not path.is_file():
            raise
        try:
            matches, hints = guess_configs(path, allow_pickle)
        except ForeignModelError:
            matches, hints = [], {}
        if not matches:
            raise refused from None
        return FamilyNeeded(matches, hints)
