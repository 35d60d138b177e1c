"""Costs of the fused transformer fast paths, by replaying the composite path they stand for.

In eval mode under no_grad, nn.MultiheadAttention and nn.TransformerEncoderLayer call one fused aten op
each. Writing their costs by hand would drift from the slow path that other devices run (the meta device
always takes it), so each formula replays the slow path on meta tensors of the same shapes and sums it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..replay import Deferred
from .registry import register_op_formula


def _attention_masks(mask: Any, mask_type: Any, batch: int, heads: int) -> tuple[Any, Any]:
    """The fast path merges masks; mask_type 1 is a key padding mask, otherwise an attention mask."""
    if mask is None:
        return None, None
    if mask_type == 1:
        return None, mask
    if mask.dim() == 4:
        mask = mask.reshape(batch * heads, mask.shape[-2], mask.shape[-1])
    return mask, None


def _batch_first_to_seq_first(query: Any, key: Any, value: Any) -> tuple[Any, Any, Any]:
    q = query.transpose(0, 1)
    k = q if key is query else key.transpose(0, 1)
    v = k if value is key else (q if value is query else value.transpose(0, 1))
    return q, k, v


def _mha_reference(query, key, value, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias,
                   mask=None, need_weights=True, average_attn_weights=True, mask_type=None):
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


def _encoder_layer_reference(src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias, use_gelu,
                             norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2, norm_bias_2, ffn_weight_1,
                             ffn_bias_1, ffn_weight_2, ffn_bias_2, mask=None, mask_type=None):
    """nn.TransformerEncoderLayer's slow path (batch_first, eval) for aten._transformer_encoder_layer_fwd."""

    def self_attention(x):
        return _mha_reference(x, x, x, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias,
                              mask=mask, need_weights=False, mask_type=mask_type)[0].transpose(0, 1)

    def feed_forward(x):
        hidden = F.linear(x, ffn_weight_1, ffn_bias_1)
        hidden = F.gelu(hidden) if use_gelu else F.relu(hidden)
        return F.linear(hidden, ffn_weight_2, ffn_bias_2)

    shape = (embed_dim,)
    if norm_first:
        x = src + self_attention(F.layer_norm(src, shape, norm_weight_1, norm_bias_1, eps))
        return x + feed_forward(F.layer_norm(x, shape, norm_weight_2, norm_bias_2, eps))
    x = F.layer_norm(src + self_attention(src), shape, norm_weight_1, norm_bias_1, eps)
    return F.layer_norm(x + feed_forward(x), shape, norm_weight_2, norm_bias_2, eps)


def _replay(reference):
    def formula(args, kwargs, out):
        if any(isinstance(a, torch.Tensor) and a.is_nested for a in args):
            return None  # nested (padding-skipping) inputs: reported unsupported rather than guessed
        return Deferred(reference, args, kwargs)

    return formula


register_op_formula("_native_multi_head_attention", family="attention")(_replay(_mha_reference))
register_op_formula("_transformer_encoder_layer_fwd", family="attention")(_replay(_encoder_layer_reference))


