"""Budgets: limits on one measurement, validated when made, and the violations that render their own text.

A budget is plain data with no pytest in it, so the same object serves the marker, the
``pytest_flopbudget_budget`` hook and a script that checks a :class:`~pytest_flopbudget.report.Report`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Union

from .engine.report import Report
from .engine.units import LARGEST, format_billions, format_count, parse_count, show

if TYPE_CHECKING:
    import numbers
    from decimal import Decimal

#: What a limit may be written as: a real number (int, float, Fraction, Decimal, numpy scalars), or a string of
#: ASCII digits with an optional K/M/G/T/P suffix.
LimitValue = Union[int, float, str, "numbers.Real", "Decimal", None]

_SUFFIXED = re.compile(r"[a-zA-Z]\s*$")

#: A G-argument at or above this is a raw count written where billions are expected (1e9 GFLOPs = 1e18 FLOPs,
#: beyond any single forward).
RAW_COUNT = 1e9


class BudgetError(ValueError):
    """A budget argument that is not a valid limit; the message names the argument."""


@dataclass(frozen=True)
class Limit:
    """How one budget argument maps onto a report: which count it bounds and in which unit it is written."""

    argument: str
    attribute: str  # the Report attribute it bounds
    scale: float  # 1e9 for the G-arguments: max_gflops=4 means 4e9 FLOPs
    unit: str  # how the measured value is named in failure text

    def absolute(self, value: float) -> float:
        """The limit in the report's own units (FLOPs, MACs, params), snapped to an integer when it is one."""
        bound = value * self.scale
        nearest = round(bound)
        return float(nearest) if abs(bound - nearest) <= 1e-9 * max(1.0, abs(bound)) else bound

    def parse(self, value: object) -> float:
        """``4`` or ``"4"`` -> 4 units; ``"500M"`` (a suffixed count) -> 0.5 for a G-argument, 5e8 otherwise."""
        try:
            number = parse_count(value)
        except ValueError as error:
            raise BudgetError(f"{self.argument}={show(value)}: {error}") from None
        if isinstance(value, str) and _SUFFIXED.search(value) and self.scale != 1:
            number /= self.scale  # "4G" FLOPs is written in FLOPs: 4 GFLOPs
        if math.isinf(number * self.scale):  # 1e300 GFLOPs: no float holds the count a report is checked against
            raise BudgetError(f"{self.argument}={show(value)}: {show(value)} is too large; expected at most "
                              f"{LARGEST / self.scale:.4g} {self.unit}")
        if self.scale != 1 and number >= RAW_COUNT:  # max_gflops=4e9: a count of FLOPs pasted into a billions field
            billions = f"{number / self.scale:g}"
            raise BudgetError(
                f"{self.argument}={show(value)}: {number:g} {self.unit} is more than any forward costs; "
                f"{self.argument} is in billions, so a count of {number:g} is written {self.argument}={billions} "
                f"or {self.argument}=\"{billions}G\" (expected less than {RAW_COUNT:g} {self.unit})")
        return number

    def text(self, absolute: float) -> str:
        """A count as failure text shows it: GFLOPs/GMACs in billions, params with SI suffixes."""
        if self.scale == 1:
            return format_count(absolute)
        return format_billions(absolute / self.scale)


def _limit(attribute: str, scale: float, unit: str) -> Any:
    """A Budget field: an optional limit on ``Report.<attribute>``, written in units of ``scale``."""
    return field(default=None, metadata={"attribute": attribute, "scale": scale, "unit": unit})


@dataclass(frozen=True)
class Violation:
    """One count over one limit; renders the line a failing test shows."""

    label: str
    argument: str
    measured: float  # in the report's units (FLOPs, MACs, params)
    limit: float  # the same units

    def render(self) -> str:
        """``ResNet: 8.21 GFLOPs > max_gflops=5.00 (+64%)``."""
        spec = LIMITS[self.argument]
        measured, limit = spec.text(self.measured), spec.text(self.limit)
        return f"{self.label}: {measured} {spec.unit} > {self.argument}={limit} ({self.excess()})"

    def excess(self) -> str:
        if self.limit == 0:
            return "limit is 0"
        percent = 100.0 * (self.measured / self.limit - 1.0)
        return f"+{percent:.0f}%" if percent >= 1 else f"+{percent:.2g}%"

    def to_dict(self) -> dict[str, Any]:
        return {"argument": self.argument, "measured": self.measured, "limit": self.limit, "text": self.render(),
                "label": self.label}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Violation:
        return cls(label=data["label"], argument=data["argument"], measured=data["measured"], limit=data["limit"])


@dataclass(frozen=True)
class Budget:
    """Upper limits on one measurement; every argument is optional, an unset one is not checked.

    ``max_gflops``/``max_gmacs`` are in billions (``4`` and ``"4"`` mean 4 GFLOPs, ``"500M"`` means 0.5);
    ``max_params``/``max_trainable_params`` are counts (``"25.6M"`` means 25,600,000). Values are
    validated here, so a bad budget fails where it is written, not when a test happens to run; any real
    number is accepted (``int``, ``float``, ``Fraction``, ``Decimal``, numpy scalars) and stored as a float.
    """

    max_gflops: LimitValue = _limit("flops", 1e9, "GFLOPs")
    max_gmacs: LimitValue = _limit("macs", 1e9, "GMACs")
    max_params: LimitValue = _limit("params", 1.0, "params")
    max_trainable_params: LimitValue = _limit("trainable_params", 1.0, "trainable params")

    def __post_init__(self) -> None:
        for spec in LIMITS.values():
            value = getattr(self, spec.argument)
            if value is not None:
                object.__setattr__(self, spec.argument, spec.parse(value))

    @property
    def limits(self) -> dict[str, float]:
        """The arguments that are set, in their written units (GFLOPs, GMACs, params)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def __bool__(self) -> bool:
        return bool(self.limits)

    def check(self, report: Report) -> list[Violation]:
        """Every limit ``report`` goes over; an empty list means it fits."""
        violations = []
        for argument, value in self.limits.items():
            spec = LIMITS[argument]
            measured, bound = getattr(report, spec.attribute), spec.absolute(value)
            if measured > bound:
                violations.append(Violation(report.label, argument, float(measured), bound))
        return violations

    def share(self, report: Report) -> float | None:
        """The largest fraction of any limit ``report`` uses (1.0 is exactly at the limit); None if unset."""
        shares = []
        for argument, value in self.limits.items():
            spec = LIMITS[argument]
            measured, bound = getattr(report, spec.attribute), spec.absolute(value)
            shares.append(measured / bound if bound else (math.inf if measured else 0.0))
        return max(shares) if shares else None

    def describe(self) -> str:
        """``max_gflops=4, max_params=25.6M``: the budget as a person would write it."""
        parts = []
        for argument, value in self.limits.items():
            parts.append(f"{argument}={value:g}" if LIMITS[argument].scale != 1 else f"{argument}={_compact(value)}")
        return ", ".join(parts) or "no limit"

    def to_dict(self) -> dict[str, float]:
        return dict(self.limits)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Budget:
        return cls(**data)


#: The limits, in the order of Budget's fields: the one list of limit names (the marker's signature is built
#: from it too).
LIMITS: dict[str, Limit] = {f.name: Limit(f.name, **f.metadata) for f in fields(Budget)}


def _compact(value: float) -> str:
    """``25600000 -> "25.6M"``: format_count without trailing zeros."""
    text = format_count(value, digits=3)
    suffix = text[-1] if text[-1].isalpha() else ""
    mantissa = text[: len(text) - len(suffix)]
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return mantissa + suffix
