"""Quantized kernels of torch.ao: costed like the float layers they stand for."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch._ops import OpOverloadPacket

from ..conventions import Cost
from .convolution import conv_cost
from .matmul import mm_cost
from .registry import PER_ELEMENT, Formula, OpArgs, OpKwargs, first_tensor, numel, register_op_formula


def _quantized_ops(*names: str) -> list[OpOverloadPacket]:
    """``torch.ops.quantized`` packets this torch build has (the namespace varies by build and backend)."""
    namespace = getattr(torch.ops, "quantized", None)
    found: list[OpOverloadPacket] = []
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

    def formula(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost | None:
        x, packed = args[0], args[1]
        result = first_tensor(out)
        if result is None:
            return None  # no output tensor to count: unsupported, as when reading it raised
        out_features = result.shape[-1]
        rows = x.numel() // max(1, x.shape[-1])
        cost = mm_cost(rows, x.shape[-1], out_features, bias=_packed(packed.bias) is not None)
        if activation:
            cost = cost + Cost(other=PER_ELEMENT["activation"] * numel(out))
        return cost

    return formula


def _quantized_conv(activation: bool) -> Formula:
    """A static quantized convolution: the float convolution's arithmetic, from the packed weight's shape."""

    def formula(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost | None:
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
