"""Published-reconstruction check: our reconstructions beside the authors' published ones, image by image.

DRCT-2M ships the authors' diffusion reconstructions of the real COCO images as generator subsets
(``stable-diffusion-inpainting`` = SDv1-DR, ...), named by the COCO image's stem. Reconstructing a
sample of the same COCO images with our pipeline and measuring PSNR/SSIM against those files is the
most direct test that our reconstruction reproduces theirs. Two steps live here; the reconstruction
between them is the pipeline's own (``drct reconstruct`` / ``reconstruct_manifest``), so the check
measures exactly the code the DAG runs:

* :func:`write_sample`: a seeded sample of source images whose stem also exists among the published
  images, written as a small manifest (source rows plus their published rows).
* :func:`run_comparison`: per-image PSNR (uint8, data range 255) and SSIM (scikit-image) of ours vs
  published, a summary JSON and a Markdown report. Every sampled image ends as one row: compared, or
  failed with its reason (missing or unreadable file, size mismatch, failed reconstruction); none
  is dropped silently. A failure of the machine rather than of one image (out of memory, an I/O
  error of the disk, no space for the outputs) stops the job with ``drct.failures.EnvironmentFailure``
  instead: as failed rows it would shrink the comparison without anyone noticing.

No torch and no model code here: the comparison runs anywhere the files are.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from drct.data.manifest import read_manifest, write_manifest
from drct.failures import raise_if_environment, writing
from drct.io import atomic_write_text, write_csv, write_json

logger = logging.getLogger(__name__)

#: columns of the per-image comparison CSV (paths relative to the CSV's folder)
COMPARISON_COLUMNS = [
    "stem",
    "split",
    "source_path",
    "ours_path",
    "published_path",
    "width",
    "height",
    "psnr",
    "ssim",
    "status",
    "reason",
]

#: how many of the lowest-PSNR images the report lists
WORST_LISTED = 10


# --- sampling -------------------------------------------------------------------------------------


def _rank(stem: str, seed: int) -> str:
    """A stem's place in the sample order: depends only on the stem and the seed (not on manifest order)."""
    return hashlib.sha256(f"{seed}:{stem}".encode()).hexdigest()


def sample_stems(stems: Iterable[str], n: int, seed: int) -> list[str]:
    """``n`` of ``stems`` chosen by seeded hash, sorted; all of them when there are fewer.

    Hash ranking rather than a shuffled list: the choice is the same whatever order the manifest
    lists the images in, on any machine and library version.
    """
    if n < 1:
        raise ValueError(f"sample size must be at least 1, got {n}")
    unique = sorted(set(stems))
    chosen = sorted(unique, key=lambda stem: _rank(stem, seed))[:n]
    return sorted(chosen)


def _stems(rows: pd.DataFrame) -> pd.Series:
    return pd.Series([Path(p).stem for p in rows["path"]], index=rows.index, dtype=object)


def select_sample(
    manifest: pd.DataFrame, *, source: str, published: str, split: str, n: int, seed: int
) -> pd.DataFrame:
    """The manifest rows of a seeded sample of stems present in both ``source`` and ``published``.

    A stem held by two files of one generator (``x.jpg`` and ``x.png``) has no single counterpart,
    so it is left out of the candidates with a warning. Raises ``ValueError`` when no stem is
    common: a check that compares nothing must not pass quietly.
    """
    in_split = manifest[manifest["split"] == split]
    parts: dict[str, pd.DataFrame] = {}
    for role, generator in (("source", source), ("published", published)):
        rows = in_split[in_split["generator"] == generator]
        if rows.empty:
            raise ValueError(f"no {role} images: generator {generator!r} has no rows in split {split!r}")
        stems = _stems(rows)
        duplicated = stems[stems.duplicated(keep=False)]
        if len(duplicated):
            logger.warning(
                "%s %r: %d stems name several files and are left out (e.g. %s)",
                role, generator, duplicated.nunique(), sorted(set(duplicated))[:3],
            )
        parts[role] = rows.assign(_stem=stems)[~stems.duplicated(keep=False)]
    common = set(parts["source"]["_stem"]) & set(parts["published"]["_stem"])
    logger.info(
        "split %s: %d %s images, %d %s images, %d stems in both",
        split, len(parts["source"]), source, len(parts["published"]), published, len(common),
    )
    if not common:
        raise ValueError(
            f"no image stem of {source!r} is also a stem of {published!r} in split {split!r}: "
            "nothing to compare (is `published` the reconstruction of `source`?)"
        )
    chosen = set(sample_stems(common, n, seed))
    if len(chosen) < n:
        logger.warning("asked for %d images, only %d stems are common: taking all of them", n, len(chosen))
    sample = pd.concat([part[part["_stem"].isin(chosen)] for part in parts.values()])
    return sample.drop(columns="_stem")


def write_sample(
    manifest_csv: Path, out_csv: Path, *, source: str, published: str, split: str, n: int, seed: int
) -> pd.DataFrame:
    """Read a dataset manifest, select the sample and write it as a manifest (paths relative to it)."""
    sample = select_sample(read_manifest(manifest_csv), source=source, published=published, split=split, n=n, seed=seed)
    write_manifest(sample, Path(out_csv))
    logger.info("%d %s images and their %s counterparts -> %s", (sample["generator"] == source).sum(), source,
                published, out_csv)
    return sample


# --- metrics --------------------------------------------------------------------------------------


def psnr(ours: np.ndarray, published: np.ndarray) -> float:
    """PSNR in dB of two uint8 images of one shape, data range 255; ``inf`` when they are equal."""
    if ours.shape != published.shape:
        raise ValueError(f"shapes differ: {ours.shape} vs {published.shape}")
    mse = float(np.mean((ours.astype(np.float64) - published.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ssim(ours: np.ndarray, published: np.ndarray) -> float:
    """Mean SSIM of two uint8 RGB images (scikit-image, 7x7 window, per channel, data range 255)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(ours, published, channel_axis=-1, data_range=255))


def load_rgb(path: Path) -> np.ndarray:
    """Decode an image fully into a uint8 RGB array (H, W, 3)."""
    with Image.open(path) as image:
        image.load()
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _read(role: str, path: Any) -> tuple[np.ndarray | None, str]:
    """(array, "") or (None, reason) for one side of a pair."""
    if not isinstance(path, str) or not path:
        return None, f"{role}: no file"
    if not os.path.isfile(path):
        return None, f"{role}: missing file"
    try:
        return load_rgb(Path(path)), ""
    except Exception as exc:  # noqa: BLE001 - any undecodable file becomes a listed failure...
        raise_if_environment(exc, path, f"reading the {role} image")  # ...unless the machine failed
        return None, f"{role}: unreadable: {type(exc).__name__}: {exc}"


def compare_pair(ours_path: Any, published_path: Any) -> dict[str, Any]:
    """PSNR/SSIM of one pair, or the reason it could not be compared (both sides' reasons, if both fail)."""
    ours, ours_error = _read("ours", ours_path)
    published, published_error = _read("published", published_path)
    reasons = [r for r in (ours_error, published_error) if r]
    if reasons:
        return {"status": "failed", "reason": "; ".join(reasons)}
    assert ours is not None and published is not None
    if ours.shape != published.shape:
        (oh, ow), (rh, rw) = ours.shape[:2], published.shape[:2]
        return {"status": "failed", "reason": f"size mismatch: ours {ow}x{oh}, published {rw}x{rh}",
                "width": ow, "height": oh}
    height, width = ours.shape[:2]
    record: dict[str, Any] = {"width": width, "height": height, "psnr": psnr(ours, published)}
    try:
        record["ssim"] = ssim(ours, published)
    except ValueError as exc:  # e.g. an image smaller than SSIM's 7x7 window
        return {**record, "status": "failed", "reason": f"ssim: {exc}"}
    return {**record, "status": "ok", "reason": ""}


# --- the comparison -------------------------------------------------------------------------------


def compare_sample(sample_csv: Path, ours_csv: Path, *, source: str, published: str) -> pd.DataFrame:
    """One row per sampled source image (``COMPARISON_COLUMNS``, absolute paths), in stem order.

    ``ours_csv`` is the reconstruction manifest of the sample (``drct reconstruct``): its rows are
    matched to the sample's source images by the source file's stem, the published image by stem.
    """
    sample = read_manifest(sample_csv)
    sources = sample[sample["generator"] == source]
    published_by_stem = {Path(p).stem: a for p, a in zip(sample.loc[sample["generator"] == published, "path"],
                                                         sample.loc[sample["generator"] == published, "abspath"])}
    ours = read_manifest(ours_csv)
    ours_by_stem = {Path(a).stem: row for a, row in zip(ours["source_abspath"], ours.to_dict("records"))}

    records = []
    for row in sources.sort_values("path").to_dict("records"):
        stem = Path(row["path"]).stem
        record: dict[str, Any] = {"stem": stem, "split": row["split"], "source_path": row["abspath"]}
        mine = ours_by_stem.get(stem)
        theirs = published_by_stem.get(stem)
        record["published_path"] = theirs
        if mine is None:
            record.update(status="failed", reason="ours: not in the reconstruction manifest")
        elif mine["status"] != "ok":
            record.update(status="failed", reason=f"ours: {mine['error']}")
        else:
            record["ours_path"] = mine["abspath"]
            if theirs is None:
                record.update(status="failed", reason="published: not in the sample manifest")
            else:
                record.update(compare_pair(mine["abspath"], theirs))
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=COMPARISON_COLUMNS)
    frame = frame.astype({"width": "Int64", "height": "Int64", "psnr": "float64", "ssim": "float64"})
    for _, failed in frame[frame["status"] == "failed"].iterrows():
        logger.warning("not compared: %s: %s", failed["stem"], failed["reason"])
    return frame


def _stats(values: pd.Series) -> dict[str, float | str | None]:
    """mean/median/min/max; infinite PSNRs (identical images) stay ``"inf"`` so the JSON stays valid."""
    values = values.dropna()
    if values.empty:
        return {"mean": None, "median": None, "min": None, "max": None}
    stats = {"mean": values.mean(), "median": values.median(), "min": values.min(), "max": values.max()}
    return {key: float(v) if math.isfinite(v) else "inf" for key, v in stats.items()}


def pooled_psnr(values: pd.Series) -> float | str | None:
    """PSNR of the images' mean MSE: finite unless every image is identical, unlike a mean of PSNRs
    that one identical image turns infinite."""
    values = values.dropna()
    if values.empty:
        return None
    mse = float(np.mean([255.0**2 * 10 ** (-v / 10) for v in values]))  # 10^(-inf) = 0: identical
    return "inf" if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def summarise(frame: pd.DataFrame, check: Mapping[str, Any], provenance: Mapping[str, Any]) -> dict[str, Any]:
    """The summary JSON: counts, PSNR/SSIM statistics of the compared images, failures, provenance."""
    ok = frame[frame["status"] == "ok"]
    failed = frame[frame["status"] != "ok"]
    settings = provenance.get("settings", {})
    runtime = provenance.get("runtime", {})
    return {
        "check": dict(check),
        "n_sampled": len(frame),
        "n_compared": len(ok),
        "n_failed": len(failed),
        "n_identical": int(np.isinf(ok["psnr"]).sum()),
        "psnr_db": _stats(ok["psnr"]),
        "psnr_pooled_db": pooled_psnr(ok["psnr"]),
        "ssim": _stats(ok["ssim"]),
        "failed": [{"stem": s, "reason": r} for s, r in zip(failed["stem"], failed["reason"])],
        "model": provenance.get("model"),
        "settings": settings,
        "device": runtime.get("device", settings.get("device")),
        "dtype": runtime.get("dtype", settings.get("dtype")),
        "gpu": runtime.get("gpu"),
        "package_versions": provenance.get("package_versions"),
        "git_commit": provenance.get("git_commit"),
    }


def _fmt(value: Any, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}f}"


def _stats_row(label: str, stats: Mapping[str, Any], digits: int) -> str:
    cells = " | ".join(_fmt(stats[key], digits) for key in ("mean", "median", "min", "max"))
    return f"| {label} | {cells} |"


def _cell(text: Any) -> str:
    """Markdown table cell: a ``|`` inside an error message would split the row."""
    return str(text).replace("|", "\\|")


def render_report(summary: Mapping[str, Any], frame: pd.DataFrame) -> str:
    """A short Markdown report: what was compared, the figures, the failures and the worst images."""
    check = summary["check"]
    model = summary.get("model") or {}
    gpu = f", GPU {summary['gpu']}" if summary.get("gpu") else ""
    intro = (
        f"Our reconstructions ({check.get('model')}: `{model.get('model', '?')}`, commit "
        f"`{model.get('commit') or '-'}`) of {summary['n_sampled']} `{check.get('source')}` images of "
        f"{check.get('dataset')} ({check.get('split')} split, sample seed {check.get('seed')}) against the "
        f"authors' published reconstructions `{check.get('published')}`, image by image. "
        f"Device {summary.get('device')}, dtype {summary.get('dtype')}{gpu}."
    )
    counts = (
        f"Compared: {summary['n_compared']} of {summary['n_sampled']}; identical (PSNR inf): "
        f"{summary['n_identical']}; failed: {summary['n_failed']}. PSNR of the mean MSE: "
        f"{_fmt(summary['psnr_pooled_db'], 2)} dB."
    )
    method = (
        "PSNR on uint8 RGB with data range 255; SSIM from scikit-image (7x7 window, per channel, data "
        "range 255). Identical images need the same weights, settings, kernels and dtype; another GPU, "
        "attention kernel or fp16 rounding leaves a finite PSNR."
    )
    lines = [
        f"# Published-reconstruction check: {check.get('model')} vs {check.get('published')}",
        "",
        intro,
        "",
        "| | mean | median | min | max |",
        "|---|---|---|---|---|",
        _stats_row("PSNR (dB)", summary["psnr_db"], 2),
        _stats_row("SSIM", summary["ssim"], 4),
        "",
        counts,
        method,
    ]
    if summary["failed"]:
        lines += ["", "## Not compared", "", "| image | reason |", "|---|---|"]
        lines += [f"| {f['stem']} | {_cell(f['reason'])} |" for f in summary["failed"]]
    ok = frame[frame["status"] == "ok"].sort_values(["psnr", "stem"]).head(WORST_LISTED)
    if len(ok):
        lines += ["", f"## Lowest PSNR ({len(ok)})", "", "| image | PSNR (dB) | SSIM |", "|---|---|---|"]
        lines += [f"| {r.stem} | {_fmt(r.psnr if math.isfinite(r.psnr) else 'inf', 2)} | {r.ssim:.4f} |"
                  for r in ok.itertuples()]
    return "\n".join(lines) + "\n"


def _relative(frame: pd.DataFrame, base: Path) -> pd.DataFrame:
    out = frame.copy()
    base_dir = os.path.abspath(base)
    for column in ("source_path", "ours_path", "published_path"):
        out[column] = [Path(os.path.relpath(p, base_dir)).as_posix() if isinstance(p, str) and p else ""
                       for p in out[column]]
    return out


def run_comparison(
    sample_csv: Path,
    ours_csv: Path,
    *,
    check: Mapping[str, Any],
    provenance_json: Path | None,
    out_csv: Path,
    out_json: Path,
    out_md: Path,
) -> dict[str, Any]:
    """Compare, then write the per-image CSV (paths relative to it), the summary JSON and the report.

    ``check`` is the config block (``model``, ``dataset``, ``source``, ``published``, ``split``,
    ``sample``, ``seed``); ``provenance_json`` the reconstruction's provenance record.
    """
    frame = compare_sample(Path(sample_csv), Path(ours_csv), source=check["source"], published=check["published"])
    provenance = json.loads(Path(provenance_json).read_text(encoding="utf-8")) if provenance_json else {}
    summary = summarise(frame, check, provenance)
    with writing(out_csv):
        write_csv(_relative(frame, Path(out_csv).parent), Path(out_csv))
    with writing(out_json):
        write_json(Path(out_json), summary)
    with writing(out_md):
        atomic_write_text(Path(out_md), render_report(summary, frame))
    logger.info(
        "compared %d of %d images: PSNR mean %s dB, SSIM mean %s; %d failed",
        summary["n_compared"], summary["n_sampled"], summary["psnr_db"]["mean"], summary["ssim"]["mean"],
        summary["n_failed"],
    )
    return summary
