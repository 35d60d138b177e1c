"""Complex tensors are counted in real arithmetic (README "Complex tensors").

Derivations used below, with z = a + bi and w = c + di:

- one complex multiply-accumulate s += z*w is re(s) += ac - bd, im(s) += ad + bc: 4 real MACs;
- a complex K-term dot product is two real sums of 2K products each: 2 * (2K + 2K - 1) = 8K - 2 FLOPs, so
  under ``exact`` (2 * MACs - outputs) each complex output element counts as 2 real outputs;
- a complex add (bias, elementwise add) is 2 real adds: every per-element op costs its real constant once
  per real component (x 2);
- a complex product z*w (both complex) is 4 real multiplies + 2 real adds = 6; a complex quotient
  z/w = ((ac + bd) + (bc - ad)i) / (c^2 + d^2) is 6 multiplies + 3 adds + 2 divides = 11.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_formulas import Fn

from pytest_flopbudget import PER_ELEMENT, count

CONVENTIONS = ("full", "matmul", "exact")
COMPLEX_DTYPES = [torch.complex64, torch.complex128]
dtypes = pytest.mark.parametrize("dtype", COMPLEX_DTYPES, ids=["complex64", "complex128"])


def expected_flops(macs: int, outputs: int = 0, bias: int = 0, other: int = 0) -> dict[str, int]:
    return {"full": 2 * macs + bias + other, "matmul": 2 * macs, "exact": 2 * macs - outputs + bias + other}


def assert_counts(fn, inputs, *, macs, outputs=0, bias=0, other=0):
    want = expected_flops(macs, outputs, bias, other)
    for convention in CONVENTIONS:
        report = count(Fn(fn), inputs, convention=convention)
        assert report.unsupported == {}, convention
        assert report.macs == macs, convention
        assert report.flops == want[convention], convention


M, K, N, BATCH = 3, 4, 5, 2


# ------------------------------------------------------------------------------------------- contractions


@dtypes
def test_mm(dtype):
    a, b = torch.randn(M, K, dtype=dtype), torch.randn(K, N, dtype=dtype)
    # M*N complex outputs, each a K-term complex dot product: 4 real MACs per complex MAC.
    assert_counts(torch.mm, (a, b), macs=4 * M * K * N, outputs=2 * M * N)


@dtypes
def test_mm_exact_is_8k_minus_2_per_complex_output(dtype):
    a, b = torch.randn(M, K, dtype=dtype), torch.randn(K, N, dtype=dtype)
    report = count(Fn(torch.mm), (a, b), convention="exact")
    assert report.flops == M * N * (8 * K - 2)


@dtypes
def test_bmm(dtype):
    a, b = torch.randn(BATCH, M, K, dtype=dtype), torch.randn(BATCH, K, N, dtype=dtype)
    assert_counts(torch.bmm, (a, b), macs=4 * BATCH * M * K * N, outputs=2 * BATCH * M * N)


@dtypes
def test_matmul_and_einsum(dtype):
    a, b = torch.randn(BATCH, M, K, dtype=dtype), torch.randn(K, N, dtype=dtype)
    # (B, M, K) @ (K, N): B*M rows of K-term dot products, N columns.
    assert_counts(torch.matmul, (a, b), macs=4 * BATCH * M * K * N, outputs=2 * BATCH * M * N)
    assert_counts(lambda x, y: torch.einsum("bmk,kn->bmn", x, y), (a, b),
                  macs=4 * BATCH * M * K * N, outputs=2 * BATCH * M * N)


@dtypes
def test_vdot(dtype):
    a = torch.randn(K, dtype=dtype)
    # One complex output, a K-term conjugated dot product.
    assert_counts(torch.vdot, (a, a), macs=4 * K, outputs=2)


@dtypes
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_functional_linear(dtype, bias):
    x, w = torch.randn(BATCH, M, K, dtype=dtype), torch.randn(N, K, dtype=dtype)
    b = torch.randn(N, dtype=dtype) if bias else None
    rows = BATCH * M
    # A complex bias add is 2 real adds per complex output element.
    assert_counts(lambda x, w: F.linear(x, w, b), (x, w), macs=4 * rows * K * N, outputs=2 * rows * N,
                  bias=2 * rows * N if bias else 0)


@dtypes
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_conv2d_counts_the_real_convolutions_torch_runs(dtype, bias):
    """torch computes a complex convolution with Gauss's trick (aten complex_convolution): three real
    convolutions a = conv(xr, wr, br), b = conv(xi, wi), c = conv(xr + xi, wr + wi, br + bi), then
    out = a - b + i * (c - a - b). Those real ops are what runs, so they are what is counted: 3 real MACs
    per complex MAC here, not 4 (no op ever sees the complex convolution)."""
    n, cin, cout, size, k = 1, 2, 3, 5, 3
    x, w = torch.randn(n, cin, size, size, dtype=dtype), torch.randn(cout, cin, k, k, dtype=dtype)
    b = torch.randn(cout, dtype=dtype) if bias else None
    out = n * cout * (size - k + 1) ** 2  # complex output elements (no padding, stride 1)
    per_output = cin * k * k
    # elementwise: xr + xi, wr + wi (+ br + bi), three real subtractions over the output, then i * (...)
    # and the final add, both producing complex outputs: 2 real FLOPs per element each.
    other = n * cin * size * size + cout * cin * k * k + (cout if bias else 0) + 3 * out + 2 * out + 2 * out
    assert_counts(lambda x, w: F.conv2d(x, w, b), (x, w), macs=3 * out * per_output, outputs=3 * out,
                  bias=2 * out if bias else 0, other=PER_ELEMENT["elementwise"] * other)


# ------------------------------------------------------------------------------------------- per element


@dtypes
@pytest.mark.parametrize(
    ("name", "fn", "per_element"),
    [
        ("add", lambda z: z + z, 2),  # two real adds
        ("sub", lambda z: z - z, 2),
        ("mul", lambda z: z * z, 6),  # complex x complex: 4 multiplies + 2 adds
        ("mul_inplace", lambda z: z.clone().mul_(z), 6),
        ("mul_real_scalar", lambda z: z * 2.0, 2),  # a real factor scales both components
        ("mul_real_tensor", lambda z: z * z.real.contiguous(), 2),
        ("mul_complex_scalar", lambda z: z * (1 + 2j), 6),
        ("div", lambda z: z / z, 11),  # 6 multiplies + 3 adds + 2 divides
        ("div_real_scalar", lambda z: z / 2.0, 2),
        ("exp", torch.exp, 2 * PER_ELEMENT["elementwise"]),
        ("abs", torch.abs, 2 * PER_ELEMENT["elementwise"]),  # complex input, real output: still per component
        ("tanh", torch.tanh, 2 * PER_ELEMENT["activation"]),
        ("addcmul", lambda z: torch.addcmul(z, z, z), 2 * PER_ELEMENT["fused_multiply_add"]),
        ("sum", torch.sum, 2 * PER_ELEMENT["reduction"]),  # per input element
    ],
)
def test_per_element_ops(dtype, name, fn, per_element):
    z = torch.randn(M, N, dtype=dtype)
    assert_counts(fn, z, macs=0, other=per_element * M * N)


def test_view_as_real_and_conj_are_free():
    z = torch.randn(M, N, dtype=torch.complex64)
    assert_counts(lambda z: (torch.view_as_real(z), z.conj(), z.real, z.imag), z, macs=0)


# ----------------------------------------------------------------------------------- real is unchanged


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_real_tensors_are_unchanged(dtype):
    a, b = torch.randn(M, K, dtype=dtype), torch.randn(K, N, dtype=dtype)
    assert_counts(torch.mm, (a, b), macs=M * K * N, outputs=M * N)
    x = torch.randn(M, N, dtype=dtype)
    assert_counts(lambda x: x * x, x, macs=0, other=PER_ELEMENT["elementwise"] * M * N)
    assert_counts(lambda x: x / x, x, macs=0, other=PER_ELEMENT["elementwise"] * M * N)
    assert_counts(lambda x: x + x, x, macs=0, other=PER_ELEMENT["elementwise"] * M * N)
    w = torch.randn(N, K, dtype=dtype)
    assert_counts(lambda x, w: F.linear(x, w, torch.ones(N, dtype=dtype)), (a, w), macs=M * K * N, outputs=M * N,
                  bias=M * N)


def test_complex_model_report_is_repeatable():
    model = Fn(lambda z, w: (z @ w) * (z @ w))
    z, w = torch.randn(M, K, dtype=torch.complex64), torch.randn(K, N, dtype=torch.complex64)
    assert count(model, (z, w)) == count(model, (z, w))
