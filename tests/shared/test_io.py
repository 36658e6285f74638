"""drct.io.atomic_path: a result appears whole or not at all, directories included."""

from __future__ import annotations

from pathlib import Path

import pytest

from drct.io import atomic_path


def _write_tree(root: Path, names: list[str]) -> None:
    root.mkdir()
    for name in names:
        (root / name).write_text(name)


def test_a_directory_replaces_an_existing_one(tmp_path: Path) -> None:
    target = tmp_path / "out"
    _write_tree(target, ["old.txt", "kept-name.txt"])
    with atomic_path(target) as tmp:
        _write_tree(tmp, ["kept-name.txt", "new.txt"])
    assert sorted(p.name for p in target.iterdir()) == ["kept-name.txt", "new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "old tree or temporary folder left behind"


def test_a_failed_block_leaves_the_old_directory(tmp_path: Path) -> None:
    target = tmp_path / "out"
    _write_tree(target, ["old.txt"])
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        _write_tree(tmp, ["half.txt"])
        raise RuntimeError("crashed while writing")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_file_replaces_a_file(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_leftover_temporaries_lists_the_writers_temporaries_of_the_given_names(tmp_path: Path) -> None:
    """The pattern is the atomic writer's own: a temporary it makes is found, nothing else is."""
    from drct.io import _temp_sibling, leftover_temporaries

    mine = _temp_sibling(tmp_path / "a.png")  # what a write killed before its rename leaves
    theirs = _temp_sibling(tmp_path / "b.png")
    for path in (mine, theirs, tmp_path / "a.png", tmp_path / ".a.png.tmp-xyz", tmp_path / "a.png.tmp-0123456789ab"):
        path.write_bytes(b"x")
    _temp_sibling(tmp_path / "a.png").mkdir()  # a directory is never a leftover file
    assert leftover_temporaries(tmp_path, {"a.png"}) == [mine]
    assert leftover_temporaries(tmp_path, {"a.png", "b.png"}) == sorted([mine, theirs])
    assert leftover_temporaries(tmp_path / "missing", {"a.png"}) == []
