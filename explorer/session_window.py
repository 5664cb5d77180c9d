"""The parts of a session that are the window's arrangement rather than the model's: the
dock layout with the workspace it belongs to, and the models listed in Compare. Collected
on Save Session, put back on Open Session (:mod:`explorer.session`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray

from .session_data import FileRef, WindowLayout
from .session_settings import panels_of


def window_layout_of(window: Any) -> WindowLayout:
    """The window's size, its dock layout and the workspace that layout is of."""
    workspaces = getattr(window, "workspaces", None)
    return WindowLayout(bytes(window.saveGeometry().data()), bytes(window.saveState().data()),
                        workspaces.current if workspaces is not None else "")


def restore_window(window: Any, layout: WindowLayout) -> list[str]:
    """The window's size and dock layout, in the workspace the layout is of (entered first,
    so the layout lands in its own workspace, not in the one in use now); notes for the
    status line."""
    notes = []
    if layout.geometry:
        window.restoreGeometry(QByteArray(layout.geometry))
    workspaces = getattr(window, "workspaces", None)
    known = workspaces is not None and layout.workspace in workspaces.actions
    if layout.workspace and workspaces is not None and not known:
        notes.append(f"its workspace {layout.workspace[:40]!r} is not one this version has")
    if known:
        ok = workspaces.restore_layout(layout.workspace, layout.state)
    else:  # a session saved before it named its workspace: the layout goes where the user is
        ok = not layout.state or window.restoreState(QByteArray(layout.state))
    if not ok:
        notes.append("its window layout could not be restored")
    return notes


def compare_files_of(window: Any) -> list[FileRef] | None:
    """The files of the models listed in Compare, in order (one trained here and never saved
    has none to name); None when the window has no Compare panel."""
    compare = panels_of(window).get("compare")
    if compare is None:
        return None
    return [FileRef(Path(e.source)) for e in compare.entries if e.source is not None]


def restore_compare(window: Any, files: list[FileRef] | None, session_file: Path) -> list[str]:
    """Compare's list as the session names it (loaded in the panel's job; each file that
    cannot be opened is said there); nothing when the session does not say."""
    compare = panels_of(window).get("compare")
    if files is None or compare is None:
        return []
    compare.replace_files([ref.resolve(session_file) for ref in files])
    n = len(files)
    return [f"Compare is opening the {n} model{'s' if n != 1 else ''} it listed"] if n else []
