"""What an over-budget test looks like, without turning the run red.

``xfail(strict=True, raises=FlopBudgetExceeded)`` expects exactly a budget failure: if the model ever fits the
budget (or fails for another reason), this test fails. Run ``pytest example_project --runxfail`` to see the
failure as a user would:

    TinyResNet: 0.0511 GFLOPs > max_gflops=0.04 (+28%)
    (budget: max_gflops=0.04; FLOPs follow the 'full' convention)
    ------------------------ flop budget: costliest modules ------------------------
    TinyResNet (inputs 2x3x32x32, FLOPs: full convention), top 5 by their own FLOPs (-v for all):
      stages.0.0.conv1  Conv2d     9.44M FLOPs   18.5%
      stages.0.0.conv2  Conv2d     9.44M FLOPs   18.5%
      ...
"""

import pytest
from tinymodels import TinyResNet

from pytest_flopbudget.budget import Budget
from pytest_flopbudget.runtest import FlopBudgetExceeded


@pytest.mark.xfail(strict=True, raises=FlopBudgetExceeded, reason="budget deliberately below the model's cost")
@pytest.mark.flop_budget(max_gflops=0.04)
def test_classifier_over_budget(images):
    TinyResNet().eval()(images)


def test_violation_text(complexity, images):
    # The same check, by hand: a Budget renders each violation as the line a failing test shows.
    report = complexity.measure(TinyResNet().eval(), images)
    [violation] = Budget(max_gflops=0.04).check(report)
    assert violation.render() == f"TinyResNet: {report.gflops:.3g} GFLOPs > max_gflops=0.04 (+28%)"
