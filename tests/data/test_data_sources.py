"""Every source as configured, against a loopback server in the real remote layouts
(tests/data_server.py): ModelScope's resolve route and listing API (DRCT-2M), the official COCO
zips, a GenImage mirror and a user-provided GenImage folder. The download code is the same that
runs against the real hosts; only `base_url` points at 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from helpers.data_server import FakeModelScope
from PIL import Image

from drct.cli import main as drct_main
from drct.data.acquire import acquire
from drct.data.download import ChecksumError, LockMismatchError, load_lock
from drct.data.layout import LayoutError
from drct.data.listing import ListingError, NotListedError, ensure_listing, load_listing
from drct.data.local import is_folder_snapshot
from drct.data.manifest import read_manifest
from drct.data.prepare import CountMismatchError, prepare_dataset
from drct.data.sources import Source, default_listing_path, resolve_url

FAST = dict(retries=2, backoff=0.0, timeout=10, progress=False)


def _img(fmt: str = "PNG", color=(1, 2, 3), size=(8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _modelscope(server, tmp_path, **extra) -> dict:
    return {"type": "modelscope", "base_url": server.base, "dataset": "BokingChen/DRCT-2M",
            "listing": str(tmp_path / "workflow" / "listings" / "drct2m.json"), **extra}


# --- URLs ------------------------------------------------------------------------------------------


def test_urls_are_host_plus_explicit_dataset_path():
    ms = {"type": "modelscope", "base_url": "https://modelscope.cn/", "dataset": "BokingChen/DRCT-2M"}
    assert resolve_url(ms, "images/sd-turbo.zip") == \
        "https://modelscope.cn/datasets/BokingChen/DRCT-2M/resolve/master/images/sd-turbo.zip"
    assert resolve_url({**ms, "revision": "v1.0"}, "pretrained.zip").endswith("/resolve/v1.0/pretrained.zip")
    assert resolve_url({"base_url": "http://images.cocodataset.org"}, "zips/val2017.zip") == \
        "http://images.cocodataset.org/zips/val2017.zip"
    assert resolve_url({"base_url": "file:data/genimage"}, "BigGAN dir/x.zip") == \
        "file:data/genimage/BigGAN%20dir/x.zip"
    assert Source.from_config(ms).listing == default_listing_path("BokingChen/DRCT-2M") == \
        "data/listings/BokingChen__DRCT-2M@master.json"
    for bad in ("../x.zip", "/abs.zip", ""):
        with pytest.raises(ValueError):
            resolve_url(ms, bad)
    with pytest.raises(ValueError, match="namespace"):
        Source.from_config({"type": "modelscope", "base_url": "https://modelscope.cn"})
    with pytest.raises(ValueError, match="http"):
        Source.from_config({**ms, "base_url": "file:data"})


# --- ModelScope (DRCT-2M) ------------------------------------------------------------------------


def test_modelscope_listing_is_fetched_once_recorded_and_enforced(server, tmp_path):
    hub = FakeModelScope(server)
    known = _zip({"stable-diffusion-v1-4/val2017/000000000001.png": _img()})
    hub.add("images/stable-diffusion-v1-4.zip", known)
    hub.add("images/sd-turbo.zip", _zip({"sd-turbo/val2017/1.png": _img()}))
    hub.add("fake_rec_images/stable-diffusion-v1-4.zip", b"rec")
    hub.add("pretrained.zip", b"weights")
    source = _modelscope(server, tmp_path)
    lock = tmp_path / "workflow" / "data.lock.json"
    dest = tmp_path / "dl" / "stable-diffusion-v1-4.zip"

    got = acquire(source, "images/stable-diffusion-v1-4.zip", dest, lock, "stable-diffusion-v1-4", **FAST)
    assert got == _sha(known) == load_lock(lock)["stable-diffusion-v1-4"]["sha256"]
    assert dest.read_bytes() == known
    paths = [r["path"] for r in server.state.requests]
    assert paths[0] == "/api/v1/datasets/BokingChen/DRCT-2M"
    assert paths[-1] == "/datasets/BokingChen/DRCT-2M/resolve/master/images/stable-diffusion-v1-4.zip"
    tree = [r for r in server.state.requests if r["path"].endswith("/repo/tree")]
    assert "Revision=master" in tree[0]["query"] and "Recursive=True" in tree[0]["query"]

    # the listing is recorded in the committed file, with the hub's sizes and sha256
    listing = load_listing(Path(source["listing"]))
    assert sorted(listing.files) == ["fake_rec_images/stable-diffusion-v1-4.zip", "images/sd-turbo.zip",
                                     "images/stable-diffusion-v1-4.zip", "pretrained.zip"]
    assert listing.files["pretrained.zip"] == {"size": 7, "sha256": _sha(b"weights")}

    # later downloads read the recorded listing: no more API calls
    n_api = sum(r["path"].startswith("/api/") for r in server.state.requests)
    acquire(source, "images/sd-turbo.zip", tmp_path / "dl" / "sd-turbo.zip", lock, "sd-turbo", **FAST)
    assert sum(r["path"].startswith("/api/") for r in server.state.requests) == n_api

    # an unverified name that the hub does not list is an error naming the closest real names,
    # before any byte is fetched
    n = len(server.state.requests)
    with pytest.raises(NotListedError) as err:
        acquire(source, "images/sd_turbo.zip", tmp_path / "dl" / "x.zip", lock, "x", **FAST)
    msg = str(err.value)
    assert "'images/sd_turbo.zip' is not a file of ModelScope dataset BokingChen/DRCT-2M" in msg
    assert "Closest listed names: ['images/sd-turbo.zip'" in msg and "list-source --refresh" in msg
    assert len(server.state.requests) == n and not (tmp_path / "dl" / "x.zip").exists()


def test_fetched_and_pinned_file_needs_no_hub_on_rerun(server, tmp_path):
    hub = FakeModelScope(server)
    hub.add("images/lcm-lora-sdxl.zip", b"lcm")
    source = _modelscope(server, tmp_path)
    lock, dest = tmp_path / "lock.json", tmp_path / "dl" / "lcm-lora-sdxl.zip"
    acquire(source, "images/lcm-lora-sdxl.zip", dest, lock, "lcm-lora-sdxl", **FAST)
    Path(source["listing"]).unlink()
    n = len(server.state.requests)
    offline = {**source, "base_url": "http://127.0.0.1:9"}  # nothing listens there
    assert acquire(offline, "images/lcm-lora-sdxl.zip", dest, lock, "lcm-lora-sdxl", **FAST) == _sha(b"lcm")
    assert len(server.state.requests) == n
    # but a file that is present and not pinned yet is still checked against the listing
    dest.unlink()
    dest.write_bytes(b"lcm")
    with pytest.raises(ListingError, match="cannot reach"):
        acquire(offline, "images/lcm-lora-sdxl.zip", dest, tmp_path / "other.json", "lcm-lora-sdxl",
                **{**FAST, "retries": 0})


def test_listing_pages_and_hub_errors(server, tmp_path):
    hub = FakeModelScope(server)
    for i in range(7):
        hub.add(f"images/g{i}.zip", bytes([i]))
    source = Source.from_config(_modelscope(server, tmp_path))
    from drct.data.listing import fetch_modelscope_listing

    listing = fetch_modelscope_listing(source, page_size=3, retries=0)
    assert len(listing.files) == 7  # 8 entries (one folder) over 3 pages
    pages = [r["query"] for r in server.state.requests if r["path"].endswith("/repo/tree")]
    assert len(pages) == 3 and "PageNumber=3" in pages[-1] and "PageSize=3" in pages[-1]

    wrong = Source.from_config(_modelscope(server, tmp_path, revision="v9"))
    with pytest.raises(ListingError, match="revision not found"):
        fetch_modelscope_listing(wrong, retries=0)
    gone = Source.from_config(_modelscope(server, tmp_path, dataset="Nobody/None"))
    with pytest.raises(ListingError, match="HTTP 404"):
        fetch_modelscope_listing(gone, retries=0)


def test_listing_refresh_reports_changes(server, tmp_path, caplog):
    hub = FakeModelScope(server)
    hub.add("images/a.zip", b"a")
    source = Source.from_config(_modelscope(server, tmp_path))
    ensure_listing(source, retries=0)
    hub.add("images/b.zip", b"b")
    hub.add("images/a.zip", b"a2")
    assert "images/b.zip" not in ensure_listing(source, retries=0).files  # recorded one is used
    with caplog.at_level(logging.WARNING):
        refreshed = ensure_listing(source, refresh=True, retries=0)
    assert set(refreshed.files) == {"images/a.zip", "images/b.zip"}
    assert "added: images/b.zip" in caplog.text and "changed: images/a.zip" in caplog.text
    assert load_listing(Path(source.listing)).files == refreshed.files


def test_hub_listing_checksum_catches_a_corrupt_mirror(server, tmp_path):
    """The hub lists sha256 and size; a mirror serving other bytes is caught, bytes kept aside."""
    hub = FakeModelScope(server)
    hub.add("images/stable-diffusion-2-1.zip", b"the real archive")
    server.state.files[hub.resolve_path("images/stable-diffusion-2-1.zip")] = b"corrupt mirror!!"
    lock = tmp_path / "lock.json"
    dest = tmp_path / "dl" / "sd21.zip"
    with pytest.raises(ChecksumError, match="sha256 mismatch") as err:
        acquire(_modelscope(server, tmp_path), "images/stable-diffusion-2-1.zip", dest, lock, "sd21", **FAST)
    assert "sd21.zip.bad" in str(err.value)
    assert (tmp_path / "dl" / "sd21.zip.bad").read_bytes() == b"corrupt mirror!!"
    assert not dest.exists() and load_lock(lock) == {}
    # a configured checksum contradicting the hub's is refused before downloading
    n = len(server.state.requests)
    with pytest.raises(LockMismatchError, match="disagree"):
        acquire(_modelscope(server, tmp_path), "images/stable-diffusion-2-1.zip", dest, lock, "sd21",
                sha256="1" * 64, **FAST)
    assert len(server.state.requests) == n


# --- COCO + DRCT-2M through `drct download` and `drct prepare` -------------------------------------


def _coco_zip(split: str, n: int) -> bytes:
    return _zip({f"{split}/{i:012d}.jpg": _img("JPEG", (i, 9, 9)) for i in range(1, n + 1)})


def test_drct2m_with_coco_through_the_cli(server, tmp_path, monkeypatch):
    """`drct download` for COCO (published md5) and ModelScope paths, then `drct prepare`."""
    monkeypatch.chdir(tmp_path)
    hub = FakeModelScope(server)
    fakes = {f"stable-diffusion-v1-4/{s}/{i:012d}.png": _img(color=(i, 1, 1))
             for s, n in (("train2017", 3), ("val2017", 2)) for i in range(1, n + 1)}
    hub.add("images/stable-diffusion-v1-4.zip", _zip(fakes))
    coco = {"train2017": _coco_zip("train2017", 3), "val2017": _coco_zip("val2017", 2)}
    for split, data in coco.items():
        server.state.files[f"/zips/{split}.zip"] = data
    sources = {"coco": {"base_url": server.base},
               "modelscope": _modelscope(server, tmp_path, listing="data/listings/drct2m.json")}
    downloads = [("coco-train2017", "coco", "zips/train2017.zip", coco["train2017"]),
                 ("coco-val2017", "coco", "zips/val2017.zip", coco["val2017"]),
                 ("stable-diffusion-v1-4", "modelscope", "images/stable-diffusion-v1-4.zip", None)]
    archives = []
    for name, src, path, data in downloads:
        out = f"results/downloads/{name}/{path.rsplit('/', 1)[-1]}"
        args = ["acquire", "--source", json.dumps(sources[src]), "--path", path, "--out", out,
                "--key", name, "--lock", "data/data.lock.json"]
        if data is not None:  # COCO publishes md5s
            args += ["--md5", hashlib.md5(data).hexdigest(), "--size", str(len(data))]
        assert drct_main(args) == 0
        archives.append(out)
    assert sorted(load_lock(Path("data/data.lock.json"))) == sorted(d[0] for d in downloads)
    assert Path("data/listings/drct2m.json").is_file()

    counts = tmp_path / "counts.yaml"
    counts.write_text(
        "format: drct-expected-counts/1\ndataset: drct2m\ngenerators:\n"
        "  real: {status: verified, source: test COCO, train: 3, test: 2}\n"
        "  stable-diffusion-v1-4: {status: best-known, train: 3, test: 3}\n")
    spec = {"name": "drct2m", "layout": "drct2m", "real_folder": ".", "expected_counts": str(counts),
            "archives": [{"download": d[0]} for d in downloads],
            "generators": [{"name": "stable-diffusion-v1-4", "folder": "stable-diffusion-v1-4"}]}
    assert drct_main(["prepare", "--spec", json.dumps(spec), "--archives", *archives,
                      "--expected-counts", str(counts), "--out-dir", "results/data/drct2m"]) == 0
    df = read_manifest(Path("results/data/drct2m/manifest.csv"))
    assert sorted(zip(df["generator"], df["split"], df["label"])) == sorted(
        [("real", "train", 0)] * 3 + [("real", "test", 0)] * 2
        + [("stable-diffusion-v1-4", "train", 1)] * 3 + [("stable-diffusion-v1-4", "test", 1)] * 2)
    assert df.loc[df["generator"] == "real", "jpeg_quality"].eq(75).all()  # PIL's default quality
    report = pd.read_csv("results/data/drct2m/counts.csv")
    mismatch = report[~report["ok"]]
    assert mismatch[["generator", "split", "expected", "found", "status"]].values.tolist() == [
        ["stable-diffusion-v1-4", "test", 3, 2, "best-known"]]  # a warning, not an error

    # a verified count that is off stops the step and lists every mismatch
    counts.write_text("real: {train: 4, test: 2}\nstable-diffusion-v1-4: {train: 3, test: 1}\n")
    with pytest.raises(CountMismatchError) as err:
        prepare_dataset([Path(a) for a in archives], "drct2m", "drct2m", tmp_path / "again",
                        members=[None] * 3, generators={"stable-diffusion-v1-4": "stable-diffusion-v1-4"},
                        real_folder=".", expected_counts={"real": {"train": 4, "test": 2},
                                                          "stable-diffusion-v1-4": {"train": 3, "test": 1}})
    assert "real/train: expected 4 images (verified), found 3" in str(err.value)
    assert "stable-diffusion-v1-4/test: expected 1 images (verified), found 2" in str(err.value)


def test_coco_md5_mismatch_through_the_cli(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    server.state.files["/zips/val2017.zip"] = _coco_zip("val2017", 1)
    args = ["acquire", "--source", json.dumps({"base_url": server.base}), "--path", "zips/val2017.zip",
            "--out", "dl/val2017.zip", "--key", "coco-val2017", "--lock", "lock.json",
            "--md5", "442b8da7639aecaf257c1dceb8ba8c80"]
    assert drct_main(args) == 1  # one line on stderr, no traceback (drct --debug raises)
    with pytest.raises(ChecksumError, match="md5 mismatch"):
        drct_main(["--debug", *args])
    assert Path("dl/val2017.zip.bad").is_file() and not Path("lock.json").exists()


# --- GenImage: mirror archive and user-provided folder ---------------------------------------------


def _genimage_tree(root: Path, subset="stable_diffusion_v_1_4", inner="imagenet_ai_0419_sdv4") -> Path:
    for split, n in (("train", 2), ("val", 1)):
        for cls, fmt in (("ai", "PNG"), ("nature", "JPEG")):
            for i in range(n):
                path = root / subset / inner / split / cls / f"{cls}_{i}.{'png' if fmt == 'PNG' else 'JPEG'}"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(_img(fmt, (i, 5, 5)))
    return root / subset


GENIMAGE = dict(layout="genimage", real_folder=None,
                generators={"sdv14": "stable_diffusion_v_1_4/imagenet_ai_0419_sdv4"})


def test_genimage_from_a_mirror(server, tmp_path):
    tree = _genimage_tree(tmp_path / "src")
    files = {p.relative_to(tree.parent).as_posix(): p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    server.state.files["/genimage/stable_diffusion_v_1_4.zip"] = _zip(files)
    dest = tmp_path / "dl" / "stable_diffusion_v_1_4.zip"
    acquire({"base_url": server.url("/genimage")}, "stable_diffusion_v_1_4.zip", dest,
            tmp_path / "lock.json", "genimage-sdv14", **FAST)
    manifest = prepare_dataset([dest], "genimage", out_dir=tmp_path / "out", members=[None],
                               expected_counts={"sdv14": {"train": {"real": 2, "fake": 2},
                                                          "test": {"real": 1, "fake": 1}}}, **GENIMAGE)
    df = read_manifest(manifest)
    assert sorted(df["path"])[:2] == ["images/sdv14/test/ai/ai_0.png", "images/sdv14/test/nature/nature_0.JPEG"]


def test_genimage_from_a_user_folder_is_verified_pinned_and_left_intact(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tree = _genimage_tree(tmp_path / "GenImage")
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    lock = tmp_path / "workflow" / "data.lock.json"
    dest = tmp_path / "results" / "downloads" / "genimage-sdv14" / "stable_diffusion_v_1_4"
    digest = acquire({"base_url": "file:GenImage"}, "stable_diffusion_v_1_4", dest, lock, "genimage-sdv14")
    assert is_folder_snapshot(dest) and load_lock(lock)["genimage-sdv14"]["sha256"] == digest
    assert load_lock(lock)["genimage-sdv14"]["size"] == sum(len(b) for b in before.values())
    # unchanged folder: the snapshot is reused, the digest is the same
    assert acquire({"base_url": "file:GenImage"}, "stable_diffusion_v_1_4", dest, lock, "genimage-sdv14") == digest

    manifest = prepare_dataset([dest], "genimage", out_dir=tmp_path / "data", members=[None], **GENIMAGE)
    df = read_manifest(manifest)
    assert len(df) == 6 and set(df["label"]) == {0, 1}
    assert {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()} == before  # never moved

    # a changed folder no longer matches the pinned digest: error, snapshot kept aside
    (tree / "imagenet_ai_0419_sdv4" / "val" / "ai" / "ai_0.png").write_bytes(_img(color=(9, 9, 9)))
    dest.unlink()
    with pytest.raises(ChecksumError, match="does not match the lock file"):
        acquire({"base_url": "file:GenImage"}, "stable_diffusion_v_1_4", dest, lock, "genimage-sdv14")
    assert dest.with_name(dest.name + ".bad").is_file() and not dest.exists()


def test_wrong_genimage_layout_names_what_was_expected(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tree = _genimage_tree(tmp_path / "GenImage")
    (tree / "imagenet_ai_0419_sdv4" / "val").rename(tree / "imagenet_ai_0419_sdv4" / "test")
    dest = tmp_path / "dl" / "stable_diffusion_v_1_4"
    acquire({"base_url": "file:GenImage"}, "stable_diffusion_v_1_4", dest, tmp_path / "lock.json", "g")
    with pytest.raises(LayoutError) as err:
        prepare_dataset([dest], "genimage", out_dir=tmp_path / "data", members=[None], **GENIMAGE)
    msg = str(err.value)
    assert "missing folders: stable_diffusion_v_1_4/imagenet_ai_0419_sdv4/val/ai" in msg
    assert "stable_diffusion_v_1_4/imagenet_ai_0419_sdv4/val/nature" in msg
    assert not (tmp_path / "data" / "manifest.csv").exists()


# --- the Snakemake rules, end to end, against the loopback hosts -----------------------------------


def test_download_target_of_the_workflow_against_loopback_hosts(server, tmp_path):
    """`snakemake download` with every source redirected: ModelScope + COCO for the DRCT-2M-like
    dataset, user folders for the GenImage-like one; the demo config's other sections unchanged."""
    import shutil
    import subprocess
    import sys

    import yaml

    root = Path(__file__).resolve().parents[2]
    hub = FakeModelScope(server)
    drct_gens = ("flux", "stable-diffusion", "qwen-image")
    for g in drct_gens:
        hub.add(f"images/{g}.zip", _zip({f"{g}/{s}/{i:012d}.png": _img(color=(i, 3, 3))
                                         for s in ("train2017", "val2017") for i in range(1, 3)}))
    hub.add("images/unrelated.zip", b"x")
    for split in ("train2017", "val2017"):
        server.state.files[f"/zips/{split}.zip"] = _coco_zip(split, 3)
    subsets = ("closed_api_models", "open_models_t2i", "open_models_edit")
    for s in subsets:
        _genimage_tree(tmp_path / "GenImage", subset=s, inner="inner")
    # one corrupt and one zero-byte file: quarantined with their reason, never relabelled
    (tmp_path / "GenImage" / "open_models_t2i" / "inner" / "val" / "ai" / "ai_0.png").write_bytes(b"\x89PNG broken")
    (tmp_path / "GenImage" / "open_models_edit" / "inner" / "train" / "nature" / "nature_1.JPEG").write_bytes(b"")

    config = yaml.safe_load((root / "config.yaml").read_text())
    config["sources"] = {
        "modelscope": {"type": "modelscope", "base_url": server.base, "dataset": "BokingChen/DRCT-2M",
                       "listing": "drct2m-listing.json"},
        "coco": {"base_url": server.base},
        "genimage": {"base_url": "file:GenImage"},
    }
    coco_md5 = {s: hashlib.md5(server.state.files[f"/zips/{s}.zip"]).hexdigest() for s in ("train2017", "val2017")}
    config["downloads"] = [
        {"name": "coco-train2017", "source": "coco", "path": "zips/train2017.zip", "md5": coco_md5["train2017"]},
        {"name": "coco-val2017", "source": "coco", "path": "zips/val2017.zip", "md5": coco_md5["val2017"]},
        *({"name": g, "source": "modelscope", "path": f"images/{g}.zip"} for g in drct_gens),
        *({"name": f"gi-{s}", "source": "genimage", "path": s} for s in subsets),
    ]
    drct, gi = config["datasets"]
    drct.update(archives=[{"download": d["name"]} for d in config["downloads"][:5]], real_folder=".",
                expected_counts="counts-drct2m.yaml")
    gi.update(archives=[{"download": f"gi-{s}"} for s in subsets], expected_counts=None,
              generators=[{"name": s, "folder": f"{s}/inner"} for s in subsets])
    shutil.copytree(tmp_path / "GenImage", tmp_path / "work" / "GenImage")
    work = tmp_path / "work"
    config["download"] = {"lock": str(work / "data.lock.json")}  # this test's own pins, not the workflow's
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    (work / "counts-drct2m.yaml").write_text(yaml.safe_dump({
        "format": "drct-expected-counts/1", "dataset": "demo-drct2m",
        "generators": {"real": {"status": "verified", "train": 3, "test": 3},
                       **{g: {"status": "best-known", "train": 2, "test": 2} for g in drct_gens}}}))
    bin_dir = Path(sys.executable).parent
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1",
           "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [str(bin_dir / "snakemake"), "--snakefile", str(root / "Snakefile"), "--directory", str(work),
         "--cores", "2", "download"], cwd=work, env=env, capture_output=True, text=True)
    logs = "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in sorted((work / "logs").rglob("*.log")))
    assert result.returncode == 0, result.stderr[-4000:] + logs

    lock = load_lock(work / "data.lock.json")
    assert sorted(lock) == sorted(d["name"] for d in config["downloads"])
    assert sorted(load_listing(work / "drct2m-listing.json").files) == sorted(
        [f"images/{g}.zip" for g in drct_gens] + ["images/unrelated.zip"])
    fetched = sorted(r["path"] for r in server.state.requests if r["path"].startswith(("/zips", "/datasets")))
    assert fetched == sorted(["/zips/train2017.zip", "/zips/val2017.zip",
                              *(hub.resolve_path(f"images/{g}.zip") for g in drct_gens)])

    data = work / "results" / "data"
    df = read_manifest(data / "demo-drct2m" / "manifest.valid.csv")
    assert df.groupby(["generator", "split"]).size().to_dict() == {
        **{(g, s): 2 for g in drct_gens for s in ("train", "test")}, ("real", "train"): 3, ("real", "test"): 3}
    quarantine = read_manifest(data / "demo-genimage" / "quarantine.csv")
    assert sorted(zip(quarantine["generator"], quarantine["label"], quarantine["reason"])) == [
        ("open_models_edit", 0, "zero_byte"), ("open_models_t2i", 1, "not_an_image")]
    test = read_manifest(data / "demo-genimage" / "test_manifest.csv")
    assert set(test["split"]) == {"test"} and len(test) == 3 * 2 - 1
    report = pd.read_csv(data / "demo-genimage" / "format_report.csv")
    # PNG fakes vs JPEG reals: format alone separates them; the subset whose only test fake was
    # quarantined has nothing to compare
    empty = report[(report["generator"] == "open_models_t2i") & (report["split"] == "test")].iloc[0]
    assert (empty["n_real"], empty["n_fake"]) == (1, 0) and pd.isna(empty["format_only_acc"])
    assert set(report["format_only_acc"].dropna()) == {100.0} and len(report) == 6
    assert "format alone separates real from fake" in (data / "demo-genimage" / "format_report.md").read_text()
    assert (tmp_path / "GenImage" / "open_models_t2i" / "inner" / "val" / "ai" / "ai_0.png").exists()


def test_zip_slip_archive_from_a_mirror_is_refused(server, tmp_path):
    evil = _zip({"BigGAN/imagenet_ai_0419_biggan/train/ai/a.png": _img(), "../../escaped.txt": b"owned"})
    server.state.files["/mirror/BigGAN.zip"] = evil
    dest = tmp_path / "dl" / "BigGAN.zip"
    acquire({"base_url": server.url("/mirror")}, "BigGAN.zip", dest, tmp_path / "lock.json", "gi-biggan", **FAST)
    from drct.data.extract import UnsafeArchiveError

    with pytest.raises(UnsafeArchiveError, match=r"'\.\./\.\./escaped\.txt' escapes"):
        prepare_dataset([dest], "genimage", "genimage", tmp_path / "out" / "genimage", members=[None],
                        generators={"biggan": "BigGAN/imagenet_ai_0419_biggan"}, real_folder=None)
    assert not list(tmp_path.rglob("escaped.txt"))
    assert sorted(p.name for p in (tmp_path / "out" / "genimage").iterdir()) == []


def test_local_folder_with_a_symlink_is_refused(tmp_path):
    tree = _genimage_tree(tmp_path / "GenImage")
    (tree / "link.png").symlink_to(tree / "imagenet_ai_0419_sdv4" / "val" / "ai" / "ai_0.png")
    from drct.data.extract import UnsafeArchiveError

    with pytest.raises(UnsafeArchiveError, match="link.png is a symlink"):
        acquire({"base_url": tree.parent.as_uri()}, "stable_diffusion_v_1_4", tmp_path / "dl" / "s",
                tmp_path / "lock.json", "g")
    assert not (tmp_path / "lock.json").exists()
