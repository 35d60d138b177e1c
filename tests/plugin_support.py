"""Shared by the pytester suites of the plugin (tests/integration/).

pytester's in-process runs drop, after each run, every module the inner session imported. torch loads
large parts of itself lazily (a dispatch mode imports torch._dynamo on first use; meta counting loads the
fake-tensor machinery) and cannot be imported twice in one process, so everything a measurement touches is
loaded here, in the outer process, before the first inner session runs.
"""

from __future__ import annotations

import gc

import pytest


def warm_up_torch() -> None:
    import torch
    from torch import nn

    from pytest_flopbudget import count, watch

    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    count(model, torch.randn(1, 2))
    count(model, torch.randn(1, 2), meta=True)
    with torch.device("meta"):
        meta_model = nn.Linear(2, 2)
    count(meta_model, torch.randn(1, 2), meta=True)
    with watch(lambda report: None):
        model(torch.randn(1, 2))


warm_up_torch()
try:  # hypothesis' pytest plugin imports it in every inner session; importing it here saves its rewriting
    import hypothesis  # noqa: F401 - imported for its side effect only (the comment above)
except ImportError:  # pragma: no cover
    pass
# Each inner session ends with several gc.collect() calls (pytest's unraisable-exception check); walking
# torch's millions of long-lived objects each time costs a second per run. Frozen objects are not walked.
gc.freeze()

#: Put before each inner test module: ``nn.Linear(64, 32)`` on ``X`` (4 x 64) does 4 * 64 * 32 = 8192 MACs,
#: 2 * 8192 + 4 * 32 bias adds = 16512 FLOPs under ``full`` (16384 under ``matmul``), and has 2080 params.
HEADER = """
import pytest
import torch
from torch import nn

def linear():
    torch.manual_seed(0)
    return nn.Linear(64, 32)

X = torch.randn(4, 64)
"""


#: A conftest that runs each test's protocol twice, as pytest-rerunfailures does: a silent attempt, then the one
#: that is reported.
RERUN_EVERY_TEST = """
import pytest
from _pytest.runner import runtestprotocol

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    runtestprotocol(item, nextitem=nextitem, log=False)  # the first, silent attempt
    runtestprotocol(item, nextitem=nextitem, log=True)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True
"""


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    """Write ``HEADER + source`` as test_model.py and run pytest on it in-process."""
    pytester.makepyfile(test_model=HEADER + source)
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def failures_section(output: str) -> str:
    """A run's output up to its short test summary, which pytest prints in full under CI=true."""
    return output.split("short test summary info")[0]
