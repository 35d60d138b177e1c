"""Budget, Violation, the marker function and the budget failures: plain data, checked without a pytest session."""

from __future__ import annotations

import decimal
import fractions
import math

import pytest

from pytest_flopbudget import marks
from pytest_flopbudget.budget import Budget, BudgetError, Violation
from pytest_flopbudget.engine.report import ModuleStats, Report


def make_report(flops: int = 16512, macs: int = 8192, params: int = 2080, trainable: int | None = None,
                name: str | None = None) -> Report:
    trainable = params if trainable is None else trainable
    return Report(model="Linear", convention="full", flops=flops, macs=macs, params=params,
                  trainable_params=trainable, frozen_params=params - trainable, buffers=0, param_bytes=4 * params,
                  input_shapes=[[4, 64]], modules={"": ModuleStats("Linear", flops, macs, params, 1)}, name=name)


@pytest.mark.parametrize(
    ("argument", "value", "stored"),
    [
        ("max_gflops", 4, 4.0),
        ("max_gflops", "4", 4.0),  # an unsuffixed string is in the argument's unit
        ("max_gflops", "4G", 4.0),  # a suffixed string is a count: 4G FLOPs
        ("max_gflops", "500M", 0.5),
        ("max_gmacs", "70K", 7e-5),
        ("max_params", "25.6M", 25.6e6),
        ("max_params", 2080, 2080.0),
        ("max_trainable_params", "70k", 70e3),
        ("max_params", 0, 0.0),
    ],
)
def test_budget_values_in_their_units(argument: str, value: object, stored: float) -> None:
    assert getattr(Budget(**{argument: value}), argument) == pytest.approx(stored, rel=1e-12)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (-1, "-1 is negative"),
        (float("nan"), "not a finite number"),
        (math.inf, "not a finite number"),
        ("abc", "cannot parse 'abc'"),
        ("4Q", "unknown suffix 'Q'"),
        (True, "got True"),
        ([4], "got list [4]"),
    ],
)
def test_bad_budget_values_name_the_argument(value: object, reason: str) -> None:
    with pytest.raises(BudgetError) as error:
        Budget(max_gmacs=value)
    assert str(error.value).startswith(f"max_gmacs={value!r}: ")
    assert reason in str(error.value)


def test_check_renders_both_numbers_and_the_excess() -> None:
    # Linear(64, 32) on a (4, 64) input: 8192 MACs, 2 * 8192 + 128 bias adds = 16512 FLOPs (full), 2080 params.
    budget = Budget(max_gflops="10K", max_gmacs="9K", max_params=2000, max_trainable_params=2080)
    lines = [violation.render() for violation in budget.check(make_report())]
    assert lines == [
        "Linear: 1.65e-05 GFLOPs > max_gflops=1e-05 (+65%)",
        "Linear: 2.08K params > max_params=2.00K (+4%)",
    ]


def test_large_counts_render_in_billions() -> None:
    report = make_report(flops=8_210_000_000, macs=4_100_000_000, params=25_557_032, name="ResNet")
    [flops, params] = Budget(max_gflops=5, max_params="20M").check(report)
    assert flops.render() == "ResNet: 8.21 GFLOPs > max_gflops=5.00 (+64%)"
    assert params.render() == "ResNet: 25.56M params > max_params=20.00M (+28%)"


def test_a_count_exactly_at_the_limit_passes() -> None:
    report = make_report()
    assert Budget(max_gflops="16.512K", max_gmacs=8192e-9, max_params=2080).check(report) == []
    assert Budget(max_gflops="16.511K").check(report) != []


def test_a_zero_limit_renders_without_a_percentage() -> None:
    [violation] = Budget(max_trainable_params=0).check(make_report())
    assert violation.render() == "Linear: 2.08K trainable params > max_trainable_params=0 (limit is 0)"
    assert Budget(max_trainable_params=0).share(make_report()) == math.inf


def test_share_is_the_largest_fraction_of_any_limit() -> None:
    report = make_report()
    assert Budget(max_gflops="33.024K", max_params=4160).share(report) == pytest.approx(0.5)
    assert Budget(max_gflops="33.024K", max_params=1040).share(report) == pytest.approx(2.0)
    assert Budget().share(report) is None


def test_describe_and_round_trip() -> None:
    budget = Budget(max_gflops="500M", max_params="25.6M", max_trainable_params=2080)
    assert budget.describe() == "max_gflops=0.5, max_params=25.6M, max_trainable_params=2.08K"
    assert Budget.from_dict(budget.to_dict()) == budget
    violation = Violation("Linear", "max_gflops", 16512.0, 10000.0)
    assert Violation.from_dict(violation.to_dict()) == violation
    assert not Budget()
    assert Budget(max_params=0)


def test_marker_help_is_built_from_the_signature() -> None:
    [line] = marks.marker_lines()
    assert line.startswith(
        "flop_budget(*, max_gflops=None, max_gmacs=None, max_params=None, max_trainable_params=None): fail the test"
    )
    assert "\n" not in line


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {"max_glops": 1}, "max_glops: did you mean max_gflops?"),
        ((), {"max_trainable": 1}, "max_trainable: did you mean max_trainable_params?"),
        ((), {"budget": 1}, "budget: unknown argument; expected one of max_gflops, max_gmacs, max_params"),
        ((5,), {}, "positional argument 5: flop_budget takes keyword arguments only"),
    ],
)
def test_marker_arguments_are_checked_against_the_signature(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(BudgetError, match="^" + message.replace("?", r"\?")):
        marks.validate(args, kwargs)


def test_merge_takes_the_closest_value_per_argument() -> None:
    closest_first = [{"max_gflops": 2}, {"max_gflops": 1, "max_params": 10}, {"max_gmacs": 3}]
    assert marks.merge(closest_first) == Budget(max_gflops=2, max_gmacs=3, max_params=10)
    assert marks.merge([{"max_params": None}, {"max_params": 10, "max_gflops": 1}]) == Budget(max_gflops=1)
    assert marks.merge([]) is None


# Limit values of every kind: numbers of any numeric type, strings in ASCII digits only, and clear errors.

@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (fractions.Fraction(5, 2), 2.5),
        (fractions.Fraction(1, 4), 0.25),
        (decimal.Decimal("2.5"), 2.5),
        (decimal.Decimal("25.6E6"), 25.6e6),
        (decimal.Decimal("0"), 0.0),
        (10**15, 1e15),
        (" 4 ", 4.0),  # ASCII whitespace around a number is fine
        ("4 M", 4e6),
        ("+4", 4.0),
        ("1.5e3", 1500.0),
    ],
)
def test_limits_of_any_real_type(value: object, stored: float) -> None:
    budget = Budget(max_params=value)
    assert budget.max_params == stored
    assert type(budget.max_params) is float


def test_numpy_scalars_are_numbers() -> None:
    np = pytest.importorskip("numpy")
    assert Budget(max_params=np.int64(5)) == Budget(max_params=5)
    assert Budget(max_params=np.uint8(200)) == Budget(max_params=200)
    assert Budget(max_gflops=np.float32(2.5)) == Budget(max_gflops=2.5)  # 2.5 is exact in float32
    assert Budget(max_gmacs=np.float64(0.1)) == Budget(max_gmacs=0.1)
    assert type(Budget(max_params=np.int64(5)).max_params) is float
    report = make_report()  # 2080 params
    assert Budget(max_params=np.int64(2080)).check(report) == []
    assert [v.argument for v in Budget(max_params=np.int32(2079)).check(report)] == ["max_params"]
    with pytest.raises(BudgetError, match=r"^max_params=.*: .* is too large; expected a finite number up to "):
        Budget(max_params=np.longdouble("1e400") if np.finfo(np.longdouble).max > 1e400 else 10**400)
    with pytest.raises(BudgetError, match=r"is not a finite number; expected a finite number, zero or more"):
        Budget(max_params=np.float64("inf"))
    for bad in (np.bool_(True), np.bool_(False)):
        with pytest.raises(BudgetError, match=r"^max_params=.*: expected a number or a string like '25.6M', got "):
            Budget(max_params=bad)


def test_negative_zero_is_zero() -> None:
    assert math.copysign(1.0, Budget(max_params=-0.0).max_params) == 1.0
    assert math.copysign(1.0, Budget(max_params="-0").max_params) == 1.0


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("\u0663", "cannot parse '\u0663': expected a number in ASCII digits"),  # ARABIC-INDIC DIGIT THREE
        ("\uff13", "cannot parse '\uff13': expected a number in ASCII digits"),  # FULLWIDTH DIGIT THREE
        ("\uff13M", "cannot parse"),
        ("1\u0660", "cannot parse"),
        ("\u00a04", "cannot parse"),  # a no-break space is not whitespace to a budget
        ("4\u2003", "cannot parse"),
        ("1_000", "cannot parse '1_000'"),
        ("0.001\n", "cannot parse '0.001\\n'"),  # a trailing newline is not a space around the number
        ("4M\n", "cannot parse '4M\\n'"),
        ("4\n ", "cannot parse"),
        ("", "cannot parse ''"),
        ("  ", "cannot parse '  '"),
        ("nan", "cannot parse 'nan'"),
        ("inf", "cannot parse 'inf'"),
        ("-inf", "cannot parse '-inf'"),
        ("0x10", "cannot parse"),
        ("-1", "'-1' is negative; a budget must be zero or more"),
        ("1e400", "'1e400' is too large"),
        ("9" * 400, "is too large"),
        ("1e300P", "'1e300P' is too large"),
        (10**400, "is too large"),
        (-(10**400), "is negative"),
        (fractions.Fraction(10**400, 3), "is too large"),
        (fractions.Fraction(-1, 3), "is negative"),
        (decimal.Decimal("NaN"), "is not a finite number"),
        (decimal.Decimal("sNaN"), "is not a finite number"),
        (decimal.Decimal("Infinity"), "is not a finite number"),
        (decimal.Decimal("1e400"), "is too large"),
        (decimal.Decimal("-2"), "is negative"),
        (complex(4, 0), "expected a number or a string like '25.6M', got complex (4+0j)"),
        (False, "expected a number or a string like '25.6M', got False"),
        (None.__class__, "expected a number or a string like '25.6M', got type"),
        (b"4", "expected a number or a string like '25.6M', got bytes b'4'"),
    ],
    ids=lambda item: ascii(item) if len(ascii(item)) <= 30 else ascii(item)[:24] + "...",
)
def test_bad_limit_values_say_what_was_expected(value: object, reason: str) -> None:
    with pytest.raises(BudgetError) as error:
        Budget(max_params=value)
    message = str(error.value)
    assert message.startswith("max_params=")
    assert reason in message
    assert "expected" in message or "must be" in message


def test_a_huge_integer_is_named_without_printing_every_digit() -> None:
    with pytest.raises(BudgetError) as error:
        Budget(max_params=10**400)
    message = str(error.value)
    assert message.startswith("max_params=1.000000e+400 (an integer of 401 digits): ")
    assert "too large" in message
    assert "expected" in message
    with pytest.raises(BudgetError, match=r"^max_params=1\.000000e\+5000 \(an integer of 5001 digits\): "):
        Budget(max_params=10**5000)  # more digits than Python will turn into a string


@pytest.mark.parametrize("argument", ["max_gflops", "max_gmacs"])
def test_a_g_limit_whose_count_overflows_is_rejected(argument: str) -> None:
    # 1e300 GFLOPs is 1e309 FLOPs: not a finite float, so no report could be checked against it.
    with pytest.raises(BudgetError, match=f"^{argument}=1e\\+300: 1e\\+300 is too large"):
        Budget(**{argument: 1e300})
    assert Budget(**{argument: 1e8}).check(make_report()) == []  # large and below the raw-count check


def test_budget_failures_pickle_and_keep_their_kind() -> None:
    import pickle

    import pytest_flopbudget as fb

    for kind in (fb.FlopBudgetExceeded, fb.NothingMeasured):
        failure = kind("Linear: 8.19e-06 GMACs > max_gmacs=8.19e-06", pytrace=False)
        copy = pickle.loads(pickle.dumps(failure))
        assert type(copy) is kind
        assert (copy.msg, copy.pytrace) == (failure.msg, False)
        assert isinstance(copy, fb.FlopBudgetFailure)
        assert isinstance(copy, pytest.fail.Exception)
    assert not issubclass(fb.NothingMeasured, fb.FlopBudgetExceeded)


@pytest.mark.parametrize("value", [4e9, "4e9", 10**9])
def test_a_raw_count_in_a_billions_argument_is_an_error_with_the_fix(value: object) -> None:
    # 4e9 GFLOPs would be 4e18 FLOPs: a count of FLOPs pasted where billions are expected.
    billions = f"{float(value) / 1e9:g}"
    with pytest.raises(BudgetError, match=rf'is written max_gflops={billions} or max_gflops="{billions}G"'):
        Budget(max_gflops=value)
    assert Budget(max_gflops=999_999_999).max_gflops == 999_999_999  # just below: a (huge) budget in billions
