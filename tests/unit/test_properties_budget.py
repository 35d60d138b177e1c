"""Property-based tests of limit parsing, rendering and marker merging: every number here comes from a strategy
and an independent expectation, never from the code under test."""

from __future__ import annotations

import decimal
import fractions
import math
import re

import pytest

pytest.importorskip("hypothesis")
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_flopbudget import marks
from pytest_flopbudget.budget import LIMITS, Budget, BudgetError
from pytest_flopbudget.engine.units import format_billions, format_count, parse_count

FAST = settings(max_examples=150, deadline=None)

#: The suffixes a budget may use and what they multiply by, written out here rather than read from units.py.
SCALE = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
ARGUMENTS = ["max_gflops", "max_gmacs", "max_params", "max_trainable_params"]
G_ARGUMENTS = {"max_gflops", "max_gmacs"}

counts = st.floats(min_value=0, max_value=1e30, allow_nan=False, allow_infinity=False)
exact_integers = st.integers(min_value=0, max_value=2**53)  # every one of them is a float exactly


def suffix_scale(text: str) -> int:
    """The multiplier a formatted count's last character stands for (1 when it ends in a digit)."""
    return SCALE[text[-1]] if text[-1].isalpha() else 1


@FAST
@given(counts, st.integers(min_value=0, max_value=4))
def test_a_formatted_count_parses_back_within_its_rounding(value: float, digits: int) -> None:
    text = format_count(value, digits=digits)
    assert re.fullmatch(r"[0-9]+(\.[0-9]+)?[KMGTP]?", text), text
    # The mantissa is rounded to `digits` decimals, so the count is off by at most half a unit of the last
    # digit, times the suffix; a float carries a relative error of about 1e-16 on top.
    tolerance = 0.5 * 10.0**-digits * suffix_scale(text)
    assert abs(parse_count(text) - value) <= tolerance * (1 + 1e-9) + 1e-12 * value


@FAST
@given(counts)
def test_formatted_billions_parse_back_within_their_rounding(value: float) -> None:
    text = format_billions(value)
    parsed = parse_count(text)
    # From 1 up: 2 decimals (0.005). Below 1: 3 significant digits (half a unit of the third digit).
    tolerance = 0.005 if value >= 1 else 0.5 * 10.0 ** (math.floor(math.log10(value)) - 2) if value else 0.0
    assert abs(parsed - value) <= tolerance * (1 + 1e-9) + 1e-12 * value


def parse_description(text: str) -> dict[str, str]:
    """``"max_gflops=0.5, max_params=25.6M"`` -> keyword arguments, as a person would copy them."""
    if text == "no limit":
        return {}
    return dict(part.split("=", 1) for part in text.split(", "))


limit_values = st.one_of(
    st.floats(min_value=0, max_value=1e18, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=10**18),
)


@FAST
@given(st.dictionaries(st.sampled_from(ARGUMENTS), limit_values))
def test_describe_parses_back_to_the_same_limits(kwargs: dict) -> None:
    # G-arguments of 1e9 and more are raw counts in a billions field: an error (tested below)
    kwargs = {name: value for name, value in kwargs.items() if name not in G_ARGUMENTS or value < 1e9}
    budget = Budget(**kwargs)
    again = Budget(**parse_description(budget.describe()))
    assert set(again.limits) == set(budget.limits) == set(kwargs)
    for argument, value in budget.limits.items():
        back = again.limits[argument]
        if argument in G_ARGUMENTS:  # "{:g}": 6 significant digits
            assert back == pytest.approx(value, rel=5e-6, abs=1e-300)
        else:  # a suffixed mantissa with 3 decimals, trailing zeros dropped
            text = parse_description(budget.describe())[argument]
            assert abs(back - value) <= 0.0005 * suffix_scale(text) * (1 + 1e-9) + 1e-12 * value


@FAST
@given(exact_integers, st.sampled_from(["max_params", "max_trainable_params"]))
def test_every_spelling_of_a_count_gives_the_same_budget(count: int, argument: str) -> None:
    np = pytest.importorskip("numpy")
    spellings = [count, float(count), str(count), f"  {count} ", fractions.Fraction(count), decimal.Decimal(count),
                 np.int64(count), np.uint64(count), np.float64(count)]
    if count <= 2**24:
        spellings.append(np.float32(count))  # exact in float32
    for suffix, scale in SCALE.items():
        if count % scale == 0:
            spellings += [f"{count // scale}{suffix}", f"{count // scale}{suffix.lower()}"]
    budgets = {Budget(**{argument: spelling}) for spelling in spellings}
    assert budgets == {Budget(**{argument: float(count)})}
    assert getattr(budgets.pop(), argument) == count  # exact: every spelling is an exact float


@FAST
@given(exact_integers, st.sampled_from(["max_gflops", "max_gmacs"]))
def test_every_spelling_of_a_g_limit_gives_the_same_budget(count: int, argument: str) -> None:
    # `count` FLOPs (or MACs) is count / 1e9 in the G-arguments' unit; every spelling rounds that real number
    # once, to the nearest float.
    np = pytest.importorskip("numpy")
    billions = fractions.Fraction(count, 10**9)
    spellings = [billions, float(billions), np.float64(float(billions)), repr(float(billions)),
                 decimal.Decimal(count) / decimal.Decimal(10**9)]
    for suffix, scale in SCALE.items():
        if suffix and count % scale == 0:  # a suffixed string is a count of FLOPs
            spellings.append(f"{count // scale}{suffix}")
    if count % 10**9 == 0:
        spellings += [count // 10**9, np.int64(count // 10**9), str(count // 10**9)]
    budgets = {Budget(**{argument: spelling}) for spelling in spellings}
    assert budgets == {Budget(**{argument: float(billions)})}


ascii_numbers = st.from_regex(r"\A[ \t]*[+]?[0-9]{1,12}(\.[0-9]{0,6})?([eE][+-]?[0-9]{1,2})?[ \t]*[KMGTPkmgtp]?\Z")


@FAST
@given(ascii_numbers)
def test_ascii_numbers_parse_like_float(text: str) -> None:
    body = text.strip()
    suffix = body[-1].upper() if body[-1].isalpha() else ""
    expected = float(body[: len(body) - len(suffix)].strip()) * SCALE[suffix]
    assert parse_count(text) == expected


#: Digits of other scripts ("\u0663", "\uff13") and spaces beyond ASCII ("\u00a0", "\u2003"): float() and the
#: re module (\\d, \\s) accept them; a budget must not.
foreign = st.characters(categories=["Nd", "Zs", "No"]).filter(lambda char: not char.isascii())


@FAST
@given(st.from_regex(r"\A[0-9]{0,3}\Z"), st.lists(foreign, min_size=1, max_size=3),
       st.from_regex(r"\A[0-9.]{0,3}[KM]?\Z"))
def test_text_beyond_ascii_is_never_a_number(head: str, middle: list, tail: str) -> None:
    with pytest.raises(ValueError, match="expected a number in ASCII digits"):
        parse_count(head + "".join(middle) + tail)
    with pytest.raises(ValueError, match="expected a number in ASCII digits"):
        parse_count("".join(middle))


@FAST
@given(st.text(min_size=1).filter(lambda text: not text.isascii()))
def test_any_text_beyond_ascii_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected a number in ASCII digits"):
        parse_count(text)


anything = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**1000, max_value=2**20000),
    st.integers(max_value=-(2**1000), min_value=-(2**20000)), st.floats(), st.fractions(), st.decimals(),
    st.complex_numbers(), st.text(), st.binary(), st.lists(st.integers(), max_size=2),
)


@FAST
@given(st.sampled_from(ARGUMENTS), anything)
def test_any_value_is_a_valid_limit_or_a_budget_error_naming_the_argument(argument: str, value: object) -> None:
    try:
        budget = Budget(**{argument: value})
    except BudgetError as error:
        message = str(error)
        assert message.startswith(f"{argument}=")
        assert "expected" in message or "must be" in message or "use K, M, G, T or P" in message
        assert len(message) < 1000
    else:
        limit = getattr(budget, argument)
        if value is None:
            assert limit is None
        else:
            assert type(limit) is float
            assert math.isfinite(limit)
            assert limit >= 0
            assert math.isfinite(LIMITS[argument].absolute(limit))


# Marker merging: for each argument the first (closest) marker that has the key wins; None lifts the limit.

marker_kwargs = st.dictionaries(st.sampled_from(ARGUMENTS),
                                st.one_of(st.none(), st.integers(min_value=0, max_value=10**6),
                                          st.sampled_from(["25.6M", "70k", "4G", "500M", "0", "1.5"])),
                                max_size=4)


def reference_merge(closest_first: list[dict]) -> dict[str, object] | None:
    if not closest_first:
        return None
    merged: dict[str, object] = {}
    for argument in ARGUMENTS:
        for kwargs in closest_first:
            if argument in kwargs:
                if kwargs[argument] is not None:
                    merged[argument] = kwargs[argument]
                break
    return merged


@FAST
@given(st.lists(marker_kwargs, max_size=5))
def test_merge_matches_an_independent_reference(closest_first: list[dict]) -> None:
    expected = reference_merge(closest_first)
    merged = marks.merge(closest_first)
    if expected is None:
        assert merged is None
    else:
        assert merged == Budget(**expected)
        assert set(merged.limits) == set(expected)
