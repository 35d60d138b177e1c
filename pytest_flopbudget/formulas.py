"""Op -> cost: one small formula per op family, registered with a decorator.

Every op that runs under the counter is either costed here, declared zero-cost data movement, or
reported as unsupported by the counter. The per-element constants live in :data:`PER_ELEMENT`, and
README.md's "Per-element costs" table is the same table.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Optional

import torch

from .conventions import ZERO, Cost

aten = torch.ops.aten

#: Cost per element of the non-contraction op families under the ``full`` and ``exact`` conventions.
PER_ELEMENT: dict[str, int] = {
    "elementwise": 1,  # add, sub, mul, div, pow, exp, sqrt, comparisons, ... per output element
    "activation": 1,  # relu, gelu, silu, sigmoid, tanh, hardswish, ... per output element
    "fused_multiply_add": 2,  # addcmul, addcdiv, lerp: a multiply and an add per output element
    "softmax": 5,  # max, subtract, exp, sum, divide per element (log_softmax alike)
    "normalization": 5,  # batch/layer/group/instance norm: mean, variance, subtract, scale, shift
    "loss": 3,  # mse, l1, smooth_l1, huber, bce, kl_div: difference, square/abs/log, accumulate per input element
    "reduction": 1,  # sum, mean, amax, prod, norm, cumsum, ... per input element
    "variance": 3,  # var, std: subtract, square, accumulate per input element
    "dropout": 2,  # scale and mask per element (train mode only; eval dropout runs nothing)
    "scatter_add": 1,  # index_add, scatter_add, embedding_bag: one add per source element
}

#: Real operations per complex one: every op that reads or writes a complex tensor is counted in real
#: arithmetic with these factors (README "Complex tensors"). z = a + bi, w = c + di.
COMPLEX: dict[str, int] = {
    "mac": 4,  # s += z*w is re += ac - bd, im += ad + bc: 4 real multiply-accumulates
    "output": 2,  # a complex dot product is 2 real sums (re, im), so `exact` subtracts 2 per complex output
    "bias": 2,  # a complex bias add is 2 real adds
    "per_element": 2,  # any other per-element op: its real PER_ELEMENT constant once per real component
    "multiply": 6,  # z*w with both complex: 4 real multiplies + 2 real adds, per element
    "divide": 11,  # z/w with both complex, ((ac + bd) + (bc - ad)i) / (c^2 + d^2): 6 mul, 3 add, 2 div
}

Formula = Callable[[tuple, dict, Any], Optional[Cost]]

#: op overload packet -> (family, formula); a formula returning None means "cannot cost this call".
OP_FORMULAS: dict[Any, tuple[str, Formula]] = {}
#: ops that move or create data and cost nothing by declaration.
ZERO_COST: set[Any] = set()

_ZERO_COST_NAMES = """
    view _unsafe_view reshape _reshape_alias view_as alias as_strided expand expand_as permute transpose t
    unsqueeze squeeze flatten unflatten unfold select slice narrow split split_with_sizes unbind chunk
    unsafe_split unsafe_split_with_sizes unsafe_chunk tensor_split movedim diagonal view_as_real view_as_complex
    detach lift_fresh lift_fresh_copy clone contiguous _to_copy to copy_ _copy_from _copy_from_and_resize
    cat stack hstack vstack concat concatenate flip roll repeat repeat_interleave tile constant_pad_nd pad
    reflection_pad1d reflection_pad2d reflection_pad3d replication_pad1d replication_pad2d replication_pad3d
    empty empty_like empty_strided new_empty new_empty_strided zeros zeros_like new_zeros ones ones_like new_ones
    full full_like new_full fill fill_ zero_ arange linspace logspace eye scalar_tensor tensor _local_scalar_dense
    rand rand_like randn randn_like randint randint_like randperm bernoulli bernoulli_ normal normal_ uniform_
    exponential_ random_ multinomial tril triu tril_ triu_ where masked_fill masked_fill_ masked_select
    index index_select gather take index_put index_put_ _index_put_impl_ _unsafe_index scatter scatter_ nonzero
    embedding upsample_nearest1d upsample_nearest2d upsample_nearest3d _upsample_nearest_exact1d
    _upsample_nearest_exact2d _upsample_nearest_exact3d pixel_shuffle pixel_unshuffle channel_shuffle
    native_channel_shuffle im2col col2im resize_ resize_as_ set_ _unsafe_view _nested_tensor_from_mask
    _has_compatible_shallow_copy_type sym_size sym_stride sym_numel sym_storage_offset is_same_size
    _assert_async _assert_tensor_metadata _functional_assert_async isnan isinf isfinite _fused_sdp_choice
    positive conj resolve_conj resolve_neg _conj _neg_view item _linalg_check_errors squeeze_ unsqueeze_ t_ transpose_ swapdims_
    swapaxes_ as_strided_ detach_ squeeze_copy unsqueeze_copy view_copy permute_copy transpose_copy t_copy
    expand_copy slice_copy select_copy alias_copy detach_copy _unsafe_view_copy
""".split()


def register_op_formula(*ops: Any, family: str) -> Callable[[Formula], Formula]:
    """Register ``formula(args, kwargs, out) -> Cost`` for aten ops (overloads or packets) or op names.

    Names an installed torch lacks are skipped, so one table serves every supported torch release.
    Third parties use the same decorator for their own custom ops, e.g. ``torch.ops.mylib.fused_mlp``.
    """

    def decorate(formula: Formula) -> Formula:
        for op in _resolve(ops):
            OP_FORMULAS[op] = (family, formula)
        return formula

    return decorate


def declare_zero_cost(*ops: Any) -> None:
    """Declare ops that only move or create data, so they are neither costed nor reported unsupported."""
    ZERO_COST.update(_resolve(ops))


def _resolve(ops: Iterable[Any]) -> list[Any]:
    resolved = []
    for op in ops:
        if isinstance(op, str):
            op = getattr(aten, op, None)
            if op is None:
                continue
        resolved.append(getattr(op, "overloadpacket", op))
    return resolved


def lookup(func: Any) -> tuple[str, Formula] | None:
    """The (family, formula) for an op overload, falling back to torch's pointwise tag.

    The formula returned counts in real arithmetic: formulas count the op's own element operations, and
    calls that read or write complex tensors are converted with :data:`COMPLEX` here, in one place.
    """
    packet = func.overloadpacket
    entry = OP_FORMULAS.get(packet)
    if entry is None:
        if packet in ZERO_COST:
            return _ZERO_ENTRY
        if torch.Tag.pointwise not in func.tags:
            return None
        entry = _POINTWISE_ENTRY
    family, formula = entry
    return family, _in_real_arithmetic(formula, _COMPLEX_PRODUCTS.get(packet))


def complex_to_real(cost: Cost) -> Cost:
    """``cost`` of an op on complex tensors, counted as element operations, in real operations."""
    return Cost(macs=cost.macs * COMPLEX["mac"], outputs=cost.outputs * COMPLEX["output"],
                bias=cost.bias * COMPLEX["bias"], other=cost.other * COMPLEX["per_element"])


def _in_real_arithmetic(formula: Formula, product: str | None) -> Formula:
    """``formula``, with calls on complex tensors converted to real arithmetic (see :data:`COMPLEX`).

    ``product`` names the COMPLEX entry of an elementwise multiply or divide: when both of its operands are
    complex it costs that many real FLOPs per element instead of the per-component rule.
    """

    def real(args: tuple, kwargs: dict, out: Any) -> Any:
        cost = formula(args, kwargs, out)
        if type(cost) is not Cost or not _touches_complex(args, kwargs, out) or cost == ZERO:
            return cost
        if product is not None and len(args) > 1 and _is_complex(args[0]) and _is_complex(args[1]):
            return Cost(other=COMPLEX[product] * numel(out))
        return complex_to_real(cost)

    return real


def _is_complex(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.is_complex()
    return isinstance(value, complex)


def _touches_complex(args: tuple, kwargs: dict, out: Any) -> bool:
    """Whether any tensor an op reads (top-level or in a list argument) or writes is complex."""
    if _any_complex(args) or _any_complex((out,)):
        return True
    return bool(kwargs) and _any_complex(tuple(kwargs.values()))


def _any_complex(values: tuple) -> bool:
    for value in values:
        if isinstance(value, torch.Tensor):
            if value.is_complex():
                return True
        elif isinstance(value, (tuple, list)):
            for item in value:
                if isinstance(item, torch.Tensor) and item.is_complex():
                    return True
    return False


# ---------------------------------------------------------------------------------------------- helpers


def arg(args: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    """The argument at ``index`` or keyword ``name``: aten ops are called both ways."""
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            found = first_tensor(item)
            if found is not None:
                return found
    return None


def numel(value: Any) -> int:
    tensor = first_tensor(value)
    return int(tensor.numel()) if tensor is not None else 0


def _per_output(family: str) -> Formula:
    constant = PER_ELEMENT[family]
    return lambda args, kwargs, out: Cost(other=constant * numel(out))


def _per_input(family: str) -> Formula:
    constant = PER_ELEMENT[family]
    return lambda args, kwargs, out: Cost(other=constant * numel(args[0] if args else None))


_ZERO_ENTRY: tuple[str, Formula] = ("data movement", lambda args, kwargs, out: ZERO)
_POINTWISE_ENTRY: tuple[str, Formula] = ("elementwise", _per_output("elementwise"))
#: elementwise ops whose complex x complex form is a complex product or quotient (COMPLEX keys)
_COMPLEX_PRODUCTS: dict[Any, str] = {aten.mul: "multiply", aten.mul_: "multiply", aten.div: "divide",
                                     aten.div_: "divide"}

declare_zero_cost(*_ZERO_COST_NAMES)
if hasattr(torch.ops, "prim") and hasattr(torch.ops.prim, "device"):
    declare_zero_cost(torch.ops.prim.device)  # fake tensors ask for their device

# ------------------------------------------------------------------------------------- matmul family


def _mm_cost(m: int, k: int, n: int, batch: int = 1, bias: bool = False) -> Cost:
    outputs = batch * m * n
    return Cost(macs=batch * m * k * n, outputs=outputs, bias=outputs if bias else 0)


@register_op_formula("mm", "_int_mm", family="matmul")
def _mm(args, kwargs, out):
    a, b = args[0], args[1]
    return _mm_cost(a.shape[0], a.shape[1], b.shape[1])


@register_op_formula("addmm", family="matmul")
def _addmm(args, kwargs, out):
    a, b = args[1], args[2]
    return _mm_cost(a.shape[0], a.shape[1], b.shape[1], bias=True)


@register_op_formula("_addmm_activation", family="matmul")
def _addmm_activation(args, kwargs, out):
    a, b = args[1], args[2]
    cost = _mm_cost(a.shape[0], a.shape[1], b.shape[1], bias=True)
    return cost + Cost(other=PER_ELEMENT["activation"] * numel(out))


@register_op_formula("_scaled_mm", family="matmul")
def _scaled_mm(args, kwargs, out):
    a, b = args[0], args[1]
    bias = arg(args, kwargs, 4, "bias")
    return _mm_cost(a.shape[0], a.shape[1], b.shape[1], bias=bias is not None)


@register_op_formula("bmm", family="matmul")
def _bmm(args, kwargs, out):
    a, b = args[0], args[1]
    return _mm_cost(a.shape[1], a.shape[2], b.shape[2], batch=a.shape[0])


@register_op_formula("baddbmm", family="matmul")
def _baddbmm(args, kwargs, out):
    a, b = args[1], args[2]
    return _mm_cost(a.shape[1], a.shape[2], b.shape[2], batch=a.shape[0], bias=True)


@register_op_formula("addbmm", family="matmul")
def _addbmm(args, kwargs, out):
    a, b = args[1], args[2]
    # The batch is summed into one (m, n) result: each output accumulates batch * k products.
    outputs = a.shape[1] * b.shape[2]
    return Cost(macs=a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2], outputs=outputs, bias=outputs)


@register_op_formula("mv", family="matmul")
def _mv(args, kwargs, out):
    a = args[0]
    return _mm_cost(a.shape[0], a.shape[1], 1)


@register_op_formula("addmv", family="matmul")
def _addmv(args, kwargs, out):
    a = args[1]
    return _mm_cost(a.shape[0], a.shape[1], 1, bias=True)


@register_op_formula("dot", "vdot", family="matmul")
def _dot(args, kwargs, out):
    return _mm_cost(1, args[0].shape[0], 1)


@register_op_formula("linear", family="matmul")
def _linear(args, kwargs, out):
    x, weight = args[0], args[1]
    bias = arg(args, kwargs, 2, "bias")
    rows = math.prod(x.shape[:-1])
    return _mm_cost(rows, weight.shape[-1], weight.shape[0] if weight.dim() == 2 else 1, bias=bias is not None)


# --------------------------------------------------------------------------------------- convolutions


def conv_cost(x: torch.Tensor, weight: torch.Tensor, has_bias: bool, out: Any, transposed: bool,
              stride: Any = 1, padding: Any = 0, dilation: Any = 1) -> Cost:
    """Exact MACs of an N-d convolution, any groups, stride, dilation and padding.

    The weight is (Cout, Cin/groups, *k) or, transposed, (Cin, Cout/groups, *k). A direct convolution
    computes each output element from Cin/groups * prod(k) products (padding taps included, as in the
    classic formula); a transposed one scatters each input element into Cout/groups * prod(k) products.
    For ``exact``, a transposed convolution's outputs are only those some product lands on: stride gaps
    and output_padding rows receive no term, so they cost nothing rather than "2*0 - 1".
    """
    per_element = weight.shape[1] * math.prod(weight.shape[2:])
    out_elements = numel(out)
    if not transposed:
        return Cost(macs=out_elements * per_element, outputs=out_elements, bias=out_elements if has_bias else 0)
    out_tensor = first_tensor(out)
    spatial = weight.dim() - 2
    reached = out_elements
    if out_tensor is not None and out_tensor.dim() >= spatial:
        reached = out_elements // max(1, math.prod(out_tensor.shape[-spatial:])) if spatial else out_elements
        for dim in range(spatial):
            in_size = x.shape[x.dim() - spatial + dim]
            out_size = out_tensor.shape[out_tensor.dim() - spatial + dim]
            reached *= _positions_reached(in_size, out_size, weight.shape[2 + dim], _nth(stride, dim),
                                          _nth(padding, dim), _nth(dilation, dim))
    return Cost(macs=x.numel() * per_element, outputs=reached, bias=out_elements if has_bias else 0)


def _nth(value: Any, dim: int) -> int:
    if isinstance(value, (list, tuple)):
        return int(value[dim] if len(value) > dim else value[0])
    return int(value)


def _positions_reached(in_size: int, out_size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output positions of one transposed-conv dimension that receive at least one input-tap product."""
    reached = {i * stride - padding + k * dilation for i in range(in_size) for k in range(kernel)}
    return sum(1 for position in reached if 0 <= position < out_size)


@register_op_formula("convolution", "_convolution", "convolution_overrideable", family="convolution")
def _convolution(args, kwargs, out):
    # convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    return conv_cost(args[0], args[1], arg(args, kwargs, 2, "bias") is not None, out,
                     bool(arg(args, kwargs, 6, "transposed", False)), arg(args, kwargs, 3, "stride", 1),
                     arg(args, kwargs, 4, "padding", 0), arg(args, kwargs, 5, "dilation", 1))


@register_op_formula("mkldnn_convolution", "_slow_conv2d_forward", "slow_conv3d_forward", "thnn_conv2d",
                     "_conv_depthwise2d", "conv_depthwise3d", family="convolution")
def _convolution_with_bias_third(args, kwargs, out):
    bias = args[2] if len(args) > 2 and isinstance(args[2], torch.Tensor) else kwargs.get("bias")
    return conv_cost(args[0], args[1], bias is not None, out, transposed=False)


@register_op_formula("cudnn_convolution", "miopen_convolution", family="convolution")
def _convolution_without_bias(args, kwargs, out):
    return conv_cost(args[0], args[1], False, out, transposed=False)


@register_op_formula("cudnn_convolution_transpose", "miopen_convolution_transpose", family="convolution")
def _convolution_transpose(args, kwargs, out):
    # cudnn_convolution_transpose(input, weight, padding, output_padding, stride, dilation, groups, ...)
    return conv_cost(args[0], args[1], False, out, True, arg(args, kwargs, 4, "stride", 1),
                     arg(args, kwargs, 2, "padding", 0), arg(args, kwargs, 5, "dilation", 1))


@register_op_formula("slow_conv_transpose2d", "slow_conv_transpose3d", family="convolution")
def _slow_convolution_transpose(args, kwargs, out):
    # slow_conv_transpose2d(input, weight, kernel_size, bias, stride, padding, output_padding, dilation)
    return conv_cost(args[0], args[1], arg(args, kwargs, 3, "bias") is not None, out, True,
                     arg(args, kwargs, 4, "stride", 1), arg(args, kwargs, 5, "padding", 0),
                     arg(args, kwargs, 7, "dilation", 1))


# --------------------------------------------------------------------------- quantized kernels (torch.ao)


def _quantized_ops(*names: str) -> list[Any]:
    """``torch.ops.quantized`` packets this torch build has (the namespace varies by build and backend)."""
    namespace = getattr(torch.ops, "quantized", None)
    found = []
    for name in names:
        try:
            found.append(getattr(namespace, name))
        except (AttributeError, RuntimeError):
            continue
    return found


def _packed(call: Callable[[], Any]) -> Any:
    """Read a packed weight object outside every mode: under fake tensors (meta=True) unpacking would try to
    build a fake quantized tensor, which fake mode cannot; the packed object holds real data either way."""
    from torch.utils._python_dispatch import _disable_current_modes

    with _disable_current_modes():
        return call()


def _quantized_linear(activation: bool) -> Formula:
    """A quantized linear kernel (dynamic or static, int8 or fp16): the float Linear's arithmetic.

    The weight is a packed TorchBind object (``LinearPackedParamsBase``), so the output width comes from
    the output and the bias from the packed object; quantizing the input and requantizing the output are
    not counted (they are number-format conversions, not the layer's arithmetic).
    """

    def formula(args, kwargs, out):
        x, packed = args[0], args[1]
        out_features = first_tensor(out).shape[-1]
        rows = x.numel() // max(1, x.shape[-1])
        cost = _mm_cost(rows, x.shape[-1], out_features, bias=_packed(packed.bias) is not None)
        if activation:
            cost = cost + Cost(other=PER_ELEMENT["activation"] * numel(out))
        return cost

    return formula


def _quantized_conv(activation: bool) -> Formula:
    """A static quantized convolution: the float convolution's arithmetic, from the packed weight's shape."""

    def formula(args, kwargs, out):
        x, packed = args[0], args[1]
        weight, bias = _packed(packed.unpack)
        transposed = bool(packed.transpose())
        if transposed and weight.dim() != x.dim():  # conv_transpose1d packs a 2d weight: no exact mapping
            return None
        cost = conv_cost(x, weight, bias is not None, out, transposed, packed.stride(), packed.padding(),
                         packed.dilation())
        if activation:
            cost = cost + Cost(other=PER_ELEMENT["activation"] * numel(out))
        return cost

    return formula


register_op_formula(*_quantized_ops("linear", "linear_dynamic", "linear_dynamic_fp16"),
                    family="matmul")(_quantized_linear(activation=False))
register_op_formula(*_quantized_ops("linear_relu", "linear_relu_dynamic", "linear_relu_dynamic_fp16",
                                    "linear_leaky_relu", "linear_tanh"),
                    family="matmul")(_quantized_linear(activation=True))
register_op_formula(*_quantized_ops("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                                    "conv_transpose3d"), family="convolution")(_quantized_conv(activation=False))
register_op_formula(*_quantized_ops("conv1d_relu", "conv2d_relu", "conv3d_relu"),
                    family="convolution")(_quantized_conv(activation=True))


# ------------------------------------------------------------------------------------------ attention


def attention_cost(q_shape: tuple, s: int, ev: int, *, masked: bool, dropout: bool) -> Cost:
    """Every scaled-dot-product kernel, costed as the math path computes it.

    q is (*batch, heads, L, E) with the query heads (GQA/MQA keys are broadcast to them); s is the key
    length and ev the value width. Contractions: Q K^T (L*S*E) and A V (L*S*Ev) per head. Elementwise,
    as in torch's math path: q and k scaled once each, the mask (or causal mask) added, a softmax over
    L*S, and dropout's mask and rescale. Causal masking does not halve the count: the dense product is
    what the math path computes and what every fused kernel matches on non-causal inputs.
    """
    *batch, l, e = q_shape
    heads = math.prod(batch)
    scores = heads * l * s
    macs = scores * e + scores * ev
    other = heads * (l * e + s * e) + PER_ELEMENT["softmax"] * scores
    if masked:
        other += scores
    if dropout:
        other += PER_ELEMENT["dropout"] * scores
    return Cost(macs=macs, outputs=scores + heads * l * ev, other=other)


def _sdpa(mask_index: int | None, mask_name: str, dropout_index: int, causal_index: int, layout_bhle: bool = True):
    def formula(args, kwargs, out):
        q, k, v = args[0], args[1], args[2]
        if q.is_nested:
            return None
        q_shape, s, ev = tuple(q.shape), k.shape[-2], v.shape[-1]
        if not layout_bhle:  # (B, L, H, E) layout of the low-level flash / efficient kernels
            q_shape = (q.shape[0], q.shape[2], q.shape[1], q.shape[3])
            s = k.shape[1]
        mask = arg(args, kwargs, mask_index, mask_name) if mask_index is not None else None
        causal = arg(args, kwargs, causal_index, "is_causal", False)
        if not layout_bhle and mask_name == "bias":
            causal = arg(args, kwargs, causal_index, "custom_mask_type", 0) not in (0, None)
        dropout_p = arg(args, kwargs, dropout_index, "dropout_p", 0.0) or 0.0
        return attention_cost(q_shape, s, ev, masked=mask is not None or bool(causal), dropout=dropout_p > 0)

    return formula


register_op_formula("_scaled_dot_product_flash_attention", family="attention")(_sdpa(None, "", 3, 4))
register_op_formula("_scaled_dot_product_flash_attention_for_cpu", family="attention")(_sdpa(5, "attn_mask", 3, 4))
register_op_formula("_scaled_dot_product_efficient_attention", family="attention")(_sdpa(3, "attn_bias", 5, 6))
register_op_formula("_scaled_dot_product_cudnn_attention", family="attention")(_sdpa(3, "attn_bias", 5, 6))
register_op_formula("_scaled_dot_product_fused_attention_overrideable", family="attention")(
    _sdpa(3, "attn_bias", 4, 5))
register_op_formula("_flash_attention_forward", family="attention")(_sdpa(None, "", 7, 8, layout_bhle=False))
register_op_formula("_efficient_attention_forward", family="attention")(_sdpa(3, "bias", 8, 9, layout_bhle=False))


# ------------------------------------------------------------------- activations, softmax, norms, pooling

for _name in ("relu", "relu_", "relu6", "gelu", "gelu_", "silu", "silu_", "sigmoid", "sigmoid_", "tanh", "tanh_",
              "hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_", "hardtanh", "hardtanh_", "leaky_relu",
              "leaky_relu_", "elu", "elu_", "selu", "selu_", "celu", "celu_", "softplus", "mish", "mish_",
              "prelu", "_prelu_kernel", "glu", "log_sigmoid_forward", "threshold", "rrelu_with_noise"):
    register_op_formula(_name, family="activation")(_per_output("activation"))

register_op_formula("addcmul", "addcmul_", "addcdiv", "addcdiv_", "lerp", "lerp_",
                    family="fused_multiply_add")(_per_output("fused_multiply_add"))
register_op_formula("_softmax", "_log_softmax", "_safe_softmax", "_masked_softmax", "softmax", "log_softmax",
                    family="softmax")(_per_output("softmax"))
register_op_formula("native_layer_norm", "native_group_norm", "native_batch_norm", "_native_batch_norm_legit",
                    "_native_batch_norm_legit_no_training", "_batch_norm_with_update", "_batch_norm_no_update",
                    "cudnn_batch_norm", "miopen_batch_norm", "_native_batch_norm_legit_functional",
                    family="normalization")(_per_input("normalization"))


@register_op_formula("_fused_rms_norm", family="normalization")
def _fused_rms_norm(args, kwargs, out):
    """Costed as the decomposition CPU runs (rms_norm is composite there): square, mean and scale per
    element (+ the weight), then eps add and rsqrt per normalized row; so every device agrees."""
    x, normalized = args[0], args[1]
    weight = arg(args, kwargs, 2, "weight")
    elements = x.numel()
    rows = elements // max(1, math.prod(normalized))
    per_element = 3 * PER_ELEMENT["elementwise"] + (PER_ELEMENT["elementwise"] if weight is not None else 0)
    return Cost(other=per_element * elements + 2 * PER_ELEMENT["elementwise"] * rows)


register_op_formula("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
                    "binary_cross_entropy_with_logits", "kl_div", "soft_margin_loss",
                    family="loss")(_per_input("loss"))


@register_op_formula("nll_loss_forward", "nll_loss2d_forward", "nll_loss", "nll_loss2d", family="loss")
def _nll_loss(args, kwargs, out):
    # Picks one log-probability per target (data movement) and accumulates it: one op per target.
    return Cost(other=PER_ELEMENT["elementwise"] * numel(args[1]))


@register_op_formula("_cdist_forward", family="matmul")
def _cdist(args, kwargs, out):
    """Pairwise distances (B, P, M) x (B, R, M): per pair M differences and M multiply-accumulates, one root."""
    pairs = numel(out)
    width = args[0].shape[-1]
    return Cost(macs=pairs * width, outputs=pairs, other=pairs * width + pairs)


@register_op_formula("_trilinear", family="matmul")
def _trilinear(args, kwargs, out):
    """nn.Bilinear's kernel: i1 * i2 summed over the dims i3 lacks, then * i3 summed over the rest.

    Each operand is unsqueezed at its ``expand`` dims to one common rank; torch contracts the pair
    (i1, i2) first, then the result with i3, so those are the two contractions counted here.
    """
    i1, i2, i3, expand1, expand2, expand3, sumdim = args[:7]
    rank = i1.dim() + len(expand1)

    def full_shape(tensor: torch.Tensor, expand: list) -> list:
        sizes, source = [], iter(tensor.shape)
        for dim in range(rank):
            sizes.append(1 if dim in expand else next(source))
        return sizes

    s1, s2, s3 = full_shape(i1, expand1), full_shape(i2, expand2), full_shape(i3, expand3)
    pair = [max(a, b) for a, b in zip(s1, s2)]
    first_sum = [d for d in sumdim if s3[d] == 1]
    after_first = [1 if d in first_sum else size for d, size in enumerate(pair)]
    macs = math.prod(pair)
    outputs = math.prod(after_first)
    joint = [max(a, b) for a, b in zip(after_first, s3)]
    macs += math.prod(joint)
    outputs += numel(out)
    return Cost(macs=macs, outputs=outputs)

register_op_formula("native_dropout", family="dropout")(_per_input("dropout"))
register_op_formula("sum", "mean", "nansum", "nanmean", "amax", "amin", "argmax", "argmin", "prod", "logsumexp",
                    "linalg_vector_norm", "norm", "any", "all", "cumsum", "cumprod", "cummax", "cummin", "aminmax",
                    family="reduction")(_per_input("reduction"))
register_op_formula("var", "std", "var_mean", "std_mean", family="variance")(_per_input("variance"))


@register_op_formula("max", "min", family="reduction")
def _max_min(args, kwargs, out):
    # max(a, b) is elementwise; max(a) and max(a, dim) reduce a.
    if len(args) > 1 and isinstance(args[1], torch.Tensor):
        return Cost(other=PER_ELEMENT["elementwise"] * numel(out))
    return Cost(other=PER_ELEMENT["reduction"] * numel(args[0]))


def _window_pool(dims: int) -> Formula:
    """Pooling with a fixed window: each output element reads (compares or adds) its whole window."""

    def formula(args, kwargs, out):
        kernel = list(args[1]) if isinstance(args[1], (list, tuple)) else [args[1]]
        window = kernel[0] ** dims if len(kernel) == 1 else math.prod(kernel)
        return Cost(other=window * numel(out))

    return formula


register_op_formula("max_pool1d", "avg_pool1d", family="pooling")(_window_pool(1))
register_op_formula("max_pool2d", "max_pool2d_with_indices", "mkldnn_max_pool2d", "avg_pool2d", "quantized_max_pool2d",
                    family="pooling")(_window_pool(2))
register_op_formula("max_pool3d", "max_pool3d_with_indices", "mkldnn_max_pool3d", "avg_pool3d",
                    family="pooling")(_window_pool(3))
register_op_formula("_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool1d", "adaptive_max_pool1d",
                    "adaptive_max_pool2d", "adaptive_max_pool3d", "mkldnn_adaptive_avg_pool2d",
                    family="pooling")(_per_input("reduction"))


def _interpolation(points_per_dim: int, dims: int) -> Formula:
    points = points_per_dim ** dims
    return lambda args, kwargs, out: Cost(other=(2 * points - 1) * numel(out))


register_op_formula("upsample_linear1d", family="interpolation")(_interpolation(2, 1))
register_op_formula("upsample_bilinear2d", "_upsample_bilinear2d_aa", family="interpolation")(_interpolation(2, 2))
register_op_formula("upsample_trilinear3d", family="interpolation")(_interpolation(2, 3))
register_op_formula("upsample_bicubic2d", "_upsample_bicubic2d_aa", family="interpolation")(_interpolation(4, 2))


@register_op_formula("index_add", "index_add_", "scatter_add", "scatter_add_", "scatter_reduce", "scatter_reduce_",
                     family="scatter_add")
def _scatter_add(args, kwargs, out):
    source = args[3] if len(args) > 3 and isinstance(args[3], torch.Tensor) else kwargs.get("src", kwargs.get("source"))
    return Cost(other=PER_ELEMENT["scatter_add"] * numel(source))


@register_op_formula("_embedding_bag", "_embedding_bag_forward_only", "embedding_bag", family="scatter_add")
def _embedding_bag(args, kwargs, out):
    weight, indices = args[0], args[1]
    return Cost(other=PER_ELEMENT["scatter_add"] * indices.numel() * weight.shape[1])
