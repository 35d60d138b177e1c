"""Data movement and creation: zero cost by declaration (views, copies, indexing, factories, random draws)."""

from __future__ import annotations

import torch

from .registry import declare_zero_cost

DATA_MOVEMENT = """
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
    positive conj resolve_conj resolve_neg _conj _neg_view item _linalg_check_errors squeeze_ unsqueeze_ t_ transpose_
    swapdims_ swapaxes_ as_strided_ detach_ squeeze_copy unsqueeze_copy view_copy permute_copy transpose_copy t_copy
    expand_copy slice_copy select_copy alias_copy detach_copy _unsafe_view_copy
""".split()

declare_zero_cost(*DATA_MOVEMENT)
if hasattr(torch.ops, "prim") and hasattr(torch.ops.prim, "device"):
    declare_zero_cost(torch.ops.prim.device)  # fake tensors ask for their device
