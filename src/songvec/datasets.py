"""What the configured dataset is, known at start-up: its name, what its sequences are, which labels it has.

:func:`describe` reads the configuration and, for an events table, only the table's header (or Parquet
schema); for a folder of LFM-1b files, which files are there. Nothing else is read, so the Snakefile can
call it before building the DAG: it names the folder of the dataset's results (``results/<name>/``, so that
datasets never share an output or a study), tells whether the sequences are users' listening histories or
playlists, and whether the data has genres and artists (what needs them is then left out of the DAG, or
refused at start-up when asked for by name: :func:`run_objectives`).

:func:`event_source` opens the ingest's input of a dataset: ``LFM-1b_LEs.txt`` or an events table.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from songvec import atomic
from songvec.events_table import EventsTable, EventsTableError, read_layout
from songvec.lfm1b import ARTIST_GENRES_FILES, GENRE_NAMES_FILES, EventsFile
from songvec.objectives import PAPER_OBJECTIVES, Objective

#: What a missing label is called in tables and the report.
NOT_APPLICABLE = {"genres": "n/a (no genres in the data)", "artists": "n/a (no artists in the data)"}
#: Metrics that need each label.
LABEL_METRICS = {"genres": ("vrc_genre",), "artists": ("vrc_artist",)}


@dataclass(frozen=True)
class Dataset:
    """The configured dataset.

    Attributes:
        kind: the ``dataset`` config value (``demo``, ``lfm1b``, ``folder``, ``events``).
        name: file-name-safe; the dataset's results live under ``results/<name>/``.
        label: its name in tables (Table 2's column).
        sequences: ``"users"`` (one listening history per user) or ``"playlists"``.
        missing: label (``"genres"``, ``"artists"``) -> why the data has none, for each label it lacks.
    """

    kind: str
    name: str
    label: str
    sequences: str = "users"
    missing: Mapping[str, str] = field(default_factory=dict)

    def has(self, labels: str) -> bool:
        """Whether the data has ``labels`` (``"genres"`` or ``"artists"``)."""
        return labels not in self.missing

    @property
    def sequence_unit(self) -> str:
        """What one sequence is, in the singular (``user`` or ``playlist``)."""
        return self.sequences.removesuffix("s")

    def not_applicable(self) -> dict[str, str]:
        """Metric -> the text Tables 4 and 6 show instead of a value the data cannot give."""
        return {metric: NOT_APPLICABLE[labels] for labels in self.missing for metric in LABEL_METRICS[labels]}


def describe(config: Mapping[str, Any]) -> Dataset:
    """The dataset of ``config`` (a schema-valid workflow configuration). Raises ``ValueError`` naming the
    config key when the dataset's own section cannot be used (no events table at ``events.path``, a
    required column missing)."""
    kind = config["dataset"]
    if kind == "demo":
        name = f"demo-{config['demo']['size']}"
        return Dataset(kind, name, name)
    if kind == "events":
        events = config["events"]
        if not events["path"]:
            raise ValueError("config key 'events.path': must name the events table when dataset is 'events'")
        try:
            layout = read_layout(events["path"], events["columns"])
        except EventsTableError as error:
            raise ValueError(f"config key 'events.path': {error}") from None
        name = events["name"] or _file_name(re.sub(r"(\.[A-Za-z0-9]+)?(\.gz)?$", "", Path(events["path"]).name))
        missing = {labels: layout.missing(column) for labels, column, present in
                   (("genres", "genre", layout.has_genres), ("artists", "artist_id", layout.has_artists))
                   if not present}
        return Dataset(kind, name, name, layout.kind, missing)
    folder = config["folder"]["path"] if kind == "folder" else config["lfm1b"]["folder"]
    if kind == "lfm1b" and not folder:
        return Dataset(kind, "lfm1b", "LFM-1b")  # downloaded: the archives hold every file
    if not folder:
        raise ValueError("config key 'folder.path': must name a folder of LFM-1b files when dataset is 'folder'")
    source = config["genres"]["source"]
    absent = [name for name in (ARTIST_GENRES_FILES[source], GENRE_NAMES_FILES[source])
              if not os.path.isfile(Path(folder) / name)]
    missing = {"genres": f"the folder {folder} has no {' or '.join(absent)} (genres.source: {source})"} \
        if absent else {}
    name = "lfm1b" if kind == "lfm1b" else _file_name(Path(folder).resolve().name)
    return Dataset(kind, name, "LFM-1b" if kind == "lfm1b" else Path(folder).name, "users", missing)


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "dataset"


def objective_problems(objectives: list[str], dataset: Dataset, key: str = "hpo.objectives") -> list[str]:
    """Config problems of ``hpo.objectives`` (or the list at config ``key``) on ``dataset``: one per objective
    whose labels the data lacks, unless the list is the paper's (:data:`songvec.objectives.PAPER_OBJECTIVES`),
    which runs what it can."""
    if tuple(objectives) == PAPER_OBJECTIVES:
        return []
    return [f"config key '{key}': {name} needs {Objective.parse(name).needs}, but "
            f"{dataset.missing[Objective.parse(name).needs]}"
            for name in objectives if not dataset.has(Objective.parse(name).needs or "")]


def run_objectives(objectives: list[str], dataset: Dataset) -> tuple[list[str], list[str]]:
    """``(kept, left_out)``: the objectives of ``hpo.objectives`` the data can compute, and the others
    (only ever the paper's default list leaves some out: :func:`objective_problems` refuses the rest)."""
    kept = [name for name in objectives if dataset.has(Objective.parse(name).needs or "")]
    return kept, [name for name in objectives if name not in kept]


def event_source(dataset: str, path: str | os.PathLike, bad_rows: str,
                 events: Mapping[str, Any] | None = None) -> EventsFile | EventsTable:
    """The ingest's input (:class:`songvec.ingest.EventSource`) at ``path``: for ``dataset`` "events" the
    events table read with ``columns`` and ``ids`` of ``events`` (the config section), else LFM-1b's events
    file; ``bad_rows`` is ``ingest.bad_rows``."""
    if dataset != "events":
        return EventsFile(path, bad_rows=bad_rows)
    return EventsTable(read_layout(path, events["columns"]), ids=events["ids"], bad_rows=bad_rows)


def write_table_keys(source: EventsFile | EventsTable, folder: str | os.PathLike) -> dict:
    """Write what the sequences do not hold beside them (:meth:`EventsTable.write_keys`: the string ids'
    maps, the table's genres); for LFM-1b files, whose ids are integers, only the manifest."""
    if isinstance(source, EventsTable):
        return source.write_keys(folder)
    Path(folder).mkdir(parents=True, exist_ok=True)
    manifest = {"path": source.path, "format": "lfm1b", "kind": "users", "ids": {}, "genres": 0}
    atomic.write_json(Path(folder) / "manifest.json", manifest)
    return manifest
