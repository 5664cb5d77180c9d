"""What a session keeps of the panels, and what the app remembers about sessions.

* The panel settings: the values of the controls listed in :data:`PANEL_SETTINGS` (spin
  boxes, check boxes, combo boxes by their text, line edits), found by attribute on each
  panel, and put back the way a user sets them (so the panel follows) only where the
  control still exists and the value fits it.
* The last session saved or opened, and whether to offer it at start (off by default),
  as settings keys beside :mod:`explorer.settings`' own, read through its typed readers.
"""
from __future__ import annotations

from operator import attrgetter
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QAbstractButton, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox, QWidget

from . import settings
from .session_file import Setting

#: the settings keys (beside explorer.settings' own): the last session, and whether to offer it at start
LAST_SESSION_KEY = "session/last"
OFFER_REOPEN_KEY = "session/offer_reopen"

#: panel key ("latent" or an Explore dock's key) -> the controls whose values a session keeps,
#: as attribute paths on the panel. The latent panel comes last when restoring: its
#: Directions mode must find the restored directions.
PANEL_SETTINGS: dict[str, tuple[str, ...]] = {
    "paths": ("frames_per_segment", "fps", "loop", "pingpong", "keyframe_list.kind_all"),
    "projection": ("steps", "restarts", "lr", "apply_when_done"),
    "draw": ("fit", "pen"),
    "traversal": ("sweep", "rows_mode", "top_k", "custom_dims", "steps", "value_range", "around"),
    # (not the map's colour: its choices come with the encoded points, after a session is restored)
    "map": ("controls.sample", "projection", "show_prior"),
    "compare": ("heatmap", "sample_quality", "path_tab.path_fps", "path_frames_per_segment", "path_tab.path_loop",
                "reconstructions.random_n"),
    "timeline": ("fps",),
    "latent": ("sort_by_kl", "truncation", "seed", "directions.components", "dims_mode", "directions_mode"),
}


# ---------------------------------------------------------------------------------------
# one control's value
# ---------------------------------------------------------------------------------------
def read_control(widget: Any) -> Setting | None:
    """The value a session keeps of ``widget``, or None for a control it does not keep."""
    if isinstance(widget, QDoubleSpinBox):
        return float(widget.value())
    if isinstance(widget, QSpinBox):
        return int(widget.value())
    if isinstance(widget, QComboBox):
        return widget.currentText() if widget.currentIndex() >= 0 else None
    if isinstance(widget, QLineEdit):
        return widget.text()
    if isinstance(widget, QAbstractButton) and widget.isCheckable():
        return bool(widget.isChecked())
    return None


def write_control(widget: Any, value: Setting) -> bool:
    """Put ``value`` back into ``widget`` the way a user would set it (its signals fire, so
    the panel follows); False, and nothing changed, when it does not fit the control."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(widget, QDoubleSpinBox):
        if not number or not widget.minimum() <= value <= widget.maximum():
            return False
        widget.setValue(float(value))
    elif isinstance(widget, QSpinBox):
        if not isinstance(value, int) or isinstance(value, bool) or not widget.minimum() <= value <= widget.maximum():
            return False
        widget.setValue(value)
    elif isinstance(widget, QComboBox):
        index = widget.findText(value) if isinstance(value, str) else -1
        if index < 0:
            return False
        widget.setCurrentIndex(index)
    elif isinstance(widget, QLineEdit):
        if not isinstance(value, str) or len(value) > widget.maxLength():
            return False
        widget.setText(value)
        widget.editingFinished.emit()  # what the panel acts on, as when the user presses Enter
    elif isinstance(widget, QAbstractButton) and widget.isCheckable():
        if not isinstance(value, bool):
            return False
        widget.setChecked(value)
    else:
        return False
    return True


def _control(panel: QWidget, name: str) -> Any:
    try:
        return attrgetter(name)(panel)
    except AttributeError:  # a panel of another version: its control is not there
        return None


def panels_of(window: Any) -> dict[str, QWidget]:
    """The window's panels a session keeps settings of, by key (in restore order)."""
    docks = getattr(window, "explore_docks", None) or {}
    found = {key: docks[key].widget() for key in PANEL_SETTINGS if key in docks}
    found["latent"] = window.latent_panel
    return found


def read_panel_settings(window: Any) -> dict[str, dict[str, Setting]]:
    out: dict[str, dict[str, Setting]] = {}
    for key, panel in panels_of(window).items():
        values = {name: read_control(_control(panel, name)) for name in PANEL_SETTINGS[key]}
        out[key] = {name: v for name, v in values.items() if v is not None}
    return out


def write_panel_settings(window: Any, saved: dict[str, dict[str, Setting]]) -> list[str]:
    """Put the saved settings back, the latent panel's last; the ``panel.setting`` names that
    did not fit (a control gone, a value out of its range) are returned, not fatal."""
    skipped: list[str] = []
    panels = panels_of(window)
    for key in sorted(saved, key=lambda k: k == "latent"):
        panel = panels.get(key)
        for name, value in saved[key].items():
            widget = _control(panel, name) if panel is not None and name in PANEL_SETTINGS.get(key, ()) else None
            if widget is None or not write_control(widget, value):
                skipped.append(f"{key}.{name}")
    return skipped


# -- the remembered session ------------------------------------------------------------
def last_session() -> Path | None:
    text = settings.read_text(LAST_SESSION_KEY, "")
    return Path(text) if text else None


def remember_session(file: Path) -> None:
    settings.settings().setValue(LAST_SESSION_KEY, str(Path(file).expanduser().absolute()))


def offer_reopen_enabled() -> bool:
    return settings.read_int(OFFER_REOPEN_KEY, 0, 0, 1) == 1


def set_offer_reopen(on: bool) -> None:
    settings.settings().setValue(OFFER_REOPEN_KEY, 1 if on else 0)
