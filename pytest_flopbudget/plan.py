"""How one test is guarded: the budget layers that apply to it, whether its forwards are watched, whether it
must measure something. Plain data: collection builds it, each measurement asks it for its budget.

Layers merge argument by argument, the first that gives an argument winning: markers (closest first), then
the ``tests`` pattern tables (the one written last first), then the ``models`` tables of the measured model's
class (``module.ClassName`` before ``ClassName``), then ``default``. The ``pytest_flopbudget_budget`` hook's
answer, when it gives one, replaces them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import marks
from .budget import Budget
from .engine.report import Report
from .tables import BudgetTables


@dataclass(frozen=True)
class Plan:
    """One test's budget layers and guard. ``budget`` is the test's own budget (every layer but ``models``,
    or the hook's answer): what the hook is shown, and what a test that measured nothing is told."""

    closer: tuple[Mapping[str, Any], ...] = ()  # marker arguments closest first, then matching tests tables
    default: Mapping[str, Any] | None = None
    tables: BudgetTables = field(default_factory=BudgetTables)
    decided: bool = False  # the hook answered: ``budget`` is final for every measurement
    budget: Budget | None = None
    watched: bool = False  # its forwards and count() calls are recorded
    required: bool = False  # measuring nothing fails it (a marker, or the hook's budget)

    def budget_for(self, report: Report) -> Budget | None:
        """The budget one measurement is checked against (None: unchecked)."""
        if self.decided:
            return self.budget
        models = [table.limits for table in self.tables.for_model(report.model_type, report.model)]
        layers = [*self.closer, *models, *([self.default] if self.default is not None else [])]
        merged = marks.merge(layers)
        return merged if merged else None
