"""The end-of-session ``flop budget`` summary."""

from __future__ import annotations

import pytest
from plugin_support import run

SESSION = """
class Sorted(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 32)

    def forward(self, x):
        return torch.sort(self.fc(x)).values    # aten.sort has no formula: reported, not counted

@pytest.mark.flop_budget(max_gflops="33.024K", max_params=4160)
def test_half_of_budget():
    linear()(X)

@pytest.mark.xfail(strict=True, reason="over on purpose")
@pytest.mark.flop_budget(max_params=1040)
def test_twice_the_budget():
    linear()(X)

def test_unbudgeted(complexity):
    complexity.measure(Sorted(), X)
"""


def test_summary_has_a_row_per_measurement_and_a_total(pytester: pytest.Pytester) -> None:
    result = run(pytester, SESSION)
    result.assert_outcomes(passed=2, xfailed=1)
    result.stdout.fnmatch_lines([
        "*= flop budget =*",
        "FLOPs follow the 'full' convention (default): 2 x MACs, plus 1 per bias add, plus documented per-element work",
        "test * model * inputs * GFLOPs * GMACs * params * budget * share * status",
        "---*",
        "test_model.py::test_half_of_budget * Linear * 4x64 * 1.65e-05 * 8.19e-06 * 2.08K * "
        "max_gflops=3.3024e-05, max_params=4.16K * 50% * ok",
        "test_model.py::test_twice_the_budget * Linear * 4x64 * 1.65e-05 * 8.19e-06 * 2.08K * max_params=1.04K * "
        "200% * OVER",
        "test_model.py::test_unbudgeted * Sorted * 4x64 * 1.65e-05 * 8.19e-06 * 2.08K * - * - * - (!)",
        "---*",
        "total * 3 measurements * 4.95e-05 * 2.46e-05 * 1 over / 2 checked",
        "(!) unsupported ops ran and were not counted, so these FLOPs are too low:",
        "  test_model.py::test_unbudgeted Sorted: aten.sort x1",
    ])
    assert result.stdout.str().count("= flop budget =") == 1


def test_quiet_verbose_and_very_quiet(pytester: pytest.Pytester) -> None:
    quiet = run(pytester, SESSION, "-q")
    quiet.stdout.fnmatch_lines([
        "*= flop budget =*",
        "3 measurements, 1 over budget, 1 with unsupported ops; FLOPs follow the 'full' convention (default)",
    ])
    assert "GFLOPs" not in quiet.stdout.str()
    assert "flop budget" not in pytester.runpytest("-p", "no:cacheprovider", "-qq").stdout.str()
    verbose = pytester.runpytest("-p", "no:cacheprovider", "-v")
    verbose.stdout.fnmatch_lines([
        "total *",
        "*",
        "test_model.py::test_half_of_budget Linear: no submodules",
        "test_model.py::test_twice_the_budget Linear: no submodules",
        "test_model.py::test_unbudgeted Sorted: fc (Linear) 100%",
    ])


def test_meta_measurements_are_labelled(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
def test_meta(complexity):
    complexity.measure(linear(), X, meta=True)
""")
    result.stdout.fnmatch_lines(["test_model.py::test_meta * Linear [[]meta[]] * 4x64 * 1.65e-05 *"])


def test_no_measurements_no_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert "flop budget" not in result.stdout.str()
    pytester.runpytest("-p", "no:cacheprovider", "-v").stdout.fnmatch_lines(["*= flop budget =*", "no measurements"])


def test_a_broken_summary_is_reported_not_raised(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
from pytest_flopbudget.state import SESSION, Measurement

def pytest_sessionfinish(session):
    session.config.stash[SESSION].measurements.append(Measurement("test_model.py::ghost", "watch", report=None))
""")
    result = run(pytester, """
def test_plain():
    pass
""")
    result.stdout.fnmatch_lines([
        "flop budget: the summary could not be printed: AttributeError: *",
        "*1 passed*",
    ])
    assert result.ret == pytest.ExitCode.OK
