"""The ``complexity`` fixture: explicit measurements, recorded, checked against a marker's budget."""

from __future__ import annotations

import pytest
from plugin_support import run


def test_measure_returns_the_engine_report(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
def test_counts(complexity):
    report = complexity.measure(linear(), X)
    assert (report.flops, report.macs, report.params) == (16512, 8192, 2080)
    assert report.convention == complexity.convention == "full"
    assert report.input_shapes == [[4, 64]]
    assert complexity.reports == [report]

class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x, gate):
        return self.fc(x) * gate

def test_inputs_rules_are_count_rules(complexity):
    by_tuple = complexity.measure(Gated(), (torch.randn(1, 3), torch.randn(1, 2)))
    by_dict = complexity.measure(Gated(), {"x": torch.randn(1, 3), "gate": torch.randn(1, 2)})
    assert by_tuple.input_shapes == by_dict.input_shapes == [[1, 3], [1, 2]]
    assert by_tuple.macs == by_dict.macs == 3 * 2
    assert by_tuple.flops == 2 * 3 * 2 + 2 + 2  # bias adds, then the gate's multiply
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module"):
        complexity.measure(lambda x: x, X)
    with pytest.raises(TypeError, match="inputs: expected a tensor"):
        complexity.measure(linear(), 3)
    assert len(complexity.reports) == 2

def test_meta_and_names(complexity):
    with torch.device("meta"):
        big = nn.Linear(8192, 8192)                 # 67M params, never allocated
    report = complexity.measure(big, torch.randn(16, 8192), meta=True, name="big")
    assert report.meta and report.label == "big"
    assert report.macs == 16 * 8192 * 8192
    assert report.params == 8192 * 8192 + 8192
""")
    result.assert_outcomes(passed=3)


def test_marker_budget_applies_to_fixture_measurements(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.flop_budget(max_params=2000)
def test_measured_only(complexity):
    complexity.measure(linear(), X, name="head")
""")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["head: 2.08K params > max_params=2.00K (+4%)"])


def test_fixture_and_watch_do_not_double_count(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.mark.flop_budget(max_gflops=1)
def test_both(complexity):
    model = linear()
    measured = complexity.measure(model, X)   # count() runs this forward; the watch leaves it alone
    model(torch.randn(2, 64))                 # the test's own forward: watched
    assert [(r.input_shapes, r.macs) for r in complexity.reports] == [([[4, 64]], 8192), ([[2, 64]], 4096)]
    assert complexity.reports[0] is measured
""", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["total * 2 measurements *"])


def test_without_a_marker_nothing_is_enforced(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
def test_big_but_unbudgeted(complexity):
    complexity.measure(nn.Linear(4096, 4096), torch.randn(64, 4096))
    nn.Linear(8, 8)(torch.randn(1, 8))        # unmarked: forwards are not watched
    assert len(complexity.reports) == 1
""")
    result.assert_outcomes(passed=1)
    # Linear(4096, 4096) on 64 rows: 64 * 4096 * 4096 = 1.07G MACs, 2 * that + 64 * 4096 bias adds = 2.15G FLOPs.
    result.stdout.fnmatch_lines(["test_model.py::test_big_but_unbudgeted * Linear * 64x4096 * 2.15 * 1.07 * 16.78M "
                                 "* - * - * -"])


def test_measurements_in_a_fixture_setup_count_for_the_test(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.fixture
def measured_model(complexity):
    model = linear()
    complexity.measure(model, X)
    return model

@pytest.mark.flop_budget(max_params=2000)
def test_uses_it(measured_model, complexity):
    assert len(complexity.reports) == 1
""")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["Linear: 2.08K params > max_params=2.00K (+4%)"])


def test_a_measurement_after_the_call_phase_is_still_checked(pytester: pytest.Pytester) -> None:
    result = run(pytester, """
@pytest.fixture
def audit(complexity):
    yield
    complexity.measure(linear(), X)          # in teardown: after the call phase was checked

@pytest.mark.flop_budget(max_params=2000)
def test_late(audit):
    nn.Linear(2, 2)(torch.randn(1, 2))
""")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_late*", "Linear: 2.08K params > max_params=2.00K (+4%)"])
