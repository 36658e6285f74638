"""Full-decode validation of every image in a manifest; bad files are quarantined, with a reason.

Why: the original DRCT loader turns an unreadable image into a black image labelled *real*,
silently, and GenImage contains corrupt files and files with bad PNG headers. Here every file is
decoded completely once, by the decoder training, evaluation and ``predict`` use
(:mod:`drct.images`: same pixel limit, EXIF orientation, RGB conversion; truncated images are an
error, not padding), so an image validation accepts cannot stop a later step. Each file is also
checked against the manifest (sha256), the accepted image types (a file of another type, which
preparation lists so that it is not lost silently, is quarantined as ``unsupported_type``) and
its own extension (a JPEG named ``.png`` is exactly the format shortcut the detector must not
learn from). Failing rows go to a quarantine manifest with ``reason`` (a short code,
:data:`REASONS`) and ``detail``; they are never relabelled or replaced, and the files stay where
they are, excluded from the valid set.

A failure of the machine (no space, I/O error, out of memory) is not a property of one image: it
raises :class:`drct.failures.EnvironmentFailure` and stops the job instead of quarantining images.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import struct
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from drct.data.manifest import read_manifest, write_manifest
from drct.data.progress import MININTERVAL
from drct.failures import raise_if_environment
from drct.images import (
    MAX_PIXELS,
    ImageReadError,
    decode,
    describe_unsupported,
    is_image_name,
    open_image,
)
from drct.io import sha256_file

__all__ = ["EXPECTED_FORMATS", "REASONS", "check_image", "validate_manifest"]

log = logging.getLogger(__name__)

# tqdm in a Snakemake log file (not a terminal): one line every 30 s, not ten per second

REASONS = (
    "missing", "unsupported_type", "zero_byte", "sha256_mismatch", "not_an_image", "decompression_bomb",
    "wrong_format", "truncated", "decode_error",
)
#: extension -> PIL formats accepted for it (MPO is PIL's name for multi-picture JPEGs)
EXPECTED_FORMATS: dict[str, frozenset[str]] = {
    ".png": frozenset({"PNG"}),
    ".jpg": frozenset({"JPEG", "MPO"}),
    ".jpeg": frozenset({"JPEG", "MPO"}),
    ".webp": frozenset({"WEBP"}),
    ".bmp": frozenset({"BMP", "DIB"}),
    ".tif": frozenset({"TIFF"}),
    ".tiff": frozenset({"TIFF"}),
    ".gif": frozenset({"GIF"}),
    ".jfif": frozenset({"JPEG", "MPO"}),
}


def _is_truncation(exc: BaseException) -> bool:
    if isinstance(exc, (EOFError, struct.error)):
        return True
    text = str(exc).lower()
    return "truncated" in text or "end of file" in text or "premature end" in text


def check_image(
    path: str | os.PathLike[str] | None,
    sha256: str | None = None,
    *,
    max_pixels: int = MAX_PIXELS,
    check_format: bool = True,
) -> tuple[str, str] | None:
    """None if the file is a fully decodable image matching ``sha256``; else (reason, detail).

    Raises :class:`drct.failures.EnvironmentFailure` when the machine fails (no space, I/O error,
    out of memory) rather than the file.
    """
    if path is None or not isinstance(path, (str, os.PathLike)) or not Path(path).is_file():
        return "missing", f"no file at {path}"
    path = Path(path)
    if not is_image_name(path.name):
        return "unsupported_type", describe_unsupported(path)
    if path.stat().st_size == 0:
        return "zero_byte", "file is empty"
    if isinstance(sha256, str) and sha256:
        got = sha256_file(path)
        if got != sha256.lower():
            return "sha256_mismatch", f"manifest {sha256}, file {got}"
    try:
        with open_image(path, max_pixels) as im:
            expected = EXPECTED_FORMATS.get(path.suffix.lower())
            if check_format and expected is not None and im.format not in expected:
                return ("wrong_format",
                        f"extension {path.suffix} but content is {im.format}")
            decode(im)
    except ImageReadError as exc:  # more than max_pixels
        return "decompression_bomb", str(exc)
    except Image.DecompressionBombError as exc:
        return "decompression_bomb", str(exc)
    except UnidentifiedImageError as exc:
        return "not_an_image", str(exc)
    except (OSError, EOFError, SyntaxError, ValueError, struct.error, zlib.error, MemoryError) as exc:
        raise_if_environment(exc, path, "reading")
        reason = "truncated" if _is_truncation(exc) else "decode_error"
        return reason, f"{type(exc).__name__}: {exc}"
    return None


def _check_row(args: tuple[str | None, str | None, int, bool]) -> tuple[str, str] | None:
    path, sha, max_pixels, check_format = args
    return check_image(path, sha, max_pixels=max_pixels, check_format=check_format)


def _summary(df: pd.DataFrame, reasons: pd.Series) -> None:
    """One log line per generator/split: total, valid, and quarantined counts per reason."""
    frame = df[["generator", "split"]].assign(reason=reasons.fillna("ok").values)
    for (gen, split), group in frame.groupby(["generator", "split"], sort=True):
        counts = group["reason"].value_counts()
        bad = {k: int(v) for k, v in counts.items() if k != "ok"}
        level = logging.WARNING if bad else logging.INFO
        log.log(level, "validate %s/%s: %d images, %d valid, %d quarantined %s", gen, split,
                len(group), int(counts.get("ok", 0)), sum(bad.values()), bad or "")


def validate_manifest(
    manifest: Path,
    out_valid: Path,
    out_quarantine: Path,
    *,
    max_pixels: int = MAX_PIXELS,
    check_format: bool = True,
    workers: int = 1,
) -> tuple[int, int]:
    """Decode every image of ``manifest``; write valid rows and quarantined rows (+ reason).

    Returns (number valid, number quarantined). ``workers`` > 1 decodes in that many processes
    (decoding is CPU-bound). Both outputs are written atomically, paths relative to each
    output's own directory. ``check_format=False`` accepts content/extension mismatches.
    """
    df = read_manifest(Path(manifest))
    jobs = [(p if isinstance(p, str) else None, s if isinstance(s, str) else None,
             max_pixels, check_format) for p, s in zip(df["abspath"], df["sha256"])]
    bar = dict(total=len(jobs), desc=f"validate {Path(manifest).name}", unit="img", leave=False,
               mininterval=MININTERVAL)
    if workers > 1 and len(jobs) > 1:
        ctx = multiprocessing.get_context("spawn")  # no inherited locks/threads from the parent
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            results = list(tqdm(pool.map(_check_row, jobs, chunksize=64), **bar))
    else:
        results = [_check_row(job) for job in tqdm(jobs, **bar)]

    reasons = pd.Series([r[0] if r else None for r in results], index=df.index, dtype=object)
    details = pd.Series([r[1] if r else None for r in results], index=df.index, dtype=object)
    bad = reasons.notna()
    valid = df.loc[~bad]
    quarantine = df.loc[bad].assign(reason=reasons[bad], detail=details[bad])
    write_manifest(valid, Path(out_valid))
    write_manifest(quarantine, Path(out_quarantine))
    _summary(df, reasons)
    log.info("validated %s: %d valid, %d quarantined -> %s, %s", manifest, len(valid),
             len(quarantine), out_valid, out_quarantine)
    return len(valid), len(quarantine)
