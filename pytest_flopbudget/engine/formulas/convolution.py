"""Direct and transposed convolutions, any dims, groups, stride, dilation and padding."""

from __future__ import annotations

import math
from typing import Any

import torch

from ..conventions import Cost
from .registry import OpArgs, OpKwargs, arg, first_tensor, numel, register_op_formula


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
def _convolution(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    # convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    return conv_cost(args[0], args[1], arg(args, kwargs, 2, "bias") is not None, out,
                     bool(arg(args, kwargs, 6, "transposed", False)), arg(args, kwargs, 3, "stride", 1),
                     arg(args, kwargs, 4, "padding", 0), arg(args, kwargs, 5, "dilation", 1))


@register_op_formula("mkldnn_convolution", "_slow_conv2d_forward", "slow_conv3d_forward", "thnn_conv2d",
                     "_conv_depthwise2d", "conv_depthwise3d", family="convolution")
def _convolution_with_bias_third(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    bias = args[2] if len(args) > 2 and isinstance(args[2], torch.Tensor) else kwargs.get("bias")
    return conv_cost(args[0], args[1], bias is not None, out, transposed=False)


@register_op_formula("cudnn_convolution", "miopen_convolution", family="convolution")
def _convolution_without_bias(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    return conv_cost(args[0], args[1], False, out, transposed=False)


@register_op_formula("cudnn_convolution_transpose", "miopen_convolution_transpose", family="convolution")
def _convolution_transpose(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    # cudnn_convolution_transpose(input, weight, padding, output_padding, stride, dilation, groups, ...)
    return conv_cost(args[0], args[1], False, out, True, arg(args, kwargs, 4, "stride", 1),
                     arg(args, kwargs, 2, "padding", 0), arg(args, kwargs, 5, "dilation", 1))


@register_op_formula("slow_conv_transpose2d", "slow_conv_transpose3d", family="convolution")
def _slow_convolution_transpose(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    # slow_conv_transpose2d(input, weight, kernel_size, bias, stride, padding, output_padding, dilation)
    return conv_cost(args[0], args[1], arg(args, kwargs, 3, "bias") is not None, out, True,
                     arg(args, kwargs, 4, "stride", 1), arg(args, kwargs, 5, "padding", 0),
                     arg(args, kwargs, 7, "dilation", 1))
