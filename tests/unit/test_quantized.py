"""Quantized models (torch.ao): packed weights counted as params, quantized kernels costed like float ones.

A quantized module keeps its weight and bias packed inside a TorchBind object, not as nn.Parameters, so
``model.parameters()`` sees nothing. Every expected number below is derived from the layer sizes in a
comment: weights in qint8 take 1 byte per element, float16 2, biases stay float32 (4 bytes).
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from pytest_flopbudget import PER_ELEMENT, count

if "none" in torch.backends.quantized.supported_engines and len(torch.backends.quantized.supported_engines) == 1:
    pytest.skip("this torch build has no quantized engine", allow_module_level=True)

CONVENTIONS = ("full", "matmul", "exact")

B, T, IN, H, OUT = 3, 2, 8, 16, 4  # batch, time, in, hidden, out


def expected_flops(macs: int, outputs: int = 0, bias: int = 0, other: int = 0) -> dict[str, int]:
    return {"full": 2 * macs + bias + other, "matmul": 2 * macs, "exact": 2 * macs - outputs + bias + other}


def quantize_dynamic(model: nn.Module, types: set, dtype: torch.dtype = torch.qint8) -> nn.Module:
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model.eval(), types, dtype=dtype)


def mlp(bias: bool) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(IN, H, bias=bias), nn.ReLU(), nn.Linear(H, OUT, bias=bias))


def assert_flops(model, inputs, *, macs, outputs, bias, other):
    want = expected_flops(macs, outputs, bias, other)
    for convention in CONVENTIONS:
        report = count(model, inputs, convention=convention)
        assert report.macs == macs, convention
        assert report.flops == want[convention], convention
    return report


# --------------------------------------------------------------------------------- dynamic int8 Linear


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("shape", [(B, IN), (B, T, IN)], ids=["2d", "3d"])
def test_dynamic_int8_mlp_flops(bias, shape):
    qmodel = quantize_dynamic(mlp(bias), {nn.Linear})
    assert type(qmodel[0]).__module__.startswith("torch.ao.nn.quantized.dynamic")
    rows = B * (T if len(shape) == 3 else 1)  # every leading dimension is a row of the matmul
    # Same arithmetic as the float layers: rows*IN*H + rows*H*OUT MACs, one dot product per output element,
    # one bias add per output element of each layer (when present), one ReLU per hidden element.
    macs = rows * IN * H + rows * H * OUT
    outputs = rows * H + rows * OUT
    report = assert_flops(qmodel, torch.randn(*shape), macs=macs, outputs=outputs,
                          bias=outputs if bias else 0, other=PER_ELEMENT["activation"] * rows * H)
    assert report.unsupported == {}
    assert report.ops["quantized.linear_dynamic"].calls == 2
    assert report.ops["quantized.linear_dynamic"].macs == macs
    assert report.modules["0"].macs == rows * IN * H
    assert report.modules["2"].macs == rows * H * OUT


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_dynamic_int8_mlp_params(bias):
    qmodel = quantize_dynamic(mlp(bias), {nn.Linear})
    report = count(qmodel, torch.randn(B, IN))
    first = IN * H + (H if bias else 0)  # weight (H, IN) + bias (H)
    second = H * OUT + (OUT if bias else 0)  # weight (OUT, H) + bias (OUT)
    assert report.params == first + second
    # Packed weights are not nn.Parameters and no optimizer can train them: frozen.
    assert report.frozen_params == first + second
    assert report.trainable_params == 0
    weight_bytes = (IN * H + H * OUT) * 1  # qint8: one byte per element
    bias_bytes = (H + OUT) * 4 if bias else 0  # the bias stays float32
    assert report.param_bytes == weight_bytes + bias_bytes
    assert report.bytes_by_dtype == (
        {"qint8": weight_bytes, "float32": bias_bytes} if bias else {"qint8": weight_bytes})
    assert report.modules[""].params == first + second
    assert report.modules["0"].params == first
    assert report.modules["0._packed_params"].params == first
    assert report.modules["1"].params == 0
    assert report.modules["2"].params == second
    assert report.modules["2._packed_params"].params == second


def test_dynamic_float16_linear_params_and_flops():
    qmodel = quantize_dynamic(mlp(True), {nn.Linear}, dtype=torch.float16)
    report = assert_flops(qmodel, torch.randn(B, IN), macs=B * IN * H + B * H * OUT, outputs=B * H + B * OUT,
                          bias=B * H + B * OUT, other=PER_ELEMENT["activation"] * B * H)
    assert report.unsupported == {}
    # fp16 packing stores the weights in float16 (2 bytes), the bias in float32 (4 bytes).
    assert report.params == IN * H + H + H * OUT + OUT
    assert report.bytes_by_dtype == {"float16": 2 * (IN * H + H * OUT), "float32": 4 * (H + OUT)}


def test_quantized_model_counts_like_its_float_original():
    """The quantized model's MACs and params equal the float model's: quantization changes the number format."""
    float_model = mlp(True).eval()
    qmodel = quantize_dynamic(mlp(True), {nn.Linear})
    x = torch.randn(B, T, IN)
    float_report, quantized_report = count(float_model, x), count(qmodel, x)
    assert quantized_report.macs == float_report.macs == B * T * (IN * H + H * OUT)
    assert quantized_report.flops == float_report.flops
    assert quantized_report.params == float_report.params == IN * H + H + H * OUT + OUT


def test_dynamic_quantized_model_without_data_counts_the_same():
    qmodel = quantize_dynamic(nn.Sequential(nn.Linear(IN, H), nn.ReLU(), nn.LSTM(H, OUT)), {nn.Linear, nn.LSTM})
    x = torch.randn(T, B, IN)
    real, fake = count(qmodel, x), count(qmodel, x, meta=True)
    assert real.unsupported == fake.unsupported == {}
    # Linear: T*B rows of IN*H; LSTM: T*B steps of 4 gates * OUT hidden over [x, h] (K = H + OUT).
    assert real.macs == fake.macs == T * B * IN * H + T * B * 4 * OUT * (H + OUT)
    assert real.flops == fake.flops
    assert real.params == fake.params


def test_repeated_count_of_a_quantized_model_is_identical():
    qmodel = quantize_dynamic(mlp(True), {nn.Linear})
    x = torch.randn(B, IN)
    assert count(qmodel, x) == count(qmodel, x)


# ------------------------------------------------------------------------------------ dynamic RNNs


def test_dynamic_int8_lstm_is_costed_as_the_float_lstm():
    n, t, i, h = 2, 3, 4, 5
    qlstm = quantize_dynamic(nn.Sequential(nn.LSTM(i, h)), {nn.LSTM})[0]
    assert type(qlstm).__module__.startswith("torch.ao.nn.quantized.dynamic")
    steps = t * n
    # Per step: 4 gates x H outputs, each a dot product over [x, h] (K = i + h); two bias adds per gate
    # output; 9 elementwise ops per hidden unit (README, RNNs).
    report = assert_flops(qlstm, torch.randn(t, n, i), macs=steps * 4 * h * (i + h), outputs=steps * 4 * h,
                          bias=steps * 2 * 4 * h, other=steps * 9 * h)
    assert report.unsupported == {}
    # weight_ih (4h, i) + weight_hh (4h, h) in qint8; bias_ih + bias_hh (4h each) in float32.
    assert report.params == 4 * h * i + 4 * h * h + 2 * 4 * h
    assert report.bytes_by_dtype == {"qint8": 4 * h * i + 4 * h * h, "float32": 4 * 2 * 4 * h}


@pytest.mark.parametrize(("cell", "gates", "elementwise"),
                         [(nn.LSTMCell, 4, 9), (nn.GRUCell, 3, 8), (nn.RNNCell, 1, 1)],
                         ids=["LSTMCell", "GRUCell", "RNNCell"])
def test_dynamic_int8_cells(cell, gates, elementwise):
    n, i, h = 4, 3, 5
    qcell = quantize_dynamic(nn.Sequential(cell(i, h)), {cell})[0]
    # One step per row: gates*h dot products over [x, h] (GRU keeps W_hn h apart: h more outputs).
    outputs = n * (gates * h + (h if cell is nn.GRUCell else 0))
    report = assert_flops(qcell, torch.randn(n, i), macs=n * gates * h * (i + h), outputs=outputs,
                          bias=n * 2 * gates * h, other=n * elementwise * h)
    assert report.unsupported == {}
    assert report.params == gates * h * i + gates * h * h + 2 * gates * h


# ------------------------------------------------------------------------------------ static int8


class StaticNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.conv = nn.Conv2d(2, 3, 3, stride=1, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(3 * 4 * 4, 5)
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        x = self.relu(self.conv(self.quant(x)))
        return self.dequant(self.fc(x.flatten(1)))


def static_quantized() -> nn.Module:
    torch.manual_seed(0)
    model = StaticNet().eval()
    model.qconfig = torch.ao.quantization.get_default_qconfig(torch.backends.quantized.engine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = torch.ao.quantization.prepare(model)
        prepared(torch.randn(2, 2, 4, 4))
        return torch.ao.quantization.convert(prepared)


def test_static_int8_conv_and_linear():
    model = static_quantized()
    n = 2
    conv_out = n * 3 * 4 * 4  # 3x3 kernel, padding 1, stride 1: 4x4 stays 4x4
    conv_macs = conv_out * 2 * 3 * 3  # Cin * k * k per output element
    fc_macs = n * 48 * 5
    report = count(model, torch.randn(n, 2, 4, 4))
    assert report.macs == conv_macs + fc_macs
    assert report.ops["quantized.conv2d"].macs == conv_macs
    assert report.ops["quantized.linear"].macs == fc_macs
    # Quantize / dequantize conversions have no formula: reported, never silently zero.
    assert report.unsupported == {"aten.quantize_per_tensor": 1, "aten.dequantize": 1}
    # conv weight 3*2*3*3 + bias 3, fc weight 5*48 + bias 5; weights qint8, biases float32.
    assert report.params == 3 * 2 * 3 * 3 + 3 + 5 * 48 + 5
    assert report.bytes_by_dtype == {"qint8": 3 * 2 * 3 * 3 + 5 * 48, "float32": 4 * (3 + 5)}
    assert report.modules["conv"].params == 3 * 2 * 3 * 3 + 3
    assert report.modules["fc"].params == 5 * 48 + 5


def quantized(x: torch.Tensor) -> torch.Tensor:
    return torch.quantize_per_tensor(x, 0.1, 0, torch.quint8)


def test_static_fused_conv_relu_and_linear_relu():
    from torch.ao.nn.intrinsic import quantized as nniq

    conv = nniq.ConvReLU2d(2, 3, 3)
    out = 1 * 3 * 3 * 3  # (1, 3, 5 - 3 + 1, 5 - 3 + 1)
    report = count(conv, quantized(torch.randn(1, 2, 5, 5)))
    # 2*Cin*k*k per output element, one bias add and one ReLU per output element.
    assert report.macs == out * 2 * 3 * 3
    assert report.flops == 2 * out * 2 * 3 * 3 + out + PER_ELEMENT["activation"] * out
    linear = nniq.LinearReLU(4, 3)
    report = count(linear, quantized(torch.randn(2, 4)))
    assert report.macs == 2 * 4 * 3
    assert report.flops == 2 * 2 * 4 * 3 + 2 * 3 + PER_ELEMENT["activation"] * 2 * 3
    assert report.unsupported == {}


def test_static_conv_transpose2d():
    from torch.ao.nn import quantized as nnq

    conv = nnq.ConvTranspose2d(2, 3, 3, stride=2)
    report = count(conv, quantized(torch.randn(1, 2, 5, 5)))
    # A transposed convolution scatters each input element into Cout * k * k products.
    assert report.macs == 1 * 2 * 5 * 5 * 3 * 3 * 3
    assert report.params == 2 * 3 * 3 * 3 + 3
    assert report.unsupported == {}


def test_quantized_ops_without_a_formula_are_reported_not_zero():
    from torch.ao.nn import quantized as nnq

    class Adds(nn.Module):
        def __init__(self):
            super().__init__()
            self.functional = nnq.QFunctional()
            self.up = nnq.ConvTranspose1d(2, 3, 3)

        def forward(self, x):
            return self.up(self.functional.add(x, x))

    report = count(Adds(), quantized(torch.randn(1, 2, 5)))
    assert report.unsupported == {"quantized.add": 1, "quantized.conv_transpose1d": 1}
    assert report.params == 2 * 3 * 3 + 3  # weight (Cin, Cout, k) + bias


def test_four_bit_embedding_bytes():
    from torch.ao.nn import quantized as nnq

    embedding = nnq.Embedding(10, 4, dtype=torch.quint4x2)
    weight = torch.quantize_per_channel(torch.randn(10, 4), torch.ones(10), torch.zeros(10), 0, torch.quint4x2)
    embedding.set_weight(weight)
    report = count(embedding, torch.tensor([1, 2, 3]))
    assert report.params == 10 * 4
    assert report.bytes_by_dtype == {"quint4x2": 10 * 4 // 2}  # two 4-bit elements per byte
    assert report.unsupported == {"quantized.embedding_4bit": 1}  # the lookup has no formula
