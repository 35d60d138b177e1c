"""Parameter and buffer accounting: each unique tensor once, split into trainable and frozen."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn


@dataclass
class ParamSummary:
    params: int
    trainable_params: int
    frozen_params: int
    buffers: int
    param_bytes: int
    buffer_bytes: int
    bytes_by_dtype: dict[str, int] = field(default_factory=dict)


def summarize_params(module: nn.Module) -> ParamSummary:
    """Count ``module``'s parameters and buffers.

    ``parameters()`` already yields a tied or shared tensor once (by identity), which is what a
    checkpoint stores; counting by name would count GPT-2's tied embedding twice.
    """
    trainable = frozen = param_bytes = 0
    by_dtype: dict[str, int] = {}
    for parameter in module.parameters():
        count = parameter.numel()
        if parameter.requires_grad:
            trainable += count
        else:
            frozen += count
        size = count * parameter.element_size()
        param_bytes += size
        dtype = str(parameter.dtype).replace("torch.", "")
        by_dtype[dtype] = by_dtype.get(dtype, 0) + size
    buffers = buffer_bytes = 0
    for buffer in module.buffers():
        buffers += buffer.numel()
        buffer_bytes += buffer.numel() * buffer.element_size()
    return ParamSummary(trainable + frozen, trainable, frozen, buffers, param_bytes, buffer_bytes, by_dtype)


def count_params(module: nn.Module) -> int:
    """A module's own recursive parameter count, shared tensors once."""
    return sum(parameter.numel() for parameter in module.parameters())


def params_per_module(root: nn.Module) -> dict[int, int]:
    """``count_params`` for every module under ``root`` (keyed by id), in one bottom-up pass.

    Walking each module's subtree separately costs depth x modules; here each module's unique parameter
    tensors are its own plus its children's, shared tensors (tied weights) once per module as before.
    """
    owned: dict[int, dict[int, int]] = {}

    def visit(module: nn.Module) -> dict[int, int]:
        known = owned.get(id(module))
        if known is not None:
            return known
        tensors = {id(p): p.numel() for p in module._parameters.values() if p is not None}
        for child in module._modules.values():
            if child is not None:
                tensors.update(visit(child))
        owned[id(module)] = tensors
        return tensors

    visit(root)
    return {key: sum(tensors.values()) for key, tensors in owned.items()}
