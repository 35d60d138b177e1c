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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class Preserved:
    """Filled in when the preserved block ends: what could not be put back."""

    modified_params: list[str] = field(default_factory=list)


@contextlib.contextmanager
def preserved(model: nn.Module, tensors: list[torch.Tensor], *, fake_run: bool = False) -> Iterator[Preserved]:
    """Undo everything ``model``'s forward changes in the module tree, on exit, whatever happens.

    ``tensors`` are the call's input tensors (only their devices matter: which CUDA RNGs to fork).
    ``fake_run``: the forward runs on fake tensors, which cannot write real data, so buffer values are not
    copied and version counters say nothing. Every plain attribute the forward sets or fills on a module is put
    back in both cases: after a meta run a fake left in a cache would break the model's next real forward, and
    after a real one the model would not be as it was (old-style spectral norm recomputes ``.weight``).
    """
    modules = list(model.modules())
    slots = [(module, _slot_snapshot(module)) for module in modules]
    modes = [(module, module.__dict__.get("training")) for module in modules]  # frozen TorchScript has none
    named_params = list(model.named_parameters(remove_duplicate=True))
    named_buffers = list(model.named_buffers(remove_duplicate=True))
    grads = [(parameter, parameter.requires_grad, parameter.grad) for _, parameter in named_params]
    # A forward may rebind a tensor's data (``self.weight.data = self.weight.data * 0.5``): kept as aliases.
    datas = [(tensor, tensor.data) for _, tensor in itertools.chain(named_params, named_buffers)]
    before = [] if fake_run else [(name, parameter, parameter._version) for name, parameter in named_params]
    buffers = [] if fake_run else [(buffer, buffer.detach().clone()) for buffer in real_buffers(model)]
    attributes = [(module, _attribute_snapshot(module)) for module in modules]
    cuda = sorted({t.device.index or 0 for t in itertools.chain(model.parameters(), tensors)
                   if t.device.type == "cuda"})
    outcome = Preserved()
    try:
        with torch.random.fork_rng(devices=cuda):
            yield outcome
    finally:
        for module, snapshot in slots:
            _restore_slots(module, snapshot)
        for module, attribute_snapshot in attributes:
            _restore_attributes(module, attribute_snapshot)
        for module, training in modes:
            if training is not None and module.training is not training:
                module.training = training  # this module only: .train() would recurse into children
        for tensor, data in datas:
            if _data_rebound(tensor, data):
                with torch.no_grad():
                    tensor.data = data
        for parameter, requires_grad, grad in grads:
            if parameter.requires_grad is not requires_grad:
                parameter.requires_grad_(requires_grad)
            if parameter.grad is not grad:
                parameter.grad = grad
        with torch.no_grad():
            for buffer, saved in buffers:
                # Kernels such as batch norm update statistics without bumping _version: compare values.
                if not torch.equal(buffer, saved):
                    buffer.copy_(saved)
        outcome.modified_params = [name for name, parameter, version in before if parameter._version != version]


def _data_rebound(tensor: torch.Tensor, data: torch.Tensor) -> bool:
    """Whether ``tensor.data`` is no longer ``data``'s storage (asked without reading a fake's data pointer)."""
    from torch._subclasses.fake_tensor import FakeTensor

    current = tensor.data
    if isinstance(current, FakeTensor) or type(current) is not type(data):
        return True
    return current.device != data.device or current.shape != data.shape or current.dtype != data.dtype \
        or current.data_ptr() != data.data_ptr()


#: A module's registries a forward may add to: parameters, buffers, submodules and hooks.
_SLOTS = ("_parameters", "_buffers", "_modules", "_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
          "_backward_pre_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
          "_forward_pre_hooks_with_kwargs")


def _slot_snapshot(module: nn.Module) -> list[tuple[str, dict[str, Any]]]:
    snapshot = []
    for slot in _SLOTS:
        current = module.__dict__.get(slot)  # not getattr: a TorchScript module answers for its C++ side
        if current is not None and hasattr(current, "items"):
            snapshot.append((slot, dict(current.items())))
    return snapshot


def _restore_slots(module: nn.Module, snapshot: list[tuple[str, dict[str, Any]]]) -> None:
    for slot, saved in snapshot:
        current = module.__dict__[slot]
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


def _attribute_snapshot(module: nn.Module) -> tuple[dict[str, Any], dict[str, Any]]:
    """A module's plain attributes, and shallow copies of those that are containers (caches)."""
    attributes = {key: value for key, value in module.__dict__.items() if key not in _SLOTS}
    contents = {key: (dict(value) if isinstance(value, dict) else list(value))
                for key, value in attributes.items() if type(value) in (dict, list)}
    return attributes, contents


def _restore_attributes(module: nn.Module, snapshot: tuple[dict[str, Any], dict[str, Any]]) -> None:
    attributes, contents = snapshot
    current = module.__dict__
    for key in [key for key in current if key not in _SLOTS and key not in attributes]:
        del current[key]  # set by the forward
    for key, value in attributes.items():
        if current.get(key, _MISSING) is not value:
            current[key] = value
    for key, saved in contents.items():
        container = attributes[key]
        if isinstance(container, dict):
            if container.keys() != saved.keys() or any(container[k] is not v for k, v in saved.items()):
                container.clear()
                container.update(saved)
        elif len(container) != len(saved) or any(a is not b for a, b in zip(container, saved)):
            container[:] = saved


_MISSING = object()


def real_buffers(model: nn.Module) -> list[torch.Tensor]:
    """Every real buffer: a forward may change any (a parent can switch an eval-mode BatchNorm to training
    for one call), and buffers are small next to parameters (BatchNorm keeps two per channel)."""
    seen: set[int] = set()
    mutable = []
    for module in model.modules():
        for buffer in module._buffers.values():
            if (buffer is not None and buffer.device.type != "meta" and id(buffer) not in seen
                    and not isinstance(buffer, nn.parameter.UninitializedBuffer)):
                seen.add(id(buffer))
                mutable.append(buffer)
    return mutable
