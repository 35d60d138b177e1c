"""What watching a block adds: every outermost forward the block's thread runs, measured as it happens.

This is the engine of a bare ``flop_budget`` marker; it knows nothing of pytest.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import weakref
from collections.abc import Iterator
from types import FrameType
from typing import Any, Callable

import torch
from torch import nn

from .conventions import validate_convention
from .execution import thread_state
from .inputs import signature
from .report import Report
from .scopes import (
    LiveMeasurement,
    ModuleHooks,
    compile_warning_filtered,
    force_eager_stance,
    is_compiling,
    release_compile_warning_filter,
    release_eager_stance,
)
from .tally import OpCounter, Tally, own


def _call_kwargs() -> dict[str, Any]:
    """The keyword arguments of the module call whose global pre-hook is running.

    Global forward pre-hooks receive only positional arguments, but a forward's cost depends on its
    keyword tensors too (``model(input_ids=...)``); they sit in ``Module._call_impl``'s frame.
    """
    frame: FrameType | None = sys._getframe(2)
    for _ in range(3):
        if frame is None or frame.f_code.co_name == "_call_impl":
            break
        frame = frame.f_back
    else:
        frame = None
    kwargs = frame.f_locals.get("kwargs") if frame is not None else None
    return dict(kwargs) if isinstance(kwargs, dict) else {}


#: After this many new argument values in a row that cost exactly the same, a model's cost is taken not to
#: depend on its non-tensor arguments, and further new values are no longer measured.
SETTLE_AFTER = 8


def _size_of(module: nn.Module) -> int:
    """The model's parameter count: a model that grew between two calls (``append``) is another signature."""
    return sum(parameter.numel() for parameter in module.parameters())


class _Seen:
    """What was measured of one model, mode and tensor signature: which argument values, and which costs."""

    def __init__(self) -> None:
        self.values: set[tuple[Any, ...]] = set()
        self.costs: set[tuple[int, int, int, int, tuple[tuple[str, int], ...]]] = set()
        self.same_in_a_row = 0

    def wants(self, values: tuple[Any, ...]) -> bool:
        """Measure a call with these non-tensor argument values?"""
        return values not in self.values and self.same_in_a_row < SETTLE_AFTER

    def is_new(self, values: tuple[Any, ...], report: Report) -> bool:
        """Record a measurement; True when its cost differs from every one reported so far (report it)."""
        self.values.add(values)
        cost = (report.flops, report.macs, report.params, report.trainable_params, tuple(report.unsupported.items()))
        if cost in self.costs:
            self.same_in_a_row += 1
            return False
        self.costs.add(cost)
        self.same_in_a_row = 0
        return True


class _Watcher:
    """Global hooks that measure the installing thread's outermost forward calls; see :func:`watch`."""

    def __init__(self, on_report: Callable[[Report], None], convention: str,
                 on_count: Callable[[Report], None] | None) -> None:
        self.on_report = on_report
        self.on_count = on_count
        self.convention = convention
        self.thread = threading.get_ident()
        # Per model, weakly: a model freed in a loop must not make its successor (same id) look seen.
        self.seen: weakref.WeakKeyDictionary[nn.Module, dict[tuple[Any, ...], _Seen]] = weakref.WeakKeyDictionary()
        self.depth = 0
        self.measurement: LiveMeasurement | None = None
        self.inputs: tuple[tuple[Any, ...], dict[str, Any]] = ((), {})
        self.key: tuple[Any, ...] = ()
        self.values: tuple[Any, ...] = ()
        self.returned = False
        self.stale: list[ModuleHooks] = []
        self.handles: list[Any] = []
        # Compiled code must run its modules eagerly while watched (a graph calls none). On torch without the
        # compiler's eager stance, a dispatch mode kept on the stack for the whole block does it (compiled code
        # steps aside while one is active); it counts only while a measurement lends it its tally.
        self.eager_stance = False
        self.mode: OpCounter | None = None

    def install(self) -> None:
        hooks = nn.modules.module
        self.eager_stance = force_eager_stance()
        if not self.eager_stance:
            self.mode = OpCounter(None)
            self.mode.__enter__()  # type: ignore[no-untyped-call]  # torch leaves TorchDispatchMode untyped
        with compile_warning_filtered():
            self.handles = [
                hooks.register_module_forward_pre_hook(self._pre),
                # Runs only when the forward returned (it may return None), before the always-called hook.
                hooks.register_module_forward_hook(self._returned),
                hooks.register_module_forward_hook(self._post, always_call=True),
            ]
        if self.on_count is not None:
            thread_state.listeners.append(self._counted)
        own(self.thread, +1)

    def remove(self) -> None:
        if self.handles:
            own(self.thread, -1)
        if self._counted in thread_state.listeners:
            thread_state.listeners.remove(self._counted)
        handles, self.handles = self.handles, []
        for handle in handles:
            handle.remove()
        if handles:
            release_compile_warning_filter()
        if self.measurement is not None:
            self.measurement.stop()
            self.measurement = None
        self._remove_stale_hooks()
        if self.mode is not None:
            self.mode.__exit__(None, None, None)  # type: ignore[no-untyped-call]  # as __enter__ in install
            self.mode = None
        if self.eager_stance:
            self.eager_stance = False
            release_eager_stance()

    def _remove_stale_hooks(self) -> None:
        stale, self.stale = self.stale, []
        for hooks in stale:
            hooks.remove()

    def _counted(self, tally: Tally, inputs: Any, meta: bool, name: str | None, modified: list[str]) -> None:
        """A ``count()`` call in the watching thread: its measurement, in the watcher's convention."""
        assert self.on_count is not None
        self.on_count(tally.report(self.convention, inputs, meta=meta, name=name, modified_params=modified))

    def _pre(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if is_compiling() or threading.get_ident() != self.thread:
            return  # another thread's forward: not this block's
        self.depth += 1
        if self.depth != 1 or thread_state.explicit or torch.jit.is_tracing():  # type: ignore[attr-defined,no-untyped-call]  # untyped re-export
            return  # torch.jit.trace runs the forward to record it: measuring would write into the trace
        self._remove_stale_hooks()  # pre-hooks run from a snapshot of the hook dicts: removing is safe here
        kwargs = _call_kwargs()
        shapes, values = signature(args, kwargs)
        key = (module.__dict__.get("training"), _size_of(module), shapes)  # frozen TorchScript has no mode
        seen = self.seen.get(module, {}).get(key)
        if seen is not None and not seen.wants(values):
            return
        measurement = LiveMeasurement(module, mode=self.mode)
        measurement.start()
        measurement.tally.enter_module(module)  # its own pre-hooks already ran
        self.measurement, self.inputs, self.key, self.values = measurement, (args, kwargs), key, values
        self.returned = False

    def _returned(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if self.depth == 1 and not is_compiling() and threading.get_ident() == self.thread:
            self.returned = True

    def _post(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if is_compiling() or threading.get_ident() != self.thread:
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
            report = measurement.tally.report(self.convention, self.inputs, meta=False, name=None)
            if self.seen.setdefault(module, {}).setdefault(self.key, _Seen()).is_new(self.values, report):
                self.on_report(report)


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

    A signature is the model, its training mode, and its inputs' structure, tensor shapes, dtypes and devices
    and the types of other values. Non-tensor argument *values* (a step number, a ``depth=``) may or may not
    change the cost, so a call with new values is measured, and reported only when its cost differs from
    every report of that signature; after ``SETTLE_AFTER`` new values in a row that cost the same, new values
    are no longer measured. A loop passing its step number is thus measured 9 times and reported once.
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
