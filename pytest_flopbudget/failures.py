"""What a test that breaks its budget is told: the failures it raises and the text they carry.

Both failures are ``pytest.fail`` outcomes (the test reads "failed", ``-x`` and junitxml see a failure) and
pickle by value, as pytest-xdist and pytest-rerunfailures need. They are siblings, not one another's
subclass: ``xfail(raises=FlopBudgetExceeded)`` expects an overrun and is not satisfied by a test that
measured nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from .budget import Budget, Violation
from .engine.report import Report
from .engine.units import format_count, format_shapes
from .state import Measurement


def _rebuild(name: str, message: str, pytrace: bool) -> FlopBudgetFailure:
    return _FAILURES[name](message, pytrace=pytrace)


if TYPE_CHECKING:
    from _pytest.outcomes import Failed as _Failed  # what pytest.fail raises; typed here, public as below
else:
    _Failed = pytest.fail.Exception


class FlopBudgetFailure(_Failed):
    """A budget failure of either kind."""

    # The short summary reads "FlopBudgetExceeded: ...", as pytest.fail's reads "Failed: ...".
    __module__ = "builtins"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by this module's function, since "builtins" has no such class to find.
        return (_rebuild, (type(self).__name__, self.msg, self.pytrace))


class FlopBudgetExceeded(FlopBudgetFailure):
    """A test whose measurements went over its budget."""

    __module__ = "builtins"


class NothingMeasured(FlopBudgetFailure):
    """A budgeted test that measured nothing: a guard that checks nothing is a hole, not a pass."""

    __module__ = "builtins"


_FAILURES: dict[str, type[FlopBudgetFailure]] = {cls.__name__: cls for cls in (FlopBudgetExceeded, NothingMeasured)}


class FlopBudgetWarning(UserWarning):
    """Under ``--flopbudget-mode=warn``: what would have failed a test (an overrun, growth over the baseline,
    a budgeted test that measured nothing), reported instead. ``-W error`` turns it back into a failure."""


def violation_message(violations: list[Violation], budget: Budget | None, convention: str) -> str:
    lines = [violation.render() for violation in violations]
    describe = budget.describe() if budget is not None else "none"
    lines.append(f"(budget: {describe}; FLOPs follow the {convention!r} convention)")
    return "\n".join(lines)


def failure_message(measurements: list[Measurement], convention: str, growth: bool = True,
                    update_command: str = "pytest --flopbudget-update") -> str:
    """Every overrun and (with ``growth``) every growth over the baseline of ``measurements``, one per line,
    then what they were checked against and the command that records an intended growth."""
    lines = [violation.render() for m in measurements for violation in m.violations]
    grown = [item for m in measurements for item in m.baseline_failures] if growth else []
    lines += [item.render() for item in grown]
    budgets = list(dict.fromkeys(m.budget.describe() for m in measurements if m.violations and m.budget))
    if budgets:
        lines.append(f"(budget: {'; '.join(budgets)}; FLOPs follow the {convention!r} convention)")
    if grown:
        lines.append(f"(if the growth is intended, record it: {update_command})")
    return "\n".join(lines)


def no_measurement_message(budget: Budget) -> str:
    return (
        f"flop_budget({budget.describe()}) checked nothing: the test ran no model forward.\n"
        "The budget watches forwards run in the test body; forwards run by fixtures during setup are not "
        "watched.\nCall the model in the test, or measure it with the complexity fixture: "
        "complexity.measure(model, inputs)."
    )


def costliest_text(measurements: list[Measurement], verbose: int) -> str:
    """Per over-budget measurement: its costliest modules (-v: the full per-module table)."""
    blocks = [costliest(m.report, verbose) for m in measurements if m.violations or m.baseline_failures]
    return "\n\n".join(block for block in blocks if block)


def costliest(report: Report, verbose: int) -> str:
    head = f"{report.label} (inputs {format_shapes(report.input_shapes)}, FLOPs: {report.convention} convention)"
    if verbose > 0:
        return f"{head}\n{report.table(depth=None)}"
    if len(report.modules) <= 1:
        return ""  # a model without submodules: the violation line already says it all
    top = [(name or "(model)", stats, share) for name, stats, share in report.top_shares()]
    if not top:
        return ""
    width_name = max(len(name) for name, _, _ in top)
    width_type = max(len(stats.type) for _, stats, _ in top)
    lines = [f"{head}, top {len(top)} by their own FLOPs (-v for all):"]
    for name, stats, share in top:
        lines.append(f"  {name:<{width_name}}  {stats.type:<{width_type}}  {format_count(stats.flops):>8} FLOPs  "
                     f"{share:5.1f}%")
    return "\n".join(lines)
