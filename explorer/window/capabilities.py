"""What the open model lets the window offer, and how the window names it.

The menus' enabled-when rules (``actions``) look at an :class:`~.actions.ActionState`;
:func:`action_state` makes it from the window's parts, with the one-line reasons
(``models.foreign.protocol.unavailable``) that a greyed Train, Continue Training or Save
shows in its tooltip: a model made elsewhere explores like the app's own, but is neither
trained nor saved as a checkpoint (it is exported to ONNX instead). Export Model as ONNX is
greyed, with the command that installs them, while the ONNX packages are missing.
:func:`window_title` says which model is open: the family and its file for the app's own
models, what the model is and where it was opened from for the others.
"""
from __future__ import annotations

from pathlib import Path

from models.families.base import LatentModel
from models.foreign.errors import ONNX_INSTALL_HINT, onnx_available
from models.foreign.protocol import ForeignModel, source_words, unavailable

from ..model_access import sentence
from .actions import ActionState

APP_TITLE = "Latent Explorer"
#: where Save's reason points for a model made elsewhere
EXPORT_HINT = "File ▸ Export Model as ONNX…"


def window_title(model: LatentModel | None, source: Path | None, training: bool) -> str:
    """The window's title for the open model (or none)."""
    if model is None:
        return APP_TITLE
    if isinstance(model, ForeignModel):
        return f"{source_words(model)} — {APP_TITLE}"
    where = source.name if source else ("training…" if training else "unsaved")
    return f"{model.family} ({where}) — {APP_TITLE}"


def action_state(model: LatentModel | None, session: str, has_image: bool, continue_problem: str | None,
                 opening: bool) -> ActionState:
    """The state the menus' rules read; ``continue_problem``: why Continue Training can't
    run now (TrainPanel.continue_problem()), None when it can."""
    train = unavailable(model, "train") if model is not None else None
    save = unavailable(model, "save_checkpoint") if model is not None else None
    reasons = {"continue_action": continue_problem} if continue_problem else {}
    if train:
        reasons["train_action"] = train
    if save:
        reasons["save_action"] = sentence(f"{save} ({EXPORT_HINT})")
    onnx = onnx_available()
    if not onnx:
        reasons["export_model_action"] = f"exporting to ONNX needs the onnx and onnxruntime packages: {ONNX_INSTALL_HINT}"
    return ActionState(session=session, has_model=model is not None, has_image=has_image,
                       can_continue=continue_problem is None, opening=opening,
                       trainable=train is None, savable=save is None, onnx=onnx, reasons=reasons)
