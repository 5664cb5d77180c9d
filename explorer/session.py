"""Sessions in the window: File ▸ Save Session collects what the user sees into a
:class:`~explorer.session_file.Session`; Open Session puts one back.

    Save:  ModelState.source + LatentState + Paths panel + DirectionsStore + panel settings
           + Compare's files + saveGeometry/saveState and the workspace
           ──> session_write.save_session (atomic JSON)
    Open:  session_file.read_session (checked whole: a bad file is said once, nothing changes)
           ──> ModelController.open_path (the normal open: asks before a file would run code)
           ──> ModelState.model_changed (this model) ──> the window's job runner (after the
               model's own dataset load: the panels it resets are set after it)
           ──> layout check, point, path, directions (their weights' hash compared in that
               job), panel settings, Compare's models (its own loading job), the workspace and
               its layout ──> one status line

A session names its model by file, so a model without one (being trained, never saved) is
not saved in a session: the message says to save the model first. What it keeps of the
panels, and the remembered last session, are :mod:`explorer.session_settings`;
:func:`offer_last_session` offers that session at start when the user has turned it on
(off by default).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox, QWidget

from models.explore.directions import weights_fingerprint
from models.explore.latent_paths import LatentPath, ModelIdentity
from models.io.images import IMAGE_SUFFIXES
from models.latent import LatentPoint, LatentSpec

from .directions_state import directions_store
from .model_access import model_name, snapshot_model
from .panels.latent_rows import set_quietly
from .session_file import (
    SUFFIX, DirectionsWalk, Session, SessionRefused, chosen_class, layout_problem, read_session,
)
from .session_settings import (
    last_session, offer_reopen_enabled, panels_of, read_panel_settings, remember_session, set_offer_reopen,
    write_panel_settings,
)
from .session_window import compare_files_of, restore_compare, restore_window, window_layout_of
from .session_write import model_ref_of, save_session

#: what a session file's name ends with (a dropped file so named opens as a session)
SESSION_SUFFIX = SUFFIX
SESSION_FILTER = f"Latent Explorer sessions (*{SUFFIX} *.json);;All files (*)"
OPEN_TITLE, SAVE_TITLE = "Could not open the session", "Could not save the session"
RESTORE_TITLE = "Could not restore the session"


# ---------------------------------------------------------------------------------------
# collecting
# ---------------------------------------------------------------------------------------
def collect_session(window: Any) -> Session:
    """What ``window`` shows, as a Session; ValueError saying what to do when it cannot be
    kept (a model with no file to name)."""
    ms = window.model_state
    model = ms.model
    session = Session(panels=read_panel_settings(window))
    if model is not None:
        if ms.source is None:
            raise ValueError("the open model has no file yet (it is being trained, or was never saved): "
                             "save it with File ▸ Save Model As… first, so the session can name it")
        with ms.lock:
            session.model = model_ref_of(ms.source, model)
        point = window.latent_state.flat
        if not np.all(np.isfinite(point)):
            raise ValueError("the latent point holds a value that is not a finite number (move it first)")
        session.point = point
        paths = panels_of(window).get("paths")
        path = paths.path() if paths is not None else None
        if path is not None:
            session.path, session.path_labels = path, [k.label for k in paths.keyframes]
        store = directions_store(ms)
        if store.current is not None and not store.current_is_stale:
            session.directions = store.current
            controls = getattr(window.latent_panel, "directions", None)
            walk = controls.walk if controls is not None and controls.active else None
            if walk is not None and walk.directions is store.current:
                session.walk = DirectionsWalk(walk.base.copy(), walk.coefficients.copy())
    session.compare = compare_files_of(window)
    session.window = window_layout_of(window)
    return session


# ---------------------------------------------------------------------------------------
# the dialogs (looked up at call time, so tests can replace them)
# ---------------------------------------------------------------------------------------
def ask_session_to_save(parent: QWidget, suggested: Path) -> str | None:
    chosen, _ = QFileDialog.getSaveFileName(parent, "Save Session", str(suggested), SESSION_FILTER)
    return chosen or None


def ask_session_to_open(parent: QWidget, folder: Path) -> str | None:
    chosen, _ = QFileDialog.getOpenFileName(parent, "Open Session", str(folder), SESSION_FILTER)
    return chosen or None


def ask_reopen(parent: QWidget, file: Path) -> bool:
    answer = QMessageBox.question(parent, "Reopen the last session?",
                                  f"Reopen {file.name}: its model, point, path and layout as you left them?\n"
                                  f"({file})")
    return answer == QMessageBox.StandardButton.Yes


def offer_last_session(window: Any, controller: SessionController | None = None) -> bool:
    """At start: when the user asked for it, offer the last session; True when it is being
    opened (else the caller opens the demo model as usual). ``controller``: the window's
    (default ``window.sessions``)."""
    last = last_session()
    if not offer_reopen_enabled() or last is None or not last.is_file():
        return False
    return ask_reopen(window, last) and (controller or window.sessions).open(last)


def _class_notes(saved: LatentSpec, now: LatentSpec, point: np.ndarray) -> list[str]:
    """For a class-conditional model: which class the restored point draws, and whether the
    model names its classes as it did when the session was saved (the point keeps the class's
    number either way)."""
    name = chosen_class(now, point)
    if name is None:
        return []
    notes = [f"class {name}"]
    if saved.class_names and saved.class_names != now.class_names:
        before = saved.class_names[LatentPoint.from_flat(saved, point).categories[0]]
        notes.append(f"the model names its classes differently now (the saved class {before} is {name})")
    return notes


# ---------------------------------------------------------------------------------------
# the controller
# ---------------------------------------------------------------------------------------
@dataclass
class _Pending:
    """A session whose model is being opened."""

    session: Session
    file: Path
    model_file: Path
    #: the model state's generation once its model is open (-1 while loading)
    generation: int = -1


def _same_file(a: Path, b: Path) -> bool:
    try:
        a, b = a.resolve(), b.resolve()
    except OSError:
        return False
    return a == b or (b.is_dir() and b in a.parents) or (a.is_dir() and a in b.parents)


class SessionController(QObject):
    """File ▸ Save Session / Open Session for ``window`` (a MainWindow: its model state,
    latent state, model controller, panels and job runner)."""

    #: the Session just restored (tests and the window wait for it)
    restored = Signal(object)

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.pending: _Pending | None = None
        window.model_state.model_changed.connect(self._on_model_changed)
        window.models.error.connect(self._on_open_failed)
        self.reopen_action = QAction("Offer to Reopen the Last Session at Start", window)
        self.reopen_action.setCheckable(True)
        self.reopen_action.setChecked(offer_reopen_enabled())
        self.reopen_action.setStatusTip("At start, ask whether to reopen the session saved or opened last "
                                        "(else the demo model opens)")
        self.reopen_action.toggled.connect(set_offer_reopen)

    def install_reopen_toggle(self, after: QAction) -> None:
        """Put the "offer at start" toggle in the menu that holds ``after``, below it."""
        menu = next((m for m in after.associatedObjects() if isinstance(m, QMenu)), None)
        if menu is None:
            return
        actions = menu.actions()
        below = actions.index(after) + 1
        if below < len(actions):
            menu.insertAction(actions[below], self.reopen_action)
        else:
            menu.addAction(self.reopen_action)

    # -- saving ------------------------------------------------------------------------
    def save_dialog(self) -> None:
        last = last_session()
        suggested = last if last is not None else Path.home() / f"explore{SUFFIX}"
        file = ask_session_to_save(self.window, suggested)
        if file:
            self.save(file)

    def save(self, file: str | Path) -> Path | None:
        """Write the session the window shows to ``file``; None, said why, when it cannot."""
        file = Path(file).expanduser()
        try:
            saved = save_session(collect_session(self.window), file)
        except OSError as e:
            self.window.show_error(SAVE_TITLE, f"{file.name}: {e.strerror or e}")
            return None
        except ValueError as e:
            self.window.show_error(SAVE_TITLE, f"{file.name}: {e}")
            return None
        remember_session(saved)
        self.window.show_status(f"Saved the session {saved}", 8000)
        return saved

    # -- opening -----------------------------------------------------------------------
    def open_dialog(self) -> None:
        last = last_session()
        file = ask_session_to_open(self.window, last.parent if last is not None else Path.home())
        if file:
            self.open(file)

    def open(self, file: str | Path) -> bool:
        """Read ``file`` and open its model the normal way; the rest follows once the model is
        open. False, said once, when the session is refused (nothing changes then)."""
        file = Path(file).expanduser()
        try:
            session = read_session(file)
        except ValueError as e:
            self.window.show_error(OPEN_TITLE, str(e))
            return False
        if self.window.session.active:
            self.window.show_error(OPEN_TITLE, f"{file.name}: training is running; stop it before opening a session")
            return False
        if self.window.models.loading is not None:  # the session would wait behind it, then be dropped
            self.window.show_error(OPEN_TITLE, f"{file.name}: a model is being opened; open the session once it is open")
            return False
        self.pending = None
        if session.model is None:
            self._apply(session, file, None)
            return True
        model_file = session.model.resolve(file)
        if not model_file.exists():
            self.window.show_error(OPEN_TITLE, str(SessionRefused(
                file, f"its model {session.model.path} is not there (moved or deleted?), so nothing was restored")))
            return False
        if model_file.is_file() and model_file.suffix.lower() in IMAGE_SUFFIXES:
            self.window.show_error(OPEN_TITLE, str(SessionRefused(file, f"its model {model_file.name} is an image")))
            return False
        self.pending = _Pending(session, file, model_file)
        self.window.show_status(f"Opening the session {file.name}: its model {model_file.name}…", 0)
        if not self.window.models.open_path(model_file):  # refused or declined: the controller said so
            self.pending = None
            return False
        return True

    def _on_open_failed(self, _title: str, _text: str) -> None:
        """The model did not open: its error is the one message; the session stops here."""
        if self.pending is not None and self.pending.generation < 0:
            self.pending = None

    def _on_model_changed(self, model: object) -> None:
        p = self.pending
        if p is None:
            return
        source = self.window.model_state.source
        if p.generation >= 0 or model is None or source is None or not _same_file(Path(source), p.model_file):
            self.pending = None  # another model came first: the session is not forced onto it
            if model is not None:
                self.window.show_status(f"Did not restore the session {p.file.name}: another model was opened", 8000)
            return
        p.generation = self.window.model_state.generation
        # next turn (the rest of the open finishes first), then behind the model's own data
        # load in the window's runner: the panels it resets get the session's settings after it
        QTimer.singleShot(0, lambda: self._after_load(p))

    def _after_load(self, p: _Pending) -> None:
        if self.pending is not p or p.generation != self.window.model_state.generation:
            return
        clone = snapshot_model(self.window.model_state) if p.session.directions is not None else None

        def fingerprint(_ctx: object) -> str | None:
            return weights_fingerprint(clone) if clone is not None else None

        self.window.jobs.submit(fingerprint, on_done=lambda fp: self._finish(p, fp),
                                on_error=lambda _e: self._finish(p, None))

    def _finish(self, p: _Pending, weights: str | None) -> None:
        if self.pending is not p or p.generation != self.window.model_state.generation:
            return
        self.pending = None
        self._apply(p.session, p.file, weights)

    # -- putting it back ---------------------------------------------------------------
    def _apply(self, session: Session, file: Path, weights: str | None) -> None:
        """Restore ``session`` into the window, whose model is the session's (``weights``: its
        weights' fingerprint, None when unknown)."""
        w = self.window
        notes: list[str] = []
        model = w.model_state.model
        if session.model is not None and model is not None:
            problem = layout_problem(session.model.latent_spec, model.latent_spec, model_name(model))
            if problem is not None:
                w.show_error(RESTORE_TITLE, f"{file.name}: {problem}. The model is open; nothing else of the "
                                            "session was restored")
                return
            self._restore_exploring(session, weights, notes)
            notes.extend(_class_notes(session.model.latent_spec, model.latent_spec, w.latent_state.flat))
        skipped = write_panel_settings(w, session.panels)
        notes.extend(restore_compare(w, session.compare, file))
        self._show_restored_directions(session)
        if skipped:
            notes.append(f"{len(skipped)} setting{'s' if len(skipped) > 1 else ''} no longer fit and kept "
                         f"{'their' if len(skipped) > 1 else 'its'} value ({', '.join(skipped[:4])}"
                         f"{'…' if len(skipped) > 4 else ''})")
        if session.window is not None:
            notes.extend(restore_window(w, session.window))
        remember_session(file)
        w.show_status(f"Restored the session {file.name}" + (": " + "; ".join(notes) if notes else ""), 10000)
        self.restored.emit(session)

    def _show_restored_directions(self, session: Session) -> None:
        """A Directions mode that was on already started computing when the model opened:
        stop that, and show the restored directions instead."""
        controls = getattr(self.window.latent_panel, "directions", None)
        store = directions_store(self.window.model_state)
        if session.directions is None or controls is None or not controls.active or store.current is not session.directions:
            return
        if controls.walk is None or controls.walk.directions is not session.directions:
            self.window.latent_panel.directions_jobs.cancel()
            controls.request()
        walk, saved = controls.walk, session.walk
        if walk is None or saved is None or walk.directions is not session.directions:
            return
        here = self.window.latent_state.flat
        walk.base[:], walk.coefficients[:] = saved.base, saved.coefficients
        if not np.array_equal(walk.point(), here):  # the point was moved since: walk from it
            walk.start_at(here)
            return
        for row, value in zip(controls.rows, walk.coefficients):
            set_quietly(row.slider, float(value))

    def _restore_exploring(self, session: Session, weights: str | None, notes: list[str]) -> None:
        """The point, the path and the directions (the model fits the session's layout)."""
        w = self.window
        ms = w.model_state
        if session.point is not None:
            w.latent_state.set_flat(session.point)
        paths = panels_of(w).get("paths")
        if paths is not None:
            paths.clear()
            if session.path is not None:
                with ms.lock:
                    identity = ModelIdentity.of(ms.model, ms.source)
                saved = session.path
                path = LatentPath(saved.keyframes, saved.kinds, identity, fps=saved.fps, loop=saved.loop,
                                  pingpong=saved.pingpong)
                if paths.set_path(path, "keyframe") and session.path_labels:
                    for keyframe, label in zip(paths.keyframes, session.path_labels):
                        keyframe.label = label
                    paths.keyframe_list.set_keyframes(paths.keyframes, paths.kinds)  # relist with the labels
        directions = session.directions
        if directions is None:
            return
        if weights is not None and directions.weights and directions.weights != weights:
            notes.append("its principal directions were computed with other weights than the model's now, so "
                         "Directions mode computes them again")
            return
        try:
            directions_store(ms).restore(directions)
        except ValueError as e:  # the layout was checked: only a store that changed its rules says this
            notes.append(f"its principal directions were not restored ({e})")
