"""What a session reports, stated once and checked without pytest-xdist, with ``-n 0`` and with ``-n 2``
(the ``session_runner`` fixture of conftest.py): README.md, "pytest-xdist": workers measure, the controller
reports, and failures, the summary, the JSON file and the baseline are the same. Also pytest-rerunfailures, the
real one (tests/plugin_support.py's RERUN_EVERY_TEST simulates it in-process): only the last attempt counts.

Every number is derived by hand:

- ``nn.Linear(64, 32)`` on ``rows`` x 64: rows * 64 * 32 MACs, 2 * MACs + rows * 32 bias adds FLOPs ('full'),
  64 * 32 + 32 = 2080 params. On 4 x 64: 8192 MACs, 16512 FLOPs; 1 x 64: 2048 and 4128; 2 x 64: 4096 and 8256;
  3 x 64: 6144 and 12384.
- ``nn.Linear(64, 40)`` on 4 x 64: 4 * 64 * 40 = 10240 MACs, 2 * 10240 + 160 = 20640 FLOPs, 64 * 40 + 40 = 2600
  params: +25% on every count against Linear(64, 32) (20640 / 16512 = 10240 / 8192 = 2600 / 2080 = 1.25).
- ``nn.Linear(64, 30)`` on 4 x 64: 7680 MACs, 2 * 7680 + 120 = 15480 FLOPs, 64 * 30 + 30 = 1950 params: -6.25% on
  every count, which ``format(-6.25, "+.1f")`` rounds (half to even) to "-6.2".

Short forms (3 significant digits): 16512 FLOPs = 1.65e-05 GFLOPs, 20640 = 2.06e-05, 15480 = 1.55e-05, 4128 =
4.13e-06, 8256 = 8.26e-06, 12384 = 1.24e-05; 8192 MACs = 8.19e-06 GMACs, 10240 = 1.02e-05, 7680 = 7.68e-06, 2048 =
2.05e-06, 4096 = 4.1e-06, 6144 = 6.14e-06; 2080 params = 2.08K, 2600 = 2.60K, 1950 = 1.95K.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
from baseline_support import E30, E32, E40, text_of
from plugin_support import failures_section
from torch import nn

from pytest_flopbudget import count

#: conftest.py's ``session_runner``: ``(pytester, source, *args) -> RunResult``, in one of three modes.
SessionRunner = Callable[..., pytest.RunResult]

#: One test of every kind the summary tells apart: within budget, over budget, measured without a budget
#: (``complexity.measure`` in an unmarked test), skipped after measuring, failed on its own while over budget,
#: an expected overrun, and parameters spread over the workers, each watching one forward and measuring one.
SESSION = """
@pytest.mark.flop_budget(max_gflops=1)
def test_ok():
    linear()(X)

@pytest.mark.flop_budget(max_params=2000)
def test_over():
    linear()(X)

def test_unbudgeted(complexity):
    torch.manual_seed(0)
    complexity.measure(nn.Linear(64, 40), X)

@pytest.mark.flop_budget(max_params=1040)
def test_skipped():
    linear()(X)
    pytest.skip("no reference output here")

@pytest.mark.flop_budget(max_gflops="10K")
def test_broken():
    linear()(X)
    assert False, "the test's own failure"

@pytest.mark.xfail(strict=True, reason="over on purpose")
@pytest.mark.flop_budget(max_gmacs="8K")
def test_xfailed():
    linear()(X)

@pytest.mark.parametrize("rows", [1, 2, 3])
@pytest.mark.flop_budget(max_gmacs=1)
def test_rows(rows, complexity):
    linear()(torch.randn(rows, 64))
    complexity.measure(linear(), torch.randn(rows, 64))
"""

OUTCOMES = {"passed": 5, "failed": 2, "skipped": 1, "xfailed": 1}


def summary_rows(result: pytest.RunResult) -> list[str]:
    """The flop budget summary from its convention line to its totals row."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"=+ flop budget =+", line))
    end = next(i for i, line in enumerate(lines) if i > start and line.startswith("total "))
    return lines[start + 1:end + 1]


def failures_by_test(result: pytest.RunResult) -> dict[str, list[str]]:
    """Each failure of the FAILURES section (headed ``___ name ___``) and its lines, up to the flop budget
    summary; xdist's ``[gw0] linux -- Python ...`` line is left out."""
    text = re.split(r"=+ flop budget =+", failures_section(result.stdout.str()))[0]
    failures: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in text.splitlines():
        header = re.fullmatch(r"_+ (\S+) _+", line)
        if header:
            lines = failures.setdefault(header.group(1), [])
        elif failures and not line.startswith("[gw"):
            lines.append(line)
    return failures


def plugin_lines(lines: list[str]) -> list[str]:
    """The lines the plugin writes into a failure: violations, the budget, growth and its hint."""
    return [line for line in lines if line.startswith(("Linear: ", "(budget: ", "(if the growth"))]


# --- (a, b) the summary and the failures ---------------------------------------------------------------------------

#: Rows in collection order, whichever worker ran the test. Shares: test_over 2080 / 2000 = 104%; test_skipped
#: 2080 / 1040 = 200% (not enforced); test_broken 16512 / 10000 = 165%; test_xfailed 8192 / 8000 = 102%; test_ok and
#: test_rows use well under 1% of 1 GFLOP or 1 GMAC. Totals: 12 measurements, 3 over (test_over, test_broken,
#: test_xfailed) / 10 checked (test_unbudgeted has no budget), 1 skipped; FLOPs 5 * 16512 + 20640 + 2 * (4128 + 8256
#: + 12384) = 152736 = 0.000153 G; MACs 5 * 8192 + 10240 + 2 * (2048 + 4096 + 6144) = 75776 = 7.58e-05 G.
SUMMARY = """\
FLOPs follow the 'full' convention (default): 2 x MACs, plus 1 per bias add, plus documented per-element work
test                            model            inputs    GFLOPs     GMACs  params  budget            share  status
------------------------------  ---------------  ------  --------  --------  ------  ----------------  -----  ------------------------------
test_model.py::test_ok          Linear           4x64    1.65e-05  8.19e-06   2.08K  max_gflops=1         0%  ok
test_model.py::test_over        Linear           4x64    1.65e-05  8.19e-06   2.08K  max_params=2K      104%  OVER
test_model.py::test_unbudgeted  Linear           4x64    2.06e-05  1.02e-05   2.60K  -                     -  -
test_model.py::test_skipped     Linear           4x64    1.65e-05  8.19e-06   2.08K  max_params=1.04K   200%  skipped
test_model.py::test_broken      Linear           4x64    1.65e-05  8.19e-06   2.08K  max_gflops=1e-05   165%  OVER
test_model.py::test_xfailed     Linear           4x64    1.65e-05  8.19e-06   2.08K  max_gmacs=8e-06    102%  OVER
test_model.py::test_rows[1]     Linear           1x64    4.13e-06  2.05e-06   2.08K  max_gmacs=1          0%  ok
test_model.py::test_rows[1]     Linear           1x64    4.13e-06  2.05e-06   2.08K  max_gmacs=1          0%  ok
test_model.py::test_rows[2]     Linear           2x64    8.26e-06   4.1e-06   2.08K  max_gmacs=1          0%  ok
test_model.py::test_rows[2]     Linear           2x64    8.26e-06   4.1e-06   2.08K  max_gmacs=1          0%  ok
test_model.py::test_rows[3]     Linear           3x64    1.24e-05  6.14e-06   2.08K  max_gmacs=1          0%  ok
test_model.py::test_rows[3]     Linear           3x64    1.24e-05  6.14e-06   2.08K  max_gmacs=1          0%  ok
------------------------------  ---------------  ------  --------  --------  ------  ----------------  -----  ------------------------------
total                           12 measurements          0.000153  7.58e-05                                   3 over / 10 checked, 1 skipped
"""  # noqa: E501


def test_the_summary_and_the_failures_are_the_same_in_every_mode(pytester: pytest.Pytester,
                                                                 session_runner: SessionRunner) -> None:
    result = session_runner(pytester, SESSION)
    result.assert_outcomes(**OUTCOMES)
    assert result.stdout.str().count("= flop budget =") == 1  # printed once: by the controller, never by a worker
    assert summary_rows(result) == SUMMARY.splitlines()

    failures = failures_by_test(result)
    # Under xdist a failure is reported when its worker finishes it: the same failures, not necessarily in order.
    assert sorted(failures) == ["test_broken", "test_over"]
    # An overrun alone: the violation (2080 > 2000 params, +4%), then the budget.
    assert [line for line in failures["test_over"] if line.strip()] == [
        "Linear: 2.08K params > max_params=2.00K (+4%)",
        "(budget: max_params=2K; FLOPs follow the 'full' convention)",
    ]
    # The test's own failure first, then a flop budget section with the overrun (16512 > 10000 FLOPs, +65%).
    broken = failures["test_broken"]
    own = broken.index("E       AssertionError: the test's own failure")
    section = next(i for i, line in enumerate(broken) if re.fullmatch(r"-+ flop budget -+", line))
    assert own < section
    assert broken[section + 1:section + 3] == [
        "Linear: 1.65e-05 GFLOPs > max_gflops=1e-05 (+65%)",
        "(budget: max_gflops=1e-05; FLOPs follow the 'full' convention)",
    ]
    # Each budget line once (counted before the short summary, which CI=true fills with the messages): not repeated
    # by a worker, and the skipped and xfailed tests' overruns are no failures.
    text = failures_section(result.stdout.str())
    assert sorted(plugin_lines(text.splitlines())) == sorted(plugin_lines(failures["test_over"] + broken))
    for line in plugin_lines(text.splitlines()):
        assert text.count(line) == 1, line
    # The short summary cuts a message to the terminal's width, except under CI=true, which prints it whole.
    assert sorted(line.split(" - ")[0] for line in result.outlines if line.startswith("FAILED ")) == [
        "FAILED test_model.py::test_broken", "FAILED test_model.py::test_over"]
    short = [line for line in result.outlines if line.startswith("FAILED test_model.py::test_over - ")]
    assert short[0].startswith("FAILED test_model.py::test_over - FlopBudgetExceeded: Linear: 2.08K params > ")


# --- (c) the JSON file ---------------------------------------------------------------------------------------------


def linear_report(out: int, rows: int, flops: int, macs: int, params: int) -> dict[str, Any]:
    """``count()``'s report of the session's ``nn.Linear(64, out)`` on ``rows`` x 64, its counts checked against
    the ones derived by hand."""
    torch.manual_seed(0)
    report = count(nn.Linear(64, out), torch.randn(rows, 64)).to_dict()
    assert (report["flops"], report["macs"], report["params"]) == (flops, macs, params)
    return report


def measurement(test: str, position: int, source: str, status: str, budget: dict[str, float] | None,
                share: float | None, violations: list[dict[str, Any]], key: str,
                report: dict[str, Any]) -> dict[str, Any]:
    return {"test_id": f"test_model.py::{test}", "position": position, "source": source, "status": status,
            "budget": budget, "share": share, "violations": violations, "extra": {}, "key": key, "baseline": None,
            "report": report}


def violation(argument: str, measured: float, limit: float, text: str) -> dict[str, Any]:
    return {"argument": argument, "measured": measured, "limit": limit, "text": text, "label": "Linear"}


def expected_document() -> dict[str, Any]:
    """SESSION's --flopbudget-json document, but for "created" and "environment"."""
    r32 = linear_report(32, 4, flops=16512, macs=8192, params=2080)
    r40 = linear_report(40, 4, flops=20640, macs=10240, params=2600)
    rows = {1: linear_report(32, 1, flops=4128, macs=2048, params=2080),
            2: linear_report(32, 2, flops=8256, macs=4096, params=2080),
            3: linear_report(32, 3, flops=12384, macs=6144, params=2080)}
    ids = ["test_ok", "test_over", "test_unbudgeted", "test_skipped", "test_broken", "test_xfailed",
           "test_rows[1]", "test_rows[2]", "test_rows[3]"]
    measurements = [
        measurement("test_ok", 0, "watch", "ok", {"max_gflops": 1.0}, 16512 / 1e9, [], "Linear [4x64]", r32),
        measurement("test_over", 1, "watch", "over", {"max_params": 2000.0}, 2080 / 2000,
                    [violation("max_params", 2080.0, 2000.0, "Linear: 2.08K params > max_params=2.00K (+4%)")],
                    "Linear [4x64]", r32),
        measurement("test_unbudgeted", 2, "fixture", "unchecked", None, None, [], "Linear [4x64]", r40),
        # Skipped: the overrun (2080 > 1040 params) is kept, not counted.
        measurement("test_skipped", 3, "watch", "skipped", {"max_params": 1040.0}, 2080 / 1040,
                    [violation("max_params", 2080.0, 1040.0, "Linear: 2.08K params > max_params=1.04K (+100%)")],
                    "Linear [4x64]", r32),
        measurement("test_broken", 4, "watch", "over", {"max_gflops": 1e-05}, 16512 / 10000,
                    [violation("max_gflops", 16512.0, 10000.0, "Linear: 1.65e-05 GFLOPs > max_gflops=1e-05 (+65%)")],
                    "Linear [4x64]", r32),
        measurement("test_xfailed", 5, "watch", "over", {"max_gmacs": 8e-06}, 8192 / 8000,
                    [violation("max_gmacs", 8192.0, 8000.0, "Linear: 8.19e-06 GMACs > max_gmacs=8e-06 (+2%)")],
                    "Linear [4x64]", r32),
    ]
    for position, n in enumerate(rows, start=6):
        # The watched forward, then complexity.measure on the same shapes: the second of a key gets " #2".
        for key, source in ((f"Linear [{n}x64]", "watch"), (f"Linear [{n}x64] #2", "fixture")):
            measurements.append(measurement(f"test_rows[{n}]", position, source, "ok", {"max_gmacs": 1.0},
                                            rows[n]["macs"] / 1e9, [], key, rows[n]))
    outcomes = {"test_ok": "passed", "test_over": "over", "test_unbudgeted": "passed", "test_skipped": "skipped",
                "test_broken": "failed", "test_xfailed": "xfailed", **{f"test_rows[{n}]": "passed" for n in rows}}
    return {
        "schema": "pytest-flopbudget",
        "schema_version": 1,
        "disabled": False,
        "totals": {"measurements": 12, "over": 3, "unchecked": 1, "skipped": 1, "grew": 0, "unmatched": 0, "new": 0,
                   "flops": 152736, "macs": 75776},
        "settings": {"watch": "marked", "mode": "fail", "baseline": None, "tolerance": 0.0, "update": False},
        "lost_workers": [],
        "tests": {f"test_model.py::{name}": outcome for name, outcome in outcomes.items()},
        "collected": sorted(f"test_model.py::{name}" for name in ids),
        "extra": {},  # the pytest_flopbudget_json_document hook's fields: no conftest gives any
        "measurements": measurements,
    }


def test_the_json_file_is_the_same_in_every_mode(pytester: pytest.Pytester, session_runner: SessionRunner) -> None:
    result = session_runner(pytester, SESSION, "--flopbudget-json=m.json")
    result.assert_outcomes(**OUTCOMES)
    document = json.loads(pytester.path.joinpath("m.json").read_text())
    # Only these two may differ from run to run (a timestamp, and the versions the process runs).
    assert isinstance(document.pop("created"), str)
    assert document.pop("environment")["convention"] == "full"
    expected = expected_document()
    assert {**document, "tests": None} == {**expected, "tests": None}
    # README.md, "JSON output": a test's outcome is passed, failed (on its own), over (failed by the plugin only),
    # skipped or xfailed; test_xfailed is reported xfailed by pytest (its overrun was expected).
    assert document["tests"] == expected["tests"]


# --- (d) the baseline ----------------------------------------------------------------------------------------------

BASELINE_SESSION = """
@pytest.mark.flop_budget(max_gflops=1)
def test_same():
    linear()(X)

@pytest.mark.flop_budget(max_gflops=1)
def test_grown():
    torch.manual_seed(0)
    nn.Linear(64, 40)(X)

def test_shrunk(complexity):
    torch.manual_seed(0)
    complexity.measure(nn.Linear(64, 30), X)

def test_new(complexity):
    complexity.measure(linear(), X)
"""


def summary_block(result: pytest.RunResult) -> list[str]:
    """The flop budget summary, table and notes, up to the next ``====`` line."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"=+ flop budget =+", line))
    end = next(i for i, line in enumerate(lines) if i > start and line.startswith("==="))
    return lines[start + 1:end]


#: Baseline column: =, +25.0% on every count (GREW: within its budget, over the baseline), -6.2% (shrank), new.
#: Totals: FLOPs 16512 + 20640 + 15480 + 16512 = 69144 = 6.91e-05 G, MACs 8192 + 10240 + 7680 + 8192 = 34304; the two
#: marked tests are checked, none over budget. Then the notes: shrank, new, and test_gone's entry, unused.
COMPARED = """\
FLOPs follow the 'full' convention (default): 2 x MACs, plus 1 per bias add, plus documented per-element work
test                        model           inputs    GFLOPs     GMACs  params  budget        share  baseline  status
--------------------------  --------------  ------  --------  --------  ------  ------------  -----  --------  ------------------
test_model.py::test_same    Linear          4x64    1.65e-05  8.19e-06   2.08K  max_gflops=1     0%         =  ok
test_model.py::test_grown   Linear          4x64    2.06e-05  1.02e-05   2.60K  max_gflops=1     0%    +25.0%  GREW
test_model.py::test_shrunk  Linear          4x64    1.55e-05  7.68e-06   1.95K  -                 -     -6.2%  -
test_model.py::test_new     Linear          4x64    1.65e-05  8.19e-06   2.08K  -                 -       new  -
--------------------------  --------------  ------  --------  --------  ------  ------------  -----  --------  ------------------
total                       4 measurements          6.91e-05  3.43e-05                                         0 over / 2 checked
1 measurement shrank below the baseline; record with {command}:
  test_model.py::test_shrunk Linear [4x64]: -6.2%
1 measurement new (not in the baseline); add with {command}:
  test_model.py::test_new Linear [4x64]
1 baseline entry no test of this run produced; remove with {command}:
  test_model.py::test_gone Linear [4x64]
"""  # noqa: E501


def test_the_baseline_is_the_same_in_every_mode(pytester: pytest.Pytester, session_runner: SessionRunner) -> None:
    path = pytester.path / "b.json"
    # Recorded from Linear(64, 32) everywhere; test_gone no longer exists (its file is collected, it is not).
    path.write_text(text_of({f"test_model.py::{name}": {"Linear [4x64]": E32}
                             for name in ("test_same", "test_grown", "test_shrunk", "test_gone")}))
    command = f"pytest --flopbudget-baseline={path} --flopbudget-update"

    compared = session_runner(pytester, BASELINE_SESSION, "--flopbudget-baseline=b.json")
    compared.assert_outcomes(passed=3, failed=1)
    # test_grown is within its budget and 25% over the baseline on every count: GREW, and it fails.
    assert failures_by_test(compared) == {"test_grown": [
        "Linear: 1.65e-05 -> 2.06e-05 GFLOPs (+25.0%) over the baseline (tolerance 0%)",
        "Linear: 8.19e-06 -> 1.02e-05 GMACs (+25.0%) over the baseline (tolerance 0%)",
        "Linear: 2.08K -> 2.60K params (+25.0%) over the baseline (tolerance 0%)",
        f"(if the growth is intended, record it: {command})",
    ]}
    assert summary_block(compared) == COMPARED.format(command=command).splitlines()
    assert path.read_text() == text_of({f"test_model.py::{name}": {"Linear [4x64]": E32}
                                        for name in ("test_same", "test_grown", "test_shrunk", "test_gone")})

    updated = session_runner(pytester, BASELINE_SESSION, "--flopbudget-baseline=b.json", "--flopbudget-update")
    updated.assert_outcomes(passed=4)  # growth does not fail an update
    # The same table (the update compares first), then what it wrote instead of the notes.
    assert summary_block(updated) == COMPARED.format(command=command).splitlines()[:9] + [
        f"baseline {path} updated: 2 updated, 1 new, 1 removed",
        "  updated test_model.py::test_grown Linear [4x64]: flops 16,512 -> 20,640, macs 8,192 -> 10,240, "
        "params 2,080 -> 2,600",
        "  updated test_model.py::test_shrunk Linear [4x64]: flops 16,512 -> 15,480, macs 8,192 -> 7,680, "
        "params 2,080 -> 1,950",
        "  new test_model.py::test_new Linear [4x64]",
        "  removed test_model.py::test_gone Linear [4x64]",
    ]
    # The exact text: what the run measured, test_gone dropped.
    assert path.read_text() == text_of({"test_model.py::test_grown": {"Linear [4x64]": E40},
                                        "test_model.py::test_new": {"Linear [4x64]": E32},
                                        "test_model.py::test_same": {"Linear [4x64]": E32},
                                        "test_model.py::test_shrunk": {"Linear [4x64]": E30}})


# --- pytest-rerunfailures: only the last attempt counts ------------------------------------------------------------

#: Each test knows its first attempt by a file it leaves behind (under xdist a rerun may run in any worker).
RERUN = """
import pathlib

def first_attempt(name):
    marker = pathlib.Path(name)
    first = not marker.exists()
    marker.write_text("attempted")
    return first

@pytest.mark.flop_budget(max_params=2300)
def test_over_then_fits():
    torch.manual_seed(0)
    nn.Linear(64, 40 if first_attempt("attempted_a") else 32)(X)

@pytest.mark.flop_budget(max_params=2300)
def test_fits_then_over():
    first = first_attempt("attempted_b")
    torch.manual_seed(0)
    nn.Linear(64, 32 if first else 40)(X)
    assert not first, "the first attempt fails on its own"
"""


RERUN_SUMMARY = """\
test                                model           inputs    GFLOPs     GMACs  params  budget           share  status
----------------------------------  --------------  ------  --------  --------  ------  ---------------  -----  ------------------
test_model.py::test_over_then_fits  Linear          4x64    1.65e-05  8.19e-06   2.08K  max_params=2.3K    90%  ok
test_model.py::test_fits_then_over  Linear          4x64    2.06e-05  1.02e-05   2.60K  max_params=2.3K   113%  OVER
----------------------------------  --------------  ------  --------  --------  ------  ---------------  -----  ------------------
total                               2 measurements          3.72e-05  1.84e-05                                  1 over / 2 checked
"""  # noqa: E501


def test_a_rerun_reports_only_its_last_attempt(pytester: pytest.Pytester, session_runner: SessionRunner) -> None:
    pytest.importorskip("pytest_rerunfailures")
    result = session_runner(pytester, RERUN, "--reruns", "1", "--flopbudget-json=m.json")
    # test_over_then_fits: 2600 params > 2300 (over), then 2080 (fits): passes. test_fits_then_over: 2080 params but
    # its own failure, then 2600 > 2300: over.
    assert result.parseoutcomes() == {"passed": 1, "failed": 1, "rerun": 2}
    # Shares 2080 / 2300 = 90% and 2600 / 2300 = 113%; FLOPs 16512 + 20640 = 37152, MACs 8192 + 10240 = 18432.
    assert summary_rows(result)[1:] == RERUN_SUMMARY.splitlines()
    failures = failures_by_test(result)
    assert list(failures) == ["test_fits_then_over"]
    assert plugin_lines(failures["test_fits_then_over"]) == [
        "Linear: 2.60K params > max_params=2.30K (+13%)",
        "(budget: max_params=2.3K; FLOPs follow the 'full' convention)",
    ]
    # Neither first attempt is a failure: not test_fits_then_over's own, nor test_over_then_fits' overrun (the
    # same line as the second attempt's of test_fits_then_over, so once).
    text = failures_section(result.stdout.str())
    assert "the first attempt fails on its own" not in text
    assert text.count("Linear: 2.60K params > max_params=2.30K (+13%)") == 1
    document = json.loads(pytester.path.joinpath("m.json").read_text())
    assert document["tests"] == {"test_model.py::test_over_then_fits": "passed",
                                 "test_model.py::test_fits_then_over": "over"}
    assert [(m["test_id"], m["status"], m["report"]["params"], m["key"]) for m in document["measurements"]] == [
        ("test_model.py::test_over_then_fits", "ok", 2080, "Linear [4x64]"),
        ("test_model.py::test_fits_then_over", "over", 2600, "Linear [4x64]"),
    ]
    assert document["totals"] == {"measurements": 2, "over": 1, "unchecked": 0, "skipped": 0, "grew": 0,
                                  "unmatched": 0, "new": 0, "flops": 37152, "macs": 18432}
