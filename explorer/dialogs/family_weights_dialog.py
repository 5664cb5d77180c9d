"""Which family and config made a bare state dict of one of the app's own families.

Such a file (weights only, as other tools export them) holds no config, so the window asks:
the family (preselected from the engine's guess, ``models.foreign.family_weights.guess_configs``,
which the tensor names match) and its config fields, in the same generated form as the Model &
data panel (:class:`~explorer.panels.config_form.ConfigForm`), checked the same way, starting
from what the tensor shapes tell (an MLP autoencoder's image size, width, latent size and
depth: ``models.foreign.config_hints``) and saying which fields those are. The answer is
remembered (``settings.add_family_weights_answer``) so that opening the file again, from
Open Recent too, asks again with it filled in: the config is the user's claim about the
file, not something read from it, and the file may since have been overwritten by another
export, so it is shown again rather than taken on trust.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QScrollArea, QVBoxLayout, QWidget,
)

from models.families.base import ModelConfig
from models.families.registry import FAMILIES, config_class
from models.io.files import FileRefused
from models.io.validate import check_config

from .. import settings
from ..panels.config_form import ConfigForm, field_label

#: a field that no tensor's shape depends on and that the Model & data panel sets elsewhere
HIDDEN_FIELDS = ("lr",)


@dataclass(frozen=True)
class FamilyAnswer:
    """A family and its config as JSON values (what ``open_model(family=, config=)`` takes)."""

    family: str
    config: dict[str, Any]


def checked_config(family: str, values: dict[str, Any], path: str | Path) -> ModelConfig:
    """``values`` as ``family``'s config; ValueError with one line saying which field is wrong."""
    cls = config_class(family)
    try:
        return cls.from_dict(check_config(cls, json.loads(json.dumps(values)), path, "config"))
    except FileRefused as e:
        raise ValueError(e.reason) from None
    except (TypeError, ValueError) as e:  # a value JSON cannot hold, an unknown field
        raise ValueError(str(e).splitlines()[0]) from None


def remembered_answer(path: str | Path, matches: list[str]) -> FamilyAnswer | None:
    """The answer last given for ``path``; else the last given for a file of one of the
    families its names match (the checkpoints of one run share a config); else None."""
    resolved = str(Path(path).expanduser().resolve())
    answers = settings.family_weights_answers()
    for entry in [a for a in answers if a["path"] == resolved] + [a for a in answers if a["family"] in matches]:
        if entry["family"] not in FAMILIES:
            continue
        try:  # settings are a file the user may have edited: an answer that no longer checks is not offered
            config = checked_config(entry["family"], entry["config"], path)
        except ValueError:
            continue
        return FamilyAnswer(entry["family"], _json_config(config))
    return None


def _json_config(config: ModelConfig) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config)))


class FamilyWeightsDialog(QDialog):
    """Asks for the family (from every family the app has; the ones the names match say so)
    and its config; Open checks the form and keeps the dialog up, saying why, when a field
    is wrong. :meth:`answer` is the result once accepted."""

    def __init__(self, path: str | Path, matches: list[str], previous: FamilyAnswer | None = None,
                 parent: QWidget | None = None, hints: dict[str, dict[str, Any]] | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.matches = list(matches)
        self._previous = previous
        self._hints = dict(hints or {})
        self._answer: FamilyAnswer | None = None
        self.setWindowTitle("Which model made these weights?")
        intro = QLabel(
            f"<b>{self.path.name}</b> holds the weights of one of this app's model families, but not the "
            "config that shaped them. Choose the family and the config it was trained with; the weights must "
            "fit it exactly." + (f"<br>Its tensor names match: {', '.join(self.matches)}." if self.matches else ""))
        intro.setWordWrap(True)
        self.family = QComboBox()
        for fam in FAMILIES:
            self.family.addItem(f"{fam}  (the names match)" if fam in self.matches else fam, fam)
        self.family.setToolTip("The model family whose state dict this is")
        self.form = ConfigForm(hidden=HIDDEN_FIELDS)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.filled = QLabel("")  # says which fields came from the file, so a user knows what to check
        self.filled.setWordWrap(True)
        self.filled.hide()
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #c0392b;")
        self.problem.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        family_row = QFormLayout()
        family_row.addRow("Family", self.family)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(family_row)
        layout.addWidget(self.filled)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        told = [f for f in self.matches if f in self._hints]
        if previous is not None and (previous.family in self._hints or not told):
            first = previous.family
        else:  # a family the file's shapes fit exactly beats an answer given for another file
            first = (told or self.matches or list(FAMILIES))[0]
        self.family.setCurrentIndex(max(0, self.family.findData(first)))
        self._build_form()
        self.family.currentIndexChanged.connect(lambda _: self._build_form())
        self.resize(480, 520)

    def chosen_family(self) -> str:
        return str(self.family.currentData())

    def _build_form(self) -> None:
        """The chosen family's fields: the previous answer's values when it was this family
        (else the defaults), with what the file's shapes tell over them: those fit this file
        exactly, where the answer may have been given for another file of the family."""
        family = self.chosen_family()
        cls = config_class(family)
        self.form.build(cls)
        self.filled.hide()
        values: dict[str, Any] = {}
        if self._previous is not None and self._previous.family == family:
            values = dict(self._previous.config)
        hints = self._hints.get(family, {})
        for attempt in ({**values, **hints}, hints):  # an answer of fields this family no longer has: the hints alone
            try:
                self.form.set_values(cls.from_dict(attempt))
                break
            except (TypeError, ValueError):
                continue
        if hints:
            self.filled.setText("Filled in from the file's tensor shapes: " + ", ".join(
                field_label(k) for k in hints) + " (the image read as square). The others shape no tensor: set "
                "them as it was trained.")
            self.filled.show()
        self.problem.hide()

    def accept(self) -> None:  # Qt override
        """Open, when the form reads as the family's config; else say why and stay."""
        family = self.chosen_family()
        try:
            config = checked_config(family, self.form.values(), self.path)
        except ValueError as e:
            self.problem.setText(str(e))
            self.problem.show()
            return
        self._answer = FamilyAnswer(family, _json_config(config))
        super().accept()

    def answer(self) -> FamilyAnswer | None:
        """The family and config given (None until accepted)."""
        return self._answer


def ask_family_weights(parent: QWidget, path: str | Path, matches: list[str],
                       previous: FamilyAnswer | None = None,
                       hints: dict[str, dict[str, Any]] | None = None) -> FamilyAnswer | None:
    """Ask (modal) which family and config made the state dict at ``path``; None: cancelled."""
    dialog = FamilyWeightsDialog(path, matches, previous, parent, hints)
    try:
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        return dialog.answer() if accepted else None
    finally:
        dialog.deleteLater()
