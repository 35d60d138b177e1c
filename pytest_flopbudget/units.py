"""Parse and format counts with SI suffixes ("25.6M", "4G", "70K").

Budgets are written by people, so they accept the suffixes people use; reports are read by people, so
they print the same suffixes back. Suffixes are decimal (K = 1e3, M = 1e6, G = 1e9, T = 1e12), as in
every paper that quotes FLOPs and parameter counts.
"""

from __future__ import annotations

import math
import re

SUFFIXES: dict[str, float] = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}

_NUMBER = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([a-zA-Z]?)\s*$")


def parse_count(value: object) -> float:
    """Turn ``4``, ``4.5``, ``"25.6M"`` or ``"70k"`` into a float; raise ValueError saying why not.

    Booleans are rejected: ``True`` as a budget is always a mistake.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a number or a string like '25.6M', got {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        match = _NUMBER.match(value)
        if not match:
            raise ValueError(f"cannot parse {value!r}: expected a number with an optional suffix K, M, G, T or P")
        suffix = match.group(2).upper()
        if suffix not in SUFFIXES:
            raise ValueError(f"unknown suffix {match.group(2)!r} in {value!r}: use K, M, G, T or P")
        number = float(match.group(1)) * SUFFIXES[suffix]
    else:
        raise ValueError(f"expected a number or a string like '25.6M', got {type(value).__name__} {value!r}")
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"{value!r} is not a finite number")
    if number < 0:
        raise ValueError(f"{value!r} is negative; a budget must be zero or more")
    return number


def format_billions(value: float) -> str:
    """A value already in billions (GFLOPs, GMACs): 2 decimals from 1 up, 3 significant digits below."""
    if value == 0:
        return "0"
    return f"{value:.2f}" if value >= 1 else f"{value:.3g}"


def format_shapes(shapes: list) -> str:
    """``[[1, 3, 224, 224]] -> "1x3x224x224"``; several inputs joined by commas, none as "-"."""
    return ", ".join("x".join(str(size) for size in shape) or "scalar" for shape in shapes) or "-"


def format_count(value: float, digits: int = 2) -> str:
    """``25557032 -> "25.56M"``: the largest suffix that keeps the mantissa at or above 1."""
    magnitude = abs(value)
    for suffix in ("P", "T", "G", "M", "K"):
        if magnitude >= SUFFIXES[suffix]:
            return f"{value / SUFFIXES[suffix]:.{digits}f}{suffix}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.{digits}f}"
