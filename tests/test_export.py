"""The track catalogue, exported vectors in three formats, and the neighbours command, by hand."""

import numpy as np
import pandas as pd
import pytest
from gensim.models import KeyedVectors

from songvec import catalogue, export
from songvec.__main__ import main
from songvec.events_table import EventsTableError


@pytest.fixture
def model(tmp_path):
    """Four songs in 2-D: 20 and 30 point the same way as 10, 40 the opposite way."""
    vectors = np.array([[1, 0], [0.9, 0.1], [0.5, 0.5], [-1, 0]], dtype=np.float32)
    kv = KeyedVectors(2, dtype=np.float32)
    kv.add_vectors(["10", "20", "30", "40"], vectors)
    kv.save(str(tmp_path / "vectors.kv"), separately=[])
    return tmp_path / "vectors.kv"


def string_catalogue():
    genres = pd.DataFrame({"track_id": [10, 20, 30, 40], "artist_name": ["A", None, "B", "B"]})
    keys = pd.DataFrame({"id": [10, 20, 30, 40], "key": ["song one", "t:2", "t:3", "t:4"]})
    names = pd.DataFrame({"id": [10, 30], "name": ["First", "Third"]})
    return catalogue.track_catalogue(genres, names, keys)


def test_catalogue_joins_own_ids_names_and_artists():
    tracks = string_catalogue()
    assert tracks["track"].tolist() == ["song one", "t:2", "t:3", "t:4"]
    assert tracks["track_name"].tolist()[0] == "First" and tracks["track_name"].isna().tolist() == [False, True,
                                                                                                   False, True]
    integer = catalogue.track_catalogue(pd.DataFrame({"track_id": [7], "artist_name": [None]}))
    assert integer["track"].tolist() == ["7"] and integer["track_name"].isna().all()


def test_names_tables_map_string_keys_and_refuse_bad_integer_ids(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("track_id,track_name\nt:3,Third\nnever played,X\n")
    keys = pd.DataFrame({"id": [0, 1], "key": ["t:2", "t:3"]})
    assert catalogue.read_names(path, "track_id", "track_name", keys).to_dict("list") == {"id": [1],
                                                                                          "name": ["Third"]}
    with pytest.raises(EventsTableError, match=r"track_id 't:3' is not a non-negative integer"):
        catalogue.read_names(path, "track_id", "track_name")
    with pytest.raises(EventsTableError, match=r"names table without column\(s\) \['title'\]"):
        catalogue.read_names(path, "track_id", "title", keys)


def test_three_formats_hold_the_same_vectors_under_the_own_ids(model, tmp_path):
    paths = {fmt: tmp_path / f"out{suffix}" for fmt, suffix in export.FORMATS.items()}
    counts = export.export_vectors(model, string_catalogue(), paths)
    assert counts == {"songs": 4, "dimensions": 2, "named": 2, "ids_with_spaces": 1}
    text = KeyedVectors.load_word2vec_format(str(paths["text"]))
    binary = KeyedVectors.load_word2vec_format(str(paths["binary"]), binary=True)
    frame = pd.read_parquet(paths["parquet"])
    assert text.index_to_key == binary.index_to_key == ["song_one", "t:2", "t:3", "t:4"]
    assert frame["track_id"].tolist() == ["song one", "t:2", "t:3", "t:4"]  # Parquet keeps the id as it is
    assert np.allclose(text.vectors, binary.vectors) and (np.stack(frame["vector"]) == binary.vectors).all()
    integer = catalogue.track_catalogue(pd.DataFrame({"track_id": [10, 20, 30, 40], "artist_name": [None] * 4}))
    export.export_vectors(model, integer, {"parquet": tmp_path / "int.parquet"})
    assert pd.read_parquet(tmp_path / "int.parquet")["track_id"].dtype == np.int64


def test_neighbours_by_hand_in_every_format(model, tmp_path, capsys):
    paths = {fmt: tmp_path / f"out{suffix}" for fmt, suffix in export.FORMATS.items()}
    export.export_vectors(model, string_catalogue(), paths)
    for path in paths.values():
        found = export.nearest(export.read_exported(path), "song one", k=3)
        assert found["track_id"].tolist() == ["t:2", "t:3", "t:4"]  # cosine 0.994, 0.707, -1
        assert np.allclose(found["similarity"], [0.9 / np.hypot(0.9, 0.1), np.sqrt(0.5), -1.0], atol=1e-6)
        assert found["track_name"].tolist()[1] == "Third"  # names from the Parquet beside the word2vec files
    assert main(["neighbours", "--vectors", str(paths["binary"]), "--track", "song one", "-k", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f'The 2 songs nearest to song one "First" by A ({paths["binary"]}, cosine similarity):',
        "  1. 0.994  t:2", '  2. 0.707  t:3 "Third" by B']
    assert main(["neighbours", "--vectors", str(paths["text"]), "--track", "nope"]) == 1
    assert "track 'nope' is not among the 4 songs" in capsys.readouterr().err
