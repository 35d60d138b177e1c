"""The summary as a Markdown table, for GitHub Actions' step summary and pull-request comments.

The rows are the terminal summary's (one source for what a row says), tests over budget or over the baseline
first, then in test order.
"""

from __future__ import annotations

from .state import Measurement, SessionState, in_test_order
from .summary import CONVENTION_TEXT, RIGHT, baseline_notes, status_text, table_rows

#: Rows that shout go first: over budget, then grown over the baseline, then the rest in test order.
_URGENCY = {"OVER": 0, "GREW": 1, "UNMATCHED": 1}


def _urgency(m: Measurement) -> int:
    return _URGENCY.get(status_text(m).split(" ")[0], 2)


def escape(cell: str) -> str:
    """A cell that cannot break the table nor become markup: pipes escaped, ``<``, ``>`` and ``&`` as entities
    (GitHub would render or strip them), line breaks as spaces."""
    cell = cell.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return cell.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def render(state: SessionState) -> str:
    """The whole Markdown document: a heading, one line of totals, the table and the notes."""
    settings = state.settings
    measurements = sorted(in_test_order(state.measurements), key=_urgency)
    over = sum(m.status == "over" for m in measurements)
    grew = sum(m.change is not None and m.change.status in ("grew", "unmatched") for m in measurements)
    lines = ["## flop budget", ""]
    if not measurements:
        return "\n".join(lines + ["No measurements.", ""])
    totals = f"**{len(measurements)}** measurement{'s' if len(measurements) != 1 else ''}, **{over}** over budget"
    if state.baseline is not None:
        totals += f", **{grew}** over the baseline"
    if settings.mode == "warn":
        totals += " (mode warn: reported, no test failed)"
    lines += [totals + ".", "",
              f"FLOPs follow the `{settings.convention}` convention: {CONVENTION_TEXT[settings.convention]}.", ""]
    header, rows = table_rows(state, measurements)
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---:" if name in RIGHT else "---" for name in header) + "|")
    lines += ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in rows]
    notes = baseline_notes(state)
    if notes:
        lines += ["", "```", *notes, "```"]
    return "\n".join(lines) + "\n"
