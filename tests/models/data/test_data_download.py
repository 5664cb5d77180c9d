"""The downloader and MNIST's download path, against a local HTTP server."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import struct
import threading

import pytest

import models.data.mnist as mnist
from models.data import DataError, load_dataset
from models.data.download import check_md5, fetch, md5sum

GOOD = bytes(range(256)) * 40


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.hits.append(self.path)
        name = self.path.lstrip("/")
        if name == "truncated":
            # Promise more than we send, then close the connection.
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            self.wfile.write(GOOD[:1000])
            self.close_connection = True
            return
        body = self.files.get(name)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture()
def server():
    Handler.files = {"good": GOOD, "wrong": GOOD[::-1]}
    Handler.hits = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(path))
    return path


GOOD_MD5 = hashlib.md5(GOOD).hexdigest()


def test_fetch_good(server, tmp_path):
    dest = tmp_path / "d" / "file.bin"
    calls = []
    assert fetch(server + "good", dest, GOOD_MD5, lambda done, total: calls.append((done, total))) == dest
    assert md5sum(dest) == GOOD_MD5 and check_md5(dest, GOOD_MD5.upper())
    assert calls[0] == (0, len(GOOD)) and calls[-1] == (len(GOOD), len(GOOD))
    assert sorted(p.name for p in dest.parent.iterdir()) == ["file.bin"]
    # Already present with the right checksum: no second request.
    fetch(server + "good", dest, GOOD_MD5)
    assert Handler.hits == ["/good"]


@pytest.mark.parametrize("name, match", [("truncated", "failed|incomplete"), ("wrong", "corrupt"), ("missing", "404")])
def test_fetch_bad_leaves_nothing(server, tmp_path, name, match):
    dest = tmp_path / "file.bin"
    with pytest.raises(DataError, match=match):
        fetch(server + name, dest, GOOD_MD5)
    assert list(tmp_path.iterdir()) == []  # neither dest nor a temp file


def test_fetch_replaces_bad_existing_file_only_on_success(server, tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"stale")
    with pytest.raises(DataError):
        fetch(server + "wrong", dest, GOOD_MD5)
    assert list(tmp_path.iterdir()) == [dest] and dest.read_bytes() == b"stale"
    fetch(server + "good", dest, GOOD_MD5)
    assert dest.read_bytes() == GOOD


def test_fetch_network_failure(tmp_path):
    # Port 1 on localhost: connection refused, immediately.
    with pytest.raises(DataError, match="could not download"):
        fetch("http://127.0.0.1:1/x", tmp_path / "f", GOOD_MD5, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_progress_exception_aborts(server, tmp_path):
    class Cancelled(Exception):
        pass

    def cancel(done, total):
        if done:
            raise Cancelled

    with pytest.raises(Cancelled):
        fetch(server + "good", tmp_path / "f", GOOD_MD5, cancel)
    assert list(tmp_path.iterdir()) == []


def fake_mnist_files() -> dict[str, bytes]:
    """Tiny valid gz IDX files under the real names: 3 train and 2 test images."""
    out = {}
    for name in mnist.FILES:
        n = 3 if name.startswith("train") else 2
        if "images" in name:
            raw = struct.pack(">IIII", 0x803, n, 28, 28) + bytes([n]) * (n * 784)
        else:
            raw = struct.pack(">II", 0x801, n) + bytes(range(n))
        out[name] = gzip.compress(raw)
    return out


def test_offline_missing_names_directory(cache, tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("fashion-mnist", download=False)
    msg = str(err.value)
    assert str(cache / "fashion-mnist") in msg
    assert "train-images-idx3-ubyte.gz" in msg and "--data-dir" in msg
    # With an explicit (empty) data dir the message names that too.
    with pytest.raises(DataError, match=str(tmp_path / "empty")):
        load_dataset("mnist", tmp_path / "empty", download=False)


def test_mnist_downloads_from_mirror(server, cache, monkeypatch):
    files = fake_mnist_files()
    Handler.files = files
    monkeypatch.setitem(mnist.BASE_URLS, "mnist", server)
    monkeypatch.setitem(mnist.MD5, "mnist", {k: hashlib.md5(v).hexdigest() for k, v in files.items()})
    calls = []
    ds = load_dataset("mnist", progress=lambda done, total: calls.append((done, total)))
    assert ds.info["downloaded"] and ds.info["source"] == str(cache / "mnist")
    assert len(ds.train) == 3 and len(ds.test) == 2
    assert ds.train.labels.tolist() == [0, 1, 2]
    assert ds.train.images.shape == (3, 1, 28, 28) and int(ds.train.images[0, 0, 0, 0]) == 3
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(mnist.FILES)
    assert calls and all(done <= total for done, total in calls)
    # Second load: found in the cache, no new requests.
    hits = len(Handler.hits)
    again = load_dataset("mnist", download=False)
    assert not again.info["downloaded"] and len(Handler.hits) == hits


def test_mnist_download_failure_explains(server, cache, monkeypatch):
    Handler.files = {}
    monkeypatch.setitem(mnist.BASE_URLS, "mnist", server)
    with pytest.raises(DataError, match="put them in") as err:
        load_dataset("mnist")
    assert str(cache / "mnist") in str(err.value)
    assert not any((cache / "mnist").iterdir())


def test_a_fifo_in_the_cache_is_not_trusted_and_never_blocks(tmp_path):
    import os

    fifo = tmp_path / "train-images-idx3-ubyte.gz"
    os.mkfifo(fifo)  # reading it would block until a writer comes
    assert check_md5(fifo, "0" * 32) is False
