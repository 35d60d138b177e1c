"""Per-element families: activations, fused multiply-add, softmax, norms, losses, dropout, reductions, pooling,
interpolation and scatter-add; each a documented PER_ELEMENT constant per element."""

from __future__ import annotations

import math
from typing import Any

import torch

from ..conventions import Cost
from .registry import PER_ELEMENT, Formula, OpArgs, OpKwargs, arg, numel, per_input, per_output, register_op_formula

for _name in ("relu", "relu_", "relu6", "gelu", "gelu_", "silu", "silu_", "sigmoid", "sigmoid_", "tanh", "tanh_",
              "hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_", "hardtanh", "hardtanh_", "leaky_relu",
              "leaky_relu_", "elu", "elu_", "selu", "selu_", "celu", "celu_", "softplus", "mish", "mish_",
              "prelu", "_prelu_kernel", "glu", "log_sigmoid_forward", "threshold", "rrelu_with_noise"):
    register_op_formula(_name, family="activation")(per_output("activation"))

register_op_formula("addcmul", "addcmul_", "addcdiv", "addcdiv_", "lerp", "lerp_",
                    family="fused_multiply_add")(per_output("fused_multiply_add"))
register_op_formula("_softmax", "_log_softmax", "_safe_softmax", "_masked_softmax", "softmax", "log_softmax",
                    family="softmax")(per_output("softmax"))
register_op_formula("native_layer_norm", "native_group_norm", "native_batch_norm", "_native_batch_norm_legit",
                    "_native_batch_norm_legit_no_training", "_batch_norm_with_update", "_batch_norm_no_update",
                    "cudnn_batch_norm", "miopen_batch_norm", "_native_batch_norm_legit_functional",
                    family="normalization")(per_input("normalization"))


@register_op_formula("_fused_rms_norm", family="normalization")
def _fused_rms_norm(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
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
                    family="loss")(per_input("loss"))


@register_op_formula("nll_loss_forward", "nll_loss2d_forward", "nll_loss", "nll_loss2d", family="loss")
def _nll_loss(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    # Picks one log-probability per target (data movement) and accumulates it: one op per target.
    return Cost(other=PER_ELEMENT["elementwise"] * numel(args[1]))


register_op_formula("native_dropout", family="dropout")(per_input("dropout"))
register_op_formula("sum", "mean", "nansum", "nanmean", "amax", "amin", "argmax", "argmin", "prod", "logsumexp",
                    "linalg_vector_norm", "norm", "any", "all", "cumsum", "cumprod", "cummax", "cummin", "aminmax",
                    family="reduction")(per_input("reduction"))
register_op_formula("var", "std", "var_mean", "std_mean", family="variance")(per_input("variance"))


@register_op_formula("max", "min", family="reduction")
def _max_min(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    # max(a, b) is elementwise; max(a) and max(a, dim) reduce a.
    if len(args) > 1 and isinstance(args[1], torch.Tensor):
        return Cost(other=PER_ELEMENT["elementwise"] * numel(out))
    return Cost(other=PER_ELEMENT["reduction"] * numel(args[0]))


def _window_pool(dims: int) -> Formula:
    """Pooling with a fixed window: each output element reads (compares or adds) its whole window."""

    def formula(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
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
                    family="pooling")(per_input("reduction"))


def _interpolation(points_per_dim: int, dims: int) -> Formula:
    points = points_per_dim ** dims
    return lambda args, kwargs, out: Cost(other=(2 * points - 1) * numel(out))


register_op_formula("upsample_linear1d", family="interpolation")(_interpolation(2, 1))
register_op_formula("upsample_bilinear2d", "_upsample_bilinear2d_aa", family="interpolation")(_interpolation(2, 2))
register_op_formula("upsample_trilinear3d", family="interpolation")(_interpolation(2, 3))
register_op_formula("upsample_bicubic2d", "_upsample_bicubic2d_aa", family="interpolation")(_interpolation(4, 2))


@register_op_formula("index_add", "index_add_", "scatter_add", "scatter_add_", "scatter_reduce", "scatter_reduce_",
                     family="scatter_add")
def _scatter_add(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    source = args[3] if len(args) > 3 and isinstance(args[3], torch.Tensor) else kwargs.get("src", kwargs.get("source"))
    return Cost(other=PER_ELEMENT["scatter_add"] * numel(source))


@register_op_formula("_embedding_bag", "_embedding_bag_forward_only", "embedding_bag", family="scatter_add")
def _embedding_bag(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    weight, indices = args[0], args[1]
    return Cost(other=PER_ELEMENT["scatter_add"] * indices.numel() * weight.shape[1])
