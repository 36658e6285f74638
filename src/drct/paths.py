"""Relative paths from the config: checked when the workflow starts, and again where they are joined.

Config values such as ``datasets[].archives[].member`` or ``downloads[].path`` are joined to a
folder the pipeline owns (the extraction folder, the download folder). An absolute path or a
``..`` would make that join point anywhere on the machine, and ``prepare`` moves images out of the
folder it is given, so such a value could move (and a rerun delete) a user's files. The config
validator rejects them at workflow start with :func:`relative_path_problem`; the code that joins
them checks again with :func:`inside`, which also catches a link that leads out of the folder.

Pure Python (no third-party imports).
"""

from __future__ import annotations

from pathlib import Path

from drct.errors import DrctError

__all__ = ["UnsafePathError", "inside", "relative_path_problem"]


class UnsafePathError(DrctError, ValueError):
    """A relative path from the config would lead outside the folder it is joined to."""


def relative_path_problem(value: str, *, file: bool = False, within: str = "its folder") -> str | None:
    """What is wrong with ``value`` as a path below some folder (None: nothing), phrased as what to fix.

    Allowed: ``a/b/c`` and ``.`` (the folder itself, unless ``file``). Refused: an empty value, an
    absolute path (``/x``, ``C:\\x``), a backslash, a ``..`` part, an empty part (``a//b``, ``a/``),
    and with ``file`` a last part that names no file (``.``). ``within`` names the folder the value
    is relative to, for the message.
    """
    if not value:
        return f"is empty; give a path relative to {within}"
    if value.startswith("/") or (len(value) > 1 and value[0].isalpha() and value[1] == ":"):
        return f"is absolute; give a path relative to {within} (no leading '/' or drive letter)"
    if "\\" in value:
        return "contains '\\'; separate folders with '/'"
    parts = value.split("/")
    if ".." in parts:
        return f"contains '..'; it must stay inside {within}"
    if "" in parts:
        return "has an empty part ('//' or a trailing '/'); remove it"
    if file and parts[-1] == ".":
        return "names no file; end it with the file's name"
    return None


def inside(base: Path, relative: str, what: str) -> Path:
    """``base / relative``, refused (:class:`UnsafePathError`) unless it resolves inside ``base``.

    Resolving follows links, so a link inside ``base`` that leads out of it is refused too.
    """
    problem = relative_path_problem(relative)
    base = Path(base)
    joined = base / relative
    if problem is None:
        real_base = base.resolve()
        if not joined.resolve().is_relative_to(real_base):
            problem = f"leads outside {base} (through a link)"
    if problem is not None:
        raise UnsafePathError(f"{what} {relative!r} {problem}")
    return joined
