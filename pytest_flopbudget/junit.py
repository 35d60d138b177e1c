"""What a measured test tells JUnit XML: one property per number, through ``item.user_properties``.

``record_property`` writes the same list; pytest's junitxml turns it into ``<property>`` elements under every
``junit_family``. Written straight to the list, no fixture is involved, so nothing warns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .state import Measurement

PREFIX = "flopbudget"


def properties(measurements: list[Measurement]) -> list[tuple[str, object]]:
    """``flopbudget[Net [4x64]].gflops`` and its siblings, for each measurement in order."""
    out: list[tuple[str, object]] = []
    for m in measurements:
        name = f"{PREFIX}[{m.key}]"
        out += [
            (f"{name}.gflops", repr(m.report.gflops)),
            (f"{name}.gmacs", repr(m.report.gmacs)),
            (f"{name}.params", str(m.report.params)),
            (f"{name}.budget", exact(m.budget.limits) if m.budget is not None else "none"),
            (f"{name}.status", m.status),
        ]
        if m.change is not None:
            out.append((f"{name}.baseline", m.change.text()))
    return out


def exact(limits: dict[str, float]) -> str:
    """``max_gflops=0.06, max_params=123456789``: every digit of each limit, for machines to read."""
    return ", ".join(f"{name}={int(value) if value.is_integer() else repr(value)}" for name, value in limits.items())


def attach(item: pytest.Item, measurements: list[Measurement]) -> None:
    """Replace the test's flopbudget properties with these (a rerun does not repeat them)."""
    kept = [(name, value) for name, value in item.user_properties
            if not (isinstance(name, str) and name.startswith(PREFIX + "["))]
    item.user_properties[:] = kept + properties(measurements)
