"""A failure the user can act on is one line on stderr and exit status 1; --debug shows the traceback."""

from __future__ import annotations

import errno
import gzip
import io
import json
import pickle
import random
import tarfile
from pathlib import Path

import pytest

from drct.cli import EXIT_FAILURE, main, one_line
from drct.errors import DrctError


def _error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if ": error: " in line]


def test_an_authors_pth_given_to_predict_says_what_to_do(tmp_path: Path, capsys) -> None:
    checkpoint = tmp_path / "convnext_base.pth"
    checkpoint.write_bytes(pickle.dumps({"model": {"fc.weight": [0.0]}}))  # a pickle, as torch.save writes
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    status = main(["predict", str(image), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "p.csv"),
                   "--no-progress"])
    assert status == EXIT_FAILURE
    (line,) = _error_lines(capsys)
    assert str(checkpoint) in line and "not one of our checkpoints" in line and "drct import-released" in line


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    checkpoint = tmp_path / "x.pth"
    checkpoint.write_bytes(b"PK\x03\x04 not a safetensors file")
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    with pytest.raises(DrctError, match="not one of our checkpoints"):
        main(["--debug", "predict", str(image), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "p.csv")])


def test_a_truncated_archive_is_named_in_one_line(tmp_path: Path, capsys) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = random.Random(0).randbytes(100_000)  # incompressible: the cut falls inside the member
        info = tarfile.TarInfo("images/real/train2017/1.jpg")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    archive = tmp_path / "part.tar.gz"
    archive.write_bytes(gzip.compress(buffer.getvalue())[:3000])  # cut inside the member
    spec = {"name": "d", "layout": "drct2m", "archives": [{"download": "a"}],
            "generators": [{"name": "sd14", "folder": "sd14"}], "real_folder": "real"}
    status = main(["prepare", "--spec", json.dumps(spec), "--archives", str(archive), "--out-dir", str(tmp_path / "out")])
    assert status == EXIT_FAILURE
    (line,) = _error_lines(capsys)
    assert str(archive) in line and "rerun" in line


def test_machine_failures_are_reported_with_their_path() -> None:
    report = one_line(OSError(errno.ENOSPC, "No space left on device", "/data/out.png"))
    assert report is not None and "No space left on device" in report and "/data/out.png" in report
    assert one_line(MemoryError()) is not None
    assert one_line(ValueError("a programming error")) is None  # raised as a traceback, not hidden
