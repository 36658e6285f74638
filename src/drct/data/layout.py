"""Layout normalisation: move the images of an extracted dataset into one canonical tree.

Canonical tree (under ``out_images``)::

    drct2m:    <generator>/<split>/<relative file path>            (real images: generator "real")
    genimage:  <subset>/<split>/{ai,nature}/<relative file path>

with ``split`` in {train, test}. Nothing is guessed: the caller says which source folder holds
which generator (``generators``: normalised name -> folder relative to the root) and which
source split folder is which split (``splits``), because the released archives differ (the
ModelScope DRCT-2M zips nest a generator's split folders one level deeper; the real images come
from separate COCO ``train2017/``/``val2017/`` trees; GenImage subsets are nested paths such as
``stable_diffusion_v_1_4/imagenet_ai_0419_sdv4``). Several extraction roots may be given (one
per archive); each expected folder must then exist in exactly one of them.

Files are *moved* (``os.replace``, same filesystem) rather than copied: the paper-scale data is
hundreds of GB and a copy would double the disk needed. Files whose suffix is not an image type
(:data:`drct.images.IMAGE_SUFFIXES`, the one list every step uses) are moved and listed too,
marked ``image: False``, so that they reach the manifest and validation quarantines them with
the reason ``unsupported_type``: nothing in a source folder disappears without a trace. They are
logged, and not counted as images. Hidden files and ``__MACOSX`` folders (archive metadata) are
ignored.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from drct.errors import DrctError
from drct.images import is_image_name

__all__ = [
    "DEFAULT_SPLITS",
    "GENIMAGE_CLASSES",
    "LAYOUTS",
    "LayoutError",
    "normalise",
]

log = logging.getLogger(__name__)

LAYOUTS = ("drct2m", "genimage")
DEFAULT_SPLITS: dict[str, dict[str, str]] = {
    "drct2m": {"train2017": "train", "val2017": "test"},
    "genimage": {"train": "train", "val": "test"},
}
GENIMAGE_CLASSES: dict[str, int] = {"ai": 1, "nature": 0}
_IGNORED_DIRS = frozenset({"__MACOSX"})
_MAX_LISTED = 50


class LayoutError(DrctError, ValueError):
    """The extracted data does not have the expected layout (missing/ambiguous folders)."""


@dataclass(frozen=True)
class _Source:
    generator: str
    split: str
    label: int
    rel: PurePosixPath  # source folder relative to a root
    out: Path  # destination folder


def _is_ignored(name: str) -> bool:
    return name.startswith(".") or name in _IGNORED_DIRS


def _check_rel(folder: str, what: str) -> PurePosixPath:
    rel = PurePosixPath(folder)
    if rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"{what} folder {folder!r} must be a relative path inside the root")
    return rel


def _check_name(name: str) -> None:
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"invalid generator name {name!r}: it becomes a folder name")


def _sources(
    layout: str, out_images: Path, generators: Mapping[str, str], real_folder: str | None,
    real_name: str, splits: Mapping[str, str],
) -> list[_Source]:
    """Every (generator, split, label) folder the layout promises, with its destination."""
    if len(set(generators.values())) != len(generators):
        raise ValueError(f"two generators map to the same folder: {dict(generators)}")
    sources: list[_Source] = []
    for name, folder in generators.items():
        _check_name(name)
        rel = _check_rel(folder, f"generator {name!r}")
        for src_split, split in splits.items():
            if layout == "drct2m":
                sources.append(_Source(name, split, 1, rel / src_split, out_images / name / split))
            else:
                for cls, label in GENIMAGE_CLASSES.items():
                    sources.append(_Source(name, split, label, rel / src_split / cls,
                                           out_images / name / split / cls))
    if real_folder is not None:
        if layout != "drct2m":
            raise ValueError("real_folder only applies to the drct2m layout "
                             "(GenImage real images are each subset's nature/ folder)")
        _check_name(real_name)
        if real_name in generators:
            raise ValueError(f"generator name {real_name!r} is reserved for the real images")
        rel = _check_rel(real_folder, "real")
        for src_split, split in splits.items():
            sources.append(_Source(real_name, split, 0, rel / src_split,
                                   out_images / real_name / split))
    return sources


def _resolve(sources: list[_Source], roots: Sequence[Path]) -> dict[_Source, Path]:
    """Find each source folder in exactly one root; report every missing/ambiguous one at once."""
    found: dict[_Source, Path] = {}
    missing: list[str] = []
    ambiguous: list[str] = []
    for src in sources:
        hits = [root / src.rel for root in roots if (root / src.rel).is_dir()]
        if not hits:
            missing.append(src.rel.as_posix())
        elif len(hits) > 1:
            ambiguous.append(f"{src.rel.as_posix()} (in {', '.join(map(str, hits))})")
        else:
            found[src] = hits[0]
    if missing or ambiguous:
        lines = []
        if missing:
            lines.append("missing folders: " + ", ".join(sorted(set(missing))))
        if ambiguous:
            lines.append("folders found in more than one root: " + ", ".join(ambiguous))
        present = {str(root): sorted(p.name for p in root.iterdir() if not _is_ignored(p.name))
                   if root.is_dir() else "(no such directory)" for root in roots}
        raise LayoutError("wrong layout: " + "; ".join(lines) + f". Top-level contents: {present}")
    dirs = sorted(found.values(), key=lambda p: len(p.parts))
    for i, outer in enumerate(dirs):
        for inner in dirs[i + 1:]:
            if inner.is_relative_to(outer):
                raise LayoutError(f"source folder {inner} lies inside source folder {outer}")
    return found


def _move(src: Path, dst: Path) -> None:
    if dst.exists():
        raise LayoutError(f"two source files map to {dst} (second one: {src})")
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise OSError(exc.errno, f"cannot move {src} to {dst}: the extracted data and the "
                                     "output must be on the same filesystem") from exc
        raise


def normalise(
    root: Path | Sequence[Path],
    layout: str,
    out_images: Path,
    *,
    generators: Mapping[str, str],
    real_folder: str | None = None,
    real_name: str = "real",
    splits: Mapping[str, str] | None = None,
) -> list[dict]:
    """Move every image of the extracted tree(s) into ``out_images``; return one row per image.

    ``generators`` maps normalised generator/subset name -> source folder relative to the root
    (DRCT-2M: generated images, label 1; GenImage: the subset, whose ``ai`` images get label 1
    and ``nature`` images label 0). ``real_folder`` (DRCT-2M only) is the folder holding the real
    images' split folders; they are stored as generator ``real_name`` with label 0. Use ``"."``
    when ``train2017/`` and ``val2017/`` sit directly in a root (the COCO archives). ``splits``
    maps source split folder -> ``train``/``test``; default :data:`DEFAULT_SPLITS`.

    Rows are ``{"generator", "split", "label", "path", "image"}`` with ``path`` the absolute new
    location, sorted by path; ``image`` is False for a file whose suffix is not an image type
    (listed so that validation quarantines it; not an image for counting). Raises :class:`LayoutError` listing every expected folder that is missing.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    roots = [Path(root)] if isinstance(root, (str, os.PathLike)) else [Path(r) for r in root]
    splits = dict(DEFAULT_SPLITS[layout] if splits is None else splits)
    if not set(splits.values()) <= {"train", "test"}:
        raise ValueError(f"splits must map to 'train'/'test', got {splits}")
    out_images = Path(out_images)
    sources = _sources(layout, out_images, generators, real_folder, real_name, splits)
    resolved = _resolve(sources, roots)

    rows: list[dict] = []
    skipped: list[str] = []
    for src in sources:
        base = resolved[src]
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not _is_ignored(d))
            for fname in sorted(filenames):
                if _is_ignored(fname):
                    continue
                path = Path(dirpath) / fname
                image = is_image_name(fname)
                if not image:
                    skipped.append(str(path))
                dst = src.out / path.relative_to(base)
                _move(path, dst)
                rows.append({"generator": src.generator, "split": src.split,
                             "label": src.label, "path": os.path.abspath(dst), "image": image})
    if skipped:
        shown = "\n  ".join(skipped[:_MAX_LISTED])
        more = f"\n  ... and {len(skipped) - _MAX_LISTED} more" if len(skipped) > _MAX_LISTED else ""
        log.warning("%d files are not of an image type; listed for validation to quarantine "
                    "(unsupported_type):\n  %s%s", len(skipped), shown, more)
    log.info("normalised %d images (and %d other files) from %s into %s", len(rows) - len(skipped),
             len(skipped), ", ".join(map(str, roots)), out_images)
    rows.sort(key=lambda r: r["path"])
    return rows
