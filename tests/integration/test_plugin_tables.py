"""Budget tables in pyproject.toml ([tool.flopbudget.default], .models.<Class>, .tests."<pattern>") and watch modes.

Counts used below, derived by hand (never read back from the plugin):

* ``nn.Linear(64, 32)`` on a (4, 64) input: 4 * 64 * 32 = 8192 MACs; ``full`` FLOPs = 2 * 8192 + 4 * 32 bias adds
  = 16512 (1.65e-05 GFLOPs); params = 64 * 32 + 32 = 2080 (shown 2.08K).
* a ReLU after it adds 4 * 32 = 128 FLOPs: 16640.
* ``nn.Linear(64, 16)``: 4 * 64 * 16 = 4096 MACs, 2 * 4096 + 4 * 16 = 8256 FLOPs, 64 * 16 + 16 = 1040 params.
* ``nn.Linear(64, 64)``: 4 * 64 * 64 = 16384 MACs, 2 * 16384 + 4 * 64 = 33024 FLOPs, 64 * 64 + 64 = 4160 params.

Limits: ``max_gflops`` is in billions, so ``"20K"`` (a suffixed string: FLOPs) is 2e-05 GFLOPs; the JSON file
writes every budget in its written units (``max_gflops`` in GFLOPs).
"""

from __future__ import annotations

import json
import textwrap

import pytest
from plugin_support import HEADER, failures_section, run


def pyproject(pytester: pytest.Pytester, text: str) -> None:
    pytester.makefile(".toml", pyproject=textwrap.dedent(text))


def measured(pytester: pytest.Pytester, name: str = "m.json") -> dict[str, list[dict]]:
    """The JSON file's measurements, by test id, in order."""
    document = json.loads(pytester.path.joinpath(name).read_text())
    by_test: dict[str, list[dict]] = {}
    for measurement in document["measurements"]:
        by_test.setdefault(measurement["test_id"], []).append(measurement)
    return by_test


def budgets(pytester: pytest.Pytester, name: str = "m.json") -> dict[str, list[dict | None]]:
    return {test: [m["budget"] for m in ms] for test, ms in measured(pytester, name).items()}


# --------------------------------------------------------------------------------------------------------------
# 1. Precedence: marker > tests pattern > models > default, argument by argument
# --------------------------------------------------------------------------------------------------------------

def test_every_pair_of_layers_merges_argument_by_argument(pytester: pytest.Pytester) -> None:
    # Each layer writes its own digit (default 1, models 2, tests 3, marker 4) so the merged budget says which
    # layer gave each argument. Every limit is far above what Linear(64, 32) uses, so every test passes.
    pyproject(pytester, """
        [tool.flopbudget.default]
        max_gflops = 1
        max_gmacs = 1
        max_params = 1000000
        max_trainable_params = 1000000

        [tool.flopbudget.models.Linear]
        max_gmacs = 2
        max_params = 2000000
        max_trainable_params = 2000000

        [tool.flopbudget.tests."test_model.py::test_pattern*"]
        max_params = 3000000
        max_trainable_params = 3000000
    """)
    result = run(pytester, """
def seq():
    return nn.Sequential(linear())   # no models table names Sequential

def test_default_only(complexity):
    complexity.measure(seq(), X)

def test_models_over_default(complexity):
    complexity.measure(linear(), X)

def test_pattern_over_default(complexity):
    complexity.measure(seq(), X)

def test_pattern_over_models(complexity):
    complexity.measure(linear(), X)

@pytest.mark.flop_budget(max_trainable_params="4M")
def test_marker_over_default(complexity):
    complexity.measure(seq(), X)

@pytest.mark.flop_budget(max_trainable_params="4M")
def test_marker_over_models(complexity):
    complexity.measure(linear(), X)

@pytest.mark.flop_budget(max_trainable_params="4M")
def test_pattern_marked_over_pattern(complexity):
    complexity.measure(seq(), X)

@pytest.mark.flop_budget(max_trainable_params="4M")
def test_pattern_all_four(complexity):
    complexity.measure(linear(), X)
""", "--flopbudget-json=m.json")
    result.assert_outcomes(passed=8)
    layer = {name: value for name, value in zip(
        ("max_gflops", "max_gmacs", "max_params", "max_trainable_params"), (1, 1, 1e6, 1e6))}

    def expect(gmacs: float = 1, params: float = 1e6, trainable: float = 1e6) -> list[dict]:
        return [{**layer, "max_gmacs": gmacs, "max_params": params, "max_trainable_params": trainable}]

    assert budgets(pytester) == {
        "test_model.py::test_default_only": expect(),
        "test_model.py::test_models_over_default": expect(gmacs=2, params=2e6, trainable=2e6),
        "test_model.py::test_pattern_over_default": expect(params=3e6, trainable=3e6),
        "test_model.py::test_pattern_over_models": expect(gmacs=2, params=3e6, trainable=3e6),
        "test_model.py::test_marker_over_default": expect(trainable=4e6),
        "test_model.py::test_marker_over_models": expect(gmacs=2, params=2e6, trainable=4e6),
        "test_model.py::test_pattern_marked_over_pattern": expect(params=3e6, trainable=4e6),
        "test_model.py::test_pattern_all_four": expect(gmacs=2, params=3e6, trainable=4e6),
    }


def test_a_marker_none_lifts_each_tables_limit(pytester: pytest.Pytester) -> None:
    # Every table caps params at 2000; Linear(64, 32) has 2080 (+4%).
    pyproject(pytester, """
        [tool.flopbudget.default]
        max_params = 2000
        max_gflops = 1

        [tool.flopbudget.models.Linear]
        max_params = 2000

        [tool.flopbudget.tests."test_model.py::test_lifts_pattern"]
        max_params = 2000
    """)
    result = run(pytester, """
@pytest.mark.flop_budget(max_params=None)
def test_lifts_default(complexity):
    complexity.measure(nn.Sequential(linear()), X)   # only the default table applies

@pytest.mark.flop_budget(max_params=None)
def test_lifts_models():
    linear()(X)

@pytest.mark.flop_budget(max_params=None)
def test_lifts_pattern():
    linear()(X)

def test_not_lifted(complexity):
    complexity.measure(linear(), X)
""", "--flopbudget-json=m.json")
    result.assert_outcomes(passed=3, failed=1)
    failures = failures_section(result.stdout.str())
    assert failures.count("Linear: 2.08K params > max_params=2.00K (+4%)") == 1
    result.stdout.fnmatch_lines([
        "*_ test_not_lifted _*",
        "Linear: 2.08K params > max_params=2.00K (+4%)",
        "(budget: max_gflops=1, max_params=2K; FLOPs follow the 'full' convention)",
    ])
    assert budgets(pytester) == {
        "test_model.py::test_lifts_default": [{"max_gflops": 1}],
        "test_model.py::test_lifts_models": [{"max_gflops": 1}],
        "test_model.py::test_lifts_pattern": [{"max_gflops": 1}],
        "test_model.py::test_not_lifted": [{"max_gflops": 1, "max_params": 2000}],
    }


def test_a_marker_lifting_the_only_test_limit_with_a_models_table_is_not_an_internal_error(
    pytester: pytest.Pytester,
) -> None:
    # The test's only own limit (default max_params) is lifted by its marker; a models table exists for Linear.
    pyproject(pytester, """
        [tool.flopbudget.default]
        max_params = 2000

        [tool.flopbudget.models.Linear]
        max_gflops = "100K"
    """)
    result = run(pytester, """
@pytest.mark.flop_budget(max_params=None)
def test_lifted_runs_nothing():
    pass

@pytest.mark.flop_budget(max_params=None)
def test_lifted_forward():
    linear()(X)
""", "--flopbudget-json=m.json")
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    outcomes = result.parseoutcomes()
    # Unbudgeted (its marker lifted everything the test itself has) and passes, or a clean NothingMeasured.
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 2
    if outcomes.get("failed"):
        result.stdout.fnmatch_lines(["*checked nothing: the test ran no model forward."])
    # 100K FLOPs = 1e-4 GFLOPs from models.Linear; 16512 FLOPs fit.
    assert budgets(pytester)["test_model.py::test_lifted_forward"] == [{"max_gflops": pytest.approx(1e-4)}]


def test_a_marked_test_is_watched_even_when_its_marker_lifts_every_limit(pytester: pytest.Pytester) -> None:
    # Under watch="marked" a test with a flop_budget marker is watched. Lifting the default's only limit must
    # not make its forwards vanish from the record (with a models table present they are recorded, see above).
    pyproject(pytester, """
        [tool.flopbudget.default]
        max_params = 2000
    """)
    result = run(pytester, """
@pytest.mark.flop_budget(max_params=None)
def test_lifted_forward():
    linear()(X)
""", "--flopbudget-json=m.json")
    result.assert_outcomes(passed=1)
    recorded = measured(pytester).get("test_model.py::test_lifted_forward", [])
    assert [(m["status"], m["budget"], m["report"]["macs"]) for m in recorded] == [("unchecked", None, 8192)]


def test_several_matching_patterns_the_one_written_last_wins(pytester: pytest.Pytester) -> None:
    # test_x: the glob, written after its exact id, wins max_params (1000), the exact id still gives
    # max_trainable_params. test_y: its own table, written last, wins max_params (5000).
    pyproject(pytester, """
        [tool.flopbudget.tests."test_model.py::test_x"]
        max_params = 3000
        max_trainable_params = 3000

        [tool.flopbudget.tests."test_model.py::*"]
        max_params = 1000
        max_gflops = 1

        [tool.flopbudget.tests."*::test_y"]
        max_params = 5000
    """)
    result = run(pytester, """
def test_x():
    linear()(X)

def test_y():
    linear()(X)
""", "--flopbudget-json=m.json")
    result.assert_outcomes(passed=1, failed=1)
    # 2080 / 1000 = 2.08: +108%.
    result.stdout.fnmatch_lines([
        "*_ test_x _*",
        "Linear: 2.08K params > max_params=1.00K (+108%)",
        "(budget: max_gflops=1, max_params=1K, max_trainable_params=3K; FLOPs follow the 'full' convention)",
    ])
    assert budgets(pytester) == {
        "test_model.py::test_x": [{"max_gflops": 1, "max_params": 1000, "max_trainable_params": 3000}],
        "test_model.py::test_y": [{"max_gflops": 1, "max_params": 5000}],
    }


MODELS_SOURCE = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = linear()

    def forward(self, x):
        return self.fc(x)

class SubNet(Net):
    pass

def test_net(complexity):
    report = complexity.measure(Net(), X)
    assert (report.model, report.model_type) == ("Net", "test_model.Net")

def test_subnet(complexity):
    complexity.measure(SubNet(), X)

def test_linear(complexity):
    complexity.measure(linear(), X)
"""


@pytest.mark.parametrize("quoted", [True, False], ids=["quoted", "nested"])
def test_models_dotted_key_beats_the_bare_name_and_matches_the_exact_class_only(
    pytester: pytest.Pytester, quoted: bool
) -> None:
    # The dotted tables are written FIRST, so their winning is not the order of the file.
    net = '"test_model.Net"' if quoted else "test_model.Net"
    torch_linear = '"torch.nn.modules.linear.Linear"' if quoted else "torch.nn.modules.linear.Linear"
    pyproject(pytester, f"""
        [tool.flopbudget.default]
        max_trainable_params = 5000

        [tool.flopbudget.models.{net}]
        max_params = 3000

        [tool.flopbudget.models.{torch_linear}]
        max_gmacs = 2

        [tool.flopbudget.models.Net]
        max_params = 1000
        max_gflops = 1

        [tool.flopbudget.models.Linear]
        max_gmacs = 9
        max_params = 9000
    """)
    result = run(pytester, MODELS_SOURCE, "--flopbudget-json=m.json")
    # Net: 2080 params fit the dotted 3000 (the bare 1000 would fail); SubNet matches neither Net table.
    result.assert_outcomes(passed=3)
    assert budgets(pytester) == {
        "test_model.py::test_net": [{"max_gflops": 1, "max_params": 3000, "max_trainable_params": 5000}],
        "test_model.py::test_subnet": [{"max_trainable_params": 5000}],
        "test_model.py::test_linear": [{"max_gmacs": 2, "max_params": 9000, "max_trainable_params": 5000}],
    }


def test_the_hook_gets_marker_tests_and_default_and_its_answer_replaces_every_table(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest("""
import pytest
from pytest_flopbudget.budget import Budget

@pytest.hookimpl(optionalhook=True)
def pytest_flopbudget_budget(item, budget):
    with open("received.txt", "a") as out:
        out.write(f"{item.name}: {'None' if budget is None else budget.describe()}\\n")
    return {"test_replaced": Budget(max_gmacs=1), "test_lifted": Budget()}.get(item.name)
""")
    pyproject(pytester, """
        [tool.flopbudget.default]
        max_gflops = 1
        max_params = 1000000

        [tool.flopbudget.models.Linear]
        max_params = 10

        [tool.flopbudget.tests."test_model.py::test_replaced"]
        max_params = 2000000
    """)
    result = run(pytester, """
@pytest.mark.flop_budget(max_trainable_params="3M")
def test_replaced():
    linear()(X)

def test_lifted(complexity):
    complexity.measure(linear(), X)

def test_kept(complexity):
    complexity.measure(linear(), X)
""", "--flopbudget-json=m.json")
    # test_kept: the hook keeps its budget, so models.Linear applies: 2080 / 10 = 208, +20700%.
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*_ test_kept _*", "Linear: 2.08K params > max_params=10 (+20700%)"])
    received = sorted(pytester.path.joinpath("received.txt").read_text().splitlines())
    assert received == [
        "test_kept: max_gflops=1, max_params=1M",  # the default; models (max_params=10) is not in it
        "test_lifted: max_gflops=1, max_params=1M",
        "test_replaced: max_gflops=1, max_params=2M, max_trainable_params=3M",  # marker + pattern + default
    ]
    assert budgets(pytester) == {
        "test_model.py::test_replaced": [{"max_gmacs": 1}],  # models' max_params=10 no longer applies
        "test_model.py::test_lifted": [None],
        "test_model.py::test_kept": [{"max_gflops": 1, "max_params": 10}],
    }


# --------------------------------------------------------------------------------------------------------------
# 2. Errors in the tables and the new settings: usage errors before collection, naming file, table and key
# --------------------------------------------------------------------------------------------------------------

DEFAULT = "pyproject.toml [[]tool.flopbudget.default[]] (*pyproject.toml)"
SETTINGS = "pyproject.toml [[]tool.flopbudget[]]"

TABLE_ERRORS = [
    pytest.param({"pyproject.toml": "[tool.flopbudget.default\nmax_params = 1\n"}, (),
                 "ERROR: *pyproject.toml*Expected ']'*line 1*", id="malformed"),
    pytest.param({"pyproject.toml": "[tool.flopbudget.default\nmax_params = 1\n", "pytest.ini": "[pytest]\n"}, (),
                 "ERROR: *pyproject.toml*Expected ']'*line 1*", id="malformed-beside-pytest-ini"),
    pytest.param({"pyproject.toml": "[tool.flopbudget.default]\nmax_paramz = 1\n"}, (),
                 f"ERROR: unknown key 'max_paramz' in {DEFAULT}: did you mean max_params?", id="unknown-default"),
    pytest.param({"pyproject.toml": "[tool.flopbudget.models.Net]\nmax_paramz = 1\n"}, (),
                 "ERROR: unknown key 'max_paramz' in pyproject.toml [[]tool.flopbudget.models.Net[]] "
                 "(*pyproject.toml): did you mean max_params?", id="unknown-models"),
    pytest.param({"pyproject.toml": "[tool.flopbudget.models.test_model.Net]\nmax_paramz = 1\n"}, (),
                 "ERROR: unknown key 'max_paramz' in pyproject.toml [[]tool.flopbudget.models.\"test_model.Net\"[]] "
                 "(*pyproject.toml): did you mean max_params?", id="unknown-nested-models"),
    pytest.param({"pyproject.toml": '[tool.flopbudget.tests."test_model.py::*"]\nmax_paramz = 1\n'}, (),
                 "ERROR: unknown key 'max_paramz' in pyproject.toml "
                 "[[]tool.flopbudget.tests.\"test_model.py::[*]\"[]] (*pyproject.toml): did you mean max_params?",
                 id="unknown-tests"),
    pytest.param({"pyproject.toml": "[tool.flopbudget.default]\nlimit = 1\n"}, (),
                 f"ERROR: unknown key 'limit' in {DEFAULT}: expected one of max_gflops, max_gmacs, max_params, "
                 "max_trainable_params", id="unknown-no-hint"),
    pytest.param({"pyproject.toml": '[tool.flopbudget.default]\nmax_params = "lots"\n'}, (),
                 f"ERROR: invalid max_params 'lots' in {DEFAULT}: max_params='lots': cannot parse*", id="lots"),
    pytest.param({"pyproject.toml": "[tool.flopbudget.default]\nmax_params = -1\n"}, (),
                 f"ERROR: invalid max_params -1 in {DEFAULT}: max_params=-1: -1 is negative*", id="negative"),
    pytest.param({"pyproject.toml": "[tool.flopbudget.default]\nmax_gflops = nan\n"}, (),
                 f"ERROR: invalid max_gflops nan in {DEFAULT}: *not a finite number*", id="nan"),
    pytest.param({"pyproject.toml": "[tool.flopbudget.default]\nmax_gflops = inf\n"}, (),
                 f"ERROR: invalid max_gflops inf in {DEFAULT}: *not a finite number*", id="inf"),
    pytest.param({"pyproject.toml": "[tool.flopbudget.default]\nmax_params = true\n"}, (),
                 f"ERROR: invalid max_params * in {DEFAULT}: *True*", id="bool"),
    pytest.param({"pyproject.toml": '[tool.flopbudget.default]\nmax_params = "\u0663"\n'}, (),
                 f"ERROR: invalid max_params '\u0663' in {DEFAULT}: *ASCII digits*", id="unicode-digit"),
    pytest.param({"pyproject.toml": '[tool.flopbudget.tests."test_model.py::*"]\nmax_gmacs = nan\n'}, (),
                 "ERROR: invalid max_gmacs nan in pyproject.toml [[]tool.flopbudget.tests.\"test_model.py::[*]\"[]] "
                 "(*pyproject.toml): *not a finite number*", id="nan-in-tests"),
    pytest.param({"pyproject.toml": '[tool.flopbudget.models.Net]\nmax_params = "lots"\n'}, (),
                 "ERROR: invalid max_params 'lots' in pyproject.toml [[]tool.flopbudget.models.Net[]] "
                 "(*pyproject.toml): *", id="lots-in-models"),
    pytest.param({"pyproject.toml": "[tool.flopbudget.default]\n"}, (),
                 f"ERROR: empty table {DEFAULT}: it sets no limit*", id="empty-default"),
    pytest.param({"pyproject.toml": "[tool.flopbudget.models.Net]\n"}, (),
                 "ERROR: empty table pyproject.toml [[]tool.flopbudget.models.Net[]] (*pyproject.toml): it sets no "
                 "limit*", id="empty-models"),
    pytest.param({"pyproject.toml": '[tool.flopbudget.tests."test_model.py::test_x"]\n'}, (),
                 "ERROR: empty table pyproject.toml [[]tool.flopbudget.tests.\"test_model.py::test_x\"[]] "
                 "(*pyproject.toml): it sets no limit*", id="empty-tests"),
    pytest.param({"pyproject.toml": '[tool.flopbudget.tests.""]\nmax_params = 1\n'}, (),
                 "ERROR: empty test pattern in pyproject.toml [[]tool.flopbudget.tests[]] (*pyproject.toml)*",
                 id="empty-pattern"),
    pytest.param({"pyproject.toml": "[tool.flopbudget]\ndefault = 5\n"}, (),
                 f"ERROR: invalid {DEFAULT}: expected a table of limits, got int 5", id="default-not-a-table"),
    pytest.param({"pyproject.toml": "[tool.flopbudget]\nmodels = 5\n"}, (),
                 "ERROR: invalid pyproject.toml [[]tool.flopbudget.models[]] (*pyproject.toml): expected a table*",
                 id="models-not-a-table"),
    pytest.param({"pyproject.toml": "[tool.flopbudget.models]\nNet = 5\n"}, (),
                 "ERROR: invalid pyproject.toml [[]tool.flopbudget.models.Net[]] (*pyproject.toml): expected a "
                 "table of limits, got int 5", id="model-not-a-table"),
    pytest.param({"pyproject.toml": '[tool.flopbudget]\ntests = "test_model.py"\n'}, (),
                 "ERROR: invalid pyproject.toml [[]tool.flopbudget.tests[]] (*pyproject.toml): expected a table*",
                 id="tests-not-a-table"),
    pytest.param({"pyproject.toml": "[tool.flopbudget.modles.Net]\nmax_params = 1\n"}, (),
                 "ERROR: unknown key 'modles' in pyproject.toml [[]tool.flopbudget[]] (*pyproject.toml): did you "
                 "mean models?", id="modles"),
    pytest.param({"pyproject.toml": '[tool.flopbudget.test."test_model.py"]\nmax_params = 1\n'}, (),
                 "ERROR: unknown key 'test' in pyproject.toml [[]tool.flopbudget[]] (*pyproject.toml): did you "
                 "mean tests?", id="test-for-tests"),
    pytest.param({"pyproject.toml": '[tool.flopbudget]\nwatch = "everything"\n'}, (),
                 f"ERROR: invalid watch 'everything' from {SETTINGS}*: expected one of marked, all", id="watch"),
    pytest.param({"pyproject.toml": "[tool.flopbudget]\nwatch = true\n"}, (),
                 f"ERROR: invalid watch * from {SETTINGS}*: expected one of marked, all", id="watch-bool"),
    pytest.param({"pytest.ini": "[pytest]\nflopbudget_watch = some\n"}, (),
                 "ERROR: invalid flopbudget_watch 'some' from ini: expected one of marked, all", id="watch-ini"),
    pytest.param({"pytest.ini": "[pytest]\nflopbudget_watch = some\n"}, ("--flopbudget-watch=all",),
                 "ERROR: invalid flopbudget_watch 'some' from ini: *", id="watch-ini-overridden"),
    pytest.param({}, ("--flopbudget-watch=ALL",),
                 "ERROR: invalid --flopbudget-watch 'ALL' from command line: expected one of marked, all",
                 id="watch-cli"),
    pytest.param({"pyproject.toml": "[tool.flopbudget]\ntolerance = -1\n"}, (),
                 f"ERROR: invalid tolerance -1 from {SETTINGS}*: expected a percentage*", id="tolerance-negative"),
    pytest.param({"pyproject.toml": '[tool.flopbudget]\ntolerance = "abc"\n'}, (),
                 f"ERROR: invalid tolerance 'abc' from {SETTINGS}*: expected a percentage*", id="tolerance-abc"),
    pytest.param({"pyproject.toml": '[tool.flopbudget]\ntolerance = "nan"\n'}, (),
                 f"ERROR: invalid tolerance 'nan' from {SETTINGS}*: expected a percentage*", id="tolerance-nan"),
    pytest.param({"pyproject.toml": "[tool.flopbudget]\ntolerance = nan\n"}, (),
                 f"ERROR: invalid tolerance nan from {SETTINGS}*: expected a percentage*", id="tolerance-toml-nan"),
    pytest.param({"pyproject.toml": '[tool.flopbudget]\ntolerance = "\u0663"\n'}, (),
                 f"ERROR: invalid tolerance '\u0663' from {SETTINGS}*: expected a percentage*",
                 id="tolerance-unicode"),
    pytest.param({"pyproject.toml": "[tool.flopbudget]\ntolerance = true\n"}, (),
                 f"ERROR: invalid tolerance * from {SETTINGS}*: expected a percentage*", id="tolerance-bool"),
    pytest.param({}, ("--flopbudget-tolerance=\u0663",),
                 "ERROR: invalid --flopbudget-tolerance '\u0663' from command line: expected a percentage*",
                 id="tolerance-cli-unicode"),
    pytest.param({"pytest.ini": "[pytest]\nflopbudget_tolerance = -1%\n"}, (),
                 "ERROR: invalid flopbudget_tolerance '-1%' from ini: expected a percentage*", id="tolerance-ini"),
]


@pytest.mark.parametrize(("files", "args", "message"), TABLE_ERRORS)
def test_table_and_setting_errors_are_usage_errors_before_collection(
    pytester: pytest.Pytester, files: dict, args: tuple, message: str
) -> None:
    for name, text in files.items():
        pytester.path.joinpath(name).write_text(text, encoding="utf-8")
    pytester.makepyfile(test_model='open("imported", "w").close()\n\ndef test_x():\n    pass\n')
    for verbosity in ("-qq", "-v"):
        result = pytester.runpytest("-p", "no:cacheprovider", verbosity, *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, verbosity
        result.stderr.fnmatch_lines([message])
        assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
        assert not pytester.path.joinpath("imported").exists()  # nothing was collected


# --------------------------------------------------------------------------------------------------------------
# 3. Pattern matching
# --------------------------------------------------------------------------------------------------------------

def test_patterns_match_globs_ids_files_classes_parameters_and_directories(pytester: pytest.Pytester) -> None:
    # Written in order so that each test's own pattern comes after the broad ones (the last written wins).
    pyproject(pytester, """
        [tool.flopbudget.tests."test_model.py"]
        max_params = 100000

        [tool.flopbudget.tests."test_model.py::*"]
        max_gflops = 1

        [tool.flopbudget.tests."test_model.py::test_exact"]
        max_params = 10001

        [tool.flopbudget.tests."test_model.py::TestX"]
        max_params = 10002

        [tool.flopbudget.tests."test_model.py::test_param"]
        max_params = 10003

        [tool.flopbudget.tests."test_model.py::test_param[b]"]
        max_params = 10004

        [tool.flopbudget.tests."sub"]
        max_params = 10005

        [tool.flopbudget.tests."test_model.py::testx"]
        max_params = 1
    """)
    pytester.path.joinpath("sub", "vision").mkdir(parents=True)
    pytester.path.joinpath("sub", "vision", "test_deep.py").write_text(HEADER + """
def test_deep():
    torch.manual_seed(0)
    nn.Linear(64, 16)(X)
""")
    pytester.makepyfile(test_unwatched=HEADER + """
def test_plain():
    linear()(X)
""")
    result = run(pytester, """
def test_exact():
    linear()(X)

class TestX:
    def test_in_class(self):
        linear()(X)

@pytest.mark.parametrize("n", ["a", "b"])
def test_param(n):
    linear()(X)

def test_file_only():
    linear()(X)
""", "--flopbudget-json=m.json")
    result.assert_outcomes(passed=7)
    assert budgets(pytester) == {
        "test_model.py::test_exact": [{"max_gflops": 1, "max_params": 10001}],
        "test_model.py::TestX::test_in_class": [{"max_gflops": 1, "max_params": 10002}],
        "test_model.py::test_param[a]": [{"max_gflops": 1, "max_params": 10003}],
        "test_model.py::test_param[b]": [{"max_gflops": 1, "max_params": 10004}],
        "test_model.py::test_file_only": [{"max_gflops": 1, "max_params": 100000}],
        "sub/vision/test_deep.py::test_deep": [{"max_params": 10005}],
        # test_unwatched.py::test_plain: no pattern names it, so under watch="marked" nothing is recorded
    }
    deep = measured(pytester)["sub/vision/test_deep.py::test_deep"][0]["report"]
    assert (deep["flops"], deep["macs"], deep["params"]) == (8256, 4096, 1040)
    # Patterns are case-sensitive: "testx" does not name TestX, and is the only pattern that matches nothing.
    output = result.stdout.str()
    assert output.count("the pattern matches no collected test") == 1
    result.stdout.fnmatch_lines([
        "*PytestConfigWarning: pyproject.toml [[]tool.flopbudget.tests.\"test_model.py::testx\"[]]: the pattern "
        "matches no collected test",
    ])


UNMATCHED_TOML = """
    [tool.flopbudget.tests."test_model.py::test_missing"]
    max_params = 1

    [tool.flopbudget.tests."test_other.py::*"]
    max_params = 1

    [tool.flopbudget.tests."gone/test_*.py"]
    max_params = 1
"""


def test_unmatched_patterns_warn_unless_their_file_was_not_collected(pytester: pytest.Pytester) -> None:
    pyproject(pytester, UNMATCHED_TOML)
    pytester.makepyfile(test_other=HEADER + "\ndef test_b():\n    pass\n")
    result = run(pytester, "\ndef test_a():\n    linear()(X)\n", "test_model.py")
    result.assert_outcomes(passed=1, warnings=2)
    output = result.stdout.str()
    warned = [line for line in output.splitlines() if "the pattern matches no collected test" in line]
    assert len(warned) == 2, output
    result.stdout.fnmatch_lines_random([
        "*PytestConfigWarning: pyproject.toml [[]tool.flopbudget.tests.\"test_model.py::test_missing\"[]]: the "
        "pattern matches no collected test",
        "*PytestConfigWarning: pyproject.toml [[]tool.flopbudget.tests.\"gone/test_[*].py\"[]]: the pattern "
        "matches no collected test",
    ])
    assert "test_other.py::*" not in output  # a file this run did not collect: a partial run stays quiet

    # Deselected tests were collected: the pattern naming only test_b (deselected) is quiet too.
    deselected = pytester.runpytest("-p", "no:cacheprovider", "-k", "not test_b")
    deselected.assert_outcomes(passed=1, deselected=1, warnings=2)
    assert "test_other.py::*" not in deselected.stdout.str()


def test_an_unmatched_pattern_under_w_error_is_a_clean_usage_error(pytester: pytest.Pytester) -> None:
    pyproject(pytester, UNMATCHED_TOML)
    pytester.makepyfile(test_other=HEADER + "\ndef test_b():\n    pass\n")
    result = run(pytester, "\ndef test_a():\n    linear()(X)\n", "-W", "error", "test_model.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "ERROR: pyproject.toml [[]tool.flopbudget.tests.\"test_model.py::test_missing\"[]]: the pattern matches "
        "no collected test*",
    ])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    # When every pattern names a collected test, -W error runs the tests as usual.
    pyproject(pytester, '[tool.flopbudget.tests."test_model.py::test_a"]\nmax_params = 2080\n')
    clean = pytester.runpytest("-p", "no:cacheprovider", "-W", "error")
    clean.assert_outcomes(passed=2)


def test_running_one_test_by_node_id_stays_quiet_about_patterns_naming_its_siblings(
    pytester: pytest.Pytester,
) -> None:
    # A partial run stays quiet: test_b exists, this run just did not select it (a node id argument collects
    # test_a only). Under -W error (or filterwarnings = error) a warning here would stop every single-test run.
    pyproject(pytester, '[tool.flopbudget.tests."test_model.py::test_b"]\nmax_params = 2080\n')
    result = run(pytester, "\ndef test_a():\n    linear()(X)\n\ndef test_b():\n    linear()(X)\n",
                 "test_model.py::test_a")
    result.assert_outcomes(passed=1)
    assert "matches no collected test" not in result.stdout.str()
    strict = pytester.runpytest("-p", "no:cacheprovider", "-W", "error", "test_model.py::test_a")
    assert strict.ret == pytest.ExitCode.OK, strict.stderr.str()
    strict.assert_outcomes(passed=1)


@pytest.mark.parametrize("pattern", ["sub/", "./sub"])
def test_a_directory_pattern_spelled_with_slashes_matches_or_warns(pytester: pytest.Pytester, pattern: str) -> None:
    # "sub/" and "./sub" name the directory whose test this run collected: the table applies to it, or the
    # run says the pattern matches nothing. Silently doing neither leaves the budget unenforced.
    pyproject(pytester, f'[tool.flopbudget.tests."{pattern}"]\nmax_params = 2000\n')
    pytester.path.joinpath("sub", "vision").mkdir(parents=True)
    pytester.path.joinpath("sub", "vision", "test_deep.py").write_text(HEADER + """
def test_deep():
    torch.manual_seed(0)
    nn.Linear(64, 16)(X)   # 1040 params fit 2000
""")
    result = pytester.runpytest("-p", "no:cacheprovider", "--flopbudget-json=m.json")
    result.assert_outcomes(passed=1, warnings=result.parseoutcomes().get("warnings", 0))
    matched = budgets(pytester).get("sub/vision/test_deep.py::test_deep") == [{"max_params": 2000}]
    warned = "the pattern matches no collected test" in result.stdout.str()
    assert matched or warned, result.stdout.str()


# --------------------------------------------------------------------------------------------------------------
# 4. Watch modes
# --------------------------------------------------------------------------------------------------------------

def test_watch_marked_records_marked_pattern_and_fixture_measurements_only(pytester: pytest.Pytester) -> None:
    pyproject(pytester, """
        [tool.flopbudget.default]
        max_gflops = 1

        [tool.flopbudget.models.Linear]
        max_params = 2000

        [tool.flopbudget.tests."test_model.py::test_named*"]
        max_gmacs = 1
    """)
    result = run(pytester, """
def test_unmarked_forward():
    linear()(X)   # over models.Linear (2080 > 2000), but not watched: not recorded, not checked

def test_named_forward():
    linear()(X)

def test_named_runs_nothing():
    pass

def test_measure_unmarked(complexity):
    nn.Sequential(linear(), nn.ReLU())(X)   # a plain forward: not watched
    complexity.measure(linear(), X)         # always recorded, and checked against the tables

@pytest.mark.flop_budget(max_gflops=1)
def test_marked_runs_nothing():
    pass
""", "--flopbudget-json=m.json")
    result.assert_outcomes(passed=2, failed=3)
    failures = failures_section(result.stdout.str())
    assert failures.count("Linear: 2.08K params > max_params=2.00K (+4%)") == 2
    result.stdout.fnmatch_lines([
        "*_ test_named_forward _*",
        "Linear: 2.08K params > max_params=2.00K (+4%)",
        "(budget: max_gflops=1, max_gmacs=1, max_params=2K; FLOPs follow the 'full' convention)",
        "*_ test_measure_unmarked _*",
        "Linear: 2.08K params > max_params=2.00K (+4%)",
        "(budget: max_gflops=1, max_params=2K; FLOPs follow the 'full' convention)",
        "*_ test_marked_runs_nothing _*",
        "flop_budget(max_gflops=1) checked nothing: the test ran no model forward.",
    ])
    recorded = measured(pytester)
    assert {test: [(m["source"], m["report"]["model"], m["report"]["flops"]) for m in ms]
            for test, ms in recorded.items()} == {
        "test_model.py::test_named_forward": [("watch", "Linear", 16512)],
        "test_model.py::test_measure_unmarked": [("fixture", "Linear", 16512)],
    }
    document = json.loads(pytester.path.joinpath("m.json").read_text())
    assert document["settings"]["watch"] == "marked"
    assert document["tests"]["test_model.py::test_unmarked_forward"] == "passed"
    assert document["tests"]["test_model.py::test_named_runs_nothing"] == "passed"


@pytest.mark.parametrize(
    ("files", "args", "expected"),
    [
        ({"pyproject.toml": '[tool.flopbudget]\nwatch = "all"\n'}, (), "all"),
        ({"pytest.ini": "[pytest]\nflopbudget_watch = all\n"}, (), "all"),
        ({}, ("--flopbudget-watch=all",), "all"),
        ({"pyproject.toml": '[tool.flopbudget]\nwatch = "all"\n\n[tool.pytest.ini_options]\n'
                            'flopbudget_watch = "marked"\n'}, (), "marked"),
        ({"pyproject.toml": '[tool.flopbudget]\nwatch = "marked"\n\n[tool.pytest.ini_options]\n'
                            'flopbudget_watch = "all"\n'}, (), "all"),
        ({"pytest.ini": "[pytest]\nflopbudget_watch = all\n"}, ("--flopbudget-watch=marked",), "marked"),
        ({"pyproject.toml": '[tool.flopbudget]\nwatch = "marked"\n'}, ("--flopbudget-watch=all",), "all"),
    ],
    ids=["pyproject", "ini", "cli", "ini-over-pyproject", "ini-over-pyproject-2", "cli-over-ini",
         "cli-over-pyproject"],
)
def test_watch_all_from_every_source_with_precedence(
    pytester: pytest.Pytester, files: dict, args: tuple, expected: str
) -> None:
    for name, text in files.items():
        pytester.path.joinpath(name).write_text(text)
    result = run(pytester, "\ndef test_plain():\n    linear()(X)\n", "--flopbudget-json=m.json", *args)
    result.assert_outcomes(passed=1)
    document = json.loads(pytester.path.joinpath("m.json").read_text())
    assert document["settings"]["watch"] == expected
    macs = [m["report"]["macs"] for m in document["measurements"]]
    assert macs == ([8192] if expected == "all" else [])


def test_watch_all_checks_every_test_against_default_and_models(pytester: pytest.Pytester) -> None:
    pyproject(pytester, """
        [tool.flopbudget]
        watch = "all"

        [tool.flopbudget.default]
        max_gflops = "20K"

        [tool.flopbudget.models.Linear]
        max_params = 2000
    """)
    result = run(pytester, """
def test_linear():
    linear()(X)                                   # 16512 FLOPs fit 20K; 2080 params > 2000

def test_mlp():
    nn.Sequential(linear(), nn.ReLU())(X)         # 16640 FLOPs fit; no models table for Sequential

def test_wide():
    torch.manual_seed(0)
    nn.Sequential(nn.Linear(64, 64))(X)           # 33024 FLOPs > 20000

def test_no_model():
    assert 1 + 1 == 2

def test_tensor_ops_only():
    (X @ X.T).sum()                               # no module forward: nothing to watch

@pytest.mark.flop_budget(max_gmacs=1)
def test_marked_runs_nothing():
    pass
""", "--flopbudget-json=m.json")
    result.assert_outcomes(passed=3, failed=3)
    # 33024 / 20000 = 1.6512: +65%; 2080 / 2000: +4%.
    result.stdout.fnmatch_lines([
        "*_ test_linear _*",
        "Linear: 2.08K params > max_params=2.00K (+4%)",
        "(budget: max_gflops=2e-05, max_params=2K; FLOPs follow the 'full' convention)",
        "*_ test_wide _*",
        "Sequential: 3.3e-05 GFLOPs > max_gflops=2e-05 (+65%)",
        "(budget: max_gflops=2e-05; FLOPs follow the 'full' convention)",
        "*_ test_marked_runs_nothing _*",
        "flop_budget(*) checked nothing: the test ran no model forward.",
    ])
    failures = failures_section(result.stdout.str())
    assert failures.count("Linear: 2.08K params > max_params=2.00K (+4%)") == 1
    assert "NothingMeasured" in result.stdout.str()
    recorded = measured(pytester)
    assert {test: [(m["source"], m["status"], m["report"]["flops"], m["budget"]) for m in ms]
            for test, ms in recorded.items()} == {
        "test_model.py::test_linear": [("watch", "over", 16512, {"max_gflops": 2e-05, "max_params": 2000})],
        "test_model.py::test_mlp": [("watch", "ok", 16640, {"max_gflops": 2e-05})],
        "test_model.py::test_wide": [("watch", "over", 33024, {"max_gflops": 2e-05})],
    }
    document = json.loads(pytester.path.joinpath("m.json").read_text())
    assert document["settings"]["watch"] == "all"
    assert document["tests"] == {
        "test_model.py::test_linear": "over",
        "test_model.py::test_mlp": "passed",
        "test_model.py::test_wide": "over",
        "test_model.py::test_no_model": "passed",
        "test_model.py::test_tensor_ops_only": "passed",
        "test_model.py::test_marked_runs_nothing": "over",
    }


def test_brackets_in_patterns_are_literal_so_a_star_inside_names_every_parameter_set(pytester: pytest.Pytester) -> None:
    # fnmatch would read "[*]" as a class matching a literal "*"; test ids have literal brackets.
    pyproject(pytester, """
        [tool.flopbudget.tests."test_model.py::test_p[*]"]
        max_params = 2000
    """)
    result = run(pytester, """
@pytest.mark.parametrize("n", ["a", "b"])
def test_p(n):
    linear()(X)

def test_q():
    linear()(X)
""", "--flopbudget-json=m.json", "-W", "error")
    # Linear(64, 32): 64*32 + 32 = 2080 params > 2000 in both parameter sets; test_q is not named (not watched).
    result.assert_outcomes(failed=2, passed=1)
    assert failures_section(result.stdout.str()).count("Linear: 2.08K params > max_params=2.00K (+4%)") == 2
    assert sorted(measured(pytester)) == ["test_model.py::test_p[a]", "test_model.py::test_p[b]"]
