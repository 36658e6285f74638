"""Per-dataset data reports: the test-set manifest others can compare against, and the format mix.

Test manifest (``test_manifest.csv``): the valid manifest's ``test`` rows with their sha256, so
anyone can check they evaluated exactly the same images (compare the file, or its sha256 printed
in the format report). Paths stay relative to the dataset folder, like every manifest.

Format report (``format_report.csv`` / ``.md``): why it exists is that DRCT's real images are
JPEG (COCO, ImageNet) while most fakes are PNG, so a detector can score well by recognising the
file format instead of the generator. For every subset and split, real and fake are compared:

* the share of each format among real and among fake images, and the median JPEG quality;
* ``format_only_acc``: the balanced accuracy of the best classifier that sees *only* the file
  format, ``0.5 * sum_f max(P(f | real), P(f | fake))``. 50 % means the format says nothing;
  100 % means format alone separates real from fake, and the subset's accuracy should be read
  with that in mind (or the images re-encoded before training/evaluation).

Which real images a subset's fakes are compared with follows the layout: DRCT-2M's fakes are
compared with the shared real generator (COCO) of the same split, GenImage's ``ai`` images with
the same subset's ``nature`` images.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from drct.data.manifest import read_manifest, write_manifest
from drct.io import atomic_write_text, sha256_file, write_csv

__all__ = ["format_table", "test_manifest", "write_data_report"]

log = logging.getLogger(__name__)

#: format_only_acc at or above this is flagged in the report
SEPARABLE = 0.9


def test_manifest(valid: pd.DataFrame) -> pd.DataFrame:
    """The ``test`` rows of a valid manifest (every column kept)."""
    return valid[valid["split"] == "test"].copy()


def _mix(frame: pd.DataFrame) -> dict[str, float]:
    formats = frame["format"].fillna("unknown").astype(str)
    return (formats.value_counts(normalize=True)).to_dict() if len(frame) else {}


def _median_quality(frame: pd.DataFrame) -> float | None:
    if "jpeg_quality" not in frame.columns:
        return None
    q = pd.to_numeric(frame["jpeg_quality"], errors="coerce").dropna()
    return float(q.median()) if len(q) else None


def _pairs(df: pd.DataFrame, layout: str, real_generator: str) -> list[tuple[str, str, pd.DataFrame, pd.DataFrame]]:
    """(subset, split, real rows, fake rows) for every subset and split in the manifest."""
    out = []
    for split in sorted(df["split"].unique()):
        part = df[df["split"] == split]
        if layout == "drct2m":
            real = part[(part["generator"] == real_generator) & (part["label"] == 0)]
            for gen in sorted(set(part["generator"]) - {real_generator}):
                out.append((gen, split, real, part[(part["generator"] == gen) & (part["label"] == 1)]))
        else:
            for gen in sorted(part["generator"].unique()):
                sub = part[part["generator"] == gen]
                out.append((gen, split, sub[sub["label"] == 0], sub[sub["label"] == 1]))
    return out


def format_table(df: pd.DataFrame, layout: str, real_generator: str = "real") -> pd.DataFrame:
    """One row per subset and split: counts, format shares, median JPEG quality, format-only accuracy."""
    formats = sorted(df["format"].fillna("unknown").astype(str).unique())
    records = []
    for gen, split, real, fake in _pairs(df, layout, real_generator):
        real_mix, fake_mix = _mix(real), _mix(fake)
        row = {"generator": gen, "split": split, "n_real": len(real), "n_fake": len(fake)}
        for fmt in formats:
            row[f"real_{fmt}"] = round(real_mix.get(fmt, 0.0), 4)
            row[f"fake_{fmt}"] = round(fake_mix.get(fmt, 0.0), 4)
        row["real_jpeg_quality_median"] = _median_quality(real)
        row["fake_jpeg_quality_median"] = _median_quality(fake)
        if len(real) and len(fake):
            acc = 0.5 * sum(max(real_mix.get(f, 0.0), fake_mix.get(f, 0.0)) for f in formats)
            row["format_only_acc"] = round(100 * acc, 2)
        else:
            row["format_only_acc"] = None
        records.append(row)
    table = pd.DataFrame.from_records(records)
    if table.empty:
        return table
    return table.sort_values(["generator", "split"], kind="mergesort").reset_index(drop=True)


def _markdown(table: pd.DataFrame) -> str:
    """A plain GitHub table (no tabulate dependency)."""
    if table.empty:
        return "(no rows)\n"
    cells = [[("" if pd.isna(v) else str(v)) for v in row] for row in table.itertuples(index=False)]
    head = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    return "\n".join([head, rule, *("| " + " | ".join(c) + " |" for c in cells)]) + "\n"


def write_data_report(
    valid_manifest: Path, quarantine: Path, layout: str, out_test: Path, out_csv: Path, out_md: Path,
    *, real_generator: str = "real",
) -> pd.DataFrame:
    """Write the test manifest and the format report of one dataset; return the format table."""
    valid = read_manifest(Path(valid_manifest))
    write_manifest(test_manifest(valid), Path(out_test))
    table = format_table(valid, layout, real_generator)
    write_csv(table, Path(out_csv))
    quarantined = read_manifest(Path(quarantine))
    dataset = ", ".join(sorted(valid["dataset"].unique())) or "(empty)"
    separable = table[table["format_only_acc"].fillna(0) >= 100 * SEPARABLE] if len(table) else table
    lines = [
        f"# Data report: {dataset}",
        "",
        f"- valid images: {len(valid)}; quarantined: {len(quarantined)} (listed with their reason "
        f"in `{Path(quarantine).name}`)",
        f"- test manifest: `{Path(out_test).name}`, {int((valid['split'] == 'test').sum())} images, "
        f"sha256 `{sha256_file(out_test)}`",
        "",
        "## Real/fake format mix per subset",
        "",
        "Shares of each file format among the real and the fake images of a subset and split, the "
        "median estimated JPEG quality, and `format_only_acc`: the balanced accuracy (%) of the best "
        "detector that sees only the file format (50 = format says nothing, 100 = format alone "
        "separates real from fake).",
        "",
        _markdown(table),
    ]
    if len(quarantined):
        reasons = quarantined.groupby(["generator", "split", "reason"]).size().reset_index(name="files")
        lines += ["## Quarantined files", "", _markdown(reasons)]
    if len(separable):
        names = ", ".join(f"{r.generator}/{r.split}" for r in separable.itertuples())
        lines += ["## Warning: format alone separates real from fake", "",
                  f"`format_only_acc` >= {100 * SEPARABLE:.0f} % for: {names}. A detector can win "
                  "on these subsets by recognising the file format; read their accuracies with that "
                  "in mind.", ""]
        log.warning("format alone separates real from fake (format_only_acc >= %.0f %%) in %s",
                    100 * SEPARABLE, names)
    atomic_write_text(Path(out_md), "\n".join(lines))
    log.info("data report: %d subsets/splits -> %s, %s; test manifest %s", len(table), out_csv,
             out_md, out_test)
    return table
