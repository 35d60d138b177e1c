"""pytest hooks of pytest-flopbudget, and only hooks: each one hands its work to the module that owns it.

Importing this module does not import torch; the counter loads when a test first measures something.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from . import collection, hookspecs, marks, results, runtest, summary
from .config import add_options, resolve_settings, settings_line, verbosity
from .fixture import Complexity
from .state import SESSION, SETTINGS, open_session


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for line in marks.marker_lines():
        config.addinivalue_line("markers", line)
    config.pluginmanager.register(ReportWrappers(), "flopbudget-innermost-report")
    settings = resolve_settings(config)
    verbosity(config)  # a bad verbosity_flopbudget stops the session here, as a usage error
    config.stash[SETTINGS] = settings
    config.stash[SESSION] = open_session(settings)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    collection.assign_plans(session, items)


def pytest_deselected(items: list[pytest.Item]) -> None:
    collection.remember_collected(items)


def pytest_collection_finish(session: pytest.Session) -> None:
    collection.finish(session)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    runtest.forget(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with runtest.watching(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    result = yield
    runtest.warn_pending(item, call=False)
    return result


class ReportWrappers:
    """Two wrappers around pytest_runtest_makereport: the innermost puts an overrun into the call's outcome
    before the report is built, so xfail and friends see it like any failure; the outermost reads the report
    they finished (an xfailed test reads xfailed) to record the test."""

    @staticmethod
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_makereport(
        item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        runtest.before_report(item, call)
        return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    runtest.after_report(item, call, report)
    return report


@pytest.fixture
def complexity(request: pytest.FixtureRequest) -> Complexity:
    """Measure models in a test: ``complexity.measure(model, inputs, meta=False, name=None) -> Report``.

    ``complexity.reports`` lists the test's measurements (these and forwards a flop_budget marker watched).
    A flop_budget marker's limits apply to them; without one they are recorded for the summary only.
    """
    settings = request.config.stash[SETTINGS]
    state = None if settings.disable else runtest.item_state(request.node)
    return Complexity(state, settings.convention)


def pytest_sessionfinish(session: pytest.Session) -> None:
    results.finish(session)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    results.merge_worker(node.config, node, error)


def pytest_report_header(config: pytest.Config) -> list[str]:
    if SETTINGS not in config.stash or verbosity(config) < 0:
        return []
    return [settings_line(config.stash[SETTINGS])]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not results.is_worker(config) and SESSION in config.stash:
        summary.write(terminalreporter, config.stash[SESSION], verbosity(config))
