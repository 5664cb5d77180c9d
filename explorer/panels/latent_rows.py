"""The rows of the latent panel: a labelled slider per dimension, a button row per categorical code.

Rows only display and forward: the panel connects their signals to LatentState and writes
state changes back with :func:`set_quietly`, so showing a value never reads as a user edit.
A row given a :class:`GestureTarget` (the LatentState) tells it when its slider is pressed
and released, so a drag through many values is one undo step.
"""
from __future__ import annotations

from typing import Callable, Protocol

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QFont, QFontMetrics, QMouseEvent
from PySide6.QtWidgets import QAbstractButton, QAbstractSlider, QButtonGroup, QGridLayout, QHBoxLayout, QLabel, QSpinBox, QToolButton, QWidget
from superqt import QLabeledDoubleSlider

from models.latent import LatentSpec

from ..widgets.qt_utils import signals_blocked

#: a dimension whose mean KL is below this carries (almost) no information
INACTIVE_KL = 0.01
#: categorical codes wider than this get a spin box instead of buttons
MAX_CATEGORY_BUTTONS = 16


class GestureTarget(Protocol):
    """What hears that a slider drag began and ended (``LatentState``)."""

    def begin_gesture(self) -> None: ...

    def end_gesture(self) -> None: ...


class DimRow(QWidget):
    """name | slider with value box | KL | reset. ``gestures``: told when the slider is
    pressed and released (see :meth:`send_gestures_to`)."""

    def __init__(self, name: str, value_range: tuple[float, float], tooltip: str,
                 gestures: GestureTarget | None = None) -> None:
        super().__init__()
        self.name = QLabel(name)
        self.name.setMinimumWidth(34)
        self.name.setToolTip(tooltip)
        self.slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(*value_range)
        self.slider.setDecimals(2)
        self.slider.setSingleStep(0.01)
        self.slider.setValue(0.0)
        self.slider.setToolTip(tooltip)
        #: the dataset factor(s) this dimension tells most, once the model was evaluated
        self.factor = QLabel("")
        self.factor.setTextFormat(Qt.TextFormat.PlainText)  # names come from a file: never markup
        self.factor.setStyleSheet("color: #2d7dd2; font-weight: 600;")
        self.factor.setVisible(False)
        self.kl = QLabel("")
        self.kl.setMinimumWidth(58)
        self.kl.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.kl.setVisible(False)
        self.reset = QToolButton()
        self.reset.setText("↺")
        self.reset.setToolTip(f"Reset {name} to 0")
        self.reset.setAutoRaise(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.name)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.factor)
        layout.addWidget(self.kl)
        layout.addWidget(self.reset)
        #: what hears this slider's presses and releases (None: nothing)
        self.gesture_target: GestureTarget | None = None
        if gestures is not None:
            self.send_gestures_to(gestures)

    def send_gestures_to(self, target: GestureTarget) -> None:
        """A press of the slider begins a gesture on ``target``, its release ends it: the
        values in between are one undo step. The wheel and the value box move the slider
        without a press; LatentState merges those nudges by time instead."""
        if self.gesture_target is target:
            return
        if self.gesture_target is not None:
            raise ValueError(f"row {self.name.text()} already sends its gestures elsewhere")
        self.gesture_target = target
        watcher = _PressWatcher(target, self)
        for inner in self.slider.findChildren(QAbstractSlider):
            inner.installEventFilter(watcher)
        self.slider.sliderReleased.connect(target.end_gesture)

    def show_note(self, text: str, tooltip: str = "") -> None:
        """A short note where the KL goes (a direction's explained variance)."""
        self.kl.setText(text)
        self.kl.setToolTip(tooltip)
        self.kl.setVisible(bool(text))

    def show_factors(self, factors: tuple[str, ...], width: int = 0) -> None:
        """Label the row with the factors it tells most (``()``: none known). ``width`` > 0
        keeps that much room even without a label, so every row's slider stays as long."""
        self.factor.setText(factor_text(factors))
        self.factor.setToolTip(
            f"Evaluate found this dimension tells {' and '.join(factors)} more than any other dimension does"
            if factors else "")
        self.factor.setFixedWidth(width) if width > 0 else self.factor.setMinimumWidth(0)
        self.factor.setVisible(bool(factors) or width > 0)

    def show_kl(self, kl: float | None) -> None:
        if kl is None:
            self.kl.setVisible(False)
            self.name.setStyleSheet("")
            return
        inactive = kl < INACTIVE_KL
        self.kl.setText(f"KL {kl:.2f}")
        self.kl.setVisible(True)
        self.kl.setToolTip(f"Mean KL of this dimension over test images: {kl:.4f} nats"
                           + (" (inactive: the decoder ignores it)" if inactive else ""))
        grey = "color: #8a8a8a;" if inactive else ""
        self.name.setStyleSheet(grey)
        self.kl.setStyleSheet(grey)


class _PressWatcher(QObject):
    """Begins a gesture when a mouse button goes down on a slider, before the slider sees it:
    superqt's slider jumps to the pressed position (a first value) before it emits
    ``sliderPressed``, and that value belongs to the drag. The slider's ``sliderReleased``
    ends the gesture; a press the slider refused (no drag began) ends it at its release."""

    def __init__(self, target: GestureTarget, parent: QObject) -> None:
        super().__init__(parent)
        self.target = target

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent) and event.button() in (
                Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            self.target.begin_gesture()
        elif kind == QEvent.Type.MouseButtonRelease and isinstance(obj, QAbstractSlider) and not obj.isSliderDown():
            self.target.end_gesture()
        return False  # the slider handles the event as ever


def category_row(code: int, k: int, choose: Callable[[int], None]) -> tuple[QWidget, QButtonGroup | QSpinBox]:
    """The row of categorical code ``code`` with ``k`` values: toggle buttons, or a spin box
    for very wide codes. ``choose(category)`` is called on a user's pick. Returns the row and
    the control that shows the current category."""
    row = QWidget()
    grid = QGridLayout(row)
    grid.setContentsMargins(0, 0, 0, 0)
    grid.setSpacing(2)
    grid.addWidget(QLabel(f"c{code}"), 0, 0)
    control: QButtonGroup | QSpinBox
    if k > MAX_CATEGORY_BUTTONS:
        control = QSpinBox()
        control.setRange(0, k - 1)
        control.setToolTip(f"Category of code c{code} ({k} values)")
        control.valueChanged.connect(choose)
        grid.addWidget(control, 0, 1)
    else:
        control = QButtonGroup(row)
        control.setExclusive(True)
        for j in range(k):
            button = QToolButton()
            button.setText(str(j))
            button.setCheckable(True)
            button.setToolTip(f"Code c{code} = category {j}")
            button.setMinimumWidth(24)
            control.addButton(button, j)
            grid.addWidget(button, 0, 1 + j)
        control.idClicked.connect(choose)
    grid.setColumnStretch(grid.columnCount(), 1)
    return row, control


class CategoryPicker(QWidget):
    """For a model with very many categorical codes (a row of buttons each would not fit):
    one box chooses the code, the other its category. ``read(code)`` gives a code's current
    category, ``choose(code, category)`` is called on a user's pick."""

    def __init__(self, categorical: tuple[int, ...], read: Callable[[int], int],
                 choose: Callable[[int, int], None]) -> None:
        super().__init__()
        self.categorical, self.read, self.choose = categorical, read, choose
        self.code, self.category = QSpinBox(), QSpinBox()
        self.code.setRange(0, len(categorical) - 1)
        self.code.setPrefix("c")
        self.code.setToolTip(f"Which of the {len(categorical):,} categorical codes")
        self.category.setToolTip("The chosen code's category")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Code"))
        layout.addWidget(self.code, 1)
        layout.addWidget(QLabel("category"))
        layout.addWidget(self.category, 1)
        self.category.setRange(0, categorical[0] - 1)  # the value comes with the first refresh
        self.code.valueChanged.connect(lambda _v: self.refresh())
        self.category.valueChanged.connect(lambda value: self.choose(self.code.value(), value))

    def refresh(self) -> None:
        """Show the chosen code's range and current category (once the state holds this model's point)."""
        code = self.code.value()
        with signals_blocked(self.category):
            self.category.setRange(0, self.categorical[code] - 1)
            self.category.setValue(self.read(code))


def set_quietly(widget: QWidget, value: object) -> None:
    """Show a value without emitting: the change came from the state, not the user."""
    with signals_blocked(widget):
        if isinstance(widget, QAbstractButton):
            widget.setChecked(bool(value))
        else:
            widget.setValue(value)  # type: ignore[attr-defined]


def spec_text(spec: LatentSpec) -> str:
    """One line saying what the latent point is made of ("8-dim z (normal prior), no encoder")."""
    parts = [f"{spec.z_dim}-dim z ({spec.prior} prior)"]
    if spec.conditional:
        parts.append(f"{spec.categorical[0]} classes")
    if codes := spec.other_categorical:
        parts.append(" + ".join(f"{k}-way" for k in codes) + " categorical")
    if spec.continuous:
        parts.append(f"{spec.continuous} continuous code" + ("s" if spec.continuous > 1 else ""))
    if not spec.has_encoder:
        parts.append("no encoder")
    return ", ".join(parts)


def factor_label_width(widget: QWidget, factors: dict[int, tuple[str, ...]]) -> int:
    """Room for the widest factor label of ``factors`` in ``widget``'s font, semibold as the
    labels are (0: none to show)."""
    if not factors:
        return 0
    font = QFont(widget.font())
    font.setWeight(QFont.Weight.DemiBold)
    metrics = QFontMetrics(font)
    return max(metrics.horizontalAdvance(factor_text(names)) for names in factors.values()) + 6


def factor_text(factors: tuple[str, ...], most: int = 1) -> str:
    """``factors`` as a row's label: the first ``most``, then how many more (the tooltip has all)."""
    more = f" +{len(factors) - most}" if len(factors) > most else ""
    return ", ".join(factors[:most]) + more
