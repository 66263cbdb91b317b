"""Mirror download against a local HTTP server (127.0.0.1, ephemeral port) and safe zip extraction."""

import hashlib
import logging
import random
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from songvec.download import DownloadError, extract_zip, fetch, mirror_url

NAME = "LFM-1b.zip"
DATA = random.Random(0).randbytes(100_000)
SHA = hashlib.sha256(DATA).hexdigest()
FAST = dict(timeout=2, chunk_bytes=4096, retry_wait=0)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests = []          # (path, Range header or None)
        self.drops_left = 0         # /drop/: responses that stop half-way through
        self.release = threading.Event()

    def url(self, prefix):
        return f"http://127.0.0.1:{self.server_address[1]}/{prefix}/"


class _Handler(BaseHTTPRequestHandler):
    """/ok/ honours Range, /norange/ ignores it, /drop/ honours it but cuts some bodies, /slow/ stalls."""

    def do_GET(self):
        kind, _, name = self.path.strip("/").partition("/")
        range_header = self.headers.get("Range")
        self.server.requests.append((self.path, range_header))
        if kind == "slow":
            self.server.release.wait(5)
        if name != NAME or kind not in ("ok", "norange", "drop", "slow"):
            self.send_error(404)
            return
        start = int(range_header[len("bytes="):-1]) if range_header and kind != "norange" else 0
        if start >= len(DATA):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(DATA)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = DATA[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(DATA) - 1}/{len(DATA)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if kind == "drop" and self.server.drops_left > 0:
            self.server.drops_left -= 1
            body = body[:len(body) // 2]  # then the handler returns and the server closes the connection
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.fixture
def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _leftovers(dest):
    return sorted(p.name for p in Path(dest).iterdir()) if Path(dest).exists() else []


def test_download_verified(server, tmp_path):
    path = fetch(NAME, [server.url("ok")], tmp_path, expected_size=len(DATA), expected_sha256=SHA, **FAST)
    assert path == tmp_path / NAME and path.read_bytes() == DATA
    assert _leftovers(tmp_path) == [NAME]
    # a second call finds the verified file and does not ask the server again
    assert fetch(NAME, [server.url("ok")], tmp_path, expected_sha256=SHA, **FAST) == path
    assert len(server.requests) == 1


def test_connection_dropped_mid_file_resumes(server, tmp_path):
    server.drops_left = 2
    path = fetch(NAME, [server.url("drop")], tmp_path, expected_sha256=SHA, retries=2, **FAST)
    assert path.read_bytes() == DATA
    # 100,000 bytes: first answer cut at 50,000, the resumed one cut half-way through the remaining 50,000
    assert [r for _, r in server.requests] == [None, "bytes=50000-", "bytes=75000-"]
    assert _leftovers(tmp_path) == [NAME]


def test_mirror_that_keeps_dropping_hands_over_to_the_next_with_resume(server, tmp_path, caplog):
    server.drops_left = 10
    with caplog.at_level(logging.WARNING, logger="songvec.download"):
        path = fetch(NAME, [server.url("drop"), server.url("ok")], tmp_path, retries=1, **FAST)
    assert path.read_bytes() == DATA
    assert server.requests[-1] == (f"/ok/{NAME}", "bytes=75000-")
    assert "connection failed 2 times mid-transfer" in caplog.text


def test_existing_partial_is_resumed(server, tmp_path):
    (tmp_path / f".part-{NAME}").write_bytes(DATA[:30_000])
    path = fetch(NAME, [server.url("ok")], tmp_path, expected_size=len(DATA), expected_sha256=SHA, **FAST)
    assert path.read_bytes() == DATA
    assert server.requests == [(f"/ok/{NAME}", "bytes=30000-")]


def test_complete_partial_gets_416_and_is_kept(server, tmp_path):
    (tmp_path / f".part-{NAME}").write_bytes(DATA)
    path = fetch(NAME, [server.url("ok")], tmp_path, expected_sha256=SHA, **FAST)
    assert path.read_bytes() == DATA
    assert server.requests == [(f"/ok/{NAME}", "bytes=100000-")]


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    (tmp_path / f".part-{NAME}").write_bytes(b"x" * 30_000)  # bytes that must not survive
    path = fetch(NAME, [server.url("norange")], tmp_path, expected_sha256=SHA, **FAST)
    assert path.read_bytes() == DATA
    assert server.requests == [(f"/norange/{NAME}", "bytes=30000-")]


def test_wrong_checksum_leaves_nothing_to_reuse(server, tmp_path):
    with pytest.raises(DownloadError, match=f"its sha256 is {SHA}, expected {'0' * 64}") as error:
        fetch(NAME, [server.url("ok")], tmp_path, expected_sha256="0" * 64, **FAST)
    assert "the downloaded bytes were deleted" in str(error.value)
    assert _leftovers(tmp_path) == []
    # a later run with the right checksum starts from byte 0 and succeeds
    assert fetch(NAME, [server.url("ok")], tmp_path, expected_sha256=SHA, **FAST).read_bytes() == DATA
    assert [r for _, r in server.requests] == [None, None]


def test_wrong_size(server, tmp_path):
    with pytest.raises(DownloadError, match=f"server announces {len(DATA)} bytes, expected {len(DATA) + 1}"):
        fetch(NAME, [server.url("ok")], tmp_path, expected_size=len(DATA) + 1, **FAST)
    assert _leftovers(tmp_path) == []
    # a partial already longer than the expected size is dropped; the checks then fail on the real size
    (tmp_path / f".part-{NAME}").write_bytes(DATA + b"tail")
    with pytest.raises(DownloadError, match=f"announces {len(DATA)} bytes, expected {len(DATA) - 1}"):
        fetch(NAME, [server.url("ok")], tmp_path, expected_size=len(DATA) - 1, **FAST)
    assert _leftovers(tmp_path) == []


def test_existing_final_file_failing_the_checks_is_an_error(server, tmp_path):
    (tmp_path / NAME).write_bytes(DATA[:10])
    with pytest.raises(DownloadError, match=f"already exists but its size is 10 bytes, expected {len(DATA)}"):
        fetch(NAME, [server.url("ok")], tmp_path, expected_size=len(DATA), **FAST)
    assert server.requests == []


def test_404_refused_and_timeout_fall_through(server, tmp_path, closed_port_url, caplog):
    mirrors = [server.url("missing"), closed_port_url, server.url("slow"), server.url("ok")]
    with caplog.at_level(logging.WARNING, logger="songvec.download"):
        path = fetch(NAME, mirrors, tmp_path, expected_sha256=SHA, **{**FAST, "timeout": 0.3})
    assert path.read_bytes() == DATA
    assert f"{server.url('missing')}{NAME} failed: HTTP 404" in caplog.text
    assert f"{closed_port_url}{NAME} failed: ConnectionRefusedError" in caplog.text
    assert f"{server.url('slow')}{NAME} failed: timed out (timeout 0.3 s)" in caplog.text


def test_all_mirrors_failing_explain_the_manual_route(server, tmp_path, closed_port_url):
    dest = tmp_path / "raw"
    with pytest.raises(DownloadError) as error:
        fetch(NAME, [server.url("missing"), closed_port_url], dest, expected_size=len(DATA), **FAST)
    message = str(error.value)
    assert f"- {server.url('missing')}{NAME}: HTTP 404" in message
    assert f"- {closed_port_url}{NAME}: ConnectionRefusedError" in message
    assert f"put it at exactly this path:\n  {(dest / NAME).resolve()}\n" in message
    assert f"(it must have size {len(DATA)} bytes)" in message
    assert "lfm1b.archive_dir" in message and "lfm1b.folder" in message
    with pytest.raises(DownloadError, match="no mirror is configured") as error:
        fetch(NAME, [], dest, config_keys={"lfm1b.folder": "a folder"}, **FAST)
    assert str((dest / NAME).resolve()) in str(error.value) and "  - lfm1b.folder: a folder" in str(error.value)


def test_mirror_url_forms():
    assert mirror_url("http://h/d", NAME) == "http://h/d/LFM-1b.zip"
    assert mirror_url("http://h/d/", NAME) == "http://h/d/LFM-1b.zip"
    assert mirror_url("http://h/x?f={filename}&dl=1", NAME) == "http://h/x?f=LFM-1b.zip&dl=1"
    assert mirror_url("http://h/share/1056/publicLink/LFM-1b.zip", NAME) == "http://h/share/1056/publicLink/LFM-1b.zip"
    assert mirror_url("http://h/d/", "a b.txt") == "http://h/d/a%20b.txt"


def _zip(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return path


def test_extract_all_and_some(tmp_path):
    archive = _zip(tmp_path / "a.zip", {"LFM-1b/": b"", "LFM-1b/LFM-1b_LEs.txt": b"1\t2\n", "top.txt": b"t"})
    files = extract_zip(archive, tmp_path / "out")
    assert files == [tmp_path / "out" / "LFM-1b" / "LFM-1b_LEs.txt", tmp_path / "out" / "top.txt"]
    assert files[0].read_bytes() == b"1\t2\n" and files[1].read_bytes() == b"t"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "out"]
    # into an existing folder: named members replace files one by one, other files stay
    (tmp_path / "out" / "top.txt").write_bytes(b"old")
    (tmp_path / "out" / "mine.txt").write_bytes(b"keep")
    assert extract_zip(archive, tmp_path / "out", members=["top.txt"]) == [tmp_path / "out" / "top.txt"]
    assert (tmp_path / "out" / "top.txt").read_bytes() == b"t"
    assert (tmp_path / "out" / "mine.txt").read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "out"]
    with pytest.raises(ValueError, match=r"has no member\(s\) \['nope.txt'\]"):
        extract_zip(archive, tmp_path / "out", members=["nope.txt"])


@pytest.mark.parametrize("evil", ["../evil.txt", "a/../../evil.txt", "/abs/evil.txt", "C:/evil.txt", "..\\evil.txt"])
def test_extract_refuses_path_traversal(tmp_path, evil):
    archive = _zip(tmp_path / "a.zip", {"good.txt": b"g", evil: b"e"})
    with pytest.raises(ValueError, match="outside the destination folder"):
        extract_zip(archive, tmp_path / "sub" / "out")
    assert not (tmp_path / "sub" / "out").exists() and not (tmp_path / "evil.txt").exists()
    assert list((tmp_path / "sub").iterdir()) == [] if (tmp_path / "sub").exists() else True


def test_extract_corrupt_member_leaves_nothing(tmp_path):
    archive = _zip(tmp_path / "a.zip", {"one.txt": b"A" * 1000, "two.txt": b"B" * 1000})
    raw = bytearray(archive.read_bytes())
    raw[raw.index(b"B" * 1000) + 500] = ord("C")  # stored data no longer matches its CRC
    archive.write_bytes(bytes(raw))
    with pytest.raises(zipfile.BadZipFile):
        extract_zip(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]
