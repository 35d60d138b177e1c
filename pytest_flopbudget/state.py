"""What the plugin remembers: per-test measurements and the session's list, kept on ``stash``.

Measurements are plain data with an exact dict round trip, so xdist workers can ship them to the
controller and the JSON file is the same data again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from .budget import Budget, Violation
from .config import Settings
from .engine.report import Report

@dataclass
class Measurement:
    """One report of one test, with the budget it was checked against and the outcome."""

    test_id: str
    source: str  # "watch" (a forward the marker watched), "count" (a count() call) or "fixture" (measure)
    report: Report
    budget: Budget | None = None
    violations: list[Violation] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    position: int = 0  # the test's place in the collection: the same on every xdist worker
    skipped: bool = False  # the test that made it was reported skipped (pytest.skip, importorskip, ...)

    @property
    def status(self) -> str:
        """``skipped`` (its test skipped: nothing was enforced), else ``over`` (a limit exceeded), ``ok``
        (within budget) or ``unchecked`` (no budget applies)."""
        if self.skipped:
            return "skipped"
        if self.budget is None:
            return "unchecked"
        return "over" if self.violations else "ok"

    @property
    def share(self) -> float | None:
        return None if self.budget is None else self.budget.share(self.report)

    def to_dict(self) -> dict[str, Any]:
        return {
            "test_id": self.test_id,
            "position": self.position,
            "source": self.source,
            "status": self.status,
            "budget": None if self.budget is None else self.budget.to_dict(),
            "share": _finite(self.share),
            "violations": [violation.to_dict() for violation in self.violations],
            "extra": self.extra,
            "report": self.report.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        return cls(
            test_id=data["test_id"],
            source=data["source"],
            report=Report.from_dict(data["report"]),
            budget=None if data["budget"] is None else Budget.from_dict(data["budget"]),
            violations=[Violation.from_dict(item) for item in data["violations"]],
            extra=dict(data.get("extra", {})),
            position=data.get("position", 0),
            skipped=data.get("status") == "skipped",
        )


def _finite(value: float | None) -> float | None:
    """JSON has no infinity: a share of a zero limit that was exceeded is written as null."""
    return value if value is None or value != float("inf") else None


@dataclass
class ItemState:
    """The measurements of one test, checked as they arrive against the budget its markers resolved to."""

    test_id: str
    budget: Budget | None
    settings: Settings
    fields_hook: Callable[[Measurement], dict[str, Any]] | None = None
    position: int = 0
    measurements: list[Measurement] = field(default_factory=list)
    checked: int | None = None  # how many measurements the call phase checked (None: it has not run)

    def add(self, source: str, report: Report) -> Measurement:
        measurement = Measurement(self.test_id, source, report, self.budget, position=self.position)
        if self.budget is not None:
            measurement.violations = self.budget.check(report)
        if self.fields_hook is not None:
            measurement.extra.update(self.fields_hook(measurement))
        self.measurements.append(measurement)
        return measurement

    def rebudget(self, budget: Budget | None) -> None:
        """A budget resolved again (a marker added at run time): it applies to what was measured so far too."""
        self.budget = budget
        for measurement in self.measurements:
            measurement.budget = budget
            measurement.violations = [] if budget is None else budget.check(measurement.report)

    @property
    def reports(self) -> list[Report]:
        return [measurement.report for measurement in self.measurements]

    @property
    def violations(self) -> list[Violation]:
        return [violation for measurement in self.measurements for violation in measurement.violations]


@dataclass
class SessionState:
    """Every measurement of the session (merged from workers under xdist) and what went wrong with them."""

    settings: Settings
    measurements: list[Measurement] = field(default_factory=list)
    lost_workers: list[str] = field(default_factory=list)
    json_written: str | None = None
    json_error: str | None = None

    def record(self, test_id: str, measurements: list[Measurement]) -> None:
        """A finished test's measurements; a rerun of the same test (pytest-rerunfailures) replaces them."""
        if any(measurement.test_id == test_id for measurement in self.measurements):
            self.measurements = [m for m in self.measurements if m.test_id != test_id]
        self.measurements.extend(measurements)


SETTINGS = pytest.StashKey[Settings]()
SESSION = pytest.StashKey[SessionState]()
BUDGET = pytest.StashKey["Budget | None"]()  # resolved at collection, again at the call if its markers changed
MARKS = pytest.StashKey["tuple[Any, ...]"]()  # the flop_budget markers BUDGET was resolved from
CALLING = pytest.StashKey[bool]()  # inside the item's call phase (a report made now is a subtest's)
POSITION = pytest.StashKey[int]()  # the item's index in the collection
ITEM = pytest.StashKey[ItemState]()
OUTCOMES = pytest.StashKey["set[str]"]()  # the outcomes of the item's reported phases (xfail as "xfailed")

WORKER_OUTPUT_KEY = "flopbudget_measurements"


def in_test_order(measurements: list[Measurement]) -> list[Measurement]:
    """Collection order, a test's own measurements in the order it made them: with or without xdist."""
    return sorted(measurements, key=lambda measurement: measurement.position)


def worker_payload(measurements: list[Measurement]) -> str:
    """What a worker ships to the controller: a JSON string execnet can carry."""
    return json.dumps([measurement.to_dict() for measurement in measurements])


def read_payload(payload: str) -> list[Measurement]:
    return [Measurement.from_dict(item) for item in json.loads(payload)]
