"""Shared inputs for the example tests. Being here also puts example_project/ on sys.path (pytest's default
"prepend" import mode), so the tests import the ``tinymodels`` package without installing it."""

import pytest
import torch


@pytest.fixture
def images() -> torch.Tensor:
    """A batch of two 32x32 RGB images."""
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def token_ids() -> torch.Tensor:
    """A batch of two sequences of 32 token ids."""
    return torch.randint(0, 512, (2, 32), generator=torch.Generator().manual_seed(0))
