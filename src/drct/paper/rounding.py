"""Printing numbers the way the paper does: exact decimal means, rounded half-up to 2 decimals.

Why decimals and not floats: the paper's Avg is the mean of two-decimal numbers rounded half-up.
In binary floating point such a mean can land just below a ``.xx5`` boundary (e.g. the cross
table's CLIP/RN50 row: exact mean 67.995, float mean 67.99499..., printed 68.00), so both the mean
and the rounding are done in ``decimal`` on each number's shortest ``repr``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal


def _to_decimal(x: float | str | Decimal) -> Decimal:
    """Decimal of the number as written (``repr`` for floats), not of its binary expansion."""
    if isinstance(x, Decimal):
        return x
    if isinstance(x, str):
        return Decimal(x.strip())
    return Decimal(repr(float(x)))


def round_half_up(x: float | str | Decimal, ndigits: int = 2) -> str:
    """``x`` rounded half away from zero to ``ndigits`` decimals, as a string (90.785 -> "90.79").

    Python's ``round`` and ``format`` round half to even on the binary value, which would print
    0.125 as "0.12"; the paper rounds half-up.
    """
    d = _to_decimal(x)
    if not d.is_finite():
        raise ValueError(f"cannot round non-finite value {x!r}")
    quantum = Decimal(1).scaleb(-ndigits)
    return str(d.quantize(quantum, rounding=ROUND_HALF_UP))


def decimal_mean(values: Iterable[float | int | str | Decimal]) -> float:
    """Unweighted mean computed exactly in decimal, returned as the nearest float.

    For two-decimal inputs the exact mean has few digits, so ``repr`` of the returned float is
    that exact mean and :func:`round_half_up` rounds it as the paper did.
    """
    ds = [_to_decimal(v) for v in values]
    if not ds:
        raise ValueError("mean of no values")
    if not all(d.is_finite() for d in ds):
        return math.nan
    return float(sum(ds, Decimal(0)) / Decimal(len(ds)))


def format_cell(x: object, ndigits: int = 2, missing: str = "") -> str:
    """A table cell: numbers rounded half-up, NaN/None as ``missing``, text unchanged."""
    if x is None:
        return missing
    if isinstance(x, str):
        return x
    if isinstance(x, float) and math.isnan(x):
        return missing
    if isinstance(x, (int, float, Decimal)) and not isinstance(x, bool):
        return round_half_up(x, ndigits)
    try:  # numpy scalars
        f = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(x)
    return missing if math.isnan(f) else round_half_up(f, ndigits)
