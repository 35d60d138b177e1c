"""Running one test under its budget: watch its forwards, then turn an overrun into the test's own failure.

An overrun is put into the call phase's outcome before pytest builds the report, exactly as if the test
had called ``pytest.fail``: the test reads "failed" (not "passed" plus an error), ``xfail`` applies to it
like to any failure, and ``-x``, ``--maxfail`` and junitxml see a failed test.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from . import collection, junit
from .budget import BudgetError
from .config import verbosity
from .engine.report import Report
from .failures import (
    FlopBudgetExceeded,
    FlopBudgetFailure,
    FlopBudgetWarning,
    NothingMeasured,
    costliest_text,
    failure_message,
    no_measurement_message,
)
from .fixture import Complexity
from .plan import Plan
from .state import CALLING, ITEM, OUTCOMES, PLAN, POSITION, SESSION, SETTINGS, ItemState, Measurement


def item_state(item: pytest.Item) -> ItemState:
    """The test's measurements, created on first use."""
    state = item.stash.get(ITEM, None)
    if state is None:
        session = item.config.stash[SESSION]
        state = ItemState(item.nodeid, plan_of(item), item.config.stash[SETTINGS], baseline=session.baseline,
                          fields_hook=lambda measurement: json_fields(item, measurement),
                          position=item.stash.get(POSITION, 0))
        item.stash[ITEM] = state
    return state


def plan_of(item: pytest.Item) -> Plan:
    """The item's plan; an item collected without one (added after collection) is guarded by nothing."""
    return item.stash.get(PLAN, None) or Plan()


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


@contextlib.contextmanager
def watching(item: pytest.Item) -> Iterator[None]:
    """While a watched test's body runs, measure each distinct outermost forward it makes, and take the
    reports of the ``count()`` calls it makes: both are recorded and checked like ``complexity.measure``.

    First the plan is made again if fixtures changed the test's flop_budget markers (a bad one fails the
    test with the message a collection error gives). Reports made while the body runs are subtests'
    (``subtests.test()``, unittest's ``subTest``): they carry no budget check, see ``before_report``.
    In warn mode, what would fail the test is warned about when the body returns.
    """
    replan(item)
    item.stash[CALLING] = True
    try:
        keep = _receiver(item)
        if keep is None:
            yield
        else:
            from .engine.watch import watch  # torch loads only once a watched test runs

            convention = item.config.stash[SETTINGS].convention
            with watch(lambda report: keep("watch", report), convention=convention,
                       on_count=lambda report: keep("count", report)):
                yield
    finally:
        item.stash[CALLING] = False
    warn_pending(item, call=True)


def replan(item: pytest.Item) -> None:
    """The plan of a test whose fixtures added flop_budget markers (``request.applymarker``): made again,
    applied to what setup measured, and used by the watch."""
    try:
        changed = collection.refresh_plan(item)
    except BudgetError as error:
        pytest.fail(str(error), pytrace=False)
    state = item.stash.get(ITEM, None)
    if changed and state is not None:
        state.replan(plan_of(item))


def _receiver(item: pytest.Item) -> Callable[[str, Report], Any] | None:
    """Where a watched test's reports go: its state; under ``--flopbudget-disable`` only the ``complexity``
    fixture's list of a test a marker would watch (so ``complexity.reports`` reads the same), or nowhere."""
    settings = item.config.stash[SETTINGS]
    plan = plan_of(item)
    if not settings.disable:
        return item_state(item).add if plan.watched else None
    if not plan.required:
        return None
    fixture = getattr(item, "funcargs", {}).get("complexity")
    if not isinstance(fixture, Complexity):
        return None
    return lambda source, report: fixture._keep(report)  # the plugin's own hand-over, not a fixture method


def _failure(item: pytest.Item, state: ItemState, pending: list[Measurement], call: bool) -> FlopBudgetFailure | None:
    """What ``pending`` (and, for the call phase, a required measurement that never came) fail the test with."""
    if call and state.plan.required and not state.measurements:
        assert state.plan.budget is not None
        return NothingMeasured(no_measurement_message(state.plan.budget), pytrace=False)
    growth = not state.settings.update
    if any(m.violations or (growth and m.baseline_failures) for m in pending):
        return FlopBudgetExceeded(failure_message(pending, state.settings.convention, growth,
                                                  state.settings.update_command()), pytrace=False)
    return None


def _pending(state: ItemState, call: bool) -> list[Measurement]:
    """The measurements not checked yet: all of them at the call phase, later ones at teardown."""
    if call:
        pending, state.checked = state.measurements, len(state.measurements)
        return pending
    if state.checked is None:  # the call phase never ran: nothing to check
        return []
    pending, state.checked = state.measurements[state.checked:], len(state.measurements)
    return pending


def warn_pending(item: pytest.Item, call: bool) -> None:
    """Warn mode: the test's new failures as one FlopBudgetWarning (``-W error`` makes it the test's error)."""
    settings = item.config.stash[SETTINGS]
    if settings.mode != "warn" or settings.disable or (ITEM not in item.stash and not plan_of(item).required):
        return
    state = item_state(item)
    if not call and state.checked is None:
        return
    failure = _failure(item, state, _pending(state, call), call)
    if failure is not None:  # located at the test, as pytest's own warnings about a test are
        path, line, _ = item.location
        warnings.warn_explicit(FlopBudgetWarning(f"{item.nodeid}: {failure.msg}"), FlopBudgetWarning,
                               filename=str(item.config.rootpath / path), lineno=(line or 0) + 1)


def before_report(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """Before pytest reports a test's call phase: fail it if it overran, grew over the baseline, or measured
    nothing under a marker. At teardown: check what teardown measured, and attach the JUnit properties.

    A measurement made after that check (``complexity.measure`` in a fixture's teardown) is checked when
    the teardown is reported, so no overrun goes unreported.
    """
    settings = item.config.stash[SETTINGS]
    if call.when == "setup" or in_subtest(item) or settings.disable:
        return
    if call.when == "teardown" and ITEM in item.stash:
        measurements = item_state(item).measurements
        skipped = was_skipped(item.stash.get(OUTCOMES, set()))
        for measurement in measurements:  # the teardown report carries the properties, so its status is final
            measurement.skipped = skipped
        junit.attach(item, measurements)
    if settings.mode == "warn" or (ITEM not in item.stash and not plan_of(item).required):
        return
    state = item_state(item)
    pending = _pending(state, call.when == "call")
    if call.excinfo is not None:  # failed or skipped on its own: after_report adds any overrun to its report
        return
    failure = _failure(item, state, pending, call.when == "call")
    if failure is None:
        return
    try:
        raise failure
    except FlopBudgetFailure:
        call.excinfo = pytest.ExceptionInfo.from_current()


def after_report(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
    """Add the costliest modules to a budget failure; record the test's outcome and measurements once it is
    done.

    A test reported skipped (in any phase, and failed in none) has its measurements recorded as skipped:
    pytest says it did not run to the end, so neither does its budget. An xfailed test is not skipped.
    """
    if in_subtest(item):  # a subtest's outcome is not the test's, and its report carries no budget
        return
    outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
    ours = report.failed and call.excinfo is not None and isinstance(call.excinfo.value, FlopBudgetFailure)
    item.stash.setdefault(OUTCOMES, set()).add("over" if ours else outcome)
    state = item.stash.get(ITEM, None)
    if state is not None and call.when == "call" and report.failed and state.failures \
            and state.settings.mode == "fail":
        text = costliest_text(state.measurements, verbosity(item.config))
        if not ours:  # the test failed on its own: say that it also overran
            overrun = failure_message(state.measurements, state.settings.convention, not state.settings.update,
                                      state.settings.update_command())
            add_section(report, "flop budget", "\n\n".join(filter(None, [overrun, text])))
        elif text:
            add_section(report, "flop budget: costliest modules", text)
    if call.when == "teardown" and not item.config.stash[SETTINGS].disable:
        outcomes = item.stash[OUTCOMES]
        skipped = was_skipped(outcomes)
        measurements = [] if state is None else state.measurements
        for measurement in measurements:
            measurement.skipped = skipped
        item.config.stash[SESSION].record(item.nodeid, test_outcome(outcomes), measurements)


def was_skipped(outcomes: set[str]) -> bool:
    """Reported skipped in some phase and failed in none: it did not run to its end, so neither did its budget."""
    return "skipped" in outcomes and not outcomes & {"failed", "over"}


def test_outcome(outcomes: set[str]) -> str:
    """One word for the phases' outcomes: failed (on its own) > over (failed by the plugin only) > skipped >
    xfailed > passed."""
    return next((word for word in ("failed", "over", "skipped", "xfailed") if word in outcomes), "passed")


def in_subtest(item: pytest.Item) -> bool:
    """Whether a report is made while the test body still runs: a subtest's, not the call phase's own.

    The budget belongs to the test as a whole and is checked once, when its call phase is reported.
    """
    return item.stash.get(CALLING, False)


def add_section(report: pytest.TestReport, title: str, text: str) -> None:
    """Into the failure itself where possible, so ``--show-capture=no`` cannot hide it."""
    addsection = getattr(report.longrepr, "addsection", None)
    if callable(addsection):
        addsection(title, text)
    else:
        report.sections.append((title, text))
