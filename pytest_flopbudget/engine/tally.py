"""What an op costs and to whom it is added: the per-op tally and the dispatch mode that feeds it.

A :class:`Tally` owns one measurement. Each thread taking part keeps a stack of frames (which module is
running, pushed and popped by :mod:`.scopes`); :class:`OpCounter` costs every aten op with the formulas of
:mod:`.formulas` and adds it to the innermost frame; a frame's total flows to its parent when the module
returns. Modules with a module-level formula (:mod:`.modules`) are costed once, and the ops inside them are
not counted again. Fused ops whose formula is a :class:`~.replay.Deferred` are replayed when the forward is over.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Optional, cast

import torch
import torch.utils._pytree as pytree
from torch import nn
from torch._ops import OpOverload
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

from . import formulas, shortcuts
from .conventions import ZERO, Cost
from .inputs import input_shapes
from .modules import lookup_module
from .params import count_params, params_per_module, summarize_params
from .replay import Deferred, ReplayKey
from .report import ModuleStats, OpStats, Report
from .shortcuts import Maker

if TYPE_CHECKING:
    from torch._subclasses.fake_tensor import FakeTensorMode


_owners: dict[int, int] = {}  # thread -> measurements and watchers it runs: never another's helper
_owners_lock = threading.Lock()


def own(thread: int, change: int) -> None:
    """Count a measurement or watcher that ``thread`` runs (+1) or ends (-1)."""
    with _owners_lock:
        owned = _owners.get(thread, 0) + change
        if owned:
            _owners[thread] = owned
        else:
            _owners.pop(thread, None)


class _Frame:
    __slots__ = ("name", "module", "cost", "opaque", "shapes")

    def __init__(self, name: str, module: nn.Module | None, opaque: bool = False) -> None:
        self.name = name
        self.module = module
        self.cost = ZERO
        self.opaque = opaque
        self.shapes: shortcuts.RnnShapes | None = None  # entered while an opaque module runs under meta


class _Stats:
    """A running total of one module's or op's cost, and how many calls it took."""

    __slots__ = ("cost", "calls")

    def __init__(self, cost: Cost, calls: int) -> None:
        self.cost = cost
        self.calls = calls


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
        self.mode: OpCounter | None = None


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
        self.fake: Fakes | None = None  # a meta run's FakeTensorMode and fakes, which helper threads share
        self.keep_real: tuple[torch.Tensor, ...] = ()
        self.make: Maker | None = None  # the meta device's maker of answers from shapes
        self.shapes_only = False  # a meta run: opaque (RNN) modules get their kernels answered from shapes
        self.fake_lock = threading.RLock()
        self.live = True
        self.foreign_calls = 0  # module calls of other models in other threads while live
        self.module_costs: dict[str, _Stats] = {}  # module name -> its cost and calls
        self.op_costs: dict[str, _Stats] = {}  # op name -> its cost and calls
        self.unsupported: dict[str, int] = {}
        self._lookups: dict[OpOverload, tuple[str, tuple[str, formulas.Formula] | None]] = {}
        self.pending: list[tuple[tuple[str, ...], str, Deferred]] = []

    @property
    def frames(self) -> list[_Frame]:
        return self.main.frames

    # -- ops ------------------------------------------------------------------------------------------

    def record_op(self, func: OpOverload, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        scope = self.scopes.get(threading.get_ident())
        if scope is None:
            # A thread this measurement's dispatch mode was carried to (TorchScript's fork runs its
            # futures on inter-op threads with the caller's modes): work handed off by the forward.
            if not self.live:
                self.note_unsupported("<ops in another thread after the forward returned>")
                return
            scope = self._carried()
        elif scope.opaque_depth:
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
                self.op_costs.setdefault(name, _Stats(ZERO, 0)).calls += 1
        elif cost is not ZERO:
            self._add(name, cost, scope.frames[-1])

    def _carried(self) -> _Scope:
        """The scope ops of a carried-to thread join: the measuring thread's innermost module, as it waits."""
        return _Scope(self.main.frames[-1])

    def note_unsupported(self, name: str) -> None:
        with self.lock:
            self.unsupported[name] = self.unsupported.get(name, 0) + 1

    def _add(self, name: str, cost: Cost, frame: _Frame) -> None:
        with self.lock:
            frame.cost = frame.cost + cost
            stats = self.op_costs.get(name)
            if stats is None:
                self.op_costs[name] = _Stats(cost, 1)
            else:
                stats.cost = stats.cost + cost
                stats.calls += 1

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
        frame = _Frame(name, module, opaque)
        with self.lock:
            scope.frames.append(frame)
            scope.depth[id(module)] = scope.depth.get(id(module), 0) + 1
        if opaque:
            scope.opaque_depth += 1
            if self.shapes_only:
                # Scoped to the module: a torch function mode anywhere else changes what models do (fast
                # paths check has_torch_function).
                frame.shapes = shortcuts.RnnShapes()
                frame.shapes.__enter__()  # type: ignore[no-untyped-call]  # torch leaves TorchFunctionMode untyped

    def exit_module(self, module: nn.Module, args: tuple[Any, ...], output: Any, scope: _Scope | None = None) -> None:
        scope = self.main if scope is None else scope
        if len(scope.frames) == 1 or scope.frames[-1].module is not module:
            return
        with self.lock:
            frame = scope.frames.pop()
            scope.depth[id(module)] -= 1
        if frame.opaque:
            scope.opaque_depth -= 1
            if frame.shapes is not None:
                frame.shapes.__exit__(None, None, None)  # type: ignore[no-untyped-call]  # as __enter__ above
            found = lookup_module(module)
            assert found is not None  # an opaque frame is a module with a formula (enter_module)
            op_name, formula = found
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
            self.module_costs[frame.name] = _Stats(frame.cost if with_cost else ZERO, 1)
        else:
            if with_cost:
                stats.cost = stats.cost + frame.cost
            stats.calls += 1

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

    def enter_from_thread(self, module: nn.Module, thread: int, args: tuple[Any, ...] = ()) -> None:
        """A module of the measured model starts in another thread: count it there too."""
        with self.lock:
            scope = self.scopes.get(thread)
            if scope is None:
                if id(module) not in self.names:
                    if self.live:
                        self.foreign_calls += 1  # another model, or copies of this one (DataParallel)
                    return
                if not self.live or _owners.get(thread):
                    return  # this model's forward after the measurement ended, or a thread measuring or
                    # watching on its own account
                if self.fake is not None and not _holds_fakes(args):
                    return  # a meta run hands its helpers fake tensors: real ones are another user's call
                scope = self.scopes[thread] = _Scope(_Frame("<thread>", None))
                scope.mode = OpCounter(self, self.fake, self.keep_real, self.make)
        if len(scope.frames) == 1:
            assert scope.mode is not None  # every helper thread's scope has its mode
            scope.mode.__enter__()  # type: ignore[no-untyped-call]  # torch leaves TorchDispatchMode untyped
        self.enter_module(module, scope)

    def exit_from_thread(self, module: nn.Module, args: tuple[Any, ...], output: Any, thread: int) -> None:
        scope = self.scopes.get(thread)
        if scope is None:
            return
        self.exit_module(module, args, output, scope)
        if len(scope.frames) > 1:
            return
        assert scope.mode is not None  # every helper thread's scope has its mode
        scope.mode.__exit__(None, None, None)  # type: ignore[no-untyped-call]  # torch leaves TorchDispatchMode untyped
        with self.lock:
            del self.scopes[thread]
            if self.live:  # the work joins the module the measuring thread is running (waiting in)
                target = self.main.frames[-1]
                target.cost = target.cost + scope.frames[0].cost

    def note_late(self, module: nn.Module | None) -> None:
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
            cost = replay_cost(deferred)
            self.frames[0].cost = self.frames[0].cost + cost
            seen = set()
            for module_name in path[1:]:  # path[0] is the sentinel
                if module_name in seen or module_name not in self.module_costs:
                    continue  # a recursive module once; a frame still open at the end has no stats
                seen.add(module_name)
                self.module_costs[module_name].cost = self.module_costs[module_name].cost + cost
            self.op_costs[op_name].cost = self.op_costs[op_name].cost + cost

    def report(self, convention: str, inputs: Any, *, meta: bool, name: str | None,
               modified_params: list[str] | None = None) -> Report:
        root = self.root
        assert root is not None  # only a replay's tally has no root, and it makes no report
        self._settle()
        summary = summarize_params(root)
        total = self.frames[0].cost
        modules: dict[str, ModuleStats] = {}
        params = params_per_module(root)
        for module_name, module in itertools.chain(_visible_modules(root), self.dynamic.values()):
            stats = self.module_costs.get(module_name)
            cost, calls = (stats.cost, stats.calls) if stats is not None else (ZERO, 0)
            own = params.get(id(module))
            modules[module_name] = ModuleStats(
                type=type(module).__name__, flops=cost.flops(convention), macs=cost.macs,
                params=own if own is not None else count_params(module), calls=calls,
            )
        ops = {
            op: OpStats(flops=stats.cost.flops(convention), macs=stats.cost.macs, calls=stats.calls)
            for op, stats in sorted(self.op_costs.items(), key=lambda kv: -kv[1].cost.flops(convention))
        }
        unsupported = dict(self.unsupported)
        if total == ZERO and self.foreign_calls and not unsupported:
            # Nothing ran here while other threads ran modules: the forward may have handed its work to copies
            # of the model (nn.DataParallel replicas), which are not counted. Said, never a silent zero.
            unsupported["<no op counted; other threads ran modules meanwhile (model copies are not counted)>"] = \
                self.foreign_calls
        model_name, model_type = model_names(root)
        return Report(
            model=model_name, convention=convention, flops=total.flops(convention), macs=total.macs,
            params=summary.params, trainable_params=summary.trainable_params, frozen_params=summary.frozen_params,
            buffers=summary.buffers, param_bytes=summary.param_bytes, buffer_bytes=summary.buffer_bytes,
            bytes_by_dtype=summary.bytes_by_dtype, input_shapes=input_shapes(inputs), modules=modules, ops=ops,
            unsupported=dict(sorted(unsupported.items())), meta=meta, name=name,
            modified_params=list(modified_params or []),
            model_type=model_type,
        )


def model_names(model: nn.Module) -> tuple[str, str]:
    """The model's class name and ``module.QualifiedName``, as reports, budgets and baselines name it: a
    ``torch.compile`` wrapper is named by the model it compiles, a TorchScript module by its Python class
    (``original_name``), so compiling or scripting a model does not change what guards it."""
    if type(model).__name__ == "OptimizedModule" and type(model).__module__.startswith("torch._dynamo"):
        original = getattr(model, "_orig_mod", None)
        if isinstance(original, nn.Module):
            return model_names(original)
    if isinstance(model, torch.jit.ScriptModule):
        name = getattr(model, "original_name", None)
        if isinstance(name, str) and name:
            return name, name
    cls = type(model)
    return cls.__name__, f"{cls.__module__}.{cls.__qualname__}"


def _holds_fakes(args: tuple[Any, ...]) -> bool:
    from torch._subclasses.fake_tensor import FakeTensor

    return any(isinstance(leaf, FakeTensor) for leaf in pytree.tree_leaves(args))


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


class OpCounter(TorchDispatchMode):  # type: ignore[no-untyped-call]  # TorchDispatchMode.__init_subclass__ is untyped
    """Runs every op unchanged and hands it to the tally.

    ``fake`` (the :class:`Fakes` of a FakeTensorMode below this one) is set for ``meta=True`` runs: every real
    tensor reaching an op is then swapped for its fake first, so no op, in-place ones included, ever touches
    real data.
    """

    def __init__(self, tally: Tally | None, fake: Fakes | None = None, keep_real: tuple[torch.Tensor, ...] = (),
                 make: Maker | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # torch leaves TorchDispatchMode untyped
        self.tally = tally
        self.fake = fake
        # How answers from shapes (meta runs only) make their empty outputs: fakes, or meta tensors.
        self.make = fake.make if fake is not None else make
        # Shape-carrying tensors read for real (a PackedSequence's batch sizes) and what is computed from them.
        self.keep_real = _Identities(keep_real)

    def __torch_dispatch__(self, func: OpOverload, types: tuple[type, ...], args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        tally = self.tally
        if tally is None:  # a watcher's mode between measurements: it only has to be there (see watch)
            return func(*args, **kwargs)
        if self.fake is not None:
            # A FakeTensorMode is not thread-safe; helper threads of a meta run take turns, op by op.
            with tally.fake_lock:
                return self._dispatch(tally, func, args, kwargs)
        return self._dispatch(tally, func, args, kwargs)

    def _dispatch(self, tally: Tally, func: OpOverload, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.fake is not None:
            if self.keep_real and self._on_shapes(args, kwargs):
                with _disable_current_modes():
                    out = func(*args, **kwargs)
                for tensor in pytree.tree_leaves(out):
                    if isinstance(tensor, torch.Tensor):
                        self.keep_real.add(tensor)
                return out
            args, kwargs = self._fakes(self.fake, args, kwargs)
        if self.make is not None:
            answer = shortcuts.ANSWERS.get(func)
            out = answer(self.make, args, kwargs) if answer is not None else None
            if out is not None:
                tally.record_op(func, args, kwargs, out)
                return out
        if _is_composite(func):
            # Under inference_mode (and inside other kernels) composite ops such as conv2d, linear or
            # scaled_dot_product_attention arrive undecomposed; decompose them here, as autograd mode
            # would, so every grad mode sees the same ops and the same counts.
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
        out = func(*args, **kwargs)
        tally.record_op(func, args, kwargs, out)
        return out

    def _on_shapes(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """An op on kept-real shape tensors only (``batch_sizes[0]``): it runs for real."""
        tensors = [value for value in pytree.tree_leaves((args, kwargs)) if isinstance(value, torch.Tensor)]
        return bool(tensors) and all(tensor in self.keep_real for tensor in tensors)

    def _fakes(self, fakes: Fakes, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        from torch._subclasses.fake_tensor import FakeTensor

        def real(value: Any) -> bool:
            return isinstance(value, torch.Tensor) and not isinstance(value, FakeTensor) \
                and value not in self.keep_real

        def fake(value: Any) -> Any:
            return fakes(value) if real(value) else value

        if not any(real(value) for value in pytree.tree_leaves((args, kwargs))):
            return args, kwargs
        faked = pytree.tree_map(fake, (args, kwargs))
        return cast("tuple[tuple[Any, ...], dict[str, Any]]", faked)  # tree_map returns Any: the same pair, rebuilt


#: Fakes' memo: id(tensor) -> (a weak reference to it, its metadata when faked, its fake).
_Made = dict[int, tuple[weakref.ref[torch.Tensor], Optional[tuple[object, ...]], torch.Tensor]]


class Fakes:
    """The fake of each real tensor a meta run meets, made once per tensor and cheaply.

    FakeTensorMode's own conversion describes a tensor's whole storage and view history (half a millisecond
    each: most of a meta run's time for a CNN's parameters). A count needs only shape, strides, dtype, device
    and ``requires_grad``, so plain dense tensors get a fake built from those; others (quantized, sparse,
    nested, subclasses) take the full conversion. Each thread keeps one mode and its fakes (:func:`thread_fakes`),
    so a model counted again reuses its parameters' fakes while their metadata is unchanged; a fake holds no
    data, and it is dropped with its tensor.
    """

    def __init__(self, mode: FakeTensorMode) -> None:
        self.mode = mode
        self.active = False
        self._made: _Made = {}

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        key = id(tensor)
        known = self._made.get(key)
        metadata = (tensor.shape, tensor.stride(), tensor.dtype, tensor.device, tensor.requires_grad,
                    tensor.storage_offset()) if tensor.layout is torch.strided else None
        if known is not None and known[0]() is tensor and known[1] == metadata and metadata is not None:
            return known[2]
        fake = self._plain(tensor)
        if fake is None:
            fake = self.mode.from_tensor(tensor)

        def forget(_: weakref.ref[torch.Tensor], made: _Made = self._made, key: int = key) -> None:
            made.pop(key, None)

        try:
            ref = weakref.ref(tensor, forget)
        except TypeError:  # a tensor that takes no weak reference: not kept
            return fake
        self._made[key] = (ref, metadata, fake)
        return fake

    def make(self, shape: Sequence[int], dtype: torch.dtype, device: torch.device,
             memory_format: torch.memory_format | None) -> torch.Tensor:
        """A new empty fake tensor (an answer of :mod:`.shortcuts`)."""
        from torch._subclasses.fake_tensor import FakeTensor
        from torch.utils._mode_utils import no_dispatch

        with no_dispatch():
            elem = torch.empty(shape, dtype=dtype, device="meta")
            if memory_format is not None:
                elem = elem.contiguous(memory_format=memory_format)
        return FakeTensor(self.mode, elem, device)

    def _plain(self, tensor: torch.Tensor) -> torch.Tensor | None:
        from torch._subclasses.fake_tensor import FakeTensor
        from torch.utils._mode_utils import no_dispatch

        if type(tensor) not in (torch.Tensor, nn.Parameter) or tensor.layout is not torch.strided \
                or tensor.is_quantized or tensor.is_nested or tensor.device.type == "meta":
            return None
        try:
            with no_dispatch():
                elem = torch.empty_strided(tensor.shape, tensor.stride(), dtype=tensor.dtype, device="meta")
            fake = FakeTensor(self.mode, elem, tensor.device)
            if tensor.requires_grad:
                fake.requires_grad_(True)
        except Exception:  # a torch whose FakeTensor is built otherwise: the full conversion always works
            return None
        return fake


_per_thread = threading.local()


def thread_fakes() -> Fakes:
    """This thread's FakeTensorMode and fakes, kept between meta runs (a fresh one if it is in use)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    fakes = getattr(_per_thread, "fakes", None)
    if fakes is None:
        fakes = _per_thread.fakes = Fakes(FakeTensorMode(allow_non_fake_inputs=True))
    if fakes.active:  # a meta run inside a meta run's forward: its own mode
        return Fakes(FakeTensorMode(allow_non_fake_inputs=True))
    return fakes


class _Identities:
    """A set of tensors by identity, held weakly (tensors compare by value, so a WeakSet cannot hold them)."""

    def __init__(self, tensors: tuple[torch.Tensor, ...]) -> None:
        self._refs: dict[int, weakref.ref[torch.Tensor]] = {}
        for tensor in tensors:
            self.add(tensor)

    def add(self, tensor: torch.Tensor) -> None:
        self._refs[id(tensor)] = weakref.ref(tensor)

    def __contains__(self, tensor: object) -> bool:
        ref = self._refs.get(id(tensor))
        return ref is not None and ref() is tensor

    def __bool__(self) -> bool:
        return bool(self._refs)


_COMPOSITE: dict[OpOverload, bool] = {}


def _is_composite(func: OpOverload) -> bool:
    known = _COMPOSITE.get(func)
    if known is None:
        try:
            name = func.name()  # type: ignore[no-untyped-call]  # torch leaves OpOverload.name untyped
            known = torch._C._dispatch_has_kernel_for_dispatch_key(name, torch._C.DispatchKey.CompositeImplicitAutograd)
        except RuntimeError:  # ops outside the C++ dispatcher, such as prim::device
            known = False
        _COMPOSITE[func] = known
    return known


_REPLAYS: dict[ReplayKey, Cost] = {}


def replay_cost(deferred: Deferred) -> Cost:
    """The cost of a deferred fused op: its composite path replayed on meta tensors, counted, cached by shape."""
    key = deferred.key()
    cached = _REPLAYS.get(key)
    if cached is None:
        tally = Tally(None)
        with _disable_current_modes(), OpCounter(tally):
            deferred.call()
        _REPLAYS[key] = cached = tally.total()
    return cached
