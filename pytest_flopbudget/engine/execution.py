"""How a counted forward is executed and undone: ``count()``, on real data or without any (``meta=True``).

The forward runs once under a :class:`~.scopes.LiveMeasurement`, inside :func:`~.preserve.preserved`, which puts
back what the forward changed in its module tree. ``meta=True`` runs it on meta tensors (a model built on the
meta device) or fake tensors (a real model): no real compute, no activation memory, no real data written.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator
from typing import Any, Callable

import torch
from torch import nn

from .conventions import validate_convention
from .inputs import map_tensors, normalize_inputs, packed_sequences, tensors_in
from .preserve import Preserved, preserved
from .report import Report
from .scopes import LiveMeasurement
from .tally import Fakes, Tally, thread_fakes


class _ThreadState(threading.local):
    """What this thread is doing: explicit counts in progress (watchers leave their forwards alone) and the
    watchers that want to hear of them."""

    def __init__(self) -> None:
        self.explicit = 0
        self.listeners: list[Callable[[Tally, Any, bool, str | None, list[str]], None]] = []
        self.quiet = 0


thread_state = _ThreadState()


@contextlib.contextmanager
def explicit_count() -> Iterator[None]:
    thread_state.explicit += 1
    try:
        yield
    finally:
        thread_state.explicit -= 1


@contextlib.contextmanager
def unobserved() -> Iterator[None]:
    """``count()`` calls in this block are not passed to watchers (the caller records them itself)."""
    thread_state.quiet += 1
    try:
        yield
    finally:
        thread_state.quiet -= 1


def count(
    model: nn.Module,
    inputs: Any = (),
    *,
    meta: bool = False,
    convention: str = "full",
    name: str | None = None,
) -> Report:
    """Measure one forward call of ``model(inputs)``: FLOPs, MACs, params, per module and per op.

    ``meta=True`` runs the forward on fake tensors: no real compute, no activation memory, the same counts.
    The model and inputs are left exactly as they were, also when the forward raises. Inside a ``watch()``
    block with ``on_count``, the measurement is also handed to the watcher.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    validate_convention(convention)
    if not isinstance(meta, bool):
        raise TypeError(f"meta: expected True or False, got {meta!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name: expected a string or None, got {type(name).__name__}")
    named: Iterator[tuple[str, nn.Module]] = model.named_modules()  # torch leaves named_modules unannotated
    lazy = [n for n, m in named if isinstance(m, nn.modules.lazy.LazyModuleMixin) and m.has_uninitialized_params()]
    if lazy:
        raise ValueError(
            f"model: {type(model).__name__} has uninitialized lazy modules ({', '.join(repr(n) for n in lazy[:3])}); "
            "measuring would initialize them. Run one forward first, then count"
        )
    args, kwargs = normalize_inputs(inputs)
    with explicit_count():
        run = _run_meta if meta else _run_real
        measurement, kept = run(model, args, kwargs)
    if not thread_state.quiet:
        for listener in list(thread_state.listeners):
            listener(measurement.tally, (args, kwargs), meta, name, kept.modified_params)
    return measurement.tally.report(convention, (args, kwargs), meta=meta, name=name,
                                    modified_params=kept.modified_params)


def _forward(model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], fake: Fakes | None = None,
             meta: bool = False) -> LiveMeasurement:
    keep_real = tuple(s.batch_sizes for s in packed_sequences((args, kwargs))) if fake is not None else ()
    measurement = LiveMeasurement(model, fake, keep_real, meta=meta)
    measurement.start()
    try:
        model(*args, **kwargs)
    finally:
        measurement.stop()
    return measurement


def _run_real(model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[LiveMeasurement, Preserved]:
    with preserved(model, list(tensors_in((args, kwargs)))) as kept:
        measurement = _forward(model, args, kwargs)
    return measurement, kept


def _run_meta(model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[LiveMeasurement, Preserved]:
    """A forward without data: no real compute, no activation memory, no real tensor written.

    A model built on the meta device runs on meta tensors, the fastest way (a 7B configuration in a third of
    a second). If its forward needs more than meta tensors give (transformers skips value checks only for
    fake tensors), it runs again on fake tensors. A real model runs on fake tensors, which keep the real
    device type, so most kernel choices match a real run; where one differs (the meta device runs
    attention's math path) the formulas give the same counts anyway. Every real tensor an op receives
    (parameters, inputs, tensors the forward keeps elsewhere) is swapped for a fake first, so in-place ops
    act on fakes. Modules are put back as they were in both cases, fakes never left in the model.
    """
    state = list(itertools.chain(model.parameters(), model.buffers()))
    on_meta = bool(state) and all(t.device.type == "meta" for t in state)
    try:
        with preserved(model, list(tensors_in((args, kwargs))), fake_run=True) as kept:
            measurement = None
            if on_meta:
                # Inputs follow the model to the meta device (shapes only, nothing is copied).
                args, kwargs = _to_device((args, kwargs), torch.device("meta"))
                try:
                    measurement = _forward(model, args, kwargs, meta=True)
                except Exception as error:
                    if not _is_data_limit(error):
                        raise
            if measurement is None:
                fakes = thread_fakes()
                fakes.active = True
                try:
                    with fakes.mode:
                        if state and not on_meta:  # meta inputs to a real model stand for inputs on its device
                            args, kwargs = _to_device((args, kwargs), state[0].device, only_meta=True)
                        args, kwargs = map_tensors((args, kwargs), fakes)  # batch sizes stay real
                        measurement = _forward(model, args, kwargs, fakes, meta=True)
                finally:
                    fakes.active = False
        return measurement, kept
    except Exception as error:
        if not _is_data_limit(error):
            raise
        raise RuntimeError(
            f"meta=True cannot run {type(model).__name__}: its forward depends on tensor values or data "
            f"({error}); measure it with meta=False"
        ) from error


def _is_data_limit(error: Exception) -> bool:
    """Errors that come from running without data, not from the model: those get a meta=False hint."""
    from torch._subclasses import fake_tensor

    limits = tuple(getattr(fake_tensor, name) for name in (
        "DataDependentOutputException", "DynamicOutputShapeException", "UnsupportedOperatorException",
        "UnsupportedFakeTensorException", "FakeTensorDeviceMismatchError") if hasattr(fake_tensor, name))
    if isinstance(error, limits):
        return True
    message = str(error)
    return isinstance(error, (NotImplementedError, RuntimeError)) and any(
        marker in message for marker in ("meta tensor", "register_meta", "Meta tensor", "data is not allocated",
                                         "FakeTensor Device Propagation"))  # torch < 2.6's device mismatch


def _to_device(value: Any, device: torch.device, only_meta: bool = False) -> Any:
    """Empty stand-ins on ``device`` for the (meta, if ``only_meta``) tensors in nested inputs."""

    def stand_in(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.device == device or (only_meta and tensor.device.type != "meta"):
            return tensor
        return torch.empty_strided(tensor.shape, tensor.stride(), dtype=tensor.dtype, device=device)

    return map_tensors(value, stand_in)
