"""Under pytest-xdist, workers measure and the controller reports: the same summary and JSON as a plain run."""

from __future__ import annotations

import json

import pytest
from plugin_support import HEADER

pytest.importorskip("xdist")

SESSION = HEADER + """
@pytest.mark.flop_budget(max_gflops=1)
def test_a():
    linear()(X)

@pytest.mark.flop_budget(max_params=2000)
def test_over():
    linear()(X)

def test_measured(complexity):
    complexity.measure(nn.Sequential(linear(), nn.ReLU()), X)

@pytest.mark.parametrize("rows", [1, 2, 3])
@pytest.mark.flop_budget(max_gmacs=1)
def test_rows(rows, complexity):
    linear()(torch.randn(rows, 64))
    complexity.measure(linear(), torch.randn(rows, 64))
"""


def summary_rows(result: pytest.RunResult) -> list[str]:
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "= flop budget =" in line)
    end = next(i for i, line in enumerate(lines) if i > start and line.startswith("total"))
    return lines[start + 1: end + 1]


def measurements(path) -> list[dict]:
    return json.loads(path.read_text())["measurements"]


def test_xdist_matches_a_plain_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_model=SESSION)
    plain = pytester.runpytest("-p", "no:cacheprovider", "--flopbudget-json=plain.json")
    plain.assert_outcomes(passed=5, failed=1)
    # In a subprocess, as a user runs it: the workers are subprocesses either way.
    spread = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--flopbudget-json=xdist.json")
    spread.assert_outcomes(passed=5, failed=1)

    assert spread.stdout.str().count("= flop budget =") == 1  # the controller prints it, workers never do
    assert summary_rows(spread) == summary_rows(plain)
    assert len(summary_rows(plain)) == 1 + 1 + 1 + 9 + 1 + 1  # convention, header, rule, 9 rows, rule, total
    assert measurements(pytester.path / "xdist.json") == measurements(pytester.path / "plain.json")
    spread.stdout.fnmatch_lines(["Linear: 2.08K params > max_params=2.00K (+4%)"])
