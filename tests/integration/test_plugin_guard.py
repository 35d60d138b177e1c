"""A green run means the models fit: a budget cannot be bypassed by threads, count(), torch.compile or -W error.

Counts used below, derived by hand: ``nn.Linear(64, 32)`` on a ``(4, 64)`` input does 4 * 64 * 32 = 8192
MACs; under ``full`` that is 2 * 8192 + 4 * 32 bias adds = 16512 FLOPs. It has 64 * 32 + 32 = 2080 params.
"""

from __future__ import annotations

import json

import pytest
from plugin_support import run

BUSY_THREAD = """
import threading

class Busy:
    def __init__(self):
        self.model = nn.Sequential(nn.Linear(128, 128), nn.Tanh(), nn.Linear(128, 128))
        self.stop = threading.Event()
        self.errors = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        x = torch.randn(2, 128)
        try:
            while not self.stop.is_set():
                self.model(x)
        except BaseException as error:
            self.errors.append(error)

@pytest.fixture(scope="module")
def busy():
    background = Busy()
    background.thread.start()
    yield background
    background.stop.set()
    background.thread.join()
    assert background.errors == []
"""


def test_a_busy_thread_beside_marked_tests_cannot_make_them_pass(pytester: pytest.Pytester) -> None:
    result = run(pytester, BUSY_THREAD + """
@pytest.mark.parametrize("attempt", range(10))
@pytest.mark.flop_budget(max_gmacs="8.191K")
def test_over(busy, attempt):
    linear()(X)

@pytest.mark.parametrize("attempt", range(10))
@pytest.mark.flop_budget(max_gmacs="8.192K")
def test_exactly_at_budget(busy, attempt):
    linear()(X)

def test_background_thread_is_healthy(busy):
    assert busy.errors == []
""", "--flopbudget-json=out.json")
    result.assert_outcomes(failed=10, passed=11)
    output = result.stdout.str()
    assert "checked nothing" not in output
    assert "mode stack" not in output
    document = json.loads((pytester.path / "out.json").read_text())
    rows = [(m["test_id"].split("[")[0], m["report"]["model"], m["report"]["macs"]) for m in document["measurements"]]
    assert rows == [("test_model.py::test_over", "Linear", 8192)] * 10 + \
        [("test_model.py::test_exactly_at_budget", "Linear", 8192)] * 10


def test_branches_in_a_thread_pool_are_watched(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
import concurrent.futures

class Branches(nn.Module):
    def __init__(self):
        super().__init__()
        self.branches = nn.ModuleList([nn.Linear(64, 32), nn.Linear(64, 32)])
        self.pool = concurrent.futures.ThreadPoolExecutor(2)

    def forward(self, x):
        return torch.cat(list(self.pool.map(lambda branch: branch(x), self.branches)), -1)

@pytest.mark.flop_budget(max_gmacs="16.383K")   # two branches of 8192 MACs
def test_over():
    Branches()(X)

@pytest.mark.flop_budget(max_gmacs="16.384K")
def test_fits():
    Branches()(X)
""")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*Branches: 1.64e-05 GMACs > max_gmacs=1.64e-05*"])


def test_count_in_a_marked_test_is_recorded_and_checked(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
from pytest_flopbudget import count

@pytest.mark.flop_budget(max_gmacs="8.191K")
def test_count_over():
    count(linear(), X)

@pytest.mark.flop_budget(max_gmacs="8.192K")
def test_count_fits(complexity):
    report = count(linear(), X, convention="matmul")
    assert report.flops == 16384
    assert [r.flops for r in complexity.reports] == [16512]  # recorded in the session's convention

@pytest.mark.flop_budget(max_gmacs="8.192K")
def test_measure_is_recorded_once(complexity):
    complexity.measure(linear(), X)
    assert len(complexity.reports) == 1
""", "--flopbudget-json=out.json")
    result.assert_outcomes(failed=1, passed=2)
    result.stdout.fnmatch_lines(["*Linear: 8.19e-06 GMACs > max_gmacs=8.19e-06*"])
    assert "checked nothing" not in result.stdout.str()
    document = json.loads((pytester.path / "out.json").read_text())
    assert [(m["test_id"].split("::")[1], m["source"], m["report"]["macs"]) for m in document["measurements"]] == [
        ("test_count_over", "count", 8192), ("test_count_fits", "count", 8192),
        ("test_measure_is_recorded_once", "fixture", 8192)]


def test_a_compiled_model_passes_marked_under_warnings_as_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_model="""
import pytest
import torch
from torch import nn

def compiled():
    torch._dynamo.reset()
    torch.manual_seed(0)
    return torch.compile(nn.Linear(64, 32), backend="eager")

X = torch.randn(4, 64)

def test_unmarked():
    compiled()(X)

@pytest.mark.flop_budget(max_gmacs="8.192K")
def test_marked_fits():
    compiled()(X)

@pytest.mark.flop_budget(max_gmacs="8.191K")
def test_marked_over():
    compiled()(X)
""")
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*_ test_marked_over _*", "Linear: 8.19e-06 GMACs > max_gmacs=8.19e-06*"])


def test_disabled_plugin_still_fills_complexity_reports(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
from pytest_flopbudget import count

@pytest.mark.flop_budget(max_gmacs=1e-9)
def test_reads_watched_report(complexity):
    linear()(X)
    count(linear(), X)
    assert [r.macs for r in complexity.reports] == [8192, 8192]
""", "--flopbudget-disable")
    result.assert_outcomes(passed=1)


def test_measuring_nothing_is_its_own_failure_and_not_an_expected_overrun(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
from pytest_flopbudget import FlopBudgetExceeded

@pytest.mark.xfail(strict=True, raises=FlopBudgetExceeded, reason="expects an overrun")
@pytest.mark.flop_budget(max_gmacs="1K")
def test_expects_overrun_but_runs_nothing():
    pass

@pytest.mark.xfail(strict=True, raises=FlopBudgetExceeded, reason="expects an overrun")
@pytest.mark.flop_budget(max_gmacs="1K")
def test_expects_overrun_and_overruns():
    linear()(X)
""")
    result.assert_outcomes(failed=1, xfailed=1)
    result.stdout.fnmatch_lines(["FAILED test_model.py::test_expects_overrun_but_runs_nothing - NothingMeasured*"])


def test_compiled_functions_in_marked_tests_are_measured_under_warnings_as_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_model="""
import pytest
import torch
from torch import nn

torch.manual_seed(0)
backbone = nn.Linear(64, 32)
X = torch.randn(4, 64)

@pytest.fixture(scope="module")
def compiled():
    torch._dynamo.reset()
    function = torch.compile(lambda x: backbone(x), backend="eager")
    function(X)                                  # compiled and warmed outside the test
    return function

def test_unmarked(compiled):
    compiled(X)

@pytest.mark.flop_budget(max_gmacs="8.192K")
def test_marked_fits(compiled):
    compiled(X)

@pytest.mark.flop_budget(max_gmacs="8.191K")
def test_marked_over(compiled):
    compiled(X)

@pytest.mark.flop_budget(max_gmacs="8.192K")
def test_module_compile_in_place():
    model = nn.Linear(64, 32)
    model.compile(backend="eager")
    model(X)
""")
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*_ test_marked_over _*", "Linear: 8.19e-06 GMACs > max_gmacs=8.19e-06*"])
