"""The plugin as a whole: switched off, blocked, under -W error, merging xdist output."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from plugin_support import HEADER, run

from pytest_flopbudget import results
from pytest_flopbudget.state import SESSION, WORKER_OUTPUT_KEY, Measurement, SessionState

GUARDED = """
@pytest.mark.flop_budget(max_params=1)
def test_over_budget():
    linear()(X)

@pytest.mark.flop_budget(max_params=1)
def test_measures_nothing():
    pass

def test_reads_reports(complexity):
    report = complexity.measure(linear(), X)
    assert (report.flops, report.params) == (16512, 2080)
    assert complexity.reports == [report]
"""


@pytest.mark.parametrize("switch", [("--flopbudget-disable",), ("-o", "flopbudget_disable=true")])
def test_disable_keeps_the_fixture_and_checks_nothing(pytester: pytest.Pytester, switch: tuple) -> None:
    result = run(pytester, GUARDED, *switch)
    result.assert_outcomes(passed=3)
    origin = "command line" if switch[0] == "--flopbudget-disable" else "ini"
    result.stdout.fnmatch_lines([f"disabled ({origin}): nothing measured or checked"])


def test_blocked_plugin_is_gone(pytester: pytest.Pytester) -> None:
    result = run(pytester, GUARDED, "-p", "no:flopbudget")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*fixture 'complexity' not found*"])
    assert "flop budget" not in result.stdout.str()
    assert "flop_budget" not in pytester.runpytest("-p", "no:flopbudget", "--markers").stdout.str()


def test_strict_markers_with_the_plugin_disabled_and_blocked(pytester: pytest.Pytester) -> None:
    # Subprocesses: in-process runs share pytest.mark's cache of known markers with this session.
    pytester.makepyfile(test_model=HEADER + GUARDED)
    disabled = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", "--flopbudget-disable")
    disabled.assert_outcomes(passed=3)
    blocked = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", "-p", "no:flopbudget")
    blocked.stdout.fnmatch_lines(["*'flop_budget' not found in `markers` configuration option*"])
    assert blocked.ret == pytest.ExitCode.INTERRUPTED


def test_plugin_raises_no_warnings(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(test_model="""
import pytest
import torch
from torch import nn

@pytest.mark.flop_budget(max_gflops=1, max_params="10K")
def test_watched(complexity):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    model(torch.randn(2, 3, 8, 8))
    complexity.measure(model, torch.randn(1, 3, 8, 8), meta=True)

@pytest.mark.xfail(strict=True, reason="over budget")
@pytest.mark.flop_budget(max_params=1)
def test_over():
    nn.Linear(4, 4)(torch.randn(1, 4))
""")
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider", "--strict-markers",
                                           "--flopbudget-json=m.json")
    result.assert_outcomes(passed=1, xfailed=1)
    assert "warnings summary" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.OK


def test_controller_merges_workers_and_names_the_lost_ones(pytester: pytest.Pytester) -> None:
    from pytest_flopbudget.engine.report import Report

    config = pytester.parseconfigure()
    report = Report(model="Linear", convention="full", flops=16512, macs=8192, params=2080, trainable_params=2080,
                    frozen_params=0, buffers=0, param_bytes=8320)
    shipped = [Measurement("test_x.py::test_a", "watch", report, position=3)]
    worker = SessionState(config.stash[SESSION].settings, measurements=shipped,
                          outcomes={"test_x.py::test_a": "passed"})
    alive = SimpleNamespace(gateway=SimpleNamespace(id="gw0"), workeroutput={WORKER_OUTPUT_KEY: worker.payload()})
    crashed = SimpleNamespace(gateway=SimpleNamespace(id="gw1"))
    results.merge_worker(config, alive, None)
    results.merge_worker(config, crashed, "worker 'gw1' crashed")
    state = config.stash[SESSION]
    assert state.measurements == shipped
    assert state.outcomes == {"test_x.py::test_a": "passed"}
    assert state.lost_workers == ["gw1"]
    config._ensure_unconfigure()
