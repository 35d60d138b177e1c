"""The image classifier under budget: a marker on existing tests, and explicit measurements."""

import pytest
import torch
from tinymodels import TinyResNet


@pytest.mark.flop_budget(max_gflops=0.06, max_params="80K")
def test_classifier_outputs_one_logit_per_class(images):
    # An ordinary test: the marker alone measures the forward it runs and fails it past the budget.
    logits = TinyResNet(num_classes=10).eval()(images)
    assert logits.shape == (2, 10)


@pytest.mark.flop_budget(max_gflops=0.25)
def test_training_steps_reduce_the_loss():
    # Three identical training steps are measured once: one signature (model, train mode, input shapes).
    torch.manual_seed(0)
    model = TinyResNet().train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    images, labels = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    losses = []
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_cost_grows_with_resolution(complexity):
    # No marker: measurements are recorded for the summary, nothing is enforced.
    model = TinyResNet().eval()
    small = complexity.measure(model, torch.randn(1, 3, 32, 32), name="TinyResNet@32")
    large = complexity.measure(model, torch.randn(1, 3, 64, 64), name="TinyResNet@64")
    assert large.params == small.params
    assert 3.9 * small.macs < large.macs <= 4 * small.macs  # convolutions scale with area; the head does not
