"""The engine: op-level counting under a TorchDispatchMode, attributed to modules by forward hooks.

A :class:`Tally` owns one measurement. Global module hooks keep a stack of frames (which module is
running); the dispatch mode costs every aten op with :mod:`.formulas` and adds it to the innermost
frame; a frame's total flows to its parent when the module returns. Modules with a module-level formula
(:mod:`.modules`) are costed once from their hook and the ops inside them are not counted again.

Everything is installed on entry and removed in ``finally``: no hook, mode or patch outlives a call.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import weakref
from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

from . import formulas, fused  # noqa: F401  (fused registers the transformer fast-path formulas)
from .conventions import ZERO, Cost, validate_convention
from .modules import lookup_module
from .params import count_params, params_per_module, summarize_params
from .report import ModuleStats, OpStats, Report


class _Frame:
    __slots__ = ("name", "module", "cost", "opaque")

    def __init__(self, name: str, module: nn.Module | None, opaque: bool = False) -> None:
        self.name = name
        self.module = module
        self.cost = ZERO
        self.opaque = opaque


class Tally:
    """Accumulates costs for one forward call of ``root``; :meth:`report` turns them into a Report."""

    def __init__(self, root: nn.Module | None) -> None:
        self.root = root
        self.names: dict[int, str] = {id(m): n for n, m in root.named_modules()} if root is not None else {}
        self.dynamic: dict[int, tuple[str, nn.Module]] = {}
        self.frames: list[_Frame] = [_Frame("<total>", None)]  # sentinel; the model enters like any module
        self.module_costs: dict[str, list] = {}  # name -> [Cost, calls]
        self.op_costs: dict[str, list] = {}  # op name -> [Cost, calls]
        self.unsupported: dict[str, int] = {}
        self.opaque_depth = 0
        self._lookups: dict[Any, Any] = {}
        self.pending: list[tuple[tuple[str, ...], str, Deferred]] = []

    # -- ops ------------------------------------------------------------------------------------------

    def record_op(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        if self.opaque_depth:
            return
        known = self._lookups.get(func)
        if known is None:
            known = self._lookups[func] = (str(func.overloadpacket), formulas.lookup(func))
        name, entry = known
        try:
            cost = entry[1](args, kwargs, out) if entry is not None else None
        except Exception:  # a formula that cannot read these arguments: reported, never fatal to the test
            cost = None
        if cost is None:
            self.unsupported[name] = self.unsupported.get(name, 0) + 1
        elif isinstance(cost, Deferred):
            self.pending.append((tuple(frame.name for frame in self.frames), name, cost))
            self.op_costs.setdefault(name, [ZERO, 0])[1] += 1
        elif cost is not ZERO:
            self._add(name, cost, self.frames[-1])

    def _add(self, name: str, cost: Cost, frame: _Frame) -> None:
        frame.cost = frame.cost + cost
        stats = self.op_costs.get(name)
        if stats is None:
            self.op_costs[name] = [cost, 1]
        else:
            stats[0] = stats[0] + cost
            stats[1] += 1

    # -- modules --------------------------------------------------------------------------------------

    def enter_module(self, module: nn.Module) -> None:
        name = self._name(module)
        opaque = not self.opaque_depth and lookup_module(module) is not None
        self.frames.append(_Frame(name, module, opaque))
        if opaque:
            self.opaque_depth += 1

    def exit_module(self, module: nn.Module, args: tuple, output: Any) -> None:
        if len(self.frames) == 1 or self.frames[-1].module is not module:
            return
        frame = self.frames.pop()
        if frame.opaque:
            self.opaque_depth -= 1
            op_name, formula = lookup_module(module)
            cost = formula(module, args, output)
            if cost is None:
                self.unsupported[op_name] = self.unsupported.get(op_name, 0) + 1
            else:
                self._add(op_name, cost, frame)
        self._close(frame)
        parent = self.frames[-1]
        parent.cost = parent.cost + frame.cost

    def _close(self, frame: _Frame) -> None:
        stats = self.module_costs.get(frame.name)
        if stats is None:
            self.module_costs[frame.name] = [frame.cost, 1]
        else:
            stats[0] = stats[0] + frame.cost
            stats[1] += 1

    def _name(self, module: nn.Module) -> str:
        name = self.names.get(id(module))
        if name is not None:
            return name
        known = self.dynamic.get(id(module))
        if known is not None:
            return known[0]
        parent = self.frames[-1].name
        base = f"{parent}.<{type(module).__name__}>" if parent else f"<{type(module).__name__}>"
        name = base
        for index in itertools.count(2):
            if name not in self.names.values() and all(name != n for n, _ in self.dynamic.values()):
                break
            name = f"{base}#{index}"
        self.dynamic[id(module)] = (name, module)
        return name

    # -- result ---------------------------------------------------------------------------------------

    def total(self) -> Cost:
        self._settle()
        return self.frames[0].cost

    def _settle(self) -> None:
        """Add the deferred fused-op costs to every module that was running when the op ran."""
        pending, self.pending = self.pending, []
        for path, op_name, deferred in pending:
            cost = deferred.cost()
            self.frames[0].cost = self.frames[0].cost + cost
            for module_name in path[1:]:  # path[0] is the sentinel
                self.module_costs[module_name][0] = self.module_costs[module_name][0] + cost
            self.op_costs[op_name][0] = self.op_costs[op_name][0] + cost

    def report(self, convention: str, inputs: Any, *, meta: bool, name: str | None) -> Report:
        root = self.root
        self._settle()
        summary = summarize_params(root)
        total = self.frames[0].cost
        modules: dict[str, ModuleStats] = {}
        params = params_per_module(root)
        for module_name, module in itertools.chain(root.named_modules(), self.dynamic.values()):
            cost, calls = self.module_costs.get(module_name, (ZERO, 0))
            own = params.get(id(module))
            modules[module_name] = ModuleStats(
                type=type(module).__name__, flops=cost.flops(convention), macs=cost.macs,
                params=own if own is not None else count_params(module), calls=calls,
            )
        ops = {
            op: OpStats(flops=cost.flops(convention), macs=cost.macs, calls=calls)
            for op, (cost, calls) in sorted(self.op_costs.items(), key=lambda kv: -kv[1][0].flops(convention))
        }
        return Report(
            model=type(root).__name__, convention=convention, flops=total.flops(convention), macs=total.macs,
            params=summary.params, trainable_params=summary.trainable_params, frozen_params=summary.frozen_params,
            buffers=summary.buffers, param_bytes=summary.param_bytes, buffer_bytes=summary.buffer_bytes,
            bytes_by_dtype=summary.bytes_by_dtype, input_shapes=input_shapes(inputs), modules=modules, ops=ops,
            unsupported=dict(sorted(self.unsupported.items())), meta=meta, name=name,
        )


class _OpCounter(TorchDispatchMode):
    """Runs every op unchanged and hands it to the tally."""

    def __init__(self, tally: Tally) -> None:
        super().__init__()
        self.tally = tally

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _is_composite(func):
            # Under inference_mode (and inside other kernels) composite ops such as conv2d, linear or
            # scaled_dot_product_attention arrive undecomposed; decompose them here, as autograd mode
            # would, so every grad mode sees the same ops and the same counts.
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
        out = func(*args, **kwargs)
        self.tally.record_op(func, args, kwargs, out)
        return out


_COMPOSITE: dict[Any, bool] = {}


def _is_composite(func: Any) -> bool:
    known = _COMPOSITE.get(func)
    if known is None:
        try:
            known = torch._C._dispatch_has_kernel_for_dispatch_key(
                func.name(), torch._C.DispatchKey.CompositeImplicitAutograd)
        except RuntimeError:  # ops outside the C++ dispatcher, such as prim::device
            known = False
        _COMPOSITE[func] = known
    return known


class _Hooks:
    """Global forward hooks that feed module entries and exits to whichever tally is active."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.active = True
        self.handles: list[Any] = []

    def install(self) -> None:
        register = nn.modules.module
        self.handles = [
            register.register_module_forward_pre_hook(self._pre),
            register.register_module_forward_hook(self._post, always_call=True),
        ]

    def remove(self) -> None:
        self.active = False
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def _pre(self, module: nn.Module, args: tuple) -> None:
        if self.active:
            self.tally.enter_module(module)

    def _post(self, module: nn.Module, args: tuple, output: Any) -> None:
        if self.active:
            self.tally.exit_module(module, args, output)


class LiveMeasurement:
    """One live measurement: hooks and dispatch mode, started and stopped exactly once."""

    def __init__(self, root: nn.Module) -> None:
        self.tally = Tally(root)
        self._hooks = _Hooks(self.tally)
        self._mode = _OpCounter(self.tally)
        self._started = False

    def start(self) -> None:
        self._hooks.install()
        try:
            self._mode.__enter__()
        except BaseException:
            self._hooks.remove()
            raise
        self._started = True

    def stop(self, *, keep_hooks_registered: bool = False) -> list[Any]:
        """Stop counting. From inside a forward hook, pass ``keep_hooks_registered=True``: torch may be
        iterating the global hook dict (it does, unsnapshotted, when a forward raises), so the now inactive
        hooks are returned for the caller to remove once that iteration is over."""
        if not self._started:
            return []
        self._started = False
        self._hooks.active = False
        try:
            self._mode.__exit__(None, None, None)
        finally:
            if not keep_hooks_registered:
                self._hooks.remove()
        return self._hooks.handles


# ---------------------------------------------------------------------------------------- inputs


def normalize_inputs(inputs: Any) -> tuple[tuple, dict]:
    """tensor -> one positional argument; tuple/list -> positional; dict -> keyword. Nested values pass through."""
    if isinstance(inputs, torch.Tensor):
        return (inputs,), {}
    if isinstance(inputs, (tuple, list)):
        return tuple(inputs), {}
    if isinstance(inputs, dict):
        if not all(isinstance(key, str) for key in inputs):
            raise TypeError("inputs: a dict of inputs is passed as keyword arguments, so its keys must be strings")
        return (), dict(inputs)
    raise TypeError(
        f"inputs: expected a tensor, a tuple or list of positional arguments or a dict of keyword arguments, "
        f"got {type(inputs).__name__}"
    )


def tensors_in(value: Any) -> Iterator[torch.Tensor]:
    """Every tensor inside nested tuples, lists, dicts, namedtuples, dataclasses and plain batch objects."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensors_in(item)
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from tensors_in(item)
    else:  # one level into batch objects, through containers only (no walking arbitrary object graphs)
        for item in _fields_of(value).values():
            if isinstance(item, (torch.Tensor, tuple, list, dict)):
                yield from tensors_in(item)


def _fields_of(value: Any) -> dict[str, Any]:
    """A batch object's attributes (a dataclass, a torch_geometric ``Data``); nothing for plain values."""
    if value is None or isinstance(value, (bool, int, float, str, bytes, type, nn.Module)):
        return {}
    attributes = getattr(value, "__dict__", None)
    return dict(attributes) if isinstance(attributes, dict) else {}


def input_shapes(inputs: Any) -> list[list[int]]:
    return [list(tensor.shape) for tensor in tensors_in(inputs)]


def signature(args: tuple, kwargs: dict) -> tuple:
    """What decides a forward's cost besides the model and its mode: the inputs' shapes, dtypes and devices."""

    def describe(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return ("T", tuple(value.shape), value.dtype, value.device.type)
        if isinstance(value, dict):
            return ("D", tuple((key, describe(item)) for key, item in value.items()))
        if isinstance(value, (tuple, list)):
            return (type(value).__name__, tuple(describe(item) for item in value))
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        fields = _fields_of(value)
        return (type(value).__name__, tuple((key, describe(item)) for key, item in fields.items()
                                            if isinstance(item, (torch.Tensor, tuple, list, dict))))

    return (describe(args), describe(kwargs))


# ------------------------------------------------------------------------------------------- count

_explicit = 0  # count() calls in progress: watchers leave their forward calls alone


@contextlib.contextmanager
def explicit_count() -> Iterator[None]:
    global _explicit
    _explicit += 1
    try:
        yield
    finally:
        _explicit -= 1


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
    The model and inputs are left exactly as they were, also when the forward raises.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    validate_convention(convention)
    if not isinstance(meta, bool):
        raise TypeError(f"meta: expected True or False, got {meta!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name: expected a string or None, got {type(name).__name__}")
    lazy = [n for n, m in model.named_modules() if isinstance(m, nn.modules.lazy.LazyModuleMixin)
            and m.has_uninitialized_params()]
    if lazy:
        raise ValueError(
            f"model: {type(model).__name__} has uninitialized lazy modules ({', '.join(repr(n) for n in lazy[:3])}); "
            "measuring would initialize them. Run one forward first, then count"
        )
    args, kwargs = normalize_inputs(inputs)
    with explicit_count():
        run = _run_meta if meta else _run_real
        measurement = run(model, args, kwargs)
    return measurement.tally.report(convention, (args, kwargs), meta=meta, name=name)


@contextlib.contextmanager
def _preserved(model: nn.Module, args: tuple, kwargs: dict) -> Iterator[None]:
    """Put back what a forward may change on its own: buffers (BatchNorm statistics), which tensor each
    parameter and buffer slot holds (``self.steps = self.steps + 1`` rebinds one; under fake tensors it
    would leave a FakeTensor in the model), and the RNG streams.

    Fake tensors do not protect buffer values either: small integer buffers such as num_batches_tracked
    are updated for real, so both modes go through here.
    """
    slots = [(module, dict(module._parameters), dict(module._buffers)) for module in model.modules()]
    buffers = [(buffer, buffer.detach().clone()) for buffer in _mutable_buffers(model)]
    cuda = sorted({t.device.index or 0 for t in itertools.chain(model.parameters(), tensors_in((args, kwargs)))
                   if t.device.type == "cuda"})
    try:
        with torch.random.fork_rng(devices=cuda):
            yield
    finally:
        for module, parameters, module_buffers in slots:
            _restore_slots(module._parameters, parameters)
            _restore_slots(module._buffers, module_buffers)
        with torch.no_grad():
            for buffer, saved in buffers:
                # Kernels such as batch norm update statistics without bumping _version: compare values.
                if not torch.equal(buffer, saved):
                    buffer.copy_(saved)


def _restore_slots(current: dict, saved: dict) -> None:
    if current.keys() != saved.keys() or any(current[key] is not value for key, value in saved.items()):
        current.clear()
        current.update(saved)


def _mutable_buffers(model: nn.Module) -> list[torch.Tensor]:
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


def _forward(model: nn.Module, args: tuple, kwargs: dict) -> LiveMeasurement:
    measurement = LiveMeasurement(model)
    measurement.start()
    try:
        model(*args, **kwargs)
    finally:
        measurement.stop()
    return measurement


def _run_real(model: nn.Module, args: tuple, kwargs: dict) -> LiveMeasurement:
    with _preserved(model, args, kwargs):
        return _forward(model, args, kwargs)


def _run_meta(model: nn.Module, args: tuple, kwargs: dict) -> LiveMeasurement:
    """A forward without data: no real compute, no activation memory.

    A model built on the meta device runs on meta tensors, the fastest way (a 7B configuration in a third of
    a second). If its forward needs more than meta tensors give (transformers skips value checks only for
    fake tensors), it runs again on fake tensors. A real model runs on fake tensors, which keep the real
    device type, so most kernel choices match a real run; where one differs (the meta device runs
    attention's math path) the formulas give the same counts anyway.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    state = list(itertools.chain(model.parameters(), model.buffers()))
    try:
        if all(t.device.type == "meta" for t in state):
            # Inputs follow the model to the meta device (shapes only, nothing is copied).
            args, kwargs = _to_device((args, kwargs), torch.device("meta"))
            try:
                return _forward(model, args, kwargs)
            except Exception as error:
                if not _is_data_limit(error):
                    raise
            with FakeTensorMode(allow_non_fake_inputs=True) as fake:
                args, kwargs = _map_tensors((args, kwargs), fake.from_tensor)
                return _forward(model, args, kwargs)
        with _preserved(model, args, kwargs), FakeTensorMode(allow_non_fake_inputs=True):
            if state:  # meta inputs to a real model stand for inputs on its device: fake ones, no memory
                args, kwargs = _to_device((args, kwargs), state[0].device, only_meta=True)
            return _forward(model, args, kwargs)
    except Exception as error:
        if not _is_data_limit(error):
            raise
        raise RuntimeError(
            f"meta=True cannot run {type(model).__name__}: its forward depends on tensor values "
            f"({error}); measure it with meta=False"
        ) from error


def _is_data_limit(error: Exception) -> bool:
    """Errors that come from running without data, not from the model: those get a meta=False hint."""
    from torch._subclasses import fake_tensor

    limits = tuple(getattr(fake_tensor, name) for name in (
        "DataDependentOutputException", "DynamicOutputShapeException", "UnsupportedOperatorException",
        "UnsupportedFakeTensorException") if hasattr(fake_tensor, name))
    if isinstance(error, limits):
        return True
    message = str(error)
    return isinstance(error, (NotImplementedError, RuntimeError)) and any(
        marker in message for marker in ("meta tensor", "register_meta", "Meta tensor"))


def _to_device(value: Any, device: torch.device, only_meta: bool = False) -> Any:
    """Empty stand-ins on ``device`` for the (meta, if ``only_meta``) tensors in nested inputs."""

    def stand_in(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.device == device or (only_meta and tensor.device.type != "meta"):
            return tensor
        return torch.empty_strided(tensor.shape, tensor.stride(), dtype=tensor.dtype, device=device)

    return _map_tensors(value, stand_in)


def _map_tensors(value: Any, function: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``function`` applied to every tensor in nested tuples, lists, dicts and namedtuples."""
    if isinstance(value, torch.Tensor):
        return function(value)
    if isinstance(value, dict):
        return {key: _map_tensors(item, function) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_tensors(item, function) for item in value]
    if isinstance(value, tuple):
        items = [_map_tensors(item, function) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    return value


# ------------------------------------------------------------------------------------------ replay


class Deferred:
    """The cost of a fused op, found by replaying the composite ``reference`` on meta tensors.

    The replay cannot run inside ``__torch_dispatch__`` (autograd keys are excluded there, so composite
    ops would not decompose); the tally runs it once the forward has returned. Tensor arguments are kept
    as (shape, dtype) specs, with identity preserved (``q is k`` selects the packed projection).
    """

    def __init__(self, reference: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        self.reference = reference
        specs: dict[int, tuple] = {}

        def spec(value: Any) -> Any:
            if isinstance(value, torch.Tensor):
                key = specs.setdefault(id(value), (_TensorSpec, len(specs), tuple(value.shape), value.dtype))
                return key
            return value

        self.args = tuple(spec(a) for a in args)
        self.kwargs = tuple((k, spec(v)) for k, v in kwargs.items())

    def key(self) -> tuple:
        return (self.reference, self.args, self.kwargs)

    def cost(self) -> Cost:
        cached = _REPLAYS.get(self.key())
        if cached is not None:
            return cached
        tensors: dict[int, torch.Tensor] = {}

        def build(value: Any) -> Any:
            if isinstance(value, tuple) and value and value[0] is _TensorSpec:
                _, index, shape, dtype = value
                if index not in tensors:
                    tensors[index] = torch.empty(shape, dtype=dtype, device="meta")
                return tensors[index]
            return value

        tally = Tally(None)
        with _disable_current_modes(), _OpCounter(tally):
            self.reference(*[build(a) for a in self.args], **{k: build(v) for k, v in self.kwargs})
        _REPLAYS[self.key()] = cost = tally.total()
        return cost


class _TensorSpec:
    """Marker type inside Deferred argument specs."""


_REPLAYS: dict[tuple, Cost] = {}


# ------------------------------------------------------------------------------------------- watch


def _call_kwargs() -> dict:
    """The keyword arguments of the module call whose global pre-hook is running.

    Global forward pre-hooks receive only positional arguments, but a forward's cost depends on its
    keyword tensors too (``model(input_ids=...)``); they sit in ``Module._call_impl``'s frame.
    """
    frame = sys._getframe(2)
    for _ in range(3):
        if frame is None or frame.f_code.co_name == "_call_impl":
            break
        frame = frame.f_back
    else:
        frame = None
    kwargs = frame.f_locals.get("kwargs") if frame is not None else None
    return dict(kwargs) if isinstance(kwargs, dict) else {}


class _Watcher:
    """Global hooks that measure outermost forward calls; see :func:`watch`."""

    def __init__(self, on_report: Callable[[Report], None], convention: str) -> None:
        self.on_report = on_report
        self.convention = convention
        # Per model, weakly: a model freed in a loop must not make its successor (same id) look seen.
        self.seen: weakref.WeakKeyDictionary[nn.Module, set[tuple]] = weakref.WeakKeyDictionary()
        self.depth = 0
        self.measurement: LiveMeasurement | None = None
        self.inputs: tuple = ((), {})
        self.key: tuple = ()
        self.returned = False
        self.stale: list[Any] = []
        self.handles: list[Any] = []

    def install(self) -> None:
        hooks = nn.modules.module
        self.handles = [
            hooks.register_module_forward_pre_hook(self._pre),
            # Runs only when the forward returned (it may return None), before the always-called hook.
            hooks.register_module_forward_hook(self._returned),
            hooks.register_module_forward_hook(self._post, always_call=True),
        ]

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        if self.measurement is not None:
            self.measurement.stop()
            self.measurement = None
        self._remove_stale_hooks()

    def _remove_stale_hooks(self) -> None:
        for handle in self.stale:
            handle.remove()
        self.stale = []

    def _pre(self, module: nn.Module, args: tuple) -> None:
        self.depth += 1
        if self.depth != 1 or _explicit:
            return
        self._remove_stale_hooks()  # pre-hooks run from a snapshot of the hook dicts: removing is safe here
        kwargs = _call_kwargs()
        key = (module.training, signature(args, kwargs))
        if key in self.seen.get(module, ()):
            return
        measurement = LiveMeasurement(module)
        measurement.start()
        measurement.tally.enter_module(module)  # its own pre-hooks already ran
        self.measurement, self.inputs, self.key, self.returned = measurement, (args, kwargs), key, False

    def _returned(self, module: nn.Module, args: tuple, output: Any) -> None:
        if self.depth == 1:
            self.returned = True

    def _post(self, module: nn.Module, args: tuple, output: Any) -> None:
        self.depth -= 1
        measurement = self.measurement
        if self.depth != 0 or measurement is None:
            return
        self.measurement = None
        measurement.tally.exit_module(module, args, output)
        self.stale = measurement.stop(keep_hooks_registered=True)
        if self.returned:  # a forward that raised is neither reported nor marked seen
            self.seen.setdefault(module, set()).add(self.key)
            self.on_report(measurement.tally.report(self.convention, self.inputs, meta=False, name=None))


@contextlib.contextmanager
def watch(on_report: Callable[[Report], None], *, convention: str = "full") -> Iterator[None]:
    """Measure every outermost module forward call while the block runs, once per signature.

    This is how a bare marker guards an existing test: the test's own forward calls are measured as they
    happen (real compute, nothing replayed), and a loop of a hundred identical steps is measured once.
    Forward calls that raise are not reported; the next call with the same signature is measured.
    """
    validate_convention(convention)
    watcher = _Watcher(on_report, convention)
    watcher.install()
    try:
        yield
    finally:
        watcher.remove()
