"""What the configured dataset is at start-up, and which objectives it can compute."""

import copy
from pathlib import Path

import pytest
import yaml

from songvec import datasets
from songvec.config import ConfigError, check_config
from songvec.objectives import PAPER_OBJECTIVES

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())


def config_with(**sections):
    config = copy.deepcopy(DEFAULT)
    for key, value in sections.items():
        config[key] = value if not isinstance(value, dict) else config[key] | value
    return config


def test_the_default_objectives_are_the_papers():
    assert tuple(DEFAULT["hpo"]["objectives"]) == PAPER_OBJECTIVES


def test_demo_and_lfm1b_have_everything():
    assert check_config(copy.deepcopy(DEFAULT), SCHEMA) == datasets.Dataset("demo", "demo-default", "demo-default")
    lfm = datasets.describe(config_with(dataset="lfm1b"))
    assert (lfm.name, lfm.label, lfm.missing) == ("lfm1b", "LFM-1b", {})


def test_an_events_table_is_described_from_its_header(tmp_path):
    path = tmp_path / "My Plays.2024.csv.gz"
    import gzip

    with gzip.open(path, "wt") as file:
        file.write("pid,pos,song,artist_id\n")
    dataset = datasets.describe(config_with(dataset="events", events={
        "path": str(path), "columns": {"playlist_id": "pid", "position": "pos", "track_id": "song"}}))
    assert (dataset.name, dataset.sequences, dataset.sequence_unit) == ("My-Plays.2024", "playlists", "playlist")
    assert dataset.has("artists") and not dataset.has("genres")
    assert dataset.not_applicable() == {"vrc_genre": "n/a (no genres in the data)"}
    assert "has no 'genre' column (its columns: pid, pos, song, artist_id)" in dataset.missing["genres"]
    named = datasets.describe(config_with(dataset="events", events={"path": str(path), "name": "mine", "columns": {
        "playlist_id": "pid", "position": "pos", "track_id": "song"}}))
    assert named.name == "mine"


def test_a_folder_without_genre_files_has_no_genres(tmp_path, excerpt_dir):
    (tmp_path / "LFM-1b_LEs.txt").write_text("1\t1\t1\t1\t1300000000\n")
    dataset = datasets.describe(config_with(dataset="folder", folder={"path": str(tmp_path)}))
    assert dataset.missing == {"genres": f"the folder {tmp_path} has no LFM-1b_artist_genres_freebase.txt or "
                                         f"genres_freebase.txt (genres.source: freebase)"}
    excerpt = datasets.describe(config_with(dataset="folder", folder={"path": str(excerpt_dir)},
                                            genres={"source": "allmusic"}))
    assert (excerpt.name, excerpt.missing) == ("lfm1b-excerpt", {})


def test_the_papers_objectives_run_what_the_data_computes_and_a_users_own_list_is_checked(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("user_id,track_id,timestamp,genre\n")
    events = {"path": str(path)}
    dataset = check_config(config_with(dataset="events", events=events), SCHEMA)  # the paper's list: accepted
    kept, left_out = datasets.run_objectives(list(PAPER_OBJECTIVES), dataset)
    assert kept == ["HitRate", "VRCGenre", "lambdaGenre(0.01)", "lambdaGenre(0.1)"]
    assert left_out == ["VRCArtist", "lambdaArtist(0.01)", "lambdaArtist(0.1)"]
    own = config_with(dataset="events", events=events)
    own["hpo"]["objectives"] = ["HitRate", "VRCArtist"]
    with pytest.raises(ConfigError) as error:
        check_config(own, SCHEMA)
    assert f"config key 'hpo.objectives': VRCArtist needs artists, but the events table {path} has no 'artist_id' " \
           f"column (its columns: user_id, track_id, timestamp, genre)" in str(error.value)
    assert "config key 'analyses.popularity.optimized'" in str(error.value)  # every problem at once


@pytest.mark.parametrize("events, message", [
    ({"path": None}, "config key 'events.path': must name the events table when dataset is 'events'"),
    ({"path": "nowhere.csv"}, "config key 'events.path': nowhere.csv: no such file (events.path)"),
    ({"path": "plays.json"}, "config key 'events.path': plays.json: unknown table format"),
    ({"columns": {"artist": "a"}}, "config key 'events.columns.artist' is unknown"),
    ({"ids": "int"}, "config key 'events.ids': 'int' is not one of"),
])
def test_bad_events_settings_name_the_key(tmp_path, events, message):
    with pytest.raises(ConfigError) as error:
        check_config(config_with(dataset="events", events=events), SCHEMA)
    assert message in str(error.value)


def test_a_required_column_missing_stops_the_run_at_start_up(tmp_path):
    path = tmp_path / "plays.tsv"
    path.write_text("user\ttrack_id\ttimestamp\n")
    with pytest.raises(ConfigError, match=r"config key 'events.path': .*plays.tsv: required column\(s\) user_id "
                                          r"missing"):
        check_config(config_with(dataset="events", events={"path": str(path)}), SCHEMA)
