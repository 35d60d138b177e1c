"""The transformer under budget, including a large configuration counted on fake tensors."""

import pytest
import torch
from tinymodels import TinyTransformer, TransformerConfig

#: A GPT-2-medium-sized configuration: 337M parameters that are never allocated.
LARGE = TransformerConfig(vocab_size=32000, max_len=2048, dim=1024, heads=16, layers=24, hidden=4096)


@pytest.mark.flop_budget(max_gflops=0.02, max_params="140K")
def test_language_model_logits(token_ids):
    logits = TinyTransformer().eval()(token_ids)
    assert logits.shape == (2, 32, 512)


@pytest.mark.flop_budget(max_gmacs="10M")
def test_attention_and_mlp_costs(complexity, token_ids):
    model = TinyTransformer().eval()
    report = complexity.measure(model, token_ids)
    block = report.modules["blocks.0"]
    assert report.modules["blocks.0.attn"].macs + report.modules["blocks.0.mlp"].macs == block.macs
    assert report.params == sum(p.numel() for p in model.parameters())  # the tied LM head is counted once


@pytest.mark.flop_budget(max_gflops=1850, max_params="340M")
def test_large_configuration_on_meta(complexity):
    # meta=True: shapes only, no compute and no memory, the same counts as a real forward.
    with torch.device("meta"):
        model = TinyTransformer(LARGE)
    report = complexity.measure(model, torch.zeros(1, LARGE.max_len, dtype=torch.long), meta=True, name="large")
    assert report.meta
    assert 330e6 < report.params < 340e6
