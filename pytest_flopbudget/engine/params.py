"""Parameter and buffer accounting: each unique tensor once, split into trainable and frozen."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import torch
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
    # Packed quantized weights are not nn.Parameters and nothing can train them: always frozen.
    packed = [(tensor, dtype, False) for owner in module.modules() for tensor, dtype in packed_tensors(owner)]
    plain = ((p, p.dtype, p.requires_grad) for p in module.parameters())
    for parameter, dtype, trainable_tensor in itertools.chain(plain, packed):
        count = int(parameter.numel())  # a traced 0-dim tensor under torch.jit.trace
        if trainable_tensor:
            trainable += count
        else:
            frozen += count
        size = _bytes(count, dtype)
        param_bytes += size
        name = str(dtype).replace("torch.", "")
        by_dtype[name] = by_dtype.get(name, 0) + size
    buffers = buffer_bytes = 0
    for buffer in module.buffers():
        buffers += int(buffer.numel())
        buffer_bytes += int(buffer.numel()) * buffer.element_size()
    return ParamSummary(trainable + frozen, trainable, frozen, buffers, param_bytes, buffer_bytes, by_dtype)


def count_params(module: nn.Module) -> int:
    """A module's own recursive parameter count, shared tensors once (packed quantized weights included)."""
    packed = sum(int(tensor.numel()) for owner in module.modules() for tensor, _ in packed_tensors(owner))
    return sum(parameter.numel() for parameter in module.parameters()) + packed


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
        tensors: dict[Any, int] = {id(p): p.numel() for p in module._parameters.values() if p is not None}
        for index, (tensor, _) in enumerate(packed_tensors(module)):
            tensors[("packed", id(module), index)] = tensor.numel()
        for child in module._modules.values():
            if child is not None:
                tensors.update(visit(child))
        owned[id(module)] = tensors
        return tensors

    visit(root)
    return {key: sum(tensors.values()) for key, tensors in owned.items()}


# ------------------------------------------------------------------------------- packed quantized weights

#: bits per element of the sub-byte quantized dtypes (their itemsize says one byte)
_SUB_BYTE_BITS = {torch.quint4x2: 4, torch.quint2x4: 2}


def _bytes(count: int, dtype: torch.dtype) -> int:
    bits = _SUB_BYTE_BITS.get(dtype)
    return (count * bits + 7) // 8 if bits is not None else count * dtype.itemsize


#: Where the modules that keep packed weights (and their ``_packed_params`` holders) are defined.
_QUANTIZED_NAMESPACES = ("torch.ao.nn.quantized", "torch.nn.quantized", "torch.ao.nn.intrinsic.quantized",
                         "torch.nn.intrinsic.quantized", "torch.ao.nn.quantizable")


def packed_tensors(module: nn.Module) -> list[tuple[torch.Tensor, torch.dtype]]:
    """(tensor, storage dtype) for each weight and bias ``module`` itself keeps packed, not as nn.Parameters.

    torch.ao quantized modules (dynamic and static Linear, Conv, Embedding, the dynamic RNNs) hold their
    weights in TorchBind objects (``LinearPackedParamsBase``, ``Conv2dPackedParamsBase``, ``CellParamsBase``,
    ...) stored as plain attributes; ``parameters()`` never sees them. Each is unpacked here. Float16 dynamic
    packing keeps its weights in float16 although unpacking returns them as float32: they are reported as
    float16. Other modules hold no such objects and return nothing.
    """
    found: list[tuple[torch.Tensor, torch.dtype]] = []
    if not type(module).__module__.startswith(_QUANTIZED_NAMESPACES):
        return found  # only torch.ao's quantized modules pack weights: skip the attribute scan for the rest
    for value in vars(module).values():
        if isinstance(value, torch.ScriptObject):
            found.extend(_unpack(value, half=torch.float16 in (getattr(module, "dtype", None),
                                                                getattr(module, "weight_dtype", None))))
    return found


def _unpack(packed: Any, half: bool) -> list[tuple[torch.Tensor, torch.dtype]]:
    try:
        return _unpack_known(packed, half)
    except Exception:  # a TorchBind class of another layout: it holds no weights this code can read
        return []


def _unpack_known(packed: Any, half: bool) -> list[tuple[torch.Tensor, torch.dtype]]:
    methods = packed._method_names()
    if "unpack" in methods:
        unpacked = packed.unpack()
        tensors = list(unpacked) if isinstance(unpacked, (tuple, list)) else [unpacked]
        found = []
        if "bit_rate" in methods:  # embedding packing: 8, 4 or 2 bits per element whatever unpack returns
            stored = {4: torch.quint4x2, 2: torch.quint2x4}.get(int(packed.bit_rate()))
            if stored is not None:
                return [(tensor, stored) for tensor in tensors if isinstance(tensor, torch.Tensor)]
        for index, tensor in enumerate(tensors):
            if isinstance(tensor, torch.Tensor):
                # The weight (first) of a float16 packing is stored in float16; its bias stays float32.
                found.append((tensor, torch.float16 if half and index == 0 and tensor.is_floating_point()
                              else tensor.dtype))
        return found
    if packed._type().qualified_name().endswith(".CellParamsBase"):
        # A dynamic RNN's layer-direction: ((kind, tensors, doubles, longs, packed [ih, hh]), ...).
        fields = packed.__getstate__()[0]
        kind = fields[0] if fields and isinstance(fields[0], str) else ""
        nested = fields[4] if len(fields) > 4 else []
        if nested:  # the packed weights carry their biases; the plain tensors repeat them
            half = half or "fp16" in kind
            return [item for inner in nested if isinstance(inner, torch.ScriptObject)
                    for item in _unpack_known(inner, half)]
        return [(tensor, tensor.dtype) for tensor in fields[1] if isinstance(tensor, torch.Tensor)]
    return []
