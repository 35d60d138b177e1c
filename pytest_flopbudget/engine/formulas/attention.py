"""Scaled dot-product attention, every kernel: Q*K^T and A*V plus the per-element work of the math path."""

from __future__ import annotations

import math
from typing import Any

from ..conventions import Cost
from .registry import PER_ELEMENT, Formula, OpArgs, OpKwargs, arg, register_op_formula


def attention_cost(q_shape: tuple[int, ...], s: int, ev: int, *, masked: bool, dropout: bool) -> Cost:
    """Every scaled-dot-product kernel, costed as the math path computes it.

    q is (*batch, heads, L, E) with the query heads (GQA/MQA keys are broadcast to them); s is the key
    length and ev the value width. Contractions: Q K^T (L*S*E) and A V (L*S*Ev) per head. Elementwise,
    as in torch's math path: q and k scaled once each, the mask (or causal mask) added, a softmax over
    L*S, and dropout's mask and rescale. Causal masking does not halve the count: the dense product is
    what the math path computes and what every fused kernel matches on non-causal inputs.
    """
    *batch, length, e = q_shape
    heads = math.prod(batch)
    scores = heads * length * s
    macs = scores * e + scores * ev
    other = heads * (length * e + s * e) + PER_ELEMENT["softmax"] * scores
    if masked:
        other += scores
    if dropout:
        other += PER_ELEMENT["dropout"] * scores
    return Cost(macs=macs, outputs=scores + heads * length * ev, other=other)


def _sdpa(mask_index: int | None, mask_name: str, dropout_index: int, causal_index: int,
          layout_bhle: bool = True) -> Formula:
    def formula(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost | None:
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
