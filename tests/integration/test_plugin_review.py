"""Holes a hostile review found: non-regular JSON paths, string booleans in pyproject, limits with a trailing
newline, markers added at run time, empty markers, and pytest 9's subtests."""

from __future__ import annotations

import json
import os
import stat

import pytest
from plugin_support import failures_section, run

MEASURED = """
def test_measured(complexity):
    complexity.measure(linear(), X)
"""

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
needs_symlink = pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="needs POSIX symlinks")


# 1. --flopbudget-json naming something that is not a regular file ---------------------------------------------


@needs_fifo
@pytest.mark.parametrize("source", ["command line", "ini"])
def test_a_fifo_as_json_path_is_a_usage_error_and_stays_a_fifo(pytester: pytest.Pytester, source: str) -> None:
    fifo = pytester.path / "pipe.json"
    os.mkfifo(fifo)
    if source == "ini":
        pytester.path.joinpath("pytest.ini").write_text("[pytest]\nflopbudget_json = pipe.json\n")
        args: tuple[str, ...] = ()
        message = f"ERROR: invalid flopbudget_json 'pipe.json' from ini: {fifo} is not a regular file (a FIFO)*"
    else:
        args = (f"--flopbudget-json={fifo}",)
        message = f"ERROR: invalid --flopbudget-json '{fifo}' from command line: {fifo} is not a regular file (a FIFO)*"
    result = run(pytester, MEASURED, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@needs_fifo
@needs_symlink
def test_a_symlink_to_a_fifo_is_a_usage_error(pytester: pytest.Pytester) -> None:
    fifo = pytester.path / "pipe"
    os.mkfifo(fifo)
    pytester.path.joinpath("link.json").symlink_to(fifo)
    result = run(pytester, MEASURED, "--flopbudget-json=link.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: invalid --flopbudget-json 'link.json' from command line: *link.json is not "
                                 "a regular file (a FIFO)*"])
    assert pytester.path.joinpath("link.json").is_symlink()
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@needs_symlink
@pytest.mark.parametrize("target_exists", [True, False])
def test_a_symlinked_json_path_writes_its_target(pytester: pytest.Pytester, target_exists: bool) -> None:
    target = pytester.mkdir("reports") / "measurements.json"
    if target_exists:
        target.write_text("old\n")
    link = pytester.path / "link.json"
    link.symlink_to(os.path.join("reports", "measurements.json"))  # relative: resolved from the link's directory
    run(pytester, MEASURED, "--flopbudget-json=link.json").assert_outcomes(passed=1)
    assert link.is_symlink()
    assert os.readlink(link) == os.path.join("reports", "measurements.json")
    assert json.loads(target.read_text())["totals"]["measurements"] == 1
    assert sorted(p.name for p in target.parent.iterdir()) == ["measurements.json"]  # no temporary file left


@needs_symlink
def test_a_symlink_loop_is_a_usage_error_and_stays(pytester: pytest.Pytester) -> None:
    link = pytester.path / "loop.json"
    link.symlink_to("loop.json")
    result = run(pytester, MEASURED, "--flopbudget-json=loop.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: invalid --flopbudget-json 'loop.json' from command line: *loop.json cannot "
                                 "be written: *"])
    assert link.is_symlink()


@needs_fifo
def test_a_fifo_that_appears_during_the_session_is_not_replaced(pytester: pytest.Pytester) -> None:
    fifo = pytester.path / "m.json"
    result = run(pytester, f"""
import os

def test_measured(complexity):
    complexity.measure(linear(), X)
    os.mkfifo({str(fifo)!r})
""", f"--flopbudget-json={fifo}")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines([f"could not write {fifo}: *{fifo} is not a regular file (a FIFO)*"])
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in pytester.path.iterdir() if p.name.startswith(".m.")] == []


# 2. pyproject booleans are TOML booleans --------------------------------------------------------------------


@pytest.mark.parametrize("value", ['"true"', '"false"', '"yes"', "1", "0"])
def test_pyproject_disable_must_be_a_toml_boolean(pytester: pytest.Pytester, value: str) -> None:
    pytester.path.joinpath("pyproject.toml").write_text(f"[tool.flopbudget]\ndisable = {value}\n")
    result = run(pytester, MEASURED)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    shown = repr(value.strip('"')) if value.startswith('"') else value
    result.stderr.fnmatch_lines([
        f"ERROR: invalid disable {shown} from pyproject.toml [[]tool.flopbudget[]] ({pytester.path}{os.sep}"
        "pyproject.toml): expected a TOML boolean, true or false without quotes",
    ])


def test_ini_and_command_line_keep_their_string_booleans(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("pyproject.toml").write_text("[tool.flopbudget]\ndisable = false\n")
    pytester.path.joinpath("pytest.ini").write_text("[pytest]\nflopbudget_disable = yes\n")
    result = run(pytester, MEASURED)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["disabled (ini): nothing measured or checked"])


# 3. a limit string ending in a newline ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["'0.001\\n'", "'4M\\n'", "'4\\n '"])
def test_a_limit_with_a_trailing_newline_is_a_collection_error(pytester: pytest.Pytester, value: str) -> None:
    result = run(pytester, f"""
@pytest.mark.flop_budget(max_gflops={value})
def test_guarded():
    linear()(X)
""")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["invalid flop_budget marker for test_model.py::test_guarded: max_gflops=*: "
                                 "cannot parse *: expected a number in ASCII digits*"])


# 4. markers added at run time -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["request.applymarker(MARK)", "request.node.add_marker(MARK)"])
def test_a_marker_added_by_a_fixture_is_enforced(pytester: pytest.Pytester, how: str) -> None:
    result = run(pytester, f"""
MARK = pytest.mark.flop_budget(max_gflops="10K")

@pytest.fixture
def budgeted(request):
    {how}

def test_over(budgeted):
    linear()(X)

def test_unmarked():
    linear()(X)
""", "--flopbudget-json=m.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*_ test_over _*",
        "Linear: 1.65e-05 GFLOPs > max_gflops=1e-05 (+65%)",
        "(budget: max_gflops=1e-05; FLOPs follow the 'full' convention)",
    ])
    measurements = json.loads(pytester.path.joinpath("m.json").read_text())["measurements"]
    assert [(m["test_id"], m["status"], m["budget"]) for m in measurements] == [
        ("test_model.py::test_over", "over", {"max_gflops": 1e-05}),
    ]


def test_a_runtime_marker_merges_with_collected_ones(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
pytestmark = pytest.mark.flop_budget(max_params=1)

@pytest.fixture
def lifted(request):
    request.applymarker(pytest.mark.flop_budget(max_params=None, max_gflops=1))

@pytest.fixture
def lowered(request):
    request.applymarker(pytest.mark.flop_budget(max_gmacs="8K"))

def test_lifted(lifted):
    linear()(X)

def test_lowered(lowered):
    linear()(X)
""")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*_ test_lowered _*",
        "Linear: 8.19e-06 GMACs > max_gmacs=8e-06 (+2%)",
        "Linear: 2.08K params > max_params=1 (+207900%)",
    ])


def test_a_setup_measurement_is_checked_against_the_runtime_budget(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.fixture
def measured(request, complexity):
    request.applymarker(pytest.mark.flop_budget(max_params=2000))
    complexity.measure(linear(), X)

def test_nothing_else(measured):
    pass
""")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["Linear: 2.08K params > max_params=2.00K (+4%)"])


@pytest.mark.parametrize(
    ("mark", "message"),
    [
        ("flop_budget(max_glops=1)", "max_glops: did you mean max_gflops?"),
        ("flop_budget()", "it sets no limit; give at least one of max_gflops, max_gmacs, max_params, "
                          "max_trainable_params"),
    ],
)
def test_a_bad_runtime_marker_fails_the_test_with_the_collection_message(
    pytester: pytest.Pytester, mark: str, message: str
) -> None:
    result = run(pytester, f"""
@pytest.fixture
def budgeted(request):
    request.applymarker(pytest.mark.{mark})

def test_bad(budgeted):
    linear()(X)
""")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*invalid flop_budget marker for test_model.py::test_bad: {message}"])


# 5. every marker sets at least one argument -----------------------------------------------------------------


@pytest.mark.parametrize("empty", ["flop_budget()", "flop_budget"])
def test_an_empty_marker_under_a_module_budget_is_a_collection_error(pytester: pytest.Pytester, empty: str) -> None:
    result = run(pytester, f"""
pytestmark = pytest.mark.flop_budget(max_gflops=1)

@pytest.mark.{empty}
def test_empty():
    linear()(X)

def test_module_budget():
    linear()(X)
""", "--continue-on-collection-errors")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([
        "invalid flop_budget marker for test_model.py::test_empty: it sets no limit; give at least one of "
        "max_gflops, max_gmacs, max_params, max_trainable_params",
    ])


def test_an_empty_class_marker_names_where_it_is_set(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.flop_budget()
class TestModels:
    @pytest.mark.flop_budget(max_gflops=1)
    def test_a(self):
        linear()(X)
""")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "invalid flop_budget marker for test_model.py::TestModels::test_a (set on test_model.py::TestModels): it "
        "sets no limit*",
    ])


def test_a_marker_giving_only_none_still_lifts(pytester: pytest.Pytester) -> None:
    run(pytester, """
pytestmark = pytest.mark.flop_budget(max_gflops="10K", max_params=1)

@pytest.mark.flop_budget(max_gflops=None)
def test_lifts_one():
    linear()(X)

@pytest.mark.flop_budget(max_gflops=None, max_params=None)
def test_lifts_all():
    linear()(X)
""").assert_outcomes(passed=1, failed=1)


# 6. subtests: the budget is the test's, checked once at the end of its call phase ---------------------------


def test_a_subtest_before_the_first_forward_is_not_a_hole(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.flop_budget(max_gflops=1)
def test_steps(subtests):
    with subtests.test(msg="prepare"):
        pass
    linear()(X)
    with subtests.test(msg="check"):
        assert True
""", "-rA")
    result.assert_outcomes(passed=1)
    assert "SUBFAIL" not in result.stdout.str()
    assert "checked nothing" not in result.stdout.str()


def test_an_overrun_inside_subtests_fails_the_test_once(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.flop_budget(max_gflops="10K")
def test_steps(subtests):
    for rows in (4, 8):
        with subtests.test(msg=f"rows={rows}"):
            linear()(torch.randn(rows, 64))
""", "-rA")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "SUBFAIL" not in text
    assert text.count("FAILED test_model.py::test_steps - FlopBudgetExceeded") == 1
    # One failure section says it (the short summary may repeat it in full: pytest does under CI=true).
    assert failures_section(text).count("(budget: max_gflops=1e-05; FLOPs follow the 'full' convention)") == 1


def test_a_subtests_own_failure_carries_no_budget(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.flop_budget(max_gflops="10K")
def test_steps(subtests):
    linear()(X)
    with subtests.test(msg="broken"):
        assert False, "broken on its own"
""", "-rA")
    result.assert_outcomes(failed=2)  # the subtest, on its own; the test, for its overrun
    result.stdout.fnmatch_lines(["SUBFAILED[[]broken[]] test_model.py::test_steps - AssertionError: broken on its own",
                                 "FAILED test_model.py::test_steps - FlopBudgetExceeded: *"])
    text = result.stdout.str()
    assert "- flop budget -" not in text  # no overrun section on the subtest's failure
    assert failures_section(text).count("(budget: max_gflops=1e-05; FLOPs follow the 'full' convention)") == 1


def test_a_budget_that_only_subtests_left_empty_fails_once(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.flop_budget(max_gflops=1)
def test_steps(subtests):
    for i in range(2):
        with subtests.test(msg=str(i)):
            pass
""", "-rA")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "SUBFAIL" not in text
    assert text.count("FAILED test_model.py::test_steps - NothingMeasured") == 1


def test_a_skipped_subtest_does_not_skip_the_tests_budget(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.flop_budget(max_gflops=1)
def test_within(subtests):
    linear()(X)
    with subtests.test(msg="not here"):
        pytest.skip("not on this platform")

@pytest.mark.flop_budget(max_gflops="10K")
def test_over(subtests):
    linear()(X)
    with subtests.test(msg="not here"):
        pytest.skip("not on this platform")
""", "--flopbudget-json=m.json")
    result.assert_outcomes(passed=1, failed=1)
    measurements = json.loads(pytester.path.joinpath("m.json").read_text())["measurements"]
    assert [m["status"] for m in measurements] == ["ok", "over"]
