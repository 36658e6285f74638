"""drct.failures: which failures stop a job (the machine's) and which become one item's failed row."""

from __future__ import annotations

import errno
import os

import pytest

from drct.errors import DrctError
from drct.failures import (
    EnvironmentFailure,
    environment_cause,
    raise_if_environment,
    writing,
)


def oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.ENOMEM, errno.EMFILE])
def test_machine_errnos_stop_the_job_reading_or_writing(code):
    assert environment_cause(oserror(code)) is not None
    assert environment_cause(oserror(code), writing=True) is not None


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM])
def test_permission_is_the_machines_fault_only_when_writing(code):
    assert environment_cause(oserror(code)) is None  # one unreadable input
    assert environment_cause(oserror(code), writing=True) is not None  # a forbidden output folder


@pytest.mark.parametrize(
    "exc",
    [oserror(errno.ENOENT), oserror(errno.ENAMETOOLONG), OSError("cannot identify image file"),
     ValueError("bad"), RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")],
)
def test_one_items_faults_are_not_the_machines(exc):
    assert environment_cause(exc, writing=True) is None


def test_memory_exhaustion_is_the_machines():
    assert environment_cause(MemoryError()) is not None
    assert environment_cause(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried 9 GB")) is not None


def test_raise_if_environment_names_path_cause_and_remedy(tmp_path):
    error = oserror(errno.ENOSPC)
    with pytest.raises(EnvironmentFailure) as caught:
        raise_if_environment(error, tmp_path / "images", "writing", writing=True)
    message = str(caught.value)
    assert message.startswith(f"writing {tmp_path / 'images'}: no space left on the device")
    assert "free disk space" in message and isinstance(caught.value, DrctError) and caught.value.__cause__ is error
    raise_if_environment(oserror(errno.ENOENT), tmp_path, "reading")  # not the machine's: returns


def test_writing_converts_only_machine_failures(tmp_path):
    with pytest.raises(EnvironmentFailure, match="read-only"), writing(tmp_path / "x.csv"):
        raise oserror(errno.EROFS)
    with pytest.raises(OSError) as caught, writing(tmp_path / "x.csv"):
        raise oserror(errno.ENAMETOOLONG)
    assert not isinstance(caught.value, EnvironmentFailure)
