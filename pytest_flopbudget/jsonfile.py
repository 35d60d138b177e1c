"""The ``--flopbudget-json`` file: a versioned schema, written atomically.

Schema (``"schema_version": 1``)::

    {
      "schema": "pytest-flopbudget",
      "schema_version": 1,
      "created": "2026-05-09T07:35:25+00:00",        # UTC, ISO 8601
      "environment": {"python": "3.11.7", "platform": "...", "pytest": "9.0.3", "torch": "2.14.1",
                      "pytest_flopbudget": "0.1.0", "convention": "full", "convention_from": "default"},
      "disabled": false,                              # --flopbudget-disable: nothing was measured
      "totals": {"measurements": 3, "over": 1, "unchecked": 1, "skipped": 0,   # status counts (disjoint)
                 "grew": 0, "unmatched": 0, "new": 0,        # baseline counts
                 "flops": 123, "macs": 60},                                # sums
      "settings": {"watch": "marked", "mode": "fail", "baseline": null, "tolerance": 0.0, "update": false},
      "lost_workers": [],                             # xdist workers that crashed before reporting
      "tests": {"tests/test_x.py::test_y": "passed"}, # every test that ran: passed/failed/over/skipped/xfailed
      "collected": ["tests/test_x.py::test_y"],       # every test collected, selected or deselected
      "extra": {...},                                 # from the pytest_flopbudget_json_document hook
      "measurements": [                               # in collection order
        {"test_id": "tests/test_x.py::test_y", "position": 0,   # the test's index in the collection
         "source": "watch" | "count" | "fixture",
         "status": "ok" | "over" | "unchecked" | "skipped",   # skipped: the test was reported skipped
         "budget": {"max_gflops": 4.0} | null,
         "share": 0.82 | null,                        # largest fraction of any limit used
         "violations": [{"argument", "label", "measured", "limit", "text"}],
         "extra": {...},                              # from the pytest_flopbudget_json_fields hook
         "key": "Linear [4x64]",                      # its key in the baseline
         "baseline": {"key", "status", "before", "compared", "growth", "known", "text"} | null,
         "report": {...}}                             # Report.to_dict(): model, name, convention, flops, macs,
      ]                                               # params, ..., input_shapes, modules, ops, unsupported
    }

``Report.from_dict(measurement["report"])`` gives back the exact Report the test saw.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import stat
import sys
import tempfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import pytest

from . import __version__
from .config import Settings, file_kind
from .engine.report import SCHEMA_VERSION
from .state import Measurement

SCHEMA = "pytest-flopbudget"


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def environment(settings: Settings) -> dict[str, Any]:
    """Versions that decide the numbers; torch's is read from its metadata, so torch is not imported."""
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "pytest": pytest.__version__,
        "torch": _version("torch"),
        "pytest_flopbudget": __version__,
        "convention": settings.convention,
        "convention_from": settings.origins.get("convention", "default"),
    }


def document(settings: Settings, measurements: list[Measurement], lost_workers: list[str],
             outcomes: Mapping[str, str] | None = None, collected: list[str] | None = None) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(settings),
        "disabled": settings.disable,
        "totals": totals(measurements),
        "settings": {
            "watch": settings.watch,
            "mode": settings.mode,
            "baseline": None if settings.baseline is None else str(settings.baseline),
            "tolerance": settings.tolerance,
            "update": settings.update,
        },
        "lost_workers": list(lost_workers),
        "tests": dict(sorted((outcomes or {}).items())),
        "collected": list(collected or []),
        "extra": {},  # filled by the pytest_flopbudget_json_document hook
        "measurements": [m.to_dict() for m in measurements],
    }


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n"


def totals(measurements: list[Measurement]) -> dict[str, int]:
    """Status counts (disjoint), baseline counts, and the summed FLOPs and MACs."""
    changes = [m.change for m in measurements if m.change is not None]
    return {
        "measurements": len(measurements),
        "over": sum(m.status == "over" for m in measurements),
        "unchecked": sum(m.status == "unchecked" for m in measurements),
        "skipped": sum(m.status == "skipped" for m in measurements),
        "grew": sum(change.status == "grew" for change in changes),
        "unmatched": sum(change.status == "unmatched" for change in changes),
        "new": sum(change.status == "new" for change in changes),
        "flops": sum(m.report.flops for m in measurements),
        "macs": sum(m.report.macs for m in measurements),
    }


def write_atomic(path: Path, data: Any, text: Callable[[Any], str] = dumps) -> None:
    """Write to a temporary file beside ``path`` and rename it over: readers never see half a file.

    A symlink is followed: its target is written (atomically, beside the target), the link stays. An existing
    file that is not a regular one (a FIFO, a device, a socket) is never replaced: ValueError.
    """
    given, path = path, Path(os.path.realpath(path))
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # absent, or below a file (named next)
        mode = None
    if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # os.replace says what of a dir
        raise ValueError(f"{given} is not a regular file ({file_kind(mode)}), so it is not replaced")
    blocker = next((parent for parent in reversed(path.parents) if parent.exists() and not parent.is_dir()), None)
    if blocker is not None:  # mkdir would say only "File exists" or "Not a directory"
        raise NotADirectoryError(f"{blocker} is a file, not a directory, so {path.name} cannot be written below it")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.stem}.",
                                         suffix=f"{path.suffix}.tmp", delete=False)  # .m.x1y2.json.tmp
    try:
        with handle:
            handle.write(text(data))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o666 & ~_umask())  # mkstemp makes 0600; a report is as readable as any file
        os.replace(handle.name, path)
    except BaseException:
        with_suppressed_unlink(handle.name)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def with_suppressed_unlink(name: str) -> None:
    try:
        os.unlink(name)
    except OSError:
        pass
