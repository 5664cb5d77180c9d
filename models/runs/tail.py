"""Reading a run's ``metrics.jsonl`` while another process is still appending to it.

:class:`MetricsTail` keeps a byte offset: each :meth:`~MetricsTail.read` parses only the lines
completed since the last one, through the same record check as
:meth:`RunDir.read_metrics <models.runs.run_dir.RunDir.read_metrics>` (a line that is not a
record is skipped). What a live file can do to a reader, and what the tail does about it:

* **a half-written last line** (the writer is mid-``write``, or a network filesystem shows
  a prefix): a line is parsed only once its newline is there; until then the offset stays
  at its start, so it is read whole, once, on a later call;
* **truncated or rewritten** (a run restarted into the folder, a sync tool that replaces
  the file): the last line read is remembered and compared where it was; when those bytes
  are gone the file is read again from its start and the call says ``reset``. A file
  replaced by rename with the old content and more (rsync) passes that check and is read on
  from the offset, without a reset;
* **huge**: a first read of a file over ``MAX_METRICS_BYTES`` starts that far from its end
  (as ``read_metrics`` does), and one call reads at most ``chunk_bytes`` (``more`` says
  that the rest is waiting), so no call takes long or holds much memory;
* **damage**: a line longer than any record (no newline for over a megabyte) is skipped.

It also records what says whether the file holds one run written in one go from its first
step (:mod:`models.runs.watch` needs it to tell a finished run): the step of the file's first
record and whether the ``seconds`` column ever went backwards (each continuation of a run
counts its seconds from 0 again).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from models.io.files import MAX_METRICS_BYTES, open_regular
from models.runs.run_dir import _LONGEST_RECORD, _record

#: bytes one read parses at most: some 14,000 records of ~150 bytes, which the window's curves
#: take ~80 ms to add on the GUI thread, so a long history arrives in steps the window stays live between
CHUNK_BYTES = 2 * 2**20
#: the longest end of the last line kept to recognise the file (a record is ~150 bytes)
_FINGERPRINT_BYTES = 4096


class Signature(NamedTuple):
    """What changes when a file is written or replaced: compared, never interpreted."""

    device: int
    inode: int
    size: int
    mtime_ns: int


def signature(path: str | Path) -> Signature | None:
    """``path``'s signature, None when it does not exist or cannot be looked at."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return Signature(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass
class TailRead:
    """What one :meth:`MetricsTail.read` found."""

    #: the records completed since the last read, in file order
    records: list[dict[str, Any]] = field(default_factory=list)
    #: the file was truncated or rewritten: ``records`` start again from its beginning
    reset: bool = False
    #: more complete lines are waiting than one read takes: read again soon
    more: bool = False


class MetricsTail:
    """The records of a growing metrics file, each delivered once (see the module)."""

    def __init__(self, path: str | Path, chunk_bytes: int = CHUNK_BYTES, history_bytes: int = MAX_METRICS_BYTES) -> None:
        self.path = Path(path)
        self.chunk_bytes = max(int(chunk_bytes), _LONGEST_RECORD + 1)
        self.history_bytes = int(history_bytes)
        self._restart()

    def _restart(self) -> None:
        #: where the next unread line starts (always just after a newline, or 0)
        self.offset = 0
        self._fingerprint = b""  # the end of the last complete line, which ends at ``offset``
        self._skip_first_line = False  # the first bytes read are the cut end of a line
        self._delivered = False
        #: the step of the file's first record; None until read, or when the read began mid-file
        self.first_step: int | None = None
        self._from_start = True
        #: whether ``seconds`` ever went backwards: the file holds a run and its continuation
        self.restarted = False
        #: the step and seconds of the newest record read
        self.last_step: int | None = None
        self.last_seconds: float | None = None

    def read(self) -> TailRead:
        """The records completed since the last call. Raises FileRefused when the path is
        not a regular, readable file (a folder or a pipe there); a missing file reads as
        no records (and a reset, if records had been read from it)."""
        if not os.path.lexists(self.path):
            had = self._delivered
            self._restart()
            return TailRead(reset=had)
        with open_regular(self.path, "metrics file") as f:
            size = os.fstat(f.fileno()).st_size
            reset = self._check_unchanged(f, size)
            if self.offset == 0 and not self._skip_first_line and size > self.history_bytes:
                self.offset = size - self.history_bytes  # a first read: only the file's end, as read_metrics does
                self._skip_first_line, self._from_start = True, False
            if size <= self.offset:
                return TailRead(reset=reset)
            f.seek(self.offset)
            data = f.read(min(size - self.offset, self.chunk_bytes))
        cut = data.rfind(b"\n")
        if cut < 0:
            if len(data) > _LONGEST_RECORD:  # no record is this long: damage, skipped up to its newline
                self.offset += len(data)
                self._skip_first_line = True
                self._fingerprint = b""
            return TailRead(reset=reset, more=len(data) == self.chunk_bytes)
        lines = data[:cut].split(b"\n")
        if self._skip_first_line:
            lines, self._skip_first_line = lines[1:], False
        self.offset += cut + 1
        self._fingerprint = data[max(0, cut + 1 - _FINGERPRINT_BYTES): cut + 1]
        records = [r for r in map(_record, lines) if r is not None]
        self._note(records)
        return TailRead(records, reset, more=self.offset < size and len(data) == self.chunk_bytes)

    def _check_unchanged(self, f: Any, size: int) -> bool:
        """Whether the file was truncated or rewritten since the last read (then start over)."""
        if self.offset == 0 or not self._fingerprint:
            return False
        start = self.offset - len(self._fingerprint)
        if size >= self.offset:
            f.seek(start)
            if f.read(len(self._fingerprint)) == self._fingerprint:
                return False
        had = self._delivered
        self._restart()
        return had

    def _note(self, records: list[dict[str, Any]]) -> None:
        for r in records:
            if not self._delivered:
                self._delivered = True
                self.first_step = r["step"] if self._from_start else None
            seconds = r.get("seconds")
            if isinstance(seconds, (int, float)) and math.isfinite(seconds):
                if self.last_seconds is not None and seconds < self.last_seconds:
                    self.restarted = True
                self.last_seconds = float(seconds)
            self.last_step = r["step"]
