"""Error messages in the user's words: what happened to which file, not errno numbers or
allocator source lines."""
from __future__ import annotations

import errno
import os

import pytest
import torch

from explorer.errors import describe_error, error_text


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root reads any file")
def test_a_file_that_exists_but_cannot_be_read_says_permission_denied(tmp_path):
    f = tmp_path / "locked.safetensors"
    f.write_bytes(b"x")
    f.chmod(0)
    try:
        with pytest.raises(OSError) as info:
            f.open("rb")
    finally:
        f.chmod(0o600)
    assert error_text(info.value) == "locked.safetensors: permission denied"


@pytest.mark.parametrize("exc, text", [
    (PermissionError(errno.EACCES, "Permission denied", "/a/b/locked.json"), "locked.json: permission denied"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/gone.png"), "gone.png: no such file or folder"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "/x/run"), "run: is a folder, not a file"),
    (OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
    (OSError(errno.EIO, "Input/output error", "/d/f"), "f: input/output error"),
])
def test_os_errors_say_what_happened_to_the_file(exc, text):
    assert error_text(exc) == text
    assert describe_error(exc) == ("Could not read or write a file", text)


def test_an_allocator_failure_says_out_of_memory():
    exc = RuntimeError("[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: can't allocate memory: "
                       "you tried to allocate 1600000000000 bytes. Error code 12 (Cannot allocate memory)")
    assert "alloc_cpu" not in error_text(exc) and error_text(exc).startswith("out of memory")
    title, text = describe_error(exc)
    assert title == "Out of memory" and "alloc_cpu" not in text
    assert error_text(MemoryError()).startswith("out of memory")
    assert describe_error(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))[1].startswith(
        "CUDA out of memory")


def test_the_engines_own_errors_read_as_written():
    from models.io.images import ImageReadError
    from models.runs.checkpoint import CheckpointError

    assert error_text(CheckpointError("x.safetensors: step is not a whole number")) == "x.safetensors: step is not a whole number"
    assert error_text(ImageReadError(__import__("pathlib").Path("/a/d.png"), "is a folder, not an image file")) == \
        "d.png: is a folder, not an image file"
    assert error_text(KeyError("x")) == "KeyError: 'x'"  # a bug, not a message: its type is the clue
