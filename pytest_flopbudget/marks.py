"""The ``flop_budget`` marker: a plain function whose signature is the marker's API.

The ``--markers`` help and the argument checks are both read from that signature, so the documented
arguments and the accepted ones cannot drift apart.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any, Callable

from .budget import LIMITS, Budget, BudgetError, LimitValue

MARKER = "flop_budget"


def flop_budget(**limits: LimitValue) -> Budget:
    """fail the test if a model forward it runs (watched, or measured with the complexity fixture) goes over
    these limits. GFLOPs/GMACs in billions (4 or "4" = 4 GFLOPs, "500M" = 0.5), params as counts ("25.6M").
    Markers on module, class and function merge argument by argument, the closest winning."""
    return Budget(**limits)


# Keyword-only, one per limit, all defaulting to None: read by --markers help and the argument checks.
flop_budget.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None) for name in LIMITS],
    return_annotation=Budget,
)


MARKERS: dict[str, Callable[..., Budget]] = {MARKER: flop_budget}


def near_miss(name: str) -> bool:
    """``flopbudget``, ``flop_budgets``, ``flops_budget``, ``FLOP_budget``: a name meant as the marker."""
    if name == MARKER:
        return False
    squashed = name.lower().replace("_", "").replace("-", "")
    return squashed in ("flopbudget", "flopbudgets", "flopsbudget", "flopsbudgets") or \
        difflib.SequenceMatcher(None, name.lower(), MARKER).ratio() >= 0.85


def marker_help(name: str, function: Callable[..., Any]) -> str:
    """``flop_budget(*, max_gflops=None, ...): <docstring>``, the line pytest's ``--markers`` prints."""
    parts: list[str] = []
    star = False
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        parts.append(parameter.name if parameter.default is inspect.Parameter.empty
                     else f"{parameter.name}={parameter.default!r}")
    doc = " ".join((function.__doc__ or "").split())
    return f"{name}({', '.join(parts)}): {doc}"


def marker_lines() -> list[str]:
    return [marker_help(name, function) for name, function in MARKERS.items()]


def arguments(function: Callable[..., Any]) -> tuple[str, ...]:
    return tuple(inspect.signature(function).parameters)


def check_arguments(
    args: tuple[Any, ...], kwargs: Mapping[str, Any], function: Callable[..., Any] = flop_budget
) -> None:
    """Raise BudgetError for a positional argument or an unknown name (suggesting the closest valid one)."""
    valid = arguments(function)
    if args:
        raise BudgetError(
            f"positional argument{'s' if len(args) > 1 else ''} {', '.join(map(repr, args))}: "
            f"{function.__name__} takes keyword arguments only ({', '.join(f'{name}=...' for name in valid)})"
        )
    for name in kwargs:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"unknown argument; expected one of {', '.join(valid)}"
            raise BudgetError(f"{name}: {hint}")


def validate(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Budget:
    """One marker's arguments as a Budget; BudgetError names the argument that is wrong."""
    check_arguments(args, kwargs)
    return flop_budget(**kwargs)


def merge(markers: Iterable[Mapping[str, Any]]) -> Budget | None:
    """Marker keyword arguments, closest marker first, merged argument by argument: the first given wins.

    An argument given as None in a closer marker lifts a limit set farther away. None when no marker applies.
    """
    merged: dict[str, Any] | None = None
    for kwargs in markers:
        merged = {} if merged is None else merged
        for name, value in kwargs.items():
            merged.setdefault(name, value)
    return None if merged is None else flop_budget(**merged)
