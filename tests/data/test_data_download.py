"""drct.data.download against a loopback HTTP server (127.0.0.1 only, tests/data_server.py) that
honours Range requests, counts the bytes it sends, and can drop a connection half-way, answer 503
once, ignore ranges, or trickle a body slowly."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading

import pytest

from drct.data.download import (
    ChecksumError,
    DownloadError,
    LockMismatchError,
    fetch,
    fetch_locked,
    load_lock,
    local_path_from_url,
    record_lock,
)
from drct.io import sha256_file

FAST = dict(retries=3, backoff=0.0, timeout=10, progress=False)


def _blob(n: int = 300_000, seed: bytes = b"x") -> bytes:
    out, block = bytearray(), seed
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_resume_after_dropped_connection(server, tmp_path):
    data = _blob()
    server.state.files["/a.tar.gz"] = data
    server.state.drop_once.add("/a.tar.gz")
    dest = tmp_path / "a.tar.gz"
    got = fetch(server.url("/a.tar.gz"), dest, sha256=_sha(data), **FAST)
    assert got == _sha(data) == sha256_file(dest)
    first, second = server.state.requests
    assert first["range"] is None and first["status"] == 200
    offset = int(re.fullmatch(r"bytes=(\d+)-", second["range"]).group(1))
    assert 0 < offset <= len(data) // 2 and second["status"] == 206
    assert second["if_range"]  # resumes only if the file is unchanged
    # only the missing tail was fetched again: the bytes served after the cut are exactly the
    # ones the client did not have, and in all the server sent at most what the cut lost extra
    assert first["sent"] == len(data) // 2
    assert second["sent"] == len(data) - offset
    assert server.state.sent("/a.tar.gz") == first["sent"] + len(data) - offset < 1.5 * len(data)
    assert not (tmp_path / "a.tar.gz.part").exists()
    assert not (tmp_path / "a.tar.gz.part.json").exists()


def test_retry_after_503(server, tmp_path):
    data = _blob(1000)
    server.state.files["/b.zip"] = data
    server.state.fail_once["/b.zip"] = 503
    got = fetch(server.url("/b.zip"), tmp_path / "b.zip", size=len(data), **FAST)
    assert got == _sha(data)
    assert [r["status"] for r in server.state.requests] == [503, 200]


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    data = _blob()
    server.state.files["/c.bin"] = data
    server.state.drop_once.add("/c.bin")
    server.state.ignore_range = True
    got = fetch(server.url("/c.bin"), tmp_path / "c.bin", sha256=_sha(data), **FAST)
    assert got == _sha(data)
    assert [r["status"] for r in server.state.requests] == [200, 200]
    assert server.state.requests[1]["range"] is not None  # asked, server said no


def test_changed_upstream_file_is_not_spliced(server, tmp_path):
    """A .part from an older version of the file: If-Range makes the server send it whole."""
    data = _blob(5000, b"new")
    server.state.files["/d.bin"] = data
    dest = tmp_path / "d.bin"
    (tmp_path / "d.bin.part").write_bytes(_blob(2000, b"old"))
    (tmp_path / "d.bin.part.json").write_text(
        json.dumps({"url": server.url("/d.bin"), "validator": '"stale-etag"'}))
    assert fetch(server.url("/d.bin"), dest, **FAST) == _sha(data)
    assert server.state.requests[0]["range"] == "bytes=2000-"
    assert server.state.requests[0]["status"] == 200


def test_retries_exhausted_keeps_part_for_later_resume(server, tmp_path):
    data = _blob()
    server.state.files["/e.bin"] = data
    server.state.drop_once.add("/e.bin")
    dest = tmp_path / "e.bin"
    with pytest.raises(DownloadError, match="giving up"):
        fetch(server.url("/e.bin"), dest, retries=0, backoff=0, timeout=10, progress=False)
    assert not dest.exists()
    assert 0 < (tmp_path / "e.bin.part").stat().st_size <= len(data) // 2
    assert fetch(server.url("/e.bin"), dest, sha256=_sha(data), **FAST) == _sha(data)
    assert server.state.requests[-1]["status"] == 206


def test_checksum_mismatch_keeps_bad_file_aside_and_overwrites_nothing(server, tmp_path):
    data = _blob(4000)
    server.state.files["/f.bin"] = data
    dest = tmp_path / "f.bin"
    wrong = "0" * 64
    with pytest.raises(ChecksumError) as err:
        fetch(server.url("/f.bin"), dest, sha256=wrong, **FAST)
    msg = str(err.value)
    assert server.url("/f.bin") in msg and wrong in msg and _sha(data) in msg
    assert "f.bin.bad" in msg and "nothing was overwritten" in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin.bad"]
    assert (tmp_path / "f.bin.bad").read_bytes() == data  # the bytes are kept for inspection

    # a second failure never replaces the first bad file
    with pytest.raises(ChecksumError, match=r"f\.bin\.bad\.1"):
        fetch(server.url("/f.bin"), dest, sha256=wrong, **FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin.bad", "f.bin.bad.1"]


def test_published_md5_is_checked(server, tmp_path):
    data = _blob(4000)
    server.state.files["/m.zip"] = data
    md5 = hashlib.md5(data).hexdigest()
    assert fetch(server.url("/m.zip"), tmp_path / "ok.zip", md5=md5, **FAST) == _sha(data)
    with pytest.raises(ChecksumError, match="md5 mismatch.*published"):
        fetch(server.url("/m.zip"), tmp_path / "bad.zip", md5="0" * 32, **FAST)
    assert (tmp_path / "bad.zip.bad").is_file() and not (tmp_path / "bad.zip").exists()


def test_size_mismatch_fails_before_downloading(server, tmp_path):
    server.state.files["/g.bin"] = _blob(4000)
    with pytest.raises(ChecksumError, match="expected 10 bytes"):
        fetch(server.url("/g.bin"), tmp_path / "g.bin", size=10, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_http_404_is_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        fetch(server.url("/missing.zip"), tmp_path / "m.zip", **FAST)
    assert len(server.state.requests) == 1


def test_present_dest_with_matching_sha_needs_no_network(server, tmp_path):
    data = _blob(3000)
    server.state.files["/h.bin"] = data
    dest = tmp_path / "h.bin"
    fetch(server.url("/h.bin"), dest, **FAST)
    n = len(server.state.requests)
    assert fetch(server.url("/h.bin"), dest, sha256=_sha(data), **FAST) == _sha(data)
    assert fetch("http://127.0.0.1:9/unreachable", dest, sha256=_sha(data), **FAST) == _sha(data)
    assert len(server.state.requests) == n


def test_present_dest_with_wrong_sha_is_kept_aside_not_replaced(server, tmp_path):
    data = _blob(3000)
    server.state.files["/i.bin"] = data
    dest = tmp_path / "i.bin"
    dest.write_bytes(b"corrupted")
    with pytest.raises(ChecksumError, match="i.bin.bad"):
        fetch(server.url("/i.bin"), dest, sha256=_sha(data), **FAST)
    assert not server.state.requests  # an error, not a silent re-download
    assert (tmp_path / "i.bin.bad").read_bytes() == b"corrupted" and not dest.exists()
    # the user looked at it; a rerun now downloads afresh
    assert fetch(server.url("/i.bin"), dest, sha256=_sha(data), **FAST) == _sha(data)
    assert dest.read_bytes() == data


def test_file_urls_relative_and_absolute(tmp_path, monkeypatch):
    data = _blob(5000)
    src = tmp_path / "src dir" / "demo.tar.gz"
    src.parent.mkdir()
    src.write_bytes(data)
    monkeypatch.chdir(tmp_path)
    assert local_path_from_url("file:src%20dir/demo.tar.gz") == tmp_path / "src dir/demo.tar.gz"
    assert fetch("file:src%20dir/demo.tar.gz", tmp_path / "out1.tar.gz", sha256=_sha(data),
                 progress=False) == _sha(data)
    assert fetch(src.as_uri(), tmp_path / "out2.tar.gz", progress=False) == _sha(data)
    assert (tmp_path / "out2.tar.gz").read_bytes() == data
    with pytest.raises(ValueError, match="host"):
        local_path_from_url("file://src/demo.tar.gz")
    with pytest.raises(DownloadError, match="no such file"):
        fetch("file:nope.zip", tmp_path / "nope.zip", progress=False)


def test_local_archive_is_linked_not_copied_and_never_altered(tmp_path):
    data = _blob(5000)
    src = tmp_path / "user" / "BigGAN.zip"
    src.parent.mkdir()
    src.write_bytes(data)
    dest = tmp_path / "dl" / "BigGAN.zip"
    assert fetch(src.as_uri(), dest, sha256=_sha(data), progress=False) == _sha(data)
    assert dest.is_symlink() and dest.resolve() == src.resolve()  # no second copy
    # Snakemake touches a finished job's outputs with its lutime: the link's time moves, the user's
    # file's does not (a hard link would share it with the original and with every other workspace)
    from snakemake.io import lutime

    before = src.stat().st_mtime_ns
    lutime(str(dest), (before / 1e9 + 3600, before / 1e9 + 3600))
    assert src.stat().st_mtime_ns == before and dest.lstat().st_mtime_ns > before
    with pytest.raises(ChecksumError):
        fetch(src.as_uri(), tmp_path / "dl" / "other.zip", sha256="0" * 64, progress=False)
    assert src.read_bytes() == data and (tmp_path / "dl" / "other.zip.bad").is_file()


def test_lock_recorded_on_first_download_then_enforced(server, tmp_path, caplog):
    data = _blob(6000)
    server.state.files["/j.zip"] = data
    lock = tmp_path / "workflow" / "data.lock.json"
    dest = tmp_path / "dl" / "j.zip"
    with caplog.at_level("WARNING"):
        got = fetch_locked(server.url("/j.zip"), dest, lock, "demo-j", **FAST)
    assert got == _sha(data)
    assert "recorded sha256" in caplog.text
    entry = load_lock(lock)["demo-j"]
    assert entry["sha256"] == _sha(data) and entry["size"] == len(data)
    assert entry["url"] == server.url("/j.zip")
    raw = json.loads(lock.read_text())
    assert raw["format"] == "drct-data-lock/1"

    # the lock is now enforced: the same key with different upstream bytes is an error
    dest.unlink()
    server.state.files["/j.zip"] = _blob(6000, b"tampered")
    with pytest.raises(ChecksumError, match="size mismatch|sha256 mismatch"):
        fetch_locked(server.url("/j.zip"), dest, lock, "demo-j", **FAST)
    assert not dest.exists()
    # a configured checksum that contradicts the lock is an error before any download
    n = len(server.state.requests)
    with pytest.raises(LockMismatchError, match="demo-j"):
        fetch_locked(server.url("/j.zip"), dest, lock, "demo-j", sha256="1" * 64, **FAST)
    assert len(server.state.requests) == n
    with pytest.raises(LockMismatchError):
        record_lock(lock, "demo-j", "2" * 64, len(data), "x")
    assert record_lock(lock, "demo-j", _sha(data), len(data), "elsewhere") is False


def test_lock_records_from_parallel_writers_are_not_lost(tmp_path):
    lock = tmp_path / "data.lock.json"
    keys = [f"k{i}" for i in range(8)]
    threads = [threading.Thread(target=record_lock, args=(lock, k, _sha(k.encode()), 1, "u"))
               for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(load_lock(lock)) == keys
    assert not [p for p in os.listdir(tmp_path) if p != "data.lock.json"]


def test_load_lock_missing_and_invalid(tmp_path):
    assert load_lock(tmp_path / "none.json") == {}
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_lock(bad)
    (tmp_path / "other.json").write_text(json.dumps({"entries": {}}))
    with pytest.raises(ValueError, match="drct-data-lock/1"):
        load_lock(tmp_path / "other.json")


def test_trickling_server_stalls_out_and_keeps_part_for_resume(server, tmp_path):
    # 64 bytes every 50 ms = ~1.3 KB/s: every read arrives well inside the read timeout, so
    # without a stall rule this 40 KB download would take 30 s (and a real one forever)
    data = _blob(40_000)
    server.state.files["/slow.bin"] = data
    server.state.trickle["/slow.bin"] = (64, 0.05)
    dest = tmp_path / "slow.bin"
    with pytest.raises(DownloadError, match="stalled") as err:
        fetch(server.url("/slow.bin"), dest, retries=0, backoff=0, timeout=10, progress=False,
              min_rate=20_000, stall_seconds=0.5)
    assert "below the floor of 20000 bytes/s" in str(err.value)
    assert "a rerun resumes" in str(err.value) and "stall_seconds" in str(err.value)
    assert not dest.exists()
    kept = (tmp_path / "slow.bin.part").stat().st_size
    assert 0 < kept < len(data)

    del server.state.trickle["/slow.bin"]  # the mirror recovers: the rerun resumes
    assert fetch(server.url("/slow.bin"), dest, sha256=_sha(data), **FAST) == _sha(data)
    assert server.state.requests[-1]["range"] == f"bytes={kept}-"
    assert dest.read_bytes() == data


def test_slow_but_steady_transfer_is_not_a_stall(server, tmp_path):
    data = _blob(4_000)
    server.state.files["/steady.bin"] = data
    server.state.trickle["/steady.bin"] = (500, 0.02)  # ~25 KB/s, above the floor
    dest = tmp_path / "steady.bin"
    assert fetch(server.url("/steady.bin"), dest, min_rate=1_000, stall_seconds=0.05,
                 **FAST) == _sha(data)


def test_progress_is_logged_as_plain_lines_outside_a_terminal(server, tmp_path, monkeypatch,
                                                              caplog):
    import io

    from drct.data import progress

    monkeypatch.setattr(progress.sys, "stderr", io.StringIO())  # not a terminal, even with -s
    monkeypatch.setattr(progress, "LOG_INTERVAL", 0.0)  # every chunk, instead of every 30 s
    data = _blob(4_000)
    server.state.files["/p.bin"] = data
    server.state.trickle["/p.bin"] = (1_000, 0.01)
    with caplog.at_level("INFO", logger="drct.data.download"):
        fetch(server.url("/p.bin"), tmp_path / "p.bin", retries=0, backoff=0, timeout=10)
    lines = [r.getMessage() for r in caplog.records if "received" in r.getMessage()]
    assert lines and lines[-1].startswith("p.bin: received 3.9 KiB of 3.9 KiB (100 %)")
