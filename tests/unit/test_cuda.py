"""Device independence on CUDA: the same model and shapes give the same counts as on CPU.

Skipped where no CUDA device is present (CI has none); run on a GPU machine with
``python3 -m pytest tests/test_cuda.py``.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pytest_flopbudget as fb

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _models() -> dict[str, tuple[nn.Module, tuple]]:
    torch.manual_seed(0)
    encoder = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(64, 4, 128, batch_first=True), num_layers=2, enable_nested_tensor=False)

    class Attention(nn.Module):
        def forward(self, q, k, v):
            return nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

    models = {
        "conv": (nn.Sequential(nn.Conv2d(3, 16, 3, stride=2), nn.BatchNorm2d(16), nn.ReLU(),
                               nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)),
                 (torch.randn(2, 3, 32, 32),)),
        "encoder": (encoder, (torch.randn(2, 16, 64),)),
        "mha": (nn.MultiheadAttention(64, 4, batch_first=True), (torch.randn(2, 16, 64),) * 3),
        "lstm": (nn.LSTM(16, 32, num_layers=2, bidirectional=True, batch_first=True), (torch.randn(4, 10, 16),)),
        "gru": (nn.GRU(16, 32), (torch.randn(10, 4, 16),)),
        "sdpa_gqa": (Attention(), (torch.randn(2, 8, 16, 32), torch.randn(2, 2, 16, 32), torch.randn(2, 2, 16, 32))),
    }
    try:
        import torchvision

        models["resnet18"] = (torchvision.models.resnet18(), (torch.randn(1, 3, 64, 64),))
    except ImportError:
        pass
    return models


def _counts(report: fb.Report) -> tuple:
    return report.flops, report.macs, report.params, {n: (m.flops, m.macs) for n, m in report.modules.items()}


@pytest.mark.parametrize("name", sorted(_models()))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
def test_cuda_counts_equal_cpu_counts(name: str, dtype: torch.dtype, grad: bool) -> None:
    model, inputs = _models()[name]
    model = model.eval()
    with torch.set_grad_enabled(grad):
        on_cpu = {c: _counts(fb.count(model, inputs, convention=c)) for c in ("full", "matmul", "exact")}
        model = model.to("cuda", dtype)
        cuda_inputs = tuple(t.to("cuda", dtype) for t in inputs)
        for convention, expected in on_cpu.items():
            assert _counts(fb.count(model, cuda_inputs, convention=convention)) == expected
            assert _counts(fb.count(model, cuda_inputs, convention=convention, meta=True)) == expected
