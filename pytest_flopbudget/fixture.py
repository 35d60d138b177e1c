"""The ``complexity`` fixture's object: measure a model explicitly and see every report the test made."""

from __future__ import annotations

from typing import Any

from .engine.report import Report
from .state import ItemState


class Complexity:
    """Measures models for one test under the session convention.

    Measurements are recorded for the session summary and JSON, and checked against the test's budget
    when it has one. With ``--flopbudget-disable`` they are only returned: nothing is recorded or checked.
    """

    def __init__(self, state: ItemState | None, convention: str) -> None:
        self._state = state
        self._convention = convention
        self._local: list[Report] = []

    @property
    def convention(self) -> str:
        """The FLOP convention measurements follow (``--flopbudget-convention`` and its twins)."""
        return self._convention

    def measure(self, model: Any, inputs: Any = (), *, meta: bool = False, name: str | None = None) -> Report:
        """Count one forward of ``model(inputs)``, like :func:`pytest_flopbudget.count`, and record it.

        ``inputs``: a tensor (one argument), a tuple or list (positional arguments) or a dict (keyword
        arguments). ``meta=True`` counts on fake tensors: no compute, no memory, the same numbers.
        ``name`` labels the measurement in failures, the summary and the JSON (default: the model's class).
        """
        from .engine.execution import count, unobserved  # torch loads on first use

        with unobserved():  # recorded here once, not again as a count() call the test made
            report = count(model, inputs, meta=meta, convention=self._convention, name=name)
        if self._state is not None:
            self._state.add("fixture", report)
        else:
            self._keep(report)
        return report

    def _keep(self, report: Report) -> None:
        """Add a report to ``reports`` without recording it (``--flopbudget-disable``)."""
        self._local.append(report)

    @property
    def reports(self) -> list[Report]:
        """Every measurement of this test so far, in order: ``measure`` calls and forwards a budget watched."""
        return list(self._state.reports) if self._state is not None else list(self._local)

    def __repr__(self) -> str:
        return f"<Complexity convention={self._convention!r} reports={len(self.reports)}>"
