"""Contractions of the matmul family: mm, addmm, bmm, baddbmm, mv, dot, linear, cdist, Bilinear."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from ..conventions import ZERO, Cost
from .registry import PER_ELEMENT, OpArgs, OpKwargs, arg, first_tensor, numel, register_op_formula


def mm_cost(m: int, k: int, n: int, batch: int = 1, bias: bool = False) -> Cost:
    """batch x (m x k) @ (k x n): m*k*n MACs per batch, m*n outputs, one bias add per output if any."""
    outputs = batch * m * n
    return Cost(macs=batch * m * k * n, outputs=outputs, bias=outputs if bias else 0)


@register_op_formula("mm", "_int_mm", family="matmul")
def _mm(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    a, b = args[0], args[1]
    return mm_cost(a.shape[0], a.shape[1], b.shape[1])


@register_op_formula("addmm", family="matmul")
def _addmm(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    a, b = args[1], args[2]
    return mm_cost(a.shape[0], a.shape[1], b.shape[1], bias=True)


@register_op_formula("_addmm_activation", family="matmul")
def _addmm_activation(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    a, b = args[1], args[2]
    cost = mm_cost(a.shape[0], a.shape[1], b.shape[1], bias=True)
    return cost + Cost(other=PER_ELEMENT["activation"] * numel(out))


@register_op_formula("_scaled_mm", family="matmul")
def _scaled_mm(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    a, b = args[0], args[1]
    bias = arg(args, kwargs, 4, "bias")
    return mm_cost(a.shape[0], a.shape[1], b.shape[1], bias=bias is not None)


@register_op_formula("bmm", family="matmul")
def _bmm(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    a, b = args[0], args[1]
    return mm_cost(a.shape[1], a.shape[2], b.shape[2], batch=a.shape[0])


@register_op_formula("baddbmm", family="matmul")
def _baddbmm(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    a, b = args[1], args[2]
    return mm_cost(a.shape[1], a.shape[2], b.shape[2], batch=a.shape[0], bias=True)


@register_op_formula("addbmm", family="matmul")
def _addbmm(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    a, b = args[1], args[2]
    # The batch is summed into one (m, n) result: each output accumulates batch * k products.
    outputs = a.shape[1] * b.shape[2]
    return Cost(macs=a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2], outputs=outputs, bias=outputs)


@register_op_formula("mv", family="matmul")
def _mv(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    a = args[0]
    return mm_cost(a.shape[0], a.shape[1], 1)


@register_op_formula("addmv", family="matmul")
def _addmv(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    a = args[1]
    return mm_cost(a.shape[0], a.shape[1], 1, bias=True)


@register_op_formula("addr", "addr_", family="matmul")
def _addr(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    """beta * self + alpha * outer(vec1, vec2): one product per output (a 1-term dot product) and the add."""
    return mm_cost(args[1].shape[0], 1, args[2].shape[0], bias=True)


@register_op_formula("_grouped_mm", family="matmul")
def _grouped_mm(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost | None:
    """Grouped matmul (mixture-of-experts layers): each output element is a K-term dot product, K being the
    first operand's last dim, except when both operands are 2-d: then ``offs`` splits K into the groups,
    and each group's (M, N) output sums only its own part of K."""
    a, b = args[0], args[1]
    bias = arg(args, kwargs, 3, "bias") is not None
    result = first_tensor(out)
    if result is None:
        return None  # no output tensor to count: unsupported, as when reading it raised
    if a.dim() == 2 and b.dim() == 2:
        groups = result.shape[0]
        outputs = result.numel()
        return Cost(macs=a.shape[0] * a.shape[1] * b.shape[1], outputs=outputs, bias=outputs if bias else 0) \
            if groups else ZERO
    outputs = result.numel()
    return Cost(macs=outputs * a.shape[-1], outputs=outputs, bias=outputs if bias else 0)


@register_op_formula("dot", "vdot", family="matmul")
def _dot(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    return mm_cost(1, args[0].shape[0], 1)


@register_op_formula("linear", family="matmul")
def _linear(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    x, weight = args[0], args[1]
    bias = arg(args, kwargs, 2, "bias")
    rows = math.prod(x.shape[:-1])
    return mm_cost(rows, weight.shape[-1], weight.shape[0] if weight.dim() == 2 else 1, bias=bias is not None)




@register_op_formula("_cdist_forward", family="matmul")
def _cdist(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    """Pairwise distances (B, P, M) x (B, R, M): per pair M differences and M multiply-accumulates, one root."""
    pairs = numel(out)
    width = args[0].shape[-1]
    return Cost(macs=pairs * width, outputs=pairs, other=pairs * width + pairs)


@register_op_formula("_trilinear", family="matmul")
def _trilinear(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost:
    """nn.Bilinear's kernel: i1 * i2 summed over the dims i3 lacks, then * i3 summed over the rest.

    Each operand is unsqueezed at its ``expand`` dims to one common rank; torch contracts the pair
    (i1, i2) first, then the result with i3, so those are the two contractions counted here.
    """
    i1, i2, i3, expand1, expand2, expand3, sumdim = args[:7]
    rank = i1.dim() + len(expand1)

    def full_shape(tensor: torch.Tensor, expand: Sequence[int]) -> list[int]:
        sizes: list[int] = []
        source = iter(tensor.shape)
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
