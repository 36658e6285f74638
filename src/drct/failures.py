"""Which failures belong to one item, and which to the machine the job runs on.

Steps that work through many items (reconstruct, the released-check compare, ...) keep going when
one item is bad and list it as a ``failed`` row: an undecodable or truncated file, an image the
model cannot take. A full disk, a read-only or forbidden output folder, exhausted memory or a
failing device are different: every later item would fail the same way, and a job that "finishes"
with those rows is marked done by Snakemake while the missing items silently drop out of training.
Such failures must stop the job with a message that names the folder or file, what is wrong and
what to do; the finished items stay on disk so a rerun resumes.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

from drct.errors import DrctError

__all__ = ["EnvironmentFailure", "environment_cause", "raise_if_environment", "writing"]

#: errno -> (what is wrong, what to do); failures of the machine whichever item is processed
_MACHINE_ERRNOS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the device", "free disk space (or point the output elsewhere) and rerun"),
    errno.EROFS: ("the file system is read-only", "make the folder writable (or point the output elsewhere) and rerun"),
    errno.EIO: ("an input/output error of the device", "check the disk or network file system and rerun"),
    errno.ENOMEM: ("out of memory", "free memory or lower the batch size and rerun"),
    errno.EMFILE: ("too many open files in this process", "raise the open-file limit (ulimit -n) and rerun"),
    errno.ENFILE: ("too many open files on the system", "raise the system's open-file limit and rerun"),
}
if hasattr(errno, "EDQUOT"):
    _MACHINE_ERRNOS[errno.EDQUOT] = ("the disk quota is exceeded", "free space in your quota and rerun")
if hasattr(errno, "ESTALE"):
    _MACHINE_ERRNOS[errno.ESTALE] = ("a stale network file handle", "check the network file system mount and rerun")

#: errnos that are the machine's fault only when *writing* (reading one forbidden input is that input's fault)
_WRITE_ERRNOS: dict[int, tuple[str, str]] = {
    errno.EACCES: ("permission denied", "make the folder writable for this user and rerun"),
    errno.EPERM: ("operation not permitted", "make the folder writable for this user and rerun"),
}

#: how torch reports an exhausted CPU allocator (a RuntimeError, not a MemoryError)
_CPU_ALLOCATOR_MARKER = "DefaultCPUAllocator"


class EnvironmentFailure(DrctError):
    """The machine, not one item, failed: no space, read-only or forbidden folder, out of memory, ..."""


def environment_cause(exc: BaseException, *, writing: bool = False) -> tuple[str, str] | None:
    """(what is wrong, what to do) when ``exc`` is a failure of the machine; None when it may be one item's.

    ``writing`` says the operation wrote into an output folder: permission errors there stop the
    job, while a permission error reading one input file is that input's fault.
    """
    if isinstance(exc, MemoryError):
        return ("out of memory", "free memory or lower the batch size and rerun")
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno in _MACHINE_ERRNOS:
            return _MACHINE_ERRNOS[exc.errno]
        if writing and exc.errno in _WRITE_ERRNOS:
            return _WRITE_ERRNOS[exc.errno]
    if isinstance(exc, RuntimeError) and _CPU_ALLOCATOR_MARKER in str(exc):
        return ("out of memory on the CPU", "free memory or lower the batch size and rerun")
    return None


def raise_if_environment(exc: BaseException, path: str | os.PathLike[str], action: str, *, writing: bool = False) -> None:
    """Raise :class:`EnvironmentFailure` (chained to ``exc``) when ``exc`` is the machine's failure.

    ``action`` says what was being done with ``path`` ("writing", "reading"); the message names
    the path, the cause and the remedy, and that finished items are kept for a rerun.
    """
    cause = environment_cause(exc, writing=writing)
    if cause is None:
        return
    what, todo = cause
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    raise EnvironmentFailure(
        f"{action} {os.fspath(path)}: {what} ({detail}); {todo} "
        "(finished outputs are kept; the rerun resumes)"
    ) from exc


@contextlib.contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a machine failure while writing ``path`` into an :class:`EnvironmentFailure` naming it."""
    try:
        yield
    except (OSError, MemoryError) as exc:
        raise_if_environment(exc, path, "writing", writing=True)
        raise
