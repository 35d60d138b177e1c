"""A flop_budget marker alone guards a test: its forwards are watched and an overrun fails it.

Counts used below, derived by hand: ``nn.Linear(64, 32)`` on a ``(4, 64)`` input does 4 * 64 * 32 = 8192
MACs; under the ``full`` convention that is 2 * 8192 + 4 * 32 bias adds = 16512 FLOPs (``matmul``: 16384).
It has 64 * 32 + 32 = 2080 parameters.
"""

from __future__ import annotations

import pytest
from plugin_support import RERUN_EVERY_TEST, run


def test_within_budget_passes(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.flop_budget(max_gflops="16.512K", max_gmacs="8.192K", max_params=2080, max_trainable_params=2080)
def test_fits():
    linear()(X)
""")
    result.assert_outcomes(passed=1)


def test_over_budget_fails_the_test_not_an_error(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.flop_budget(max_gflops="10K", max_params=2000)
def test_too_big():
    linear()(X)
""")
    result.assert_outcomes(failed=1)  # not "1 passed, 1 error"
    result.stdout.fnmatch_lines([
        "*_ test_too_big _*",
        "Linear: 1.65e-05 GFLOPs > max_gflops=1e-05 (+65%)",
        "Linear: 2.08K params > max_params=2.00K (+4%)",
        "(budget: max_gflops=1e-05, max_params=2K; FLOPs follow the 'full' convention)",
        "*short test summary*",
        "FAILED test_model.py::test_too_big - FlopBudgetExceeded: Linear: 1.65e-05 GFL*",
    ])
    assert "Traceback" not in result.stdout.str()


def test_one_boundary_flop_decides(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.flop_budget(max_gflops="16.511K")
def test_one_flop_over():
    linear()(X)

@pytest.mark.flop_budget(max_gmacs="8.191K")
def test_one_mac_over():
    linear()(X)

@pytest.mark.flop_budget(max_trainable_params=2079)
def test_one_param_over():
    linear()(X)

@pytest.mark.flop_budget(max_trainable_params=2079)
def test_frozen_params_do_not_count_as_trainable():
    model = linear()
    model.bias.requires_grad_(False)
    model(X)
""")
    result.assert_outcomes(failed=3, passed=1)
    result.stdout.fnmatch_lines_random([
        "Linear: 1.65e-05 GFLOPs > max_gflops=1.65e-05 (+0.0061%)",
        "Linear: 8.19e-06 GMACs > max_gmacs=8.19e-06 (+0.012%)",
        "Linear: 2.08K trainable params > max_trainable_params=2.08K (+0.048%)",
    ])


def test_each_distinct_forward_is_measured_once(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.flop_budget(max_gflops=1)
def test_loop(complexity):
    model = nn.Sequential(linear(), nn.ReLU())
    for _ in range(5):
        model(X)                   # one signature, measured once
    model(torch.randn(2, 64))      # another batch size
    model.eval()
    model(X)                       # eval mode is another signature
    with torch.no_grad():
        model[0](X)                # a submodule called directly is an outermost forward too
    reports = complexity.reports
    assert [(r.label, r.input_shapes) for r in reports] == [
        ("Sequential", [[4, 64]]), ("Sequential", [[2, 64]]), ("Sequential", [[4, 64]]), ("Linear", [[4, 64]]),
    ]
    assert reports[0].flops == 16512 + 4 * 32      # the ReLU adds one FLOP per element
    assert reports[1].macs == 2 * 64 * 32
    assert set(reports[0].modules) == {"", "0", "1"}  # nested modules belong to the outermost forward
""")
    result.assert_outcomes(passed=1)


def test_a_budget_that_measured_nothing_fails(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.fixture
def warmed():
    model = linear()
    model(X)                       # setup forwards are not watched
    return model

@pytest.mark.flop_budget(max_gflops=1)
def test_no_forward(warmed):
    assert warmed.out_features == 32

@pytest.mark.flop_budget(max_gflops=1)
def test_skipped():
    pytest.skip("skipped tests are not checked")
""")
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines([
        "flop_budget(max_gflops=1) checked nothing: the test ran no model forward.",
        "The budget watches forwards run in the test body; forwards run by fixtures during setup are not watched.",
        "Call the model in the test, or measure it with the complexity fixture: complexity.measure(model, inputs).",
    ])


def test_a_test_that_fails_on_its_own_reports_the_overrun_too(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.flop_budget(max_gflops="10K")
def test_broken():
    linear()(X)
    assert 1 + 1 == 3
""")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E       assert (1 + 1) == 3",
        "*- flop budget -*",
        "Linear: 1.65e-05 GFLOPs > max_gflops=1e-05 (+65%)",
        "*short test summary*",
        "FAILED test_model.py::test_broken - assert (1 + 1) == 3",
    ])


def test_a_forward_that_raises_is_not_measured(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.flop_budget(max_gflops="1K")
def test_bad_shape():
    with pytest.raises(RuntimeError):
        linear()(torch.randn(4, 3))
""")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["flop_budget(max_gflops=1e-06) checked nothing*"])


def test_xfail_strict_shows_an_overrun_without_failing_the_run(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.xfail(strict=True, reason="over budget on purpose")
@pytest.mark.flop_budget(max_gflops="10K")
def test_over():
    linear()(X)

@pytest.mark.xfail(strict=True, reason="claims an overrun that is not there")
@pytest.mark.flop_budget(max_gflops=1)
def test_within():
    linear()(X)
""", "-rfx")
    result.assert_outcomes(xfailed=1, failed=1)
    result.stdout.fnmatch_lines_random([
        "XFAIL test_model.py::test_over - over budget on purpose",
        "[[]XPASS(strict)[]] claims an overrun that is not there",
    ])


def test_costliest_modules_are_listed_and_more_with_verbose(pytester: pytest.Pytester) -> None:
    source = """
@pytest.mark.flop_budget(max_gflops="1K")
def test_mlp():
    torch.manual_seed(0)
    nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8))(torch.randn(1, 64))
"""
    # Linear(64, 64): 2 * 4096 + 64 = 8256 FLOPs; ReLU: 64; Linear(64, 8): 2 * 512 + 8 = 1032. Total 9352.
    result = run(pytester, source)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "Sequential: 9.35e-06 GFLOPs > max_gflops=1e-06 (+835%)",
        "*- flop budget: costliest modules -*",
        "Sequential (inputs 1x64, FLOPs: full convention), top 3 by their own FLOPs (-v for all):",
        "  0  Linear     8.26K FLOPs   88.3%",
        "  2  Linear     1.03K FLOPs   11.0%",
        "  1  ReLU          64 FLOPs    0.7%",
    ])
    verbose = pytester.runpytest("-p", "no:cacheprovider", "-v")
    verbose.stdout.fnmatch_lines([
        "*- flop budget: costliest modules -*",
        "Sequential (inputs 1x64, FLOPs: full convention)",
        "module * type * params * MACs * FLOPs (full) * share * calls",
        "(model) * Sequential * 4.68K * 4.61K * 9.35K * 100.0% * 1",
    ])


def test_convention_decides_the_flops(pytester: pytest.Pytester) -> None:
    # 16.4K sits between matmul (16384) and full (16512).
    source = """
@pytest.mark.flop_budget(max_gflops="16.4K")
def test_between():
    linear()(X)
"""
    run(pytester, source).assert_outcomes(failed=1)
    pytester.runpytest("-p", "no:cacheprovider", "--flopbudget-convention=matmul").assert_outcomes(passed=1)


def test_markers_merge_argument_by_argument_closest_winning(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
pytestmark = pytest.mark.flop_budget(max_gflops="1K", max_params=2080)

@pytest.mark.flop_budget(max_gflops=1)
class TestLoose:
    def test_class_raises_the_flop_limit(self):
        linear()(X)

    @pytest.mark.flop_budget(max_params=100)
    def test_function_lowers_params(self):
        linear()(X)

    @pytest.mark.flop_budget(max_params=None)
    def test_none_lifts_the_module_limit(self, complexity):
        nn.Linear(64, 4096)(X)
        assert complexity.reports[0].params > 2080

def test_module_marker_applies():
    linear()(X)
""")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines([
        "*_ TestLoose.test_function_lowers_params _*",
        "Linear: 2.08K params > max_params=100 (+1980%)",
        "(budget: max_gflops=1, max_params=100; FLOPs follow the 'full' convention)",
        "*_ test_module_marker_applies _*",
        "Linear: 1.65e-05 GFLOPs > max_gflops=1e-06 (+1551%)",
        "(budget: max_gflops=1e-06, max_params=2.08K; FLOPs follow the 'full' convention)",
    ])


def test_lifting_every_limit_leaves_the_test_unbudgeted(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
pytestmark = pytest.mark.flop_budget(max_gflops=1e-9)

@pytest.mark.flop_budget(max_gflops=None)
def test_exempt():
    nn.Linear(64, 4096)(X)  # far over the module's limit, but this test lifted it

@pytest.mark.flop_budget(max_gflops=None)
def test_exempt_and_measures_nothing():
    pass  # no budget, so nothing to check: passes

def test_still_budgeted():
    linear()(X)
""")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*_ test_still_budgeted _*"])


def test_a_rerun_replaces_the_tests_measurements(pytester: pytest.Pytester) -> None:
    """As pytest-rerunfailures does: the same item's protocol runs twice; the summary keeps one run's rows."""
    pytester.makeconftest(RERUN_EVERY_TEST)
    result = run(pytester, """
@pytest.mark.flop_budget(max_gflops=1)
def test_once(complexity):
    linear()(X)
    assert len(complexity.reports) == 1  # the second attempt does not see the first one's measurement
""", "--flopbudget-json=out.json")
    result.assert_outcomes(passed=1)
    import json

    document = json.loads(pytester.path.joinpath("out.json").read_text())
    assert [m["report"]["macs"] for m in document["measurements"]] == [4 * 64 * 32]
