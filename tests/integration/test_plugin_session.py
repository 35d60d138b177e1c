"""The session's own shape: the header line, per-plugin verbosity and the run-level JSON hook."""

from __future__ import annotations

import json

import pytest
from plugin_support import failures_section, run

OVER = """
@pytest.mark.flop_budget(max_params=2000)
def test_over():
    linear()(X)
"""


def test_the_header_names_each_setting_and_where_it_came_from(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.flopbudget]\nwatch = "all"\n')
    result = run(pytester, OVER, "--flopbudget-baseline=b.json", "--flopbudget-tolerance=2.5")
    # grouped by origin, in the order --help lists the settings
    expected = ("flopbudget: convention=full, mode=fail (default); watch=all (pyproject.toml [tool.flopbudget]); "
                f"baseline={pytester.path / 'b.json'}, tolerance=2.5% (command line)")
    assert expected in result.outlines
    quiet = run(pytester, OVER, "-q")
    assert not any(line.startswith("flopbudget:") for line in quiet.outlines)


def test_the_header_leaves_out_a_tolerance_with_no_baseline(pytester: pytest.Pytester) -> None:
    result = run(pytester, OVER)
    assert "flopbudget: convention=full, watch=marked, mode=fail (default)" in result.outlines


@pytest.mark.parametrize(("setting", "lines"), [
    # -1: the one-line summary; 1: the costliest modules of each measurement below the table
    ("-1", ["1 measurement, 1 over budget, 0 with unsupported ops; FLOPs follow the 'full' convention (default)"]),
    ("auto", []),
])
def test_verbosity_flopbudget_sets_the_summary_apart_from_v(pytester: pytest.Pytester, setting: str,
                                                           lines: list[str]) -> None:
    result = run(pytester, OVER, "-o", f"verbosity_flopbudget={setting}")
    result.assert_outcomes(failed=1)
    summary = result.stdout.str().split("= flop budget =")[1]
    for line in lines:
        assert line in summary
    table_shown = "test_model.py::test_over  Linear" in summary
    assert table_shown == (setting == "auto")  # -1 prints one line instead of the table; auto follows -v (0)


def test_verbosity_flopbudget_two_shows_every_module_of_an_overrun(pytester: pytest.Pytester) -> None:
    # Above 0 the failure shows the full per-module table, as -v does, without making pytest itself verbose.
    result = run(pytester, OVER, "-o", "verbosity_flopbudget=2")
    assert "(model)" in failures_section(result.stdout.str())
    assert "PASSED" not in result.stdout.str()
    assert "test_model.py F" in result.stdout.str()


@pytest.mark.parametrize("value", ["x", "1.5", "\u0663"])
def test_a_bad_verbosity_flopbudget_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    result = run(pytester, OVER, "-o", f"verbosity_flopbudget={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: invalid verbosity_flopbudget '{value}' from ini: expected an integer*"])


def test_json_document_hook_adds_run_level_fields_once(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
import pytest
CALLS = []

@pytest.hookimpl(optionalhook=True)
def pytest_flopbudget_json_document(config, document):
    CALLS.append(1)
    return {"commit": "abc123", "measured": len(document["measurements"]), "calls": len(CALLS)}

class Quiet:  # a second plugin that adds nothing
    @pytest.hookimpl(optionalhook=True)
    def pytest_flopbudget_json_document(self, config, document):
        return None

def pytest_configure(config):
    config.pluginmanager.register(Quiet())
""")
    run(pytester, OVER, "--flopbudget-json=m.json")
    document = json.loads(pytester.path.joinpath("m.json").read_text())
    assert document["extra"] == {"commit": "abc123", "measured": 1, "calls": 1}
    assert document["measurements"][0]["extra"] == {}


@pytest.mark.parametrize(("body", "says"), [
    ("return ['not', 'a', 'dict']", "pytest_flopbudget_json_document returned ['not', 'a', 'dict']: expected a dict"),
    ("raise RuntimeError('no git')", "pytest_flopbudget_json_document raised RuntimeError: no git"),
])
def test_a_bad_json_document_hook_fails_the_write_not_the_session(pytester: pytest.Pytester, body: str,
                                                                  says: str) -> None:
    pytester.makeconftest(f"""
import pytest

@pytest.hookimpl(optionalhook=True)
def pytest_flopbudget_json_document(config, document):
    {body}
""")
    result = run(pytester, "def test_ok():\n    pass\n", "--flopbudget-json=m.json", "-qq")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    assert any(says in line for line in result.outlines), result.outlines
    assert "INTERNALERROR" not in result.stdout.str()
    assert not pytester.path.joinpath("m.json").exists()
