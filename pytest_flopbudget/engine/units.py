"""Parse and format counts with SI suffixes ("25.6M", "4G", "70K").

Budgets are written by people, so they accept the suffixes people use; reports are read by people, so
they print the same suffixes back. Suffixes are decimal (K = 1e3, M = 1e6, G = 1e9, T = 1e12), as in
every paper that quotes FLOPs and parameter counts.
"""

from __future__ import annotations

import math
import numbers
import operator
import re
import sys
from collections.abc import Iterable

SUFFIXES: dict[str, float] = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}

# ASCII only: ``\d`` and ``float()`` also read other scripts' digits ("\u0663" is 3 to them), and ``float()`` reads
# "1_000", "nan" and "inf"; a budget is written in plain 0-9, so anything else is a typo to report.
_NUMBER = re.compile(r"^[ \t]*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[ \t]*([a-zA-Z]?)[ \t]*\Z")

#: What every error about a limit's type ends with.
EXPECTED = "expected a number or a string like '25.6M'"
#: The largest limit there is: the largest finite float.
LARGEST = sys.float_info.max


def show(value: object) -> str:
    """``repr(value)`` for an error message, kept readable: a huge integer in scientific notation."""
    if not isinstance(value, bool) and isinstance(value, numbers.Integral):  # bool first (mypy: bool is not Integral)
        try:
            integer = operator.index(value)
        except TypeError:
            integer = None
        if integer is not None and abs(integer).bit_length() > 128:  # repr cannot even print 4301 digits
            from decimal import Decimal

            exact = Decimal(integer)
            return f"{exact:.6e} (an integer of {exact.adjusted() + 1} digits)"
    try:
        text = repr(value)
    except ValueError:  # a Fraction of more than 4300 digits
        return f"<a {type(value).__name__} too large to print>"
    return text if len(text) <= 80 else f"{text[:60]}...{text[-10:]} ({len(text)} characters)"


def _real(value: object) -> float:
    """Any real number (int, float, Fraction, Decimal, numpy scalars) as a float; ValueError if it has none."""
    try:
        if isinstance(value, numbers.Integral):
            number = float(operator.index(value))
        else:
            number = float(value)  # type: ignore[arg-type]  # any Real or Number; float() raises for the rest
    except OverflowError:  # an int or a Fraction beyond any float
        number, finite = math.inf, True
    except (TypeError, ValueError):  # Decimal('sNaN') refuses float()
        raise ValueError(f"{show(value)} is not a finite number; expected a finite number, zero or more") from None
    else:  # a Decimal or a numpy longdouble may be finite and still beyond any float
        finite = math.isinf(number) and _below_infinity(value)
    if finite:  # too large for a float, but a number: its sign decides the error
        if value < 0:  # type: ignore[operator]
            raise ValueError(f"{show(value)} is negative; a budget must be zero or more")
        raise ValueError(f"{show(value)} is too large; expected a finite number up to {LARGEST:.4g}")
    return number


def _below_infinity(value: object) -> bool:
    """Whether a number whose float is infinite is itself finite (Decimal("1e400"), not Decimal("Infinity"))."""
    try:
        return bool(abs(value) < math.inf)  # type: ignore[arg-type]
    except (ArithmeticError, TypeError, ValueError):  # Decimal NaN refuses to be ordered
        return False


def parse_count(value: object) -> float:
    """Turn ``4``, ``4.5``, ``"25.6M"`` or ``"70k"`` into a float; raise ValueError saying why not.

    Numbers are any real number: ``int``, ``float``, ``fractions.Fraction``, ``decimal.Decimal`` and numpy's
    integer and floating scalars (duck-typed through :mod:`numbers`: numpy is not imported). Strings are ASCII
    digits with an optional suffix. Booleans are rejected, Python's and numpy's: ``True`` as a budget is
    always a mistake. Every error says what was expected.
    """
    if isinstance(value, bool):
        raise ValueError(f"{EXPECTED}, got {value!r}")
    if isinstance(value, str):
        match = _NUMBER.match(value)
        if not match:
            raise ValueError(f"cannot parse {show(value)}: expected a number in ASCII digits (like 4, 2.5 or 1e3) "
                             "with an optional suffix K, M, G, T or P")
        suffix = match.group(2).upper()
        if suffix not in SUFFIXES:
            raise ValueError(f"unknown suffix {match.group(2)!r} in {show(value)}: use K, M, G, T or P")
        number = float(match.group(1)) * SUFFIXES[suffix]
        if math.isinf(number):  # the syntax above has no "inf": only a count too large to hold
            raise ValueError(f"{show(value)} is too large; expected a finite number up to {LARGEST:.4g}")
    elif isinstance(value, numbers.Real) or (isinstance(value, numbers.Number)
                                             and not isinstance(value, numbers.Complex)):
        number = _real(value)  # Decimal is registered as a Number only; numpy's bool as none of them
    else:
        raise ValueError(f"{EXPECTED}, got {type(value).__name__} {show(value)}")
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"{show(value)} is not a finite number; expected a finite number, zero or more")
    if number < 0:
        raise ValueError(f"{show(value)} is negative; a budget must be zero or more")
    return number + 0.0  # -0.0 -> 0.0


def format_billions(value: float) -> str:
    """A value already in billions (GFLOPs, GMACs): 2 decimals from 1 up, 3 significant digits below."""
    if value == 0:
        return "0"
    return f"{value:.2f}" if value >= 1 else f"{value:.3g}"


def format_shapes(shapes: Iterable[Iterable[int]]) -> str:
    """``[[1, 3, 224, 224]] -> "1x3x224x224"``; several inputs joined by commas, none as "-"."""
    return ", ".join("x".join(str(size) for size in shape) or "scalar" for shape in shapes) or "-"


def format_count(value: float, digits: int = 2) -> str:
    """``25557032 -> "25.56M"``: the largest suffix that keeps the mantissa at or above 1."""
    magnitude = abs(value)
    for suffix in ("P", "T", "G", "M", "K"):
        if magnitude >= SUFFIXES[suffix]:
            return f"{value / SUFFIXES[suffix]:.{digits}f}{suffix}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.{digits}f}"
