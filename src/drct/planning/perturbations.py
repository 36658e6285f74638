"""Perturbation specs: the one place their strings are written and read, and which studies use them.

A perturbation is written ``kind:value`` on the command line and in config-derived lists
(``jpeg:60``, ``scale:0.5``, ``blur:1.5``, ``png``) and ``kind-value`` in file names and tables
(``jpeg-60``). The Snakefile formats the studies' specs at parse time and ``drct evaluate`` parses
them again, so both sides use the functions below; :mod:`drct.evaluation.perturb` checks the values
and applies the perturbations to images.

Pure Python: imported by the Snakefile at parse time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "KINDS",
    "STUDY_SECTIONS",
    "format_kind_value",
    "number",
    "parse_spec",
    "perturbed_protocols",
    "protocol_perturbations",
    "section_specs",
    "spec",
    "spec_id",
    "study_perturbations",
    "study_protocols",
]

#: Kinds, with the name of their strength (``None``: the kind takes none).
KINDS: dict[str, str | None] = {"jpeg": "quality", "scale": "scale", "blur": "sigma", "png": None}

#: Config section (under ``evaluation``) of each perturbation study.
STUDY_SECTIONS: dict[str, str] = {"robustness": "robustness", "format": "format_control"}


def number(value: float) -> str:
    """Shortest plain form: 60, 0.5, 1.25 (never 60.0 or 5e-01), so one value has one spelling."""
    return str(int(value)) if float(value).is_integer() else f"{float(value):g}"


def spec(kind: str, value: float | None) -> str:
    """Command-line form: ``jpeg:60``, ``png``; the inverse of :func:`parse_spec`."""
    return kind if value is None else f"{kind}:{number(value)}"


def spec_id(kind: str, value: float | None) -> str:
    """File- and table-friendly form: ``jpeg-60``, ``scale-0.5``, ``png``."""
    return kind if value is None else f"{kind}-{number(value)}"


def parse_spec(text: str) -> tuple[str, float | None]:
    """``"jpeg:60"`` / ``"jpeg-60"`` / ``"png"`` -> ``(kind, value)``; a non-number value raises ValueError.

    The kind and the value's range are not checked here: :class:`drct.evaluation.perturb.Perturbation` does.
    """
    raw = text.strip()
    for sep in (":", "-"):
        if sep in raw:
            kind, value = raw.split(sep, 1)
            try:
                return kind, float(value)
            except ValueError:
                raise ValueError(f"perturbation {text!r}: {value!r} is not a number") from None
    return raw, None


def format_kind_value(fmt: str) -> tuple[str, int | None]:
    """A format-control entry (``png`` or ``jpeg<quality>``, e.g. ``jpeg95``) as ``(kind, value)``."""
    if fmt == "png":
        return "png", None
    if fmt.startswith("jpeg") and fmt[4:].isdigit():
        return "jpeg", int(fmt[4:])
    raise ValueError(f"format {fmt!r}: use 'png' or 'jpeg<quality>', e.g. 'jpeg95'")


def section_specs(
    jpeg_quality: Sequence[float] = (),
    scale: Sequence[float] = (),
    blur_sigma: Sequence[float] = (),
    formats: Sequence[str] = (),
) -> list[str]:
    """The specs of a study's settings, in a stable order (JPEG, scale, blur, formats)."""
    specs = [spec("jpeg", q) for q in jpeg_quality]
    specs += [spec("scale", s) for s in scale]
    specs += [spec("blur", s) for s in blur_sigma]
    specs += [spec(*format_kind_value(f)) for f in formats]
    return specs


def study_protocols(config: Mapping[str, Any], study: str) -> list[str]:
    """Protocols a study runs on (names were checked against evaluation.protocols at validation)."""
    return list(config["evaluation"][STUDY_SECTIONS[study]]["protocols"])


def study_perturbations(config: Mapping[str, Any], study: str) -> list[str]:
    """The study's perturbations as ``drct evaluate --perturbations`` takes them (jpeg:60, png ...)."""
    section = config["evaluation"][STUDY_SECTIONS[study]]
    if study == "format":
        return section_specs(formats=section["formats"])
    return section_specs(section["jpeg_quality"], section["scale"], section["blur_sigma"])


def perturbed_protocols(config: Mapping[str, Any]) -> list[str]:
    """Protocols with any perturbation study, in config order."""
    wanted = set(study_protocols(config, "robustness")) | set(study_protocols(config, "format"))
    return [p["name"] for p in config["evaluation"]["protocols"] if p["name"] in wanted]


def protocol_perturbations(config: Mapping[str, Any], protocol: str) -> list[str]:
    """Every perturbation a protocol is scored under (both studies, each once): one job per run."""
    specs: list[str] = []
    for study in ("robustness", "format"):
        if protocol in study_protocols(config, study):
            specs += [s for s in study_perturbations(config, study) if s not in specs]
    return specs
