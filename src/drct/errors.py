"""The one exception type the `drct` command reports as a single line instead of a traceback.

A `DrctError` says, in its message, which file or value is wrong, what is wrong with it and what to
do about it. The CLI prints that line and exits non-zero; `drct --debug ...` shows the traceback.
Raise it (or a subclass) for failures a user can fix; let programming errors propagate as usual.
"""

from __future__ import annotations


class DrctError(Exception):
    """A failure the user can act on; its message is the whole report."""
