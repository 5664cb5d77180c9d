"""The window's one error contract: what a user reads when something fails.

:func:`error_text` is the one line of the status bar or a panel's message line;
:func:`describe_error` the (title, message) of a message box. Both speak the user's words:
an ``OSError`` says what happened to the file ("permission denied", "is a folder, not a
file", "the disk is full") with the file's name, not ``[Errno 13]``; an allocator failure
says "out of memory", not "[enforce fail at alloc_cpu.cpp:127]". Errors the engine raises
for users (its ``ValueError``/``RuntimeError`` subclasses: a bad checkpoint, a bad dataset,
a file that failed validation) carry their message as it is.
"""
from __future__ import annotations

import errno
import traceback
from pathlib import Path

import torch

#: errno -> what happened, in words (the rest use the system's own text)
_OS_WORDS = {
    errno.ENOENT: "no such file or folder",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ENOSPC: "the disk is full",
    errno.EROFS: "the disk is read-only",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EMFILE: "too many files are open",
}
#: what torch's and Python's allocators say when memory runs out
_OUT_OF_MEMORY = ("out of memory", "can't allocate memory", "alloc_cpu.cpp", "not enough memory")


def os_error_words(exc: OSError) -> str:
    """What happened, in words ("permission denied"), without the file's name."""
    words = _OS_WORDS.get(exc.errno or -1)
    if words is None:
        words = (exc.strerror or str(exc) or type(exc).__name__).strip()
        words = words[:1].lower() + words[1:]
    return words


def _os_error_text(exc: OSError) -> str:
    if exc.filename:
        return f"{Path(str(exc.filename)).name or exc.filename}: {os_error_words(exc)}"
    return os_error_words(exc)


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(s in text for s in _OUT_OF_MEMORY)


def _for_users(exc: BaseException) -> bool:
    """An exception whose message is written for the user: a builtin ValueError or
    RuntimeError, or one the engine (``models``) raises on purpose."""
    if not isinstance(exc, (ValueError, RuntimeError)):
        return False
    module = type(exc).__module__
    return module == "builtins" or module.split(".")[0] == "models"


def error_text(exc: BaseException) -> str:
    """One line a user can act on (status bar, a panel's message)."""
    if isinstance(exc, ImportError):
        return str(exc)
    if is_out_of_memory(exc):
        return "out of memory: this needs more memory than the computer has free"
    if isinstance(exc, OSError) and type(exc).__module__ == "builtins":
        return _os_error_text(exc)
    text = str(exc).strip() or type(exc).__name__
    if _for_users(exc):
        return text.splitlines()[0]
    return f"{type(exc).__name__}: {text.splitlines()[0]}"


def about_file(path: str | Path, exc: BaseException) -> str:
    """:func:`error_text` of a failure with ``path``, its name in front once (the engine's
    messages often name the file already)."""
    name = Path(path).name
    text = error_text(exc)
    return text if not name or name in text else f"{name}: {text}"


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(title, message) a user can act on, for any exception a job or training run may raise."""
    name = type(exc).__name__
    text = str(exc) or name
    if name == "DataError":
        return "Could not load the dataset", text
    if any(c.__name__ == "CheckpointError" for c in type(exc).__mro__):  # and ForeignModelError, a kind of it
        return "Could not open the model", text
    if name == "TrainingDiverged":
        return "Training diverged", text
    if name == "ModelTooLarge":
        return "The model is too large", text
    if is_out_of_memory(exc):
        detail = text.splitlines()[0] if "out of memory" in text.lower() else "The computer ran out of memory."
        return "Out of memory", f"{detail}\n\nTry a smaller batch size or model, or train on the CPU."
    if isinstance(exc, OSError) and type(exc).__module__ == "builtins":
        return "Could not read or write a file", _os_error_text(exc)
    if isinstance(exc, ValueError):
        return "Invalid settings", text
    return f"Unexpected error ({name})", f"{text}\n\n{''.join(traceback.format_exception_only(type(exc), exc)).strip()}"
