"""What a forward may change on its own, saved before a measurement and put back after it, on every path.

A measured forward is the user's code: it may flip a submodule's training mode, toggle ``requires_grad``,
rebind or register parameters, buffers and submodules (``self.steps = self.steps + 1``), update buffer values
(BatchNorm statistics) and draw random numbers. All of that is undone here, also when the forward raises.
Parameter *data* changed in place is not copied back (that would cost a copy of the model); it is detected
with tensor version counters and named on the report instead.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch import nn


@dataclass
class Preserved:
    """Filled in when the preserved block ends: what could not be put back."""

    modified_params: list[str] = field(default_factory=list)


@contextlib.contextmanager
def preserved(model: nn.Module, tensors: list[torch.Tensor], *, buffer_values: bool = True,
              versions: bool = True) -> Iterator[Preserved]:
    """Undo everything ``model``'s forward changes in the module tree, on exit, whatever happens.

    ``tensors`` are the call's input tensors (only their devices matter: which CUDA RNGs to fork).
    For runs on fake tensors, which cannot write real data, ``buffer_values=False`` skips copying buffer
    values and ``versions=False`` skips detecting in-place parameter changes (a fake's version is not data).
    """
    modules = list(model.modules())
    slots = [(module, _slot_snapshot(module)) for module in modules]
    modes = [(module, module.training) for module in modules]
    named_params = list(model.named_parameters(remove_duplicate=True))
    grads = [(parameter, parameter.requires_grad) for _, parameter in named_params]
    before = [(name, parameter, parameter._version) for name, parameter in named_params] if versions else []
    buffers = [(buffer, buffer.detach().clone()) for buffer in mutable_buffers(model)] if buffer_values else []
    cuda = sorted({t.device.index or 0 for t in itertools.chain(model.parameters(), tensors)
                   if t.device.type == "cuda"})
    outcome = Preserved()
    try:
        with torch.random.fork_rng(devices=cuda):
            yield outcome
    finally:
        for module, snapshot in slots:
            _restore_slots(module, snapshot)
        for module, training in modes:
            if module.training is not training:
                module.training = training  # this module only: .train() would recurse into children
        for parameter, requires_grad in grads:
            if parameter.requires_grad is not requires_grad:
                parameter.requires_grad_(requires_grad)
        with torch.no_grad():
            for buffer, saved in buffers:
                # Kernels such as batch norm update statistics without bumping _version: compare values.
                if not torch.equal(buffer, saved):
                    buffer.copy_(saved)
        outcome.modified_params = [name for name, parameter, version in before if parameter._version != version]


_SLOTS = ("_parameters", "_buffers", "_modules")


def _slot_snapshot(module: nn.Module) -> list[tuple[str, dict[str, Any]]]:
    return [(slot, dict(getattr(module, slot).items())) for slot in _SLOTS]


def _restore_slots(module: nn.Module, snapshot: list[tuple[str, dict[str, Any]]]) -> None:
    for slot, saved in snapshot:
        current = getattr(module, slot)
        if isinstance(current, dict):
            if current.keys() != saved.keys() or any(current[key] is not value for key, value in saved.items()):
                current.clear()
                current.update(saved)
            continue
        # A TorchScript module's slots are views of its C++ module: no keys can be added or removed there,
        # only values rebound (``self.steps = self.steps + 1`` in a scripted forward).
        for key, value in saved.items():
            if current[key] is not value:
                current[key] = value


def mutable_buffers(model: nn.Module) -> list[torch.Tensor]:
    """Buffers a forward might change: any of a custom module, and those of torch.nn modules in training
    mode (BatchNorm statistics). torch.nn's own modules leave their buffers alone in eval mode, which
    spares copying every statistic of an eval-mode CNN on each count."""
    seen: set[int] = set()
    mutable = []
    for module in model.modules():
        if not module.training and type(module).__module__.startswith("torch.nn."):
            continue
        for buffer in module._buffers.values():
            if (buffer is not None and buffer.device.type != "meta" and id(buffer) not in seen
                    and not isinstance(buffer, nn.parameter.UninitializedBuffer)):
                seen.add(id(buffer))
                mutable.append(buffer)
    return mutable
