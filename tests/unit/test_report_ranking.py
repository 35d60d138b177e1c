"""The costliest modules are ranked by their own (exclusive) cost, so work a module does in its own forward is
listed where it is incurred."""

from __future__ import annotations

import torch
from torch import nn

from pytest_flopbudget import count
from pytest_flopbudget.engine.report import ModuleStats, Report


class Encoder(nn.Module):
    """Attention whose work runs inside nn.MultiheadAttention's own forward, then a projection."""

    def __init__(self) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(16, 2)
        self.head = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.attention(x, x, x, need_weights=False)
        return self.head(out)


def test_multihead_attention_is_ranked_by_the_work_of_its_own_forward() -> None:
    # x: L=4, N=1, E=16, 2 heads of 8. In MultiheadAttention's forward: the q, k, v projections 3 * 4*16*16 = 3072
    # MACs, scores 2 heads * 4*4*8 = 256, weighted values 256, the output projection 4*16*16 = 1024 (run through
    # F.linear, so its out_proj submodule never runs): 4608 MACs. The head: 4*16*4 = 256 MACs.
    torch.manual_seed(0)
    report = count(Encoder().eval(), torch.randn(4, 1, 16))
    top = dict(report.top_modules(5))
    assert list(top)[0] == "attention"
    assert top["attention"].macs == 4608
    assert top["head"].macs == 256
    assert "attention.out_proj" not in top  # ran no op of its own
    assert report.macs == 4608 + 256


def test_own_cost_is_inclusive_cost_less_the_direct_submodules() -> None:
    report = Report(model="M", convention="full", flops=100, macs=40, params=0, trainable_params=0, frozen_params=0,
                    buffers=0, param_bytes=0, modules={
                        "": ModuleStats("M", flops=100, macs=40),
                        "a": ModuleStats("A", flops=70, macs=30),  # 70 - 50 - 5 = 15 of its own
                        "a.x": ModuleStats("X", flops=50, macs=25),
                        "a.y": ModuleStats("Y", flops=5, macs=0),
                        "b": ModuleStats("B", flops=20, macs=10),
                    })
    own = report.own_costs()
    assert {name: (stats.flops, stats.macs) for name, stats in own.items()} == {
        "": (10, 0), "a": (15, 5), "a.x": (50, 25), "a.y": (5, 0), "b": (20, 10)}
    assert [name for name, _ in report.top_modules(3)] == ["a.x", "b", "a"]
    assert [round(share) for _, _, share in report.top_shares(2)] == [50, 20]
