"""The engine's own contracts: watch signatures, the one input walker, the formula registry, one source per fact.

Counts derived by hand: ``nn.Linear(I, O)`` on B rows is B*I*O MACs.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from importlib import metadata

import pytest
import torch
from torch import nn

import pytest_flopbudget as fb


class Steps(nn.Module):
    """Cost independent of ``step``; ``depth`` repeats the layer: depth * 4*8*8 MACs on 4 rows."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, step: int = 0, depth: int = 1) -> torch.Tensor:
        for _ in range(depth):
            x = self.linear(x)
        return x


def test_a_loop_passing_its_step_number_is_reported_once() -> None:
    model, x, reports = Steps(), torch.randn(4, 8), []
    with fb.watch(reports.append):
        for step in range(100):
            model(x, step=step)
    assert [r.macs for r in reports] == [4 * 8 * 8]


def test_an_argument_that_changes_the_cost_is_reported_for_each_cost() -> None:
    model, x, reports = Steps(), torch.randn(4, 8), []
    with fb.watch(reports.append):
        for depth in (1, 1, 2, 3, 2, 1):
            model(x, depth=depth)
    assert [r.macs for r in reports] == [1 * 256, 2 * 256, 3 * 256]


def test_a_costlier_value_after_many_equal_ones_is_still_seen_before_settling() -> None:
    from pytest_flopbudget.engine.watch import SETTLE_AFTER

    model, x, reports = Steps(), torch.randn(4, 8), []
    with fb.watch(reports.append):
        for step in range(SETTLE_AFTER):
            model(x, step=step)         # same cost: SETTLE_AFTER - 1 new values in a row cost the same
        model(x, step=-1, depth=5)      # still measured: the model has not settled yet
    assert [r.macs for r in reports] == [256, 5 * 256]


@dataclasses.dataclass
class Batch:
    features: torch.Tensor
    note: str = "batch"


class TakesBatch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 4)

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.linear(batch.features)


def test_a_dataclass_batch_reaches_a_meta_device_model() -> None:
    with torch.device("meta"):
        model = TakesBatch()
    batch = Batch(torch.randn(3, 8))
    report = fb.count(model, (batch,), meta=True)
    assert report.macs == 3 * 8 * 4
    assert report.input_shapes == [[3, 8]]
    assert batch.features.device.type == "cpu"  # the caller's batch is not changed


def test_a_dataclass_batch_on_a_real_model_under_meta() -> None:
    batch = Batch(torch.randn(3, 8))
    assert fb.count(TakesBatch(), (batch,), meta=True).macs == 3 * 8 * 4


def test_importing_the_formula_package_registers_every_family() -> None:
    code = ("import torch; from pytest_flopbudget.engine.formulas import OP_FORMULAS; "
            "a = torch.ops.aten; print(all(op in OP_FORMULAS for op in (a.mm, a.convolution, "
            "a._native_multi_head_attention, a._scaled_dot_product_flash_attention_for_cpu, a.native_layer_norm)))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "True\n"


def test_per_element_constants_are_read_only() -> None:
    with pytest.raises(TypeError):
        fb.PER_ELEMENT["elementwise"] = 2  # type: ignore[index]


def test_the_version_is_the_installed_one() -> None:
    assert fb.__version__ == metadata.version("pytest-flopbudget")
