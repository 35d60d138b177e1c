"""The end-of-session ``flop budget`` summary: one row per measurement, a totals row, and what is missing.

Rendering is pure (``lines`` returns text); ``write`` is the only part that touches the terminal and it
never raises, because a broken summary must not turn a green run red.
"""

from __future__ import annotations

from typing import Any

from . import baseline
from .engine.units import format_billions, format_count, format_shapes
from .state import Measurement, SessionState, in_test_order
from .tables import model_table_hints

CONVENTION_TEXT = {
    "full": "2 x MACs, plus 1 per bias add, plus documented per-element work",
    "matmul": "2 x MACs of contractions only, as torch's FlopCounterMode",
    "exact": "2K - 1 per K-term dot product (2K with bias), plus documented per-element work",
}

#: How each Measurement.status reads in the table: an overrun shouts, a skipped test's numbers are only shown.
STATUS_TEXT = {"ok": "ok", "over": "OVER", "unchecked": "-", "skipped": "skipped"}

HEADER = ("test", "model", "inputs", "GFLOPs", "GMACs", "params", "budget", "share", "status")
#: The column a session with a baseline adds, before status: the change against it (``+17.2%``, ``new``, ``=``).
BASELINE_COLUMN = "baseline"
RIGHT = {"GFLOPs", "GMACs", "params", "share", BASELINE_COLUMN}


def write(terminal: Any, state: SessionState, verbose: int) -> None:
    """Print the summary; any error is printed as one red line instead of raised."""
    try:
        text = lines(state, verbose)
        if not text:
            return
        terminal.write_sep("=", "flop budget")
        for line in text:
            terminal.write_line(line)
    except Exception as error:  # noqa: BLE001 - a summary must never fail the session
        terminal.write_line(f"flop budget: the summary could not be printed: {type(error).__name__}: {error}",
                            red=True)


def lines(state: SessionState, verbose: int) -> list[str]:
    """The summary's lines for a verbosity (-q: one line, -qq: only problems, -v: costliest modules too).

    Problems (a JSON file that could not be written, crashed xdist workers) print at every verbosity: under
    ``-qq`` they are the only explanation of a failed session.
    """
    settings = state.settings
    if verbose <= -2:
        return _notes(state, problems_only=True)
    notes = _notes(state)  # the baseline's unused entries and the models-table hints are worked out once, here
    if settings.disable:
        return [f"disabled ({settings.origins.get('disable')}): nothing measured or checked",
                *notes]
    measurements = in_test_order(state.measurements)
    if not measurements:
        return (["no measurements"] if verbose > 0 else []) + notes
    over = sum(m.status == "over" for m in measurements)
    skipped = sum(m.status == "skipped" for m in measurements)
    unsupported = [m for m in measurements if m.report.unsupported]
    convention = f"FLOPs follow the {settings.convention!r} convention ({settings.origins.get('convention')})"
    if verbose < 0:
        skipped_text = f", {skipped} skipped" if skipped else ""
        grew = sum(m.change is not None and m.change.status in ("grew", "unmatched") for m in measurements)
        grew_text = f", {grew} over the baseline" if state.baseline is not None else ""
        return [f"{_plural(len(measurements), 'measurement')}, {over} over budget{grew_text}{skipped_text}, "
                f"{len(unsupported)} with unsupported ops; {convention}", *notes]
    out = [f"{convention}: {CONVENTION_TEXT[settings.convention]}"]
    if settings.mode == "warn":
        out.append(f"mode warn ({settings.origins.get('mode')}): overruns and growth are reported, no test fails")
    header, rows = table_rows(state, measurements)
    out += _table(header, rows + [_totals(measurements, over, skipped, header)])
    if unsupported:
        out.append("(!) unsupported ops ran and were not counted, so these FLOPs are too low:")
        out += [f"  {m.test_id} {m.report.label}: " + ", ".join(f"{op} x{n}" for op, n in m.report.unsupported.items())
                for m in unsupported]
    if verbose > 0:
        for m in measurements:
            out.append(f"{m.test_id} {m.report.label}: " + _top(m))
    return out + notes


def table_rows(state: SessionState, measurements: list[Measurement]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The table's header and one row per measurement; with a baseline, a column for the change against it."""
    with_baseline = state.baseline is not None
    header = HEADER[:-1] + (BASELINE_COLUMN,) + HEADER[-1:] if with_baseline else HEADER
    return header, [_row(m, with_baseline) for m in measurements]


def status_text(m: Measurement) -> str:
    """``OVER`` (a limit exceeded), ``GREW`` (within budget, over the baseline), ``UNMATCHED`` (within budget,
    not comparable with the baseline), else the budget status."""
    change = m.change.status if m.change is not None and m.status in ("ok", "unchecked") else None
    text = {"grew": "GREW", "unmatched": "UNMATCHED"}.get(change or "", STATUS_TEXT[m.status])
    return text + (" (!)" if m.report.unsupported else "")


def _row(m: Measurement, with_baseline: bool) -> tuple[str, ...]:
    report = m.report
    share = m.share
    status = status_text(m)
    change = (m.change.text() if m.change is not None else "-",) if with_baseline else ()
    return (
        m.test_id,
        report.label + (" [meta]" if report.meta else ""),
        format_shapes(report.input_shapes),
        format_billions(report.gflops),
        format_billions(report.gmacs),
        format_count(report.params),
        m.budget.describe() if m.budget is not None else "-",
        "-" if share is None else ("inf" if share == float("inf") else f"{100 * share:.0f}%"),
        *change,
        status,
    )


def _totals(measurements: list[Measurement], over: int, skipped: int, header: tuple[str, ...]) -> tuple[str, ...]:
    """Over and checked count only tests that ran to the end: a skipped test's measurements are counted apart."""
    checked = sum(m.status in ("ok", "over") for m in measurements)
    return (
        "total", _plural(len(measurements), "measurement"), "",
        format_billions(sum(m.report.gflops for m in measurements)),
        format_billions(sum(m.report.gmacs for m in measurements)),
        *([""] * (len(header) - 6)), f"{over} over / {checked} checked" + (f", {skipped} skipped" if skipped else ""),
    )


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def render(row: tuple[str, ...]) -> str:
        cells = [cell.rjust(widths[i]) if header[i] in RIGHT else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return [render(header), rule, *(render(row) for row in rows[:-1]), rule, render(rows[-1])]


def _top(m: Measurement) -> str:
    top = m.report.top_shares()
    if len(m.report.modules) <= 1 or not top:
        return "no submodules"
    return ", ".join(f"{name or '(model)'} ({stats.type}) {share:.0f}%" for name, stats, share in top)


def _notes(state: SessionState, problems_only: bool = False) -> list[str]:
    notes = []
    if state.lost_workers:
        notes.append(f"measurements missing from crashed xdist workers: {', '.join(state.lost_workers)}")
    if not problems_only:
        measured = {(m.report.model, m.report.model_type) for m in state.measurements}
        notes += model_table_hints(state.settings.tables, measured)
        notes += baseline_notes(state)
    if state.json_written and not problems_only:
        notes.append(f"measurements written to {state.json_written}")
    if not problems_only:
        notes += state.outputs
    notes += state.problems
    return notes


def baseline_notes(state: SessionState) -> list[str]:
    """What the baseline comparison found that is not a failure: improvements, new and unused entries, a
    convention that differs, and what an update wrote."""
    known = state.baseline
    if known is None or state.settings.disable:
        return []
    path = state.settings.baseline
    changes = [(m, m.change) for m in in_test_order(state.measurements) if m.change is not None and not m.skipped]
    notes = []
    if state.settings.update:
        change = state.baseline_update
        if change is not None:
            head = f"baseline {path} updated: {change.counts_text()}" if change else f"baseline {path} is up to date"
            notes += [head, *change.lines()]
        return notes
    command = state.settings.update_command()
    if not known.exists:
        notes.append(f"baseline {path} does not exist yet: every measurement is new; create it with {command}")
        return notes
    other = sorted({change.before.convention for _, change in changes
                    if change.before is not None and "flops" not in change.compared})
    if other:
        notes.append(f"baseline entries written under the {', '.join(map(repr, other))} convention are compared on "
                     f"MACs and params only: this run counts FLOPs under {state.settings.convention!r}")
    shrank = [(m, change) for m, change in changes if change.status == "shrank"]
    if shrank:
        notes.append(f"{_plural(len(shrank), 'measurement')} shrank below the baseline; record with {command}:")
        notes += [f"  {m.test_id} {m.key}: {change.text()}" for m, change in shrank]
    new = [m for m, change in changes if change.status == "new"]
    if new:
        notes.append(f"{_plural(len(new), 'measurement')} new (not in the baseline); add with {command}:")
        notes += [f"  {m.test_id} {m.key}" for m in new]
    unused = baseline.unused(known.tests, state.ran(), baseline.gone_tests(known.tests, state.whole_files_collected()))
    if unused:
        notes.append(f"{_plural(len(unused), 'baseline entry', 'baseline entries')} no test of this run produced; "
                     f"remove with {command}:")
        notes += [f"  {test_id} {key}" for test_id, key in unused]
    return notes


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
