"""Make a ``drct`` process see only the packages of its rule's conda env (copied as ``sitecustomize.py``).

Conda cannot run on the test machine, so a rule's env is imitated inside the one virtualenv that
holds everything: the test (tests/test_env_imports.py) copies this file as ``sitecustomize.py`` into a
folder put first on PYTHONPATH and writes a JSON map ``{drct subcommand: [blocked top-level modules]}``
named by ``DRCT_IMPORT_BLOCKS``. Every Python process started from then on imports this file at
start-up; one whose command line is ``drct SUBCOMMAND ...`` (or ``python -m drct ...``) hides the
blocked modules. Snakemake itself and other tools are left alone.

Hiding, not failing: the standard path finder is replaced by one that answers "not found" for a
blocked module and leaves the blocked distributions out of ``importlib.metadata``, so ``import x``
raises ModuleNotFoundError and ``importlib.util.find_spec("x")`` is None, exactly as in an env
without the package (libraries that probe for optional packages keep working). The subcommand is
passed on in the environment, so worker processes the command spawns are restricted too. Each
restricted process appends ``subcommand<TAB>pid`` to ``$DRCT_IMPORT_BLOCKS.seen`` so the test can
prove that the restriction was active.
"""

from __future__ import annotations

import json
import os
import re
import sys
from importlib.machinery import PathFinder

_SUBCOMMAND_VAR = "DRCT_IMPORT_BLOCKS_SUBCOMMAND"


def _subcommand(argv: list[str]) -> str | None:
    """The drct subcommand of this process's command line, or None when it is not a drct command."""
    for i, arg in enumerate(argv):
        script = os.path.basename(arg) == "drct"
        module = arg in {"drct", "drct.cli"} and i > 0 and argv[i - 1] == "-m"
        if script or module:
            rest = [a for a in argv[i + 1 :] if not a.startswith("-")]
            return rest[0] if rest else None
    return None


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution_name(dist) -> str | None:  # noqa: ANN001 - an importlib.metadata.Distribution
    """A distribution's normalised name, from its .dist-info folder's name where it has one (what
    importlib.metadata itself does): reading every METADATA file instead cost each process that
    lists entry points (transformers and diffusers do) over a second of CPU."""
    name = getattr(dist, "_normalized_name", None)  # PathDistribution, Python >= 3.10
    if name is None:
        name = dist.metadata["Name"] if dist.metadata is not None else None
    return None if name is None else _normalise(name)


def install(blocks_path: str) -> None:
    """Hide this process's blocked modules, if it is a drct command listed in the blocks file."""
    sub = os.environ.get(_SUBCOMMAND_VAR) or _subcommand(list(getattr(sys, "orig_argv", sys.argv)))
    if sub is None:
        return
    with open(blocks_path, encoding="utf-8") as handle:
        blocks = json.load(handle)
    if sub not in blocks["modules"]:
        return
    os.environ[_SUBCOMMAND_VAR] = sub
    modules = frozenset(blocks["modules"][sub])
    distributions = frozenset(blocks["distributions"][sub])

    class BlockingPathFinder(PathFinder):
        """The standard path finder, blind to the blocked top-level modules and distributions."""

        @classmethod
        def find_spec(cls, fullname, path=None, target=None):  # noqa: ANN001, ANN206 - importlib protocol
            if fullname.partition(".")[0] in modules:
                return None
            return super().find_spec(fullname, path, target)

        @classmethod
        def find_distributions(cls, *args, **kwargs):  # noqa: ANN002, ANN003, ANN206 - importlib protocol
            for dist in super().find_distributions(*args, **kwargs):
                if _distribution_name(dist) not in distributions:
                    yield dist

    sys.meta_path[:] = [BlockingPathFinder if f is PathFinder else f for f in sys.meta_path]
    with open(blocks_path + ".seen", "a", encoding="utf-8") as seen:
        seen.write(f"{sub}\t{os.getpid()}\n")


if os.environ.get("DRCT_IMPORT_BLOCKS"):
    install(os.environ["DRCT_IMPORT_BLOCKS"])
