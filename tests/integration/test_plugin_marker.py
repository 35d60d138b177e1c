"""The flop_budget marker: registered from its signature, validated at collection, overridable by a hook."""

from __future__ import annotations

import pytest
from plugin_support import run


def test_markers_lists_the_marker_with_its_signature(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines([
        "@pytest.mark.flop_budget(*, max_gflops=None, max_gmacs=None, max_params=None, max_trainable_params=None): "
        "fail the test if a model forward it runs*",
    ])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("flop_budget(max_glops=1)", "max_glops: did you mean max_gflops?"),
        ("flop_budget(max_param=1)", "max_param: did you mean max_params?"),
        ("flop_budget(limit=1)",
         "limit: unknown argument; expected one of max_gflops, max_gmacs, max_params, max_trainable_params"),
        ("flop_budget(4)", "positional argument 4: flop_budget takes keyword arguments only (max_gflops=..., "
                           "max_gmacs=..., max_params=..., max_trainable_params=...)"),
        ("flop_budget(max_gflops=-1)", "max_gflops=-1: -1 is negative; a budget must be zero or more"),
        ("flop_budget(max_params=float('nan'))",
         "max_params=nan: nan is not a finite number; expected a finite number, zero or more"),
        ("flop_budget(max_params=10**400)", "max_params=1.000000e+400 (an integer of 401 digits): 1.000000e+400 "
                                            "(an integer of 401 digits) is too large; expected a finite number up to "
                                            "1.798e+308"),
        ("flop_budget(max_params='1e400')",
         "max_params='1e400': '1e400' is too large; expected a finite number up to 1.798e+308"),
        ("flop_budget(max_gflops=1e300)", "max_gflops=1e+300: 1e+300 is too large; expected at most 1.798e+299 GFLOPs"),
        ("flop_budget(max_trainable_params='\u0663')", "max_trainable_params='\u0663': cannot parse '\u0663': "
                                                       "expected a number in ASCII digits (like 4, 2.5 or 1e3) with an "
                                                       "optional suffix K, M, G, T or P"),
        ("flop_budget(max_gmacs='\uff13')", "max_gmacs='\uff13': cannot parse '\uff13': expected a number in ASCII*"),
        ("flop_budget(max_params=__import__('numpy').bool_(True))",
         "max_params=np.True_: expected a number or a string like '25.6M', got bool np.True_"),
        ("flop_budget(max_params='25.6Q')", "max_params='25.6Q': unknown suffix 'Q' in '25.6Q': use K, M, G, T or P"),
        ("flop_budget(max_gmacs='lots')", "max_gmacs='lots': cannot parse 'lots'*"),
        ("flop_budget(max_params=True)", "max_params=True: expected a number or a string like '25.6M', got True"),
        ("flop_budget()", "it sets no limit; give at least one of max_gflops, max_gmacs, max_params, "
                          "max_trainable_params"),
        ("flop_budget", "it sets no limit*"),
    ],
)
def test_bad_marker_is_a_collection_error_naming_test_and_argument(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    result = run(pytester, f"""
@pytest.mark.{marker}
def test_guarded():
    linear()(X)

def test_innocent():
    pass
""")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*ERROR collecting test_model.py*",
        f"invalid flop_budget marker for test_model.py::test_guarded: {message}",
        "*Interrupted: 1 error during collection*",
    ])
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_a_bad_marker_on_a_class_names_where_it_is_set(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.flop_budget(max_gflop=1)
class TestModels:
    @pytest.mark.flop_budget(max_gflops=1)   # a closer valid value does not excuse the bad one
    def test_a(self):
        linear()(X)
""", "--continue-on-collection-errors")
    result.stdout.fnmatch_lines([
        "invalid flop_budget marker for test_model.py::TestModels::test_a (set on test_model.py::TestModels): "
        "max_gflop: did you mean max_gflops?",
    ])
    result.assert_outcomes(errors=1)


def test_only_the_bad_test_leaves_with_continue_on_collection_errors(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.flop_budget(max_glops=1)
def test_bad():
    linear()(X)

@pytest.mark.flop_budget(max_gflops=1)
def test_good():
    linear()(X)
""", "--continue-on-collection-errors")
    result.assert_outcomes(passed=1, errors=1)


def test_hook_sets_lifts_and_keeps_budgets(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
import pytest
from pytest_flopbudget.budget import Budget

@pytest.hookimpl(optionalhook=True)
def pytest_flopbudget_budget(item, budget):
    if item.name == "test_unmarked_gets_a_budget":
        return Budget(max_params=2000)
    if item.name == "test_budget_lifted":
        assert budget == Budget(max_params=1)
        return Budget()
    return None
""")
    result = run(pytester, """
def test_unmarked_gets_a_budget():
    linear()(X)

@pytest.mark.flop_budget(max_params=1)
def test_budget_lifted():
    linear()(X)

@pytest.mark.flop_budget(max_params=1)
def test_budget_kept():
    linear()(X)
""")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "*_ test_unmarked_gets_a_budget _*",
        "Linear: 2.08K params > max_params=2.00K (+4%)",
        "*_ test_budget_kept _*",
        "Linear: 2.08K params > max_params=1 (+207900%)",
    ])


def test_hook_returning_garbage_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
import pytest

@pytest.hookimpl(optionalhook=True)
def pytest_flopbudget_budget(item, budget):
    return {"max_gflops": 1}
""")
    result = run(pytester, """
def test_a():
    pass
""")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "pytest_flopbudget_budget returned {'max_gflops': 1} for test_model.py::test_a: expected a "
        "pytest_flopbudget.budget.Budget or None",
    ])


def test_conftest_hooks_load_without_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
import pytest

@pytest.hookimpl(optionalhook=True)
def pytest_flopbudget_budget(item, budget):
    return None
""")
    pytester.makepyfile("def test_a():\n    pass\n")
    pytester.runpytest("-p", "no:flopbudget").assert_outcomes(passed=1)


def hook_example(name: str) -> str:
    """The ready-to-paste example of a hookspec's docstring: the indented block after its ``::`` line."""
    import textwrap

    from pytest_flopbudget import hookspecs

    doc = getattr(hookspecs, name).__doc__
    block = doc.split("::\n", 1)[1]
    return textwrap.dedent(block)


def test_budget_hook_example_works_as_pasted(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(hook_example("pytest_flopbudget_budget"))
    result = run(pytester, """
def test_resnet_forward():
    nn.Linear(64, 32)(X)

@pytest.mark.parametrize("rows", [1, 2])
def test_tiny_bert(rows):
    nn.Linear(64, 32)(torch.randn(rows, 64))

def test_unlisted():
    pass
""")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*::test_resnet_forward * max_gflops=4.2, max_params=25.6M * ok",
                                 "*::test_tiny_bert[[]1[]] * max_gmacs=0.7 * ok"])


def test_json_fields_hook_example_works_as_pasted(pytester: pytest.Pytester) -> None:
    import json

    pytester.makeconftest(hook_example("pytest_flopbudget_json_fields"))
    run(pytester, """
@pytest.mark.parametrize("rows", [3])
def test_measured(rows, complexity):
    complexity.measure(linear(), torch.randn(rows, 64))
""", "--flopbudget-json=m.json").assert_outcomes(passed=1)
    [measurement] = json.loads(pytester.path.joinpath("m.json").read_text())["measurements"]
    assert measurement["extra"] == {"params": {"rows": "3"}}


def test_json_document_hook_example_works_as_pasted(pytester: pytest.Pytester) -> None:
    import json
    import platform

    pytester.makeconftest(hook_example("pytest_flopbudget_json_document"))
    run(pytester, "def test_plain():\n    pass\n", "--flopbudget-json=m.json").assert_outcomes(passed=1)
    extra = json.loads(pytester.path.joinpath("m.json").read_text())["extra"]
    assert set(extra) == {"commit", "machine"}
    assert extra["machine"] == platform.node()  # the commit is whatever git says here (empty outside a repository)


@pytest.mark.parametrize("name", ["flopbudget", "flop_budgets", "flops_budget", "FLOP_budget"])
def test_a_marker_spelled_almost_like_flop_budget_is_a_collection_error(pytester: pytest.Pytester, name: str) -> None:
    # Without the check pytest only warns about an unknown mark, and the test runs unguarded.
    result = run(pytester, f"""
@pytest.mark.{name}(max_gflops=1)
def test_x():
    linear()(X)

def test_y():
    pass
""", "--continue-on-collection-errors")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"*unknown marker '{name}' on test_model.py::test_x: did you mean flop_budget?*"])


def test_a_registered_marker_with_a_similar_name_is_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmarkers =\n    flop_budgets: our own grouping of budget tests\n")
    result = run(pytester, """
@pytest.mark.flop_budgets
def test_x():
    linear()(X)
""", "--strict-markers")
    result.assert_outcomes(passed=1)
