"""A form generated from a config dataclass: one control per field, read back and validated.

Each field gets a control chosen by the type of its default (check box, integer box, float
box that takes "2e-4", combo box, comma-separated tuple, text), a label from its name and a
tooltip from its ``#:`` comment (``models.families.registry.field_docs``). String fields
whose comment lists quoted choices ("mlp" or "conv") become combo boxes. Fields that do
nothing under the current value of another (``APPLIES_WHEN``) are greyed out live, so a
new family gets its own controls without touching any panel.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QLineEdit, QSpinBox, QWidget,
)

from models.families.registry import field_docs

LABELS = {
    "arch": "Architecture",
    "latent_dim": "Latent size",
    "z_dim": "Noise size (z)",
    "likelihood": "Likelihood",
    "beta": "β (KL weight)",
    "hidden": "Hidden units",
    "g_lr": "Generator LR",
    "ema": "G weight average (EMA)",
    "fc_hidden": "Dense layer width",
    "g_batch_norm": "G batch norm",
    "g_slope": "G LeakyReLU slope",
    "adv_weight": "Adversarial weight",
    "adv_lr": "Adversarial LR",
    "adv_beta1": "Adversarial Adam β1",
    "disc_hidden": "D hidden layers",
    "g_hidden": "G hidden layers",
    "d_hidden": "D hidden layers",
    "mlp_layers": "MLP layers a side",
    "sigma": "Decoder σ",
    "gamma": "Capacity weight γ",
    "capacity": "Capacity schedule",
    "capacity_max": "Capacity max (nats)",
    "capacity_steps": "Capacity ramp steps",
    "categorical": "Categorical codes",
    "continuous": "Continuous codes",
    "lambda_cat": "λ categorical",
    "lambda_cont": "λ continuous",
    "learn_std": "Q learns its std",
    "q_hidden": "Q hidden units",
    "gp_lambda": "Gradient penalty λ",
    "n_critic": "Critic steps per G step",
    "beta1": "Adam β1",
    "beta2": "Adam β2",
}


def field_label(name: str) -> str:
    """The label a person reads for a config field ("latent_dim" -> "Latent size")."""
    return LABELS.get(name, name.replace("_", " ").capitalize())


class SciSpinBox(QDoubleSpinBox):
    """A float box that shows 0.0002 as "0.0002" and accepts "2e-4" (learning rates, sigmas)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(12)  # no rounding of typed values; display is %g below
        self.setRange(-1e9, 1e9)
        self.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt override
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt override
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> object:  # noqa: D401 - Qt override
        stripped = text.strip()
        if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", stripped):
            return QValidator.State.Acceptable, text, pos
        if re.fullmatch(r"[-+]?(\d*\.?\d*)([eE][-+]?\d*)?", stripped):
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Invalid, text, pos


class FieldControl:
    """One generated form row: the widget plus how to read and write its value."""

    def __init__(self, name: str, default: Any, doc: str, most: int | None = None, least: int | None = None) -> None:
        self.name, self.default, self.doc = name, default, doc
        self.widget: QWidget
        self.changed: Any  # the widget's value-changed signal
        self.get: Callable[[], Any]
        self.set: Callable[[Any], None]
        if isinstance(default, bool):
            box = QCheckBox()
            box.setChecked(default)
            self.widget, self.get, self.set = box, box.isChecked, lambda v: box.setChecked(bool(v))
            self.changed = box.toggled
        elif isinstance(default, int):
            spin = QSpinBox()
            low = least if least is not None else 1 if name in ("latent_dim", "z_dim") else 0
            spin.setRange(low, 10_000_000 if most is None else most)
            spin.setValue(default)
            spin.setKeyboardTracking(False)
            self.widget, self.get, self.set = spin, spin.value, lambda v: spin.setValue(int(v))
            self.changed = spin.valueChanged
        elif isinstance(default, float):
            sci = SciSpinBox()
            if (zero := re.search(r"\b0 = (off\b)?", doc)) and default >= 0:  # 0 means "pick for me" or "off": say so
                sci.setMinimum(0.0)
                sci.setSpecialValueText("off" if zero.group(1) else "auto")
            sci.setValue(default)
            self.widget, self.get, self.set = sci, sci.value, lambda v: sci.setValue(float(v))
            self.changed = sci.valueChanged
        elif isinstance(default, str) and len(choices := _choices(doc, default)) >= 2:
            combo = QComboBox()
            combo.addItems(choices)
            combo.setCurrentText(default)
            self.widget, self.get = combo, combo.currentText
            self.changed = combo.currentTextChanged
            self.set = lambda v: combo.setCurrentText(str(v)) if combo.findText(str(v)) >= 0 else None
        elif isinstance(default, tuple):
            edit = QLineEdit(", ".join(str(v) for v in default))
            edit.setPlaceholderText("comma-separated, e.g. 256, 512")
            self.widget, self.get = edit, lambda: _parse_tuple(edit.text(), default, name)
            self.changed = edit.textChanged
            self.set = lambda v: edit.setText(", ".join(str(x) for x in v) if isinstance(v, (list, tuple)) else str(v))
        else:
            edit = QLineEdit(str(default))
            self.widget, self.get, self.set = edit, edit.text, lambda v: edit.setText(str(v))
            self.changed = edit.textChanged
        self.widget.setToolTip(f"{doc}\n(default: {default})" if doc else f"default: {default}")


def _choices(doc: str, default: str) -> list[str]:
    quoted = re.findall(r'"([^"\s]+)"', doc)
    choices = list(dict.fromkeys(quoted))
    return choices if default in choices else []


def _parse_tuple(text: str, default: tuple, name: str) -> tuple:
    kind = type(default[0]) if default else int
    try:
        return tuple(kind(p.strip()) for p in text.split(",") if p.strip())
    except ValueError:
        raise ValueError(f"{field_label(name)}: expected comma-separated {kind.__name__} values, got {text!r}") from None


class ConfigForm(QWidget):
    """The rows of one config dataclass; ``build`` replaces them with another's."""

    def __init__(self, hidden: tuple[str, ...] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: fields the form never shows (set elsewhere by its owner)
        self.hidden = hidden
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.fields: dict[str, FieldControl] = {}

    def clear(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.fields = {}

    def build(self, cls: type) -> None:
        """One row per field of the dataclass ``cls``, each at its default value."""
        self.clear()
        docs = field_docs(cls)
        defaults = cls()
        for f in dataclasses.fields(cls):
            if f.name in self.hidden:
                continue
            control = FieldControl(f.name, getattr(defaults, f.name), docs.get(f.name, ""), f.metadata.get("max"),
                                   f.metadata.get("min"))
            label = QLabel(field_label(f.name))
            label.setToolTip(control.widget.toolTip())
            self.form.addRow(label, control.widget)
            self.fields[f.name] = control
        self._link_conditional_fields(getattr(cls, "APPLIES_WHEN", {}))

    def values(self) -> dict[str, Any]:
        """Every field's value; ValueError names a field whose text does not parse."""
        return {name: control.get() for name, control in self.fields.items()}

    def set_values(self, config: object) -> None:
        """Show the fields of ``config`` that the form has; an odd stored value keeps the form's."""
        for name, control in self.fields.items():
            if hasattr(config, name):
                try:
                    control.set(getattr(config, name))
                except (TypeError, ValueError):
                    pass

    def _link_conditional_fields(self, applies_when: dict[str, tuple[str, Any]]) -> None:
        """Grey out fields that do nothing under the current choice (sigma with a Bernoulli
        decoder, the mixture's shape with a normal prior...), following the choice live."""
        for name, (other, value) in applies_when.items():
            control, switch = self.fields.get(name), self.fields.get(other)
            if control is None or switch is None:
                continue
            label = self.form.labelForField(control.widget)
            tip = control.widget.toolTip()
            shown = {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

            def update(*_, control=control, switch=switch, value=value, label=label, tip=tip,
                       when=f"(only used when {field_label(other)} is {shown})") -> None:
                on = switch.get() == value
                control.widget.setEnabled(on)
                if label is not None:
                    label.setEnabled(on)
                    label.setToolTip(tip if on else f"{tip}\n{when}")
                control.widget.setToolTip(tip if on else f"{tip}\n{when}")

            switch.changed.connect(update)
            update()
