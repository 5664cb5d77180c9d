"""The window's menus and keyboard shortcuts, as one table.

``MENUS`` lists every menu top to bottom: each action's text, shortcut, the window
attribute it is kept under, the slot it calls (an attribute path on the window, e.g.
``"session.stop"``) and the rule that says when it is enabled. ``build_menus`` makes the
QActions and menus from it; ``update_enabled`` applies the rules to an ``ActionState``
whenever the window's state changes; a greyed action's tooltip then says why (the open
model's own reason, from ``models.foreign.protocol.unavailable``, when it has one: Save and
Train for a model made elsewhere). Help > Keyboard Shortcuts reads the built QActions, so it
always lists the keys that really work.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from operator import attrgetter
from typing import Callable, Union

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu


@dataclass(frozen=True)
class ActionState:
    """What the enabled-when rules look at."""

    session: str  # TrainingSession.state: "idle", "loading", "running" or "paused"
    has_model: bool
    has_image: bool  # the decoder has produced an image of the open model
    can_continue: bool  # the open model can be trained further (TrainPanel.continue_problem() is None)
    opening: bool  # a model file is being read
    trainable: bool = True  # no model is open, or one the app trains (not one made elsewhere)
    savable: bool = True  # the open model can be saved as a checkpoint
    onnx: bool = True  # the onnx and onnxruntime packages are installed (Export Model as ONNX)
    can_undo: bool = False  # the latent point has a change to undo (LatentHistory.can_undo)
    can_redo: bool = False  # an undone change of the point can be redone
    #: action name -> why it is greyed out now, for the ones the open model itself rules out
    reasons: Mapping[str, str] = field(default_factory=dict)


class When(Enum):
    """When an action is enabled."""

    ALWAYS = "always"
    IDLE = "no training session is going"
    CAN_OPEN = "no training session is going and no model is being opened"
    TRAINING = "training is running or paused"
    TRAINING_ACTIVE = "training is loading its data, running or paused"
    MODEL_OPEN = "a model is open"
    IMAGE_SHOWN = "a model is open and its image is shown"
    CAN_CONTINUE = "the open model can be trained further"
    CAN_TRAIN = "no training session is going and no model made elsewhere is open"
    CAN_SAVE = "a model the app can save as a checkpoint is open"
    CAN_CLOSE = "a model is open, none is being opened and no training session is going"
    CAN_EXPORT_ONNX = "a model is open and the ONNX packages are installed"
    CAN_UNDO = "the latent point has a change to undo"
    CAN_REDO = "an undone change of the latent point can be redone"

    def holds(self, state: ActionState) -> bool:
        return _RULES[self](state)


_RULES: dict[When, Callable[[ActionState], bool]] = {
    When.ALWAYS: lambda s: True,
    # a model can't be swapped under a running training session (its snapshots feed it)
    When.IDLE: lambda s: s.session == "idle",
    When.CAN_OPEN: lambda s: s.session == "idle" and not s.opening,
    When.TRAINING: lambda s: s.session in ("running", "paused"),
    When.TRAINING_ACTIVE: lambda s: s.session in ("loading", "running", "paused"),
    When.MODEL_OPEN: lambda s: s.has_model,
    When.IMAGE_SHOWN: lambda s: s.has_model and s.has_image,
    When.CAN_CONTINUE: lambda s: s.can_continue,
    When.CAN_TRAIN: lambda s: s.session == "idle" and s.trainable,
    When.CAN_SAVE: lambda s: s.has_model and s.savable,
    When.CAN_CLOSE: lambda s: s.has_model and s.session == "idle" and not s.opening,
    When.CAN_EXPORT_ONNX: lambda s: s.has_model and s.onnx,
    When.CAN_UNDO: lambda s: s.can_undo,
    When.CAN_REDO: lambda s: s.can_redo,
}

Shortcut = Union[QKeySequence.StandardKey, Qt.Key, str, None]


@dataclass(frozen=True)
class ActionSpec:
    name: str  # the window attribute that holds the QAction
    text: str
    slot: str  # attribute path on the window, resolved when the menus are built
    shortcut: Shortcut = None
    tip: str = ""
    enabled_when: When = When.ALWAYS


@dataclass(frozen=True)
class SubMenu:
    """A submenu filled elsewhere (Open Recent)."""

    name: str
    text: str
    enabled_when: When = When.ALWAYS


class _Marker(Enum):
    SEPARATOR = "separator"
    DOCK_TOGGLES = "the show/hide toggles of the window's own docks"


SEPARATOR, DOCK_TOGGLES = _Marker.SEPARATOR, _Marker.DOCK_TOGGLES
Entry = Union[ActionSpec, SubMenu, _Marker]

MENUS: tuple[tuple[str, tuple[Entry, ...]], ...] = (
    ("&File", (
        ActionSpec("open_action", "&Open…", "models.open_dialog", QKeySequence.StandardKey.Open,
                   "Open a checkpoint or a model made elsewhere: a PyTorch state dict (.safetensors, .pth), "
                   "an ONNX model, a Python adapter file", When.CAN_OPEN),
        ActionSpec("open_run_action", "Open &Folder…", "models.open_run_dialog", None,
                   "Open a training run folder (its best checkpoint) or a folder with an ONNX manifest.json", When.IDLE),
        ActionSpec("follow_run_action", "Fo&llow Run…", "follow.ask_and_follow", None,
                   "Follow a run folder that another process is writing (latent-explorer train, torchrun, a GPU box "
                   "through a shared folder): its curves, sample grids and newest checkpoint, live", When.CAN_OPEN),
        ActionSpec("runs_action", "&Browse Runs…", "tools.show_runs_browser", "Ctrl+Shift+O",
                   "Every training run as a table with its samples: open one or add it to Compare"),
        SubMenu("recent_menu", "Open &Recent", When.IDLE),
        SEPARATOR,
        ActionSpec("open_session_action", "Open Sess&ion…", "sessions.open_dialog", "Ctrl+Alt+O",
                   "Open a saved session: its model, latent point, path, directions, panel settings and layout",
                   When.CAN_OPEN),
        ActionSpec("save_session_action", "Save Sessio&n…", "sessions.save_dialog", "Ctrl+Shift+S",
                   "Save the open model's file name, the latent point, the path, the directions, the panel settings "
                   "and the layout as one session file", When.IDLE),
        SEPARATOR,
        ActionSpec("save_action", "&Save Model As…", "models.save_dialog", QKeySequence.StandardKey.Save,
                   "Save the current model as a .safetensors checkpoint", When.CAN_SAVE),
        ActionSpec("export_model_action", "Export &Model as ONNX…", "models.export_model_dialog", None,
                   "Write the model as decoder.onnx (and encoder.onnx) with a manifest.json, checked to decode "
                   "as the model does", When.CAN_EXPORT_ONNX),
        ActionSpec("export_action", "&Export Image as PNG…", "models.export_dialog", "Ctrl+E",
                   "Save the decoded image (upscaled with crisp pixels)", When.IMAGE_SHOWN),
        ActionSpec("close_model_action", "&Close Model", "models.close_model", None,
                   "Stop exploring the open model", When.CAN_CLOSE),
        SEPARATOR,
        ActionSpec("quit_action", "&Quit", "close", QKeySequence.StandardKey.Quit),
    )),
    ("&Edit", (
        ActionSpec("undo_action", "&Undo", "latent_history.undo", QKeySequence.StandardKey.Undo,
                   "Undo the last change of the latent point (a slider drag, Random, Zero, Encode, a map click, "
                   "Paste, a path played)", When.CAN_UNDO),
        # a string, not StandardKey.Redo: that keeps only its first binding, Ctrl+Y on Linux
        ActionSpec("redo_action", "&Redo", "latent_history.redo", "Ctrl+Shift+Z",
                   "Redo the change of the latent point that Undo took back", When.CAN_REDO),
    )),
    ("&Training", (
        ActionSpec("train_action", "&Train", "train_panel.start_training", "Ctrl+T",
                   "Train a new model with the settings of the Model & data panel", When.CAN_TRAIN),
        ActionSpec("continue_action", "&Continue Training", "train_panel.continue_training", "Ctrl+Shift+T",
                   "Continue training the loaded model from its weights and step count", When.CAN_CONTINUE),
        ActionSpec("pause_action", "&Pause / Resume", "session.toggle_pause", Qt.Key.Key_Space,
                   "Pause or resume training", When.TRAINING),
        ActionSpec("stop_action", "&Stop", "session.stop", Qt.Key.Key_Escape,
                   "Stop training (a checkpoint is saved)", When.TRAINING_ACTIVE),
        SEPARATOR,
        ActionSpec("evaluate_action", "&Evaluate Model…", "tools.show_evaluation", "Ctrl+Shift+E",
                   "The figures `latent-explorer eval` prints, for the open model", When.MODEL_OPEN),
    )),
    ("&Latent", (
        ActionSpec("random_action", "&Random Point", "latent_panel.randomize", "R",
                   "Draw a point from the prior", When.MODEL_OPEN),
        ActionSpec("zero_action", "&Zero", "latent_panel.zero", "0",
                   "Go to the origin of the latent space", When.MODEL_OPEN),
        SEPARATOR,
        ActionSpec("copy_point_action", "&Copy Point", "copy_point", "Ctrl+Shift+C",
                   "Copy the latent point as a list of numbers", When.MODEL_OPEN),
        ActionSpec("paste_point_action", "&Paste Point", "paste_point", "Ctrl+Shift+V",
                   "Go to the latent point on the clipboard", When.MODEL_OPEN),
    )),
    ("&View", (
        DOCK_TOGGLES,
        SEPARATOR,
        SubMenu("workspace_menu", "&Workspace"),  # filled by workspaces.Workspaces (Ctrl+1/2/3)
        ActionSpec("reset_layout_action", "Reset &Layout", "reset_layout", None,
                   "Put the panels of this workspace back where they started"),
    )),
    ("&Help", (
        ActionSpec("shortcuts_action", "&Keyboard Shortcuts", "tools.show_shortcuts",
                   QKeySequence.StandardKey.HelpContents, "Every key the window answers to"),
        ActionSpec("about_action", "&About Latent Explorer", "tools.show_about", None,
                   "Versions, the training device and where runs and caches live"),
    )),
)


@dataclass
class WindowActions:
    """What ``build_menus`` made, by the names in ``MENUS``."""

    actions: dict[str, QAction] = field(default_factory=dict)
    submenus: dict[str, QMenu] = field(default_factory=dict)
    rules: dict[str, When] = field(default_factory=dict)  # action or submenu name -> its rule
    tips: dict[str, str] = field(default_factory=dict)  # action name -> its tooltip while it is enabled


def _make_action(window: QMainWindow, spec: ActionSpec) -> QAction:
    action = QAction(spec.text, window)
    if spec.shortcut is not None:
        action.setShortcut(QKeySequence(spec.shortcut))
    # window-wide, so single keys work wherever focus is (text boxes still get their keys)
    action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    if spec.tip:
        action.setStatusTip(spec.tip)
        action.setToolTip(spec.tip)
    slot = attrgetter(spec.slot)(window)
    action.triggered.connect(lambda checked=False: slot())
    window.addAction(action)
    return action


def build_menus(window: QMainWindow, dock_toggles: list[QAction]) -> WindowActions:
    """The window's menu bar from ``MENUS``. Every slot path must resolve on ``window``
    now; ``dock_toggles`` go where ``DOCK_TOGGLES`` stands."""
    built = WindowActions()
    bar = window.menuBar()
    for title, entries in MENUS:
        menu = bar.addMenu(title)
        menu.setToolTipsVisible(True)  # a greyed entry's tooltip says why it is greyed
        for entry in entries:
            if entry is SEPARATOR:
                menu.addSeparator()
            elif entry is DOCK_TOGGLES:
                for toggle in dock_toggles:
                    menu.addAction(toggle)
            elif isinstance(entry, SubMenu):
                built.submenus[entry.name] = menu.addMenu(entry.text)
                built.rules[entry.name] = entry.enabled_when
            elif isinstance(entry, ActionSpec):
                action = _make_action(window, entry)
                menu.addAction(action)
                built.actions[entry.name] = action
                built.rules[entry.name] = entry.enabled_when
                built.tips[entry.name] = entry.tip
    return built


def update_enabled(built: WindowActions, state: ActionState) -> None:
    """Enable each action and submenu by its rule; a greyed action whose reason ``state``
    gives says it in its tooltip and status tip."""
    for name, rule in built.rules.items():
        target = built.actions.get(name) or built.submenus[name]
        enabled = rule.holds(state)
        target.setEnabled(enabled)
        if isinstance(target, QAction):
            reason = None if enabled else state.reasons.get(name)
            tip = f"Not available: {reason}" if reason else built.tips.get(name, "")
            target.setToolTip(tip)
            target.setStatusTip(tip)


def menu_actions(window: QMainWindow) -> list[QAction]:
    """Every entry of the window's menus and their submenus in menu order, separators left out
    (what Help > Keyboard Shortcuts lists: the live actions, so a changed key shows as it is)."""
    def entries(menu: QMenu) -> list[QAction]:
        out = []
        for a in menu.actions():
            if not a.isSeparator():
                out.append(a)
                if a.menu() is not None:
                    out.extend(entries(a.menu()))
        return out

    return [a for m in window.menuBar().actions() if m.menu() for a in entries(m.menu())]


def fill_recent_menu(menu: QMenu, files: list[str], open_file: Callable[[str], object],
                     clear: Callable[[], object]) -> None:
    """Open Recent: one entry per file, then "Clear list"; "(none)" when empty."""
    menu.clear()
    for f in files:
        action = menu.addAction(f)
        action.triggered.connect(lambda checked=False, f=f: open_file(f))
    if files:
        menu.addSeparator()
        menu.addAction("Clear list", clear)
    else:
        menu.addAction("(none)").setEnabled(False)
