"""``--flopbudget-json``: a versioned document, written atomically, that gives back the exact reports."""

from __future__ import annotations

import json
import platform
from importlib import metadata

import pytest
from plugin_support import run

import pytest_flopbudget
from pytest_flopbudget.engine.report import Report

SESSION = """
import json, pathlib

def keep(report, name):
    pathlib.Path(name + ".expected.json").write_text(json.dumps(report.to_dict()))

@pytest.mark.flop_budget(max_gflops="10K")
def test_over(complexity):
    linear()(X)
    keep(complexity.reports[0], "over")

def test_measured(complexity):
    keep(complexity.measure(nn.Sequential(linear(), nn.ReLU()), X, name="mlp"), "measured")
"""

MEASURED = """
def test_measured(complexity):
    complexity.measure(linear(), X)
"""


def test_document_round_trips_every_report(pytester: pytest.Pytester) -> None:
    result = run(pytester, SESSION, "--flopbudget-json=out/measurements.json")
    result.assert_outcomes(passed=1, failed=1)
    path = pytester.path / "out" / "measurements.json"
    result.stdout.fnmatch_lines([f"measurements written to {path}"])
    assert [p.name for p in path.parent.iterdir()] == ["measurements.json"]  # no temporary file left behind
    document = json.loads(path.read_text())

    assert document["schema"] == "pytest-flopbudget"
    assert document["schema_version"] == 1
    assert document["disabled"] is False
    assert document["environment"] == {
        "python": platform.python_version(),
        "implementation": "cpython",
        "platform": platform.platform(),
        "pytest": pytest.__version__,
        "torch": metadata.version("torch"),
        "pytest_flopbudget": pytest_flopbudget.__version__,
        "convention": "full",
        "convention_from": "default",
    }
    assert document["totals"] == {"measurements": 2, "over": 1, "unchecked": 1, "skipped": 0, "grew": 0, "unmatched": 0,
                                  "new": 0, "flops": 16512 + (16512 + 128), "macs": 2 * 8192}
    assert document["lost_workers"] == []

    over, measured = document["measurements"]
    assert {key: over[key] for key in ("test_id", "source", "status", "budget", "share", "extra")} == {
        "test_id": "test_model.py::test_over", "source": "watch", "status": "over", "budget": {"max_gflops": 1e-05},
        "share": 1.6512, "extra": {},
    }
    assert over["violations"] == [{"argument": "max_gflops", "label": "Linear", "measured": 16512.0,
                                   "limit": 10000.0, "text": "Linear: 1.65e-05 GFLOPs > max_gflops=1e-05 (+65%)"}]
    assert {key: measured[key] for key in ("test_id", "source", "status", "budget", "share", "violations")} == {
        "test_id": "test_model.py::test_measured", "source": "fixture", "status": "unchecked", "budget": None,
        "share": None, "violations": [],
    }
    for entry, name in ((over, "over"), (measured, "measured")):
        expected = json.loads(pytester.path.joinpath(f"{name}.expected.json").read_text())
        assert entry["report"] == expected
        assert Report.from_dict(entry["report"]).to_dict() == expected
    assert measured["report"]["modules"]["0"] == {"type": "Linear", "flops": 16512, "macs": 8192, "params": 2080,
                                                  "calls": 1}


def test_hook_adds_fields_to_each_measurement(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
import pytest

@pytest.hookimpl(optionalhook=True)
def pytest_flopbudget_json_fields(item, measurement):
    return {"test_name": item.name, "status_seen": measurement.status}
""")
    run(pytester, SESSION, "--flopbudget-json=m.json").assert_outcomes(passed=1, failed=1)
    extras = [m["extra"] for m in json.loads(pytester.path.joinpath("m.json").read_text())["measurements"]]
    assert extras == [{"test_name": "test_over", "status_seen": "over"},
                      {"test_name": "test_measured", "status_seen": "unchecked"}]


def test_hook_returning_what_json_cannot_hold_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
import pytest

@pytest.hookimpl(optionalhook=True)
def pytest_flopbudget_json_fields(item, measurement):
    return {"shapes": {1, 2}}
""")
    result = run(pytester, MEASURED)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E * TypeError: pytest_flopbudget_json_fields returned a value that is not "
                                 "JSON-serializable: Object of type set is not JSON serializable"])



def test_disabled_runs_write_an_empty_document(pytester: pytest.Pytester) -> None:
    run(pytester, MEASURED, "--flopbudget-disable", "--flopbudget-json=m.json").assert_outcomes(passed=1)
    document = json.loads(pytester.path.joinpath("m.json").read_text())
    assert document["disabled"] is True
    assert document["measurements"] == []


def test_an_unwritable_path_is_reported_and_fails_the_run(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("blocker").write_text("a file where a directory should be")
    result = run(pytester, MEASURED, "--flopbudget-json=blocker/m.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["could not write *blocker/m.json: NotADirectoryError: *blocker is a file, not a "
                                 "directory, so m.json cannot be written below it"])
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR


def test_a_file_in_place_of_a_farther_parent_directory_is_named(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("blocker").write_text("a file where a directory should be")
    result = run(pytester, MEASURED, "--flopbudget-json=blocker/sub/m.json")
    result.assert_outcomes(passed=1)
    path, blocker = pytester.path / "blocker" / "sub" / "m.json", pytester.path / "blocker"
    result.stdout.fnmatch_lines([f"could not write {path}: NotADirectoryError: {blocker} is a file, not a directory, "
                                 "so m.json cannot be written below it"])
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    assert blocker.read_text() == "a file where a directory should be"


@pytest.mark.parametrize("quiet", ["-qq", "-qqq"])
def test_a_failed_write_is_reported_at_every_verbosity(pytester: pytest.Pytester, quiet: str) -> None:
    pytester.path.joinpath("blocker").write_text("a file where a directory should be")
    result = run(pytester, MEASURED, quiet, "--flopbudget-json=blocker/m.json")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["could not write *blocker/m.json: NotADirectoryError: *"])
    assert "GFLOPs" not in result.stdout.str()  # the table stays hidden


def test_a_successful_write_is_quiet_under_qq(pytester: pytest.Pytester) -> None:
    result = run(pytester, MEASURED, "-qq", "--flopbudget-json=m.json")
    assert result.ret == pytest.ExitCode.OK
    assert pytester.path.joinpath("m.json").is_file()
    assert "flop budget" not in result.stdout.str()
    assert "measurements written" not in result.stdout.str()
