"""Real models from their constructors (random init, no downloads) against MACs derived by hand.

Every expected number below is computed from the architecture's published layer shapes, not copied
from a run. Convolution and linear MACs are exact, so the counts must agree exactly; the issue's bar
of 0.1% is what the assertion reports when they do not.
"""

from __future__ import annotations

import pytest
import torch

import pytest_flopbudget as fb

torchvision = pytest.importorskip("torchvision")
transformers = pytest.importorskip("transformers")


def conv_macs(h_out: int, w_out: int, c_in: int, c_out: int, k: int, groups: int = 1) -> int:
    return h_out * w_out * c_out * (c_in // groups) * k * k


def resnet50_macs() -> int:
    """torchvision ResNet-50 (v1.5: stride in the 3x3 conv), 224x224, batch 1."""
    macs = conv_macs(112, 112, 3, 64, 7)  # stem, stride 2; max pool then halves to 56
    in_ch, size = 64, 56
    for blocks, width, stride in ((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)):
        out_ch = 4 * width
        for block in range(blocks):
            s = stride if block == 0 else 1
            out_size = size // s
            macs += conv_macs(size, size, in_ch, width, 1)  # 1x1 reduce at the input resolution
            macs += conv_macs(out_size, out_size, width, width, 3)  # 3x3, carries the stride
            macs += conv_macs(out_size, out_size, width, out_ch, 1)  # 1x1 expand
            if block == 0:
                macs += conv_macs(out_size, out_size, in_ch, out_ch, 1)  # projection shortcut
            in_ch, size = out_ch, out_size
    return macs + 2048 * 1000  # fc


def mobilenet_v2_macs() -> int:
    """torchvision MobileNetV2 (width 1.0), 224x224: the paper's inverted-residual table."""
    macs = conv_macs(112, 112, 3, 32, 3)  # stem, stride 2
    in_ch, size = 32, 112
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                       (6, 160, 3, 2), (6, 320, 1, 1)):
        for block in range(n):
            stride = s if block == 0 else 1
            out_size = size // stride
            hidden = in_ch * t
            if t != 1:
                macs += conv_macs(size, size, in_ch, hidden, 1)  # expand
            macs += conv_macs(out_size, out_size, hidden, hidden, 3, groups=hidden)  # depthwise
            macs += conv_macs(out_size, out_size, hidden, c, 1)  # project
            in_ch, size = c, out_size
    macs += conv_macs(7, 7, 320, 1280, 1)  # last 1x1
    return macs + 1280 * 1000


def transformer_layer_macs(tokens: int, width: int, ffn: int, batch: int = 1) -> int:
    """One pre- or post-norm encoder/decoder layer: QKV, Q K^T, A V, out projection, two FFN matmuls."""
    per_sequence = tokens * width * 3 * width + 2 * tokens * tokens * width + tokens * width * width
    per_sequence += 2 * tokens * width * ffn
    return batch * per_sequence


def vit_b_16_macs() -> int:
    patches, width = 14 * 14, 768
    macs = patches * width * 3 * 16 * 16  # patch embedding conv, 16x16 stride 16
    macs += 12 * transformer_layer_macs(patches + 1, width, 3072)  # + class token
    return macs + width * 1000  # head on the class token


def _same_counts(real: fb.Report, meta: fb.Report) -> None:
    assert meta.meta
    assert not real.meta
    assert {**meta.to_dict(), "meta": False} == real.to_dict()


def _close(actual: int, expected: int) -> None:
    assert actual == pytest.approx(expected, rel=1e-3), f"{actual} vs analytic {expected}"
    assert actual == expected  # conv, linear and attention MACs are exact integers


def test_resnet50_params_and_macs() -> None:
    model = torchvision.models.resnet50().eval()
    x = torch.randn(1, 3, 224, 224)
    real = fb.count(model, x)
    assert real.params == 25_557_032
    assert real.trainable_params == 25_557_032
    assert real.frozen_params == 0
    _close(real.macs, resnet50_macs())
    assert real.unsupported == {}
    _same_counts(real, fb.count(model, x, meta=True))


def test_mobilenet_v2_macs() -> None:
    model = torchvision.models.mobilenet_v2().eval()
    x = torch.randn(1, 3, 224, 224)
    real = fb.count(model, x)
    _close(real.macs, mobilenet_v2_macs())
    assert real.params == 3_504_872
    assert real.unsupported == {}
    _same_counts(real, fb.count(model, x, meta=True))


def test_vit_b_16_every_attention_path_counts_the_same() -> None:
    """Eval + no_grad takes the fused MultiheadAttention kernel; grad mode and inference_mode do not."""
    model = torchvision.models.vit_b_16().eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        fused = fb.count(model, x)
    assert "aten._native_multi_head_attention" in fused.ops
    _close(fused.macs, vit_b_16_macs())
    assert fused.params == 86_567_656
    assert fused.unsupported == {}
    for convention in ("full", "matmul", "exact"):
        with torch.no_grad():
            expected = fb.count(model, x, convention=convention)
        unfused = fb.count(model, x, convention=convention)
        assert "aten._native_multi_head_attention" not in unfused.ops
        assert (unfused.flops, unfused.macs) == (expected.flops, expected.macs)
        with torch.inference_mode():
            assert fb.count(model, x, convention=convention).flops == expected.flops
    with torch.no_grad():
        _same_counts(fused, fb.count(model, x, meta=True))
    with torch.device("meta"):
        on_meta = torchvision.models.vit_b_16().eval()
    from_meta_device = fb.count(on_meta, x, meta=True)
    assert (from_meta_device.flops, from_meta_device.macs) == (fused.flops, fused.macs)


def test_gpt2_from_config() -> None:
    config = transformers.GPT2Config(n_layer=4)  # GPT-2 small widths, 4 of its 12 layers
    model = transformers.GPT2Model(config).eval()
    tokens = 64
    ids = torch.randint(0, config.vocab_size, (1, tokens))
    real = fb.count(model, {"input_ids": ids})
    width = config.n_embd
    _close(real.macs, 4 * transformer_layer_macs(tokens, width, 4 * width))
    # wte 50257*768 + wpe 1024*768 + per layer (2 LayerNorms, c_attn, c_proj, c_fc, mlp c_proj) + final LN
    per_layer = 2 * 2 * width + (width * 3 * width + 3 * width) + (width * width + width)
    per_layer += (width * 4 * width + 4 * width) + (4 * width * width + width)
    assert real.params == 50257 * width + 1024 * width + 4 * per_layer + 2 * width
    assert real.unsupported == {}
    _same_counts(real, fb.count(model, {"input_ids": ids}, meta=True))


def test_bert_from_config() -> None:
    config = transformers.BertConfig(num_hidden_layers=2)  # BERT-base widths, 2 of its 12 layers
    model = transformers.BertModel(config).eval()
    tokens = 128
    ids = torch.randint(0, config.vocab_size, (1, tokens))
    real = fb.count(model, {"input_ids": ids})
    width = config.hidden_size
    expected = 2 * transformer_layer_macs(tokens, width, config.intermediate_size) + width * width  # + pooler
    _close(real.macs, expected)
    assert real.unsupported == {}
    _same_counts(real, fb.count(model, {"input_ids": ids}, meta=True))
