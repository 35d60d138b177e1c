"""Running one test under its budget: watch its forwards, then turn an overrun into the test's own failure.

An overrun is put into the call phase's outcome before pytest builds the report, exactly as if the test
had called ``pytest.fail``: the test reads "failed" (not "passed" plus an error), ``xfail`` applies to it
like to any failure, and ``-x``, ``--maxfail`` and junitxml see a failed test.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Callable, Iterator

import pytest

from . import collection
from .budget import Budget, BudgetError
from .fixture import Complexity
from .engine.report import Report
from .state import (BUDGET, CALLING, ITEM, OUTCOMES, POSITION, SESSION, SETTINGS, ItemState,
                    Measurement)
from .failures import (
    FlopBudgetExceeded,
    FlopBudgetFailure,
    NothingMeasured,
    costliest_text,
    no_measurement_message,
    violation_message,
)

def item_state(item: pytest.Item) -> ItemState:
    """The test's measurements, created on first use."""
    state = item.stash.get(ITEM, None)
    if state is None:
        state = ItemState(item.nodeid, item.stash.get(BUDGET, None), item.config.stash[SETTINGS],
                          fields_hook=lambda measurement: json_fields(item, measurement),
                          position=item.stash.get(POSITION, 0))
        item.stash[ITEM] = state
    return state


def forget(item: pytest.Item) -> None:
    """A rerun of the same item (pytest-rerunfailures) starts with no measurements of its own."""
    if ITEM in item.stash:
        del item.stash[ITEM]
    if OUTCOMES in item.stash:
        del item.stash[OUTCOMES]


def json_fields(item: pytest.Item, measurement: Measurement) -> dict[str, Any]:
    """The merged answers of ``pytest_flopbudget_json_fields``; a bad answer fails the measuring test."""
    merged: dict[str, Any] = {}
    for answer in reversed(item.ihook.pytest_flopbudget_json_fields(item=item, measurement=measurement)):
        if not isinstance(answer, dict) or not all(isinstance(key, str) for key in answer):
            raise TypeError(f"pytest_flopbudget_json_fields returned {answer!r}: expected a dict with string keys")
        try:
            json.dumps(answer)
        except (TypeError, ValueError) as error:
            raise TypeError(f"pytest_flopbudget_json_fields returned a value that is not JSON-serializable: {error}") \
                from None
        merged.update(answer)
    return merged


def budget_of(item: pytest.Item) -> Budget | None:
    """The item's budget, or None when it has none or the plugin is disabled."""
    if item.config.stash[SETTINGS].disable:
        return None
    return item.stash.get(BUDGET, None)


@contextlib.contextmanager
def watching(item: pytest.Item) -> Iterator[None]:
    """While a budgeted test's body runs, measure each distinct outermost forward it makes, and take the
    reports of the ``count()`` calls it makes: both are recorded and checked like ``complexity.measure``.

    First the budget is resolved again if fixtures changed the test's flop_budget markers (a bad one fails
    the test with the message a collection error gives). Reports made while the body runs are subtests'
    (``subtests.test()``, unittest's ``subTest``): they carry no budget check, see ``before_report``.
    """
    refresh_budget(item)
    item.stash[CALLING] = True
    try:
        keep = _receiver(item)
        if keep is None:
            yield
            return
        from .engine.watch import watch  # torch loads only once a budgeted test runs

        convention = item.config.stash[SETTINGS].convention
        with watch(lambda report: keep("watch", report), convention=convention,
                   on_count=lambda report: keep("count", report)):
            yield
    finally:
        item.stash[CALLING] = False


def refresh_budget(item: pytest.Item) -> None:
    """The budget of a test whose fixtures added flop_budget markers (``request.applymarker``): resolved
    again, applied to what setup measured, and used by the watch."""
    before = item.stash.get(BUDGET, None)
    try:
        collection.refresh_budget(item)
    except BudgetError as error:
        pytest.fail(str(error), pytrace=False)
    budget = item.stash.get(BUDGET, None)
    state = item.stash.get(ITEM, None)
    if state is not None and budget is not before:
        state.rebudget(budget)


def _receiver(item: pytest.Item) -> Callable[[str, Report], Any] | None:
    """Where a budgeted test's watched reports go: its state; under ``--flopbudget-disable`` only the
    ``complexity`` fixture's list (so ``complexity.reports`` reads the same), or nowhere without it."""
    if item.stash.get(BUDGET, None) is None:
        return None
    if not item.config.stash[SETTINGS].disable:
        return item_state(item).add
    fixture = getattr(item, "funcargs", {}).get("complexity")
    if not isinstance(fixture, Complexity):
        return None
    return lambda source, report: fixture._keep(report)  # the plugin's own hand-over, not a fixture method


def before_report(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """Before pytest reports a budgeted test's call phase: fail it if it overran or measured nothing.

    A measurement made after that check (``complexity.measure`` in a fixture's teardown) is checked when
    the teardown is reported, so no overrun goes unreported.
    """
    budget = budget_of(item)
    if budget is None or call.when == "setup" or in_subtest(item):
        return
    state = item_state(item)
    if call.when == "call":
        pending, state.checked = state.measurements, len(state.measurements)
        hole = not pending
    elif state.checked is not None:
        pending, state.checked = state.measurements[state.checked:], len(state.measurements)
        hole = False
    else:  # the call phase never ran: nothing to check
        return
    if call.excinfo is not None:  # failed or skipped on its own: after_report adds any overrun to its report
        return
    violations = [violation for measurement in pending for violation in measurement.violations]
    failure: FlopBudgetFailure
    if hole:
        failure = NothingMeasured(no_measurement_message(budget), pytrace=False)
    elif violations:
        failure = FlopBudgetExceeded(violation_message(violations, budget, state.settings.convention), pytrace=False)
    else:
        return
    try:
        raise failure
    except FlopBudgetFailure:
        call.excinfo = pytest.ExceptionInfo.from_current()


def after_report(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
    """Add the costliest modules to a budget failure; record the test's measurements once it is done.

    A test reported skipped (in any phase, and failed in none) has its measurements recorded as skipped:
    pytest says it did not run to the end, so neither does its budget. An xfailed test is not skipped.
    """
    if in_subtest(item):  # a subtest's outcome is not the test's, and its report carries no budget
        return
    outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
    item.stash.setdefault(OUTCOMES, set()).add(outcome)
    state = item.stash.get(ITEM, None)
    if state is None:
        return
    if call.when == "call" and report.failed and state.violations:
        ours = call.excinfo is not None and isinstance(call.excinfo.value, FlopBudgetFailure)
        text = costliest_text(state.measurements, item.config.option.verbose)
        if not ours:  # the test failed on its own: say that it also overran
            overrun = violation_message(state.violations, state.budget, state.settings.convention)
            add_section(report, "flop budget", "\n\n".join(filter(None, [overrun, text])))
        elif text:
            add_section(report, "flop budget: costliest modules", text)
    if call.when == "teardown":
        outcomes = item.stash[OUTCOMES]
        skipped = "skipped" in outcomes and "failed" not in outcomes
        for measurement in state.measurements:
            measurement.skipped = skipped
        item.config.stash[SESSION].record(item.nodeid, state.measurements)


def in_subtest(item: pytest.Item) -> bool:
    """Whether a report is made while the test body still runs: a subtest's, not the call phase's own.

    The budget belongs to the test as a whole and is checked once, when its call phase is reported.
    """
    return item.stash.get(CALLING, False)


def add_section(report: pytest.TestReport, title: str, text: str) -> None:
    """Into the failure itself where possible, so ``--show-capture=no`` cannot hide it."""
    longrepr = report.longrepr
    if hasattr(longrepr, "addsection"):
        longrepr.addsection(title, text)
    else:
        report.sections.append((title, text))
