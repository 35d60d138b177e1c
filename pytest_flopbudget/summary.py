"""The end-of-session ``flop budget`` summary: one row per measurement, a totals row, and what is missing.

Rendering is pure (``lines`` returns text); ``write`` is the only part that touches the terminal and it
never raises, because a broken summary must not turn a green run red.
"""

from __future__ import annotations

from typing import Any

from .state import Measurement, SessionState, in_test_order
from .engine.units import format_billions, format_count, format_shapes

CONVENTION_TEXT = {
    "full": "2 x MACs, plus 1 per bias add, plus documented per-element work",
    "matmul": "2 x MACs of contractions only, as torch's FlopCounterMode",
    "exact": "2K - 1 per K-term dot product (2K with bias), plus documented per-element work",
}

#: How each Measurement.status reads in the table: an overrun shouts, a skipped test's numbers are only shown.
STATUS_TEXT = {"ok": "ok", "over": "OVER", "unchecked": "-", "skipped": "skipped"}

HEADER = ("test", "model", "inputs", "GFLOPs", "GMACs", "params", "budget", "share", "status")
RIGHT = {"GFLOPs", "GMACs", "params", "share"}


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
    notes = _notes(state)
    if verbose <= -2:
        return _notes(state, problems_only=True)
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
        return [f"{_plural(len(measurements), 'measurement')}, {over} over budget{skipped_text}, "
                f"{len(unsupported)} with unsupported ops; {convention}", *notes]
    out = [f"{convention}: {CONVENTION_TEXT[settings.convention]}"]
    out += _table([_row(m) for m in measurements] + [_totals(measurements, over, skipped)])
    if unsupported:
        out.append("(!) unsupported ops ran and were not counted, so these FLOPs are too low:")
        out += [f"  {m.test_id} {m.report.label}: " + ", ".join(f"{op} x{n}" for op, n in m.report.unsupported.items())
                for m in unsupported]
    if verbose > 0:
        for m in measurements:
            out.append(f"{m.test_id} {m.report.label}: " + _top(m))
    return out + notes


def _row(m: Measurement) -> tuple[str, ...]:
    report = m.report
    share = m.share
    status = STATUS_TEXT[m.status] + (" (!)" if report.unsupported else "")
    return (
        m.test_id,
        report.label + (" [meta]" if report.meta else ""),
        format_shapes(report.input_shapes),
        format_billions(report.gflops),
        format_billions(report.gmacs),
        format_count(report.params),
        m.budget.describe() if m.budget is not None else "-",
        "-" if share is None else ("inf" if share == float("inf") else f"{100 * share:.0f}%"),
        status,
    )


def _totals(measurements: list[Measurement], over: int, skipped: int) -> tuple[str, ...]:
    """Over and checked count only tests that ran to the end: a skipped test's measurements are counted apart."""
    checked = sum(m.status in ("ok", "over") for m in measurements)
    return (
        "total", _plural(len(measurements), "measurement"), "",
        format_billions(sum(m.report.gflops for m in measurements)),
        format_billions(sum(m.report.gmacs for m in measurements)),
        "", "", "", f"{over} over / {checked} checked" + (f", {skipped} skipped" if skipped else ""),
    )


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]

    def render(row: tuple[str, ...]) -> str:
        cells = [cell.rjust(widths[i]) if HEADER[i] in RIGHT else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return [render(HEADER), rule, *(render(row) for row in rows[:-1]), rule, render(rows[-1])]


def _top(m: Measurement) -> str:
    top = m.report.top_shares()
    if not top:
        return "no submodules"
    return ", ".join(f"{name} ({stats.type}) {share:.0f}%" for name, stats, share in top)


def _notes(state: SessionState, problems_only: bool = False) -> list[str]:
    notes = []
    if state.lost_workers:
        notes.append(f"measurements missing from crashed xdist workers: {', '.join(state.lost_workers)}")
    if state.json_written and not problems_only:
        notes.append(f"measurements written to {state.json_written}")
    if state.json_error:
        notes.append(state.json_error)
    return notes


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
