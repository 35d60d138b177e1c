"""What the plugin remembers: per-test measurements and the session's list, kept on ``stash``.

Measurements are plain data with an exact dict round trip, so xdist workers can ship them to the
controller and the JSON file is the same data again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from .baseline import Baseline, BaselineError, Change, Entry, RanTest, compare, measurement_key
from .baseline import load as load_baseline
from .budget import Budget, Violation
from .config import Settings
from .engine.report import Report
from .plan import Plan


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
    key: str = ""  # its name within the test in the baseline: ``Net [4x64]``
    change: Change | None = None  # against the baseline, when there is one

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
            "key": self.key,
            "baseline": None if self.change is None else self.change.to_dict(),
            "report": self.report.to_dict(),
        }

    @property
    def baseline_failures(self) -> list[Any]:
        """What the baseline comparison fails: counts that grew beyond the tolerance, or no entry to compare
        with in a test the baseline knows."""
        return [] if self.change is None else list(self.change.problems)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        report = Report.from_dict(data["report"])
        change = data.get("baseline")
        return cls(
            test_id=data["test_id"],
            source=data["source"],
            report=report,
            key=data.get("key", ""),
            change=None if change is None else Change.from_dict(change, Entry.of(report).to_dict()),
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
    """The measurements of one test, checked as they arrive against their budgets and the baseline."""

    test_id: str
    plan: Plan
    settings: Settings
    baseline: Baseline | None = None
    fields_hook: Callable[[Measurement], dict[str, Any]] | None = None
    position: int = 0
    measurements: list[Measurement] = field(default_factory=list)
    checked: int | None = None  # how many measurements the call phase checked (None: it has not run)
    warned: int = 0  # how many measurements warn mode has reported

    @property
    def budget(self) -> Budget | None:
        """The test's own budget (without the models tables, which depend on what is measured)."""
        return self.plan.budget

    def add(self, source: str, report: Report) -> Measurement:
        key = measurement_key(report, (measurement.key for measurement in self.measurements))
        measurement = Measurement(self.test_id, source, report, position=self.position, key=key)
        self._check(measurement)
        if self.fields_hook is not None:
            measurement.extra.update(self.fields_hook(measurement))
        self.measurements.append(measurement)
        return measurement

    def _check(self, measurement: Measurement) -> None:
        measurement.budget = self.plan.budget_for(measurement.report)
        measurement.violations = [] if measurement.budget is None else measurement.budget.check(measurement.report)
        if self.baseline is not None:
            before = self.baseline.entry(self.test_id, measurement.key)
            measurement.change = compare(measurement.key, measurement.report, before, self.settings.tolerance,
                                         self.baseline.tests.get(self.test_id, {}))

    def replan(self, plan: Plan) -> None:
        """A plan made again (a marker added at run time): it applies to what was measured so far too."""
        self.plan = plan
        for measurement in self.measurements:
            self._check(measurement)

    @property
    def failures(self) -> list[Any]:
        """What fails the test (or warns, in warn mode): budget violations, then growth over the baseline
        (not while the baseline is being updated)."""
        out: list[Any] = list(self.violations)
        if not self.settings.update:
            out += [growth for measurement in self.measurements for growth in measurement.baseline_failures]
        return out

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
    baseline: Baseline | None = None
    lost_workers: list[str] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)  # test id -> outcome, of every test that ran
    collected: set[str] = field(default_factory=set)  # test ids collected, selected or deselected
    partial_files: set[str] = field(default_factory=set)  # files the command line named only some tests of
    json_written: str | None = None
    baseline_update: Any = None  # the baseline.Update the controller wrote
    outputs: list[str] = field(default_factory=list)  # other files written (Markdown), for the summary
    problems: list[str] = field(default_factory=list)  # files that could not be written: printed at every verbosity

    def record(self, test_id: str, outcome: str, measurements: list[Measurement]) -> None:
        """A finished test's outcome and measurements; a rerun of the same test (pytest-rerunfailures)
        replaces them."""
        if any(measurement.test_id == test_id for measurement in self.measurements):
            self.measurements = [m for m in self.measurements if m.test_id != test_id]
        self.measurements.extend(measurements)
        self.outcomes[test_id] = outcome

    def remember_collected(self, nodeids: Iterable[str], partial_files: Iterable[str] = ()) -> None:
        """Test ids collected (selected or not), and files only some of whose tests were collected."""
        self.collected.update(nodeids)
        self.partial_files.update(partial_files)

    def problem(self, text: str) -> None:
        """Something the session could not do (a file not written, a setting turned error): printed at every
        verbosity; the session fails."""
        if text not in self.problems:
            self.problems.append(text)

    def wrote(self, text: str) -> None:
        """A file written besides the JSON, named under the summary (``Markdown summary written to ...``)."""
        self.outputs.append(text)

    def wrote_json(self, path: str) -> None:
        self.json_written = path

    def lose_worker(self, name: str) -> None:
        """An xdist worker that ended without handing over its measurements."""
        self.lost_workers.append(name)

    def updated_baseline(self, change: Any) -> None:
        """What ``--flopbudget-update`` wrote (a ``baseline.Update``), for the summary."""
        self.baseline_update = change

    def payload(self) -> str:
        """What a worker ships to the controller: a JSON string execnet can carry. Measurements that cannot be
        written as JSON become a problem that says why: the controller must not take the worker for lost."""
        try:
            return self._payload(self.measurements, self.problems)
        except (TypeError, ValueError) as error:
            return self._payload([], [*self.problems, "a worker's measurements could not be handed over: "
                                      f"{type(error).__name__}: {error}"])

    def _payload(self, measurements: list[Measurement], problems: list[str]) -> str:
        return json.dumps({
            "measurements": [measurement.to_dict() for measurement in measurements],
            "outcomes": self.outcomes,
            "collected": sorted(self.collected),
            "partial_files": sorted(self.partial_files),
            "problems": problems,
        })

    def merge(self, payload: str) -> None:
        """On the controller: add one worker's payload. Every worker collects the whole suite; each runs a part."""
        data = json.loads(payload)
        self.measurements.extend(Measurement.from_dict(item) for item in data["measurements"])
        self.outcomes.update(data["outcomes"])
        self.remember_collected(data["collected"], data["partial_files"])
        for text in data["problems"]:
            self.problem(text)

    def whole_files_collected(self) -> list[str]:
        """The collected test ids of files collected whole: what tells a gone test from one not collected."""
        return sorted(nodeid for nodeid in self.collected if nodeid.partition("::")[0] not in self.partial_files)

    def ran(self) -> dict[str, RanTest]:
        """Every test that ran, with what it measured, for the baseline."""
        entries: dict[str, dict[str, Entry]] = {test_id: {} for test_id in self.outcomes}
        for measurement in self.measurements:
            entries.setdefault(measurement.test_id, {})[measurement.key] = Entry.of(measurement.report)
        return {test_id: RanTest(self.outcomes.get(test_id, "passed"), found) for test_id, found in entries.items()}


def open_session(settings: Settings) -> SessionState:
    """The session's state, with the baseline read (a bad one is a usage error before collection)."""
    from .config import ConfigError

    baseline = None
    if settings.baseline is not None and not settings.disable:
        try:
            baseline = load_baseline(settings.baseline)
        except BaselineError as error:
            raise ConfigError(f"{error} (from {settings.origins.get('baseline')})") from None
    return SessionState(settings, baseline=baseline)


SETTINGS = pytest.StashKey[Settings]()
SESSION = pytest.StashKey[SessionState]()
PLAN = pytest.StashKey[Plan]()  # made at collection, again at the call if its markers changed
MARKS = pytest.StashKey["tuple[Any, ...]"]()  # the flop_budget markers PLAN was made from
CALLING = pytest.StashKey[bool]()  # inside the item's call phase (a report made now is a subtest's)
POSITION = pytest.StashKey[int]()  # the item's index in the collection
ITEM = pytest.StashKey[ItemState]()
OUTCOMES = pytest.StashKey["set[str]"]()  # the outcomes of the item's reported phases (xfail as "xfailed")

WORKER_OUTPUT_KEY = "flopbudget_measurements"


def in_test_order(measurements: list[Measurement]) -> list[Measurement]:
    """Collection order, a test's own measurements in the order it made them: with or without xdist."""
    return sorted(measurements, key=lambda measurement: measurement.position)
