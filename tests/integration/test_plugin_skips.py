"""A test that measured a model and then skipped is reported skipped by pytest: its measurements say so too."""

from __future__ import annotations

import json

import pytest
from plugin_support import RERUN_EVERY_TEST, run

# Linear(64, 32) has 64 * 32 + 32 = 2080 params: max_params=1040 is twice over (share 200%).
SESSION = """
@pytest.fixture
def measured_then_skipped(complexity):
    complexity.measure(linear(), X)
    pytest.skip("the fixture skips after measuring")

@pytest.mark.flop_budget(max_params=1040)
def test_watched_then_skipped():
    linear()(X)
    pytest.skip("no reference output here")

@pytest.mark.flop_budget(max_params=1040)
def test_measured_then_skipped(complexity):
    complexity.measure(linear(), X)
    pytest.skip("no reference output here")

@pytest.mark.flop_budget(max_params=1040)
def test_importorskip_in_the_body():
    linear()(X)
    pytest.importorskip("a_module_no_one_has_installed_xyz")

@pytest.mark.flop_budget(max_params=1040)
def test_skipped_in_setup(measured_then_skipped):
    pass

def test_unbudgeted_then_skipped(complexity):
    complexity.measure(linear(), X)
    pytest.skip("no reference output here")

@pytest.mark.flop_budget(max_params=1040)
def test_over():
    linear()(X)

@pytest.mark.xfail(strict=True, reason="over on purpose")
@pytest.mark.flop_budget(max_params=1040)
def test_xfailed_over():
    linear()(X)

@pytest.mark.flop_budget(max_params=4160)
def test_ok():
    linear()(X)
"""

SKIPPED = ["test_watched_then_skipped", "test_measured_then_skipped", "test_importorskip_in_the_body",
           "test_skipped_in_setup", "test_unbudgeted_then_skipped"]


def test_skipped_tests_are_skipped_in_the_summary(pytester: pytest.Pytester) -> None:
    result = run(pytester, SESSION, "-rs")
    result.assert_outcomes(skipped=5, failed=1, xfailed=1, passed=1)
    result.stdout.fnmatch_lines([
        "*= flop budget =*",
        "*",
        "test * status",
        "---*",
        "test_model.py::test_watched_then_skipped * max_params=1.04K * 200% * skipped",
        "test_model.py::test_measured_then_skipped * max_params=1.04K * 200% * skipped",
        "test_model.py::test_importorskip_in_the_body * max_params=1.04K * 200% * skipped",
        "test_model.py::test_skipped_in_setup * max_params=1.04K * 200% * skipped",
        "test_model.py::test_unbudgeted_then_skipped * - * - * skipped",
        "test_model.py::test_over * max_params=1.04K * 200% * OVER",
        "test_model.py::test_xfailed_over * max_params=1.04K * 200% * OVER",  # xfail expects the overrun
        "test_model.py::test_ok * max_params=4.16K * 50% * ok",
        "---*",
        "total * 8 measurements * 2 over / 3 checked, 5 skipped",
    ])
    assert sum(line.endswith("  OVER") for line in result.outlines) == 2  # only the tests that ran over


def test_skipped_tests_are_skipped_in_the_quiet_summary(pytester: pytest.Pytester) -> None:
    result = run(pytester, SESSION, "-q")
    result.stdout.fnmatch_lines([
        "8 measurements, 2 over budget, 5 skipped, 0 with unsupported ops; FLOPs follow the 'full' convention *",
    ])


def test_skipped_tests_are_skipped_in_the_json(pytester: pytest.Pytester) -> None:
    run(pytester, SESSION, "--flopbudget-json=m.json").assert_outcomes(skipped=5, failed=1, xfailed=1, passed=1)
    document = json.loads(pytester.path.joinpath("m.json").read_text())
    statuses = {m["test_id"].partition("::")[2]: m["status"] for m in document["measurements"]}
    assert statuses == {**{name: "skipped" for name in SKIPPED},
                        "test_over": "over", "test_xfailed_over": "over", "test_ok": "ok"}
    totals = document["totals"]
    # 8 measurements of Linear(64, 32) on 4 x 64: 8192 MACs and 2 * 8192 + 128 FLOPs each.
    assert totals == {"measurements": 8, "over": 2, "unchecked": 0, "skipped": 5, "grew": 0, "unmatched": 0, "new": 0,
                      "flops": 8 * 16512, "macs": 8 * 8192}
    skipped = next(m for m in document["measurements"] if m["test_id"].endswith("::test_watched_then_skipped"))
    # What was measured is kept: the overrun is still visible, only not counted as one.
    assert skipped["violations"][0]["text"] == "Linear: 2.08K params > max_params=1.04K (+100%)"
    assert skipped["share"] == 2.0


def test_a_rerun_that_passes_is_no_longer_skipped(pytester: pytest.Pytester) -> None:
    """As pytest-rerunfailures does: the item runs twice; the first attempt skips, the second passes."""
    pytester.makeconftest(RERUN_EVERY_TEST)
    result = run(pytester, """
ATTEMPTS = []

@pytest.mark.flop_budget(max_params=4160)
def test_skips_first():
    linear()(X)
    ATTEMPTS.append(1)
    if len(ATTEMPTS) == 1:
        pytest.skip("first attempt")
""", "--flopbudget-json=m.json")
    result.assert_outcomes(passed=1)
    [measurement] = json.loads(pytester.path.joinpath("m.json").read_text())["measurements"]
    assert measurement["status"] == "ok"
