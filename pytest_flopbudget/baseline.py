"""The baseline: a committed JSON file of what each test's models cost, that a run compares with and updates.

Keyed by test id, then by measurement (the model's label and its input shapes), each entry holds the exact
FLOPs (with their convention), MACs and params. The file is sorted and indented so that a change to one model
is a one-line diff. Comparing and updating are plain functions of plain data: no pytest, no torch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from .engine.report import SCHEMA_VERSION, Report
from .engine.units import LARGEST, format_billions, format_count, format_shapes

BASELINE_SCHEMA = "pytest-flopbudget-baseline"

#: The largest count an entry may hold: changes are computed in floats.
LARGEST_COUNT = int(LARGEST)

#: What a baseline holds of a measurement, in the order a change is shown: count -> (its unit in short form,
#: the scale of that form, its unit written exactly).
COUNTS: dict[str, tuple[str, float, str]] = {
    "flops": ("GFLOPs", 1e9, "FLOPs"),
    "macs": ("GMACs", 1e9, "MACs"),
    "params": ("params", 1.0, "params"),
}

#: Outcomes after which a test is known to have run to its end: what it did not measure, it no longer measures.
#: ("over": failed by its budget or the baseline only.)
COMPLETE_OUTCOMES = ("passed", "over")


class BaselineError(ValueError):
    """A baseline file that cannot be read or is not a baseline; the message names the file."""


@dataclass(frozen=True)
class Entry:
    """One measurement as the baseline keeps it."""

    convention: str
    flops: int
    macs: int
    params: int

    @classmethod
    def of(cls, report: Report) -> Entry:
        return cls(report.convention, report.flops, report.macs, report.params)

    def to_dict(self) -> dict[str, Any]:
        return {"convention": self.convention, "flops": self.flops, "macs": self.macs, "params": self.params}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "") -> Entry:
        try:
            values = {name: data[name] for name in ("convention", *COUNTS)}
        except (KeyError, TypeError) as error:
            raise BaselineError(f"{where}: expected an object with convention, flops, macs and params "
                                f"(missing {error})") from None
        for name in COUNTS:
            value = values[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise BaselineError(f"{where}: {name} is {value!r}; expected a whole number, zero or more")
            if value > LARGEST_COUNT:
                raise BaselineError(f"{where}: {name} has {len(str(value))} digits; expected a count a float can "
                                    "hold")
        if not isinstance(values["convention"], str):
            raise BaselineError(f"{where}: convention is {values['convention']!r}; expected a string")
        return cls(**values)


def measurement_key(report: Report, taken: Iterable[str] = ()) -> str:
    """``Net [4x64]``: the model's label and input shapes; a repeat within one test gets ``#2``, ``#3``..."""
    base = f"{report.label} [{format_shapes(report.input_shapes)}]"
    taken = set(taken)
    key, number = base, 1
    while key in taken:
        number += 1
        key = f"{base} #{number}"
    return key


def percent_text(before: float, after: float) -> str:
    """``+17.2%``, ``-3.1%``; two significant digits for a change under 0.05%, ``from 0`` when there was none."""
    if before == 0:
        return "from 0"
    percent = 100.0 * (after - before) / before
    return f"{percent:+.1f}%" if abs(percent) >= 0.05 else f"{percent:+.2g}%"


def count_text(count: str, before: int, after: int) -> tuple[str, str, str]:
    """Two counts and their unit as a person reads them (``0.067``, ``0.078``, ``GFLOPs``; ``2.08K``, ``2.60K``,
    ``params``), exact when the short forms would read the same (``16,512``, ``16,513``, ``FLOPs``)."""
    unit, scale, exact_unit = COUNTS[count]
    short = (lambda value: format_billions(value / scale)) if scale != 1 else format_count
    a, b = short(before), short(after)
    if a == b:
        return f"{before:,}", f"{after:,}", exact_unit
    return a, b, unit


@dataclass(frozen=True)
class Growth:
    """One count of one measurement that grew beyond the tolerance over its baseline entry."""

    label: str
    count: str  # "flops", "macs" or "params"
    before: int
    after: int
    tolerance: float  # percent

    def render(self) -> str:
        """``Net: 0.067 -> 0.078 GFLOPs (+17.2%) over the baseline (tolerance 0%)``."""
        a, b, unit = count_text(self.count, self.before, self.after)
        return (f"{self.label}: {a} -> {b} {unit} ({percent_text(self.before, self.after)}) over the baseline "
                f"(tolerance {self.tolerance:g}%)")

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "count": self.count, "before": self.before, "after": self.after,
                "tolerance": self.tolerance, "text": self.render()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Growth:
        return cls(data["label"], data["count"], data["before"], data["after"], data["tolerance"])


@dataclass(frozen=True)
class Unmatched:
    """A measurement of a test the baseline knows, under a key the baseline does not have: its model, name or
    inputs changed (or the test measures more models), so nothing could be compared. Never a silent pass."""

    key: str
    known: tuple[str, ...]  # the test's keys in the baseline

    def render(self) -> str:
        known = ", ".join(self.known)
        return (f"{self.key}: not in the baseline, which has this test's {known}: the model, its name or its "
                "inputs changed, so its cost could not be compared")


@dataclass(frozen=True)
class Change:
    """One measurement against the baseline: ``new`` (no entry, in a test the baseline does not know),
    ``unmatched`` (no entry, in a test it knows), ``equal``, ``grew`` (beyond the tolerance), ``shrank`` (some
    count fell, none rose) or ``changed`` (rose within the tolerance). ``grew`` and ``unmatched`` fail."""

    key: str
    status: str
    before: Entry | None
    compared: tuple[str, ...] = ()  # the counts compared: FLOPs only under the same convention
    growth: tuple[Growth, ...] = ()
    deltas: tuple[tuple[str, int, int], ...] = ()  # (count, before, after) of every compared count that moved
    known: tuple[str, ...] = ()  # unmatched: the test's keys in the baseline

    @property
    def problems(self) -> tuple[Growth | Unmatched, ...]:
        """What fails the test: each count that grew, or the missing match."""
        return (Unmatched(self.key, self.known),) if self.status == "unmatched" else self.growth

    def text(self) -> str:
        """The summary's baseline cell: ``new``, ``=``, ``+17.2%`` (FLOPs), ``-3.0% MACs``, ``+1.0% params``."""
        if self.status in ("new", "unmatched"):
            return self.status
        if not self.deltas:
            return "="
        count, before, after = self.deltas[0]
        return percent_text(before, after) + ("" if count == "flops" else f" {COUNTS[count][2]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "status": self.status,
            "before": None if self.before is None else self.before.to_dict(),
            "compared": list(self.compared),
            "growth": [growth.to_dict() for growth in self.growth],
            "known": list(self.known),
            "text": self.text(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], after: Mapping[str, int]) -> Change:
        before = None if data["before"] is None else Entry.from_dict(data["before"])
        compared = tuple(data["compared"])
        deltas = tuple((count, getattr(before, count), after[count]) for count in compared
                       if before is not None and getattr(before, count) != after[count])
        return cls(data["key"], data["status"], before, compared,
                   tuple(Growth.from_dict(item) for item in data["growth"]), deltas, tuple(data.get("known", ())))


def compare(key: str, report: Report, before: Entry | None, tolerance: float, known: Iterable[str] = ()) -> Change:
    """``report`` against its baseline entry (None: there is none; ``known`` are the test's other keys)."""
    return compare_entries(key, report.label, Entry.of(report), before, tolerance, known)


def compare_entries(key: str, label: str, after: Entry, before: Entry | None, tolerance: float,
                    known: Iterable[str] = ()) -> Change:
    """One measurement's counts against its earlier ones; see :class:`Change` for the statuses."""
    if before is None:
        known = tuple(sorted(known))
        return Change(key, "unmatched", None, known=known) if known else Change(key, "new", None)
    compared = tuple(count for count in COUNTS if count != "flops" or before.convention == after.convention)
    deltas = tuple((count, getattr(before, count), getattr(after, count)) for count in compared
                   if getattr(before, count) != getattr(after, count))
    limit = 1 + Fraction(tolerance) / 100
    growth = tuple(Growth(label, count, old, new, tolerance) for count, old, new in deltas if new > old * limit)
    if growth:
        status = "grew"
    elif not deltas:
        status = "equal"
    elif all(new < old for _, old, new in deltas):
        status = "shrank"
    else:
        status = "changed"
    return Change(key, status, before, compared, growth, deltas)


@dataclass
class Baseline:
    """A baseline file's entries: test id -> measurement key -> Entry. ``exists`` is False for a file not yet
    written (every measurement is then new)."""

    path: Path
    tests: dict[str, dict[str, Entry]] = field(default_factory=dict)
    exists: bool = False

    def entry(self, test_id: str, key: str) -> Entry | None:
        return self.tests.get(test_id, {}).get(key)

    def conventions(self) -> set[str]:
        return {entry.convention for entries in self.tests.values() for entry in entries.values()}

    def document(self) -> dict[str, Any]:
        return baseline_document(self.tests)


def baseline_document(tests: Mapping[str, Mapping[str, Entry]]) -> dict[str, Any]:
    return {
        "schema": BASELINE_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "tests": {test_id: {key: entry.to_dict() for key, entry in sorted(entries.items())}
                  for test_id, entries in sorted(tests.items()) if entries},
    }


def dumps(document: Mapping[str, Any]) -> str:
    """Stable text: sorted keys, two-space indent, one trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n"


def load(path: Path) -> Baseline:
    """Read a baseline file; an absent one is an empty baseline. BaselineError says what is wrong where."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Baseline(path)
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineError(f"cannot read baseline {path}: {error}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BaselineError(f"baseline {path} is not valid JSON: {error}") from None
    return Baseline(path, parse(data, str(path)), exists=True)


def parse(data: Any, where: str) -> dict[str, dict[str, Entry]]:
    if not isinstance(data, dict) or data.get("schema") != BASELINE_SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        hint = " (a --flopbudget-json report? make a baseline of it with: python -m pytest_flopbudget baseline " \
               f"{where} -o baseline.json)" if found == "pytest-flopbudget" else ""
        raise BaselineError(f"{where} is not a pytest-flopbudget baseline: schema is {found!r}, expected "
                            f"{BASELINE_SCHEMA!r}{hint}")
    version = data.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:  # True == 1 and 1.0 == 1, but neither is a version
        raise BaselineError(f"baseline {where} has schema_version {data.get('schema_version')!r}; this "
                            f"pytest-flopbudget reads {SCHEMA_VERSION}")
    tests = data.get("tests")
    if not isinstance(tests, dict):
        raise BaselineError(f"baseline {where}: \"tests\" must be an object of test ids")
    parsed: dict[str, dict[str, Entry]] = {}
    for test_id, entries in tests.items():
        if not isinstance(entries, dict):
            raise BaselineError(f"baseline {where}: entry {test_id!r} must be an object of measurements")
        parsed[test_id] = {key: Entry.from_dict(value, f"baseline {where}: {test_id} {key}")
                           for key, value in entries.items()}
    return parsed


@dataclass(frozen=True)
class RanTest:
    """What one test of a run left for the baseline: its outcome and its measurements (key -> Entry)."""

    outcome: str  # passed, over (failed by the plugin only), failed, skipped, xfailed, error
    entries: Mapping[str, Entry]

    @property
    def complete(self) -> bool:
        return self.outcome in COMPLETE_OUTCOMES


@dataclass
class Update:
    """What an update changed, per ``(test id, key)``."""

    updated: list[tuple[str, str, Entry, Entry]] = field(default_factory=list)  # (test, key, before, after)
    new: list[tuple[str, str]] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.updated or self.new or self.removed)

    def lines(self) -> list[str]:
        out = []
        for test_id, key, before, after in self.updated:
            moved = [f"{count} {getattr(before, count):,} -> {getattr(after, count):,}" for count in COUNTS
                     if getattr(before, count) != getattr(after, count)]
            if before.convention != after.convention:
                moved.append(f"convention {before.convention} -> {after.convention}")
            out.append(f"  updated {test_id} {key}: {', '.join(moved)}")
        out += [f"  new {test_id} {key}" for test_id, key in self.new]
        out += [f"  removed {test_id} {key}" for test_id, key in self.removed]
        return out

    def counts_text(self) -> str:
        return f"{len(self.updated)} updated, {len(self.new)} new, {len(self.removed)} removed"


def update(old: Mapping[str, Mapping[str, Entry]], ran: Mapping[str, RanTest],
           gone: Iterable[str] = ()) -> tuple[dict[str, dict[str, Entry]], Update]:
    """The baseline after a run: tests that ran write what they measured; a test that ran to its end drops
    what it no longer measures; a skipped test keeps its entries, and so does every test that did not run.
    ``gone``: test ids of the baseline that no longer exist (their file was collected, they were not)."""
    tests = {test_id: dict(entries) for test_id, entries in old.items()}
    change = Update()
    for test_id in sorted(gone):
        for key in sorted(tests.pop(test_id, {})):
            change.removed.append((test_id, key))
    for test_id, result in sorted(ran.items()):
        if result.outcome == "skipped":
            continue
        entries = tests.setdefault(test_id, {})
        for key, entry in sorted(result.entries.items()):
            before = entries.get(key)
            if before is None:
                change.new.append((test_id, key))
            elif before != entry:
                change.updated.append((test_id, key, before, entry))
            entries[key] = entry
        if result.complete:
            for key in sorted(set(entries) - set(result.entries)):
                del entries[key]
                change.removed.append((test_id, key))
    return {test_id: entries for test_id, entries in tests.items() if entries}, change


def unused(old: Mapping[str, Mapping[str, Entry]], ran: Mapping[str, RanTest],
           gone: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Entries no test of the run produced: of tests that ran to their end, and of tests that are gone."""
    out = [(test_id, key) for test_id in sorted(gone) for key in sorted(old.get(test_id, {}))]
    for test_id, result in sorted(ran.items()):
        if result.complete:
            out += [(test_id, key) for key in sorted(set(old.get(test_id, {})) - set(result.entries))]
    return out


def gone_tests(old: Iterable[str], collected: Iterable[str]) -> list[str]:
    """Baseline test ids that this run's collection says no longer exist: their file was collected (some
    test of it was, selected or deselected) and they were not."""
    collected = set(collected)
    files = {test_id.partition("::")[0] for test_id in collected}
    return sorted(test_id for test_id in old if test_id not in collected and test_id.partition("::")[0] in files)
