"""Download a dataset archive from a list of mirrors, resuming and verifying; extract zip archives safely.

:func:`fetch` tries each mirror in turn. The bytes go to ``<dest_dir>/.part-<filename>``; only a complete
file that passed the size and sha256 checks (when given) is renamed onto ``<dest_dir>/<filename>``, so a
file under the final name is always whole. Behaviour, in detail:

- A mirror is a base URL (``<mirror>/<filename>`` is fetched), a URL whose path already ends with
  ``/<filename>`` (used as is), or a template containing ``{filename}``.
- An existing partial file is resumed with an HTTP ``Range`` request, also when it was left by another
  mirror or an earlier run (the final checks catch mirrors serving different bytes). A server that ignores
  ``Range`` (answers 200) restarts the download from byte 0.
- A connection that fails after the response started (dropped, truncated body, read timeout) is retried on
  the same mirror with resume, at most ``retries`` times. A failure before the response (refused
  connection, DNS, connect timeout, HTTP error such as 404) moves on to the next mirror at once.
- Size or checksum mismatch deletes the partial file (so no later run resumes bad bytes) and moves on.
- When every mirror failed, :class:`DownloadError` lists each mirror's failure and says where to put the
  file by hand and which config keys point at a copy that already exists.

:func:`extract_zip` extracts into a temporary folder beside the destination and renames it into place.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import Mapping

from songvec.progress import Progress

_log = logging.getLogger(__name__)

USER_AGENT = "songvec-download/0.1"

LFM1B_CONFIG_KEYS = {
    "lfm1b.archive_dir": "a folder holding the archives you already have (no download)",
    "lfm1b.folder": "a folder holding the extracted files (no download, no extraction)",
}
"""Config keys named in :class:`DownloadError` as alternatives to the download (key -> what it takes)."""


class DownloadError(RuntimeError):
    """No mirror delivered a verified file; the message says how to provide the file by hand."""


class _MirrorFailed(Exception):
    """This mirror cannot deliver the file (the message says why); try the next one."""


class _Dropped(Exception):
    """The connection failed after the response started; retrying with resume may succeed."""


def mirror_url(mirror: str, filename: str) -> str:
    """The URL of ``filename`` on ``mirror`` (see the module docstring for the three mirror forms)."""
    quoted = urllib.parse.quote(filename)
    if "{filename}" in mirror:
        return mirror.replace("{filename}", quoted)
    path = urllib.parse.urlsplit(mirror).path
    if PurePosixPath(urllib.parse.unquote(path)).name == filename:
        return mirror
    return mirror.rstrip("/") + "/" + quoted


def fetch(filename: str, mirrors: list[str], dest_dir: str | os.PathLike, *, expected_size: int | None = None,
          expected_sha256: str | None = None, timeout: float = 30, chunk_bytes: int = 1 << 20,
          retries: int = 5, retry_wait: float = 2.0, config_keys: Mapping[str, str] = LFM1B_CONFIG_KEYS,
          logger: logging.Logger | None = None) -> Path:
    """Download ``filename`` into ``dest_dir`` from the first mirror that delivers it intact.

    Args:
        filename: file name on the mirrors and in ``dest_dir``.
        mirrors: mirror URLs, tried in order (may be empty: then the error explains the manual route).
        dest_dir: destination folder (created if needed).
        expected_size: file size in bytes, checked before the download (against the server's announced
            length) and after it; ``None`` skips the check.
        expected_sha256: hex SHA-256 of the file, checked after the download; ``None`` skips the check
            (the computed digest is logged so that it can be pinned in the config).
        timeout: seconds to wait for a connection and for each read.
        chunk_bytes: bytes read and written at a time.
        retries: resumptions per mirror after a connection that failed mid-transfer.
        retry_wait: seconds to wait before each resumption.
        config_keys: config key -> what it takes, named in the error as alternatives to the download.
        logger: where progress and failures go (default: this module's logger).

    Returns:
        ``dest_dir / filename``. If it already exists and passes the checks, it is returned at once.

    Raises:
        DownloadError: every mirror failed, or an existing ``dest_dir / filename`` fails the checks.
    """
    log = logger or _log
    dest_dir = Path(dest_dir)
    final = dest_dir / filename
    partial = dest_dir / f".part-{filename}"
    expected_sha256 = expected_sha256.lower() if expected_sha256 else None
    if final.exists():
        problem = _verification_problem(final, expected_size, expected_sha256, chunk_bytes, log, log_sha256=False)
        if problem:
            raise DownloadError(f"{final} already exists but {problem}; delete it to download again, or correct "
                                "the expected size/sha256")
        log.info("%s already present%s", final, " and verified" if expected_size is not None or expected_sha256 else "")
        return final

    dest_dir.mkdir(parents=True, exist_ok=True)
    failures = []
    for mirror in mirrors:
        url = mirror_url(mirror, filename)
        try:
            _download_with_retries(url, partial, expected_size, timeout, chunk_bytes, retries, retry_wait, log)
            problem = _verification_problem(partial, expected_size, expected_sha256, chunk_bytes, log)
            if problem:
                partial.unlink()
                raise _MirrorFailed(f"{problem}; the downloaded bytes were deleted")
        except (_MirrorFailed, OSError, http.client.HTTPException, ValueError) as error:
            reason = _describe(error, timeout)
            failures.append(f"{url}: {reason}")
            log.warning("download of %s from %s failed: %s", filename, url, reason)
            continue
        os.replace(partial, final)
        log.info("downloaded %s from %s (%d bytes)", final, url, final.stat().st_size)
        return final
    raise DownloadError(_failure_message(filename, final, failures, expected_size, expected_sha256, config_keys))


def _download_with_retries(url, partial, expected_size, timeout, chunk_bytes, retries, retry_wait, log) -> None:
    for attempt in range(retries + 1):
        try:
            _download_once(url, partial, expected_size, timeout, chunk_bytes, log)
            return
        except _Dropped as error:
            if attempt == retries:
                raise _MirrorFailed(f"connection failed {retries + 1} times mid-transfer, last: {error}") from error
            have = partial.stat().st_size if partial.exists() else 0
            log.warning("%s: %s; resuming at byte %d (retry %d of %d)", url, error, have, attempt + 1, retries)
            time.sleep(retry_wait)


def _download_once(url: str, partial: Path, expected_size, timeout, chunk_bytes, log) -> None:
    """One HTTP request: append to (or restart) ``partial`` until the announced end; raise on failure."""
    offset = partial.stat().st_size if partial.exists() else 0
    if expected_size is not None and offset > expected_size:
        log.warning("%s holds %d bytes, more than the expected %d: starting over", partial, offset, expected_size)
        partial.unlink()
        offset = 0
    if expected_size is not None and offset == expected_size and offset > 0:
        return  # complete from an earlier run; the checks follow
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code != 416 or not offset:
            raise
        total = _content_range(error.headers.get("Content-Range", ""))[1]
        error.close()
        if total == offset:
            return  # the partial file already holds every byte
        partial.unlink()
        raise _Dropped(f"server refused the range from byte {offset} (file size {total}); restarting from 0")

    with response:
        status = getattr(response, "status", None)
        if offset and status == 206:
            start, total = _content_range(response.headers.get("Content-Range", ""))
            if start != offset:
                raise _MirrorFailed(f"asked for bytes from {offset}, server sent them from {start}")
            mode = "ab"
        else:
            if offset:
                log.info("%s ignored the Range request (status %s): restarting from byte 0", url, status)
            offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
        if expected_size is not None and total is not None and total != expected_size:
            raise _MirrorFailed(f"server announces {total} bytes, expected {expected_size}")

        log.info("downloading %s from byte %d of %s", url, offset, total if total is not None else "unknown")
        progress = Progress(f"download {partial.name[len('.part-'):]}",
                            None if total is None else total - offset, "bytes", log)
        received = 0
        with open(partial, mode) as f:
            try:
                while chunk := response.read(chunk_bytes):
                    f.write(chunk)
                    received += len(chunk)
                    progress.update(len(chunk))
            except (OSError, http.client.HTTPException) as error:
                raise _Dropped(f"{_describe(error, timeout)} after {offset + received} bytes") from error
            f.flush()
            os.fsync(f.fileno())
        progress.finish()
    if total is not None and offset + received < total:
        raise _Dropped(f"connection closed after {offset + received} of {total} bytes")


def _content_range(header: str) -> tuple[int | None, int | None]:
    """(first byte, total size) of a ``Content-Range`` header such as ``bytes 100-199/200`` or ``bytes */200``."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", header or "")
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total != "*" else None)


def _verification_problem(path: Path, expected_size, expected_sha256, chunk_bytes, log,
                          log_sha256: bool = True) -> str | None:
    """None if ``path`` passes the size and sha256 checks, else what is wrong.

    The file is hashed when ``expected_sha256`` is given or ``log_sha256`` asks for the digest in the log.
    """
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        return f"its size is {size} bytes, expected {expected_size}"
    if expected_sha256 is None and not log_sha256:
        return None
    digest = hashlib.sha256()
    progress = Progress(f"sha256 of {path.name}", size, "bytes", log)
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
            progress.update(len(chunk))
    progress.finish()
    sha256 = digest.hexdigest()
    if expected_sha256 is not None and sha256 != expected_sha256:
        return f"its sha256 is {sha256}, expected {expected_sha256}"
    if expected_sha256 is None:
        log.info("%s: %d bytes, sha256 %s (no expected sha256 given, so not checked)", path, size, sha256)
    return None


def _describe(error: BaseException, timeout: float) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        if not isinstance(error.reason, BaseException):
            return f"URL error: {error.reason}"
        error = error.reason
    if isinstance(error, TimeoutError):
        return f"timed out (timeout {timeout:g} s)"
    if isinstance(error, _MirrorFailed):
        return str(error)
    return f"{type(error).__name__}: {error or 'no details'}"


def _failure_message(filename, final: Path, failures, expected_size, expected_sha256, config_keys) -> str:
    lines = [f"could not download {filename}: "
             + (f"all {len(failures)} mirror(s) failed:" if failures else "no mirror is configured.")]
    lines += [f"  - {failure}" for failure in failures]
    lines.append("Download it by hand and put it at exactly this path:")
    lines.append(f"  {final.resolve()}")
    checks = [f"size {expected_size} bytes" if expected_size is not None else "",
              f"sha256 {expected_sha256}" if expected_sha256 else ""]
    if any(checks):
        lines.append("  (it must have " + " and ".join(c for c in checks if c) + ")")
    if config_keys:
        lines.append("Or point the config at a copy you already have:")
        lines += [f"  - {key}: {meaning}" for key, meaning in config_keys.items()]
    return "\n".join(lines)


def extract_zip(archive: str | os.PathLike, dest_dir: str | os.PathLike, members: list[str] | None = None,
                chunk_bytes: int = 1 << 20, logger: logging.Logger | None = None) -> list[Path]:
    """Extract ``members`` (default: all) of a zip archive under ``dest_dir``; return the extracted file paths.

    Every member name is checked before anything is written: absolute names, drive letters and ``..``
    components raise ``ValueError``. The files are extracted (CRC-checked) into a temporary folder beside
    ``dest_dir``. If ``dest_dir`` does not exist, that folder is renamed onto it (all or nothing);
    otherwise each file is renamed into place one by one (each file appears whole), replacing any
    file of the same name. Paths keep the archive's internal folders.
    """
    log = logger or _log
    archive, dest_dir = Path(archive), Path(dest_dir)
    with zipfile.ZipFile(archive) as zf:
        infos = _selected_members(zf, archive, members)
        total = sum(info.file_size for info in infos)
        dest_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{dest_dir.name}-", dir=dest_dir.parent))
        try:
            progress = Progress(f"extract {archive.name}", total, "bytes", log)
            relative = []
            for info in infos:
                target = tmp.joinpath(*_safe_parts(info.filename, archive))
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as source, open(target, "wb") as sink:
                    while chunk := source.read(chunk_bytes):
                        sink.write(chunk)
                        progress.update(len(chunk))
                relative.append(target.relative_to(tmp))
            progress.finish()
            if dest_dir.exists():
                for rel in relative:
                    (dest_dir / rel).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(tmp / rel, dest_dir / rel)
                shutil.rmtree(tmp)
            else:
                os.replace(tmp, dest_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    log.info("extracted %d files (%d bytes) from %s into %s", len(relative), total, archive, dest_dir)
    return [dest_dir / rel for rel in relative]


def _selected_members(zf: zipfile.ZipFile, archive: Path, members) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if members is not None:
        by_name = {info.filename: info for info in infos}
        missing = [m for m in members if m not in by_name]
        if missing:
            raise ValueError(f"{archive} has no member(s) {missing}; it holds {sorted(by_name)[:20]}")
        infos = [by_name[m] for m in members]
    for info in infos:
        _safe_parts(info.filename, archive)
    return infos


def _safe_parts(name: str, archive: Path) -> list[str]:
    """The path components of member ``name``, refusing anything that could leave the destination."""
    unified = name.replace("\\", "/")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if unified.startswith("/") or re.match(r"^[A-Za-z]:", unified) or ".." in parts or not parts:
        raise ValueError(f"{archive}: member {name!r} would be extracted outside the destination folder")
    return parts
