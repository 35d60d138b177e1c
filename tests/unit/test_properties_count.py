"""Property-based tests of count() on random small nn.Sequential models.

Each model is drawn as a list of layer hyperparameters; the expected MACs, params and FLOPs are summed
here from those hyperparameters and the shapes they imply (torch.nn docs' output-size formula), never read
from the model (no ``model.parameters()``) or from the counter. Per-element constants are README's
"Per-element costs" table, written out: an activation costs 1 per output element, batch norm 5 per input
element; a bias costs 1 add per output element (README "Conventions").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

pytest.importorskip("hypothesis")
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from pytest_flopbudget import count

SETTINGS = settings(max_examples=40, deadline=None, database=None)

ACTIVATION_PER_ELEMENT = 1  # README: relu, gelu, tanh, ... 1 FLOP per output element
BATCH_NORM_PER_ELEMENT = 5  # README: normalization 5 per input element (mean, variance, subtract, scale, shift)
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


@dataclass
class Expected:
    """Analytic totals: MACs, dot-product outputs, bias adds, other per-element work, params."""

    macs: int = 0
    outputs: int = 0
    bias: int = 0
    other: int = 0
    params: int = 0

    def add(self, macs=0, outputs=0, bias=0, other=0, params=0) -> None:
        self.macs += macs
        self.outputs += outputs
        self.bias += bias
        self.other += other
        self.params += params

    def flops(self) -> dict[str, int]:
        return {"full": 2 * self.macs + self.bias + self.other, "matmul": 2 * self.macs,
                "exact": 2 * self.macs - self.outputs + self.bias + self.other}


def conv_out(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a direct convolution (torch.nn.Conv docs)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@st.composite
def models(draw):
    """(layers, input shape, expected totals, per-layer (macs, params)), built layer by layer."""
    batch = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["linear", "conv1d", "conv2d"]))
    layers: list[nn.Module] = []
    per_layer: list[tuple[int, int]] = []
    expected = Expected()

    def record(module: nn.Module, macs: int = 0, outputs: int = 0, bias: int = 0, other: int = 0,
               params: int = 0) -> None:
        layers.append(module)
        per_layer.append((macs, params))
        expected.add(macs, outputs, bias, other, params)

    def activation(elements: int) -> None:
        name = draw(st.sampled_from(sorted(ACTIVATIONS)))
        record(ACTIVATIONS[name](), other=ACTIVATION_PER_ELEMENT * elements)

    if kind == "linear":
        features = draw(st.integers(1, 6))
        shape = (batch, features)
    else:
        dims = 1 if kind == "conv1d" else 2
        channels = draw(st.integers(1, 4))
        spatial = [draw(st.integers(3, 8)) for _ in range(dims)]
        shape = (batch, channels, *spatial)
        for _ in range(draw(st.integers(1, 3))):
            groups = draw(st.sampled_from([g for g in range(1, channels + 1) if channels % g == 0]))
            out_channels = groups * draw(st.integers(1, 3))
            kernel = [draw(st.integers(1, min(3, size))) for size in spatial]
            stride = draw(st.integers(1, 2))
            padding = draw(st.integers(0, 1))
            dilation = draw(st.integers(1, 2)) if all(size >= 2 * (k - 1) + 1 for size, k in zip(spatial, kernel)) \
                else 1
            has_bias = draw(st.booleans())
            conv = (nn.Conv1d if dims == 1 else nn.Conv2d)(channels, out_channels, kernel, stride=stride,
                                                           padding=padding, dilation=dilation, groups=groups,
                                                           bias=has_bias)
            spatial = [conv_out(size, k, stride, padding, dilation) for size, k in zip(spatial, kernel)]
            out_elements = batch * out_channels * math.prod(spatial)
            taps = channels // groups * math.prod(kernel)  # products per output element
            record(conv, macs=out_elements * taps, outputs=out_elements, bias=out_elements if has_bias else 0,
                   params=out_channels * taps + (out_channels if has_bias else 0))
            channels = out_channels
            if draw(st.booleans()):
                norm = (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(channels).eval()
                record(norm, other=BATCH_NORM_PER_ELEMENT * out_elements, params=2 * channels)  # weight, bias
            if draw(st.booleans()):
                activation(out_elements)
        record(nn.Flatten())
        features = channels * math.prod(spatial)
    for _ in range(draw(st.integers(0 if kind != "linear" else 1, 3))):
        out_features = draw(st.integers(1, 6))
        has_bias = draw(st.booleans())
        outputs = batch * out_features
        record(nn.Linear(features, out_features, bias=has_bias), macs=batch * features * out_features,
               outputs=outputs, bias=outputs if has_bias else 0,
               params=features * out_features + (out_features if has_bias else 0))
        features = out_features
        if draw(st.booleans()):
            activation(outputs)
    return layers, shape, expected, per_layer


@SETTINGS
@given(models())
def test_count_matches_the_analytic_sum_of_the_layers(drawn) -> None:
    layers, shape, expected, per_layer = drawn
    model = nn.Sequential(*layers)
    x = torch.randn(*shape)
    flops = expected.flops()
    for convention in ("full", "matmul", "exact"):
        report = count(model, x, convention=convention)
        assert report.unsupported == {}
        assert report.macs == expected.macs
        assert report.flops == flops[convention], convention
        assert report.params == report.trainable_params == expected.params
    for index, (macs, params) in enumerate(per_layer):
        stats = report.modules[str(index)]
        assert (stats.macs, stats.params, stats.calls) == (macs, params, 1), index


@SETTINGS
@given(models())
def test_count_is_identical_when_repeated(drawn) -> None:
    layers, shape, _, _ = drawn
    model = nn.Sequential(*layers)
    x = torch.randn(*shape)
    first = count(model, x)
    assert count(model, x) == first
    assert count(model, x, meta=True).to_dict() | {"meta": False} == first.to_dict() | {"meta": False}
