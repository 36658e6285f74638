"""Progress display for the long data steps (download, hash, link, extract, manifest, validate).

One home for how progress is shown, so every step behaves alike. On a terminal, tqdm bars
refresh every second. In a Snakemake log file (stderr is not a terminal) a bar refreshing ten
times a second would flood the file, so bars then write at most one line every
:data:`MININTERVAL` seconds; byte transfers (:class:`TransferProgress`), which can run for
hours, write a plain log line instead (``received 1.2 GiB of 40.0 GiB (3 %), 25.1 MiB/s``),
which reads well in a log file where tqdm's carriage returns do not.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

__all__ = ["LOG_INTERVAL", "MININTERVAL", "TransferProgress", "bar", "human_bytes"]

T = TypeVar("T")

#: tqdm refresh interval: every second on a terminal, every 30 s in a log file
MININTERVAL = 1.0 if sys.stderr.isatty() else 30.0
#: seconds between plain progress lines of a transfer when stderr is not a terminal
LOG_INTERVAL = 30.0


def bar(iterable: Iterable[T] | None = None, **kwargs: Any) -> tqdm:
    """A tqdm bar with the data steps' settings (transient, refresh :data:`MININTERVAL`)."""
    kwargs.setdefault("leave", False)
    kwargs.setdefault("mininterval", MININTERVAL)
    return tqdm(iterable, **kwargs)


def human_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``: sizes in binary units, as download tools show them."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


class TransferProgress:
    """Progress of one byte transfer: a tqdm bar on a terminal, plain log lines otherwise.

    ``tty`` defaults to whether stderr is a terminal; ``enabled=False`` shows nothing;
    ``interval`` (seconds between log lines) defaults to :data:`LOG_INTERVAL`.
    Use as a context manager and call :meth:`update` with each chunk's length.
    """

    def __init__(self, name: str, total: int | None, initial: int = 0, *, enabled: bool = True,
                 tty: bool | None = None, log: logging.Logger | None = None,
                 interval: float | None = None) -> None:
        self.name, self.total, self.done = name, total, initial
        self.enabled = enabled
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.log = log or logging.getLogger(__name__)
        self.interval = LOG_INTERVAL if interval is None else interval
        self._bar: tqdm | None = None
        if enabled and self.tty:
            self._bar = bar(total=total, initial=initial, unit="B", unit_scale=True,
                            unit_divisor=1024, desc=name)
        self._start = self._last_log = time.monotonic()
        self._start_bytes = initial

    def update(self, n: int) -> None:
        """Count ``n`` more bytes; log a line when :attr:`interval` seconds have passed."""
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.enabled:
            now = time.monotonic()
            if now - self._last_log >= self.interval:
                self._last_log = now
                self.log.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        """The plain progress line: bytes so far, of total (percent), average rate."""
        elapsed = max((now or time.monotonic()) - self._start, 1e-9)
        rate = (self.done - self._start_bytes) / elapsed
        of = ""
        if self.total:
            of = f" of {human_bytes(self.total)} ({100 * self.done / self.total:.0f} %)"
        return f"{self.name}: received {human_bytes(self.done)}{of}, {human_bytes(rate)}/s"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> TransferProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
