"""Regressions from the ninth review: a measurement the baseline cannot match fails instead of passing as new,
``--lf`` keeps what it did not run, torch.compile and torch.jit.trace keep a model's name and baseline key, and
settings, baseline and results files that used to crash (or pass silently) are usage errors naming the file.

Every number is derived by hand from plugin_support.HEADER:

- ``linear()`` = nn.Linear(64, 32) on X (4 x 64): 4 * 64 * 32 = 8192 MACs, 2 * 8192 + 4 * 32 = 16512 FLOPs
  ('full'), 64 * 32 + 32 = 2080 params.
- nn.Linear(64, 40) on X: 4 * 64 * 40 = 10240 MACs, 2 * 10240 + 4 * 40 = 20640 FLOPs, 64 * 40 + 40 = 2600
  params: +25% on every count (20640 / 16512 = 10240 / 8192 = 2600 / 2080 = 1.25).
- linear() on an 8 x 64 input: 8 * 64 * 32 = 16384 MACs, 2 * 16384 + 8 * 32 = 33024 FLOPs, 2080 params.
- A model wrapping one Linear (nn.Sequential(nn.Linear(64, 32)), or a Net whose fc is one) has that Linear's
  counts: it adds no op and no parameter of its own. So Net(32) has linear()'s counts and Wide(40) those of
  nn.Linear(64, 40), compiled or traced or not.

Short forms: 16512 FLOPs = 1.65e-05 GFLOPs, 20640 = 2.06e-05; 8192 MACs = 8.19e-06 GMACs, 10240 = 1.02e-05;
2080 params = 2.08K, 2600 = 2.60K.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from baseline_support import E32, E40, GROWTH_25, text_of
from plugin_support import HEADER, failures_section, run

STEP_SUMMARY = "GITHUB_STEP_SUMMARY"
XDIST = ("-p", "no:cacheprovider", "-p", "no:benchmark")

E32_8ROWS = {"convention": "full", "flops": 33024, "macs": 16384, "params": 2080}

HINT = "(if the growth is intended, record it: pytest --flopbudget-update)"


#: pyproject.toml: every test watched, compared with b.json (so the hint is plain ``pytest --flopbudget-update``).
WATCH_ALL = """
[tool.flopbudget]
watch = "all"
baseline = "b.json"
"""


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under GitHub Actions the outer run has $GITHUB_STEP_SUMMARY set: inner runs must not append to it."""
    monkeypatch.delenv(STEP_SUMMARY, raising=False)


# --------------------------------------------------------------------------------------------------- helpers


def write_baseline(pytester: pytest.Pytester, tests: dict[str, Any], name: str = "b.json") -> Path:
    path = pytester.path / name
    path.write_text(text_of(tests))
    return path


def failures_of(result: pytest.RunResult) -> str:
    """The FAILURES section alone: before the short summary (repeated under CI=true) and the flop budget table."""
    return re.split(r"=+ flop budget =+", failures_section(result.stdout.str()))[0]


def summary_of(result: pytest.RunResult) -> list[str]:
    """The lines of the flop budget summary (table and notes)."""
    text = result.stdout.str()
    assert re.search(r"=+ flop budget =+", text), text
    return re.split(r"=+ flop budget =+", text)[1].splitlines()


def rows(result: pytest.RunResult, test: str) -> list[list[str]]:
    """The cells of every summary row of ``test`` (whitespace-split), in order."""
    return [line.split() for line in result.outlines if line.startswith(f"test_model.py::{test} ")]


def tail(result: pytest.RunResult, test: str) -> list[tuple[str, str]]:
    """(baseline, status) of each summary row of ``test``: its last two cells."""
    return [(cells_[-2], cells_[-1]) for cells_ in rows(result, test)]


def usage_error(result: pytest.RunResult) -> str:
    """The one ``ERROR:`` line of a usage error, with nothing internal around it."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR, (result.ret, result.stdout.str(), result.stderr.str())
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output, output
    assert "Traceback" not in output, output
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert len(errors) == 1, result.errlines
    return errors[0]


def cli(pytester: pytest.Pytester, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_flopbudget", *args], cwd=pytester.path,
                          capture_output=True, text=True, timeout=120, check=False)


def measurements(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["measurements"]


def compile_available() -> bool:
    try:
        import torch._dynamo

        return bool(torch._dynamo.is_dynamo_supported())
    except Exception:  # noqa: BLE001 - any failure to import or ask means: not on this platform
        return False


needs_compile = pytest.mark.skipif(not compile_available(), reason="torch.compile is not supported here")
needs_symlink = pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="needs POSIX symlinks")


# ------------------------------------------------------------------- 1. a measurement the baseline cannot match

UNMATCHED = """
def test_shape():
    linear()(torch.randn(8, 64))  # recorded on 4 x 64: the key is now Linear [8x64]

def test_loop():
    for width in (32, 40, 32):  # the baseline knows two models of this loop; a third is measured
        torch.manual_seed(0)
        nn.Linear(64, width)(X)

def test_new():
    linear()(X)

def test_same():
    linear()(X)
"""

UNMATCHED_BASELINE = {
    "test_model.py::test_shape": {"Linear [4x64]": E32},
    "test_model.py::test_loop": {"Linear [4x64]": E32, "Linear [4x64] #2": E40},
    "test_model.py::test_same": {"Linear [4x64]": E32},
}

NOT_IN_BASELINE = ": the model, its name or its inputs changed, so its cost could not be compared"
SHAPE_LINE = f"Linear [8x64]: not in the baseline, which has this test's Linear [4x64]{NOT_IN_BASELINE}"
LOOP_LINE = ("Linear [4x64] #3: not in the baseline, which has this test's Linear [4x64], Linear [4x64] #2"
             f"{NOT_IN_BASELINE}")


def test_a_measurement_under_a_key_its_test_does_not_have_fails_unmatched(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(WATCH_ALL)
    write_baseline(pytester, UNMATCHED_BASELINE)
    result = run(pytester, UNMATCHED, "--flopbudget-json=m.json")
    result.assert_outcomes(failed=2, passed=2)
    assert sorted(re.findall(r"^FAILED (\S+)", result.stdout.str(), flags=re.MULTILINE)) == [
        "test_model.py::test_loop", "test_model.py::test_shape"]
    failures = failures_of(result)
    for line in (SHAPE_LINE, LOOP_LINE):
        assert failures.count(line) == 1, failures
    assert failures.splitlines().count(HINT) == 2  # once per failed test
    assert "test_new" not in failures
    assert "test_same" not in failures

    # summary: baseline column "unmatched", status UNMATCHED; a test with no entry at all is only new
    assert tail(result, "test_shape") == [("unmatched", "UNMATCHED")]
    assert tail(result, "test_loop") == [("=", "-"), ("=", "-"), ("unmatched", "UNMATCHED")]
    assert tail(result, "test_new") == [("new", "-")]
    assert tail(result, "test_same") == [("=", "-")]

    document = json.loads((pytester.path / "m.json").read_text())
    # two unmatched (test_shape's, test_loop's third), one new (test_new), nothing grew
    assert document["totals"]["unmatched"] == 2
    assert document["totals"]["new"] == 1
    assert document["totals"]["grew"] == 0
    changes = {(m["test_id"], m["key"]): m["baseline"] for m in document["measurements"]}
    shape = changes[("test_model.py::test_shape", "Linear [8x64]")]
    assert (shape["status"], shape["known"], shape["before"], shape["text"]) == (
        "unmatched", ["Linear [4x64]"], None, "unmatched")
    third = changes[("test_model.py::test_loop", "Linear [4x64] #3")]
    assert (third["status"], third["known"]) == ("unmatched", ["Linear [4x64]", "Linear [4x64] #2"])
    assert changes[("test_model.py::test_new", "Linear [4x64]")]["status"] == "new"
    assert changes[("test_model.py::test_new", "Linear [4x64]")]["known"] == []


def test_an_update_records_an_unmatched_measurement_without_failing(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(WATCH_ALL)
    path = write_baseline(pytester, UNMATCHED_BASELINE)
    result = run(pytester, UNMATCHED, "--flopbudget-update")
    result.assert_outcomes(passed=4)
    assert "not in the baseline" not in failures_section(result.stdout.str())
    # test_shape ran to its end: its 8 x 64 entry replaces the 4 x 64 one; test_loop gains #3 (width 32 again)
    assert path.read_text() == text_of({
        "test_model.py::test_shape": {"Linear [8x64]": E32_8ROWS},
        "test_model.py::test_loop": {"Linear [4x64]": E32, "Linear [4x64] #2": E40, "Linear [4x64] #3": E32},
        "test_model.py::test_new": {"Linear [4x64]": E32},
        "test_model.py::test_same": {"Linear [4x64]": E32},
    })
    # new: test_shape's 8x64, test_loop's #3, test_new's; removed: test_shape's 4x64
    assert f"baseline {path} updated: 0 updated, 3 new, 1 removed" in result.outlines


# ------------------------------------------------------------------------------------------------- 2. --lf

LAST_FAILED = """
import pathlib

def test_a():
    linear()(X)

def test_b():
    torch.manual_seed(0)
    width = pathlib.Path("width")
    nn.Linear(64, int(width.read_text()) if width.exists() else 32)(X)
    assert not pathlib.Path("fail_b").exists()
"""


def run_with_cache(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """A run that keeps the cache provider: --lf reads the last failures from it."""
    return pytester.runpytest("-p", "no:randomly", *args)


def test_lf_update_keeps_the_entries_of_the_passing_tests_it_did_not_run(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(WATCH_ALL)
    pytester.makepyfile(test_model=HEADER + LAST_FAILED)
    path = pytester.path / "b.json"
    run_with_cache(pytester, "--flopbudget-update").assert_outcomes(passed=2)
    assert path.read_text() == text_of({"test_model.py::test_a": {"Linear [4x64]": E32},
                                        "test_model.py::test_b": {"Linear [4x64]": E32}})
    (pytester.path / "fail_b").write_text("")
    run_with_cache(pytester).assert_outcomes(passed=1, failed=1)  # test_b fails on its own
    (pytester.path / "fail_b").unlink()
    (pytester.path / "width").write_text("40")
    result = run_with_cache(pytester, "--lf", "--flopbudget-update")
    result.assert_outcomes(passed=1)  # test_a is not even collected
    # --lf ran test_b alone: its entry is updated, test_a's (same file, not run) stays
    assert path.read_text() == text_of({"test_model.py::test_a": {"Linear [4x64]": E32},
                                        "test_model.py::test_b": {"Linear [4x64]": E40}})
    assert f"baseline {path} updated: 1 updated, 0 new, 0 removed" in result.outlines


def test_lf_does_not_warn_about_a_pattern_naming_a_test_it_did_not_run(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("""
[tool.flopbudget]
watch = "all"

[tool.flopbudget.tests."test_model.py::test_a"]
max_gflops = 1
""")
    pytester.makepyfile(test_model=HEADER + LAST_FAILED)
    (pytester.path / "fail_b").write_text("")
    first = run_with_cache(pytester)
    first.assert_outcomes(passed=1, failed=1)
    assert "matches no collected test" not in first.stdout.str()
    result = run_with_cache(pytester, "--lf", "-W", "error::pytest.PytestConfigWarning")
    result.assert_outcomes(failed=1)  # test_b alone, again; not a usage error
    assert "matches no collected test" not in result.stdout.str() + result.stderr.str()


# ------------------------------------------------------------------------------------------- 3. torch.compile

COMPILED = """
import pathlib

COMPILE = pathlib.Path("compile").exists()

class Net(nn.Module):
    def __init__(self, width):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(64, width)

    def forward(self, x):
        return self.fc(x)

class Wide(Net):
    pass

def build(model):
    if COMPILE:
        torch._dynamo.reset()
        return torch.compile(model, backend="eager")
    return model

def test_net():
    build(Net(32))(X)

def test_wide():
    build(Wide(40))(X)
"""

# Net(32): 2080 params, at its table's limit; Wide(40): 2600 params, over its table's 2080 (2600 / 2080 = 1.25).
COMPILED_TOML = WATCH_ALL + """
[tool.flopbudget.models.Net]
max_params = 2080

[tool.flopbudget.models.Wide]
max_params = 2080
"""


@needs_compile
def test_a_compiled_model_keeps_its_name_its_models_table_and_its_baseline_key(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(COMPILED_TOML)
    path = pytester.path / "b.json"
    # Recorded uncompiled: Wide is over its table, but the test ran to its end, so its entry is written too.
    first = run(pytester, COMPILED, "--flopbudget-update")
    first.assert_outcomes(passed=1, failed=1)
    recorded = text_of({"test_model.py::test_net": {"Net [4x64]": E32},
                        "test_model.py::test_wide": {"Wide [4x64]": E40}})
    assert path.read_text() == recorded

    (pytester.path / "compile").write_text("")
    result = pytester.runpytest_subprocess(*XDIST, "--flopbudget-json=m.json")
    result.assert_outcomes(passed=1, failed=1)
    assert re.findall(r"^FAILED (\S+)", result.stdout.str(), flags=re.MULTILINE) == ["test_model.py::test_wide"]
    failures = failures_of(result)
    assert "Wide: 2.60K params > max_params=2.08K (+25%)" in failures.splitlines(), failures
    assert "not in the baseline" not in failures
    # named by the compiled model, checked against its table, compared equal with the uncompiled entry
    assert [cells_[1] for cells_ in rows(result, "test_net")] == ["Net"]
    assert tail(result, "test_net") == [("=", "ok")]
    assert tail(result, "test_wide") == [("=", "OVER")]
    by_test = {m["test_id"]: m for m in measurements(pytester.path / "m.json")}
    assert set(by_test) == {"test_model.py::test_net", "test_model.py::test_wide"}
    net = by_test["test_model.py::test_net"]
    assert (net["report"]["model"], net["report"]["model_type"]) == ("Net", "test_model.Net")
    assert (net["key"], net["status"], net["budget"]) == ("Net [4x64]", "ok", {"max_params": 2080})
    assert net["baseline"]["status"] == "equal"
    wide = by_test["test_model.py::test_wide"]
    assert (wide["report"]["model"], wide["report"]["model_type"]) == ("Wide", "test_model.Wide")
    assert (wide["key"], wide["status"]) == ("Wide [4x64]", "over")
    assert path.read_text() == recorded


# ---------------------------------------------------------------------------------------------- 4. jit.trace

TRACED = """
def traced():
    torch.manual_seed(0)
    return torch.jit.trace(nn.Sequential(nn.Linear(64, 32)), X, check_trace=False)

def test_traced():
    traced()(X)

@pytest.mark.flop_budget(max_gmacs="8.192K")
def test_traced_marked():
    traced()(X)
"""

TRACE_WARNINGS = ("-W", "error::torch.jit.TracerWarning", "-W", "ignore::FutureWarning")
TRACED_BASELINE = {"test_model.py::test_traced": {"Sequential [4x64]": E32},
                   "test_model.py::test_traced_marked": {"Sequential [4x64]": E32}}


def test_jit_trace_is_not_measured_while_tracing_and_the_traced_module_is(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(WATCH_ALL)
    result = run(pytester, TRACED, *TRACE_WARNINGS, "--flopbudget-update", "--flopbudget-json=m.json")
    result.assert_outcomes(passed=2)
    output = result.stdout.str() + result.stderr.str()
    assert "TracerWarning" not in output
    assert "warnings summary" not in output  # no warning at all
    # one measurement per test: the traced module's call, named by its Python class (original_name)
    assert (pytester.path / "b.json").read_text() == text_of(TRACED_BASELINE)
    found = measurements(pytester.path / "m.json")
    assert [(m["test_id"], m["key"], m["report"]["model"], m["report"]["input_shapes"], m["report"]["macs"],
             m["report"]["flops"]) for m in found] == [
        ("test_model.py::test_traced", "Sequential [4x64]", "Sequential", [[4, 64]], 8192, 16512),
        ("test_model.py::test_traced_marked", "Sequential [4x64]", "Sequential", [[4, 64]], 8192, 16512)]


def test_jit_trace_under_xdist_hands_its_measurements_over(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(WATCH_ALL)
    pytester.makepyfile(test_model=HEADER + TRACED)
    result = pytester.runpytest_subprocess(*XDIST, *TRACE_WARNINGS, "-n", "2", "--flopbudget-update",
                                           "--flopbudget-json=m.json")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    assert "TracerWarning" not in result.stdout.str() + result.stderr.str()
    assert (pytester.path / "b.json").read_text() == text_of(TRACED_BASELINE)
    assert [m["key"] for m in measurements(pytester.path / "m.json")] == ["Sequential [4x64]"] * 2


# ---------------------------------------------------------------------------------------------- 5. tolerance

PASSING = """
def test_a():
    linear()(X)
"""


@pytest.mark.parametrize("where", ["pyproject", "command line"])
def test_a_tolerance_with_an_underscore_is_a_usage_error(pytester: pytest.Pytester, where: str) -> None:
    # float("1_0") reads 10; the README says ASCII digits
    if where == "pyproject":
        pyproject = pytester.makepyprojecttoml(WATCH_ALL + 'tolerance = "1_0"\n')
        line = usage_error(run(pytester, PASSING))
        assert line.startswith("ERROR: invalid tolerance '1_0' from pyproject.toml [tool.flopbudget]"), line
        assert str(pyproject) in line
    else:
        pytester.makepyprojecttoml(WATCH_ALL)
        line = usage_error(run(pytester, PASSING, "--flopbudget-tolerance=1_0"))
        assert line.startswith("ERROR: invalid --flopbudget-tolerance '1_0' from command line: "), line
    assert "expected a percentage" in line


def test_a_huge_toml_integer_tolerance_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pyproject = pytester.makepyprojecttoml(WATCH_ALL + f"tolerance = 1{'0' * 400}\n")  # 401 digits
    line = usage_error(run(pytester, PASSING))
    assert line.startswith("ERROR: invalid tolerance 1000"), line
    assert f"from pyproject.toml [tool.flopbudget] ({pyproject}): expected a percentage" in line
    assert line.endswith("; this one is too large"), line


# ----------------------------------------------------------------------------------- 6. a huge baseline count


def test_a_baseline_count_beyond_a_float_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(WATCH_ALL)
    path = write_baseline(pytester, {"test_model.py::test_a": {"Linear [4x64]": {**E32, "flops": 10 ** 400}}})
    before = path.read_bytes()
    line = usage_error(run(pytester, PASSING))
    assert line == (f"ERROR: baseline {path}: test_model.py::test_a Linear [4x64]: flops has 401 digits; expected a "
                    "count a float can hold (from pyproject.toml [tool.flopbudget])")
    spread = pytester.runpytest_subprocess(*XDIST, "-n", "2")  # the same test_model.py; the error comes before workers
    assert spread.ret == pytest.ExitCode.USAGE_ERROR, spread.stdout.str() + spread.stderr.str()
    assert str(path) in spread.stderr.str()
    assert "INTERNALERROR" not in spread.stdout.str() + spread.stderr.str()
    assert path.read_bytes() == before


# --------------------------------------------------------------- 7. python -m pytest_flopbudget baseline input


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A --flopbudget-json file of one Linear [4x64] measurement, written by a real run once for every case, and
    proven good: the baseline command turns it into E32."""
    folder = tmp_path_factory.mktemp("results")
    (folder / "test_model.py").write_text(HEADER + PASSING)
    process = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:benchmark",
                              "-p", "no:randomly", "--flopbudget-watch=all", "--flopbudget-json=m.json",
                              "test_model.py"], cwd=folder, capture_output=True, text=True, timeout=300,
                             check=False)
    assert process.returncode == 0, process.stdout + process.stderr
    good = subprocess.run([sys.executable, "-m", "pytest_flopbudget", "baseline", "m.json", "-o", "good.json"],
                          cwd=folder, capture_output=True, text=True, timeout=120, check=False)
    assert good.returncode == 0, good.stderr
    assert (folder / "good.json").read_text() == text_of({"test_model.py::test_a": {"Linear [4x64]": E32}})
    return folder / "m.json"


def _set(measurement: dict[str, Any], where: str, value: Any) -> None:
    target = measurement["report"] if where != "test_id" else measurement
    target[where] = value


@pytest.mark.parametrize(("where", "value", "said"), [
    ("macs", "12", "macs is '12'; expected a whole number, zero or more"),
    ("test_id", 5, "test_id and key must be strings"),
    ("flops", 3.5, "flops is 3.5; expected a whole number, zero or more"),
    ("flops", -5, "flops is -5; expected a whole number, zero or more"),
    ("params", True, "params is True; expected a whole number, zero or more"),
], ids=["macs-str", "test_id-int", "flops-float", "flops-negative", "params-bool"])
def test_baseline_command_refuses_a_damaged_measurement(pytester: pytest.Pytester, where: str, value: Any, said: str,
                                                        results: Path) -> None:
    # Before: a traceback (a string, an int test id), or a baseline written that pytest then refuses.
    document = json.loads(results.read_text())
    _set(document["measurements"][0], where, value)
    damaged = pytester.path / "damaged.json"
    damaged.write_text(json.dumps(document))
    out = write_baseline(pytester, {"test_model.py::test_a": {"Linear [4x64]": E40}}, name="out.json")
    before = out.read_bytes()
    process = cli(pytester, "baseline", str(damaged), "-o", "out.json")
    assert process.returncode == 2, (process.stdout, process.stderr)
    assert "Traceback" not in process.stderr
    lines = process.stderr.splitlines()
    assert len(lines) == 1, process.stderr
    assert lines[0].startswith(f"python -m pytest_flopbudget baseline: error: {damaged} is not a valid "
                               "--flopbudget-json file"), lines[0]
    assert said in lines[0], lines[0]
    assert out.read_bytes() == before  # nothing written
    assert sorted(p.name for p in pytester.path.iterdir()) == ["damaged.json", "out.json"]  # no temporary left


# -------------------------------------------------------------------------------- 8. one file for two outputs


def test_markdown_naming_the_baseline_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(WATCH_ALL)
    path = write_baseline(pytester, {"test_model.py::test_a": {"Linear [4x64]": E32}})
    before = path.read_bytes()
    line = usage_error(run(pytester, PASSING, "--flopbudget-markdown=b.json"))
    assert line == (f"ERROR: markdown from command line and baseline from pyproject.toml [tool.flopbudget] name the "
                    f"same file, {path}: one would overwrite the other")
    assert path.read_bytes() == before


@needs_symlink
def test_json_naming_the_baseline_through_a_symlink_is_a_usage_error(pytester: pytest.Pytester) -> None:
    path = write_baseline(pytester, {"test_model.py::test_a": {"Linear [4x64]": E32}})
    before = path.read_bytes()
    (pytester.path / "link.json").symlink_to(path)
    line = usage_error(run(pytester, PASSING, "--flopbudget-watch=all", "--flopbudget-baseline=b.json",
                           "--flopbudget-json=link.json"))
    assert line == (f"ERROR: json from command line and baseline from command line name the same file, "
                    f"{pytester.path / 'link.json'}: one would overwrite the other")
    assert path.read_bytes() == before
    assert (pytester.path / "link.json").is_symlink()


# ------------------------------------------------------------------------------------------ 9. a hook raising

RAISING_HOOK = """
import pytest

@pytest.hookimpl(optionalhook=True)
def pytest_flopbudget_budget(item, budget):
    if item.name == "test_a":
        raise RuntimeError("boom in my hook")
    return None
"""

TWO_TESTS = """
def test_a():
    linear()(X)

def test_b():
    linear()(X)
"""


def test_a_raising_budget_hook_is_a_collection_error_naming_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(WATCH_ALL.replace('baseline = "b.json"\n', ""))
    pytester.makeconftest(RAISING_HOOK)
    message = "pytest_flopbudget_budget raised RuntimeError for test_model.py::test_a: boom in my hook"
    result = run(pytester, TWO_TESTS)
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    assert result.ret == pytest.ExitCode.INTERRUPTED, output
    assert message in output
    result.assert_outcomes(errors=1)
    going_on = run(pytester, TWO_TESTS, "--continue-on-collection-errors")
    assert "INTERNALERROR" not in going_on.stdout.str() + going_on.stderr.str()
    assert message in going_on.stdout.str()
    going_on.assert_outcomes(passed=1, errors=1)
    # test_b ran (watched: watch = "all"), test_a did not
    assert [cells_[:2] for cells_ in rows(going_on, "test_b")] == [["test_model.py::test_b", "Linear"]]
    assert rows(going_on, "test_a") == []


# ----------------------------------------------------------------------- 10. a hook lifting a pattern's test

LIFTING_HOOK = """
import pytest
from pytest_flopbudget import Budget

@pytest.hookimpl(optionalhook=True)
def pytest_flopbudget_budget(item, budget):
    return Budget() if item.name == "test_lifted" else None
"""

GROWN = """
def test_lifted():
    torch.manual_seed(0)
    nn.Linear(64, 40)(X)  # recorded as Linear(64, 32)
"""


def test_a_hook_lifting_the_budget_of_a_pattern_named_test_keeps_it_compared(pytester: pytest.Pytester) -> None:
    # watch = "marked" (the default): the pattern watches the test; Budget() lifts its limits, not the baseline.
    pytester.makepyprojecttoml("""
[tool.flopbudget]
baseline = "b.json"

[tool.flopbudget.tests."test_model.py::*"]
max_gflops = 1
""")
    pytester.makeconftest(LIFTING_HOOK)
    write_baseline(pytester, {"test_model.py::test_lifted": {"Linear [4x64]": E32}})
    result = run(pytester, GROWN)
    result.assert_outcomes(failed=1)
    failures = failures_of(result).splitlines()
    for line in [*GROWTH_25, HINT]:
        assert failures.count(line) == 1, failures
    assert tail(result, "test_lifted") == [("+25.0%", "GREW")]
    assert [cells_[6] for cells_ in rows(result, "test_lifted")] == ["-"]  # budget: lifted


# ------------------------------------------------------------------------------ 11. models tables that miss

MISSED_TABLES = """
[tool.flopbudget]
watch = "all"

[tool.flopbudget.models.Linaer]
max_gflops = 0

[tool.flopbudget.models."torch.nn.Linear"]
max_gflops = 0

[tool.flopbudget.models.ResNet]
max_gflops = 0
"""


def test_a_models_table_that_nearly_names_a_measured_model_says_so(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(MISSED_TABLES)
    result = run(pytester, PASSING)
    result.assert_outcomes(passed=1)  # no table applies to Linear: nothing is checked
    exactly = "(tables match a model's class name or its module.ClassName exactly)"
    notes = [line for line in summary_of(result) if "matched no measured model" in line]
    assert notes == [
        f"pyproject.toml [tool.flopbudget.models.Linaer] matched no measured model: did you mean Linear? {exactly}",
        'pyproject.toml [tool.flopbudget.models."torch.nn.Linear"] matched no measured model: did you mean '
        f"torch.nn.modules.linear.Linear? {exactly}",
    ]
    assert "ResNet" not in result.stdout.str()  # a model this run never measured, close to none: nothing to say
