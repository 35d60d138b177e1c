"""Budgets per test, resolved at collection so that a bad marker is a collection error naming the test.

Markers on module, class and function merge argument by argument, the closest winning; the
``pytest_flopbudget_budget`` hook then gets the last word.
"""

from __future__ import annotations

import pytest

from . import marks
from .budget import Budget, BudgetError
from .state import BUDGET, MARKS, POSITION

_NO_LIMIT = f"it sets no limit; give at least one of {', '.join(marks.arguments(marks.flop_budget))}"


def resolve_budget(item: pytest.Item) -> Budget | None:
    """The budget ``item`` runs under (None: no budget); raises BudgetError with the whole story."""
    closest_first = []
    for node, mark in item.iter_markers_with_node(marks.MARKER):
        where = "" if node is item else f" (set on {node.nodeid or node.name})"
        try:
            marks.validate(mark.args, mark.kwargs)
            if not mark.kwargs:  # even under a farther marker's limits: max_x=None lifts one, nothing says nothing
                raise BudgetError(_NO_LIMIT)
        except BudgetError as error:
            raise BudgetError(f"invalid {marks.MARKER} marker for {item.nodeid}{where}: {error}") from None
        closest_first.append(mark.kwargs)
    budget = marks.merge(closest_first)
    answer = item.ihook.pytest_flopbudget_budget(item=item, budget=budget)
    if answer is not None:
        if not isinstance(answer, Budget):
            raise BudgetError(
                f"pytest_flopbudget_budget returned {answer!r} for {item.nodeid}: expected a "
                f"pytest_flopbudget.budget.Budget or None"
            )
        return answer if answer else None  # Budget() from the hook lifts the budget
    if budget is not None and not budget:
        if any(value is not None for kwargs in closest_first for value in kwargs.values()):
            return None  # a closer marker lifted every limit a farther one set: this test runs unbudgeted
        raise BudgetError(f"invalid {marks.MARKER} marker for {item.nodeid}: {_NO_LIMIT}")
    return budget


def _markers(item: pytest.Item) -> tuple[object, ...]:
    """The flop_budget markers that apply to ``item`` now, closest first (the Mark objects themselves)."""
    return tuple(mark for _, mark in item.iter_markers_with_node(marks.MARKER))


def refresh_budget(item: pytest.Item) -> None:
    """At the start of the call phase: re-resolve the budget if fixtures added or removed flop_budget markers
    (``request.applymarker``, ``request.node.add_marker``); raises BudgetError like a collection error."""
    if BUDGET not in item.stash or MARKS not in item.stash:
        return
    now = _markers(item)
    before = item.stash[MARKS]
    if len(now) == len(before) and all(a is b for a, b in zip(now, before)):
        return
    item.stash[BUDGET] = resolve_budget(item)
    item.stash[MARKS] = now


def assign_budgets(session: pytest.Session, items: list[pytest.Item]) -> None:
    """Store each item's budget; items with a bad one leave the run as collection errors."""
    kept = []
    for item in items:
        try:
            item.stash[MARKS] = _markers(item)
            item.stash[BUDGET] = resolve_budget(item)
        except BudgetError as error:
            report = pytest.CollectReport(item.nodeid, "failed", str(error), [])
            session.ihook.pytest_collectreport(report=report)
        else:
            kept.append(item)
    items[:] = kept
    for position, item in enumerate(items):
        item.stash[POSITION] = position
