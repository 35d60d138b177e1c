#!/usr/bin/env python3
"""Accuracy and speed of pytest-flopbudget against other FLOP counters.

For every model of a small zoo this script runs pytest-flopbudget (real and meta=True), torch's own
``torch.utils.flop_counter.FlopCounterMode``, fvcore, thop and ptflops (both backends) and prints:

* each tool's count in **MACs** (multiply-accumulates) as a percentage of an ANALYTIC reference that this
  script derives from the architecture with per-layer formulas (see the ``*_macs`` functions below: they
  never look at a module, they only restate each architecture's published layer list);
* each tool's counting time as a ratio to a plain forward pass of the same model, measured in the same
  run, interleaved, repeated, medians.

Units, converted so that every column is MACs:

* pytest-flopbudget: ``Report.macs``.
* FlopCounterMode: reports FLOPs = 2 x MACs for every op it knows -> divided by 2.
* fvcore: ``FlopCountAnalysis.total()`` reports one "flop" per multiply-add, i.e. MACs -> as is.
* thop: ``profile()`` returns MACs -> as is.
* ptflops, both the 'pytorch' and the 'aten' backend: ``get_model_complexity_info`` returns MACs -> as is.

Every model is called as ``model(x)`` with one tensor; the transformers models are wrapped in a module
that calls them with ``input_ids=x`` and returns the first output tensor, so that every tool (fvcore traces
with torch.jit) sees the same callable. Everything runs under ``torch.no_grad()`` and in eval mode (the
TransformerEncoderLayer case needs both to take its fused fast path). A peer that raises on a model gets an
``error: <reason>`` cell; a peer that is not installed gets ``not installed``.

    python bench/compare.py             # full sizes, plain tables
    python bench/compare.py --markdown  # the README table
    python bench/compare.py --tiny      # tiny sizes, a few seconds (also: FLOPBUDGET_BENCH_TINY=1)
    python bench/compare.py --threads 1 # one torch thread: steadier ratios on a shared machine
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import importlib.util
import io
import logging
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

# ------------------------------------------------------------------------------------------ analytic
#
# Each function below returns the exact MACs of one forward call, from the architecture's layer list.
# Conventions shared by all of them (and by pytest-flopbudget's definition of a MAC):
#   * convolution: every output element costs (C_in / groups) * k_h * k_w MACs;
#   * linear: every output row costs in_features * out_features MACs;
#   * attention: per head, Q K^T costs L * S * head_dim and A V costs L * S * head_dim; summed over heads
#     that is L * S * (heads * head_dim). A causal mask does not halve it: the dense kernels compute the
#     full product. With grouped-query attention the keys/values are shared by several query heads, but
#     every QUERY head still does its own L * S * head_dim products, so the count uses the query heads;
#   * LSTM: one step of one direction of one layer costs 4 gates * H * (I + H) MACs;
#   * bias adds, norms, activations, softmax, pooling, residual adds and embeddings are not MACs.


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution or pooling window along one spatial dimension."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_macs(c_in: int, c_out: int, kernel: int, h_out: int, w_out: int, groups: int = 1) -> int:
    """A k x k 2-d convolution: every output element is a dot product of (c_in / groups) * k * k terms."""
    return c_out * h_out * w_out * (c_in // groups) * kernel * kernel


def resnet50_macs(image: int, num_classes: int = 1000) -> int:
    """torchvision resnet50 (v1.5: the stride sits on the 3x3 conv of each bottleneck)."""
    h = conv_out(image, 7, 2, 3)
    total = conv_macs(3, 64, 7, h, h)  # stem: 7x7/2 conv, 3 -> 64
    h = conv_out(h, 3, 2, 1)  # 3x3/2 max pool (no MACs)
    c_in = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for block in range(blocks):
            s = stride if block == 0 else 1
            c_out = 4 * width  # bottleneck expansion 4
            total += conv_macs(c_in, width, 1, h, h)  # 1x1 reduce
            h2 = conv_out(h, 3, s, 1)
            total += conv_macs(width, width, 3, h2, h2)  # 3x3, carries the stride
            total += conv_macs(width, c_out, 1, h2, h2)  # 1x1 expand
            if block == 0:
                total += conv_macs(c_in, c_out, 1, h2, h2)  # projection shortcut: 1x1 with the same stride
            c_in, h = c_out, h2
    total += 2048 * num_classes  # global average pool (no MACs), then fc 2048 -> classes
    return total


#: MobileNetV2's inverted residual table: expansion t, output channels c, repeats n, first stride s.
MOBILENET_V2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                         (6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_v2_macs(image: int, num_classes: int = 1000) -> int:
    """torchvision mobilenet_v2, width multiplier 1.0 (every channel count is already a multiple of 8)."""
    h = conv_out(image, 3, 2, 1)
    total = conv_macs(3, 32, 3, h, h)  # stem: 3x3/2 conv, 3 -> 32
    c_in = 32
    for t, c, n, s in MOBILENET_V2_SETTINGS:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = round(c_in * t)
            if t != 1:
                total += conv_macs(c_in, hidden, 1, h, h)  # 1x1 expansion
            h2 = conv_out(h, 3, stride, 1)
            total += conv_macs(hidden, hidden, 3, h2, h2, groups=hidden)  # 3x3 depthwise: 9 MACs per output
            total += conv_macs(hidden, c, 1, h2, h2)  # 1x1 linear projection
            c_in, h = c, h2
    total += conv_macs(c_in, 1280, 1, h, h)  # last 1x1 conv, 320 -> 1280
    total += 1280 * num_classes  # classifier on the pooled vector
    return total


def vit_macs(image: int, patch: int, layers: int, hidden: int, mlp: int, num_classes: int) -> int:
    """torchvision VisionTransformer: conv patch embedding, class token, pre-norm encoder blocks."""
    grid = image // patch
    n = grid * grid + 1  # patches + class token
    total = conv_macs(3, hidden, patch, grid, grid)  # patch embedding: conv with kernel = stride = patch
    per_layer = (
        n * hidden * 3 * hidden  # in_proj: packed q, k, v projections
        + n * n * hidden  # Q K^T, all heads
        + n * n * hidden  # A V, all heads
        + n * hidden * hidden  # out_proj
        + 2 * n * hidden * mlp  # MLP: hidden -> mlp -> hidden
    )
    return total + layers * per_layer + hidden * num_classes  # head reads the class token only


def swin_macs(image: int, patch: int, embed: int, depths: tuple, window: int, num_classes: int) -> int:
    """torchvision SwinTransformer (v1): windowed attention on the padded map, patch merging between stages."""
    h = image // patch
    c = embed
    total = conv_macs(3, embed, patch, h, h)  # patch embedding: conv with kernel = stride = patch
    for stage, depth in enumerate(depths):
        padded = math.ceil(h / window) * window  # attention runs on the map padded to whole windows
        n_padded, n = padded * padded, h * h
        tokens_per_window = window * window
        per_block = (
            n_padded * c * 3 * c  # qkv linear, on the padded map
            + n_padded * tokens_per_window * c  # Q K^T inside each window, all heads
            + n_padded * tokens_per_window * c  # A V inside each window, all heads
            + n_padded * c * c  # output projection, on the padded map
            + 2 * n * c * 4 * c  # MLP (ratio 4), on the unpadded tokens
        )  # the shift, relative position bias and shift mask are data movement and adds: no MACs
        total += depth * per_block
        if stage < len(depths) - 1:
            h //= 2
            total += h * h * (4 * c) * (2 * c)  # patch merging: 2x2 neighbours concatenated, linear 4C -> 2C
            c *= 2
    return total + c * num_classes  # final norm, average pool, head


def gpt2_macs(seq: int, hidden: int, layers: int, vocab: int, batch: int = 1) -> int:
    """transformers GPT2LMHeadModel: fused c_attn (Conv1D = addmm), causal attention, 4x MLP, tied LM head."""
    per_layer = (
        seq * hidden * 3 * hidden  # c_attn: q, k, v in one Conv1D
        + seq * seq * hidden  # Q K^T (dense, causal mask applied afterwards)
        + seq * seq * hidden  # A V
        + seq * hidden * hidden  # attention c_proj
        + 2 * seq * hidden * 4 * hidden  # MLP c_fc and c_proj
    )
    return batch * (layers * per_layer + seq * hidden * vocab)  # LM head on every position


def bert_macs(seq: int, hidden: int, layers: int, intermediate: int, batch: int = 1) -> int:
    """transformers BertModel: post-norm encoder, separate q/k/v linears, pooler on the [CLS] token."""
    per_layer = (
        4 * seq * hidden * hidden  # query, key, value and attention output dense
        + 2 * seq * seq * hidden  # Q K^T and A V, all heads
        + 2 * seq * hidden * intermediate  # intermediate dense and output dense
    )
    return batch * (layers * per_layer + hidden * hidden)  # pooler dense on one token


def llama_macs(seq: int, hidden: int, layers: int, heads: int, kv_heads: int, intermediate: int, vocab: int,
               batch: int = 1) -> int:
    """transformers LlamaForCausalLM with grouped-query attention (kv_heads < heads), SwiGLU MLP, RoPE."""
    head_dim = hidden // heads
    per_layer = (
        2 * seq * hidden * hidden  # q_proj and o_proj: hidden -> heads * head_dim and back
        + 2 * seq * hidden * kv_heads * head_dim  # k_proj and v_proj: only kv_heads * head_dim outputs (GQA)
        + 2 * seq * seq * heads * head_dim  # Q K^T and A V: every QUERY head attends (kv heads are shared)
        + 3 * seq * hidden * intermediate  # gate_proj, up_proj, down_proj
    )
    # Rotary embedding: transformers 5 builds the angle table with a broadcast multiply
    # (positions[..., None] * inv_freq): no MACs. transformers 4.x computed it as inv_freq @ positions, an
    # outer product executed as a matmul with K = 1: head_dim / 2 * seq MACs once per forward.
    rotary = (head_dim // 2) * seq if rotary_is_matmul() else 0
    return batch * (layers * per_layer + seq * hidden * vocab + rotary)  # LM head on every position


def rotary_is_matmul() -> bool:
    """Whether the installed transformers computes LLaMA's rotary angle table with a matmul (4.x) or not (5.x)."""
    import inspect

    try:
        from transformers.models.llama import modeling_llama

        return "@ position_ids" in inspect.getsource(modeling_llama.LlamaRotaryEmbedding.forward)
    except Exception:
        return False


def lstm_macs(seq: int, input_size: int, hidden: int, layers: int, bidirectional: bool, batch: int = 1) -> int:
    """nn.LSTM: 4 gates, each a product of [x_t, h_{t-1}] with a (I + H) x H matrix, per step and direction."""
    directions = 2 if bidirectional else 1
    total = 0
    for layer in range(layers):
        layer_input = input_size if layer == 0 else directions * hidden  # upper layers read both directions
        total += directions * 4 * hidden * (layer_input + hidden)
    return batch * seq * total


def encoder_layer_macs(seq: int, d_model: int, ff: int, batch: int = 1) -> int:
    """nn.TransformerEncoderLayer: packed qkv projection, attention, out projection, two FFN linears."""
    return batch * (
        seq * d_model * 3 * d_model  # in_proj (q, k, v)
        + 2 * seq * seq * d_model  # Q K^T and A V, all heads
        + seq * d_model * d_model  # out_proj
        + 2 * seq * d_model * ff  # linear1 and linear2
    )


# ------------------------------------------------------------------------------------------------ zoo


class FirstOutput(nn.Module):
    """Calls a transformers model with ``input_ids=x`` and returns its first output tensor."""

    def __init__(self, model: nn.Module, **call_kwargs: Any) -> None:
        super().__init__()
        self.model = model
        self.call_kwargs = call_kwargs

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, **self.call_kwargs)[0]


class LSTMOutput(nn.Module):
    """nn.LSTM returning its output sequence only (some counters need a tensor output)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.lstm = nn.LSTM(*args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


@dataclass
class Case:
    name: str
    description: str
    build: Callable[[], nn.Module]
    inputs: Callable[[], torch.Tensor]
    reference: int


def _transformers():
    import transformers

    transformers.logging.set_verbosity_error()
    return transformers


def zoo(tiny: bool) -> list[Case]:
    import torchvision
    from torchvision.models.swin_transformer import SwinTransformer
    from torchvision.models.vision_transformer import VisionTransformer

    cases: list[Case] = []
    image = 64 if tiny else 224
    cases.append(Case("ResNet-50", f"torchvision resnet50, 1x3x{image}x{image}",
                      lambda: torchvision.models.resnet50(), lambda: torch.randn(1, 3, image, image),
                      resnet50_macs(image)))
    cases.append(Case("MobileNetV2", f"torchvision mobilenet_v2, 1x3x{image}x{image}",
                      lambda: torchvision.models.mobilenet_v2(), lambda: torch.randn(1, 3, image, image),
                      mobilenet_v2_macs(image)))

    if tiny:
        vit = dict(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10)
        build_vit: Callable[[], nn.Module] = lambda: VisionTransformer(**vit)  # noqa: E731 - the else branch assigns a function
        vit_label = "torchvision VisionTransformer (tiny)"
    else:
        vit = dict(image_size=224, patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072,
                   num_classes=1000)
        build_vit = torchvision.models.vit_b_16
        vit_label = "torchvision vit_b_16"
    cases.append(Case("ViT-B/16", f"{vit_label}, 1x3x{vit['image_size']}x{vit['image_size']}", build_vit,
                      lambda: torch.randn(1, 3, vit["image_size"], vit["image_size"]),
                      vit_macs(vit["image_size"], vit["patch_size"], vit["num_layers"], vit["hidden_dim"],
                               vit["mlp_dim"], vit["num_classes"])))

    if tiny:
        swin = dict(patch_size=[4, 4], embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=[7, 7],
                    num_classes=10)
        swin_image = 56
        build_swin: Callable[[], nn.Module] = lambda: SwinTransformer(**swin)  # noqa: E731 - the else branch assigns a function
        swin_label = "torchvision SwinTransformer (tiny)"
    else:
        swin = dict(patch_size=[4, 4], embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
                    window_size=[7, 7], num_classes=1000)
        swin_image = 224
        build_swin = torchvision.models.swin_t
        swin_label = "torchvision swin_t"
    cases.append(Case("Swin-T", f"{swin_label}, 1x3x{swin_image}x{swin_image}", build_swin,
                      lambda: torch.randn(1, 3, swin_image, swin_image),
                      swin_macs(swin_image, swin["patch_size"][0], swin["embed_dim"], tuple(swin["depths"]),
                                swin["window_size"][0], swin["num_classes"])))

    seq = 16 if tiny else 128
    gpt = dict(n_layer=2, n_embd=64, n_head=4, vocab_size=1000, n_positions=64, bos_token_id=0, eos_token_id=0) \
        if tiny else {}

    def build_gpt2() -> nn.Module:
        t = _transformers()
        return FirstOutput(t.GPT2LMHeadModel(t.GPT2Config(**gpt)), use_cache=False)

    g = dict(n_layer=12, n_embd=768, vocab_size=50257)
    g.update({k: v for k, v in gpt.items() if k in g})
    cases.append(Case("GPT-2", f"transformers GPT2LMHeadModel({'tiny' if tiny else 'GPT2Config()'}), seq {seq}",
                      build_gpt2, lambda: torch.randint(0, g["vocab_size"], (1, seq)),
                      gpt2_macs(seq, g["n_embd"], g["n_layer"], g["vocab_size"])))

    bert = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                vocab_size=1000) if tiny else dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                                    intermediate_size=3072, vocab_size=30522)

    def build_bert() -> nn.Module:
        t = _transformers()
        return FirstOutput(t.BertModel(t.BertConfig(**bert)))

    cases.append(Case("BERT", f"transformers BertModel({'tiny' if tiny else 'BertConfig()'}), seq {seq}",
                      build_bert, lambda: torch.randint(0, bert["vocab_size"], (1, seq)),
                      bert_macs(seq, bert["hidden_size"], bert["num_hidden_layers"], bert["intermediate_size"])))

    llama = dict(hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=1000) if tiny else \
        dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=8, num_attention_heads=16,
             num_key_value_heads=4, vocab_size=32000)
    llama_seq = 16 if tiny else 256

    def build_llama(attention: str) -> Callable[[], nn.Module]:
        def build() -> nn.Module:
            t = _transformers()
            config = t.LlamaConfig(**llama, bos_token_id=0, eos_token_id=0, pad_token_id=0,
                                   attn_implementation=attention)
            return FirstOutput(t.LlamaForCausalLM(config), use_cache=False)

        return build

    llama_label = (f"transformers LlamaForCausalLM, {llama['num_hidden_layers']} layers, hidden "
                   f"{llama['hidden_size']}, {llama['num_attention_heads']} q / {llama['num_key_value_heads']} kv "
                   f"heads, seq {llama_seq}")
    llama_reference = llama_macs(llama_seq, llama["hidden_size"], llama["num_hidden_layers"],
                                 llama["num_attention_heads"], llama["num_key_value_heads"],
                                 llama["intermediate_size"], llama["vocab_size"])
    # transformers' default attention is SDPA (one fused kernel); "eager" runs the same attention as matmuls
    # after repeating the shared k/v heads, which is what hook- and matmul-based counters can see.
    cases.append(Case("LLaMA-GQA", f"{llama_label}, SDPA attention (default)", build_llama("sdpa"),
                      lambda: torch.randint(0, llama["vocab_size"], (1, llama_seq)), llama_reference))
    cases.append(Case("LLaMA-GQA eager", f"{llama_label}, eager (matmul) attention", build_llama("eager"),
                      lambda: torch.randint(0, llama["vocab_size"], (1, llama_seq)), llama_reference))

    lstm = dict(input_size=16, hidden_size=32, num_layers=2) if tiny else dict(input_size=256, hidden_size=512,
                                                                                num_layers=2)
    lstm_seq = 10 if tiny else 100
    cases.append(Case("LSTM", f"nn.LSTM({lstm['input_size']}, {lstm['hidden_size']}, {lstm['num_layers']} layers, "
                              f"bidirectional, batch_first), seq {lstm_seq}",
                      lambda: LSTMOutput(**lstm, bidirectional=True, batch_first=True),
                      lambda: torch.randn(1, lstm_seq, lstm["input_size"]),
                      lstm_macs(lstm_seq, lstm["input_size"], lstm["hidden_size"], lstm["num_layers"], True)))

    tel = dict(d_model=32, nhead=4, dim_feedforward=64) if tiny else dict(d_model=512, nhead=8, dim_feedforward=2048)
    tel_seq = 8 if tiny else 128
    cases.append(Case("TransformerEncoderLayer",
                      f"nn.TransformerEncoderLayer(d_model={tel['d_model']}, nhead={tel['nhead']}, "
                      f"dim_feedforward={tel['dim_feedforward']}, batch_first), eval + no_grad fast path, "
                      f"seq {tel_seq}",
                      lambda: nn.TransformerEncoderLayer(**tel, batch_first=True),
                      lambda: torch.randn(1, tel_seq, tel["d_model"]),
                      encoder_layer_macs(tel_seq, tel["d_model"], tel["dim_feedforward"])))
    return cases


# ---------------------------------------------------------------------------------------------- tools


class ToolError(Exception):
    """A peer failed on a model; the message becomes the table cell."""


class NotInstalled(Exception):
    pass


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise NotInstalled(module)


def run_flopbudget(model: nn.Module, x: torch.Tensor) -> int:
    from pytest_flopbudget import count

    return count(model, x).macs


def run_flopbudget_meta(model: nn.Module, x: torch.Tensor) -> int:
    from pytest_flopbudget import count

    return count(model, x, meta=True).macs


def run_flop_counter_mode(model: nn.Module, x: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as mode:
        model(x)
    return mode.get_total_flops() // 2  # FlopCounterMode counts 2 FLOPs per multiply-accumulate


def run_fvcore(model: nn.Module, x: torch.Tensor) -> int:
    _require("fvcore")
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, (x,)).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return int(analysis.total())  # fvcore's "flops" are multiply-adds: MACs


def run_thop(model: nn.Module, x: torch.Tensor) -> int:
    _require("thop")
    from thop import profile

    macs, _params = profile(model, inputs=(x,), verbose=False)
    return int(macs)  # thop returns MACs


def _ptflops(backend: str) -> Callable[[nn.Module, torch.Tensor], int]:
    def run(model: nn.Module, x: torch.Tensor) -> int:
        _require("ptflops")
        from ptflops import get_model_complexity_info

        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            macs, _params = get_model_complexity_info(
                model, tuple(x.shape[1:]), input_constructor=lambda _res: x, as_strings=False,
                print_per_layer_stat=False, backend=backend)
        if macs is None:  # ptflops prints the exception and returns None
            lines = [line for line in printed.getvalue().splitlines() if line.startswith("<class")]
            raise ToolError(lines[0].replace("<class '", "").replace("'>", "") if lines else "no result")
        return int(macs)  # ptflops returns MACs with both backends

    return run


#: (column name, runner). Every runner returns MACs; see the module docstring for the conversions.
TOOLS: list[tuple[str, Callable[[nn.Module, torch.Tensor], int]]] = [
    ("pytest-flopbudget", run_flopbudget),
    ("pytest-flopbudget meta=True", run_flopbudget_meta),
    ("torch FlopCounterMode", run_flop_counter_mode),
    ("fvcore", run_fvcore),
    ("thop", run_thop),
    ("ptflops pytorch", _ptflops("pytorch")),
    ("ptflops aten", _ptflops("aten")),
]


def short_reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    reason = first if isinstance(error, ToolError) else f"{type(error).__name__}: {first}"
    return reason if len(reason) <= 70 else reason[:67] + "..."


@contextlib.contextmanager
def quiet() -> Any:
    """Peers print banners, tracer warnings and per-op warnings; none of it belongs in the table."""
    printed = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        warnings.simplefilter("ignore")
        yield


# -------------------------------------------------------------------------------------------- measure


@dataclass
class Cell:
    macs: int | None = None
    seconds: float | None = None
    error: str | None = None


@dataclass
class Result:
    case: Case
    forward_seconds: float
    cells: dict[str, Cell]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def measure(case: Case, repeats: int, warmup: int) -> Result:
    torch.manual_seed(0)
    model = case.build().eval()
    x = case.inputs()
    forward_times: list[float] = []
    tool_times: dict[str, list[float]] = {name: [] for name, _ in TOOLS}
    cells: dict[str, Cell] = {name: Cell() for name, _ in TOOLS}

    def call_tool(name: str, runner: Callable, model: nn.Module) -> float | None:
        cell = cells[name]
        if cell.error is not None:
            return None
        # Every tool gets its own fresh copy: thop adds and removes buffers, ptflops binds methods, and
        # ptflops' aten backend leaves forward hooks behind. The copy is not timed.
        subject = copy.deepcopy(model)
        try:
            with quiet():
                seconds, macs = timed(lambda subject=subject: runner(subject, x))  # bound: `finally` deletes it
        except NotInstalled:
            cell.error = "not installed"
            return None
        except Exception as error:  # a peer that crashes on a model gets an error cell, not a crash
            cell.error = "error: " + short_reason(error)
            return None
        finally:
            del subject
        if cell.macs is None:
            cell.macs = macs
        elif cell.macs != macs:
            cell.error = f"error: not deterministic ({cell.macs} then {macs})"
        return seconds

    with torch.no_grad():
        for _ in range(max(warmup, 1)):  # warm-up: first calls pay for allocator, oneDNN and tracer caches
            with quiet():
                model(x)
            for name, runner in TOOLS:
                call_tool(name, runner, model)
        for _ in range(repeats):  # interleaved, so that a slow spell of the machine hits every column
            seconds, _ = timed(lambda model=model: model(x))
            forward_times.append(seconds)
            for name, runner in TOOLS:
                seconds = call_tool(name, runner, model)
                if seconds is not None:
                    tool_times[name].append(seconds)
    for name, times in tool_times.items():
        if times and cells[name].error is None:
            cells[name].seconds = statistics.median(times)
    del model
    gc.collect()
    return Result(case, statistics.median(forward_times), cells)


# --------------------------------------------------------------------------------------------- render


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(Exception):
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    versions = [f"torch {torch.__version__}"]
    for package in ("torchvision", "transformers", "fvcore", "thop", "ptflops"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions.append(f"{package} {version(package if package != 'thop' else 'thop')}")
    load = ""
    with contextlib.suppress(Exception):
        load = f", load average {os.getloadavg()[0]:.2f}"
    return (f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
            f"Python {platform.python_version()}, {', '.join(versions)}{load}")


def percent(macs: int, reference: int) -> str:
    if macs == reference:
        return "exact"
    return f"{100 * macs / reference:.2f}%"


def ratio(seconds: float | None, forward: float) -> str:
    return "-" if seconds is None else f"{seconds / forward:.2f}x"


def render_plain(results: list[Result], header: str) -> str:
    out = [header, "All columns are MACs; 'exact' = equal to the analytic count to the MAC. "
                   "Time = median counting time / median plain forward time, same run.", ""]
    for result in results:
        case = result.case
        out.append(f"== {case.name}: {case.description}")
        out.append(f"   analytic reference: {case.reference:,} MACs; plain forward {result.forward_seconds:.4f} s")
        out.append(f"   {'tool':<30}{'MACs':>20}{'% analytic':>14}{'count s':>11}{'x forward':>11}")
        for name, _ in TOOLS:
            cell = result.cells[name]
            if cell.error is not None:
                out.append(f"   {name:<30}{cell.error}")
                continue
            seconds = "-" if cell.seconds is None else f"{cell.seconds:.4f}"
            out.append(f"   {name:<30}{cell.macs:>20,}{percent(cell.macs, case.reference):>14}{seconds:>11}"
                       f"{ratio(cell.seconds, result.forward_seconds):>11}")
        out.append("")
    return "\n".join(out)


def render_markdown(results: list[Result], header: str) -> str:
    names = [name for name, _ in TOOLS]
    out = [f"Machine: {header}", "",
           "Each cell: the tool's count as a share of the analytic MACs (`exact` = equal to the MAC), then its "
           "counting time as a multiple of one plain forward pass (medians of the same run). Every column is "
           "MACs: FlopCounterMode's FLOPs are halved; fvcore, thop and ptflops already report MACs.", "",
           "| Model | Analytic MACs | " + " | ".join(names) + " |",
           "|---|---:|" + "---|" * len(names)]
    for result in results:
        cells = []
        for name in names:
            cell = result.cells[name]
            if cell.error is not None:
                cells.append(cell.error.replace("|", "/"))
            else:
                cells.append(f"{percent(cell.macs, result.case.reference)} · "
                             f"{ratio(cell.seconds, result.forward_seconds)}")
        reference = result.case.reference
        size = f"{reference / 1e9:.3f} G" if reference >= 1e8 else f"{reference / 1e6:.3f} M"
        out.append(f"| {result.case.name} | {size} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("Models: " + "; ".join(f"{r.case.name}: {r.case.description}" for r in results) + ".")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", default=os.environ.get("FLOPBUDGET_BENCH_TINY") == "1",
                        help="tiny sizes and one repeat, for a smoke run in seconds")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    parser.add_argument("--markdown-file", default=None, help="also write the README table to this file")
    parser.add_argument("--repeat", type=int, default=None, help="timed repeats per model (default 5, tiny 1)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed warm-up rounds (default 1, tiny 0)")
    parser.add_argument("--models", default="", help="comma-separated model names to run (default: all)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's own choice; --tiny: 1, which keeps a smoke run "
                             "fast on a busy machine)")
    args = parser.parse_args(argv)
    threads = args.threads if args.threads is not None else (1 if args.tiny else None)
    if threads:
        torch.set_num_threads(threads)
    repeats = args.repeat if args.repeat is not None else (1 if args.tiny else 5)
    warmup = args.warmup if args.warmup is not None else (0 if args.tiny else 1)
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    wanted = {name.strip().lower() for name in args.models.split(",") if name.strip()}
    cases = [case for case in zoo(args.tiny) if not wanted or case.name.lower() in wanted]
    results = []
    for case in cases:
        print(f"measuring {case.name} ...", end=" ", file=sys.stderr, flush=True)
        start = time.perf_counter()
        results.append(measure(case, repeats, warmup))
        print(f"{time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    header = machine() + (" (--tiny sizes)" if args.tiny else "")
    print(render_markdown(results, header) if args.markdown else render_plain(results, header))
    if args.markdown_file:
        with open(args.markdown_file, "w") as file:
            file.write(render_markdown(results, header) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
