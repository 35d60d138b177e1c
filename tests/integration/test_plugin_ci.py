"""The CI outputs: JUnit XML properties, the Markdown summary (file and $GITHUB_STEP_SUMMARY), pytest-xdist
runs that report what a serial run reports, and ``python -m pytest_flopbudget merge|baseline`` for sharded suites.

Every number is derived by hand from plugin_support.HEADER:
- ``linear()`` = nn.Linear(64, 32) on X (4 x 64): 4 * 64 * 32 = 8192 MACs, 2 * 8192 + 4 * 32 = 16512 FLOPs
  ('full'), 64 * 32 + 32 = 2080 params.
- nn.Linear(64, 40) on X: 4 * 64 * 40 = 10240 MACs (+25%), 2 * 10240 + 4 * 40 = 20640 FLOPs (+25%),
  64 * 40 + 40 = 2600 params (+25%).
- nn.Linear(64, 16) on X: 4 * 64 * 16 = 4096 MACs, 2 * 4096 + 4 * 16 = 8256 FLOPs, 64 * 16 + 16 = 1040 params.
- linear() on a rows x 64 input: rows * 2048 MACs, 2 * rows * 2048 + rows * 32 FLOPs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from plugin_support import HEADER, RERUN_EVERY_TEST, failures_section, run

STEP_SUMMARY = "GITHUB_STEP_SUMMARY"


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under GitHub Actions the outer run has $GITHUB_STEP_SUMMARY set: inner runs must not append to it."""
    monkeypatch.delenv(STEP_SUMMARY, raising=False)


# --------------------------------------------------------------------------------------------------- helpers

#: The numbers of one linear() measurement, as JUnit properties carry them (Python reprs of count / 1e9).
GFLOPS_32 = repr(16512 / 1e9)  # '1.6512e-05'
GMACS_32 = repr(8192 / 1e9)  # '8.192e-06'
GFLOPS_40 = repr(20640 / 1e9)
GMACS_40 = repr(10240 / 1e9)


def group(key: str, gflops: str, gmacs: str, params: int, budget: str, status: str,
          baseline: str | None = None) -> list[tuple[str, str]]:
    name = f"flopbudget[{key}]"
    out = [(f"{name}.gflops", gflops), (f"{name}.gmacs", gmacs), (f"{name}.params", str(params)),
           (f"{name}.budget", budget), (f"{name}.status", status)]
    if baseline is not None:
        out.append((f"{name}.baseline", baseline))
    return out


def junit_cases(path: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """(name, properties) of every <testcase>, in document order."""
    root = ET.parse(path).getroot()
    return [(case.get("name"), [(p.get("name"), p.get("value")) for p in case.iter("property")])
            for case in root.iter("testcase")]


def by_name(path: Path) -> dict[str, list[tuple[str, str]]]:
    cases = junit_cases(path)
    names = [name for name, _ in cases]
    assert len(names) == len(set(names)), names  # one <testcase> per test
    return dict(cases)


def entry(flops: int, macs: int, params: int, convention: str = "full") -> dict:
    return {"convention": convention, "flops": flops, "macs": macs, "params": params}


LINEAR_32 = entry(16512, 8192, 2080)


def write_baseline(path: Path, tests: dict) -> None:
    path.write_text(json.dumps({"schema": "pytest-flopbudget-baseline", "schema_version": 1, "tests": tests},
                               indent=2, sort_keys=True) + "\n")


_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def cells(line: str) -> list[str]:
    """A Markdown table row's cells (an escaped pipe stays inside its cell)."""
    assert line.startswith("| "), line
    assert line.endswith(" |"), line
    return [cell.strip() for cell in _UNESCAPED_PIPE.split(line[1:-1])]


def table(markdown: str) -> tuple[list[str], list[list[str]]]:
    """The Markdown table's header cells and rows' cells."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header, rule, *rows = lines
    assert re.fullmatch(r"\|(-+:?\|)+", rule), rule
    assert rule.count("|") == len(cells(header)) + 1
    return cells(header), [cells(row) for row in rows]


def summary_rows(result: pytest.RunResult) -> list[str]:
    """The terminal table from its header to its totals line."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if line.startswith("test ") and "GFLOPs" in line)
    end = next(i for i, line in enumerate(lines) if i > start and line.startswith("total"))
    return lines[start:end + 1]


def failed_ids(result: pytest.RunResult) -> list[str]:
    return sorted(re.findall(r"^FAILED (\S+)", result.stdout.str(), flags=re.MULTILINE))


def growth_lines(result: pytest.RunResult) -> list[str]:
    return sorted(line for line in failures_section(result.stdout.str()).splitlines()
                  if "over the baseline (tolerance" in line)


def without_run_details(document: dict) -> dict:
    return {key: value for key, value in document.items() if key not in ("created", "environment")}


def without_position(measurement: dict) -> dict:
    return {key: value for key, value in measurement.items() if key != "position"}


def cli(pytester: pytest.Pytester, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest_flopbudget", *args], cwd=pytester.path,
                          capture_output=True, text=True, timeout=120, check=False)


def assert_one_line_error(process: subprocess.CompletedProcess, *named: str) -> str:
    assert process.returncode == 2, (process.stdout, process.stderr)
    assert "Traceback" not in process.stderr, process.stderr
    lines = process.stderr.splitlines()
    assert len(lines) == 1, process.stderr
    for name in named:
        assert name in lines[0], (name, lines[0])
    return lines[0]


# ----------------------------------------------------------------------------------------------------- JUnit

JUNIT = """
@pytest.mark.flop_budget(max_params=3000)
def test_ok():
    linear()(X)

@pytest.mark.flop_budget(max_params=2000)
def test_over():
    linear()(X)

def test_two(complexity):
    complexity.measure(linear(), X)
    complexity.measure(nn.Linear(64, 16), X)

def test_plain():
    pass
"""


@pytest.mark.parametrize("family", ["xunit1", "xunit2", "legacy"])
def test_junit_properties_under_every_family(pytester: pytest.Pytester, family: str) -> None:
    result = run(pytester, JUNIT, "-W", "error", "-o", f"junit_family={family}", "--junitxml=r.xml")
    result.assert_outcomes(passed=3, failed=1, warnings=0, errors=0)
    assert "warnings summary" not in result.stdout.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    cases = by_name(pytester.path / "r.xml")
    assert cases["test_ok"] == group("Linear [4x64]", GFLOPS_32, GMACS_32, 2080, "max_params=3000", "ok")
    # The failing test (2080 > 2000 params) carries its numbers too.
    assert cases["test_over"] == group("Linear [4x64]", GFLOPS_32, GMACS_32, 2080, "max_params=2000", "over")
    # Two measurements, two groups; the second key gets " #2". nn.Linear(64, 16): 8256 FLOPs, 4096 MACs, 1040.
    assert cases["test_two"] == (group("Linear [4x64]", GFLOPS_32, GMACS_32, 2080, "none", "unchecked")
                                 + group("Linear [4x64] #2", repr(8256 / 1e9), repr(4096 / 1e9), 1040, "none",
                                         "unchecked"))
    assert cases["test_plain"] == []
    assert GFLOPS_32 == "1.6512e-05"


def test_junit_baseline_property(pytester: pytest.Pytester) -> None:
    write_baseline(pytester.path / "base.json", {
        "test_model.py::test_same": {"Linear [4x64]": LINEAR_32},
        "test_model.py::test_grew": {"Linear [4x64]": LINEAR_32},
    })
    result = run(pytester, """
@pytest.mark.flop_budget(max_params=3000)
def test_same():
    linear()(X)

@pytest.mark.flop_budget(max_params=3000)
def test_grew():
    nn.Linear(64, 40)(X)  # 20640 FLOPs, 10240 MACs, 2600 params: +25% on each count, within max_params

def test_new(complexity):
    complexity.measure(linear(), X)
""", "-W", "error", "--flopbudget-baseline=base.json", "--junitxml=r.xml")
    result.assert_outcomes(passed=2, failed=1, warnings=0)
    assert failed_ids(result) == ["test_model.py::test_grew"]
    cases = by_name(pytester.path / "r.xml")
    assert cases["test_same"] == group("Linear [4x64]", GFLOPS_32, GMACS_32, 2080, "max_params=3000", "ok", "=")
    assert cases["test_grew"] == group("Linear [4x64]", GFLOPS_40, GMACS_40, 2600, "max_params=3000", "ok",
                                       "+25.0%")
    assert cases["test_new"] == group("Linear [4x64]", GFLOPS_32, GMACS_32, 2080, "none", "unchecked", "new")


def test_junit_status_is_the_status_every_other_output_gives(pytester: pytest.Pytester) -> None:
    """A skipped test's measurement reads "skipped" in the terminal, the Markdown and the JSON: JUnit agrees."""
    result = run(pytester, """
def test_skipped(complexity):
    complexity.measure(linear(), X)
    pytest.skip("no accelerator")

@pytest.mark.flop_budget(max_params=2000)
def test_over():
    linear()(X)
""", "--junitxml=r.xml", "--flopbudget-json=m.json", "--flopbudget-markdown=m.md")
    result.assert_outcomes(skipped=1, failed=1)
    statuses = {m["test_id"].split("::")[1]: m["status"] for m in
                json.loads((pytester.path / "m.json").read_text())["measurements"]}
    assert statuses == {"test_skipped": "skipped", "test_over": "over"}
    assert [row[-1] for row in table((pytester.path / "m.md").read_text())[1]] == ["OVER", "skipped"]
    cases = by_name(pytester.path / "r.xml")
    assert dict(cases["test_over"])["flopbudget[Linear [4x64]].status"] == "over"
    assert dict(cases["test_skipped"])["flopbudget[Linear [4x64]].status"] == "skipped"


def test_junit_properties_include_a_teardown_measurement(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.fixture
def audit(complexity):
    yield
    complexity.measure(linear(), X)  # in teardown

def test_late(audit, complexity):
    complexity.measure(nn.Linear(64, 16), X)
""", "--junitxml=r.xml")
    result.assert_outcomes(passed=1)
    cases = by_name(pytester.path / "r.xml")
    # nn.Linear(64, 16) first (8256 FLOPs, 4096 MACs, 1040 params), then the teardown's linear() (" #2": same shapes)
    assert cases["test_late"] == (group("Linear [4x64]", repr(8256 / 1e9), repr(4096 / 1e9), 1040, "none",
                                        "unchecked")
                                  + group("Linear [4x64] #2", GFLOPS_32, GMACS_32, 2080, "none", "unchecked"))


def test_junit_properties_are_not_repeated_by_a_rerun(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RERUN_EVERY_TEST)
    result = run(pytester, JUNIT, "--junitxml=r.xml")
    result.assert_outcomes(passed=3, failed=1)
    cases = by_name(pytester.path / "r.xml")
    assert cases["test_ok"] == group("Linear [4x64]", GFLOPS_32, GMACS_32, 2080, "max_params=3000", "ok")
    assert cases["test_over"] == group("Linear [4x64]", GFLOPS_32, GMACS_32, 2080, "max_params=2000", "over")
    assert [name for name, _ in cases["test_two"]] == [
        name for name, _ in group("Linear [4x64]", "", "", 0, "", "") + group("Linear [4x64] #2", "", "", 0, "", "")]


def test_junit_properties_with_pytest_rerunfailures(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_rerunfailures")
    result = run(pytester, """
import pathlib

@pytest.mark.flop_budget(max_params=3000)
def test_flaky():
    linear()(X)
    attempted = pathlib.Path("attempted")
    if not attempted.exists():
        attempted.write_text("once")
        assert False, "the first attempt fails"
""", "--reruns", "1", "--junitxml=r.xml")
    assert result.parseoutcomes() == {"passed": 1, "rerun": 1}
    expected = group("Linear [4x64]", GFLOPS_32, GMACS_32, 2080, "max_params=3000", "ok")
    for name, properties in junit_cases(pytester.path / "r.xml"):
        assert name == "test_flaky"
        assert properties == expected  # each <testcase> one group, never two


# -------------------------------------------------------------------------------------------------- Markdown

MARKDOWN = """
@pytest.mark.flop_budget(max_params=3000)
def test_ok():
    linear()(X)

@pytest.mark.parametrize("sep", ["a|b"])
def test_pipe(sep, complexity):
    complexity.measure(nn.Linear(64, 16), X)

@pytest.mark.flop_budget(max_params=2000)
def test_over():
    linear()(X)

def test_named(complexity):
    complexity.measure(linear(), X, name="enc|dec")
    complexity.measure(linear(), X, name="two\\nlines")
"""

PASSING = """
@pytest.mark.flop_budget(max_params=3000)
def test_ok():
    linear()(X)
"""

HEADER_CELLS = ["test", "model", "inputs", "GFLOPs", "GMACs", "params", "budget", "share", "status"]


def test_markdown_file(pytester: pytest.Pytester) -> None:
    result = run(pytester, MARKDOWN, "--flopbudget-markdown=out/summary.md")
    result.assert_outcomes(passed=3, failed=1)
    path = pytester.path / "out" / "summary.md"
    result.stdout.fnmatch_lines([f"Markdown summary written to {path}"])
    text = path.read_text()
    lines = text.splitlines()
    assert lines[0] == "## flop budget"
    assert "**5** measurements, **1** over budget." in lines
    header, rows = table(text)
    assert header == HEADER_CELLS
    assert all(len(row) == len(HEADER_CELLS) for row in rows)
    assert rows == [
        # over budget first: 2080 / 2000 = 104%
        ["test_model.py::test_over", "Linear", "4x64", "1.65e-05", "8.19e-06", "2.08K", "max_params=2K", "104%",
         "OVER"],
        # then test order: 2080 / 3000 = 69%
        ["test_model.py::test_ok", "Linear", "4x64", "1.65e-05", "8.19e-06", "2.08K", "max_params=3K", "69%", "ok"],
        # the id's pipe escaped; nn.Linear(64, 16): 8256 FLOPs, 4096 MACs, 1040 params
        ["test_model.py::test_pipe[a\\|b]", "Linear", "4x64", "8.26e-06", "4.1e-06", "1.04K", "-", "-", "-"],
        # a name's pipe escaped too, a line break made a space: one table line per measurement
        ["test_model.py::test_named", "enc\\|dec", "4x64", "1.65e-05", "8.19e-06", "2.08K", "-", "-", "-"],
        ["test_model.py::test_named", "two lines", "4x64", "1.65e-05", "8.19e-06", "2.08K", "-", "-", "-"],
    ]
    assert "| test_model.py::test_pipe[a\\|b] |" in text


def test_markdown_baseline_column_and_row_order(pytester: pytest.Pytester) -> None:
    write_baseline(pytester.path / "base.json", {
        "test_model.py::test_ok": {"Linear [4x64]": LINEAR_32},
        "test_model.py::test_grew": {"Linear [4x64]": LINEAR_32},
    })
    result = run(pytester, """
@pytest.mark.flop_budget(max_params=3000)
def test_ok():
    linear()(X)

def test_new(complexity):
    complexity.measure(linear(), X)

@pytest.mark.flop_budget(max_params=3000)
def test_grew():
    nn.Linear(64, 40)(X)

@pytest.mark.flop_budget(max_params=2000)
def test_over():
    linear()(X)
""", "--flopbudget-baseline=base.json", "--flopbudget-markdown=out.md")
    result.assert_outcomes(passed=2, failed=2)
    text = (pytester.path / "out.md").read_text()
    assert "**4** measurements, **1** over budget, **1** over the baseline." in text.splitlines()
    header, rows = table(text)
    assert header == HEADER_CELLS[:-1] + ["baseline", "status"]
    assert [(row[0], row[-2], row[-1]) for row in rows] == [
        ("test_model.py::test_over", "new", "OVER"),  # over budget first
        ("test_model.py::test_grew", "+25.0%", "GREW"),  # then over the baseline
        ("test_model.py::test_ok", "=", "ok"),  # then test order
        ("test_model.py::test_new", "new", "-"),
    ]


def test_step_summary_is_appended(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    step = pytester.path / "step_summary.md"
    earlier = "# an earlier step\n\nits own text\n"
    step.write_text(earlier)
    monkeypatch.setenv(STEP_SUMMARY, str(step))
    run(pytester, MARKDOWN, "--flopbudget-markdown=out.md").assert_outcomes(passed=3, failed=1)
    table_text = (pytester.path / "out.md").read_text()
    assert table_text.startswith("## flop budget")
    assert step.read_text() == earlier + table_text
    # A second run (no file option: the step summary alone) appends again.
    run(pytester, MARKDOWN).assert_outcomes(passed=3, failed=1)
    assert step.read_text() == earlier + table_text + table_text


def test_step_summary_untouched_without_a_measurement(pytester: pytest.Pytester,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    step = pytester.path / "step_summary.md"
    step.write_text("# an earlier step\n")
    monkeypatch.setenv(STEP_SUMMARY, str(step))
    (pytester.path / "out.md").write_text("a stale table from an earlier run\n")
    result = run(pytester, """
def test_plain():
    linear()(X)  # not watched: no marker, watch=marked
""", "--flopbudget-markdown=out.md")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert step.read_text() == "# an earlier step\n"
    # The file option still (over)writes its file: no stale table survives.
    assert (pytester.path / "out.md").read_text() == "## flop budget\n\nNo measurements.\n"


@pytest.mark.parametrize("where", ["a directory", "below a file"])
def test_unwritable_markdown_path_is_reported_not_raised(pytester: pytest.Pytester, where: str) -> None:
    if where == "a directory":
        (pytester.path / "out.md").mkdir()
        target = "out.md"
    else:
        (pytester.path / "blocker").write_text("a file where a directory should be")
        target = "blocker/out.md"
    result = run(pytester, PASSING, f"--flopbudget-markdown={target}")  # every test passes: only the file fails
    output = result.stdout.str() + result.stderr.str()
    assert result.ret in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR), output
    assert "Traceback" not in output
    assert re.search(r"(could not write|invalid --flopbudget-markdown) \S*" + re.escape(target), output), output
    if where == "below a file":
        assert (pytester.path / "blocker").read_text() == "a file where a directory should be"


def test_unwritable_step_summary_is_reported_not_raised(pytester: pytest.Pytester,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (pytester.path / "summary_dir").mkdir()
    monkeypatch.setenv(STEP_SUMMARY, str(pytester.path / "summary_dir"))
    result = run(pytester, PASSING)
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    assert f"${STEP_SUMMARY} ({pytester.path / 'summary_dir'}) is not a regular file (a directory): not written" \
        in result.outlines
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR


def test_a_fifo_step_summary_is_reported_not_opened(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # Opening a FIFO nobody reads for appending would block the session forever.
    fifo = pytester.path / "fifo"
    os.mkfifo(fifo)
    monkeypatch.setenv(STEP_SUMMARY, str(fifo))
    result = run(pytester, PASSING)
    assert f"${STEP_SUMMARY} ({fifo}) is not a regular file (a FIFO): not written" in result.outlines
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR


@pytest.mark.parametrize("source", ["ini", "pyproject"])
def test_markdown_path_from_a_file_is_relative_to_that_file(pytester: pytest.Pytester,
                                                             monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    if source == "ini":
        (pytester.path / "pytest.ini").write_text("[pytest]\nflopbudget_markdown = reports/summary.md\n")
    else:
        (pytester.path / "pyproject.toml").write_text('[tool.flopbudget]\nmarkdown = "reports/summary.md"\n')
    pytester.makepyfile(test_model=HEADER + MARKDOWN)
    elsewhere = pytester.mkdir("elsewhere")
    monkeypatch.chdir(elsewhere)  # the CWD is not the config file's directory
    result = pytester.runpytest("-p", "no:cacheprovider", str(pytester.path / "test_model.py"))
    result.assert_outcomes(passed=3, failed=1)
    assert (pytester.path / "reports" / "summary.md").read_text().startswith("## flop budget")
    assert not (elsewhere / "reports").exists()
    # The command line wins and is relative to the CWD.
    result = pytester.runpytest("-p", "no:cacheprovider", str(pytester.path / "test_model.py"),
                                "--flopbudget-markdown=cli.md")
    result.assert_outcomes(passed=3, failed=1)
    assert (elsewhere / "cli.md").read_text().startswith("## flop budget")


# ----------------------------------------------------------------------------------------------------- xdist

SESSION = """
@pytest.mark.flop_budget(max_params=3000)
def test_same():
    linear()(X)

@pytest.mark.flop_budget(max_params=3000)
def test_grew():
    nn.Linear(64, 40)(X)  # +25% on every count

@pytest.mark.flop_budget(max_params=2000)
def test_over():
    linear()(X)

def test_two(complexity):
    complexity.measure(linear(), X)
    complexity.measure(nn.Linear(64, 16), X)

@pytest.mark.parametrize("rows", [1, 2, 3])
@pytest.mark.flop_budget(max_gmacs=1)
def test_rows(rows):
    linear()(torch.randn(rows, 64))

def test_skipped(complexity):
    complexity.measure(linear(), X)
    pytest.skip("no accelerator")

@pytest.mark.flop_budget(max_params=3000)
def test_broken():
    nn.Linear(64, 16)(X)
    raise RuntimeError("boom")

@pytest.mark.xfail(strict=True)
@pytest.mark.flop_budget(max_params=3000)
def test_xfail():
    linear()(X)
    assert False

def test_plain():
    pass  # not watched, measures nothing
"""

#: A baseline for SESSION: equal, grown, stale and gone entries (see each comment).
START = {
    "test_model.py::test_same": {"Linear [4x64]": LINEAR_32},  # equal
    "test_model.py::test_grew": {"Linear [4x64]": LINEAR_32},  # +25%
    "test_model.py::test_over": {"Linear [4x64]": LINEAR_32},  # equal (over budget all the same)
    # linear() on 2 x 64: 4096 MACs, 2 * 4096 + 2 * 32 = 8256 FLOPs: equal; a stale key the test no longer makes
    "test_model.py::test_rows[2]": {"Linear [2x64]": entry(8256, 4096, 2080), "Old [1x1]": entry(2, 1, 2)},
    "test_model.py::test_skipped": {"Linear [4x64]": entry(100, 50, 10)},  # a skipped test keeps its entries
    "test_model.py::test_broken": {"Conv2d [1x3x8x8]": entry(100, 50, 10)},  # did not run to its end: kept
    "test_model.py::test_xfail": {"Old [1x1]": entry(2, 1, 2)},
    "test_model.py::test_plain": {"Linear [4x64]": LINEAR_32},  # ran to its end, measured nothing
    "test_model.py::test_gone": {"Linear [4x64]": LINEAR_32},  # its file is collected, the test is not: gone
    "test_elsewhere.py::test_x": {"Linear [4x64]": LINEAR_32},  # its file is not collected: kept
}

XDIST = ("-p", "no:cacheprovider", "-p", "no:benchmark")

# test_grew (+25%), test_over (2080 > 2000 params), test_broken (RuntimeError); test_two and test_rows[1], [3]
# are new (no entry), which does not fail.
FAILED = ["test_model.py::test_broken", "test_model.py::test_grew", "test_model.py::test_over"]


def test_xdist_reports_what_a_serial_run_reports(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("xdist")
    write_baseline(pytester.path / "base.json", START)
    pytester.makepyfile(test_model=HEADER + SESSION)
    common = ("--flopbudget-baseline=base.json",)
    serial = pytester.runpytest(*XDIST, *common, "--flopbudget-json=serial.json", "--flopbudget-markdown=serial.md",
                                "--junitxml=serial.xml")
    step = pytester.path / "step_summary.md"
    step.write_text("earlier\n")
    monkeypatch.setenv(STEP_SUMMARY, str(step))  # the controller appends once; workers never do
    n2 = pytester.runpytest_subprocess(*XDIST, "-n", "2", *common, "--flopbudget-json=n2.json",
                                       "--flopbudget-markdown=n2.md", "--junitxml=n2.xml")
    monkeypatch.delenv(STEP_SUMMARY)
    assert step.read_text() == "earlier\n" + (pytester.path / "n2.md").read_text()
    runs = {
        "-n 2": n2,
        "-n auto": pytester.runpytest_subprocess(*XDIST, "-n", "auto", *common, "--flopbudget-json=auto.json",
                                                 "--flopbudget-markdown=auto.md"),
    }
    serial.assert_outcomes(passed=6, failed=3, skipped=1, xfailed=1)
    assert failed_ids(serial) == FAILED
    # +25.0% on each of FLOPs, MACs, params: three lines for test_grew
    assert growth_lines(serial) == sorted([
        "Linear: 1.65e-05 -> 2.06e-05 GFLOPs (+25.0%) over the baseline (tolerance 0%)",
        "Linear: 8.19e-06 -> 1.02e-05 GMACs (+25.0%) over the baseline (tolerance 0%)",
        "Linear: 2.08K -> 2.60K params (+25.0%) over the baseline (tolerance 0%)",
    ])
    serial_md = (pytester.path / "serial.md").read_text()
    header, rows = table(serial_md)
    assert header == HEADER_CELLS[:-1] + ["baseline", "status"]
    # test_broken and test_xfail measure Linear [4x64], which their baseline entries (Conv2d, Old) do not name:
    # unmatched, ranked with the growth.
    assert [(row[0], row[-2], row[-1]) for row in rows[:5]] == [
        ("test_model.py::test_over", "=", "OVER"), ("test_model.py::test_grew", "+25.0%", "GREW"),
        ("test_model.py::test_broken", "unmatched", "UNMATCHED"),
        ("test_model.py::test_xfail", "unmatched", "UNMATCHED"), ("test_model.py::test_same", "=", "ok")]
    # Notes in a code block: test_gone's entry is unused, test_rows[2]'s "Old [1x1]" too.
    assert "```" in serial_md
    assert "baseline entries no test of this run produced" in serial_md
    serial_json = json.loads((pytester.path / "serial.json").read_text())
    serial_junit = by_name(pytester.path / "serial.xml")
    assert serial_junit["test_grew"] == group("Linear [4x64]", GFLOPS_40, GMACS_40, 2600, "max_params=3000", "ok",
                                              "+25.0%")
    assert by_name(pytester.path / "n2.xml") == serial_junit  # workers attach the properties, reports carry them
    for name, spread in runs.items():
        spread.assert_outcomes(passed=6, failed=3, skipped=1, xfailed=1)
        assert spread.stdout.str().count("= flop budget =") == 1, name
        assert summary_rows(spread) == summary_rows(serial), name
        assert failed_ids(spread) == FAILED, name
        assert growth_lines(spread) == growth_lines(serial), name
        stem = name.split()[-1].replace("2", "n2")
        assert (pytester.path / f"{stem}.md").read_text() == serial_md, name
        spread_json = json.loads((pytester.path / f"{stem}.json").read_text())
        assert without_run_details(spread_json) == without_run_details(serial_json), name


def test_xdist_update_writes_the_serial_baseline(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    for name in ("serial.json", "n2.json"):
        write_baseline(pytester.path / name, START)
    pytester.makepyfile(test_model=HEADER + SESSION)
    serial = pytester.runpytest(*XDIST, "--flopbudget-baseline=serial.json", "--flopbudget-update")
    spread = pytester.runpytest_subprocess(*XDIST, "-n", "2", "--flopbudget-baseline=n2.json", "--flopbudget-update")
    # Growth does not fail under update; budgets and exceptions still do.
    for result in (serial, spread):
        result.assert_outcomes(passed=7, failed=2, skipped=1, xfailed=1)
        assert failed_ids(result) == ["test_model.py::test_broken", "test_model.py::test_over"]
    written = (pytester.path / "serial.json").read_bytes()
    assert (pytester.path / "n2.json").read_bytes() == written
    tests = json.loads(written)["tests"]
    assert tests["test_model.py::test_grew"] == {"Linear [4x64]": entry(20640, 10240, 2600)}
    assert "test_model.py::test_gone" not in tests
    assert tests["test_elsewhere.py::test_x"] == {"Linear [4x64]": LINEAR_32}
    assert tests["test_model.py::test_rows[2]"] == {"Linear [2x64]": entry(8256, 4096, 2080)}
    assert tests["test_model.py::test_skipped"] == START["test_model.py::test_skipped"]


# -------------------------------------------------------------------------------------------------- sharding

SHARD_1 = "same or grew or over or two"


def run_shards(pytester: pytest.Pytester) -> None:
    """SESSION's eleven tests in two shards: same, grew, over, two | rows[1-3], skipped, broken, xfail, plain."""
    write_baseline(pytester.path / "start.json", START)
    run(pytester, SESSION, "-k", SHARD_1, "--flopbudget-baseline=start.json", "--flopbudget-json=shard1.json",
        ).assert_outcomes(passed=2, failed=2, deselected=7)
    run(pytester, SESSION, "-k", f"not ({SHARD_1})", "--flopbudget-baseline=start.json",
        "--flopbudget-json=shard2.json").assert_outcomes(passed=4, failed=1, skipped=1, xfailed=1, deselected=4)


ALL_IDS = sorted(["test_model.py::test_same", "test_model.py::test_grew", "test_model.py::test_over",
                  "test_model.py::test_two", "test_model.py::test_rows[1]", "test_model.py::test_rows[2]",
                  "test_model.py::test_rows[3]", "test_model.py::test_skipped", "test_model.py::test_broken",
                  "test_model.py::test_xfail", "test_model.py::test_plain"])


def test_merge_then_baseline_equals_an_unsharded_update(pytester: pytest.Pytester) -> None:
    run_shards(pytester)
    merged = cli(pytester, "merge", "shard1.json", "shard2.json", "-o", "all.json")
    assert merged.returncode == 0, merged.stderr
    assert merged.stderr == ""
    shard1, shard2, document = (json.loads((pytester.path / name).read_text())
                                for name in ("shard1.json", "shard2.json", "all.json"))
    assert sorted(document["tests"]) == ALL_IDS
    assert document["tests"] == {**shard1["tests"], **shard2["tests"]}
    assert [without_position(m) for m in document["measurements"]] == [
        without_position(m) for m in shard1["measurements"] + shard2["measurements"]]
    assert [(m["test_id"], m["key"]) for m in document["measurements"]] == [
        (m["test_id"], m["key"]) for m in shard1["measurements"] + shard2["measurements"]]
    totals = document["totals"]
    assert totals == {key: shard1["totals"][key] + shard2["totals"][key] for key in totals}
    # same 16512, grew 20640, over 16512, two 16512 + 8256, rows 4128 + 8256 + 12384, skipped 16512,
    # broken 8256, xfail 16512
    assert totals["flops"] == 16512 + 20640 + 16512 + 16512 + 8256 + 4128 + 8256 + 12384 + 16512 + 8256 + 16512
    # 8192 + 10240 + 8192 + 8192 + 4096 + 2048 + 4096 + 6144 + 8192 + 4096 + 8192
    assert totals["macs"] == 8192 + 10240 + 8192 + 8192 + 4096 + 2048 + 4096 + 6144 + 8192 + 4096 + 8192
    assert totals["measurements"] == 11
    assert totals["over"] == 1
    assert totals["grew"] == 2  # test_grew, and test_skipped (measured 16512 FLOPs before its skip; entry 100)
    assert sorted(document["collected"]) == sorted(set(shard1["collected"]) | set(shard2["collected"]))

    # The baseline from the merged file equals the one an unsharded --flopbudget-update writes.
    write_baseline(pytester.path / "from_shards.json", START)
    made = cli(pytester, "baseline", "all.json", "-o", "from_shards.json")
    assert made.returncode == 0, made.stderr
    write_baseline(pytester.path / "unsharded.json", START)
    run(pytester, SESSION, "--flopbudget-baseline=unsharded.json", "--flopbudget-update")
    assert (pytester.path / "from_shards.json").read_bytes() == (pytester.path / "unsharded.json").read_bytes()
    # And straight from the two shard files, merged on the fly.
    write_baseline(pytester.path / "from_two.json", START)
    made = cli(pytester, "baseline", "shard1.json", "shard2.json", "-o", "from_two.json")
    assert made.returncode == 0, made.stderr
    assert (pytester.path / "from_two.json").read_bytes() == (pytester.path / "unsharded.json").read_bytes()


def test_a_new_baseline_from_shards_equals_an_unsharded_one(pytester: pytest.Pytester) -> None:
    """No baseline yet: both ways create the same file."""
    run(pytester, SESSION, "-k", SHARD_1, "--flopbudget-json=shard1.json")
    run(pytester, SESSION, "-k", f"not ({SHARD_1})", "--flopbudget-json=shard2.json")
    assert cli(pytester, "merge", "shard1.json", "shard2.json", "-o", "all.json").returncode == 0
    made = cli(pytester, "baseline", "all.json", "-o", "from_shards.json")
    assert made.returncode == 0, made.stderr
    run(pytester, SESSION, "--flopbudget-baseline=unsharded.json", "--flopbudget-update")
    assert (pytester.path / "from_shards.json").read_bytes() == (pytester.path / "unsharded.json").read_bytes()


def test_shards_by_file_give_the_unsharded_baseline(pytester: pytest.Pytester) -> None:
    """Each shard collects only its own file: a gone test is found in the file that collected it, and the other
    file's entries are left alone by that shard."""
    pytester.makepyfile(test_a=HEADER + """
@pytest.mark.flop_budget(max_params=3000)
def test_one():
    linear()(X)
""", test_b=HEADER + """
def test_two(complexity):
    complexity.measure(nn.Linear(64, 16), X)
""")
    start = {
        "test_a.py::test_one": {"Linear [4x64]": entry(100, 50, 10)},  # updated to 16512 / 8192 / 2080
        "test_a.py::test_gone": {"Linear [4x64]": LINEAR_32},  # gone: test_a.py is collected, it is not
        "test_b.py::test_two": {"Linear [4x64]": entry(8256, 4096, 1040), "Stale [1x1]": entry(2, 1, 2)},
        "test_b.py::test_gone_too": {"Linear [4x64]": LINEAR_32},
        "test_c.py::test_kept": {"Linear [4x64]": LINEAR_32},  # no shard collects test_c.py
    }
    pytester.runpytest("-p", "no:cacheprovider", "test_a.py", "--flopbudget-json=shard1.json").assert_outcomes(
        passed=1)
    pytester.runpytest("-p", "no:cacheprovider", "test_b.py", "--flopbudget-json=shard2.json").assert_outcomes(
        passed=1)
    write_baseline(pytester.path / "from_shards.json", start)
    made = cli(pytester, "baseline", "shard1.json", "shard2.json", "-o", "from_shards.json")
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines()[0].endswith("updated: 1 updated, 0 new, 3 removed"), made.stdout
    write_baseline(pytester.path / "unsharded.json", start)
    pytester.runpytest("-p", "no:cacheprovider", "test_a.py", "test_b.py", "--flopbudget-baseline=unsharded.json",
                       "--flopbudget-update").assert_outcomes(passed=2)
    written = (pytester.path / "unsharded.json").read_bytes()
    assert (pytester.path / "from_shards.json").read_bytes() == written
    assert json.loads(written)["tests"] == {
        "test_a.py::test_one": {"Linear [4x64]": LINEAR_32},
        "test_b.py::test_two": {"Linear [4x64]": entry(8256, 4096, 1040)},
        "test_c.py::test_kept": {"Linear [4x64]": LINEAR_32},
    }


def test_a_test_in_two_shards_is_an_error(pytester: pytest.Pytester) -> None:
    run(pytester, SESSION, "-k", "same or over", "--flopbudget-json=shard1.json")
    run(pytester, SESSION, "-k", "same or grew", "--flopbudget-json=shard2.json")
    process = cli(pytester, "merge", "shard1.json", "shard2.json", "-o", "all.json")
    line = assert_one_line_error(process, "shard1.json", "shard2.json")
    assert line.startswith("python -m pytest_flopbudget merge: error: test_model.py::test_same ran in two shards: "
                           "shard1.json and shard2.json"), line
    assert not (pytester.path / "all.json").exists()
    process = cli(pytester, "baseline", "shard1.json", "shard2.json", "-o", "b.json")
    assert_one_line_error(process, "test_model.py::test_same", "shard1.json", "shard2.json")
    assert not (pytester.path / "b.json").exists()


def test_a_test_in_two_shards_without_a_measurement_is_an_error(pytester: pytest.Pytester) -> None:
    """A test that measured nothing still ran: it is in "tests", so running it twice is found."""
    run(pytester, SESSION + "\ndef test_plain():\n    pass\n", "-k", "plain or same",
        "--flopbudget-json=shard1.json", "--flopbudget-watch=all")
    run(pytester, SESSION + "\ndef test_plain():\n    pass\n", "-k", "plain or over",
        "--flopbudget-json=shard2.json", "--flopbudget-watch=all")
    process = cli(pytester, "merge", "shard1.json", "shard2.json", "-o", "all.json")
    assert_one_line_error(process, "test_model.py::test_plain ran in two shards", "shard1.json", "shard2.json")


def test_shards_under_different_conventions_are_an_error(pytester: pytest.Pytester) -> None:
    run(pytester, SESSION, "-k", SHARD_1, "--flopbudget-json=shard1.json")
    run(pytester, SESSION, "-k", f"not ({SHARD_1})", "--flopbudget-json=shard2.json",
        "--flopbudget-convention=matmul")
    process = cli(pytester, "merge", "shard1.json", "shard2.json", "-o", "all.json")
    line = assert_one_line_error(process, "shard1.json", "shard2.json", "'full'", "'matmul'")
    assert line.startswith("python -m pytest_flopbudget merge: error: "), line
    assert not (pytester.path / "all.json").exists()


BAD_FILES = {
    "missing": None,
    "not JSON": "this is not JSON {",
    "empty": "",
    "a JSON list": "[1, 2]",
    "another schema": json.dumps({"schema": "pytest-flopbudget-baseline", "schema_version": 1, "tests": {}}),
    "no schema": json.dumps({"measurements": []}),
    "a future version": json.dumps({"schema": "pytest-flopbudget", "schema_version": 99, "measurements": []}),
    "truncated document": json.dumps({"schema": "pytest-flopbudget", "schema_version": 1}),
    "bad measurement": "REPLACE",
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_a_bad_input_file_is_one_line_naming_it(pytester: pytest.Pytester, kind: str) -> None:
    run(pytester, SESSION, "-k", SHARD_1, "--flopbudget-json=good.json")
    content = BAD_FILES[kind]
    if content == "REPLACE":  # a real document whose measurement lost its report
        document = json.loads((pytester.path / "good.json").read_text())
        del document["measurements"][0]["report"]
        content = json.dumps(document)
    if content is not None:
        (pytester.path / "bad.json").write_text(content)
    for command in ("merge", "baseline"):
        process = cli(pytester, command, "good.json", "bad.json", "-o", "out.json")
        line = assert_one_line_error(process, "bad.json")
        assert line.startswith(f"python -m pytest_flopbudget {command}: error: "), line
        assert not (pytester.path / "out.json").exists()


def test_a_bad_existing_baseline_is_one_line_naming_it(pytester: pytest.Pytester) -> None:
    run(pytester, SESSION, "-k", SHARD_1, "--flopbudget-json=shard1.json")
    (pytester.path / "b.json").write_text("{ not a baseline")
    line = assert_one_line_error(cli(pytester, "baseline", "shard1.json", "-o", "b.json"), "b.json")
    assert line.startswith("python -m pytest_flopbudget baseline: error: "), line
    assert (pytester.path / "b.json").read_text() == "{ not a baseline"


def test_baseline_refuses_a_run_with_lost_workers(pytester: pytest.Pytester) -> None:
    # Like --flopbudget-update under xdist: a run missing a crashed worker's measurements updates nothing.
    run(pytester, SESSION, "-k", SHARD_1, "--flopbudget-json=shard1.json")
    document = json.loads((pytester.path / "shard1.json").read_text())
    document["lost_workers"] = ["gw1"]
    (pytester.path / "shard1.json").write_text(json.dumps(document))
    line = assert_one_line_error(cli(pytester, "baseline", "shard1.json", "-o", "b.json"), "gw1")
    assert "incomplete" in line
    assert not (pytester.path / "b.json").exists()


def test_a_directory_as_input_is_one_line_naming_it(pytester: pytest.Pytester) -> None:
    (pytester.path / "shard.json").mkdir()
    assert_one_line_error(cli(pytester, "merge", "shard.json", "-o", "out.json"), "shard.json")


def test_no_command_is_a_usage_error(pytester: pytest.Pytester) -> None:
    process = cli(pytester)
    assert process.returncode == 2
    assert process.stderr.startswith("usage: python -m pytest_flopbudget"), process.stderr
    assert "Traceback" not in process.stderr
    assert "required" in process.stderr
    unknown = cli(pytester, "frobnicate")
    assert unknown.returncode == 2
    assert "invalid choice" in unknown.stderr
    missing_output = cli(pytester, "merge", "a.json")
    assert missing_output.returncode == 2
    assert "-o/--output" in missing_output.stderr


NO_TORCH = """
import runpy, sys
sys.argv = ["pytest_flopbudget", *sys.argv[1:]]
try:
    runpy.run_module("pytest_flopbudget", run_name="__main__", alter_sys=True)
except SystemExit as exit:
    status = exit.code
print("status", status, "cli", "pytest_flopbudget.cli" in sys.modules, "torch", "torch" in sys.modules)
"""


def test_the_commands_do_not_import_torch(pytester: pytest.Pytester) -> None:
    # Control: a bare interpreter here has not imported torch (no sitecustomize doing it).
    bare = subprocess.run([sys.executable, "-c", "import sys; print('torch' in sys.modules)"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert bare.stdout.strip() == "False"
    run(pytester, SESSION, "-k", SHARD_1, "--flopbudget-json=shard1.json")
    run(pytester, SESSION, "-k", f"not ({SHARD_1})", "--flopbudget-json=shard2.json")
    for args in (["merge", "shard1.json", "shard2.json", "-o", "all.json"], ["baseline", "all.json", "-o", "b.json"]):
        process = subprocess.run([sys.executable, "-c", NO_TORCH, *args], cwd=pytester.path, capture_output=True,
                                 text=True, timeout=120, check=False)
        assert process.stdout.splitlines()[-1] == "status 0 cli True torch False", (process.stdout, process.stderr)
    assert json.loads((pytester.path / "b.json").read_text())["schema"] == "pytest-flopbudget-baseline"


def test_an_unwritable_output_is_one_line(pytester: pytest.Pytester) -> None:
    run(pytester, SESSION, "-k", SHARD_1, "--flopbudget-json=shard1.json")
    (pytester.path / "blocker").write_text("a file")
    process = cli(pytester, "merge", "shard1.json", "-o", "blocker/all.json")
    assert_one_line_error(process, "blocker")
