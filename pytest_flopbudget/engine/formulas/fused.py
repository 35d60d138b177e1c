"""Costs of the fused transformer fast paths, by replaying the composite path they stand for.

In eval mode under no_grad, nn.MultiheadAttention and nn.TransformerEncoderLayer call one fused aten op
each. Writing their costs by hand would drift from the slow path that other devices run (the meta device
always takes it), so each formula replays the slow path on meta tensors of the same shapes and sums it.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..replay import Deferred
from .registry import Formula, OpArgs, OpKwargs, register_op_formula


def _attention_masks(mask: torch.Tensor | None, mask_type: int | None, batch: int,
                     heads: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The fast path merges masks; mask_type 1 is a key padding mask, otherwise an attention mask."""
    if mask is None:
        return None, None
    if mask_type == 1:
        return None, mask
    if mask.dim() == 4:
        mask = mask.reshape(batch * heads, mask.shape[-2], mask.shape[-1])
    return mask, None


def _batch_first_to_seq_first(query: torch.Tensor, key: torch.Tensor,
                              value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    q = query.transpose(0, 1)
    k = q if key is query else key.transpose(0, 1)
    v = k if value is key else (q if value is query else value.transpose(0, 1))
    return q, k, v


def _mha_reference(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, embed_dim: int, num_heads: int,
                   qkv_weight: torch.Tensor, qkv_bias: torch.Tensor, proj_weight: torch.Tensor,
                   proj_bias: torch.Tensor, mask: torch.Tensor | None = None, need_weights: bool = True,
                   average_attn_weights: bool = True,
                   mask_type: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """nn.MultiheadAttention's slow path for the arguments of aten._native_multi_head_attention."""
    batched = query.dim() == 3
    if batched:
        query, key, value = _batch_first_to_seq_first(query, key, value)
    attn_mask, padding_mask = _attention_masks(mask, mask_type, query.shape[1] if batched else 1, num_heads)
    return F.multi_head_attention_forward(
        query, key, value, embed_dim, num_heads, qkv_weight, qkv_bias, None, None, False, 0.0, proj_weight,
        proj_bias, training=False, key_padding_mask=padding_mask, need_weights=need_weights, attn_mask=attn_mask,
        average_attn_weights=average_attn_weights,
    )


def _encoder_layer_reference(src: torch.Tensor, embed_dim: int, num_heads: int, qkv_weight: torch.Tensor,
                             qkv_bias: torch.Tensor, proj_weight: torch.Tensor, proj_bias: torch.Tensor, use_gelu: bool,
                             norm_first: bool, eps: float, norm_weight_1: torch.Tensor, norm_bias_1: torch.Tensor,
                             norm_weight_2: torch.Tensor, norm_bias_2: torch.Tensor, ffn_weight_1: torch.Tensor,
                             ffn_bias_1: torch.Tensor, ffn_weight_2: torch.Tensor, ffn_bias_2: torch.Tensor,
                             mask: torch.Tensor | None = None, mask_type: int | None = None) -> torch.Tensor:
    """nn.TransformerEncoderLayer's slow path (batch_first, eval) for aten._transformer_encoder_layer_fwd."""

    def self_attention(x: torch.Tensor) -> torch.Tensor:
        return _mha_reference(x, x, x, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias,
                              mask=mask, need_weights=False, mask_type=mask_type)[0].transpose(0, 1)

    def feed_forward(x: torch.Tensor) -> torch.Tensor:
        hidden = F.linear(x, ffn_weight_1, ffn_bias_1)
        hidden = F.gelu(hidden) if use_gelu else F.relu(hidden)
        return F.linear(hidden, ffn_weight_2, ffn_bias_2)

    shape = (embed_dim,)
    if norm_first:
        x = src + self_attention(F.layer_norm(src, shape, norm_weight_1, norm_bias_1, eps))
        return x + feed_forward(F.layer_norm(x, shape, norm_weight_2, norm_bias_2, eps))
    x = F.layer_norm(src + self_attention(src), shape, norm_weight_1, norm_bias_1, eps)
    return F.layer_norm(x + feed_forward(x), shape, norm_weight_2, norm_bias_2, eps)


def _replay(reference: Callable[..., Any]) -> Formula:
    def formula(args: OpArgs, kwargs: OpKwargs, out: Any) -> Deferred | None:
        if any(isinstance(a, torch.Tensor) and a.is_nested for a in args):
            return None  # nested (padding-skipping) inputs: reported unsupported rather than guessed
        return Deferred(reference, args, kwargs)

    return formula


register_op_formula("_native_multi_head_attention", family="attention")(_replay(_mha_reference))
register_op_formula("_transformer_encoder_layer_fwd", family="attention")(_replay(_encoder_layer_reference))


