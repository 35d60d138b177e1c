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
import threading
import warnings
import weakref
from typing import Any, Callable, Iterator

import torch
import torch.utils._pytree as pytree
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

from . import formulas, fused  # noqa: F401  (fused registers the transformer fast-path formulas)
from .conventions import ZERO, Cost, validate_convention
from .modules import lookup_module
from .preserve import Preserved, preserved
from .params import count_params, params_per_module, summarize_params
from .report import ModuleStats, OpStats, Report


class _Frame:
    __slots__ = ("name", "module", "cost", "opaque")

    def __init__(self, name: str, module: nn.Module | None, opaque: bool = False) -> None:
        self.name = name
        self.module = module
        self.cost = ZERO
        self.opaque = opaque


class _Scope:
    """One thread's part of a measurement: its stack of running modules.

    The measuring thread has one; a thread that runs a module of the measured model while the measurement is
    live (a branch handed to a thread pool) gets one of its own, with its own dispatch mode, for as long as
    that module runs. Its cost then joins the module the measuring thread is running.
    """

    __slots__ = ("frames", "opaque_depth", "depth", "mode")

    def __init__(self, sentinel: _Frame) -> None:
        self.frames = [sentinel]
        self.opaque_depth = 0
        self.depth: dict[int, int] = {}  # id(module) -> how many of its calls are running (recursion)
        self.mode: _OpCounter | None = None


class Tally:
    """Accumulates costs for one forward call of ``root``; :meth:`report` turns them into a Report."""

    def __init__(self, root: nn.Module | None) -> None:
        self.root = root
        self.names: dict[int, str] = {id(m): n for n, m in root.named_modules()} if root is not None else {}
        self.dynamic: dict[int, tuple[str, nn.Module]] = {}
        self.thread = threading.get_ident()
        self.main = _Scope(_Frame("<total>", None))  # sentinel; the model enters like any module
        self.scopes: dict[int, _Scope] = {self.thread: self.main}
        self.lock = threading.RLock()
        self.fake: Any = None  # the FakeTensorMode of a meta run, which helper threads share
        self.keep_real: tuple[torch.Tensor, ...] = ()
        self.fake_lock = threading.RLock()
        self.live = True
        self.module_costs: dict[str, list] = {}  # name -> [Cost, calls]
        self.op_costs: dict[str, list] = {}  # op name -> [Cost, calls]
        self.unsupported: dict[str, int] = {}
        self._lookups: dict[Any, Any] = {}
        self.pending: list[tuple[tuple[str, ...], str, Deferred]] = []

    @property
    def frames(self) -> list[_Frame]:
        return self.main.frames

    # -- ops ------------------------------------------------------------------------------------------

    def record_op(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        scope = self.scopes.get(threading.get_ident())
        if scope is None or scope.opaque_depth:
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
            self.note_unsupported(name)
        elif isinstance(cost, Deferred):
            with self.lock:
                self.pending.append((tuple(frame.name for frame in self._path(scope)), name, cost))
                self.op_costs.setdefault(name, [ZERO, 0])[1] += 1
        elif cost is not ZERO:
            self._add(name, cost, scope.frames[-1])

    def note_unsupported(self, name: str) -> None:
        with self.lock:
            self.unsupported[name] = self.unsupported.get(name, 0) + 1

    def _add(self, name: str, cost: Cost, frame: _Frame) -> None:
        with self.lock:
            frame.cost = frame.cost + cost
            stats = self.op_costs.get(name)
            if stats is None:
                self.op_costs[name] = [cost, 1]
            else:
                stats[0] = stats[0] + cost
                stats[1] += 1

    def _path(self, scope: _Scope) -> list[_Frame]:
        """The frames an op's cost belongs to: a helper thread's own, below the measuring thread's."""
        if scope is self.main:
            return scope.frames
        return self.main.frames + scope.frames[1:]

    # -- modules --------------------------------------------------------------------------------------

    def enter_module(self, module: nn.Module, scope: _Scope | None = None) -> None:
        scope = self.main if scope is None else scope
        name = self._name(module, scope)
        opaque = not scope.opaque_depth and lookup_module(module) is not None
        with self.lock:
            scope.frames.append(_Frame(name, module, opaque))
            scope.depth[id(module)] = scope.depth.get(id(module), 0) + 1
        if opaque:
            scope.opaque_depth += 1

    def exit_module(self, module: nn.Module, args: tuple, output: Any, scope: _Scope | None = None) -> None:
        scope = self.main if scope is None else scope
        if len(scope.frames) == 1 or scope.frames[-1].module is not module:
            return
        with self.lock:
            frame = scope.frames.pop()
            scope.depth[id(module)] -= 1
        if frame.opaque:
            scope.opaque_depth -= 1
            op_name, formula = lookup_module(module)
            cost = formula(module, args, output)
            if cost is None:
                self.note_unsupported(op_name)
            else:
                self._add(op_name, cost, frame)
        with self.lock:
            # A module that calls itself: each call is counted, its cost once, by the outermost call.
            self._close(frame, with_cost=not scope.depth[id(module)])
            parent = scope.frames[-1]
            parent.cost = parent.cost + frame.cost

    def _close(self, frame: _Frame, *, with_cost: bool) -> None:
        stats = self.module_costs.get(frame.name)
        if stats is None:
            self.module_costs[frame.name] = [frame.cost if with_cost else ZERO, 1]
        else:
            if with_cost:
                stats[0] = stats[0] + frame.cost
            stats[1] += 1

    def _name(self, module: nn.Module, scope: _Scope) -> str:
        name = self.names.get(id(module))
        if name is not None:
            return name
        with self.lock:
            known = self.dynamic.get(id(module))
            if known is not None:
                return known[0]
            parent = scope.frames[-1].name if len(scope.frames) > 1 or scope is self.main else \
                self.main.frames[-1].name
            base = f"{parent}.<{type(module).__name__}>" if parent else f"<{type(module).__name__}>"
            name = base
            for index in itertools.count(2):
                if name not in self.names.values() and all(name != n for n, _ in self.dynamic.values()):
                    break
                name = f"{base}#{index}"
            self.dynamic[id(module)] = (name, module)
            return name

    # -- helper threads -------------------------------------------------------------------------------

    def enter_from_thread(self, module: nn.Module, thread: int) -> None:
        """A module of the measured model starts in another thread: count it there too."""
        with self.lock:
            scope = self.scopes.get(thread)
            if scope is None:
                if id(module) not in self.names or not self.live or _owners.get(thread):
                    return  # another model's forward, this model's after the measurement ended, or a
                    # thread measuring or watching on its own account
                scope = self.scopes[thread] = _Scope(_Frame("<thread>", None))
                scope.mode = _OpCounter(self, self.fake, self.keep_real)
        if len(scope.frames) == 1:
            scope.mode.__enter__()
        self.enter_module(module, scope)

    def exit_from_thread(self, module: nn.Module, args: tuple, output: Any, thread: int) -> None:
        scope = self.scopes.get(thread)
        if scope is None:
            return
        self.exit_module(module, args, output, scope)
        if len(scope.frames) > 1:
            return
        scope.mode.__exit__(None, None, None)
        with self.lock:
            del self.scopes[thread]
            if self.live:  # the work joins the module the measuring thread is running (waiting in)
                target = self.main.frames[-1]
                target.cost = target.cost + scope.frames[0].cost

    def note_late(self, module: nn.Module) -> None:
        name = self.names.get(id(module), type(module).__name__) or "(model)"
        self.note_unsupported(f"{name} (in another thread, still running when the forward returned)")

    def close(self) -> bool:
        """The measuring thread's forward is over. A helper thread still inside the model is named in
        ``unsupported`` (its work did not finish inside the forward); True when there is none."""
        with self.lock:
            self.live = False
            running = [scope for scope in self.scopes.values() if scope is not self.main]
            for scope in running:
                self.note_late(scope.frames[1].module)
            return not running

    def helpers_running(self) -> bool:
        with self.lock:
            return len(self.scopes) > 1

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
            seen = set()
            for module_name in path[1:]:  # path[0] is the sentinel
                if module_name in seen or module_name not in self.module_costs:
                    continue  # a recursive module once; a frame still open at the end has no stats
                seen.add(module_name)
                self.module_costs[module_name][0] = self.module_costs[module_name][0] + cost
            self.op_costs[op_name][0] = self.op_costs[op_name][0] + cost

    def report(self, convention: str, inputs: Any, *, meta: bool, name: str | None,
               modified_params: list[str] | None = None) -> Report:
        root = self.root
        self._settle()
        summary = summarize_params(root)
        total = self.frames[0].cost
        modules: dict[str, ModuleStats] = {}
        params = params_per_module(root)
        for module_name, module in itertools.chain(_visible_modules(root), self.dynamic.values()):
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
            modified_params=list(modified_params or []),
        )


def _visible_modules(root: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """``named_modules()`` less the insides of TorchScript modules, which run in the TorchScript interpreter
    where no Python hook sees them: their cost is in the scripted module's own row, not split below it."""
    hidden: list[str] = []
    for name, module in root.named_modules():
        if any(name.startswith(prefix) for prefix in hidden):
            continue
        yield name, module
        if isinstance(module, torch.jit.ScriptModule):
            hidden.append(f"{name}." if name else "")


class _OpCounter(TorchDispatchMode):
    """Runs every op unchanged and hands it to the tally.

    ``fake`` (a FakeTensorMode below this one) is set for ``meta=True`` runs: every real tensor reaching an op
    is then swapped for its fake first, so no op, in-place ones included, ever touches real data.
    """

    def __init__(self, tally: Tally, fake: Any = None, keep_real: tuple[torch.Tensor, ...] = ()) -> None:
        super().__init__()
        self.tally = tally
        self.fake = fake
        # Shape-carrying tensors read for real (a PackedSequence's batch sizes) and what is computed from them.
        self.keep_real = _Identities(keep_real)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.fake is not None:
            # A FakeTensorMode is not thread-safe; helper threads of a meta run take turns, op by op.
            with self.tally.fake_lock:
                return self._dispatch(func, args, kwargs)
        return self._dispatch(func, args, kwargs)

    def _dispatch(self, func: Any, args: tuple, kwargs: dict) -> Any:
        if self.fake is not None:
            if self.keep_real and self._on_shapes(args, kwargs):
                with _disable_current_modes():
                    out = func(*args, **kwargs)
                for tensor in pytree.tree_leaves(out):
                    if isinstance(tensor, torch.Tensor):
                        self.keep_real.add(tensor)
                return out
            args, kwargs = self._fakes(args, kwargs)
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

    def _on_shapes(self, args: tuple, kwargs: dict) -> bool:
        """An op on kept-real shape tensors only (``batch_sizes[0]``): it runs for real."""
        tensors = [value for value in pytree.tree_leaves((args, kwargs)) if isinstance(value, torch.Tensor)]
        return bool(tensors) and all(tensor in self.keep_real for tensor in tensors)

    def _fakes(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        from torch._subclasses.fake_tensor import FakeTensor

        def real(value: Any) -> bool:
            return isinstance(value, torch.Tensor) and not isinstance(value, FakeTensor) \
                and value not in self.keep_real

        def fake(value: Any) -> Any:
            return self.fake.from_tensor(value) if real(value) else value

        if not any(real(value) for value in pytree.tree_leaves((args, kwargs))):
            return args, kwargs
        return pytree.tree_map(fake, (args, kwargs))


class _Identities:
    """A set of tensors by identity, held weakly (tensors compare by value, so a WeakSet cannot hold them)."""

    def __init__(self, tensors: tuple[torch.Tensor, ...]) -> None:
        self._refs: dict[int, weakref.ref] = {}
        for tensor in tensors:
            self.add(tensor)

    def add(self, tensor: torch.Tensor) -> None:
        self._refs[id(tensor)] = weakref.ref(tensor)

    def __contains__(self, tensor: object) -> bool:
        ref = self._refs.get(id(tensor))
        return ref is not None and ref() is tensor

    def __bool__(self) -> bool:
        return bool(self._refs)


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
    """Global forward hooks that feed the measuring thread's module calls to its tally.

    Another thread's forwards are ignored, except those of the measured model's own modules, which are
    work the forward handed to that thread: they are counted in a scope of that thread's own.
    """

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.thread = tally.thread
        self.active = True
        self.handles: list[Any] = []

    def install(self) -> None:
        register = nn.modules.module
        with compile_warning_filtered():
            self.handles = [
                register.register_module_forward_pre_hook(self._pre),
                register.register_module_forward_hook(self._post, always_call=True),
            ]

    def remove(self) -> None:
        self.active = False
        with self.tally.lock:
            handles, self.handles = self.handles, []
        for handle in handles:
            handle.remove()
        if handles:
            release_compile_warning_filter()

    def _pre(self, module: nn.Module, args: tuple) -> None:
        thread = threading.get_ident()
        if thread == self.thread:
            if self.active:
                self.tally.enter_module(module)
        else:
            self.tally.enter_from_thread(module, thread)

    def _post(self, module: nn.Module, args: tuple, output: Any) -> None:
        thread = threading.get_ident()
        if thread == self.thread:
            if self.active:
                self.tally.exit_module(module, args, output)
        else:
            self.tally.exit_from_thread(module, args, output, thread)
            if not self.active and not self.tally.helpers_running():
                self.remove()  # the last helper thread left the model after the measurement ended


_owners: dict[int, int] = {}  # thread -> measurements and watchers it runs: never another's helper
_owners_lock = threading.Lock()


def _own(thread: int, change: int) -> None:
    with _owners_lock:
        owned = _owners.get(thread, 0) + change
        if owned:
            _owners[thread] = owned
        else:
            _owners.pop(thread, None)


class LiveMeasurement:
    """One live measurement: hooks and dispatch mode, started and stopped exactly once."""

    def __init__(self, root: nn.Module, fake: Any = None, keep_real: tuple[torch.Tensor, ...] = ()) -> None:
        self.tally = Tally(root)
        self.tally.fake, self.tally.keep_real = fake, keep_real
        self._hooks = _Hooks(self.tally)
        self._mode = _OpCounter(self.tally, fake, keep_real)
        self._started = False

    def start(self) -> None:
        self._hooks.install()
        try:
            self._mode.__enter__()
        except BaseException:
            self._hooks.remove()
            raise
        _own(self.tally.thread, +1)
        self._started = True

    def stop(self, *, keep_hooks_registered: bool = False) -> _Hooks | None:
        """Stop counting. From inside a forward hook, pass ``keep_hooks_registered=True``: torch may be
        iterating the global hook dict (it does, unsnapshotted, when a forward raises), so the now inactive
        hooks are returned for the caller to remove once that iteration is over.

        A helper thread still inside the model keeps the hooks until it leaves (its dispatch mode is popped
        by its own hook, which then removes them); its unfinished work is named in ``unsupported``.
        """
        if not self._started:
            return None
        self._started = False
        self._hooks.active = False
        _own(self.tally.thread, -1)
        try:
            self._mode.__exit__(None, None, None)
        finally:
            idle = self.tally.close()
            if idle and not keep_hooks_registered:
                self._hooks.remove()
        return self._hooks if idle and keep_hooks_registered else None


# ------------------------------------------------------------------------------ torch.compile warning

#: torch warns when a ``torch.compile(module)`` wrapper is called while any global module hook exists, that
#: the hook will fire for the wrapper too. Measuring installs such hooks and handles that extra call, so the
#: warning says nothing about the user's code: it is filtered while, and only while, our hooks are installed
#: (a test that passes unmarked must pass marked, ``-W error`` included).
COMPILE_HOOK_WARNING = r"Using `torch\.compile\(module\)` when there are global hooks"

_filter_lock = threading.Lock()
_filter_users = 0


@contextlib.contextmanager
def compile_warning_filtered() -> Iterator[None]:
    """Add the filter (counted: one filter for every set of hooks installed); undone if the block raises."""
    global _filter_users
    with _filter_lock:
        if _filter_users == 0:
            warnings.filterwarnings("ignore", message=COMPILE_HOOK_WARNING, category=UserWarning)
        _filter_users += 1
    try:
        yield
    except BaseException:
        release_compile_warning_filter()
        raise


def release_compile_warning_filter() -> None:
    global _filter_users
    with _filter_lock:
        _filter_users -= 1
        if _filter_users:
            return
        # Only our own entry goes: the filters list may have been replaced meanwhile (pytest restores it
        # after each test), and then there is nothing of ours left to remove.
        for index, item in enumerate(warnings.filters):
            if item[0] == "ignore" and getattr(item[1], "pattern", None) == COMPILE_HOOK_WARNING:
                del warnings.filters[index]
                mutated = getattr(warnings, "_filters_mutated", None)
                if mutated is not None:  # lets warnings drop what it cached under the old filters
                    mutated()
                break


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


class _ThreadState(threading.local):
    """What this thread is doing: explicit counts in progress (watchers leave their forwards alone) and the
    watchers that want to hear of them."""

    def __init__(self) -> None:
        self.explicit = 0
        self.listeners: list[Callable[[Tally, Any, bool, str | None, list[str]], None]] = []
        self.quiet = 0


_thread = _ThreadState()


@contextlib.contextmanager
def explicit_count() -> Iterator[None]:
    _thread.explicit += 1
    try:
        yield
    finally:
        _thread.explicit -= 1


@contextlib.contextmanager
def unobserved() -> Iterator[None]:
    """``count()`` calls in this block are not passed to watchers (the caller records them itself)."""
    _thread.quiet += 1
    try:
        yield
    finally:
        _thread.quiet -= 1


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
        measurement, kept = run(model, args, kwargs)
    if not _thread.quiet:
        for listener in list(_thread.listeners):
            listener(measurement.tally, (args, kwargs), meta, name, kept.modified_params)
    return measurement.tally.report(convention, (args, kwargs), meta=meta, name=name,
                                    modified_params=kept.modified_params)


def _forward(model: nn.Module, args: tuple, kwargs: dict, fake: Any = None) -> LiveMeasurement:
    keep_real = tuple(s.batch_sizes for s in _packed_sequences((args, kwargs))) if fake is not None else ()
    measurement = LiveMeasurement(model, fake, keep_real)
    measurement.start()
    try:
        model(*args, **kwargs)
    finally:
        measurement.stop()
    return measurement


def _run_real(model: nn.Module, args: tuple, kwargs: dict) -> tuple[LiveMeasurement, Preserved]:
    with preserved(model, list(tensors_in((args, kwargs)))) as kept:
        measurement = _forward(model, args, kwargs)
    return measurement, kept


def _run_meta(model: nn.Module, args: tuple, kwargs: dict) -> tuple[LiveMeasurement, Preserved]:
    """A forward without data: no real compute, no activation memory, no real tensor written.

    A model built on the meta device runs on meta tensors, the fastest way (a 7B configuration in a third of
    a second). If its forward needs more than meta tensors give (transformers skips value checks only for
    fake tensors), it runs again on fake tensors. A real model runs on fake tensors, which keep the real
    device type, so most kernel choices match a real run; where one differs (the meta device runs
    attention's math path) the formulas give the same counts anyway. Every real tensor an op receives
    (parameters, inputs, tensors the forward keeps elsewhere) is swapped for a fake first, so in-place ops
    act on fakes. Modules are put back as they were in both cases, fakes never left in the model.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    state = list(itertools.chain(model.parameters(), model.buffers()))
    on_meta = bool(state) and all(t.device.type == "meta" for t in state)
    try:
        with preserved(model, list(tensors_in((args, kwargs))), buffer_values=False, versions=False) as kept:
            measurement = None
            if on_meta:
                # Inputs follow the model to the meta device (shapes only, nothing is copied).
                args, kwargs = _to_device((args, kwargs), torch.device("meta"))
                try:
                    measurement = _forward(model, args, kwargs)
                except Exception as error:
                    if not _is_data_limit(error):
                        raise
            if measurement is None:
                with FakeTensorMode(allow_non_fake_inputs=True) as fake:
                    if state and not on_meta:  # meta inputs to a real model stand for inputs on its device
                        args, kwargs = _to_device((args, kwargs), state[0].device, only_meta=True)
                    args, kwargs = _fake_inputs((args, kwargs), fake)
                    measurement = _forward(model, args, kwargs, fake)
        return measurement, kept
    except Exception as error:
        if not _is_data_limit(error):
            raise
        raise RuntimeError(
            f"meta=True cannot run {type(model).__name__}: its forward depends on tensor values "
            f"({error}); measure it with meta=False"
        ) from error


def _fake_inputs(value: Any, fake: Any) -> Any:
    """Fakes for the input tensors. A PackedSequence's batch sizes stay real: they are shape information,
    which the RNN kernels read on the CPU (the only real values a meta run reads)."""
    def convert(tensor: torch.Tensor) -> torch.Tensor:
        return fake.from_tensor(tensor)

    def packed(sequence: Any) -> Any:
        return type(sequence)(*(_map_tensors(item, convert) if index != 1 else item
                                for index, item in enumerate(sequence)))

    return _map_tensors(value, convert, packed)


def _packed_sequences(value: Any) -> Iterator[Any]:
    if isinstance(value, nn.utils.rnn.PackedSequence):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _packed_sequences(item)
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _packed_sequences(item)


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
        marker in message for marker in ("meta tensor", "register_meta", "Meta tensor", "data is not allocated"))


def _to_device(value: Any, device: torch.device, only_meta: bool = False) -> Any:
    """Empty stand-ins on ``device`` for the (meta, if ``only_meta``) tensors in nested inputs.

    A PackedSequence's batch sizes stay where they are: torch keeps them on the CPU and reads them."""

    def stand_in(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.device == device or (only_meta and tensor.device.type != "meta"):
            return tensor
        return torch.empty_strided(tensor.shape, tensor.stride(), dtype=tensor.dtype, device=device)

    def packed(sequence: Any) -> Any:
        return type(sequence)(*(_map_tensors(item, stand_in) if index != 1 else item
                                for index, item in enumerate(sequence)))

    return _map_tensors(value, stand_in, packed)


def _map_tensors(value: Any, function: Callable[[torch.Tensor], torch.Tensor],
                 packed: Callable[[Any], Any] | None = None) -> Any:
    """``function`` applied to every tensor in nested tuples, lists, dicts and namedtuples."""
    if isinstance(value, torch.Tensor):
        return function(value)
    if packed is not None and isinstance(value, nn.utils.rnn.PackedSequence):
        return packed(value)
    if isinstance(value, dict):
        return {key: _map_tensors(item, function, packed) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_tensors(item, function, packed) for item in value]
    if isinstance(value, tuple):
        items = [_map_tensors(item, function, packed) for item in value]
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
    """Global hooks that measure the installing thread's outermost forward calls; see :func:`watch`."""

    def __init__(self, on_report: Callable[[Report], None], convention: str,
                 on_count: Callable[[Report], None] | None) -> None:
        self.on_report = on_report
        self.on_count = on_count
        self.convention = convention
        self.thread = threading.get_ident()
        # Per model, weakly: a model freed in a loop must not make its successor (same id) look seen.
        self.seen: weakref.WeakKeyDictionary[nn.Module, set[tuple]] = weakref.WeakKeyDictionary()
        self.depth = 0
        self.measurement: LiveMeasurement | None = None
        self.inputs: tuple = ((), {})
        self.key: tuple = ()
        self.returned = False
        self.stale: list[_Hooks] = []
        self.handles: list[Any] = []

    def install(self) -> None:
        hooks = nn.modules.module
        with compile_warning_filtered():
            self.handles = [
                hooks.register_module_forward_pre_hook(self._pre),
                # Runs only when the forward returned (it may return None), before the always-called hook.
                hooks.register_module_forward_hook(self._returned),
                hooks.register_module_forward_hook(self._post, always_call=True),
            ]
        if self.on_count is not None:
            _thread.listeners.append(self._counted)
        _own(self.thread, +1)

    def remove(self) -> None:
        if self.handles:
            _own(self.thread, -1)
        if self._counted in _thread.listeners:
            _thread.listeners.remove(self._counted)
        handles, self.handles = self.handles, []
        for handle in handles:
            handle.remove()
        if handles:
            release_compile_warning_filter()
        if self.measurement is not None:
            self.measurement.stop()
            self.measurement = None
        self._remove_stale_hooks()

    def _remove_stale_hooks(self) -> None:
        stale, self.stale = self.stale, []
        for hooks in stale:
            hooks.remove()

    def _counted(self, tally: Tally, inputs: Any, meta: bool, name: str | None, modified: list[str]) -> None:
        """A ``count()`` call in the watching thread: its measurement, in the watcher's convention."""
        assert self.on_count is not None
        self.on_count(tally.report(self.convention, inputs, meta=meta, name=name, modified_params=modified))

    def _pre(self, module: nn.Module, args: tuple) -> None:
        if threading.get_ident() != self.thread:
            return  # another thread's forward: not this block's
        self.depth += 1
        if self.depth != 1 or _thread.explicit:
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
        if self.depth == 1 and threading.get_ident() == self.thread:
            self.returned = True

    def _post(self, module: nn.Module, args: tuple, output: Any) -> None:
        if threading.get_ident() != self.thread:
            return
        self.depth -= 1
        measurement = self.measurement
        if self.depth != 0 or measurement is None:
            return
        self.measurement = None
        measurement.tally.exit_module(module, args, output)
        hooks = measurement.stop(keep_hooks_registered=True)
        if hooks is not None:
            self.stale.append(hooks)
        if self.returned:  # a forward that raised is neither reported nor marked seen
            self.seen.setdefault(module, set()).add(self.key)
            self.on_report(measurement.tally.report(self.convention, self.inputs, meta=False, name=None))


@contextlib.contextmanager
def watch(
    on_report: Callable[[Report], None],
    *,
    convention: str = "full",
    on_count: Callable[[Report], None] | None = None,
) -> Iterator[None]:
    """Measure every outermost module forward call this thread makes while the block runs, once per signature.

    This is how a bare marker guards an existing test: the test's own forward calls are measured as they
    happen (real compute, nothing replayed), and a loop of a hundred identical steps is measured once.
    Forward calls that raise are not reported; the next call with the same signature is measured. Other
    threads' forwards are not this block's and are not watched. ``count()`` calls in the block measure their
    own forward; ``on_count`` (when given) receives each of their reports, in this block's convention.
    """
    validate_convention(convention)
    watcher = _Watcher(on_report, convention, on_count)
    watcher.install()
    try:
        yield
    finally:
        watcher.remove()
