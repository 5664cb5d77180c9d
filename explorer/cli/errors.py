"""The CLI's name, the failures it reports as one line on stderr with exit code 2, and those
lines in the user's words."""
from __future__ import annotations

import os

PROG = "latent-explorer"
#: set to 1 to get the traceback of an unexpected error instead of its one line
DEBUG_ENV = "LATENT_EXPLORER_DEBUG"


class CLIError(Exception):
    """A user-facing failure: printed as one line, exit code 2."""


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that are the user's to fix (a bad file, missing data, a diverged run),
    printed as one line instead of a traceback."""
    from models.runs.checkpoint import CheckpointError
    from models.data.base import DataError
    from models.families.registry import UnknownFamily
    from models.training.loop import TrainingDiverged

    return (CLIError, CheckpointError, DataError, UnknownFamily, TrainingDiverged, ValueError, OSError, RuntimeError)


#: what allocators say when they fail: torch's CPU allocator ("[enforce fail at alloc_cpu.cpp:...]
#: DefaultCPUAllocator: can't allocate memory"), CUDA's ("CUDA out of memory")
_ALLOC_WORDS = ("alloc_cpu", "defaultcpuallocator", "can't allocate memory", "out of memory", "not enough memory")


def describe(e: BaseException) -> str:
    """One line for ``e`` in the user's words: an allocator's failure as "not enough memory",
    a file's OSError with its name and what went wrong (not "[Errno 13]")."""
    from models.io.files import describe_os_error

    text = " ".join(str(e).split())
    if isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and any(w in text.lower() for w in _ALLOC_WORDS)):
        return ("not enough memory for this: try a smaller model, batch or output, or the CPU "
                f"({text.split('] ')[-1][:200] or 'the allocation failed'})")
    if isinstance(e, OSError) and not type(e).__module__.startswith("models"):
        name = os.path.basename(str(e.filename)) if e.filename else ""
        # reading or writing is not known here (files read by the engine say which themselves)
        what = "permission denied" if isinstance(e, PermissionError) else describe_os_error(e)
        return f"{name}: {what}" if name else what
    return text or type(e).__name__


def unexpected(e: BaseException) -> str:
    """The one line for an error the app did not expect (a bug): its kind and message, and
    how to see the traceback."""
    text = " ".join(str(e).split())[:300]
    return f"unexpected error ({type(e).__name__}: {text}); set {DEBUG_ENV}=1 to see the traceback"


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV) == "1"
