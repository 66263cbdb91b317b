"""Write outputs so that a reader never sees a half-written file.

Every writer in the package goes through :func:`atomic_path`: the data goes to a temporary file in
the destination folder and is renamed onto the final name only after the write finished. A killed
process leaves at most a ``.tmp-*`` file behind, never a truncated output under the final name; the
next writer of the same output removes it (a writer owns its output: Snakemake never runs two jobs
writing the same file). :func:`read_json` reads such outputs back.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_path(final_path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; rename it onto ``final_path`` on success.

    ``suffix`` is appended to the temporary name for writers that insist on an extension.
    On any exception the temporary file (or folder) is removed and the exception propagates.
    """
    final = Path(final_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(final.parent, f".tmp-{final.name}-")
    fd, tmp_name = tempfile.mkstemp(prefix=f".tmp-{final.name}-", suffix=suffix, dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"writer produced nothing at {tmp} for {final}")
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise


def remove_leftovers(folder: str | os.PathLike, prefix: str) -> int:
    """Remove the files and folders in ``folder`` whose name starts with ``prefix``: temporaries
    of an earlier writer that was killed (SIGKILL skips every clean-up). Only for the owner of
    the output they belong to. Returns (and logs) how many were removed."""
    stale = glob.glob(glob.escape(os.path.join(folder, prefix)) + "*")
    for path in stale:
        _remove(Path(path))
    if stale:
        log.info("removed %d temporaries left by a killed writer: %s", len(stale), stale)
    return len(stale)


def _remove(path: Path) -> None:
    if path.is_dir():
        for child in path.iterdir():
            _remove(child)
        path.rmdir()
    elif path.exists():
        path.unlink()


def write_text(final_path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``final_path`` atomically."""
    with atomic_path(final_path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(final_path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically (NaN is written as null)."""
    write_text(final_path, json.dumps(_nan_to_none(obj), indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """The JSON value in ``path`` (UTF-8); ValueError naming the file, line and column if it is not JSON."""
    with open(path, encoding="utf-8") as file:
        try:
            return json.load(file)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON: {error}") from None


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


def write_parquet(final_path: str | os.PathLike, table) -> None:
    """Write a ``pyarrow.Table`` or ``pandas.DataFrame`` to Parquet atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    with atomic_path(final_path, suffix=".parquet") as tmp:
        pq.write_table(table, tmp)
