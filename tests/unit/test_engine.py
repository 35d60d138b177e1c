"""The engine's promises: its API, its errors, and that measuring leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

import pytest_flopbudget as fb
from pytest_flopbudget import watch


class BNDropoutNet(nn.Module):
    """Everything a measurement could disturb: BatchNorm statistics, dropout's RNG draws, a frozen layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(4 * 8 * 8, 5)
        self.head.weight.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.bn(self.conv(x))).flatten(1))


class Exploding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.bn(x)  # updates running statistics first
        raise KeyError("boom from forward")


def _global_hook_state() -> tuple:
    module = nn.modules.module
    return (
        len(module._global_forward_hooks), len(module._global_forward_pre_hooks),
        len(module._global_forward_hooks_always_called), len(_get_current_dispatch_mode_stack()),
    )


def _snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.clone() for k, v in model.state_dict(keep_vars=True).items()},
        "requires_grad": {k: p.requires_grad for k, p in model.named_parameters()},
        "training": {k: m.training for k, m in model.named_modules()},
        "hooks": {k: (len(m._forward_hooks), len(m._forward_pre_hooks)) for k, m in model.named_modules()},
    }


def _assert_unchanged(model: nn.Module, before: dict) -> None:
    after = _snapshot(model)
    assert after["requires_grad"] == before["requires_grad"]
    assert after["training"] == before["training"]
    assert after["hooks"] == before["hooks"]
    for key, value in before["state"].items():
        assert torch.equal(after["state"][key], value), key
    assert _global_hook_state() == (0, 0, 0, 0)


@pytest.mark.parametrize("meta", [False, True])
def test_train_mode_measurement_leaves_model_and_rng_untouched(meta: bool) -> None:
    model = BNDropoutNet().train()
    x = torch.randn(2, 3, 8, 8)
    before = _snapshot(model)
    torch.manual_seed(123)
    fb.count(model, x, meta=meta)
    drawn_after_count = torch.rand(4)
    torch.manual_seed(123)
    drawn_without = torch.rand(4)
    _assert_unchanged(model, before)
    assert torch.equal(drawn_after_count, drawn_without)


@pytest.mark.parametrize("meta", [False, True])
def test_forward_error_propagates_unchanged_and_state_is_restored(meta: bool) -> None:
    model = Exploding().train()
    before = _snapshot(model)
    with pytest.raises(KeyError, match="boom from forward"):
        fb.count(model, torch.randn(4, 3), meta=meta)
    _assert_unchanged(model, before)


def test_watch_removes_its_hooks_even_when_the_block_raises() -> None:
    model = nn.Linear(3, 2)

    def forward_then_raise() -> None:
        with watch(lambda report: None):
            model(torch.randn(1, 3))
            raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        forward_then_raise()
    assert _global_hook_state() == (0, 0, 0, 0)


def test_repeated_counts_are_identical_and_grad_mode_does_not_matter() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
    x = torch.randn(1, 3, 8, 8)
    first = fb.count(model, x).to_dict()
    assert fb.count(model, x).to_dict() == first
    with torch.no_grad():
        assert fb.count(model, x).to_dict() == first
    with torch.inference_mode():
        assert fb.count(model, x).to_dict() == first


def test_report_round_trips_through_json_exactly() -> None:
    import json

    report = fb.count(BNDropoutNet().eval(), torch.randn(1, 3, 8, 8), name="bn-net")
    again = fb.Report.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report
    assert again.to_dict() == report.to_dict()


def test_params_count_tied_weights_once_and_split_frozen() -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(10, 4)
            self.out = nn.Linear(4, 10, bias=False)
            self.out.weight = self.embed.weight  # tied: one tensor of 10 * 4
            self.frozen = nn.Linear(4, 4)  # 4 * 4 + 4 = 20, frozen below
            self.frozen.requires_grad_(False)
            self.register_buffer("scale", torch.ones(3, dtype=torch.float64))

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.out(self.frozen(self.embed(ids)))

    report = fb.count(Tied(), torch.tensor([[1, 2, 3]]))
    assert (report.params, report.trainable_params, report.frozen_params) == (60, 40, 20)
    assert (report.buffers, report.buffer_bytes) == (3, 3 * 8)
    assert report.param_bytes == 60 * 4
    assert report.bytes_by_dtype == {"float32": 240}
    # The tied weight belongs to both modules; each module's own recursive count sees it.
    assert report.modules["embed"].params == 40
    assert report.modules["out"].params == 40


def test_inputs_tensor_tuple_list_dict_and_nested_structures() -> None:
    class TakesStructure(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 2, bias=False)

        def forward(self, batch: dict, scale: float = 1.0, *, extra: torch.Tensor | None = None) -> torch.Tensor:
            assert isinstance(batch, dict)
            assert isinstance(batch["pair"], tuple)
            out = self.proj(batch["pair"][0]) * scale
            return out if extra is None else out + self.proj(extra)

    model = TakesStructure()
    x = torch.randn(3, 4)
    one = fb.count(model, ({"pair": (x, None)},))
    assert one.macs == 3 * 4 * 2
    assert one.input_shapes == [[3, 4]]
    two = fb.count(model, [{"pair": (x, None)}, 2.0])
    assert two.macs == one.macs
    three = fb.count(model, {"batch": {"pair": (x, None)}, "extra": x})
    assert three.macs == 2 * one.macs
    assert three.input_shapes == [[3, 4], [3, 4]]
    linear = nn.Linear(4, 2, bias=False)
    assert fb.count(linear, x).macs == one.macs


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: fb.count(lambda x: x, torch.ones(1)), TypeError, "model: expected a torch.nn.Module"),
        (lambda: fb.count(nn.Linear(1, 1), {1, 2}), TypeError, "inputs: expected a tensor"),
        (lambda: fb.count(nn.Linear(1, 1), {1: torch.ones(1)}), TypeError, "inputs: a dict"),
        (lambda: fb.count(nn.Linear(1, 1), torch.ones(1), convention="flops"), ValueError, "convention"),
        (lambda: fb.count(nn.Linear(1, 1), torch.ones(1), meta="yes"), TypeError, "meta"),
    ],
)
def test_bad_input_names_the_argument(call, error, words) -> None:
    with pytest.raises(error, match=words):
        call()
    assert _global_hook_state() == (0, 0, 0, 0)


def test_meta_on_a_model_built_on_the_meta_device_with_real_inputs() -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(1000, 1000), nn.ReLU(), nn.Linear(1000, 10))
    report = fb.count(model, torch.randn(2, 1000), meta=True)
    assert report.macs == 2 * (1000 * 1000 + 1000 * 10)
    assert report.params == 1000 * 1000 + 1000 + 1000 * 10 + 10
    assert report.meta is True


def test_meta_needs_no_activation_memory_and_matches_real() -> None:
    # A 1x3x2048x2048 input through a 64-channel conv would allocate 1 GiB of activations for real.
    model = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU())
    big = torch.empty(1, 3, 2048, 2048, device="meta")
    report = fb.count(model, big, meta=True)
    assert report.macs == 64 * 2048 * 2048 * 3 * 3 * 3
    small = torch.randn(1, 3, 16, 16)
    assert fb.count(model, small, meta=True).to_dict() | {"meta": False} == fb.count(model, small).to_dict()


def test_data_dependent_forward_under_meta_gets_a_clear_error() -> None:
    class DataDependent(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[x > 0]

    with pytest.raises(RuntimeError, match="meta=True cannot run DataDependent.*meta=False"):
        fb.count(DataDependent(), torch.randn(4), meta=True)
    assert _global_hook_state() == (0, 0, 0, 0)


def test_importing_the_package_and_plugin_does_not_import_torch() -> None:
    code = "import sys, pytest_flopbudget, pytest_flopbudget.engine.report; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_dynamic_modules_outside_the_tree_are_named_under_their_caller() -> None:
    class MakesModules(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return nn.Linear(4, 2)(self.body(x))  # a module not registered anywhere

    report = fb.count(MakesModules(), torch.randn(1, 4))
    assert report.modules["<Linear>"].macs == 4 * 2
    assert report.macs == 4 * 4 + 4 * 2


def test_table_shows_modules_to_the_requested_depth() -> None:
    model = nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), nn.Linear(4, 1))
    report = fb.count(model, torch.randn(1, 4))
    shallow, deep = report.table(depth=1), report.table(depth=None)
    assert "(model)" in shallow
    assert "Sequential" in shallow
    assert "ReLU" not in shallow
    assert "ReLU" in deep
    assert "FLOPs (full)" in deep


class KwargsModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 3)

    def forward(self, *, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def test_watch_measures_each_outermost_signature_once() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    reports: list[fb.Report] = []
    with watch(reports.append):
        for _ in range(100):  # a training loop: one signature, one measurement
            optimizer.zero_grad()
            model(torch.randn(5, 4)).sum().backward()
            optimizer.step()
        model(torch.randn(7, 4))  # a new batch size is a new signature
        model.eval()
        model(torch.randn(7, 4))  # so is another mode
    assert [r.input_shapes for r in reports] == [[[5, 4]], [[7, 4]], [[7, 4]]]
    assert [r.macs for r in reports] == [5 * (4 * 8 + 8 * 2), 7 * (4 * 8 + 8 * 2), 7 * (4 * 8 + 8 * 2)]
    assert reports[0].modules["0"].calls == 1
    assert reports[0].modules[""].calls == 1


def test_watch_sees_keyword_tensors_and_skips_count_and_failed_forwards() -> None:
    model = KwargsModel()
    reports: list[fb.Report] = []
    with watch(reports.append):
        model(x=torch.randn(2, 4))
        model(x=torch.randn(2, 4))
        model(x=torch.randn(6, 4))  # same positional args (none), different keyword shapes
        fb.count(model, {"x": torch.randn(9, 4)})  # measured by count itself, not by the watch
        with pytest.raises(TypeError):
            model(torch.randn(3, 4))  # positional call of a keyword-only forward raises: not reported
    assert [r.macs for r in reports] == [2 * 4 * 3, 6 * 4 * 3]
    assert _global_hook_state() == (0, 0, 0, 0)


def test_watch_reports_forwards_returning_none_and_retries_after_a_raise() -> None:
    class StoresOutput(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 2, bias=False)
            self.fail = True

        def forward(self, x: torch.Tensor) -> None:
            self.out = self.proj(x)
            if self.fail:
                self.fail = False
                raise ValueError("first call fails")

    model = StoresOutput()
    reports: list[fb.Report] = []
    with watch(reports.append):
        with pytest.raises(ValueError, match="first call fails"):
            model(torch.randn(3, 4))
        model(torch.randn(3, 4))  # same signature as the failed call: measured now
        model(torch.randn(3, 4))
    assert [r.macs for r in reports] == [3 * 4 * 2]
    assert _global_hook_state() == (0, 0, 0, 0)


def test_meta_device_model_that_needs_fake_tensors_still_counts() -> None:
    class ChecksValues(nn.Module):
        """Like transformers' mask check: reads a value, except on fake tensors."""

        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(8, 8, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            from torch._subclasses.fake_tensor import FakeTensor

            if not isinstance(x, FakeTensor) and bool((x == 0).all()):
                return x
            return self.proj(x)

    with torch.device("meta"):
        model = ChecksValues()
    report = fb.count(model, torch.randn(2, 8), meta=True)
    assert report.macs == 2 * 8 * 8
    assert report.modules["proj"].calls == 1  # the failed meta-tensor attempt left nothing in the report


def test_watch_does_not_confuse_a_new_model_with_a_freed_one() -> None:
    reports: list[fb.Report] = []
    x = torch.randn(1, 4)
    widths = [4, 8, 4, 8, 16, 4, 32, 64, 128, 4, 8, 16, 32, 64, 128, 256, 1024]
    with watch(reports.append):
        for width in widths:
            model = nn.Linear(4, width)
            model(x)
            del model  # the next model may get the same id()
    assert sorted(r.macs for r in reports) == sorted(4 * w for w in widths)


def test_rebound_and_added_buffers_are_put_back() -> None:
    class Steps(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("steps", torch.zeros((), dtype=torch.long))
            self.proj = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.steps = self.steps + 1  # rebinds the buffer slot to a new tensor
            self.register_buffer("cache", torch.ones(2))  # added during the forward
            return self.proj(x)

    for meta in (False, True):
        model = Steps()
        original = model.steps
        fb.count(model, torch.randn(3, 2), meta=meta)
        assert model.steps is original
        assert int(model.steps) == 0
        assert type(model.steps) is torch.Tensor
        assert "cache" not in model._buffers
        torch.save(model.state_dict(), __import__("io").BytesIO())  # no fake tensor left to pickle


def test_lazy_modules_are_refused_before_anything_runs() -> None:
    model = nn.Sequential(nn.LazyLinear(4))
    for meta in (False, True):
        with pytest.raises(ValueError, match=r"model: Sequential has uninitialized lazy modules \('0'\)"):
            fb.count(model, torch.randn(2, 3), meta=meta)
        assert model[0].has_uninitialized_params()
    model(torch.randn(2, 3))  # initialized by the user: now it can be measured
    assert fb.count(model, torch.randn(2, 3)).macs == 2 * 3 * 4


def test_a_models_own_error_mentioning_meta_is_not_rewritten() -> None:
    class Bad(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("bad metadata in checkpoint")

    for meta in (False, True):
        with pytest.raises(RuntimeError, match="^bad metadata in checkpoint$"):
            fb.count(Bad(), torch.randn(1), meta=meta)


def test_name_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="name: expected a string or None, got int"):
        fb.count(nn.Linear(2, 2), torch.randn(1, 2), name=7)


def test_batch_objects_are_looked_into_for_shapes() -> None:
    from dataclasses import dataclass

    @dataclass
    class Batch:
        features: torch.Tensor
        label: str

    class TakesBatch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 2, bias=False)

        def forward(self, batch: Batch) -> torch.Tensor:
            return self.proj(batch.features)

    model = TakesBatch()
    assert fb.count(model, (Batch(torch.randn(3, 4), "a"),)).input_shapes == [[3, 4]]
    reports: list[fb.Report] = []
    with watch(reports.append):
        model(Batch(torch.randn(3, 4), "a"))
        model(Batch(torch.randn(5, 4), "a"))  # same type, other shapes: a new signature
    assert [r.macs for r in reports] == [3 * 4 * 2, 5 * 4 * 2]
