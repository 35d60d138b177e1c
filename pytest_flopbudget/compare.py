"""Two runs side by side, for a pull request: what each measurement costs before and after, what is new, what
went away, and where inside a changed model the cost moved. Plain data in, text or Markdown out; no torch.

Either side is a ``--flopbudget-json`` file or a baseline; measurements pair up by test id and baseline key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from . import baseline
from .baseline import COUNTS, Change, Entry, count_text, percent_text
from .engine.report import ModuleStats
from .engine.units import format_billions, format_count

#: How many of a changed model's modules show where its cost moved.
TOP_MODULE_CHANGES = 3


@dataclass(frozen=True)
class Side:
    """One measurement as one document has it; ``modules`` only from a --flopbudget-json file."""

    entry: Entry
    modules: dict[str, ModuleStats] | None = None


@dataclass(frozen=True)
class Row:
    """One measurement compared: present on both sides (``change``), only after (new), or only before."""

    test_id: str
    key: str
    before: Side | None
    after: Side | None
    change: Change | None = None
    module_changes: tuple[tuple[str, str, int, int], ...] = ()  # (module, type, FLOPs before, after)

    @property
    def status(self) -> str:
        if self.after is None:
            return "removed"
        assert self.change is not None
        return self.change.status


@dataclass
class Comparison:
    rows: list[Row] = field(default_factory=list)
    tolerance: float = 0.0

    @property
    def failing(self) -> list[Row]:
        """Rows that grew beyond the tolerance, or that a test measured under a key its earlier run did not have."""
        return [row for row in self.rows if row.status in ("grew", "unmatched")]


def read_side(path: Path) -> dict[tuple[str, str], Side]:
    """A document's measurements by (test id, key): a --flopbudget-json file or a baseline."""
    from .cli import CommandError, read_results  # one reader of results files

    try:
        schema = json.loads(path.read_text(encoding="utf-8")).get("schema")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        schema = None  # read_results names the problem
    if schema == baseline.BASELINE_SCHEMA:
        try:
            known = baseline.load(path)
        except baseline.BaselineError as error:
            raise CommandError(str(error)) from None
        return {(test_id, key): Side(entry) for test_id, entries in known.tests.items()
                for key, entry in entries.items()}
    document = read_results(path)
    return {(m.test_id, m.key): Side(Entry.of(m.report), m.report.modules) for m in document["measurements"]}


def compare_sides(old: dict[tuple[str, str], Side], new: dict[tuple[str, str], Side],
                  tolerance: float) -> Comparison:
    known: dict[str, list[str]] = {}
    for test_id, key in old:
        known.setdefault(test_id, []).append(key)
    rows = []
    for (test_id, key), after in new.items():
        before = old.get((test_id, key))
        label = key.rsplit(" [", 1)[0]
        change = baseline.compare_entries(key, label, after.entry, before.entry if before else None, tolerance,
                                          known.get(test_id, ()))
        rows.append(Row(test_id, key, before, after, change, _module_changes(before, after)))
    rows += [Row(test_id, key, before, None) for (test_id, key), before in old.items() if (test_id, key) not in new]
    rows.sort(key=lambda row: (_ORDER.get(row.status, 9), row.test_id, row.key))
    return Comparison(rows, tolerance)


#: Rows that need a look first: growth, then what cannot be compared, then the rest.
_ORDER = {"grew": 0, "unmatched": 1, "changed": 2, "shrank": 3, "new": 4, "removed": 5, "equal": 6}


def _module_changes(before: Side | None, after: Side) -> tuple[tuple[str, str, int, int], ...]:
    """The leaf modules whose FLOPs moved most, when both sides have a per-module breakdown."""
    if before is None or before.modules is None or after.modules is None:
        return ()
    if before.entry.convention != after.entry.convention:
        return ()  # FLOPs under two conventions: every module would seem to move
    names = set(before.modules) | set(after.modules)
    parents = {name.rpartition(".")[0] for name in names if name}
    moved = []
    for name in names:
        if not name or name in parents:
            continue  # a container sums its children: the leaves say where the cost moved
        old, new = before.modules.get(name), after.modules.get(name)
        old_flops, new_flops = (old.flops if old else 0), (new.flops if new else 0)
        known = new if new is not None else old
        if old_flops != new_flops and known is not None:
            moved.append((name, known.type, old_flops, new_flops))
    moved.sort(key=lambda item: (-abs(item[3] - item[2]), item[0]))
    return tuple(moved[:TOP_MODULE_CHANGES])


def _short(count: str, value: int) -> str:
    """A count in its column's unit: billions for FLOPs and MACs, a suffixed count for params."""
    scale = COUNTS[count][1]
    return format_billions(value / scale) if scale != 1 else format_count(value)


def _cell(row: Row, count: str) -> str:
    """``0.0165 -> 0.0206 (+25.0%)``, ``0.0165 (=)``, ``0.0165`` (one side only); a change too small for the
    column's unit names its exact counts and unit (``16,512 -> 16,513 FLOPs (+0.0061%)``)."""
    side = row.after or row.before
    assert side is not None
    if row.before is None or row.after is None:
        return _short(count, getattr(side.entry, count))
    old, new = getattr(row.before.entry, count), getattr(row.after.entry, count)
    if count == "flops" and row.change is not None and "flops" not in row.change.compared:
        return f"{_short(count, new)} (other convention)"
    if old == new:
        return f"{_short(count, old)} (=)"
    a, b, unit = count_text(count, old, new)
    exact = "" if unit == COUNTS[count][0] else f" {unit}"
    return f"{a} -> {b}{exact} ({percent_text(old, new)})"


HEADER = ("test", "measurement", "GFLOPs", "GMACs", "params", "status")


def _table_rows(comparison: Comparison) -> list[tuple[str, ...]]:
    return [(row.test_id, row.key, _cell(row, "flops"), _cell(row, "macs"), _cell(row, "params"), row.status)
            for row in comparison.rows]


def headline(comparison: Comparison) -> str:
    counts: dict[str, int] = {}
    for row in comparison.rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    parts = [f"{counts[status]} {status}" for status in _ORDER if counts.get(status)]
    verdict = (f"{len(comparison.failing)} failing (grew beyond the tolerance of {comparison.tolerance:g}%, or "
               "unmatched)" if comparison.failing else "nothing grew beyond the tolerance "
               f"of {comparison.tolerance:g}%")
    return f"{len(comparison.rows)} measurements: {', '.join(parts) or 'none'}; {verdict}"


def module_lines(comparison: Comparison) -> list[str]:
    out = []
    for row in comparison.rows:
        if row.module_changes:
            out.append(f"{row.test_id} {row.key}: where the FLOPs moved")
            for name, kind, old, new in row.module_changes:
                change = f"{'+' if new >= old else '-'}{format_count(abs(new - old))}"
                out.append(f"  {name} ({kind}) {format_count(old)} -> {format_count(new)} FLOPs ({change})")
    return out


def render_text(comparison: Comparison) -> str:
    rows = _table_rows(comparison)
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [HEADER, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join([*lines, *module_lines(comparison), headline(comparison)]) + "\n"


def render_markdown(comparison: Comparison) -> str:
    from .markdown import escape

    lines = ["## flop budget: compared", "", headline(comparison) + ".", "",
             "| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    lines += ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in _table_rows(comparison)]
    moved = module_lines(comparison)
    if moved:
        lines += ["", "```", *moved, "```"]
    return "\n".join(lines) + "\n"


def compare_files(old: Path, new: Path, tolerance: float) -> Comparison:
    return compare_sides(read_side(old), read_side(new), tolerance)


