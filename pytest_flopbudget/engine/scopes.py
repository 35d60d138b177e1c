"""Which module is running: module hooks that feed the measuring thread's module calls to its tally.

torch offers forward hooks per module or process-wide; process-wide ones see every module, dynamic ones
included, but also every other thread's. These act on the measuring thread alone, plus helper threads that
run a module of the measured model while the measurement is live (their work is counted in a scope of their
own). Everything is installed on start and removed on stop: no hook, mode or filter outlives a measurement.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from typing import Any, Callable

import torch
from torch import nn

from .shortcuts import meta_maker
from .tally import Fakes, OpCounter, Tally, own


class ModuleHooks:
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

    def _pre(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if is_compiling():
            return  # traced into a graph by torch.compile: nothing of ours belongs in it (see watch)
        thread = threading.get_ident()
        if thread == self.thread:
            if self.active:
                self.tally.enter_module(module)
        else:
            self.tally.enter_from_thread(module, thread, args)

    def _post(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if is_compiling():
            return
        thread = threading.get_ident()
        if thread == self.thread:
            if self.active:
                self.tally.exit_module(module, args, output)
        else:
            self.tally.exit_from_thread(module, args, output, thread)
            if not self.active and not self.tally.helpers_running():
                self.remove()  # the last helper thread left the model after the measurement ended


class LiveMeasurement:
    """One live measurement: hooks and dispatch mode, started and stopped exactly once."""

    def __init__(self, root: nn.Module, fake: Fakes | None = None, keep_real: tuple[torch.Tensor, ...] = (),
                 meta: bool = False, mode: OpCounter | None = None) -> None:
        """``mode``: an OpCounter already on this thread's mode stack (a watcher's) to count with, instead of
        pushing one; it is handed this measurement's tally until :meth:`stop`."""
        self.tally = Tally(root)
        make = meta_maker if meta and fake is None else None
        self.tally.fake, self.tally.keep_real, self.tally.make = fake, keep_real, make
        self._hooks = ModuleHooks(self.tally)
        self._borrowed = mode
        self._mode = mode if mode is not None else OpCounter(self.tally, fake, keep_real, make)
        self.tally.shapes_only = meta  # RNN kernels inside RNN modules are answered from shapes (shortcuts)
        self._started = False

    def start(self) -> None:
        self._hooks.install()
        if self._borrowed is not None:
            self._borrowed.tally = self.tally
            own(self.tally.thread, +1)
            self._started = True
            return
        try:
            self._mode.__enter__()  # type: ignore[no-untyped-call]  # torch leaves TorchDispatchMode untyped
        except BaseException:
            self._hooks.remove()
            raise
        own(self.tally.thread, +1)
        self._started = True

    def stop(self, *, keep_hooks_registered: bool = False) -> ModuleHooks | None:
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
        own(self.tally.thread, -1)
        try:
            if self._borrowed is not None:
                self._borrowed.tally = None
            else:
                self._mode.__exit__(None, None, None)  # type: ignore[no-untyped-call]  # as __enter__ in start
        finally:
            idle = self.tally.close()
            if idle and not keep_hooks_registered:
                self._hooks.remove()
        return self._hooks if idle and keep_hooks_registered else None


# ------------------------------------------------------------------------------ torch.compile

_stance_lock = threading.Lock()
_stance_users = 0
_stance: Any = None


def force_eager_stance() -> bool:
    """Make torch.compile'd code run eagerly until :func:`release_eager_stance` (counted, like the filter).

    While a block is watched, compiled code must run its modules eagerly: a graph calls no module and would
    be invisible to the hooks. torch 2.6+ has a stance for that, at no cost per op; False on older torch,
    where the caller keeps a dispatch mode active instead (torch.compile steps aside while one is).
    """
    global _stance_users, _stance
    set_stance = getattr(getattr(torch, "compiler", None), "set_stance", None)
    if set_stance is None:
        return False
    with _stance_lock:
        if _stance_users == 0:
            _stance = set_stance("force_eager")
            _stance.__enter__()
        _stance_users += 1
    return True


def release_eager_stance() -> None:
    global _stance_users, _stance
    with _stance_lock:
        _stance_users -= 1
        if _stance_users == 0 and _stance is not None:
            stance, _stance = _stance, None
            stance.__exit__(None, None, None)


#: True while torch.compile traces Python code into a graph (then hooks must stay out of the graph).
is_compiling: Callable[[], bool] = getattr(getattr(torch, "compiler", None), "is_compiling", None) or \
    torch._dynamo.is_compiling



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
                del warnings.filters[index]  # type: ignore[attr-defined]  # typeshed: a Sequence; it is a list
                mutated = getattr(warnings, "_filters_mutated", None)
                if mutated is not None:  # lets warnings drop what it cached under the old filters
                    mutated()
                break
