"""A fused op's call, kept as shapes so its cost can be found later by replaying the composite path it stands for.

The replay cannot run inside ``__torch_dispatch__`` (autograd keys are excluded there, so composite ops would
not decompose): a formula returns a :class:`Deferred`, and the tally replays it once the forward has returned.
"""

from __future__ import annotations

from typing import Any, Callable

import torch


class _TensorSpec:
    """Marker type inside Deferred argument specs."""


#: What a replay's cost is cached by: the reference, then its positional and keyword arguments as specs.
ReplayKey = tuple[Callable[..., Any], tuple[Any, ...], tuple[tuple[str, Any], ...]]


class Deferred:
    """A call of ``reference`` with tensor arguments kept as (shape, dtype) specs, identity preserved
    (``q is k`` selects the packed projection in attention)."""

    def __init__(self, reference: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.reference = reference
        specs: dict[int, tuple[type[_TensorSpec], int, tuple[int, ...], torch.dtype]] = {}

        def spec(value: Any) -> Any:
            if isinstance(value, torch.Tensor):
                return specs.setdefault(id(value), (_TensorSpec, len(specs), tuple(value.shape), value.dtype))
            return value

        self.args = tuple(spec(a) for a in args)
        self.kwargs = tuple((k, spec(v)) for k, v in kwargs.items())

    def key(self) -> ReplayKey:
        """Equal for calls with equal shapes, dtypes and other arguments: their replays cost the same."""
        return (self.reference, self.args, self.kwargs)

    def call(self) -> Any:
        """Run ``reference`` on meta tensors of the recorded shapes (under whatever modes the caller set)."""
        tensors: dict[int, torch.Tensor] = {}

        def build(value: Any) -> Any:
            if isinstance(value, tuple) and value and value[0] is _TensorSpec:
                _, index, shape, dtype = value
                if index not in tensors:
                    tensors[index] = torch.empty(shape, dtype=dtype, device="meta")
                return tensors[index]
            return value

        return self.reference(*[build(a) for a in self.args], **{k: build(v) for k, v in self.kwargs})
