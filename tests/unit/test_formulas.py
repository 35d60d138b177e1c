"""Every formula, checked through the public API against counts derived by hand.

Each expected number below is written as the expression that derives it from the shapes (a comment says
why), never as a figure copied from the code's output. The three conventions are restated here from
README.md's "Conventions" table (the reference), independently of ``Cost.flops``:

    full   = 2 * MACs + bias adds + per-element work
    matmul = 2 * MACs
    exact  = per contraction output 2K - 1 (+1 with bias), i.e. 2 * MACs - outputs + bias + per-element

where ``outputs`` are the output elements of the contractions (a K-term dot product costs K multiplies
and K - 1 adds).
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch_versions import requires_torch

from pytest_flopbudget import PER_ELEMENT, count

CONVENTIONS = ("full", "matmul", "exact")


# ---------------------------------------------------------------------------------------------- helpers


def expected_flops(macs: int, outputs: int = 0, bias: int = 0, other: int = 0) -> dict[str, int]:
    """The three conventions of README.md's "Conventions" table, written out."""
    return {
        "full": 2 * macs + bias + other,
        "matmul": 2 * macs,
        "exact": 2 * macs - outputs + bias + other,
    }


def measure(model: nn.Module, inputs, **kwargs) -> dict:
    """One report per convention."""
    return {convention: count(model, inputs, convention=convention, **kwargs) for convention in CONVENTIONS}


def assert_counts(model, inputs, *, macs, outputs=0, bias=0, other=0, meta=False, unsupported=None):
    reports = measure(model, inputs, meta=meta)
    want = expected_flops(macs, outputs, bias, other)
    for convention, report in reports.items():
        assert report.convention == convention
        assert report.macs == macs, convention
        assert report.flops == want[convention], convention
        assert report.unsupported == (unsupported or {}), convention
    return reports


def flops_of(reports) -> dict[str, int]:
    return {convention: report.flops for convention, report in reports.items()}


class Fn(nn.Module):
    """Wraps a function of the inputs as a module, so count() can measure it."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a direct convolution (torch.nn.Conv docs)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose_out(size, kernel, stride=1, padding=0, dilation=1, output_padding=0) -> int:
    """Output length of a transposed convolution (torch.nn.ConvTranspose docs)."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


# ------------------------------------------------------------------------------------- matmul family


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("shape", [(5, 4), (2, 5, 4), (2, 3, 5, 4)], ids=["2d", "3d", "4d"])
def test_linear(shape, bias):
    in_features, out_features = 4, 3
    rows = math.prod(shape[:-1])  # every leading dimension is a row of the matmul
    assert_counts(
        nn.Linear(in_features, out_features, bias=bias), torch.randn(*shape),
        macs=rows * in_features * out_features,  # each of rows*O outputs is an I-term dot product
        outputs=rows * out_features,
        bias=rows * out_features if bias else 0,  # one bias add per output element
    )


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_functional_linear(bias):
    x, w = torch.randn(2, 3, 6), torch.randn(5, 6)
    b = torch.randn(5) if bias else None
    rows = 2 * 3
    assert_counts(Fn(lambda x, w: F.linear(x, w, b)), (x, w),
                  macs=rows * 6 * 5, outputs=rows * 5, bias=rows * 5 if bias else 0)


@pytest.mark.parametrize(("in_features", "out_features"), [(1, 1), (7, 3), (16, 9)])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_classic_fc_formula_exact(in_features, out_features, bias):
    """The textbook FC count: (2I - 1) * O without bias, 2I * O with bias (I multiplies, I - 1 adds, +1 bias)."""
    layer = nn.Linear(in_features, out_features, bias=bias)
    report = count(layer, torch.randn(1, in_features), convention="exact")
    classic = 2 * in_features * out_features if bias else (2 * in_features - 1) * out_features
    assert report.flops == classic
    assert report.macs == in_features * out_features


def test_mm():
    a, b = torch.randn(3, 4), torch.randn(4, 5)
    assert_counts(Fn(torch.mm), (a, b), macs=3 * 4 * 5, outputs=3 * 5)


def test_addmm_broadcast_bias():
    # torch.addmm(c, a, b) = c + a @ b: c (5,) broadcasts to every one of the 3*5 outputs.
    c, a, b = torch.randn(5), torch.randn(3, 4), torch.randn(4, 5)
    assert_counts(Fn(torch.addmm), (c, a, b), macs=3 * 4 * 5, outputs=3 * 5, bias=3 * 5)


def test_bmm():
    a, b = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    assert_counts(Fn(torch.bmm), (a, b), macs=2 * 3 * 4 * 5, outputs=2 * 3 * 5)


def test_baddbmm():
    c, a, b = torch.randn(2, 3, 5), torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    assert_counts(Fn(torch.baddbmm), (c, a, b), macs=2 * 3 * 4 * 5, outputs=2 * 3 * 5, bias=2 * 3 * 5)


def test_addbmm():
    # addbmm sums the batch into one (3, 5) result: each of the 3*5 outputs is a 2*4-term dot product.
    c, a, b = torch.randn(3, 5), torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    assert_counts(Fn(torch.addbmm), (c, a, b), macs=2 * 3 * 4 * 5, outputs=3 * 5, bias=3 * 5)


def test_mv_and_dot():
    assert_counts(Fn(torch.mv), (torch.randn(3, 4), torch.randn(4)), macs=3 * 4, outputs=3)
    assert_counts(Fn(torch.dot), (torch.randn(4), torch.randn(4)), macs=4, outputs=1)


@pytest.mark.parametrize(
    ("a_shape", "b_shape", "batch", "m", "k", "n"),
    [
        ((3, 4), (4, 5), 1, 3, 4, 5),  # plain matrix product
        ((2, 3, 4), (4, 5), 1, 2 * 3, 4, 5),  # batch folded into rows
        ((2, 3, 4), (2, 4, 5), 2, 3, 4, 5),  # batched
        ((2, 1, 3, 4), (5, 4, 6), 2 * 5, 3, 4, 6),  # batch dims broadcast (2,1) x (5,) -> (2,5)
        ((3, 4), (4,), 1, 3, 4, 1),  # matrix @ vector
        ((2, 3, 4), (4,), 1, 2 * 3, 4, 1),  # batched matrix @ vector
    ],
    ids=["2d", "3d@2d", "batched", "broadcast", "mat@vec", "batch@vec"],
)
def test_matmul(a_shape, b_shape, batch, m, k, n):
    assert_counts(Fn(torch.matmul), (torch.randn(*a_shape), torch.randn(*b_shape)),
                  macs=batch * m * k * n, outputs=batch * m * n)


def test_matmul_operator_in_forward():
    # x @ w written with the operator is the same op as torch.matmul.
    x, w = torch.randn(2, 3, 4), torch.randn(4, 5)
    assert_counts(Fn(lambda x, w: x @ w), (x, w), macs=2 * 3 * 4 * 5, outputs=2 * 3 * 5)


@pytest.mark.parametrize(
    ("equation", "shapes", "macs", "outputs"),
    [
        # batched matrix product: b*i*k outputs, j terms each
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)], 2 * 3 * 4 * 5, 2 * 3 * 5),
        # two contracted indices (j and k): b*i*l outputs, j*k terms each
        ("bijk,bjkl->bil", [(2, 3, 4, 5), (2, 4, 5, 6)], 2 * 3 * 4 * 5 * 6, 2 * 3 * 6),
        # a per-row dot product: i outputs, j terms each
        ("ij,ij->i", [(3, 4), (3, 4)], 3 * 4, 3),
        # attention-style scores: b*h*q*k outputs, d terms each
        ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)], 2 * 2 * 3 * 5 * 4, 2 * 2 * 3 * 5),
    ],
    ids=["bmm", "two_contracted", "rowwise_dot", "scores"],
)
def test_einsum(equation, shapes, macs, outputs):
    tensors = tuple(torch.randn(*shape) for shape in shapes)
    assert_counts(Fn(lambda *ts: torch.einsum(equation, *ts)), tensors, macs=macs, outputs=outputs)


def test_einsum_without_contraction_is_elementwise():
    # An outer product has no summed index: 3*4 multiplies, one per output element, and no MACs.
    assert_counts(Fn(lambda a, b: torch.einsum("i,j->ij", a, b)), (torch.randn(3), torch.randn(4)),
                  macs=0, other=PER_ELEMENT["elementwise"] * 3 * 4)


def test_tensordot():
    # dims=2 contracts (3, 4): 2*5 outputs, 3*4 terms each.
    a, b = torch.randn(2, 3, 4), torch.randn(3, 4, 5)
    assert_counts(Fn(lambda a, b: torch.tensordot(a, b, dims=2)), (a, b), macs=2 * 5 * 3 * 4, outputs=2 * 5)


@pytest.mark.parametrize("case", ["vec@mat", "linear_1d_no_bias"])
def test_vector_matmul_reports_nothing_unsupported(case):
    v = torch.randn(4)
    if case == "vec@mat":
        model, inputs = Fn(torch.matmul), (v, torch.randn(4, 5))
    else:
        model, inputs = nn.Linear(4, 5, bias=False), v
    assert_counts(model, inputs, macs=4 * 5, outputs=5)  # 5 outputs, 4 terms each


def test_inplace_view_ops_are_zero_cost():
    model = Fn(lambda a: a.clone().unsqueeze_(0).squeeze_(0).t_().transpose_(0, 1))
    assert_counts(model, torch.randn(3, 4), macs=0)


def test_bilinear_is_a_contraction():
    n, in1, in2, out = 2, 3, 4, 5
    report = count(nn.Bilinear(in1, in2, out), (torch.randn(n, in1), torch.randn(n, in2)))
    assert report.unsupported == {}
    # y_k = x1^T A_k x2 + b_k, as torch runs it: t = x1 . A over in1 (n*out*in2 outputs of in1 terms each),
    # then t . x2 over in2 (n*out outputs of in2 terms each).
    assert report.macs == n * out * in2 * in1 + n * out * in2


# --------------------------------------------------------------------------------------- convolutions

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize(
    ("dims", "cin", "cout", "kernel", "stride", "padding", "dilation", "groups", "size"),
    [
        (1, 3, 4, 3, 1, 0, 1, 1, 9),
        (1, 4, 6, 3, 2, 1, 2, 2, 11),  # stride, padding, dilation, groups
        (2, 3, 5, 3, 1, 1, 1, 1, 6),
        (2, 4, 6, 3, 2, 0, 1, 2, 7),  # grouped, strided
        (2, 6, 6, 3, 1, 1, 1, 6, 5),  # depthwise
        (2, 4, 8, 5, 2, 2, 2, 4, 9),  # everything at once
        (2, 3, 4, 1, 1, 0, 1, 1, 4),  # pointwise (1x1)
        (3, 2, 4, 3, 1, 1, 1, 1, 4),
        (3, 4, 4, 2, 2, 0, 1, 2, 5),
    ],
)
def test_convolution(dims, cin, cout, kernel, stride, padding, dilation, groups, size, bias):
    n = 2
    conv = CONV[dims](cin, cout, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)
    spatial = conv_out(size, kernel, stride, padding, dilation) ** dims
    outputs = n * cout * spatial
    # Each output element is a dot product over its group's input channels and the whole kernel window.
    per_output = (cin // groups) * kernel ** dims
    reports = assert_counts(conv, torch.randn(n, cin, *[size] * dims), macs=outputs * per_output,
                            outputs=outputs, bias=outputs if bias else 0)
    assert flops_of(reports) == flops_of(measure(conv, torch.randn(n, cin, *[size] * dims), meta=True))


def test_convolution_unbatched_and_padding_modes():
    # An unbatched (C, L) input is one sample; padding='same' keeps L; circular padding is data movement.
    x = torch.randn(3, 8)
    for conv in (nn.Conv1d(3, 4, 3, padding="same"), nn.Conv1d(3, 4, 3, padding=1, padding_mode="circular")):
        assert_counts(conv, x, macs=4 * 8 * 3 * 3, outputs=4 * 8, bias=4 * 8)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_functional_conv(bias):
    x, w = torch.randn(1, 4, 6, 6), torch.randn(6, 2, 3, 3)
    b = torch.randn(6) if bias else None
    outputs = 1 * 6 * 3 * 3  # stride 2, padding 1: (6 + 2 - 2 - 1) // 2 + 1 = 3
    assert_counts(Fn(lambda x, w: F.conv2d(x, w, b, stride=2, padding=1, groups=2)), (x, w),
                  macs=outputs * 2 * 3 * 3, outputs=outputs, bias=outputs if bias else 0)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize(("cin", "cout", "k", "hw"), [(3, 8, 3, 7), (16, 4, 3, 5), (2, 3, 5, 6), (4, 4, 1, 3)])
def test_classic_conv_formula_exact(cin, cout, k, hw, bias):
    """The textbook counts: (2*Cin*K*K - 1)*H*W*Cout without bias, 2*Cin*K*K*H*W*Cout with bias."""
    conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)  # odd k, 'same' padding: H, W are the output's
    report = count(conv, torch.randn(1, cin, hw, hw), convention="exact")
    classic = 2 * cin * k * k * hw * hw * cout if bias else (2 * cin * k * k - 1) * hw * hw * cout
    assert report.flops == classic
    assert report.macs == cin * k * k * hw * hw * cout


TRANSPOSED = [
    # dims, cin, cout, kernel, stride, padding, output_padding, dilation, groups, size
    (1, 3, 4, 3, 1, 0, 0, 1, 1, 5),
    (1, 2, 4, 3, 2, 0, 0, 1, 2, 4),
    (1, 2, 3, 3, 2, 1, 1, 1, 1, 5),
    (1, 1, 1, 1, 2, 0, 0, 1, 1, 4),
    (2, 4, 6, 3, 2, 0, 1, 1, 2, 3),
    (2, 4, 4, 3, 2, 1, 1, 1, 4, 3),
    (2, 2, 2, 2, 2, 0, 0, 2, 1, 3),
    (3, 2, 2, 2, 2, 0, 0, 1, 1, 2),
]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize(
    ("dims", "cin", "cout", "kernel", "stride", "padding", "output_padding", "dilation", "groups", "size"), TRANSPOSED)
def test_transposed_convolution_macs(dims, cin, cout, kernel, stride, padding, output_padding, dilation, groups,
                                     size, bias):
    n = 2
    conv = CONV_T[dims](cin, cout, kernel, stride=stride, padding=padding, output_padding=output_padding,
                        dilation=dilation, groups=groups, bias=bias)
    x = torch.randn(n, cin, *[size] * dims)
    outputs = n * cout * conv_transpose_out(size, kernel, stride, padding, dilation, output_padding) ** dims
    # A transposed convolution scatters every input element into its group's cout/groups channels at every
    # kernel tap (the GEMM + col2im it runs); that is also torch's FlopCounterMode formula.
    macs = x.numel() * (cout // groups) * kernel ** dims
    reports = measure(conv, x)
    assert {c: r.macs for c, r in reports.items()} == dict.fromkeys(CONVENTIONS, macs)
    want = expected_flops(macs, outputs, outputs if bias else 0)
    assert reports["full"].flops == want["full"]
    assert reports["matmul"].flops == want["matmul"]
    assert all(not r.unsupported for r in reports.values())


def landed_terms(size: int, kernel: int, stride: int, dilation: int, out_size: int) -> list[int]:
    """terms[o]: the (input position, kernel tap) pairs a transposed convolution (padding 0) adds into o."""
    terms = [0] * out_size
    for i in range(size):
        for j in range(kernel):
            o = i * stride + j * dilation
            if o < out_size:
                terms[o] += 1
    return terms


@pytest.mark.parametrize(
    ("dims", "cin", "cout", "kernel", "stride", "output_padding", "dilation", "groups", "size"),
    [
        (1, 3, 4, 3, 1, 0, 1, 1, 5),  # every output gets a term
        (1, 2, 4, 3, 2, 0, 1, 2, 4),  # stride 2 <= kernel 3: no gaps
        (2, 4, 6, 3, 2, 0, 1, 2, 3),
        pytest.param(1, 1, 1, 1, 2, 0, 1, 1, 4, id="gaps-k1-s2"),
        pytest.param(1, 1, 1, 3, 2, 1, 1, 1, 3, id="output_padding-1d"),
        pytest.param(2, 4, 6, 3, 2, 1, 1, 2, 3, id="output_padding-2d-groups"),
        pytest.param(1, 2, 2, 2, 2, 0, 2, 1, 3, id="gaps-dilation"),
    ],
)
def test_transposed_convolution_exact(dims, cin, cout, kernel, stride, output_padding, dilation, groups, size):
    """exact = sum over outputs of (2K - 1), K = terms landing on that output; outputs with no term cost 0."""
    n = 1
    conv = CONV_T[dims](cin, cout, kernel, stride=stride, output_padding=output_padding, dilation=dilation,
                        groups=groups, bias=False)
    out_size = conv_transpose_out(size, kernel, stride, 0, dilation, output_padding)
    per_axis = landed_terms(size, kernel, stride, dilation, out_size)
    exact = 0
    for position in itertools.product(per_axis, repeat=dims):
        k = (cin // groups) * math.prod(position)  # every input channel of the group contributes each tap
        exact += 2 * k - 1 if k else 0
    exact *= n * cout
    report = count(conv, torch.randn(n, cin, *[size] * dims), convention="exact")
    assert report.macs == n * cin * size ** dims * (cout // groups) * kernel ** dims
    assert report.flops == exact


# ------------------------------------------------------------------------------------------ attention


class SDPA(nn.Module):
    def __init__(self, **options):
        super().__init__()
        self.options = options

    def forward(self, q, k, v, attn_mask=None):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, **self.options)


ATTENTION = {
    # name: (B, Hq, Hkv, L, S, E, Ev, mask, options)
    "plain": (2, 4, 4, 3, 5, 8, 8, None, {}),
    "causal": (2, 4, 4, 3, 5, 8, 8, None, {"is_causal": True}),
    "float_mask": (2, 4, 4, 3, 5, 8, 8, "float", {}),
    "bool_mask": (2, 4, 4, 3, 5, 8, 8, "bool", {}),
    "float_mask_4d": (2, 4, 4, 3, 5, 8, 8, "float4d", {}),
    "gqa": (2, 4, 2, 3, 5, 8, 8, None, {"enable_gqa": True}),
    "mqa_causal": (1, 4, 1, 4, 4, 8, 8, None, {"enable_gqa": True, "is_causal": True}),
    "key_len_value_width": (2, 2, 2, 3, 7, 8, 6, None, {}),
    "gqa_value_width_mask": (2, 4, 2, 3, 7, 8, 4, "float", {"enable_gqa": True}),
    "custom_scale": (1, 2, 2, 4, 6, 8, 8, None, {"scale": 0.5}),
    "dropout": (2, 2, 2, 3, 5, 8, 8, None, {"dropout_p": 0.5}),
}


# What an older torch runs differently, by case (tests/torch_versions.py). torch 2.5 inverts a boolean mask, the
# one passed or the causal one its math path builds, with a logical_not over the L x S mask: an op that runs, so
# it is counted (one FLOP per mask element) where newer torch folds the mask in for free.
MASK_INVERTED = requires_torch("2.6", "torch 2.5 inverts a boolean or causal mask with a separate logical_not op")
GQA_MATH_PATH = requires_torch("2.9", "an older torch runs grouped-query attention on the CPU by its math path, "
                               "not the flash kernel")
OLDER_TORCH = {"bool_mask": [MASK_INVERTED], "mqa_causal": [MASK_INVERTED]}
OLDER_TORCH_FLASH = {"causal": [MASK_INVERTED], "bool_mask": [MASK_INVERTED], "gqa": [GQA_MATH_PATH],
                     "mqa_causal": [GQA_MATH_PATH]}


def attention_cases(names, marks):
    return [pytest.param(name, marks=marks.get(name, [])) for name in names]


def attention_inputs(b, hq, hkv, L, s, e, ev, mask):
    q, k, v = torch.randn(b, hq, L, e), torch.randn(b, hkv, s, e), torch.randn(b, hkv, s, ev)
    if mask == "float":
        return q, k, v, torch.randn(L, s)
    if mask == "float4d":
        return q, k, v, torch.randn(b, 1, L, s)
    if mask == "bool":
        return q, k, v, torch.rand(L, s) > 0.5
    return q, k, v


def attention_expected(b, hq, hkv, L, s, e, ev, mask, options):
    heads = b * hq  # GQA/MQA keys and values are broadcast to the query heads
    scores = heads * L * s
    macs = scores * e + heads * L * ev * s  # Q K^T: L*S outputs of E terms; A V: L*Ev outputs of S terms
    other = heads * (L * e + s * e)  # q and k each scaled once (by sqrt(scale)), per element
    other += PER_ELEMENT["softmax"] * scores
    if mask is not None or options.get("is_causal"):
        other += scores  # the mask (or the causal mask) is added to every score
    if options.get("dropout_p"):
        other += PER_ELEMENT["dropout"] * scores
    outputs = scores + heads * L * ev
    return macs, outputs, other


@pytest.mark.parametrize("name", attention_cases(ATTENTION, OLDER_TORCH))
def test_scaled_dot_product_attention(name):
    b, hq, hkv, L, s, e, ev, mask, options = ATTENTION[name]
    inputs = attention_inputs(b, hq, hkv, L, s, e, ev, mask)
    macs, outputs, other = attention_expected(b, hq, hkv, L, s, e, ev, mask, options)
    assert macs == b * hq * L * s * (e + ev)
    reports = assert_counts(SDPA(**options), inputs, macs=macs, outputs=outputs, other=other)
    if not options.get("dropout_p"):
        assert flops_of(measure(SDPA(**options), inputs, meta=True)) == flops_of(reports)


@pytest.mark.parametrize("name", attention_cases(["plain", "causal", "float_mask", "bool_mask", "float_mask_4d", "gqa",
                                                  "mqa_causal"], OLDER_TORCH_FLASH))
def test_attention_math_path_on_meta_device_equals_cpu_flash_path(name):
    """A model built on the meta device runs SDPA's math path; on CPU the same shapes pick the flash kernel."""
    b, hq, hkv, L, s, e, ev, mask, options = ATTENTION[name]

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q = nn.Linear(e, e, bias=False)

        def forward(self, q, k, v, attn_mask=None):
            return F.scaled_dot_product_attention(self.q(q), k, v, attn_mask=attn_mask, **options)

    inputs = attention_inputs(b, hq, hkv, L, s, e, ev, mask)
    cpu = measure(Attention(), inputs)
    with torch.device("meta"):
        on_meta = Attention()
    math_path = measure(on_meta, inputs, meta=True)
    assert "aten._scaled_dot_product_flash_attention_for_cpu" in cpu["full"].ops
    assert "aten.bmm" in math_path["full"].ops
    assert "aten._scaled_dot_product_flash_attention_for_cpu" not in math_path["full"].ops
    assert flops_of(math_path) == flops_of(cpu)
    assert math_path["full"].macs == cpu["full"].macs
    macs, outputs, other = attention_expected(b, hq, hkv, L, s, e, ev, mask, options)
    projection = b * hq * L * e * e  # the q projection: one E x E matmul per query token
    assert flops_of(cpu) == expected_flops(macs + projection, outputs + b * hq * L * e, other=other)


# ----------------------------------------------------------------------------- transformer fast paths


B, L, E, HEADS, FFN = 2, 3, 8, 2, 16


def mha_expected(need_weights: bool):
    """nn.MultiheadAttention self-attention, batch_first, B sequences of L tokens of width E."""
    tokens, hd = B * L, E // HEADS
    macs = tokens * 3 * E * E  # in-projection: 3*E*E per token
    macs += B * L * L * E  # Q K^T: L*S*E per sequence (summed over heads: hd * heads = E)
    macs += B * L * L * E  # A V: L*S*E per sequence
    macs += tokens * E * E  # out-projection: E*E per token
    bias = tokens * 3 * E + tokens * E  # in- and out-projection biases
    scores = B * HEADS * L * L
    if need_weights:
        # explicit path: q scaled once, softmax, and the weights averaged over heads (a mean over scores)
        other = tokens * E + PER_ELEMENT["softmax"] * scores + PER_ELEMENT["reduction"] * scores
    else:
        # SDPA: q and k scaled once each, softmax (see formulas.attention_cost)
        other = B * HEADS * (L * hd + L * hd) + PER_ELEMENT["softmax"] * scores
    outputs = tokens * 3 * E + scores + B * HEADS * L * hd + tokens * E
    return macs, outputs, bias, other


class SelfAttention(nn.Module):
    def __init__(self, **call_options):
        super().__init__()
        self.mha = nn.MultiheadAttention(E, HEADS, batch_first=True)
        self.call_options = call_options

    def forward(self, x):
        return self.mha(x, x, x, **self.call_options)[0]


@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_fast_path_equals_slow_path(need_weights):
    model = SelfAttention(need_weights=need_weights).eval()
    x = torch.randn(B, L, E)
    with torch.no_grad():
        fast = measure(model, x)
    slow = measure(model, x)
    assert "aten._native_multi_head_attention" in fast["full"].ops
    assert "aten._native_multi_head_attention" not in slow["full"].ops
    macs, outputs, bias, other = mha_expected(need_weights)
    assert macs == B * L * 4 * E * E + 2 * B * L * L * E
    for reports in (fast, slow):
        assert flops_of(reports) == expected_flops(macs, outputs, bias, other)
        assert all(r.macs == macs and not r.unsupported for r in reports.values())
        # the fused op's replayed cost is attributed to the module that ran it
        assert reports["full"].modules["mha"].flops == reports["full"].flops


@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_key_padding_mask_fast_equals_slow(need_weights):
    padding = torch.tensor([[False, False, True], [False, False, False]])

    class Masked(SelfAttention):
        def forward(self, x):
            return self.mha(x, x, x, key_padding_mask=padding, need_weights=need_weights)[0]

    model = Masked().eval()
    x = torch.randn(B, L, E)
    with torch.no_grad():
        fast = measure(model, x)
    slow = measure(model, x)
    assert "aten._native_multi_head_attention" in fast["full"].ops
    assert flops_of(fast) == flops_of(slow)
    assert fast["full"].macs == slow["full"].macs == mha_expected(need_weights)[0]


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
def test_transformer_encoder_layer_fast_path_equals_slow_path(norm_first, activation):
    layer = nn.TransformerEncoderLayer(E, HEADS, dim_feedforward=FFN, dropout=0.0, activation=activation,
                                       batch_first=True, norm_first=norm_first).eval()
    x = torch.randn(B, L, E)
    with torch.no_grad():
        fast = measure(layer, x)
    slow = measure(layer, x)
    assert "aten._transformer_encoder_layer_fwd" in fast["full"].ops
    assert "aten._transformer_encoder_layer_fwd" not in slow["full"].ops
    tokens = B * L
    macs, outputs, bias, other = mha_expected(need_weights=False)
    macs += tokens * 2 * E * FFN  # feed-forward: E*F + F*E per token
    outputs += tokens * FFN + tokens * E
    bias += tokens * FFN + tokens * E
    other += PER_ELEMENT["activation"] * tokens * FFN  # relu or gelu on the hidden layer
    other += 2 * PER_ELEMENT["normalization"] * tokens * E  # two LayerNorms
    other += 2 * PER_ELEMENT["elementwise"] * tokens * E  # two residual adds
    assert macs == tokens * (4 * E * E + 2 * E * FFN) + 2 * B * L * L * E
    for reports in (fast, slow):
        assert flops_of(reports) == expected_flops(macs, outputs, bias, other)
        assert all(r.macs == macs and not r.unsupported for r in reports.values())


@pytest.mark.parametrize("mask", ["src_key_padding_mask", "src_mask"])
def test_transformer_encoder_layer_masks_fast_equals_slow(mask):
    masks = {"src_key_padding_mask": torch.tensor([[False, False, True], [False, False, False]]),
             "src_mask": nn.Transformer.generate_square_subsequent_mask(L)}

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.TransformerEncoderLayer(E, HEADS, dim_feedforward=FFN, dropout=0.0, batch_first=True)

        def forward(self, x):
            return self.layer(x, **{mask: masks[mask]})

    model = Encoder().eval()
    x = torch.randn(B, L, E)
    with torch.no_grad():
        fast = measure(model, x)
    slow = measure(model, x)
    assert "aten._transformer_encoder_layer_fwd" in fast["full"].ops
    assert flops_of(fast) == flops_of(slow)
    assert fast["full"].macs == slow["full"].macs == B * L * (4 * E * E + 2 * E * FFN) + 2 * B * L * L * E


# --------------------------------------------------------------------------------------- RNN family

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
# Elementwise work per hidden unit per step, from the cell equations in the torch.nn docs:
#   LSTM: sigmoid i, f, o (3), tanh g (1), c' = f*c + i*g (3), h = o * tanh(c') (2)            -> 9
#   GRU:  sigmoid r, z (2), n = tanh(W_in x + b_in + r * (W_hn h + b_hn)): r*, +, tanh (3),
#         h' = (1 - z) * n + z * h = n + z * (h - n) (3)                                         -> 8
#   RNN:  tanh (or relu) (1)                                                                     -> 1
ELEMENTWISE = {"LSTM": 9, "GRU": 8, "RNN": 1}
RNN_CLASSES = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}


def rnn_step(mode, input_size, hidden, proj, bias):
    """MACs, outputs, bias adds and elementwise work of one step of one direction of one layer."""
    g, recurrent = GATES[mode], proj or hidden
    macs = g * hidden * (input_size + recurrent) + hidden * proj  # gates over [x, h], then h = W_hr h
    # Each gate pre-activation is one dot product over [x, h]; GRU's candidate keeps W_hn h apart (r scales
    # it), which is one more dot product per hidden unit; the projection has proj outputs.
    outputs = g * hidden + (hidden if mode == "GRU" else 0) + proj
    return macs, outputs, (2 * g * hidden if bias else 0), ELEMENTWISE[mode] * hidden


def rnn_expected(mode, input_size, hidden, layers, bidirectional, proj, bias, steps):
    d = 2 if bidirectional else 1
    total = [0, 0, 0, 0]
    for layer in range(layers):
        layer_input = input_size if layer == 0 else d * (proj or hidden)
        for index, value in enumerate(rnn_step(mode, layer_input, hidden, proj, bias)):
            total[index] += d * steps * value
    return total


RNN_CASES = [
    # mode, layers, bidirectional, proj, bias, layout
    ("LSTM", 1, False, 0, True, "seq_first"),
    ("LSTM", 2, True, 0, True, "batch_first"),
    ("LSTM", 2, True, 3, True, "seq_first"),
    ("LSTM", 1, False, 2, False, "unbatched"),
    ("LSTM", 3, True, 2, True, "packed"),
    ("GRU", 1, False, 0, True, "seq_first"),
    ("GRU", 2, True, 0, False, "batch_first"),
    ("GRU", 2, False, 0, True, "unbatched"),
    ("GRU", 1, True, 0, True, "packed"),
    ("RNN", 1, False, 0, True, "seq_first"),
    ("RNN", 3, True, 0, True, "batch_first"),
    ("RNN", 2, False, 0, False, "packed"),
]


def rnn_inputs(layout, t, n, input_size):
    if layout == "seq_first":
        return (torch.randn(t, n, input_size),), t * n
    if layout == "batch_first":
        return (torch.randn(n, t, input_size),), t * n
    if layout == "unbatched":
        return (torch.randn(t, input_size),), t
    lengths = [t, t - 1, 1]  # a PackedSequence runs one step per real token: sum(lengths) rows
    packed = nn.utils.rnn.pack_sequence([torch.randn(length, input_size) for length in lengths])
    return (packed,), sum(lengths)


@pytest.mark.parametrize(("mode", "layers", "bidirectional", "proj", "bias", "layout"), RNN_CASES)
def test_rnn_gate_formulas(mode, layers, bidirectional, proj, bias, layout):
    input_size, hidden, t, n = 3, 4, 3, 2
    options = {"proj_size": proj} if proj else {}
    rnn = RNN_CLASSES[mode](input_size, hidden, num_layers=layers, bidirectional=bidirectional, bias=bias,
                            batch_first=layout == "batch_first", **options)
    inputs, steps = rnn_inputs(layout, t, n, input_size)
    macs, outputs, bias_adds, other = rnn_expected(mode, input_size, hidden, layers, bidirectional, proj, bias, steps)
    # The docs' figure: per step per layer-direction G*H*(I_l + Hr) (+ H*P for the projection).
    d, hr = (2 if bidirectional else 1), proj or hidden
    assert macs == steps * d * sum(GATES[mode] * hidden * ((input_size if i == 0 else d * hr) + hr) + hidden * proj
                                   for i in range(layers))
    reports = assert_counts(rnn, inputs, macs=macs, outputs=outputs, bias=bias_adds, other=other)
    assert reports["full"].ops[f"nn.{mode}"].calls == 1
    if layout == "seq_first":
        assert flops_of(measure(rnn, inputs, meta=True)) == flops_of(reports)


def test_lstm_with_initial_state():
    lstm = nn.LSTM(3, 4, batch_first=True)
    state = (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4))
    macs, outputs, bias, other = rnn_expected("LSTM", 3, 4, 1, False, 0, True, steps=2 * 5)
    assert_counts(lstm, (torch.randn(2, 5, 3), state), macs=macs, outputs=outputs, bias=bias, other=other)


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize(("cell", "mode"), [(nn.LSTMCell, "LSTM"), (nn.GRUCell, "GRU"), (nn.RNNCell, "RNN"),
                                            (lambda i, h: nn.RNNCell(i, h, nonlinearity="relu"), "RNN")],
                         ids=["LSTMCell", "GRUCell", "RNNCell", "RNNCell_relu"])
def test_rnn_cells(cell, mode, batched):
    input_size, hidden, n = 3, 5, 4
    x = torch.randn(n, input_size) if batched else torch.randn(input_size)
    steps = n if batched else 1  # a cell runs one step per row
    macs, outputs, bias, other = (v * steps for v in rnn_step(mode, input_size, hidden, 0, True))
    assert_counts(cell(input_size, hidden), x, macs=macs, outputs=outputs, bias=bias, other=other)


class UnrolledRNN(nn.Module):
    """The computation of an nn.LSTM / nn.GRU / nn.RNN written with nn.Linear and elementwise ops (time-major)."""

    def __init__(self, rnn: nn.RNNBase):
        super().__init__()
        self.mode = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(rnn.mode, rnn.mode)
        self.layers, self.directions = rnn.num_layers, 2 if rnn.bidirectional else 1
        self.hidden, self.proj = rnn.hidden_size, getattr(rnn, "proj_size", 0)
        self.ih, self.hh, self.hr = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for layer, direction in itertools.product(range(self.layers), range(self.directions)):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")

            def linear(name, has_bias, suffix=suffix):
                weight = getattr(rnn, f"weight_{name}{suffix}")
                module = nn.Linear(weight.shape[1], weight.shape[0], bias=has_bias)
                module.weight = weight
                if has_bias:
                    module.bias = getattr(rnn, f"bias_{name}{suffix}")
                return module

            self.ih.append(linear("ih", rnn.bias))
            self.hh.append(linear("hh", rnn.bias))
            if self.proj:
                self.hr.append(linear("hr", False))

    def cell(self, index, x, h, c):
        if self.mode == "LSTM":
            i, f, g, o = (self.ih[index](x) + self.hh[index](h)).chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            return (self.hr[index](h) if self.proj else h), c
        if self.mode == "GRU":
            x_r, x_z, x_n = self.ih[index](x).chunk(3, -1)
            h_r, h_z, h_n = self.hh[index](h).chunk(3, -1)
            r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + r * h_n)
            return n + z * (h - n), c
        return torch.tanh(self.ih[index](x) + self.hh[index](h)), c

    def forward(self, x):
        steps, batch = x.shape[:2]
        for layer in range(self.layers):
            outputs = []
            for direction in range(self.directions):
                index = layer * self.directions + direction
                h, c = x.new_zeros(batch, self.proj or self.hidden), x.new_zeros(batch, self.hidden)
                ys = [None] * steps
                for t in (reversed(range(steps)) if direction else range(steps)):
                    h, c = self.cell(index, x[t], h, c)
                    ys[t] = h
                outputs.append(torch.stack(ys))
            x = torch.cat(outputs, -1)
        return x


@pytest.mark.parametrize(
    ("mode", "layers", "bidirectional", "proj", "bias"),
    [("LSTM", 1, False, 0, True), ("LSTM", 2, True, 0, True), ("LSTM", 2, True, 2, True), ("LSTM", 1, False, 0, False),
     ("GRU", 1, False, 0, True), ("GRU", 2, True, 0, True), ("GRU", 1, False, 0, False),
     ("RNN", 1, False, 0, True), ("RNN", 2, True, 0, False)],
)
def test_rnn_equals_unrolled_reference(mode, layers, bidirectional, proj, bias):
    """The module formula counts what the same computation written with nn.Linear counts, op by op.

    MACs agree exactly. So does the exact convention: the reference's two gate products (W_ih x, W_hh h)
    and the add joining them cost (2I - 1) + (2H - 1) + 1 = 2(I + H) - 1, one [x, h] dot product's worth.
    (Under `full` the module formula counts that joined product as one contraction, 2 * MACs, so the
    reference's separate add of the two products is not in it.)
    """
    options = {"proj_size": proj} if proj else {}
    rnn = RNN_CLASSES[mode](3, 4, num_layers=layers, bidirectional=bidirectional, bias=bias, **options)
    reference = UnrolledRNN(rnn)
    x = torch.randn(3, 2, 3)
    with torch.no_grad():
        torch.testing.assert_close(reference(x), rnn(x)[0])  # the reference is the same computation
    module, unrolled = measure(rnn, x), measure(reference, x)
    assert module["full"].macs == unrolled["full"].macs
    assert module["exact"].flops == unrolled["exact"].flops
    assert module["matmul"].flops == unrolled["matmul"].flops
    assert not unrolled["full"].unsupported


# ----------------------------------------------------------- elementwise, activations, norms, pooling


X_SHAPE = (2, 3, 4, 6)
X_NUMEL = math.prod(X_SHAPE)

ACTIVATIONS = [nn.ReLU(), nn.ReLU6(), nn.GELU(), nn.GELU(approximate="tanh"), nn.SiLU(), nn.Sigmoid(), nn.Tanh(),
               nn.Hardswish(), nn.Hardsigmoid(), nn.Hardtanh(), nn.LeakyReLU(), nn.ELU(), nn.SELU(), nn.CELU(),
               nn.Softplus(), nn.Mish(), nn.PReLU(), nn.LogSigmoid(), nn.Threshold(0.1, 0.0)]


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=lambda m: type(m).__name__)
def test_activations(activation):
    assert_counts(activation, torch.randn(*X_SHAPE), macs=0, other=PER_ELEMENT["activation"] * X_NUMEL)


def test_glu_halves_its_input():
    # GLU(dim=-1) splits the last dimension in two: one activation per output element, half the input.
    assert_counts(nn.GLU(-1), torch.randn(*X_SHAPE), macs=0, other=PER_ELEMENT["activation"] * X_NUMEL // 2)


PER_ELEMENT_CASES = {
    # name: (module, input shape, expected 'other' under full/exact)
    "softmax": (nn.Softmax(dim=1), X_SHAPE, PER_ELEMENT["softmax"] * X_NUMEL),
    "log_softmax": (nn.LogSoftmax(dim=-1), X_SHAPE, PER_ELEMENT["softmax"] * X_NUMEL),
    "batch_norm_eval": (nn.BatchNorm2d(3).eval(), X_SHAPE, PER_ELEMENT["normalization"] * X_NUMEL),
    # training also bumps num_batches_tracked: one elementwise add on a one-element buffer
    "batch_norm_train": (nn.BatchNorm2d(3), X_SHAPE, PER_ELEMENT["normalization"] * X_NUMEL + 1),
    "batch_norm_1d": (nn.BatchNorm1d(5).eval(), (4, 5), PER_ELEMENT["normalization"] * 4 * 5),
    "layer_norm": (nn.LayerNorm(6), X_SHAPE, PER_ELEMENT["normalization"] * X_NUMEL),
    "layer_norm_2d_shape": (nn.LayerNorm([4, 6]), X_SHAPE, PER_ELEMENT["normalization"] * X_NUMEL),
    "group_norm": (nn.GroupNorm(3, 3), X_SHAPE, PER_ELEMENT["normalization"] * X_NUMEL),
    "instance_norm_2d": (nn.InstanceNorm2d(3), X_SHAPE, PER_ELEMENT["normalization"] * X_NUMEL),
    "instance_norm_1d": (nn.InstanceNorm1d(3), (2, 3, 5), PER_ELEMENT["normalization"] * 2 * 3 * 5),
    # pooling with a fixed window: every output element reads its whole window (overlapping windows here)
    "max_pool1d": (nn.MaxPool1d(3, stride=1), (2, 3, 8), 3 * (2 * 3 * conv_out(8, 3))),
    "avg_pool1d": (nn.AvgPool1d(3, stride=2), (2, 3, 8), 3 * (2 * 3 * conv_out(8, 3, 2))),
    "max_pool2d": (nn.MaxPool2d(3, stride=1), X_SHAPE, 3 * 3 * (2 * 3 * conv_out(4, 3) * conv_out(6, 3))),
    "max_pool2d_rect": (nn.MaxPool2d((2, 3), stride=(1, 2)), X_SHAPE,
                        2 * 3 * (2 * 3 * conv_out(4, 2) * conv_out(6, 3, 2))),
    "max_pool2d_indices": (nn.MaxPool2d(2, stride=1, return_indices=True), X_SHAPE,
                           2 * 2 * (2 * 3 * conv_out(4, 2) * conv_out(6, 2))),
    "avg_pool2d": (nn.AvgPool2d(2, stride=1), X_SHAPE, 2 * 2 * (2 * 3 * conv_out(4, 2) * conv_out(6, 2))),
    "max_pool3d": (nn.MaxPool3d(2, stride=1), (1, 2, 3, 4, 5), 2 ** 3 * (1 * 2 * 2 * 3 * 4)),
    "avg_pool3d": (nn.AvgPool3d(2), (1, 2, 4, 4, 4), 2 ** 3 * (1 * 2 * 2 * 2 * 2)),
    # adaptive pooling: one read per input element
    "adaptive_avg_pool2d_1": (nn.AdaptiveAvgPool2d(1), X_SHAPE, PER_ELEMENT["reduction"] * X_NUMEL),
    "adaptive_avg_pool2d": (nn.AdaptiveAvgPool2d((2, 3)), X_SHAPE, PER_ELEMENT["reduction"] * X_NUMEL),
    "adaptive_max_pool2d": (nn.AdaptiveMaxPool2d(2), X_SHAPE, PER_ELEMENT["reduction"] * X_NUMEL),
    "adaptive_avg_pool1d": (nn.AdaptiveAvgPool1d(2), (2, 3, 8), PER_ELEMENT["reduction"] * 2 * 3 * 8),
    "adaptive_avg_pool3d": (nn.AdaptiveAvgPool3d(1), (1, 2, 4, 4, 4), PER_ELEMENT["reduction"] * 2 * 4 ** 3),
    # dropout: scale and mask per element in training, nothing in eval
    "dropout_train": (nn.Dropout(0.5), X_SHAPE, PER_ELEMENT["dropout"] * X_NUMEL),
    "dropout_eval": (nn.Dropout(0.5).eval(), X_SHAPE, 0),
    # interpolation: a weighted sum of 2**d (linear) or 4**d (cubic) neighbours: 2n - 1 per output element
    "upsample_nearest": (nn.Upsample(scale_factor=2), X_SHAPE, 0),
    "upsample_linear": (nn.Upsample(scale_factor=2, mode="linear"), (2, 3, 8), (2 * 2 - 1) * 2 * 3 * 16),
    "upsample_bilinear": (nn.Upsample(scale_factor=2, mode="bilinear"), X_SHAPE, (2 * 4 - 1) * 4 * X_NUMEL),
    "upsample_bicubic": (nn.Upsample(scale_factor=2, mode="bicubic"), X_SHAPE, (2 * 16 - 1) * 4 * X_NUMEL),
    "upsample_trilinear": (nn.Upsample(scale_factor=2, mode="trilinear"), (1, 2, 2, 3, 4),
                           (2 * 8 - 1) * 8 * 2 * 2 * 3 * 4),
}


@pytest.mark.parametrize("name", list(PER_ELEMENT_CASES))
def test_per_element_modules(name):
    module, shape, other = PER_ELEMENT_CASES[name]
    assert_counts(module, torch.randn(*shape), macs=0, other=other)


def test_rms_norm():
    # CPU runs the decomposition: pow, mean, x * rstd, * weight per element; + eps and rsqrt per row of 6.
    rows = X_NUMEL // 6
    other = 4 * PER_ELEMENT["elementwise"] * X_NUMEL + 2 * PER_ELEMENT["elementwise"] * rows
    assert_counts(nn.RMSNorm(6), torch.randn(*X_SHAPE), macs=0, other=other)


ELEMENTWISE_CASES = {
    # name: (function of x, expected 'other')  x has X_SHAPE
    "add": (lambda x: x + x, PER_ELEMENT["elementwise"] * X_NUMEL),
    "add_broadcast": (lambda x: x + torch.ones(6), PER_ELEMENT["elementwise"] * X_NUMEL),  # per output element
    "add_scalar_inplace": (lambda x: x.clone().add_(1.0), PER_ELEMENT["elementwise"] * X_NUMEL),
    "sub_mul_div": (lambda x: (x - 1) * 2 / 3, 3 * PER_ELEMENT["elementwise"] * X_NUMEL),
    "exp": (torch.exp, PER_ELEMENT["elementwise"] * X_NUMEL),
    "abs_sqrt": (lambda x: x.abs().sqrt(), 2 * PER_ELEMENT["elementwise"] * X_NUMEL),
    "pow": (lambda x: x.pow(2), PER_ELEMENT["elementwise"] * X_NUMEL),
    "clamp": (lambda x: x.clamp(-1, 1), PER_ELEMENT["elementwise"] * X_NUMEL),
    "maximum": (lambda x: torch.maximum(x, x), PER_ELEMENT["elementwise"] * X_NUMEL),
    "compare": (lambda x: x > 0, PER_ELEMENT["elementwise"] * X_NUMEL),
    "where": (lambda x: torch.where(x > 0, x, 0.0), PER_ELEMENT["elementwise"] * X_NUMEL),  # the compare only
    "addcmul": (lambda x: torch.addcmul(x, x, x), PER_ELEMENT["fused_multiply_add"] * X_NUMEL),
    "lerp": (lambda x: torch.lerp(x, x, 0.5), PER_ELEMENT["fused_multiply_add"] * X_NUMEL),
    "sum": (torch.sum, PER_ELEMENT["reduction"] * X_NUMEL),  # per input element
    "mean_dims": (lambda x: x.mean(dim=(2, 3)), PER_ELEMENT["reduction"] * X_NUMEL),
    "amax": (lambda x: x.amax(1), PER_ELEMENT["reduction"] * X_NUMEL),
    "max_dim": (lambda x: x.max(1).values, PER_ELEMENT["reduction"] * X_NUMEL),
    "cumsum": (lambda x: x.cumsum(1), PER_ELEMENT["reduction"] * X_NUMEL),
    "vector_norm": (lambda x: torch.linalg.vector_norm(x), PER_ELEMENT["reduction"] * X_NUMEL),
    "var": (lambda x: x.var(dim=1), PER_ELEMENT["variance"] * X_NUMEL),
    "std": (lambda x: x.std(dim=-1), PER_ELEMENT["variance"] * X_NUMEL),
    "softmax_functional": (lambda x: F.softmax(x, -1), PER_ELEMENT["softmax"] * X_NUMEL),
    "index_add": (lambda x: torch.zeros(5, 6).index_add(0, torch.tensor([0, 1, 1]), x[0, 0, :3]),
                  PER_ELEMENT["scatter_add"] * 3 * 6),  # one add per source element
}


@pytest.mark.parametrize("name", list(ELEMENTWISE_CASES))
def test_elementwise_and_reductions(name):
    fn, other = ELEMENTWISE_CASES[name]
    assert_counts(Fn(fn), torch.randn(*X_SHAPE), macs=0, other=other)


def test_embedding_bag_is_one_add_per_gathered_element():
    bag = nn.EmbeddingBag(10, 4, mode="sum")
    indices = torch.tensor([[1, 2, 3], [4, 5, 6]])
    assert_counts(bag, indices, macs=0, other=PER_ELEMENT["scatter_add"] * indices.numel() * 4)


DATA_MOVEMENT = {
    "view_reshape": lambda x: x.view(-1).reshape(6, -1),
    "permute_transpose_contiguous": lambda x: x.permute(3, 2, 1, 0).transpose(0, 1).contiguous(),
    "flatten_unsqueeze_squeeze": lambda x: x.flatten(1).unsqueeze(0).squeeze(0),
    "cat_stack": lambda x: torch.stack([torch.cat([x, x], 1), torch.cat([x, x], 1)]),
    "split_chunk_unbind": lambda x: x.split(2, 3)[0].chunk(3, 1)[0].unbind(0)[0],
    "expand_repeat": lambda x: x[:, :1].expand(2, 3, 4, 6).repeat(1, 2, 1, 1),
    "repeat_interleave": lambda x: x.repeat_interleave(2, dim=1),
    "flip_roll": lambda x: x.flip(1).roll(1, 2),
    "index_select_gather": lambda x: x.index_select(1, torch.tensor([0, 2])).gather(
        3, torch.zeros(2, 2, 4, 2, dtype=torch.long)),
    "advanced_indexing": lambda x: x[:, [0, 2], 1:3],
    "pad": lambda x: F.pad(F.pad(x, (1, 1)), (1, 1, 1, 1), mode="reflect"),
    "masked_fill_tril": lambda x: x.masked_fill(torch.ones(6, dtype=torch.bool), 0.0).tril(),
    "clone_to_dtype": lambda x: x.clone().to(torch.float64).float(),
    "pixel_shuffle": lambda x: F.pixel_shuffle(x.reshape(2, 4, 3, 6), 2),
    "unfold": lambda x: F.unfold(x, 2),
    "factories": lambda x: (torch.zeros_like(x), torch.ones(3), torch.arange(6), torch.full((2,), 1.0)),
}


@pytest.mark.parametrize("name", list(DATA_MOVEMENT))
def test_data_movement_is_zero_cost_and_supported(name):
    reports = assert_counts(Fn(DATA_MOVEMENT[name]), torch.randn(*X_SHAPE), macs=0)
    assert not reports["full"].ops  # zero-cost ops are not even listed


def test_embedding_lookup_is_zero_cost_and_supported():
    assert_counts(nn.Embedding(10, 4), torch.tensor([[1, 2, 3], [4, 5, 6]]), macs=0)


@pytest.mark.parametrize("name", ["add", "exp", "sum", "var", "addcmul"])
def test_non_contractions_are_zero_under_matmul(name):
    fn, other = ELEMENTWISE_CASES[name]
    report = count(Fn(fn), torch.randn(*X_SHAPE), convention="matmul")
    assert other > 0
    assert report.flops == 0


@pytest.mark.parametrize("name", ["softmax", "layer_norm", "batch_norm_train", "max_pool2d", "dropout_train",
                                  "upsample_bilinear", "adaptive_avg_pool2d"])
def test_per_element_modules_are_zero_under_matmul(name):
    module, shape, other = PER_ELEMENT_CASES[name]
    report = count(module, torch.randn(*shape), convention="matmul")
    assert other > 0
    assert report.flops == 0
    assert report.macs == 0


@pytest.mark.parametrize(
    ("fn", "op", "calls"),
    [
        (lambda x: torch.sort(x, -1).values, "aten.sort", 1),
        (lambda x: torch.topk(x, 2).values + torch.topk(x, 3).values.sum(), "aten.topk", 2),
        (lambda x: torch.fft.fft(x).real, "aten._fft_r2c", 1),
    ],
    ids=["sort", "topk_twice", "fft"],
)
def test_unsupported_ops_are_reported_with_call_counts(fn, op, calls):
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 6)

        def forward(self, x):
            return fn(self.fc(x))

    report = count(Model(), torch.randn(3, 6))
    assert report.unsupported[op] == calls
    assert report.macs == 3 * 6 * 6  # the rest is still counted
    assert f"{op} x{calls}" in report.table()


# ------------------------------------------------------------------------------ per-module attribution

N, C, HW, D, K = 2, 3, 5, 8, 3
TOKENS = N * HW * HW


class Mixer(nn.Module):
    """A custom leaf module doing its work with functional ops."""

    def __init__(self):
        super().__init__()
        self.conv_weight = nn.Parameter(torch.randn(6, 4, 3, 3))
        self.proj = nn.Parameter(torch.randn(6, D))

    def forward(self, x):
        y = F.conv2d(x, self.conv_weight, padding=1)  # (N, 6, HW, HW)
        y = y.flatten(2).transpose(1, 2)  # (N, HW*HW, 6)
        return torch.einsum("npc,cd->npd", y, self.proj)  # (N, HW*HW, D)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.mixer = Mixer()
        self.norm = nn.LayerNorm(D)
        self.weight = nn.Parameter(torch.randn(D, D))

    def forward(self, x):
        return self.norm(self.mixer(x)) @ self.weight  # the block's own op: x @ w


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(C, 4, 3, padding=1)
        self.block = Block()
        self.head = nn.Linear(D, K)

    def forward(self, x):
        z = self.block(F.relu(self.stem(x)))  # F.relu is the model's own op
        return self.head(z.mean(1))  # and so is the mean


def test_per_module_attribution_of_functional_ops():
    report = count(Net(), torch.randn(N, C, HW, HW))
    stem_macs = N * 4 * HW * HW * C * 9  # 'same' 3x3 conv, C -> 4 channels
    stem = 2 * stem_macs + N * 4 * HW * HW  # + bias
    mixer_macs = N * 6 * HW * HW * 4 * 9 + TOKENS * 6 * D  # F.conv2d 4 -> 6, then einsum 6 -> D per token
    mixer = 2 * mixer_macs
    norm = PER_ELEMENT["normalization"] * TOKENS * D
    block_own_macs = TOKENS * D * D  # x @ w
    block = mixer + norm + 2 * block_own_macs
    head_macs = N * D * K
    head = 2 * head_macs + N * K
    own = PER_ELEMENT["activation"] * N * 4 * HW * HW + PER_ELEMENT["reduction"] * TOKENS * D  # relu, mean
    expected = {"": stem + block + head + own, "stem": stem, "block": block, "block.mixer": mixer,
                "block.norm": norm, "head": head}
    assert {name: stats.flops for name, stats in report.modules.items()} == expected
    assert report.modules["block.mixer"].macs == mixer_macs
    assert report.modules["block"].macs == mixer_macs + block_own_macs
    assert report.macs == stem_macs + mixer_macs + block_own_macs + head_macs
    assert report.flops == expected[""]
    assert all(stats.calls == 1 for stats in report.modules.values())


def test_module_flops_are_inclusive():
    """Parent = sum of its children + its own ops, in every convention, for every module of a tree."""
    for convention in CONVENTIONS:
        report = count(Net(), torch.randn(N, C, HW, HW), convention=convention)
        own_macs = {"": 0, "block": TOKENS * D * D}  # root's relu/mean have no MACs; block's x @ w
        own_flops = {
            "full": {"": N * 4 * HW * HW + TOKENS * D, "block": 2 * TOKENS * D * D},
            "matmul": {"": 0, "block": 2 * TOKENS * D * D},
            "exact": {"": N * 4 * HW * HW + TOKENS * D, "block": 2 * TOKENS * D * D - TOKENS * D},
        }[convention]
        for parent in ("", "block"):
            prefix = f"{parent}." if parent else ""
            children = [s for n, s in report.modules.items()
                        if n.startswith(prefix) and n != parent and "." not in n[len(prefix):]]
            assert report.modules[parent].flops == sum(c.flops for c in children) + own_flops[parent], convention
            assert report.modules[parent].macs == sum(c.macs for c in children) + own_macs[parent]


def test_shared_module_counts_every_call_under_its_first_name():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Linear(4, 4)
            self.decoder = self.encoder  # the same module under a second name

        def forward(self, x):
            return self.decoder(torch.relu(self.encoder(x)))

    report = count(Tied(), torch.randn(3, 4))
    one_call = 2 * 3 * 4 * 4 + 3 * 4  # full: 2 * MACs + bias
    assert set(report.modules) == {"", "encoder"}
    assert report.modules["encoder"].calls == 2
    assert report.modules["encoder"].flops == 2 * one_call
    assert report.modules["encoder"].macs == 2 * 3 * 4 * 4
    assert report.flops == 2 * one_call + 3 * 4  # + the relu


def test_shared_module_under_two_parents():
    class TwoPaths(nn.Module):
        def __init__(self):
            super().__init__()
            shared = nn.Linear(4, 4)
            self.left = nn.Sequential(shared, nn.ReLU())
            self.right = nn.Sequential(shared, nn.Tanh())

        def forward(self, x):
            return self.left(x) + self.right(x)

    report = count(TwoPaths(), torch.randn(2, 4))
    linear = 2 * 2 * 4 * 4 + 2 * 4  # one call of the shared Linear on 2 rows, full convention
    activation = 2 * 4
    assert "right.0" not in report.modules  # reported under its first name, left.0
    assert report.modules["left.0"].calls == 2
    assert report.modules["left.0"].flops == 2 * linear
    # each parent includes the call made inside it
    assert report.modules["left"].flops == report.modules["right"].flops == linear + activation
    assert report.flops == 2 * (linear + activation) + 2 * 4  # + the final add


# ------------------------------------------------------------------ cross-check with FlopCounterMode


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, groups=4, dilation=2, bias=False)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.up = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1, groups=2)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        x = self.up(self.dw(self.c2(self.c1(x))))
        return self.fc(x.flatten(2).transpose(1, 2))


class Conv1d3dNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(2, 4, 3, stride=2)
        self.t1 = nn.ConvTranspose1d(4, 2, 4, stride=3, dilation=2)
        self.c3 = nn.Conv3d(2, 3, 2, groups=1, bias=False)

    def forward(self, x):
        y = self.t1(self.c1(x))  # (1, 2, L)
        return self.c3(y[..., :27].reshape(1, 2, 3, 3, 3))


class MatmulNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 8)
        self.b = nn.Linear(8, 8, bias=False)
        self.w = nn.Parameter(torch.randn(8, 3))

    def forward(self, x):
        h = self.b(self.a(x))  # (2, 5, 8)
        s = torch.bmm(h, h.transpose(1, 2))  # (2, 5, 5)
        s = torch.baddbmm(s, h, h.transpose(1, 2))
        e = torch.einsum("bij,bjk->bik", s, h)
        return torch.matmul(e, self.w) + F.linear(e, self.w.t())


@pytest.mark.parametrize(("model", "shape"),
                         [(ConvNet, (2, 3, 16, 16)), (Conv1d3dNet, (1, 2, 19)), (MatmulNet, (2, 5, 6))],
                         ids=["conv2d", "conv1d_3d", "matmul"])
def test_matmul_convention_equals_flop_counter_mode(model, shape):
    from torch.utils.flop_counter import FlopCounterMode

    net, x = model(), torch.randn(*shape)
    with FlopCounterMode(display=False) as reference:
        net(x)
    report = count(net, x, convention="matmul")
    assert report.flops == reference.get_total_flops()
    assert report.flops == 2 * report.macs
    assert not report.unsupported


# ------------------------------------------------------------------------------------------------ losses


def test_regression_loss_costs_its_per_element_constant():
    # mse: difference, square, accumulate for each of the 4 * 5 input elements.
    x, y = torch.randn(4, 5), torch.randn(4, 5)
    assert_counts(Fn(F.mse_loss), (x, y), macs=0, other=PER_ELEMENT["loss"] * 4 * 5)


def test_cross_entropy_is_log_softmax_then_one_add_per_target():
    logits, target = torch.randn(4, 5), torch.tensor([0, 1, 2, 3])
    # log_softmax over 4 * 5 logits, then nll_loss picks and accumulates one value per target (4).
    other = PER_ELEMENT["softmax"] * 4 * 5 + PER_ELEMENT["elementwise"] * 4
    assert_counts(Fn(F.cross_entropy), (logits, target), macs=0, other=other)


def test_cdist_counts_one_mac_per_coordinate_pair():
    a, b = torch.randn(1, 3, 4), torch.randn(1, 5, 4)
    pairs = 3 * 5
    # per pair: 4 differences, 4 multiply-accumulates of squares, one square root.
    reports = measure(Fn(lambda a, b: torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")), (a, b))
    assert reports["full"].macs == pairs * 4
    assert reports["full"].flops == 2 * pairs * 4 + pairs * 4 + pairs
    assert reports["full"].unsupported == {}
