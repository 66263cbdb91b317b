"""Outputs appear complete under their final name or not at all; leftovers of killed writers are removed."""

import json

import pytest

from songvec import atomic


def test_a_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_a_write_appears_only_when_complete(tmp_path):
    target = tmp_path / "sub" / "out.json"
    atomic.write_json(target, {"value": float("nan"), "list": [1.5, float("nan")]})
    assert json.loads(target.read_text()) == {"value": None, "list": [1.5, None]}
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


def test_the_next_writer_removes_what_a_killed_writer_left(tmp_path):
    (tmp_path / ".tmp-out.json-abc").write_text("left by SIGKILL")
    (tmp_path / ".tmp-other.json-abc").write_text("someone else's")
    atomic.write_text(tmp_path / "out.json", "done")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tmp-other.json-abc", "out.json"]


def test_read_json_reads_what_write_json_wrote_and_names_a_bad_file(tmp_path):
    atomic.write_json(tmp_path / "ok.json", {"a": [1, 2.5], "b": None})
    assert atomic.read_json(tmp_path / "ok.json") == {"a": [1, 2.5], "b": None}
    (tmp_path / "bad.json").write_text('{"a": 1,\n "b": }\n')
    with pytest.raises(ValueError, match=r"bad\.json: not valid JSON: .*line 2 column 7"):
        atomic.read_json(tmp_path / "bad.json")


def test_a_writer_that_produces_nothing_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="produced nothing"):
        with atomic.atomic_path(tmp_path / "out.bin"):
            pass
