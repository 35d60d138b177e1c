"""The baseline (``--flopbudget-baseline``): compare, ratchet, update, partial update, unused and new entries,
a convention that differs, the tolerance; and warn mode (``--flopbudget-mode=warn``).

Every number is derived by hand:

- ``nn.Linear(64, 32)`` on 4 x 64: 4 * 64 * 32 = 8192 MACs, 2 * 8192 + 4 * 32 bias adds = 16512 FLOPs ('full'),
  16384 ('matmul'), 64 * 32 + 32 = 2080 params.
- ``nn.Linear(64, 40)``: 4 * 64 * 40 = 10240 MACs, 2 * 10240 + 160 = 20640 FLOPs, 64 * 40 + 40 = 2600 params:
  +25% on every count (20640 / 16512 = 10240 / 8192 = 2600 / 2080 = 1.25).
- ``nn.Linear(64, 30)``: 7680 MACs, 2 * 7680 + 120 = 15480 FLOPs, 64 * 30 + 30 = 1950 params: -6.25% on every
  count, which Python's ``format(-6.25, "+.1f")`` rounds (half to even on the binary value) to "-6.2".

Short forms: 16512 FLOPs = 1.65e-05 GFLOPs, 20640 = 2.06e-05, 15480 = 1.55e-05; 8192 MACs = 8.19e-06 GMACs,
10240 = 1.02e-05, 7680 = 7.68e-06; 2080 params = 2.08K, 2600 = 2.60K, 1950 = 1.95K.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from baseline_support import E30, E32, E40, GROWTH_25, SCHEMA, UPDATED_32_TO_40, text_of
from plugin_support import failures_section, run

ZERO = {"convention": "full", "flops": 0, "macs": 0, "params": 0}


#: model(): nn.Linear(64, <the number in the file "width">, 32 without it), so a width changes between two runs
#: of one session source.
WIDTH = """
import pathlib

def model():
    torch.manual_seed(0)
    width = pathlib.Path("width")
    return nn.Linear(64, int(width.read_text()) if width.exists() else 32)
"""


def failures_of(result: pytest.RunResult) -> str:
    """The FAILURES section alone: before the short summary (repeated under CI=true) and the flop budget table."""
    return re.split(r"=+ flop budget =+", failures_section(result.stdout.str()))[0]


def summary_of(result: pytest.RunResult) -> list[str]:
    """The lines of the flop budget summary (table and notes)."""
    text = result.stdout.str()
    assert re.search(r"=+ flop budget =+", text)
    return re.split(r"=+ flop budget =+", text)[1].splitlines()


def write_baseline(pytester: pytest.Pytester, tests: dict[str, Any], name: str = "b.json") -> Path:
    path = pytester.path / name
    path.write_text(text_of(tests))
    return path


def assert_block(lines: list[str], expected: list[str]) -> None:
    """``expected`` appears in ``lines`` as consecutive, whole lines (no glob: keys hold brackets)."""
    for start in range(len(lines) - len(expected) + 1):
        if lines[start:start + len(expected)] == expected:
            return
    raise AssertionError("lines not found in order:\n" + "\n".join(expected) + "\n--- in ---\n" + "\n".join(lines))


def row(result: pytest.RunResult, test: str, model: str = "Linear") -> list[str]:
    """The cells of the summary row of ``test`` (whitespace-split); exactly one such row."""
    rows = [line.split() for line in result.outlines if line.startswith(f"test_model.py::{test} ")
            and len(line.split()) > 2 and line.split()[1] == model]
    assert len(rows) == 1, (test, rows)
    return rows[0]


def header(result: pytest.RunResult) -> list[str]:
    heads = [line.split() for line in result.outlines if line.startswith("test ") and "GFLOPs" in line]
    assert len(heads) == 1
    return heads[0]


def cell(result: pytest.RunResult, test: str, column: str, model: str = "Linear") -> str:
    return row(result, test, model)[header(result).index(column)]


def command(path: Path) -> str:
    return f"pytest --flopbudget-baseline={path} --flopbudget-update"


# --- making and reading the file -----------------------------------------------------------------------------------

MADE = WIDTH + """
@pytest.mark.flop_budget(max_gflops=1)
def test_watched():
    model()(X)

def test_measured(complexity):
    complexity.measure(model(), X)
    complexity.measure(model(), X)
    complexity.measure(model(), X, name="enc")
"""


def test_update_writes_the_file_then_a_run_compares_equal_and_an_update_is_up_to_date(
        pytester: pytest.Pytester) -> None:
    path = pytester.path / "b.json"
    first = run(pytester, MADE, "--flopbudget-baseline=b.json", "--flopbudget-update")
    first.assert_outcomes(passed=2)
    # Keys: label [shapes]; a repeat gets " #2"; a name given to measure() is the label.
    expected = {
        "test_model.py::test_measured": {"Linear [4x64]": E32, "Linear [4x64] #2": E32, "enc [4x64]": E32},
        "test_model.py::test_watched": {"Linear [4x64]": E32},
    }
    assert path.read_text() == text_of(expected)
    assert_block(first.outlines, [
        f"baseline {path} updated: 0 updated, 4 new, 0 removed",
        "  new test_model.py::test_measured Linear [4x64]",
        "  new test_model.py::test_measured Linear [4x64] #2",
        "  new test_model.py::test_measured enc [4x64]",
        "  new test_model.py::test_watched Linear [4x64]",
    ])

    second = run(pytester, MADE, "--flopbudget-baseline=b.json")
    second.assert_outcomes(passed=2)
    assert header(second)[-2:] == ["baseline", "status"]
    assert cell(second, "test_watched", "baseline") == "="
    assert cell(second, "test_measured", "baseline", model="enc") == "="
    out = second.stdout.str()
    assert "shrank" not in out
    assert "not in the baseline" not in out
    assert "no test of this run produced" not in out

    third = run(pytester, MADE, "--flopbudget-baseline=b.json", "--flopbudget-update")
    third.assert_outcomes(passed=2)
    assert f"baseline {path} is up to date" in third.outlines
    assert path.read_text() == text_of(expected)


# --- growth and the tolerance --------------------------------------------------------------------------------------

GROWING = WIDTH + """
def test_grows(complexity):
    complexity.measure(model(), X)

def test_stays(complexity):
    complexity.measure(linear(), X)
"""


def test_growth_fails_its_own_test_with_one_line_per_count(pytester: pytest.Pytester) -> None:
    run(pytester, GROWING, "--flopbudget-baseline=b.json", "--flopbudget-update").assert_outcomes(passed=2)
    pytester.path.joinpath("width").write_text("40")
    result = run(pytester, GROWING, "--flopbudget-baseline=b.json")
    result.assert_outcomes(failed=1, passed=1)
    failures = failures_of(result)
    hint = f"(if the growth is intended, record it: {command(pytester.path / 'b.json')})"
    assert_block(failures.splitlines(), [*GROWTH_25, hint])
    for line in GROWTH_25:
        assert failures.count(line) == 1
    assert "test_stays" not in failures
    assert "FAILED test_model.py::test_grows" in result.stdout.str()
    assert row(result, "test_grows")[-2:] == ["+25.0%", "GREW"]
    assert row(result, "test_stays")[-2:] == ["=", "-"]


def test_growth_hint_names_the_baseline_given_on_the_command_line(pytester: pytest.Pytester) -> None:
    # `pytest --flopbudget-update` alone has no baseline to update: the hint must be a command that records.
    path = write_baseline(pytester, {"test_model.py::test_grows": {"Linear [4x64]": E32}})
    pytester.path.joinpath("width").write_text("40")
    result = run(pytester, GROWING, "--flopbudget-baseline=b.json")
    result.assert_outcomes(failed=1, passed=1)
    failures = failures_of(result)
    assert f"(if the growth is intended, record it: {command(path)})" in failures.splitlines()


def test_update_without_a_baseline_is_not_silently_ignored(pytester: pytest.Pytester) -> None:
    # Nothing to update: a usage error saying what is missing, at every verbosity.
    for verbosity in ((), ("-qq",)):
        result = run(pytester, GROWING, "--flopbudget-update", *verbosity)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["ERROR: update from command line: there is no baseline to update; name it with "
                                     "--flopbudget-baseline=PATH*"])


@pytest.mark.parametrize("tolerance", ["30", "30%", " 30 % ", "25"])
def test_growth_within_the_tolerance_passes(pytester: pytest.Pytester, tolerance: str) -> None:
    # +25.0% exactly: 16512 * 1.25 = 20640, not more, so a tolerance of 25 still passes ("changed", not "grew").
    write_baseline(pytester, {"test_model.py::test_grows": {"Linear [4x64]": E32},
                              "test_model.py::test_stays": {"Linear [4x64]": E32}})
    pytester.path.joinpath("width").write_text("40")
    result = run(pytester, GROWING, "--flopbudget-baseline=b.json", f"--flopbudget-tolerance={tolerance}")
    result.assert_outcomes(passed=2)
    assert row(result, "test_grows")[-2:] == ["+25.0%", "-"]
    assert "over the baseline" not in result.stdout.str()


def test_growth_beyond_the_tolerance_fails_and_names_it(pytester: pytest.Pytester) -> None:
    write_baseline(pytester, {"test_model.py::test_grows": {"Linear [4x64]": E32}})
    pytester.path.joinpath("width").write_text("40")
    result = run(pytester, GROWING, "--flopbudget-baseline=b.json", "--flopbudget-tolerance=24.9")
    result.assert_outcomes(failed=1, passed=1)
    failures = failures_of(result)
    for line in GROWTH_25:
        assert failures.count(line.replace("(tolerance 0%)", "(tolerance 24.9%)")) == 1


@pytest.mark.parametrize(("ini", "pyproject", "args", "passes", "shown"), [
    (None, "tolerance = 30", (), True, None),
    (None, 'tolerance = "24.9%"', (), False, "24.9%"),
    ("flopbudget_tolerance = 30", None, (), True, None),
    ("flopbudget_tolerance = 10", "tolerance = 30", (), False, "10%"),  # ini over [tool.flopbudget]
    ("flopbudget_tolerance = 10", "tolerance = 30", ("--flopbudget-tolerance=30",), True, None),  # CLI over ini
], ids=["pyproject", "pyproject-fails", "ini", "ini-over-pyproject", "cli-over-ini"])
def test_tolerance_from_ini_and_pyproject(pytester: pytest.Pytester, ini: str | None, pyproject: str | None,
                                         args: tuple[str, ...], passes: bool, shown: str | None) -> None:
    write_baseline(pytester, {"test_model.py::test_grows": {"Linear [4x64]": E32}})
    pytester.path.joinpath("width").write_text("40")
    if ini is not None:
        pytester.makeini(f"[pytest]\n{ini}\n")
    if pyproject is not None:
        pytester.makepyprojecttoml(f"[tool.flopbudget]\n{pyproject}\n")
    result = run(pytester, GROWING, "--flopbudget-baseline=b.json", *args)
    if passes:
        result.assert_outcomes(passed=2)
    else:
        result.assert_outcomes(failed=1, passed=1)
        assert failures_of(result).count(f"over the baseline (tolerance {shown})") == 3


ONE_MORE_FLOP = """
import pathlib

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = linear()

    def forward(self, x):
        y = self.lin(x)
        if pathlib.Path("extra").exists():
            y[0, 0] + 1  # one scalar add: one FLOP, no MAC, no param
        return y

def test_net(complexity):
    complexity.measure(Net(), X)
"""


def test_one_extra_flop_fails_at_tolerance_0_with_exact_counts(pytester: pytest.Pytester) -> None:
    write_baseline(pytester, {"test_model.py::test_net": {"Net [4x64]": E32}})
    pytester.path.joinpath("extra").write_text("")
    result = run(pytester, ONE_MORE_FLOP, "--flopbudget-baseline=b.json")
    result.assert_outcomes(failed=1)
    failures = failures_of(result)
    # 16512 and 16513 both read 1.65e-05 GFLOPs: the exact counts are shown. 1 / 16512 = 0.0061%.
    assert "GMACs" not in failures
    assert "params (" not in failures
    assert cell(result, "test_net", "baseline", model="Net") == "+0.0061%"
    assert cell(result, "test_net", "status", model="Net") == "GREW"
    # The exact integers are FLOPs, not GFLOPs: "16,512 GFLOPs" would be a million times too many.
    assert "Net: 16,512 -> 16,513 FLOPs (+0.0061%) over the baseline (tolerance 0%)" in failures.splitlines()


GROWN_FROM_NOTHING = """
import pathlib

def test_m(complexity):
    grown = pathlib.Path("grown").exists()
    complexity.measure(linear() if grown else nn.Identity(), X, name="m")
"""


def test_a_model_grown_from_zero_fails_whatever_the_tolerance(pytester: pytest.Pytester) -> None:
    path = pytester.path / "b.json"
    run(pytester, GROWN_FROM_NOTHING, "--flopbudget-baseline=b.json", "--flopbudget-update").assert_outcomes(passed=1)
    assert path.read_text() == text_of({"test_model.py::test_m": {"m [4x64]": ZERO}})  # Identity: nothing counted
    pytester.path.joinpath("grown").write_text("")
    result = run(pytester, GROWN_FROM_NOTHING, "--flopbudget-baseline=b.json", "--flopbudget-tolerance=1000")
    result.assert_outcomes(failed=1)
    assert_block(failures_of(result).splitlines(), [
        "m: 0 -> 1.65e-05 GFLOPs (from 0) over the baseline (tolerance 1000%)",
        "m: 0 -> 8.19e-06 GMACs (from 0) over the baseline (tolerance 1000%)",
        "m: 0 -> 2.08K params (from 0) over the baseline (tolerance 1000%)",
    ])
    assert row(result, "test_m", model="m")[-3:] == ["from", "0", "GREW"]


# --- statuses, the column and the notes ----------------------------------------------------------------------------

STATUSES = """
def test_equal(complexity):
    complexity.measure(linear(), X)

def test_shrank(complexity):
    complexity.measure(nn.Linear(64, 30), X)

def test_new(complexity):
    complexity.measure(linear(), X)

def test_grew(complexity):
    complexity.measure(nn.Linear(64, 40), X)

@pytest.mark.flop_budget(max_gflops="10K")
def test_over_and_grew():
    nn.Linear(64, 40)(X)

@pytest.mark.flop_budget(max_gflops=1)
def test_ok_but_grew():
    nn.Linear(64, 40)(X)
"""


def test_every_status_in_one_session(pytester: pytest.Pytester) -> None:
    path = write_baseline(pytester, {f"test_model.py::{name}": {"Linear [4x64]": E32}
                                     for name in ("test_equal", "test_shrank", "test_grew", "test_over_and_grew",
                                                  "test_ok_but_grew")})
    result = run(pytester, STATUSES, "--flopbudget-baseline=b.json")
    result.assert_outcomes(passed=3, failed=3)
    assert header(result)[-2:] == ["baseline", "status"]
    assert row(result, "test_equal")[-2:] == ["=", "-"]
    assert row(result, "test_shrank")[-2:] == ["-6.2%", "-"]
    assert row(result, "test_new")[-2:] == ["new", "-"]
    assert row(result, "test_grew")[-2:] == ["+25.0%", "GREW"]
    assert row(result, "test_over_and_grew")[-2:] == ["+25.0%", "OVER"]  # over budget: OVER says more
    assert row(result, "test_ok_but_grew")[-2:] == ["+25.0%", "GREW"]
    assert_block(result.outlines, [
        f"1 measurement shrank below the baseline; record with {command(path)}:",
        "  test_model.py::test_shrank Linear [4x64]: -6.2%",
        f"1 measurement new (not in the baseline); add with {command(path)}:",
        "  test_model.py::test_new Linear [4x64]",
    ])
    failures = failures_of(result)
    # 20640 FLOPs > 10K: +106.4% over the limit, and +25.0% over the baseline, both on the one test.
    assert "Linear: 2.06e-05 GFLOPs > max_gflops=1e-05 (+106%)" in failures
    assert failures.count(GROWTH_25[0]) == 3
    assert "test_new" not in failures
    assert "test_shrank" not in failures


def test_quiet_summary_counts_growth(pytester: pytest.Pytester) -> None:
    write_baseline(pytester, {f"test_model.py::{name}": {"Linear [4x64]": E32}
                              for name in ("test_equal", "test_shrank", "test_grew", "test_over_and_grew",
                                           "test_ok_but_grew")})
    result = run(pytester, STATUSES, "-q", "--flopbudget-baseline=b.json")
    result.stdout.fnmatch_lines(["6 measurements, 1 over budget, 3 over the baseline, 0 with unsupported ops; *"])


def test_no_baseline_column_without_a_baseline(pytester: pytest.Pytester) -> None:
    result = run(pytester, STATUSES)
    result.assert_outcomes(passed=5, failed=1)
    assert "baseline" not in header(result)
    assert not any("baseline" in line for line in summary_of(result))
    assert row(result, "test_grew")[-1] == "-"


def test_a_missing_file_makes_every_measurement_new(pytester: pytest.Pytester) -> None:
    path = pytester.path / "sub" / "b.json"
    result = run(pytester, STATUSES, "--flopbudget-baseline=sub/b.json")
    result.assert_outcomes(passed=5, failed=1)  # only the overrun fails
    assert all(row(result, name)[-2] == "new" for name in ("test_equal", "test_grew", "test_ok_but_grew"))
    assert (f"baseline {path} does not exist yet: every measurement is new; create it with {command(path)}"
            in result.outlines)
    assert not path.exists()


def test_ratchet_shrink_then_update_then_regrowth_fails(pytester: pytest.Pytester) -> None:
    path = write_baseline(pytester, {"test_model.py::test_grows": {"Linear [4x64]": E32},
                                     "test_model.py::test_stays": {"Linear [4x64]": E32}})
    pytester.path.joinpath("width").write_text("30")
    shrank = run(pytester, GROWING, "--flopbudget-baseline=b.json")
    shrank.assert_outcomes(passed=2)
    assert cell(shrank, "test_grows", "baseline") == "-6.2%"
    assert_block(shrank.outlines, [f"1 measurement shrank below the baseline; record with {command(path)}:",
                                   "  test_model.py::test_grows Linear [4x64]: -6.2%"])

    updated = run(pytester, GROWING, "--flopbudget-baseline=b.json", "--flopbudget-update")
    updated.assert_outcomes(passed=2)
    assert_block(updated.outlines, [
        f"baseline {path} updated: 1 updated, 0 new, 0 removed",
        ("  updated test_model.py::test_grows Linear [4x64]: flops 16,512 -> 15,480, macs 8,192 -> 7,680, "
         "params 2,080 -> 1,950"),
    ])
    assert path.read_text() == text_of({"test_model.py::test_grows": {"Linear [4x64]": E30},
                                        "test_model.py::test_stays": {"Linear [4x64]": E32}})

    pytester.path.joinpath("width").unlink()  # back to 32: 16512 / 15480 = 8192 / 7680 = 2080 / 1950 = +6.7%
    regrown = run(pytester, GROWING, "--flopbudget-baseline=b.json")
    regrown.assert_outcomes(failed=1, passed=1)
    assert_block(failures_of(regrown).splitlines(), [
        "Linear: 1.55e-05 -> 1.65e-05 GFLOPs (+6.7%) over the baseline (tolerance 0%)",
        "Linear: 7.68e-06 -> 8.19e-06 GMACs (+6.7%) over the baseline (tolerance 0%)",
        "Linear: 1.95K -> 2.08K params (+6.7%) over the baseline (tolerance 0%)",
    ])


# --- unused entries and what an update drops or keeps --------------------------------------------------------------

UNUSED = """
def test_ran(complexity):
    complexity.measure(linear(), X)

def test_ran_nothing():
    pass  # no longer measures anything at all

def test_deselected(complexity):
    complexity.measure(linear(), X)

def test_skipped(complexity):
    complexity.measure(linear(), X)
    pytest.skip("no reference output")

def test_skipped_early(complexity):
    pytest.skip("not today")

def test_failed(complexity):
    complexity.measure(nn.Linear(64, 40), X)
    assert False, "the test's own failure"

@pytest.mark.parametrize("p", [1])
def test_p(complexity, p):
    complexity.measure(linear(), X)
"""

UNUSED_BASELINE = {
    "test_model.py::test_ran": {"Linear [4x64]": E32, "old [4x64]": E32},
    "test_model.py::test_ran_nothing": {"Linear [4x64]": E32},
    "test_model.py::test_removed": {"Linear [4x64]": E32},  # no such test in the file any more
    "test_model.py::test_deselected": {"Linear [4x64]": E32},
    "test_model.py::test_skipped": {"Linear [4x64]": E30, "later [4x64]": E32},
    "test_model.py::test_skipped_early": {"Linear [4x64]": E32},
    "test_model.py::test_failed": {"Linear [4x64]": E32, "later [4x64]": E32},
    "test_model.py::test_p[1]": {"Linear [4x64]": E32},
    "test_model.py::test_p[2]": {"Linear [4x64]": E32},  # a parameter that no longer exists
    "test_other.py::test_x": {"Linear [4x64]": E32},  # a file this run did not collect
}


def make_unused_session(pytester: pytest.Pytester) -> Path:
    pytester.makepyfile(test_other="def test_x():\n    pass\n")
    return write_baseline(pytester, UNUSED_BASELINE)


def test_unused_entries_are_listed_but_not_deselected_skipped_failed_or_uncollected(
        pytester: pytest.Pytester) -> None:
    path = make_unused_session(pytester)
    result = run(pytester, UNUSED, "test_model.py", "-k", "not deselected", "--flopbudget-baseline=b.json")
    result.assert_outcomes(passed=3, skipped=2, failed=1, deselected=1)
    # Gone tests first, then tests that ran to their end, each sorted.
    assert_block(result.outlines, [
        f"4 baseline entries no test of this run produced; remove with {command(path)}:",
        "  test_model.py::test_p[2] Linear [4x64]",
        "  test_model.py::test_removed Linear [4x64]",
        "  test_model.py::test_ran old [4x64]",
        "  test_model.py::test_ran_nothing Linear [4x64]",
    ])
    listed = [line for line in result.outlines if line.startswith("  test_")]
    for kept in ("test_deselected", "test_skipped ", "test_skipped_early", "test_failed", "test_other"):
        assert not any(kept in line for line in listed), kept
    assert path.read_text() == text_of(UNUSED_BASELINE)  # comparing never writes


def test_update_drops_unused_and_gone_entries_and_keeps_the_rest(pytester: pytest.Pytester) -> None:
    path = make_unused_session(pytester)
    result = run(pytester, UNUSED, "test_model.py", "-k", "not deselected", "--flopbudget-baseline=b.json",
                 "--flopbudget-update")
    result.assert_outcomes(passed=3, skipped=2, failed=1, deselected=1)
    assert_block(result.outlines, [
        f"baseline {path} updated: 1 updated, 0 new, 4 removed",
        f"  updated test_model.py::test_failed Linear [4x64]: {UPDATED_32_TO_40}",
        "  removed test_model.py::test_p[2] Linear [4x64]",
        "  removed test_model.py::test_removed Linear [4x64]",
        "  removed test_model.py::test_ran old [4x64]",
        "  removed test_model.py::test_ran_nothing Linear [4x64]",
    ])
    expected = dict(UNUSED_BASELINE)
    del expected["test_model.py::test_removed"], expected["test_model.py::test_p[2]"]
    del expected["test_model.py::test_ran_nothing"]
    expected["test_model.py::test_ran"] = {"Linear [4x64]": E32}
    # The failed test writes what it measured and keeps what it did not reach; the skipped ones keep theirs
    # (test_skipped's E30 entry is not overwritten by what it measured before skipping).
    expected["test_model.py::test_failed"] = {"Linear [4x64]": E40, "later [4x64]": E32}
    assert path.read_text() == text_of(expected)


UPDATING = """
def test_grew(complexity):
    complexity.measure(nn.Linear(64, 40), X)

def test_new(complexity):
    complexity.measure(linear(), X)

def test_renamed(complexity):
    complexity.measure(linear(), X)

@pytest.mark.flop_budget(max_gflops="10K")
def test_over():
    linear()(X)
"""


def test_update_counts_and_lines_growth_passes_but_a_budget_still_fails(pytester: pytest.Pytester) -> None:
    path = write_baseline(pytester, {
        "test_model.py::test_grew": {"Linear [4x64]": E32},
        "test_model.py::test_renamed": {"Linear [4x64]": E32, "old [4x64]": E32},
        "test_model.py::test_over": {"Linear [4x64]": E32},
    })
    result = run(pytester, UPDATING, "--flopbudget-baseline=b.json", "--flopbudget-update")
    result.assert_outcomes(passed=3, failed=1)
    assert_block(result.outlines, [
        f"baseline {path} updated: 1 updated, 1 new, 1 removed",
        f"  updated test_model.py::test_grew Linear [4x64]: {UPDATED_32_TO_40}",
        "  new test_model.py::test_new Linear [4x64]",
        "  removed test_model.py::test_renamed old [4x64]",
    ])
    failures = failures_of(result)
    assert "Linear: 1.65e-05 GFLOPs > max_gflops=1e-05 (+65%)" in failures  # 16512 / 10000 = +65%
    assert "over the baseline" not in failures
    assert "test_grew" not in failures
    assert path.read_text() == text_of({
        "test_model.py::test_grew": {"Linear [4x64]": E40},
        "test_model.py::test_new": {"Linear [4x64]": E32},
        "test_model.py::test_renamed": {"Linear [4x64]": E32},
        "test_model.py::test_over": {"Linear [4x64]": E32},
    })


def test_partial_update_with_k_keeps_every_other_entry(pytester: pytest.Pytester) -> None:
    odd = {"convention": "matmul", "flops": 1, "macs": 2, "params": 3}
    before = {
        "test_model.py::test_grew": {"Linear [4x64]": E32},
        "test_model.py::test_new": {"Linear [4x64]": odd},  # deselected: stays as it is, however wrong
        "test_model.py::test_over": {"Linear [4x64]": E40},
        "test_gone.py::test_x": {"Linear [4x64]": odd},
    }
    path = write_baseline(pytester, before)
    result = run(pytester, UPDATING, "-k", "test_grew", "--flopbudget-baseline=b.json", "--flopbudget-update")
    result.assert_outcomes(passed=1, deselected=3)
    assert_block(result.outlines, [f"baseline {path} updated: 1 updated, 0 new, 0 removed",
                                   f"  updated test_model.py::test_grew Linear [4x64]: {UPDATED_32_TO_40}"])
    assert path.read_text() == text_of({**before, "test_model.py::test_grew": {"Linear [4x64]": E40}})


def test_update_of_one_test_by_node_id_keeps_the_other_tests_of_its_file(pytester: pytest.Pytester) -> None:
    # `pytest test_model.py::test_grew` collects only that test: the file's other tests are not gone.
    before = {"test_model.py::test_grew": {"Linear [4x64]": E32},
              "test_model.py::test_new": {"Linear [4x64]": E32},
              "test_model.py::test_renamed": {"Linear [4x64]": E32}}
    path = write_baseline(pytester, before)
    result = run(pytester, UPDATING, "test_model.py::test_grew", "--flopbudget-baseline=b.json",
                 "--flopbudget-update")
    result.assert_outcomes(passed=1)
    assert path.read_text() == text_of({**before, "test_model.py::test_grew": {"Linear [4x64]": E40}})
    assert not any(line.startswith("  removed ") for line in result.outlines), result.outlines


STOPPING = """
def test_fails_first(complexity):
    assert False, "before measuring"

def test_later(complexity):
    complexity.measure(nn.Linear(64, 40), X)
"""


def test_update_stopped_by_x_keeps_the_entries_of_tests_that_did_not_run(pytester: pytest.Pytester) -> None:
    before = {"test_model.py::test_fails_first": {"Linear [4x64]": E32},
              "test_model.py::test_later": {"Linear [4x64]": E32}}
    path = write_baseline(pytester, before)
    result = run(pytester, STOPPING, "-x", "--flopbudget-baseline=b.json", "--flopbudget-update")
    result.assert_outcomes(failed=1)
    assert f"baseline {path} is up to date" in result.outlines
    assert path.read_text() == text_of(before)


# --- conventions ---------------------------------------------------------------------------------------------------

CONVENTIONS = WIDTH + """
def test_same(complexity):
    complexity.measure(linear(), X)

def test_grows(complexity):
    complexity.measure(model(), X)
"""


def test_convention_mismatch_compares_macs_and_params_only(pytester: pytest.Pytester) -> None:
    path = pytester.path / "b.json"
    run(pytester, CONVENTIONS, "--flopbudget-baseline=b.json", "--flopbudget-update",
        "--flopbudget-convention=matmul").assert_outcomes(passed=2)
    matmul = {"convention": "matmul", "flops": 16384, "macs": 8192, "params": 2080}  # 2 * 8192, no bias adds
    assert path.read_text() == text_of({"test_model.py::test_same": {"Linear [4x64]": matmul},
                                        "test_model.py::test_grows": {"Linear [4x64]": matmul}})

    pytester.path.joinpath("width").write_text("40")
    result = run(pytester, CONVENTIONS, "--flopbudget-baseline=b.json")  # 'full' by default
    result.assert_outcomes(passed=1, failed=1)
    # test_same: 16384 ('matmul') against 16512 ('full') is no change: FLOPs are not compared.
    assert row(result, "test_same")[-2:] == ["=", "-"]
    assert row(result, "test_grows")[-3:] == ["+25.0%", "MACs", "GREW"]
    failures = failures_of(result)
    assert_block(failures.splitlines(), GROWTH_25[1:])
    assert "GFLOPs (" not in failures
    assert ("baseline entries written under the 'matmul' convention are compared on MACs and params only: this "
            "run counts FLOPs under 'full'") in result.outlines

    updated = run(pytester, CONVENTIONS, "--flopbudget-baseline=b.json", "--flopbudget-update")
    updated.assert_outcomes(passed=2)
    assert_block(updated.outlines, [
        f"baseline {path} updated: 2 updated, 0 new, 0 removed",
        ("  updated test_model.py::test_grows Linear [4x64]: flops 16,384 -> 20,640, macs 8,192 -> 10,240, "
         "params 2,080 -> 2,600, convention matmul -> full"),
        "  updated test_model.py::test_same Linear [4x64]: flops 16,384 -> 16,512, convention matmul -> full",
    ])
    assert path.read_text() == text_of({"test_model.py::test_same": {"Linear [4x64]": E32},
                                        "test_model.py::test_grows": {"Linear [4x64]": E40}})


# --- bad baseline files --------------------------------------------------------------------------------------------

GOOD_DOC = {"schema": SCHEMA, "schema_version": 1, "tests": {"test_model.py::test_grows": {"Linear [4x64]": E32}}}


def with_entry(**counts: Any) -> str:
    return json.dumps({**GOOD_DOC, "tests": {"test_model.py::test_grows": {"Linear [4x64]": {**E32, **counts}}}})


@pytest.mark.parametrize(("text", "message"), [
    ("{", "baseline {path} is not valid JSON: "),
    ("[]", "{path} is not a pytest-flopbudget baseline: schema is 'list'"),
    (json.dumps({**GOOD_DOC, "schema_version": 2}),
     "baseline {path} has schema_version 2; this pytest-flopbudget reads 1"),
    (with_entry(flops=-1), ("baseline {path}: test_model.py::test_grows Linear [4x64]: flops is -1; expected a "
                            "whole number, zero or more")),
    (with_entry(macs=8192.5), "baseline {path}: test_model.py::test_grows Linear [4x64]: macs is 8192.5; "),
    (with_entry(params="2080"), "baseline {path}: test_model.py::test_grows Linear [4x64]: params is '2080'; "),
    (with_entry(params=True), "params is True; "),
], ids=["not-json", "not-an-object", "schema-version", "negative", "fraction", "string", "bool"])
def test_a_bad_baseline_is_a_usage_error_naming_the_file(pytester: pytest.Pytester, text: str,
                                                         message: str) -> None:
    path = pytester.path / "b.json"
    path.write_text(text)
    result = run(pytester, GROWING, "--flopbudget-baseline=b.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = result.stderr.str()
    assert message.format(path=path) in errors
    assert str(path) in errors
    assert "(from command line)" in errors
    assert "passed" not in result.stdout.str()


def test_a_results_file_given_as_the_baseline_names_the_command_that_converts_it(pytester: pytest.Pytester) -> None:
    run(pytester, GROWING, "--flopbudget-json=m.json").assert_outcomes(passed=2)
    path = pytester.path / "m.json"
    result = run(pytester, GROWING, "--flopbudget-baseline=m.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (f"{path} is not a pytest-flopbudget baseline: schema is 'pytest-flopbudget', expected "
            f"'{SCHEMA}' (a --flopbudget-json report? make a baseline of it with: python -m pytest_flopbudget "
            f"baseline {path} -o baseline.json)") in result.stderr.str()


def test_a_directory_as_the_baseline_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.mkdir("b.json")
    result = run(pytester, GROWING, "--flopbudget-baseline=b.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (f"invalid --flopbudget-baseline 'b.json' from command line: {pytester.path / 'b.json'} is a directory; "
            "expected a file path") in result.stderr.str()


# --- warn mode -----------------------------------------------------------------------------------------------------

WARNED = """
@pytest.mark.flop_budget(max_gflops="10K")
def test_over():
    linear()(X)

def test_grew(complexity):
    complexity.measure(nn.Linear(64, 40), X)

@pytest.mark.flop_budget(max_gflops=1)
def test_nothing():
    pass

@pytest.mark.flop_budget(max_gflops=1)
def test_ok():
    linear()(X)
"""

WARNED_BASELINE = {"test_model.py::test_grew": {"Linear [4x64]": E32}, "test_model.py::test_ok": {"Linear [4x64]": E32}}


def location_line(pytester: pytest.Pytester, name: str) -> int:
    """Where pytest locates a test (its ``item.location``): the first line of its decorators, else its def."""
    lines = pytester.path.joinpath("test_model.py").read_text().splitlines()
    index = next(number for number, line in enumerate(lines) if line.startswith(f"def {name}("))
    while index > 0 and lines[index - 1].startswith("@"):
        index -= 1
    return index + 1


def warnings_section(output: str) -> str:
    assert "warnings summary" in output
    return output.split("warnings summary")[1].split("-- Docs:")[0]


def test_warn_mode_reports_each_failure_as_one_warning_at_its_test(pytester: pytest.Pytester) -> None:
    write_baseline(pytester, WARNED_BASELINE)
    result = run(pytester, WARNED, "--flopbudget-baseline=b.json", "--flopbudget-mode=warn")
    result.assert_outcomes(passed=4, warnings=3)
    assert result.ret == pytest.ExitCode.OK
    section = warnings_section(result.stdout.str())
    assert section.count("FlopBudgetWarning") == 3
    file = pytester.path / "test_model.py"
    for name, first in [("test_over", "Linear: 1.65e-05 GFLOPs > max_gflops=1e-05 (+65%)"),
                        ("test_grew", GROWTH_25[0]),
                        ("test_nothing", "flop_budget(max_gflops=1) checked nothing: the test ran no model forward.")]:
        # Where exactly: test_warn_mode_locates_each_warning_at_its_test.
        assert re.search(rf"^  {re.escape(str(file))}:\d+: FlopBudgetWarning: test_model.py::{name}: "
                         rf"{re.escape(first)}$", section, re.MULTILINE), name
    assert "test_ok" not in section
    assert "mode warn (command line): overruns and growth are reported, no test fails" in result.outlines
    assert row(result, "test_over")[-1] == "OVER"
    assert row(result, "test_grew")[-2:] == ["+25.0%", "GREW"]
    assert row(result, "test_ok")[-2:] == ["=", "ok"]
    assert "FAILURES" not in result.stdout.str()


def test_warn_mode_locates_each_warning_at_its_test(pytester: pytest.Pytester) -> None:
    # A warning is located where pytest locates the test: its first decorator line, else its def line.
    write_baseline(pytester, WARNED_BASELINE)
    result = run(pytester, WARNED, "--flopbudget-baseline=b.json", "--flopbudget-mode=warn")
    section = warnings_section(result.stdout.str())
    for name in ("test_over", "test_grew", "test_nothing"):
        assert f"test_model.py:{location_line(pytester, name)}: FlopBudgetWarning: test_model.py::{name}: " in section


@pytest.mark.parametrize(("ini", "pyproject", "origin"), [
    ("flopbudget_mode = warn", None, "ini"),
    (None, 'mode = "warn"', "pyproject.toml [tool.flopbudget]"),
    ("flopbudget_mode = warn", 'mode = "fail"', "ini"),
], ids=["ini", "pyproject", "ini-over-pyproject"])
def test_warn_mode_from_config(pytester: pytest.Pytester, ini: str | None, pyproject: str | None,
                               origin: str) -> None:
    write_baseline(pytester, WARNED_BASELINE)
    if ini is not None:
        pytester.makeini(f"[pytest]\n{ini}\n")
    if pyproject is not None:
        pytester.makepyprojecttoml(f"[tool.flopbudget]\n{pyproject}\nbaseline = \"b.json\"\n")
        args: tuple[str, ...] = ()
    else:
        args = ("--flopbudget-baseline=b.json",)
    result = run(pytester, WARNED, *args)
    result.assert_outcomes(passed=4, warnings=3)
    assert f"mode warn ({origin}): overruns and growth are reported, no test fails" in result.outlines


def test_warn_mode_under_w_error_fails_each_test(pytester: pytest.Pytester) -> None:
    write_baseline(pytester, WARNED_BASELINE)
    result = run(pytester, WARNED, "--flopbudget-baseline=b.json", "--flopbudget-mode=warn", "-W", "error")
    result.assert_outcomes(passed=1, failed=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    failures = failures_of(result)
    for name in ("test_over", "test_grew", "test_nothing"):
        assert f"FlopBudgetWarning: test_model.py::{name}: " in failures
    assert row(result, "test_grew")[-2:] == ["+25.0%", "GREW"]


def test_warn_mode_warning_can_be_ignored_by_class(pytester: pytest.Pytester) -> None:
    write_baseline(pytester, WARNED_BASELINE)
    result = run(pytester, WARNED, "--flopbudget-baseline=b.json", "--flopbudget-mode=warn",
                 "-W", "ignore::pytest_flopbudget.failures.FlopBudgetWarning")
    result.assert_outcomes(passed=4)
    assert "FlopBudgetWarning" not in result.stdout.str()
    assert "warnings summary" not in result.stdout.str()
    assert row(result, "test_over")[-1] == "OVER"  # the summary still tells


@pytest.mark.parametrize(("ini", "args", "message"), [
    (None, ("--flopbudget-mode=loud",),
     "invalid --flopbudget-mode 'loud' from command line: expected one of fail, warn"),
    ("flopbudget_mode = Warn", (), "invalid flopbudget_mode 'Warn' from ini: expected one of fail, warn"),
], ids=["cli", "ini"])
def test_a_bad_mode_is_a_usage_error(pytester: pytest.Pytester, ini: str | None, args: tuple[str, ...],
                                     message: str) -> None:
    if ini is not None:
        pytester.makeini(f"[pytest]\n{ini}\n")
    result = run(pytester, WARNED, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
