"""Fixtures of the pytester suites: ``session_runner`` runs one inner session without pytest-xdist, with ``-n 0`` and
with ``-n 2``, so that a test using it states once what the plugin promises in every mode (README.md,
"pytest-xdist": failures, the summary, the JSON file and the baseline are the same, in the same order)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from plugin_support import HEADER

import pytest_flopbudget


@pytest.fixture(params=["no xdist", "-n 0", "-n 2"])
def session_runner(request: pytest.FixtureRequest,
                   monkeypatch: pytest.MonkeyPatch) -> Callable[..., pytest.RunResult]:
    """``run(pytester, source, *args)``: write ``HEADER + source`` as test_model.py and run pytest on it.

    No xdist: in-process, as ``plugin_support.run``. ``-n 0`` and ``-n 2``: in a subprocess, as a user runs them
    (the workers are subprocesses either way), skipped without pytest-xdist; pytest-benchmark, preinstalled, is
    kept out of those because it warns under xdist. The subprocesses (and their workers) import the plugin this
    session imported, not whichever copy an editable install happens to point at.
    """
    if request.param == "no xdist":
        def run_in_process(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
            pytester.makepyfile(test_model=HEADER + source)
            return pytester.runpytest("-p", "no:cacheprovider", *args)

        return run_in_process

    pytest.importorskip("xdist")
    workers = request.param.removeprefix("-n ")
    package_root = str(Path(pytest_flopbudget.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))

    def run_in_subprocess(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
        pytester.makepyfile(test_model=HEADER + source)
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:benchmark", "-n", workers, *args)

    return run_in_subprocess
