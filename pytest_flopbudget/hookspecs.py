"""Hooks pytest-flopbudget calls, for conftest.py files and other plugins.

Mark your implementations ``@pytest.hookimpl(optionalhook=True)`` so the conftest keeps working where the
plugin is not installed (or runs with ``-p no:flopbudget``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from pluggy import HookspecMarker

if TYPE_CHECKING:
    from .budget import Budget
    from .state import Measurement

hookspec = HookspecMarker("pytest")


@hookspec(firstresult=True)
def pytest_flopbudget_budget(item: pytest.Item, budget: Budget | None) -> Budget | None:
    """Decide the budget of one test; the first implementation that returns something other than None wins.

    Called at collection for every test, with the budget its ``flop_budget`` markers, the ``tests`` tables and
    the ``default`` table of ``[tool.flopbudget]`` give (None when none applies; the ``models`` tables depend on
    the model measured and are not in it), and again when its call phase starts if a fixture added a marker
    meanwhile (``request.applymarker``). Return a :class:`pytest_flopbudget.budget.Budget` to replace it for
    every measurement of the test, ``models`` tables included (an unmarked test then runs as if marked: its
    forwards are watched and it fails if it runs none), ``Budget()`` to lift it, or None to keep it. Anything
    else is a collection error naming the test.

    Example, budgets kept in one table in ``conftest.py`` instead of on the tests::

        import pytest
        from pytest_flopbudget.budget import Budget

        BUDGETS = {
            "test_resnet_forward": Budget(max_gflops=4.2, max_params="25.6M"),
            "test_tiny_bert": Budget(max_gmacs="700M"),
        }

        @pytest.hookimpl(optionalhook=True)
        def pytest_flopbudget_budget(item, budget):
            return BUDGETS.get(item.name.partition("[")[0])
    """


@hookspec
def pytest_flopbudget_json_document(config: pytest.Config, document: dict[str, Any]) -> dict[str, Any] | None:
    """Add run-level fields to the ``--flopbudget-json`` file, once, before it is written (on the xdist
    controller, or the only process).

    ``document`` is the whole document, to read. Return a dict of JSON-serializable values with string keys, or
    None: every implementation's dict is merged into the document's top-level ``"extra"`` object (a later key
    overwrites an earlier one). An answer that is not such a dict makes the write fail, named in the summary,
    and the session exit with status 3.

    Example, record the commit and the machine once per run::

        import platform
        import subprocess
        import pytest

        @pytest.hookimpl(optionalhook=True)
        def pytest_flopbudget_json_document(config, document):
            commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
            return {"commit": commit, "machine": platform.node()}
    """


@hookspec
def pytest_flopbudget_json_fields(item: pytest.Item, measurement: Measurement) -> dict[str, Any] | None:
    """Add fields to one measurement's object in the ``--flopbudget-json`` file (under its ``"extra"`` key).

    Called in the process that ran the test (an xdist worker included) as each measurement is made, so
    ``item`` and its markers are at hand. Return a dict of JSON-serializable values with string keys, or
    None. Every implementation's dict is merged; a later key overwrites an earlier one. A value that is not
    JSON-serializable fails the test that made the measurement.

    Example, record each measurement's parametrization (run-level fields such as the commit belong in
    ``pytest_flopbudget_json_document``)::

        import pytest

        @pytest.hookimpl(optionalhook=True)
        def pytest_flopbudget_json_fields(item, measurement):
            callspec = getattr(item, "callspec", None)
            return {"params": {k: repr(v) for k, v in (callspec.params if callspec else {}).items()}}
    """
