"""Reading a metrics file another process is appending to (models.runs.tail.MetricsTail):
every record once and in order, a half-written last line only once it is whole, a truncated
or rewritten file read again from its start (and said), a file replaced by rename with more
lines read on without a reset, bounded reads of a long file, damage skipped."""
from __future__ import annotations

import json
import os

import pytest

from models.io.files import FileRefused
from models.runs.run_dir import _LONGEST_RECORD
from models.runs.tail import MetricsTail, signature


def _line(step: int, seconds: float | None = None, loss: float = 1.0) -> bytes:
    record = {"step": step, "seconds": step * 0.1 if seconds is None else seconds, "loss": loss}
    return (json.dumps(record) + "\n").encode()


def _append(path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def test_each_record_is_delivered_once_in_order_as_lines_are_appended(tmp_path):
    path = tmp_path / "metrics.jsonl"
    tail = MetricsTail(path)
    assert tail.read().records == []  # not written yet
    _append(path, _line(1) + _line(2))
    assert [r["step"] for r in tail.read().records] == [1, 2]
    assert tail.read().records == []
    _append(path, _line(3))
    got = tail.read()
    assert [r["step"] for r in got.records] == [3] and not got.reset
    assert (tail.first_step, tail.last_step, tail.restarted) == (1, 3, False)


def test_a_half_written_last_line_is_parsed_once_after_its_newline_arrives(tmp_path):
    path = tmp_path / "metrics.jsonl"
    whole = _line(2, loss=0.5)
    _append(path, _line(1) + whole[:17])  # the writer is mid-line
    tail = MetricsTail(path)
    assert [r["step"] for r in tail.read().records] == [1]
    assert tail.read().records == []  # still half a line: nothing, and no error
    _append(path, whole[17:-1])  # all but the newline
    assert tail.read().records == []
    _append(path, b"\n")
    assert tail.read().records == [{"step": 2, "seconds": 0.2, "loss": 0.5}]
    assert tail.read().records == []


def test_a_truncated_file_is_read_again_from_its_start_and_says_so(tmp_path):
    path = tmp_path / "metrics.jsonl"
    _append(path, b"".join(_line(s) for s in range(1, 6)))
    tail = MetricsTail(path)
    assert len(tail.read().records) == 5
    path.write_bytes(_line(1, loss=9.0) + _line(2, loss=9.0))  # shorter than what was read
    got = tail.read()
    assert got.reset and [(r["step"], r["loss"]) for r in got.records] == [(1, 9.0), (2, 9.0)]
    assert tail.read().records == [] and not tail.read().reset


def test_a_file_rewritten_longer_than_the_offset_is_noticed_too(tmp_path):
    """Truncated and written past the old offset between two reads: the bytes where the last
    line was are different, so it is read again rather than from the middle of a line."""
    path = tmp_path / "metrics.jsonl"
    _append(path, _line(1) + _line(2))
    tail = MetricsTail(path)
    tail.read()
    path.write_bytes(b"".join(_line(s, loss=3.0) for s in range(1, 9)))
    got = tail.read()
    assert got.reset and [r["step"] for r in got.records] == list(range(1, 9))


def test_a_file_replaced_by_rename_with_its_old_lines_and_more_reads_on(tmp_path):
    """What a sync tool does (a temporary copy renamed over the file): no reset, no repeat."""
    path = tmp_path / "metrics.jsonl"
    old = _line(1) + _line(2)
    path.write_bytes(old)
    tail = MetricsTail(path)
    tail.read()
    copy = tmp_path / ".metrics.jsonl.tmp"
    copy.write_bytes(old + _line(3))
    inode = os.stat(path).st_ino
    os.replace(copy, path)
    assert os.stat(path).st_ino != inode
    got = tail.read()
    assert not got.reset and [r["step"] for r in got.records] == [3]


def test_a_deleted_file_resets_and_its_successor_is_read_from_the_start(tmp_path):
    path = tmp_path / "metrics.jsonl"
    _append(path, _line(1))
    tail = MetricsTail(path)
    tail.read()
    path.unlink()
    assert tail.read().reset
    _append(path, _line(1, loss=2.0))
    assert [r["loss"] for r in tail.read().records] == [2.0]


def test_a_long_file_is_read_in_bounded_chunks_each_record_once(tmp_path):
    path = tmp_path / "metrics.jsonl"
    n = 30_000  # about 1.4 MB: two chunks of the smallest size a tail allows
    path.write_bytes(b"".join(_line(s) for s in range(1, n + 1)))
    tail = MetricsTail(path, chunk_bytes=1)  # raised to one longest record
    assert tail.chunk_bytes == _LONGEST_RECORD + 1
    steps, reads = [], 0
    while True:
        got = tail.read()
        reads += 1
        steps += [r["step"] for r in got.records]
        if not got.more:
            break
    assert steps == list(range(1, n + 1)) and reads == 2


def test_a_file_over_the_history_cap_is_read_from_its_end_only(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b"".join(_line(s) for s in range(1, 101)))
    tail = MetricsTail(path, history_bytes=10 * len(_line(50)))
    steps = [r["step"] for r in tail.read().records]
    assert steps[-1] == 100 and 8 <= len(steps) <= 10 and steps == list(range(steps[0], 101))
    assert tail.first_step is None  # the file's start was not read: its first step is unknown


def test_damage_is_skipped_and_the_records_around_it_are_kept(tmp_path):
    path = tmp_path / "metrics.jsonl"
    _append(path, _line(1) + b'{"step": "two"}\n' + b"garbage\n" + b'{"step": 3, "x": [1]}\n' + _line(4))
    tail = MetricsTail(path)
    assert [r["step"] for r in tail.read().records] == [1, 4]
    # a line without a newline for longer than any record: skipped up to its end, once it ends
    _append(path, b"x" * (_LONGEST_RECORD + 10))
    assert tail.read().records == []
    _append(path, b"yyy\n" + _line(5))
    assert [r["step"] for r in tail.read().records] == [5]


def test_a_continuation_is_told_by_its_seconds_starting_again(tmp_path):
    path = tmp_path / "metrics.jsonl"
    _append(path, _line(10, seconds=5.0) + _line(20, seconds=9.0))
    tail = MetricsTail(path)
    tail.read()
    assert not tail.restarted and tail.first_step == 10
    _append(path, _line(30, seconds=0.4))  # --resume: seconds count from 0 again
    tail.read()
    assert tail.restarted and tail.last_step == 30


def test_a_pipe_in_place_of_the_file_is_refused_without_blocking(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    path = tmp_path / "metrics.jsonl"
    os.mkfifo(path)
    with pytest.raises(FileRefused, match="not a regular file"):
        MetricsTail(path).read()


def test_signature_changes_with_a_rewrite_and_is_none_for_a_missing_file(tmp_path):
    path = tmp_path / "f"
    assert signature(path) is None
    path.write_bytes(b"a")
    first = signature(path)
    (tmp_path / "g").write_bytes(b"ab")
    os.replace(tmp_path / "g", path)
    assert signature(path) != first and signature(path).size == 2
