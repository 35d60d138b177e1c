"""A measurement that cannot be fooled or leave traces: threads, TorchScript, torch.compile, state, recursion.

Every count here is derived by hand: ``nn.Linear(I, O)`` on B rows is B*I*O MACs.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn
from torch_versions import requires_torch

import pytest_flopbudget as fb
from pytest_flopbudget import watch

REPEATS = 20


def global_hook_counts() -> tuple[int, ...]:
    module = nn.modules.module
    return (len(module._global_forward_pre_hooks), len(module._global_forward_hooks),
            len(module._global_forward_hooks_always_called), len(module._global_backward_hooks))


def mode_stack_depth() -> int:
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

    return len(_get_current_dispatch_mode_stack())


def two_layer() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16))


#: two_layer() on 4 x 64: 4*64*32 + 4*32*16 = 8192 + 2048 MACs.
TWO_LAYER_MACS = 4 * 64 * 32 + 4 * 32 * 16
X = torch.randn(4, 64)


class BusyThread:
    """Runs another model's forward in a loop until stopped; collects anything raised there."""

    def __init__(self) -> None:
        torch.manual_seed(1)
        self.model = nn.Sequential(nn.Linear(128, 128), nn.Tanh(), nn.Linear(128, 128))
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.forwards = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        x = torch.randn(2, 128)
        try:
            while not self.stop.is_set():
                self.model(x)
                self.forwards += 1
        except BaseException as error:  # noqa: BLE001 - surfaced by the test
            self.errors.append(error)

    def __enter__(self) -> BusyThread:
        self.thread.start()
        while self.forwards == 0 and self.thread.is_alive():
            time.sleep(0.001)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()


@pytest.fixture
def clean() -> Iterator[None]:
    """Every test here ends with no hook, no dispatch mode and no warning filter of the plugin's."""
    hooks = global_hook_counts()
    yield
    assert global_hook_counts() == hooks
    assert mode_stack_depth() == 0
    assert not [f for f in warnings.filters if "global hooks" in getattr(f[1], "pattern", "")]


# ------------------------------------------------------------------------------------------ threads


def test_count_beside_a_busy_thread_counts_only_its_own_model(clean: None) -> None:
    model = two_layer()
    with BusyThread() as busy:
        reports = [fb.count(model, X) for _ in range(REPEATS)]
    assert busy.errors == []
    assert busy.forwards > 0
    assert {report.macs for report in reports} == {TWO_LAYER_MACS}
    assert {tuple(report.modules) for report in reports} == {("", "0", "1", "2")}
    assert all(report.unsupported == {} for report in reports)


def test_watch_beside_a_busy_thread_sees_only_its_thread(clean: None) -> None:
    model = two_layer()
    for _ in range(REPEATS):
        reports: list[fb.Report] = []
        with BusyThread() as busy:
            with watch(reports.append):
                model(X)
                time.sleep(0.002)  # let the other thread run forwards while the hooks are installed
        assert busy.errors == []
        assert [(report.model, report.macs) for report in reports] == [("Sequential", TWO_LAYER_MACS)]
        assert reports[0].modules["0"].macs == 4 * 64 * 32


def test_two_threads_counting_at_once_each_get_their_own_model(clean: None) -> None:
    small, large = nn.Linear(8, 4), nn.Linear(256, 512)
    results: dict[str, list[int]] = {"small": [], "large": []}
    errors: list[BaseException] = []

    def measure(name: str, model: nn.Module, x: torch.Tensor) -> None:
        try:
            for _ in range(REPEATS):
                results[name].append(fb.count(model, x).macs)
        except BaseException as error:  # noqa: BLE001 - surfaced by the test
            errors.append(error)

    threads = [threading.Thread(target=measure, args=("small", small, torch.randn(3, 8))),
               threading.Thread(target=measure, args=("large", large, torch.randn(5, 256)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == {"small": [3 * 8 * 4] * REPEATS, "large": [5 * 256 * 512] * REPEATS}


class PoolBranches(nn.Module):
    """An inception-style block whose branches run in a thread pool."""

    def __init__(self) -> None:
        super().__init__()
        self.branches = nn.ModuleList([nn.Linear(64, 32), nn.Linear(64, 16), nn.Linear(64, 8)])
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = list(self.pool.map(lambda branch: branch(x), self.branches))
        return torch.cat(outputs, dim=-1)


#: PoolBranches on 4 x 64: 4*64*(32 + 16 + 8) MACs.
POOL_MACS = 4 * 64 * (32 + 16 + 8)


def test_branches_run_in_a_thread_pool_are_counted(clean: None) -> None:
    model = PoolBranches()
    try:
        for _ in range(REPEATS):
            report = fb.count(model, X)
            assert report.macs == POOL_MACS
            assert report.modules[""].macs == POOL_MACS
            assert [report.modules[f"branches.{i}"].macs for i in range(3)] == [4 * 64 * 32, 4 * 64 * 16, 4 * 64 * 8]
            assert report.unsupported == {}
    finally:
        model.pool.shutdown()


def test_thread_pool_branches_are_counted_under_meta_and_watch(clean: None) -> None:
    model = PoolBranches()
    try:
        assert fb.count(model, X, meta=True).macs == POOL_MACS
        reports: list[fb.Report] = []
        with watch(reports.append):
            model(X)
        assert [report.macs for report in reports] == [POOL_MACS]
    finally:
        model.pool.shutdown()


class FireAndForget(nn.Module):
    """Starts a branch in a thread and returns without waiting for it."""

    def __init__(self) -> None:
        super().__init__()
        self.main = nn.Linear(64, 32)
        self.side = nn.Linear(64, 64)
        self.release = threading.Event()
        self.started = threading.Event()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def side() -> None:
            self.side(x)

        self.side.register_forward_pre_hook(lambda *_: (self.started.set(), self.release.wait(5)) and None)
        threading.Thread(target=side, daemon=True).start()
        self.started.wait(5)
        return self.main(x)


def test_work_still_running_in_another_thread_is_named_not_silently_dropped() -> None:
    hooks = global_hook_counts()
    model = FireAndForget()
    report = fb.count(model, X)
    assert report.macs == 4 * 64 * 32  # the branch that finished inside the forward
    assert report.unsupported == {"side (in another thread, still running when the forward returned)": 1}
    model.release.set()
    deadline = time.monotonic() + 5
    while global_hook_counts() != hooks and time.monotonic() < deadline:
        time.sleep(0.01)
    assert global_hook_counts() == hooks  # removed by the helper thread as it left the model


# --------------------------------------------------------------------------------------- TorchScript


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated in recent torch
@pytest.mark.parametrize("kind", ["script", "trace"])
@pytest.mark.parametrize("meta", [False, True])
def test_torchscript_modules_count_exactly(kind: str, meta: bool, clean: None) -> None:
    model = two_layer()
    scripted = torch.jit.script(model) if kind == "script" else torch.jit.trace(model, X)
    report = fb.count(scripted, X, meta=meta)
    assert report.macs == TWO_LAYER_MACS
    assert report.params == 64 * 32 + 32 + 32 * 16 + 16
    assert report.unsupported == {}
    # The insides run in the TorchScript interpreter, unseen by module hooks: no made-up zero rows for them.
    assert list(report.modules) == [""]
    assert report.modules[""].macs == TWO_LAYER_MACS


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_scripted_submodule_is_one_row_of_a_python_model(clean: None) -> None:
    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = torch.jit.script(two_layer())
            self.head = nn.Linear(16, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.encoder(x))

    report = fb.count(Wrapper(), X)
    assert report.macs == TWO_LAYER_MACS + 4 * 16 * 2
    assert report.modules["encoder"].macs == TWO_LAYER_MACS
    assert set(report.modules) == {"", "encoder", "head"}


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_scripted_forward_that_rebinds_a_buffer_is_put_back(clean: None) -> None:
    class Steps(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(64, 32)
            self.register_buffer("steps", torch.zeros(()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.steps = self.steps + 1
            return self.linear(x)

    scripted = torch.jit.script(Steps())
    before = scripted.steps
    assert fb.count(scripted, X).macs == 4 * 64 * 32
    assert scripted.steps is before
    assert before.item() == 0


# ------------------------------------------------------------------------------------- torch.compile


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
def test_a_compiled_module_counts_under_warnings_as_errors(backend: str, clean: None) -> None:
    torch._dynamo.reset()
    compiled = torch.compile(two_layer(), backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        filters = list(warnings.filters)
        report = fb.count(compiled, X)
        reports: list[fb.Report] = []
        with watch(reports.append):
            compiled(X)
        assert warnings.filters == filters  # the filter for torch's hook warning went with the hooks
    assert report.macs == TWO_LAYER_MACS
    assert [r.macs for r in reports] == [TWO_LAYER_MACS]


@requires_torch("2.8", "an older torch does not warn when a compiled module is called under global module hooks")
def test_torch_still_warns_about_global_hooks_outside_a_measurement() -> None:
    torch._dynamo.reset()
    compiled = torch.compile(two_layer(), backend="eager")
    fb.count(compiled, X)
    handle = nn.modules.module.register_module_forward_hook(lambda *args: None)
    try:
        with pytest.warns(UserWarning, match="global hooks"):
            compiled(X)
    finally:
        handle.remove()


# -------------------------------------------------------------------------------------------- state


class Flipper(nn.Module):
    """A forward that changes everything it can about its own module tree."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(64, 32)
        self.frozen = nn.Linear(32, 16)
        self.frozen.weight.requires_grad_(False)
        self.dropout = nn.Dropout(0.5)
        self.register_buffer("steps", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.linear.weight.requires_grad_(False)
        self.frozen.weight.requires_grad_(True)
        self.dropout.train(not self.dropout.training)
        self.linear.eval()
        self.steps = self.steps + 1
        self.register_buffer("added", torch.ones(2))
        self.extra = nn.Parameter(torch.ones(3))
        self.late = nn.Identity()
        return self.frozen(self.linear(x))


def state_of(model: nn.Module) -> dict[str, Any]:
    return {
        "modes": [(name, module.training) for name, module in model.named_modules()],
        "grads": [(name, p.requires_grad) for name, p in model.named_parameters()],
        "params": [(name, id(p)) for name, p in model.named_parameters()],
        "buffers": [(name, id(b)) for name, b in model.named_buffers()],
        "modules": [name for name, _ in model.named_modules()],
    }


@pytest.mark.parametrize("meta", [False, True])
def test_a_forward_that_flips_modes_grads_and_slots_is_undone(meta: bool, clean: None) -> None:
    model = Flipper().train()
    before = state_of(model)
    report = fb.count(model, X, meta=meta)
    assert report.macs == 4 * 64 * 32 + 4 * 32 * 16
    assert state_of(model) == before
    assert model.steps.item() == 0


def test_a_forward_that_flips_state_and_raises_is_undone(clean: None) -> None:
    class Raises(Flipper):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            super().forward(x)
            raise ValueError("boom")

    model = Raises().eval()
    before = state_of(model)
    with pytest.raises(ValueError, match="boom"):
        fb.count(model, X)
    assert state_of(model) == before


class InPlace(nn.Module):
    """Writes into its parameter, a plain tensor attribute and its input, in place."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.plain = torch.ones(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self.linear.weight.mul_(0)
        self.plain.add_(1)
        x.add_(1)
        return self.linear(x)


def test_meta_never_writes_real_data(clean: None) -> None:
    model, x = InPlace(), torch.zeros(2, 4)
    weight, plain = model.linear.weight.detach().clone(), model.plain.clone()
    report = fb.count(model, x, meta=True)
    assert report.macs == 2 * 4 * 4
    assert torch.equal(model.linear.weight, weight)
    assert torch.equal(model.plain, plain)
    assert torch.equal(x, torch.zeros(2, 4))
    assert report.modified_params == []


def test_a_real_forward_that_changes_parameter_data_is_named_on_the_report(clean: None) -> None:
    report = fb.count(InPlace(), torch.zeros(2, 4))
    assert report.modified_params == ["linear.weight"]
    assert "changed in place: linear.weight" in report.table()
    assert fb.Report.from_dict(report.to_dict()) == report
    assert fb.count(two_layer(), X).modified_params == []


def test_a_meta_device_model_gets_its_slots_back_also_after_the_fake_retry(clean: None) -> None:
    class NeedsValues(nn.Module):
        """Rebinds a buffer, then reads a value (meta tensors have none, so it is retried on fake ones)."""

        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(64, 32)
            self.register_buffer("steps", torch.zeros(()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            from torch._subclasses.fake_tensor import FakeTensor

            self.steps = self.steps + 1
            if not isinstance(x, FakeTensor) and bool((x == 0).all()):  # reads a value, except on fakes
                return x
            return self.linear(x)

    with torch.device("meta"):
        model = NeedsValues()
    before = dict(model.named_buffers()), dict(model.named_parameters())
    assert fb.count(model, X, meta=True).macs == 4 * 64 * 32
    assert (dict(model.named_buffers()), dict(model.named_parameters())) == before
    from torch._subclasses.fake_tensor import FakeTensor

    assert not any(isinstance(t, FakeTensor) for t in [*model.parameters(), *model.buffers()])


# ---------------------------------------------------------------------------------------- recursion


class Recursive(nn.Module):
    """Calls itself twice more: three calls of its Linear(8, 8) on one row, 64 MACs each."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, depth: int = 2) -> torch.Tensor:
        x = self.linear(x)
        return self(x, depth - 1) if depth > 0 else x


def test_a_module_that_calls_itself_is_counted_once_per_call(clean: None) -> None:
    report = fb.count(Recursive(), torch.randn(1, 8))
    assert report.macs == 3 * 8 * 8
    assert (report.modules[""].macs, report.modules[""].calls) == (3 * 8 * 8, 3)
    assert (report.modules["linear"].macs, report.modules["linear"].calls) == (3 * 8 * 8, 3)


# ------------------------------------------------------------------------------------- packed RNNs


@pytest.mark.parametrize("cell", [nn.LSTM, nn.GRU, nn.RNN])
def test_a_packed_sequence_rnn_counts_under_meta(cell: type, clean: None) -> None:
    torch.manual_seed(0)
    rnn = cell(8, 16)
    data = torch.randn(5, 3, 8)
    packed = nn.utils.rnn.pack_padded_sequence(data, torch.tensor([5, 3, 2]))
    gates = {nn.LSTM: 4, nn.GRU: 3, nn.RNN: 1}[cell]
    expected = (5 + 3 + 2) * gates * 16 * (8 + 16)  # 10 packed rows, G*H*(I+H) MACs each
    saved = packed.data.clone(), packed.batch_sizes.clone()
    real = fb.count(rnn, (packed,))
    meta = fb.count(rnn, (packed,), meta=True)
    assert real.macs == meta.macs == expected
    assert real.flops == meta.flops
    assert torch.equal(packed.data, saved[0])
    assert torch.equal(packed.batch_sizes, saved[1])


# ------------------------------------------------------------------- work carried or copied elsewhere


class ForkedEnsemble(nn.Module):
    """Four Linear(64, 64) members run as TorchScript futures (on inter-op threads when scripted)."""

    def __init__(self) -> None:
        super().__init__()
        self.members = nn.ModuleList([nn.Linear(64, 64) for _ in range(4)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        futures = [torch.jit.fork(member, x) for member in self.members]
        out = torch.zeros_like(x)
        for future in futures:
            out = out + torch.jit.wait(future)
        return out


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("meta", [False, True])
def test_torchscript_forks_are_counted(meta: bool, clean: None) -> None:
    scripted = torch.jit.script(ForkedEnsemble())
    for _ in range(REPEATS // 4):
        report = fb.count(scripted, X, meta=meta)
        assert report.macs == 4 * 4 * 64 * 64  # four members on 4 rows of 64
        assert report.unsupported == {}


def test_a_forward_whose_work_ran_in_copies_elsewhere_is_flagged_not_zero(clean: None) -> None:
    import copy

    class Replicated(nn.Module):
        """nn.DataParallel's pattern: copies of the module run in threads; the original runs nothing."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Linear(64, 32)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            replicas = [copy.deepcopy(self.inner) for _ in range(2)]
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                outputs = list(pool.map(lambda pair: pair[0](pair[1]), zip(replicas, x.chunk(2))))
            return torch.cat(outputs)

    report = fb.count(Replicated(), X)
    assert report.macs == 0
    assert any("model copies are not counted" in name for name in report.unsupported)


def test_an_rnn_subclass_with_its_own_forward_is_not_costed_as_a_plain_rnn(clean: None) -> None:
    class WithHead(nn.LSTM):
        def __init__(self) -> None:
            super().__init__(16, 32, batch_first=True)
            self.head = nn.Linear(32, 4)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Any]:  # type: ignore[override]
            out, state = super().forward(x)
            return self.head(out), state

    report = fb.count(WithHead(), torch.randn(2, 5, 16))
    head = 2 * 5 * 32 * 4
    lstm = 2 * 5 * 4 * 32 * (16 + 32)  # 10 steps of G*H*(I+H)
    assert report.modules["head"].macs == head
    # Its kernel is counted op by op now: exact where the op has a formula, named in unsupported where not.
    assert report.macs == head + lstm or report.unsupported


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_frozen_torchscript_counts(clean: None) -> None:
    frozen = torch.jit.freeze(torch.jit.script(two_layer().eval()))
    assert fb.count(frozen, X).macs == TWO_LAYER_MACS
    assert fb.count(torch.jit.optimize_for_inference(torch.jit.script(two_layer().eval())), X).macs \
        == TWO_LAYER_MACS


# -------------------------------------------------------------------------------- more state undone


class Caches(nn.Module):
    """Fills a dict cache, a plain attribute and a parameter's grad, and registers a hook, in its forward."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(64, 32)
        self.cache: dict[int, torch.Tensor] = {}
        self.cos: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.cache[x.shape[0]] = x * 2
        self.cos = x + 1
        self.linear.weight.grad = torch.zeros_like(self.linear.weight)
        self.linear.register_forward_hook(lambda *args: None)
        return self.linear(x)


def test_meta_leaves_no_fake_in_caches_attributes_or_grads(clean: None) -> None:
    model = Caches()
    assert fb.count(model, X, meta=True).macs == 4 * 64 * 32
    assert model.cache == {}
    assert model.cos is None
    assert model.linear.weight.grad is None
    assert not model.linear._forward_hooks
    assert type(model(X)) is torch.Tensor  # the next real forward is real


class HalvesItsWeight(nn.Module):
    """Rebinds its weight's data in its forward: ``self.weight.data = self.weight.data * 0.5``."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(64, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.linear.weight.data = self.linear.weight.data * 0.5
        return self.linear(x)


def test_a_forward_that_rebinds_parameter_data_is_undone(clean: None) -> None:
    model = HalvesItsWeight()
    weight = model.linear.weight.detach().clone()
    assert fb.count(model, X).macs == 4 * 64 * 32
    assert torch.equal(model.linear.weight, weight)


def test_an_eval_batchnorm_switched_to_training_by_the_forward_keeps_its_statistics(clean: None) -> None:
    class Switches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.BatchNorm1d(64)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.norm.train()
            return self.norm(x)

    model = Switches().eval()
    before = {name: buffer.clone() for name, buffer in model.named_buffers()}
    fb.count(model, X)
    assert all(torch.equal(buffer, before[name]) for name, buffer in model.named_buffers())
    assert not model.norm.training


def test_meta_beside_a_thread_running_the_same_model_leaves_that_thread_real(clean: None) -> None:
    model = two_layer()
    outputs: list[type] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def run() -> None:
        x = torch.randn(4, 64)
        try:
            while not stop.is_set():
                outputs.append(type(model(x)))
        except BaseException as error:  # noqa: BLE001 - surfaced by the test
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        for _ in range(REPEATS):
            assert fb.count(model, X, meta=True).macs == TWO_LAYER_MACS
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert set(outputs) == {torch.Tensor}


# ---------------------------------------------------------------------------------- what watch sees


def test_a_model_that_grows_between_calls_is_measured_again() -> None:
    model, x, reports = nn.Sequential(nn.Linear(8, 8)), torch.randn(4, 8), []
    with watch(reports.append):
        model(x)
        model.append(nn.Linear(8, 8))
        model(x)
    assert [(r.params, r.macs) for r in reports] == [(72, 4 * 8 * 8), (144, 2 * 4 * 8 * 8)]


def test_nested_batch_objects_and_mappings_are_part_of_the_signature() -> None:
    from collections.abc import MutableMapping

    class Store(MutableMapping):  # like torch_geometric's storage: a mapping that is not a dict
        def __init__(self, **items: Any) -> None:
            self._items = dict(items)

        def __getitem__(self, key: str) -> Any:
            return self._items[key]

        def __setitem__(self, key: str, value: Any) -> None:
            self._items[key] = value

        def __delitem__(self, key: str) -> None:
            del self._items[key]

        def __iter__(self) -> Iterator[str]:
            return iter(self._items)

        def __len__(self) -> int:
            return len(self._items)

    class Graph:
        def __init__(self, x: torch.Tensor) -> None:
            self._store = Store(x=x)

    class Outer:
        def __init__(self, x: torch.Tensor) -> None:
            self.inner = Graph(x)

    class Reads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(8, 8)

        def forward(self, batch: Outer) -> torch.Tensor:
            return self.linear(batch.inner._store["x"])

    model, reports = Reads(), []
    with watch(reports.append):
        model(Outer(torch.randn(2, 8)))
        model(Outer(torch.randn(100, 8)))
    assert [r.macs for r in reports] == [2 * 64, 100 * 64]
    assert reports[1].input_shapes == [[100, 8]]


def test_a_compiled_function_warmed_before_the_block_is_watched() -> None:
    torch._dynamo.reset()
    backbone = two_layer()
    compiled = torch.compile(lambda x: backbone(x), backend="eager")
    compiled(X)  # compiled before watching
    reports: list[fb.Report] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with watch(reports.append):
            compiled(X)
    assert [r.macs for r in reports] == [TWO_LAYER_MACS]


@requires_torch("2.8", "torch._grouped_mm first appears in torch 2.8")
def test_grouped_matmuls_of_experts_are_counted(clean: None) -> None:
    class Experts(nn.Module):
        def forward(self, tokens: torch.Tensor, weights: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
            return torch._grouped_mm(tokens, weights, offsets)

    tokens = torch.randn(32, 16, dtype=torch.bfloat16)
    weights = torch.randn(4, 16, 8, dtype=torch.bfloat16)  # 4 experts of 16 -> 8
    offsets = torch.tensor([8, 16, 24, 32], dtype=torch.int32)
    report = fb.count(Experts(), (tokens, weights, offsets))
    assert report.unsupported == {}
    assert report.macs == 32 * 16 * 8  # every token through one 16 -> 8 expert


def test_outer_products_added_to_a_matrix_are_counted(clean: None) -> None:
    class Outer(nn.Module):
        def forward(self, m: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            return torch.addr(m, u, v)

    report = fb.count(Outer(), (torch.randn(5, 7), torch.randn(5), torch.randn(7)), convention="full")
    assert report.unsupported == {}
    assert (report.macs, report.flops) == (5 * 7, 2 * 5 * 7 + 5 * 7)  # one product and one add per output


def test_a_real_run_puts_back_attributes_the_forward_recomputes(clean: None) -> None:
    class Recomputes(nn.Module):
        """Like old-style spectral norm: a plain ``.weight`` attribute recomputed on every forward."""

        def __init__(self) -> None:
            super().__init__()
            self.weight_orig = nn.Parameter(torch.randn(32, 64))
            self.weight = self.weight_orig.detach() * 1.0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.weight = self.weight_orig * 2.0
            return x @ self.weight.t()

    model = Recomputes()
    weight = model.weight
    assert fb.count(model, X).macs == 4 * 64 * 32
    assert model.weight is weight


def test_a_meta_forward_that_rebinds_data_gets_the_hint_and_leaves_the_model(clean: None) -> None:
    model = HalvesItsWeight()
    weight = model.linear.weight.detach().clone()
    with pytest.raises(RuntimeError, match="measure it with meta=False"):
        fb.count(model, X, meta=True)
    assert torch.equal(model.linear.weight, weight)
    assert model.linear.weight.device.type == "cpu"
    assert type(model(X)) is torch.Tensor
