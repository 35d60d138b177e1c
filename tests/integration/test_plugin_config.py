"""Settings: command line > ini > pyproject [tool.flopbudget] > default, and errors naming their source."""

from __future__ import annotations

import json

import pytest
from plugin_support import HEADER

SOURCE = HEADER + """
def test_measures(complexity):
    complexity.measure(linear(), X)
"""


def convention_line(result: pytest.RunResult) -> str:
    [line] = [line for line in result.outlines if line.startswith("FLOPs follow the")]
    return line.partition(":")[0]


@pytest.mark.parametrize(
    ("files", "args", "expected"),
    [
        ({}, (), "'full' convention (default)"),
        ({"pyproject.toml": '[tool.flopbudget]\nconvention = "exact"\n'}, (),
         "'exact' convention (pyproject.toml [tool.flopbudget])"),
        ({"pyproject.toml": '[tool.flopbudget]\nconvention = "exact"\n\n'
                            '[tool.pytest.ini_options]\nflopbudget_convention = "matmul"\n'}, (),
         "'matmul' convention (ini)"),
        ({"pyproject.toml": '[tool.flopbudget]\nconvention = "exact"\n\n'
                            '[tool.pytest.ini_options]\nflopbudget_convention = "matmul"\n'},
         ("--flopbudget-convention=full",), "'full' convention (command line)"),
        ({"pytest.ini": "[pytest]\nflopbudget_convention = matmul\n",
          "pyproject.toml": '[tool.flopbudget]\nconvention = "exact"\n'}, (), "'matmul' convention (ini)"),
        ({"tox.ini": "[pytest]\nflopbudget_convention = exact\n"}, (), "'exact' convention (ini)"),
        ({"setup.cfg": "[tool:pytest]\nflopbudget_convention = matmul\n"}, (), "'matmul' convention (ini)"),
        ({}, ("-o", "flopbudget_convention=exact"), "'exact' convention (ini)"),
        ({"pyproject.toml": '[tool.pytest]\nflopbudget_convention = "exact"\n'}, (), "'exact' convention (ini)"),
    ],
)
def test_convention_precedence(pytester: pytest.Pytester, files: dict, args: tuple, expected: str) -> None:
    for name, text in files.items():
        pytester.path.joinpath(name).write_text(text)
    pytester.makepyfile(test_model=SOURCE)
    result = pytester.runpytest("-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=1)
    assert convention_line(result) == f"FLOPs follow the {expected}"


def test_the_convention_changes_the_counts(pytester: pytest.Pytester) -> None:
    # Linear(64, 32) with bias on 4 rows: full 2 * 8192 + 128; matmul 2 * 8192; exact 128 outputs * 2 * 64.
    pytester.makepyfile(test_model=HEADER + """
import os

def test_counts(complexity):
    expected = {"full": 16512, "matmul": 16384, "exact": 16384}[complexity.convention]
    assert complexity.measure(linear(), X).flops == expected
    no_bias = nn.Linear(64, 32, bias=False)
    expected = {"full": 16384, "matmul": 16384, "exact": 128 * 127}[complexity.convention]
    assert complexity.measure(no_bias, X).flops == expected
""")
    for convention in ("full", "matmul", "exact"):
        result = pytester.runpytest("-p", "no:cacheprovider", f"--flopbudget-convention={convention}")
        result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({}, ("--flopbudget-convention=flops",),
         "invalid --flopbudget-convention 'flops' from command line: expected one of full, matmul, exact"),
        ({"pytest.ini": "[pytest]\nflopbudget_convention = x\n"}, (),
         "invalid flopbudget_convention 'x' from ini: expected one of full, matmul, exact"),
        ({"pytest.ini": "[pytest]\nflopbudget_convention = x\n"}, ("--flopbudget-convention=full",),
         "invalid flopbudget_convention 'x' from ini: *"),  # an overridden bad value is still an error
        ({"tox.ini": "[pytest]\nflopbudget_disable = maybe\n"}, (),
         "invalid flopbudget_disable from ini: invalid truth value 'maybe'"),
        ({"pyproject.toml": '[tool.flopbudget]\nconvention = "FULL"\n'}, (),
         "invalid convention 'FULL' from pyproject.toml [[]tool.flopbudget[]] (*pyproject.toml): "
         "expected one of full, matmul, exact"),
        ({"pyproject.toml": "[tool.flopbudget]\ndisable = 3\n"}, (),
         "invalid disable 3 from pyproject.toml [[]tool.flopbudget[]] (*pyproject.toml): expected a TOML boolean, "
         "true or false without quotes"),
        ({"pyproject.toml": '[tool.flopbudget]\nconventon = "full"\n'}, (),
         "unknown key 'conventon' in pyproject.toml [[]tool.flopbudget[]] (*pyproject.toml): did you mean convention?"),
        ({"pyproject.toml": "[tool]\nflopbudget = 1\n"}, (),
         "invalid pyproject.toml [[]tool.flopbudget[]] in *: expected a table, got int"),
        ({"pyproject.toml": "[tool.pytest]\nflopbudget_convention = 3\n"}, (),
         "invalid flopbudget_convention from ini: *pyproject.toml: config option 'flopbudget_convention' expects a "
         "string, got int: 3"),
        ({}, ("--flopbudget-json=.",), "invalid --flopbudget-json '.' from command line: * is a directory*"),
        ({"pyproject.toml": '[tool.flopbudget]\njson = ""\n'}, (),
         "invalid json '' from pyproject.toml [[]tool.flopbudget[]] (*pyproject.toml): expected a file path"),
        # A path ending in a separator names a directory, existing or not; Path() would drop the separator.
        ({}, ("--flopbudget-json=reports/",),
         "invalid --flopbudget-json 'reports/' from command line: ends with a path separator, so it names a "
         "directory; expected a file path such as reports/measurements.json"),
        ({}, ("--flopbudget-json=reports\\",),
         "invalid --flopbudget-json 'reports\\\\' from command line: ends with a path separator*"),
        ({}, ("--flopbudget-json=out/reports/ ",),
         "invalid --flopbudget-json 'out/reports/ ' from command line: ends with a path separator*"),
        ({"pytest.ini": "[pytest]\nflopbudget_json = reports/\n"}, (),
         "invalid flopbudget_json 'reports/' from ini: ends with a path separator*"),
        ({"pytest.ini": "[pytest]\nflopbudget_json = reports/\n"}, ("--flopbudget-json=ok.json",),
         "invalid flopbudget_json 'reports/' from ini: ends with a path separator*"),  # overridden, still an error
        ({"pyproject.toml": '[tool.flopbudget]\njson = "reports\\\\"\n'}, (),
         "invalid json 'reports\\\\' from pyproject.toml [[]tool.flopbudget[]] (*pyproject.toml): "
         "ends with a path separator*"),
    ],
)
def test_bad_settings_are_usage_errors_naming_the_source(
    pytester: pytest.Pytester, files: dict, args: tuple, message: str
) -> None:
    for name, text in files.items():
        pytester.path.joinpath(name).write_text(text)
    pytester.makepyfile(test_model=SOURCE)
    result = pytester.runpytest("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_disable_from_ini_and_pyproject(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_model=HEADER + """
@pytest.mark.flop_budget(max_params=1)
def test_over():
    linear()(X)
""")
    pytester.path.joinpath("pyproject.toml").write_text("[tool.flopbudget]\ndisable = true\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["disabled (pyproject.toml [[]tool.flopbudget[]]): nothing measured or checked"])
    pytester.path.joinpath("pytest.ini").write_text("[pytest]\nflopbudget_disable = false\n")  # ini wins
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(failed=1)
    pytester.path.joinpath("pytest.ini").unlink()
    pytester.path.joinpath("pyproject.toml").write_text("[tool.pytest]\nflopbudget_disable = true\n")  # a TOML bool
    disabled = pytester.runpytest("-p", "no:cacheprovider")
    disabled.assert_outcomes(passed=1)
    disabled.stdout.fnmatch_lines(["disabled (ini): nothing measured or checked"])


def test_json_paths_are_relative_to_where_they_are_written(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("pytest.ini").write_text("[pytest]\nflopbudget_json = reports/from-ini.json\n")
    pytester.makepyfile(test_model=SOURCE)
    sub = pytester.mkdir("sub")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(sub)
        pytester.runpytest("-p", "no:cacheprovider", "..").assert_outcomes(passed=1)
        assert json.loads(pytester.path.joinpath("reports", "from-ini.json").read_text())["totals"]["measurements"] == 1
        pytester.runpytest("-p", "no:cacheprovider", "..", "--flopbudget-json=cli.json").assert_outcomes(passed=1)
        assert sub.joinpath("cli.json").is_file()


def test_help_lists_every_option_with_its_ini_twin(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines_random([
        "*--flopbudget-disable*",
        "*--flopbudget-convention={full,matmul,exact}*",
        "*--flopbudget-json=PATH*",
        "*flopbudget_disable (bool):*",
        "*flopbudget_convention (string):*",
        "*flopbudget_json (string):*",
    ])


def test_a_json_path_ending_in_a_separator_writes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_model=SOURCE)
    result = pytester.runpytest("-p", "no:cacheprovider", "--flopbudget-json=reports/")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert not pytester.path.joinpath("reports").exists()  # today's bug: a file named "reports"


@pytest.mark.parametrize("quiet", ["-qq", "-qqq"])
@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({"pytest.ini": "[pytest]\nflopbudget_convention = x\n"}, (),
         "ERROR: invalid flopbudget_convention 'x' from ini: expected one of full, matmul, exact"),
        ({"pyproject.toml": '[tool.flopbudget]\nconventon = "full"\n'}, (),
         "ERROR: unknown key 'conventon' in pyproject.toml [[]tool.flopbudget[]] (*): did you mean convention?"),
        ({}, ("--flopbudget-convention=flops",),
         "ERROR: invalid --flopbudget-convention 'flops' from command line: expected one of full, matmul, exact"),
        ({}, ("--flopbudget-json=out/",), "ERROR: invalid --flopbudget-json 'out/' from command line: ends with*"),
    ],
)
def test_usage_errors_print_at_every_verbosity(
    pytester: pytest.Pytester, quiet: str, files: dict, args: tuple, message: str
) -> None:
    for name, text in files.items():
        pytester.path.joinpath(name).write_text(text)
    pytester.makepyfile(test_model=SOURCE)
    result = pytester.runpytest("-p", "no:cacheprovider", quiet, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
