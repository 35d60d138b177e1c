"""Budgets per test, planned at collection so that a bad marker is a collection error naming the test.

Markers on module, class and function merge argument by argument, the closest winning, over the pyproject.toml
tables (see plan.py for the order); the ``pytest_flopbudget_budget`` hook then gets the last word.
"""

from __future__ import annotations

import warnings

import pytest
from pytest import PytestConfigWarning

from . import marks
from .budget import Budget, BudgetError
from .plan import Plan
from .state import MARKS, PLAN, POSITION, SESSION, SETTINGS

_NO_LIMIT = f"it sets no limit; give at least one of {', '.join(marks.arguments(marks.flop_budget))}"


def registered_markers(config: pytest.Config) -> set[str]:
    """The marker names the ini files and plugins register (``markers`` lines, ``name(args): help``)."""
    return {line.split(":")[0].split("(")[0].strip() for line in config.getini("markers")}


def check_spelling(item: pytest.Item) -> None:
    """A marker spelled almost like flop_budget is meant as it: an error, not pytest's unknown-mark warning."""
    registered = registered_markers(item.config)
    for node, mark in item.iter_markers_with_node():
        if mark.name not in registered and marks.near_miss(mark.name):
            where = "" if node is item else f" (set on {node.nodeid or node.name})"
            raise BudgetError(f"unknown marker {mark.name!r} on {item.nodeid}{where}: did you mean {marks.MARKER}?")


def plan_for(item: pytest.Item) -> Plan:
    """How ``item`` is guarded; raises BudgetError with the whole story."""
    check_spelling(item)
    settings = item.config.stash[SETTINGS]
    tables = settings.tables
    markers = []
    for node, mark in item.iter_markers_with_node(marks.MARKER):
        where = "" if node is item else f" (set on {node.nodeid or node.name})"
        try:
            marks.validate(mark.args, mark.kwargs)
            if not mark.kwargs:  # even under a farther marker's limits: max_x=None lifts one, nothing says nothing
                raise BudgetError(_NO_LIMIT)
        except BudgetError as error:
            raise BudgetError(f"invalid {marks.MARKER} marker for {item.nodeid}{where}: {error}") from None
        markers.append(mark.kwargs)
    patterns = tables.for_test(item.nodeid)
    default = tables.default.limits if tables.default is not None else None
    closer = (*markers, *(table.limits for table in patterns))
    layers = [*closer, *([default] if default is not None else [])]
    merged = marks.merge(layers)
    budget = merged if merged else None
    if markers and merged is not None and not merged and not tables.models:
        if not any(value is not None for kwargs in layers for value in kwargs.values()):
            raise BudgetError(f"invalid {marks.MARKER} marker for {item.nodeid}: {_NO_LIMIT}")
        # else: a closer marker lifted every limit a farther one set: this test runs unbudgeted
    try:
        answer = item.ihook.pytest_flopbudget_budget(item=item, budget=budget)
    except Exception as error:  # a conftest's bug: a collection error naming the test, not an internal error
        raise BudgetError(f"pytest_flopbudget_budget raised {type(error).__name__} for {item.nodeid}: {error}") \
            from None
    watch_all = settings.watch == "all" and not settings.disable
    if answer is not None:
        if not isinstance(answer, Budget):
            raise BudgetError(
                f"pytest_flopbudget_budget returned {answer!r} for {item.nodeid}: expected a "
                f"pytest_flopbudget.budget.Budget or None"
            )
        decided = answer if answer else None  # Budget() from the hook lifts the budget
        # Budget() lifts the limits only: a marked or pattern-named test is still watched, for the baseline.
        return Plan(closer, default, tables, decided=True, budget=decided, required=bool(answer),
                    watched=bool(answer) or watch_all or bool(markers) or bool(patterns))
    # A marked test is watched even when its markers lift every limit (the models tables may still apply); it
    # must measure something when a limit applies to it as a whole.
    return Plan(closer, default, tables, budget=budget, required=bool(markers) and budget is not None,
                watched=bool(markers) or watch_all or bool(patterns))


def _markers(item: pytest.Item) -> tuple[object, ...]:
    """The flop_budget markers that apply to ``item`` now, closest first (the Mark objects themselves)."""
    return tuple(mark for _, mark in item.iter_markers_with_node(marks.MARKER))


def refresh_plan(item: pytest.Item) -> bool:
    """At the start of the call phase: plan again if fixtures added or removed flop_budget markers
    (``request.applymarker``, ``request.node.add_marker``); raises BudgetError like a collection error.
    True when the plan changed."""
    if PLAN not in item.stash or MARKS not in item.stash:
        return False
    now = _markers(item)
    before = item.stash[MARKS]
    if len(now) == len(before) and all(a is b for a, b in zip(now, before)):
        return False
    item.stash[PLAN] = plan_for(item)
    item.stash[MARKS] = now
    return True


def assign_plans(session: pytest.Session, items: list[pytest.Item]) -> None:
    """Store each item's plan; items with a bad budget leave the run as collection errors."""
    kept = []
    for item in items:
        try:
            item.stash[MARKS] = _markers(item)
            item.stash[PLAN] = plan_for(item)
        except BudgetError as error:
            report = pytest.CollectReport(item.nodeid, "failed", str(error), [])
            session.ihook.pytest_collectreport(report=report)
        else:
            kept.append(item)
    items[:] = kept
    for position, item in enumerate(items):
        item.stash[POSITION] = position
    remember_collected(items)


def remember_collected(items: list[pytest.Item]) -> None:
    """Test ids this run collected, selected or not: a baseline entry of a test not among them, in a file
    collected whole, belongs to a test that no longer exists."""
    if items:
        config = items[0].config
        state = config.stash.get(SESSION, None)
        if state is not None:
            partial = partial_files(config)
            if config.getoption("lf", False):  # --lf collects only the failed tests of a file, deselecting none
                partial |= {item.nodeid.partition("::")[0] for item in items}
            state.remember_collected((item.nodeid for item in items), partial)


def partial_files(config: pytest.Config) -> set[str]:
    """Files the command line names only some tests of (``tests/test_x.py::test_a``), as node ids spell them:
    the other tests of such a file are not collected, which does not make them gone."""
    found = set()
    for arg in config.args:
        if "::" not in arg:
            continue
        path = (config.invocation_params.dir / arg.split("::", 1)[0]).resolve()
        try:
            found.add(path.relative_to(config.rootpath.resolve()).as_posix())
        except ValueError:  # outside the rootdir: node ids spell it differently, and no baseline entry names it
            continue
    return found


def finish(session: pytest.Session) -> None:
    """After collection: warn once about ``tests`` patterns that name nothing (an xdist worker other than
    the first stays quiet: every worker collects the same tests)."""
    config = session.config
    settings = config.stash[SETTINGS]
    worker = getattr(config, "workerinput", None)
    if not settings.tables.tests or (worker is not None and worker.get("workerid") != "gw0"):
        return
    state = config.stash[SESSION]
    for pattern in settings.tables.unmatched_patterns(state.collected, config.rootpath, state.partial_files):
        table = dict(settings.tables.tests)[pattern]
        message = f"{table.where}: the pattern matches no collected test"
        try:
            warnings.warn_explicit(PytestConfigWarning(message), PytestConfigWarning, filename=table.file,
                                   lineno=table.line(f'"{pattern}"'))
        except PytestConfigWarning:  # -W error or filterwarnings made it an error: a usage error, not a crash
            error = f"{message} ({table.file}; a warning turned into an error by the warning filters)"
            if worker is None:
                raise pytest.UsageError(error) from None
            state.problem(error)  # a worker cannot stop the session: the controller fails it at the end
