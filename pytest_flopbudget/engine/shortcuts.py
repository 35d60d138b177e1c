"""Outputs answered from shapes alone under ``meta=True``, for work whose cost does not need it to run.

Fake tensors run most ops through Python meta kernels and a cache keyed on every argument: a few hundred
microseconds an op, more than the real kernel of a small CNN layer. The commonest ops of vision and language
models (normalizations, activations, convolutions, factories) have outputs whose shapes follow from their
inputs' in a line or two; here they are answered directly. An answer is only ever an empty tensor of the right
shape, dtype, device and memory format: the op is still costed by its formula, from the same arguments.
Anything unusual (another layout, a missing argument) returns None, and the op runs as before.

RNN kernels are answered one level up, at the torch function they are called through (``torch.lstm`` ...),
but only inside an RNN module, which the module formula costs from the output's shape: on the meta device
their composite implementation otherwise loops over every time step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Optional

import torch
from torch._ops import OpOverload
from torch.overrides import TorchFunctionMode

aten = torch.ops.aten

#: make(shape, dtype, device, memory_format): an empty tensor (a fake one, or a meta one).
Maker = Callable[[Sequence[int], torch.dtype, torch.device, Optional[torch.memory_format]], torch.Tensor]
#: answer(make, args, kwargs): the op's outputs, or None to run it as usual.
Answer = Callable[[Maker, tuple[Any, ...], dict[str, Any]], Any]


def _like(make: Maker, tensor: torch.Tensor, shape: Sequence[int] | None = None) -> torch.Tensor:
    """An empty tensor like ``tensor`` (its dtype, device and memory format), of ``shape`` if given."""
    shape = tuple(tensor.shape) if shape is None else tuple(shape)
    channels_last = tensor.dim() == 4 and len(shape) == 4 and not tensor.is_contiguous() \
        and tensor.is_contiguous(memory_format=torch.channels_last)
    return make(shape, tensor.dtype, tensor.device, torch.channels_last if channels_last else None)


def _same_shape(make: Maker, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not args or not isinstance(args[0], torch.Tensor) or (kwargs and "out" in kwargs):
        return None
    return _like(make, args[0])


def _in_place(make: Maker, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return args[0] if args and isinstance(args[0], torch.Tensor) else None


def _batch_norm(training_index: int | None) -> Answer:
    """(output, save_mean, save_invstd): per-channel statistics when training, empty ones otherwise.

    ``training_index``: where the op's ``training`` flag is; None for the ops that never train.
    """

    def answer(make: Maker, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        x = args[0]
        if kwargs or (training_index is not None and len(args) <= training_index):
            return None
        training = training_index is not None and bool(args[training_index])
        channels = x.shape[1] if x.dim() > 1 else 1
        stats = (channels,) if training else (0,)
        return (_like(make, x), make(stats, x.dtype, x.device, None), make(stats, x.dtype, x.device, None))

    return answer


def _layer_norm(make: Maker, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """(output, mean, rstd): statistics keep the leading dims, with the normalized ones as 1."""
    if kwargs or len(args) < 2:
        return None
    x, normalized = args[0], list(args[1])
    stats = list(x.shape[: x.dim() - len(normalized)]) + [1] * len(normalized)
    return (_like(make, x), make(stats, x.dtype, x.device, None), make(stats, x.dtype, x.device, None))


def _convolution(make: Maker, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """aten.convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)."""
    if kwargs or len(args) < 9:
        return None
    x, weight, _bias, stride, padding, dilation, transposed, output_padding, groups = args[:9]
    spatial = x.dim() - 2
    if spatial < 1 or weight.dim() != x.dim() or not all(len(v) in (1, spatial) for v in
                                                         (stride, padding, dilation, output_padding)):
        return None

    def nth(values: Any, index: int) -> int:
        return int(values[index] if len(values) > 1 else values[0])

    sizes = []
    for dim in range(spatial):
        size, kernel = x.shape[dim + 2], weight.shape[dim + 2]
        s, p, d = nth(stride, dim), nth(padding, dim), nth(dilation, dim)
        if transposed:
            sizes.append((size - 1) * s - 2 * p + d * (kernel - 1) + nth(output_padding, dim) + 1)
        else:
            sizes.append((size + 2 * p - d * (kernel - 1) - 1) // s + 1)
    if any(size <= 0 for size in sizes):
        return None  # let torch raise its own error
    channels = weight.shape[1] * groups if transposed else weight.shape[0]
    return _like(make, x, [x.shape[0], channels, *sizes])


def _empty(make: Maker, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """aten.empty.memory_format(size, *, dtype, layout, device, pin_memory, memory_format)."""
    if kwargs.get("layout") not in (None, torch.strided) or kwargs.get("pin_memory"):
        return None
    dtype = kwargs.get("dtype") or torch.get_default_dtype()
    device = kwargs.get("device") or torch.device("cpu")
    memory_format = kwargs.get("memory_format")
    if memory_format not in (None, torch.contiguous_format, torch.preserve_format):
        return None
    return make(tuple(args[0]), dtype, torch.device(device), None)


_ACTIVATIONS = ("relu", "gelu", "silu", "sigmoid", "tanh", "hardswish", "hardsigmoid", "hardtanh", "leaky_relu",
                "elu", "mish", "relu6")

#: op overload -> answer(make, args, kwargs); None from an answer means "run it as usual".
ANSWERS: dict[OpOverload, Answer] = {
    aten.native_batch_norm.default: _batch_norm(5),
    aten._native_batch_norm_legit.default: _batch_norm(5),
    aten._native_batch_norm_legit_no_training.default: _batch_norm(None),
    aten.native_layer_norm.default: _layer_norm,
    aten.convolution.default: _convolution,
    aten.empty.memory_format: _empty,
}
for _name in _ACTIVATIONS:
    _packet = getattr(aten, _name, None)
    if _packet is None:
        continue
    if hasattr(_packet, "default"):
        ANSWERS[_packet.default] = _same_shape
    _in_place_packet = getattr(aten, f"{_name}_", None)
    if _in_place_packet is not None and hasattr(_in_place_packet, "default"):
        ANSWERS[_in_place_packet.default] = _in_place


# ---------------------------------------------------------------------------------------------- RNNs

_RNN_FUNCTIONS: dict[Callable[..., Any], int] = {torch.lstm: 3, torch.gru: 2, torch.rnn_tanh: 2, torch.rnn_relu: 2}


def rnn_outputs(func: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """The outputs of ``torch.lstm``/``gru``/``rnn_*`` from their arguments' shapes, or None if unsure.

    Padded form: (input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first);
    packed form: (data, batch_sizes, hx, params, has_biases, num_layers, dropout, train, bidirectional).
    """
    outputs = _RNN_FUNCTIONS.get(func)
    if outputs is None or len(args) < 9:
        return None
    packed = isinstance(args[3], (list, tuple))  # params sit at 3 in the packed form, has_biases in the padded
    data, hx, bidirectional = args[0], args[2] if packed else args[1], args[8] if packed else args[7]
    hidden = list(hx) if isinstance(hx, (list, tuple)) else [hx]
    if not hidden or not all(isinstance(h, torch.Tensor) for h in hidden):
        return None
    width = (2 if bidirectional else 1) * hidden[0].shape[-1]
    output = data.new_empty((*data.shape[:-1], width))
    states = tuple(h.new_empty(h.shape) for h in hidden)
    return (output, *states)[:outputs]


class RnnShapes(TorchFunctionMode):
    """Answers RNN kernels from shapes; entered only while a module costed by its own formula runs."""

    def __torch_function__(self, func: Callable[..., Any], types: tuple[type, ...], args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if func in _RNN_FUNCTIONS and not kwargs:
            outputs = rnn_outputs(func, args)
            if outputs is not None:
                return outputs
        return func(*args, **kwargs)


def meta_maker(shape: Sequence[int], dtype: torch.dtype, device: torch.device,
               memory_format: torch.memory_format | None) -> torch.Tensor:
    """An empty meta tensor (the ``make`` of runs on the meta device)."""
    from torch.utils._mode_utils import no_dispatch

    with no_dispatch():
        tensor = torch.empty(shape, dtype=dtype, device="meta")
        return tensor.contiguous(memory_format=memory_format) if memory_format is not None else tensor
