#!/usr/bin/env python3
"""pytest-flopbudget's performance targets, measured as ratios taken side by side in one run.

Every figure is a ratio of two medians measured in the same process (or in fresh subprocesses launched
by the same run), interleaved so that a slow spell of a shared machine hits both sides. This is a
report, not a test: it always exits 0 and prints MISSED next to any target that is not met. (Timed
assertions do not belong in a test suite; tests/test_bench.py only checks that this script runs.)

Targets:

1. Counting a real forward costs at most 1.25x the plain forward (ResNet-50 at 224, BERT-base at seq 128,
   batch 1, both sides under torch.no_grad()).
2. meta=True on a 7B LLaMA-style configuration (hidden 4096, 32 layers, 32 heads, intermediate 11008,
   vocab 32000, seq 2048) built on the meta device counts in at most 2 s, with at most 1 GiB peak RSS
   for the whole process (a fresh subprocess per variant; its peak RSS is read from /proc/self/status
   VmHWM, because on Linux a child's ru_maxrss starts at the forking parent's peak).
3. On a model with real weights (GPT-2 124M from GPT2Config()), meta=True costs at most 0.3x the real count.
4. In meta mode the cost does not grow with the input: ResNet-50 at 896 costs at most 1.1x ResNet-50 at 224.
5. Importing the plugin does not import torch; a pytest session over tests that never touch torch pays at
   most 50 ms more with the plugin than with ``-p no:flopbudget`` (median of repeated subprocess runs).
6. The marker on a test running a 100-step training loop of a small model costs at most 1.3x the same
   test without it (and the engine's ``watch()`` alone, which the marker is built on, likewise).

    python bench/perf.py           # full sizes (a few minutes)
    python bench/perf.py --tiny    # smoke run in seconds (also: FLOPBUDGET_BENCH_TINY=1)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024 ** 3


@dataclass
class Row:
    target: str
    measured: str
    limit: str
    status: str  # PASS, MISSED, N/A, info
    detail: str = ""


def median_ratio(numerator: Callable[[], Any], denominator: Callable[[], Any], repeats: int,
                 warmup: int) -> tuple[float, float, float]:
    """(median numerator s, median denominator s, ratio), calls interleaved after untimed warm-ups."""
    for _ in range(warmup):
        denominator()
        numerator()
    top: list[float] = []
    bottom: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        denominator()
        bottom.append(time.perf_counter() - start)
        start = time.perf_counter()
        numerator()
        top.append(time.perf_counter() - start)
    a, b = statistics.median(top), statistics.median(bottom)
    return a, b, a / b


def child_env() -> dict[str, str]:
    """Subprocesses use as many torch threads as this process, and no inherited pytest options."""
    return {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()), "PYTEST_ADDOPTS": ""}


def verdict(value: float, limit: float) -> str:
    return "PASS" if value <= limit else "MISSED"


def quiet_transformers():
    import transformers

    transformers.logging.set_verbosity_error()
    return transformers


# ------------------------------------------------------------------------------- 1. real-count overhead


def target_real_overhead(tiny: bool, repeats: int, warmup: int, extra_single_thread: bool) -> list[Row]:
    """count() on a real forward against the same forward, both under no_grad.

    The engine's cost is a per-op and per-module-call constant, so this ratio shrinks as the forward gets
    slower: with ``extra_single_thread`` the same pair is also measured on one torch thread.
    """
    import torchvision

    from pytest_flopbudget import count

    rows = []
    t = quiet_transformers()
    image, seq = (64, 16) if tiny else (224, 128)
    bert_config = t.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                               vocab_size=1000) if tiny else t.BertConfig()
    cases = [
        (f"ResNet-50 {image}", torchvision.models.resnet50().eval(), torch.randn(1, 3, image, image)),
        (f"BERT-base seq {seq}" if not tiny else f"BERT (tiny) seq {seq}", t.BertModel(bert_config).eval(),
         torch.randint(0, bert_config.vocab_size, (1, seq))),
    ]
    default_threads = torch.get_num_threads()
    settings = [default_threads] + ([1] if extra_single_thread and default_threads > 1 else [])
    for threads in settings:
        torch.set_num_threads(threads)
        try:
            for label, model, x in cases:
                with torch.no_grad():
                    counted, plain, ratio = median_ratio(lambda model=model, x=x: count(model, x),
                                                         lambda model=model, x=x: model(x), repeats, warmup)
                rows.append(Row(f"real count / plain forward, {label}, batch 1, no_grad, {threads} torch "
                                f"thread{'s' if threads > 1 else ''}", f"{ratio:.2f}x", "<= 1.25x",
                                verdict(ratio, 1.25),
                                f"count {counted * 1e3:.1f} ms, forward {plain * 1e3:.1f} ms, "
                                f"engine +{(counted - plain) * 1e3:.1f} ms"))
        finally:
            torch.set_num_threads(default_threads)
    return rows


# ------------------------------------------------------------------------------------ 2. 7B on meta

_LLAMA_CHILD = r'''
import json, resource, sys, time
spec = json.loads(SPEC_JSON)

def rss():
    """Peak RSS of this process. VmHWM, not ru_maxrss: on Linux a child's ru_maxrss starts from its parent's
    peak at fork time (the forking parent's pages count until exec), which would bill the benchmark's own
    memory to the child."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB

import torch
from torch import nn
import torch.nn.functional as F
from pytest_flopbudget import count

hidden, layers, heads, kv_heads = spec["hidden"], spec["layers"], spec["heads"], spec["kv_heads"]
intermediate, vocab, seq = spec["intermediate"], spec["vocab"], spec["seq"]
head_dim = hidden // heads

builders = {}
if any(v["builder"] == "torch" for v in spec["variants"]):
    # A hand-written pure-torch LLaMA: RMSNorm, rotary q/k, causal SDPA, SwiGLU MLP.
    def rotate_half(x):
        a, b = x.chunk(2, dim=-1)
        return torch.cat((-b, a), dim=-1)

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj = nn.Linear(hidden, heads * head_dim, bias=False)
            self.k_proj = nn.Linear(hidden, kv_heads * head_dim, bias=False)
            self.v_proj = nn.Linear(hidden, kv_heads * head_dim, bias=False)
            self.o_proj = nn.Linear(heads * head_dim, hidden, bias=False)

        def forward(self, x, cos, sin):
            b, t, _ = x.shape
            q = self.q_proj(x).view(b, t, heads, head_dim).transpose(1, 2)
            k = self.k_proj(x).view(b, t, kv_heads, head_dim).transpose(1, 2)
            v = self.v_proj(x).view(b, t, kv_heads, head_dim).transpose(1, 2)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=kv_heads != heads)
            return self.o_proj(out.transpose(1, 2).reshape(b, t, heads * head_dim))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.gate_proj = nn.Linear(hidden, intermediate, bias=False)
            self.up_proj = nn.Linear(hidden, intermediate, bias=False)
            self.down_proj = nn.Linear(intermediate, hidden, bias=False)

        def forward(self, x):
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.input_layernorm = nn.RMSNorm(hidden, eps=1e-6)
            self.self_attn = Attention()
            self.post_attention_layernorm = nn.RMSNorm(hidden, eps=1e-6)
            self.mlp = MLP()

        def forward(self, x, cos, sin):
            x = x + self.self_attn(self.input_layernorm(x), cos, sin)
            return x + self.mlp(self.post_attention_layernorm(x))

    class Llama(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_tokens = nn.Embedding(vocab, hidden)
            self.layers = nn.ModuleList(Block() for _ in range(layers))
            self.norm = nn.RMSNorm(hidden, eps=1e-6)
            self.register_buffer("inv_freq", 1.0 / 10000 ** (torch.arange(0, head_dim, 2).float() / head_dim),
                                 persistent=False)

        def forward(self, input_ids):
            positions = torch.arange(input_ids.shape[1], device=input_ids.device).float()
            freqs = positions[:, None] * self.inv_freq[None, :]
            angles = torch.cat((freqs, freqs), dim=-1)
            cos, sin = angles.cos(), angles.sin()
            x = self.embed_tokens(input_ids)
            for layer in self.layers:
                x = layer(x, cos, sin)
            return self.norm(x)

    builders["torch"] = Llama
if any(v["builder"] == "transformers" for v in spec["variants"]):
    import transformers
    transformers.logging.set_verbosity_error()
    config = transformers.LlamaConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                                      num_key_value_heads=kv_heads, intermediate_size=intermediate,
                                      vocab_size=vocab, max_position_embeddings=max(seq, 2048))
    builders["transformers"] = lambda: transformers.LlamaModel(config)

rss_imports = rss()
for variant in spec["variants"]:
    start = time.perf_counter()
    with torch.device("meta"):
        model = builders[variant["builder"]]()
    build_s = time.perf_counter() - start
    ids = torch.zeros(1, seq, dtype=torch.long)
    inputs = {"input_ids": ids, **variant["kwargs"]} if variant["kwargs"] else ids
    result = {"name": variant["name"], "rss_imports": rss_imports, "build_s": build_s}
    try:
        start = time.perf_counter()
        report = count(model, inputs, meta=True)
        result["first_s"] = time.perf_counter() - start
        start = time.perf_counter()
        count(model, inputs, meta=True)
        result["second_s"] = time.perf_counter() - start
        result["macs"] = report.macs
        result["unsupported"] = report.unsupported
    except Exception as error:
        message = str(error).strip().splitlines()
        result["error"] = f"{type(error).__name__}: {message[0] if message else ''}"[:160]
    result["rss"] = rss()
    print("RESULT " + json.dumps(result), flush=True)
    del model
'''


def llama_analytic(hidden: int, layers: int, heads: int, kv_heads: int, intermediate: int, seq: int) -> int:
    """MACs of LlamaModel (no LM head): q/o projections, GQA k/v projections, dense causal attention, SwiGLU."""
    head_dim = hidden // heads
    per_layer = (2 * seq * hidden * hidden + 2 * seq * hidden * kv_heads * head_dim
                 + 2 * seq * seq * heads * head_dim + 3 * seq * hidden * intermediate)
    return layers * per_layer


def target_llama_meta(tiny: bool) -> list[Row]:
    size = dict(hidden=256, layers=2, heads=8, kv_heads=8, intermediate=688, vocab=1000, seq=128) if tiny else \
        dict(hidden=4096, layers=32, heads=32, kv_heads=32, intermediate=11008, vocab=32000, seq=2048)
    label = "tiny LLaMA" if tiny else "7B LLaMA"
    expected = llama_analytic(size["hidden"], size["layers"], size["heads"], size["kv_heads"], size["intermediate"],
                              size["seq"])
    variants = [
        {"name": "transformers LlamaModel, count(model, input_ids, meta=True)", "builder": "transformers",
         "kwargs": {}},
        {"name": "transformers LlamaModel, use_cache=False (as in training code)", "builder": "transformers",
         "kwargs": {"use_cache": False}},
        {"name": "hand-written pure-torch LLaMA stack", "builder": "torch", "kwargs": {}},
    ]
    # Peak RSS is a whole-process figure: each variant gets its own fresh process. A --tiny smoke run runs
    # the same code in this process instead, to save the start-up time (its RSS is then this process's).
    batches = [variants] if tiny else [[variant] for variant in variants]
    results: dict[str, dict] = {}
    for batch in batches:
        spec = json.dumps({**size, "variants": batch})
        if tiny:
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(_LLAMA_CHILD, "<llama_child>", "exec"), {"SPEC_JSON": spec, "__name__": "llama_child"})
            stdout, stderr = printed.getvalue(), ""
        else:
            proc = subprocess.run([sys.executable, "-c", "import sys; SPEC_JSON = sys.argv[1]\n" + _LLAMA_CHILD, spec],
                                  capture_output=True, text=True, timeout=600, cwd=ROOT, env=child_env())
            stdout, stderr = proc.stdout, proc.stderr
        for line in stdout.splitlines():
            if line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
                results[result["name"]] = result
        for variant in batch:
            if variant["name"] not in results:
                tail = (stderr.strip().splitlines() or ["no output"])[-1][:160]
                results[variant["name"]] = {"crash": tail}
    rows = []
    for variant in variants:
        title, result = variant["name"], results[variant["name"]]
        if "crash" in result or "error" in result:
            rows.append(Row(f"meta=True {label} on meta device: {title}", "crashed" if "crash" in result else "error",
                            "<= 2 s", "MISSED", result.get("crash") or result["error"]))
            continue
        rss_gib = result["rss"] / GIB
        correct = "MACs match the analytic count" if result["macs"] == expected else \
            f"MACs {result['macs']:,} != analytic {expected:,}"
        where = "in-process smoke run" if tiny else "fresh process"
        rows.append(Row(f"meta=True {label} on meta device: {title}, count time (first call, {where})",
                        f"{result['first_s']:.2f} s", "<= 2 s", verdict(result["first_s"], 2.0),
                        f"second call {result['second_s']:.2f} s; build {result['build_s']:.2f} s; "
                        f"{result['macs'] / 1e12:.2f} TMACs, {correct}"))
        rows.append(Row(f"meta=True {label} on meta device: {title}, peak RSS of the whole process",
                        f"{rss_gib:.2f} GiB", "<= 1 GiB", verdict(rss_gib, 1.0),
                        f"of which imports (torch, transformers, pytest_flopbudget): "
                        f"{result['rss_imports'] / GIB:.2f} GiB"))
    return rows


# ------------------------------------------------------------------------------- 3. meta vs real count


def target_meta_vs_real(tiny: bool, repeats: int, warmup: int) -> list[Row]:
    import torchvision

    from pytest_flopbudget import count

    t = quiet_transformers()
    config = t.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=1000, bos_token_id=0, eos_token_id=0) \
        if tiny else t.GPT2Config()
    gpt2 = t.GPT2Model(config).eval()
    rows = []
    for seq in ((16, 64) if tiny else (128, 1024)):
        ids = torch.randint(0, config.vocab_size, (1, seq))
        with torch.no_grad():
            meta, real, ratio = median_ratio(lambda ids=ids: count(gpt2, ids, meta=True),
                                             lambda ids=ids: count(gpt2, ids), repeats, warmup)
        limit = 0.5 if seq <= 128 else 0.3
        rows.append(Row(f"meta=True count / real count, GPT-2 {'(tiny)' if tiny else '124M'} seq {seq}, batch 1",
                        f"{ratio:.2f}x", f"<= {limit}x", verdict(ratio, limit),
                        f"meta {meta * 1e3:.1f} ms, real {real * 1e3:.1f} ms"))
    image = 64 if tiny else 224
    resnet = torchvision.models.resnet50().eval()
    x = torch.randn(1, 3, image, image)
    with torch.no_grad():
        meta, real, ratio = median_ratio(lambda: count(resnet, x, meta=True), lambda: count(resnet, x),
                                         repeats, warmup)
    rows.append(Row(f"meta=True count / real count, ResNet-50 {image}, batch 1 (no target)", f"{ratio:.2f}x", "-",
                    "info", f"meta {meta * 1e3:.1f} ms, real {real * 1e3:.1f} ms"))
    return rows


# ---------------------------------------------------------------------------- 4. meta cost vs input size


def target_meta_flat(tiny: bool, repeats: int, warmup: int) -> list[Row]:
    import torchvision

    from pytest_flopbudget import count

    small, large = (56, 224) if tiny else (224, 896)
    model = torchvision.models.resnet50().eval()
    x_small, x_large = torch.randn(1, 3, small, small), torch.randn(1, 3, large, large)
    with torch.no_grad():
        big, little, ratio = median_ratio(lambda: count(model, x_large, meta=True),
                                          lambda: count(model, x_small, meta=True), repeats, warmup)
    return [Row(f"meta=True ResNet-50 at {large} / at {small}", f"{ratio:.2f}x", "<= 1.1x", verdict(ratio, 1.1),
                f"{large}: {big * 1e3:.1f} ms, {small}: {little * 1e3:.1f} ms")]


# ------------------------------------------------------------------------------------------ 6. the zoo


def _zoo(tiny: bool) -> list[Any]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("flopbudget_bench_compare", Path(__file__).with_name("compare.py"))
    assert spec is not None and spec.loader is not None
    compare = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = compare  # dataclasses look their module up while the class is made
    spec.loader.exec_module(compare)
    return compare.zoo(tiny)


def target_zoo(tiny: bool, repeats: int, warmup: int) -> list[Row]:
    """On every model of compare.py's zoo, batch 1: real count / plain forward, and meta count / real count."""
    from pytest_flopbudget import count

    quiet_transformers()
    rows = []
    for case in _zoo(tiny):
        model, x = case.build().eval(), case.inputs()
        with torch.no_grad():
            counted, plain, overhead = median_ratio(lambda model=model, x=x: count(model, x),
                                                    lambda model=model, x=x: model(x), repeats, warmup)
            meta, real, meta_ratio = median_ratio(lambda model=model, x=x: count(model, x, meta=True),
                                                  lambda model=model, x=x: count(model, x), repeats, warmup)
        rows.append(Row(f"real count / plain forward, {case.name}, batch 1", f"{overhead:.2f}x", "<= 1.25x",
                        verdict(overhead, 1.25), f"count {counted * 1e3:.1f} ms, forward {plain * 1e3:.1f} ms"))
        rows.append(Row(f"meta=True count / real count, {case.name}, batch 1", f"{meta_ratio:.2f}x", "<= 1.0x",
                        verdict(meta_ratio, 1.0), f"meta {meta * 1e3:.1f} ms, real {real * 1e3:.1f} ms"))
    return rows


def target_zoo_batch(tiny: bool, repeats: int, warmup: int) -> list[Row]:
    """meta count / real count at batch 32 (the CNNs, where a real batch is expensive)."""
    from pytest_flopbudget import count

    batch = 4 if tiny else 32
    rows = []
    for case in _zoo(tiny):
        if case.name not in ("ResNet-50", "MobileNetV2"):
            continue
        model, x = case.build().eval(), case.inputs()
        x = x.expand(batch, *x.shape[1:]).contiguous()
        with torch.no_grad():
            meta, real, ratio = median_ratio(lambda model=model, x=x: count(model, x, meta=True),
                                             lambda model=model, x=x: count(model, x), repeats, warmup)
        rows.append(Row(f"meta=True count / real count, {case.name}, batch {batch}", f"{ratio:.2f}x", "<= 0.3x",
                        verdict(ratio, 0.3), f"meta {meta * 1e3:.1f} ms, real {real * 1e3:.1f} ms"))
    return rows


def target_lstm_meta(tiny: bool) -> list[Row]:
    """An LSTM built on the meta device, 10,000 steps, meta=True: the module formula needs no step to run."""
    from torch import nn

    from pytest_flopbudget import count

    steps = 100 if tiny else 10_000
    with torch.device("meta"):
        lstm = nn.LSTM(256, 512, num_layers=2)
    x = torch.randn(steps, 1, 256)
    count(lstm, torch.randn(2, 1, 256), meta=True)  # warm the machinery once
    start = time.perf_counter()
    report = count(lstm, x, meta=True)
    seconds = time.perf_counter() - start
    expected = steps * 4 * 512 * ((256 + 512) + (512 + 512))  # two layers of G*H*(I_l + H) per step
    status = verdict(seconds, 1.0) if report.macs == expected else "MISSED"
    return [Row(f"LSTM 2x512 on the meta device, {steps} steps, meta=True", f"{seconds:.3f} s", "<= 1 s", status,
                f"MACs {report.macs} (analytic {expected})")]


# ------------------------------------------------------------------------------------- 5. plugin import


def plugin_present() -> bool:
    return (ROOT / "pytest_flopbudget" / "plugin.py").exists()


def target_plugin_import(tiny: bool) -> list[Row]:
    rows = []
    probe = "import sys, {0}; print('torch' in sys.modules)"
    for module in ("pytest_flopbudget", "pytest_flopbudget.plugin"):
        if module.endswith("plugin") and not plugin_present():
            rows.append(Row(f"`import {module}` leaves torch unimported", "plugin.py missing", "no torch", "N/A"))
            continue
        proc = subprocess.run([sys.executable, "-c", probe.format(module)], capture_output=True, text=True,
                              timeout=120, cwd=ROOT)
        imported = proc.stdout.strip()
        if proc.returncode != 0:
            rows.append(Row(f"`import {module}` leaves torch unimported", "import failed", "no torch", "MISSED",
                            (proc.stderr.strip().splitlines() or [""])[-1][:160]))
        else:
            rows.append(Row(f"`import {module}` leaves torch unimported",
                            "torch imported" if imported == "True" else "torch not imported", "no torch",
                            "MISSED" if imported == "True" else "PASS"))

    label = "pytest session over 20 torch-free tests: with plugin - with -p no:flopbudget"
    if not plugin_present():
        rows.append(Row(label, "plugin.py missing", "<= 50 ms", "N/A",
                        "the entry point cannot load until pytest_flopbudget/plugin.py exists"))
        return rows
    runs = 1 if tiny else 21
    with tempfile.TemporaryDirectory() as tmp:
        body = "".join(f"def test_{i}():\n    assert {i} + 1 == {i + 1}\n\n" for i in range(20))
        Path(tmp, "test_plain.py").write_text(body)
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", tmp]
        env = child_env()

        def session(extra: list[str]) -> float:
            start = time.perf_counter()
            proc = subprocess.run(base + extra, capture_output=True, text=True, cwd=tmp, env=env, timeout=300)
            elapsed = time.perf_counter() - start
            if proc.returncode != 0:
                raise RuntimeError((proc.stdout + proc.stderr).strip().splitlines()[-1][:160])
            return elapsed

        try:
            if not tiny:
                session([])  # warm the file cache and bytecode
            with_plugin, without = [], []
            for _ in range(runs):
                without.append(session(["-p", "no:flopbudget"]))
                with_plugin.append(session([]))
        except RuntimeError as error:
            rows.append(Row(label, "session failed", "<= 50 ms", "MISSED", str(error)))
            return rows
    delta = (statistics.median(with_plugin) - statistics.median(without)) * 1e3
    rows.append(Row(label, f"{delta:+.0f} ms", "<= 50 ms", verdict(delta, 50.0),
                    f"median of {runs}: with {statistics.median(with_plugin) * 1e3:.0f} ms, "
                    f"without {statistics.median(without) * 1e3:.0f} ms (fastest: {min(with_plugin) * 1e3:.0f} vs "
                    f"{min(without) * 1e3:.0f} ms)"))
    return rows


# ---------------------------------------------------------------------------------- 6. marker overhead

_LOOP = '''
import torch
from torch import nn
import torch.nn.functional as F


def train_loop(steps, batch):
    """A small CNN trained for `steps` SGD steps on one random batch (what a smoke test of training does)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    return float(loss.detach())
'''


def target_marker(tiny: bool, repeats: int) -> list[Row]:
    from pytest_flopbudget import watch

    steps, batch = (10, 8) if tiny else (100, 32)
    namespace: dict[str, Any] = {}
    exec(compile(_LOOP, "<train_loop>", "exec"), namespace)
    loop = namespace["train_loop"]
    reports: list[Any] = []

    def watched() -> None:
        with watch(reports.append):
            loop(steps, batch)

    watched_s, bare_s, ratio = median_ratio(watched, lambda: loop(steps, batch), repeats, 1)
    measured_once = len(reports) == repeats + 1
    rows = [Row(f"`with watch(...)` around a {steps}-step training loop / the bare loop (engine under the marker)",
                f"{ratio:.2f}x", "<= 1.3x", verdict(ratio, 1.3),
                f"watched {watched_s * 1e3:.0f} ms, bare {bare_s * 1e3:.0f} ms; "
                f"{'one report per loop (measured once)' if measured_once else f'{len(reports)} reports'}")]

    label = f"@pytest.mark.flop_budget test with a {steps}-step training loop / the same test unmarked"
    if not plugin_present():
        rows.append(Row(label, "plugin.py missing", "<= 1.3x", "N/A",
                        "measured the engine's watch() instead (row above)"))
        return rows
    pairs = 1 if tiny else 5
    tests = [_LOOP, f"import pytest\n\n\ndef test_0_warmup():\n    train_loop({steps}, {batch})\n"]
    for i in range(pairs):
        tests.append(f"\ndef test_{i + 1}_a_bare():\n    train_loop({steps}, {batch})\n")
        tests.append(f"\n@pytest.mark.flop_budget(max_gflops=1000)\ndef test_{i + 1}_b_marked():\n"
                     f"    train_loop({steps}, {batch})\n")
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "test_loop.py").write_text("".join(tests))
        xml = Path(tmp, "junit.xml")
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                               f"--junitxml={xml}", "test_loop.py"], capture_output=True, text=True, cwd=tmp,
                              timeout=600, env=child_env())
        if proc.returncode != 0 or not xml.exists():
            tail = (proc.stdout + proc.stderr).strip().splitlines()
            rows.append(Row(label, "pytest failed", "<= 1.3x", "MISSED", (tail or [""])[-1][:160]))
            return rows
        import xml.etree.ElementTree as ElementTree

        times = {case.get("name"): float(case.get("time", "nan"))
                 for case in ElementTree.parse(xml).getroot().iter("testcase")}
    marked = [v for k, v in times.items() if k.endswith("_b_marked")]
    bare = [v for k, v in times.items() if k.endswith("_a_bare")]
    ratio = statistics.median(marked) / statistics.median(bare)
    rows.append(Row(label, f"{ratio:.2f}x", "<= 1.3x", verdict(ratio, 1.3),
                    f"junit durations (setup+call+teardown), median of {pairs}: marked "
                    f"{statistics.median(marked) * 1e3:.0f} ms, bare {statistics.median(bare) * 1e3:.0f} ms"))
    return rows


# ------------------------------------------------------------------------------------------------ main


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(Exception):
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    load = ""
    with contextlib.suppress(Exception):
        load = f", load average {os.getloadavg()[0]:.2f}"
    return f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}{load}"


def render(rows: list[Row], markdown: bool) -> str:
    if markdown:
        out = ["| Target | Measured | Limit | Result | Detail |", "|---|---:|---:|---|---|"]
        for row in rows:
            status = f"**{row.status}**" if row.status == "MISSED" else row.status
            out.append(f"| {row.target} | {row.measured} | {row.limit} | {status} | {row.detail} |")
        return "\n".join(out)
    width = max(len(row.target) for row in rows)
    out = [f"{'target':<{width}}  {'measured':>18}  {'limit':>9}  result"]
    for row in rows:
        out.append(f"{row.target:<{width}}  {row.measured:>18}  {row.limit:>9}  {row.status}")
        if row.detail:
            out.append(f"{'':<{width}}    {row.detail}")
    return "\n".join(out)


SECTIONS = ("overhead", "llama", "meta-vs-real", "meta-flat", "plugin", "marker", "zoo", "zoo-batch", "lstm")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", default=os.environ.get("FLOPBUDGET_BENCH_TINY") == "1",
                        help="tiny sizes and few repeats: a smoke run in seconds")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    parser.add_argument("--markdown-file", default=None, help="also write the README table to this file")
    parser.add_argument("--repeat", type=int, default=None, help="timed repeats per ratio (default 11, tiny 2)")
    parser.add_argument("--only", default="", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads here and in subprocesses (default: torch's own choice; --tiny: 1)")
    args = parser.parse_args(argv)
    threads = args.threads if args.threads is not None else (1 if args.tiny else None)
    if threads:
        torch.set_num_threads(threads)
    repeats = args.repeat if args.repeat is not None else (2 if args.tiny else 11)
    warmup = 1 if args.tiny else 3
    only = {s.strip() for s in args.only.split(",") if s.strip()} or set(SECTIONS)
    print(f"pytest-flopbudget performance targets on {machine()}{' (--tiny sizes)' if args.tiny else ''}")
    print("Each figure is a ratio of medians measured side by side in this run.\n", flush=True)
    sections: list[tuple[str, Callable[[], list[Row]]]] = [
        ("overhead", lambda: target_real_overhead(args.tiny, repeats, warmup, extra_single_thread=not threads)),
        ("llama", lambda: target_llama_meta(args.tiny)),
        ("meta-vs-real", lambda: target_meta_vs_real(args.tiny, max(3, repeats // 2), warmup)),
        ("meta-flat", lambda: target_meta_flat(args.tiny, repeats, warmup)),
        ("plugin", lambda: target_plugin_import(args.tiny)),
        ("marker", lambda: target_marker(args.tiny, max(2, repeats // 2))),
        ("zoo", lambda: target_zoo(args.tiny, max(3, repeats // 2), warmup)),
        ("zoo-batch", lambda: target_zoo_batch(args.tiny, 3 if not args.tiny else 2, 1)),
        ("lstm", lambda: target_lstm_meta(args.tiny)),
    ]
    rows: list[Row] = []
    for name, run in sections:
        if name not in only:
            continue
        print(f"measuring {name} ...", end=" ", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            rows.extend(run())
        except Exception as error:  # a report: one broken measurement must not hide the others
            rows.append(Row(name, "error", "-", "MISSED", f"{type(error).__name__}: {error}"[:200]))
        print(f"{time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    print(render(rows, args.markdown))
    if args.markdown_file:
        with open(args.markdown_file, "w") as file:
            file.write(f"Machine: {machine()}\n\n{render(rows, True)}\n")
    missed = [row for row in rows if row.status == "MISSED"]
    print()
    if missed:
        print(f"MISSED {len(missed)} of {sum(row.status in ('PASS', 'MISSED') for row in rows)} targets: "
              + "; ".join(row.target for row in missed))
    else:
        print("all measurable targets met" + (" (some N/A)" if any(r.status == "N/A" for r in rows) else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
