"""The one place the tests ask which torch they run on.

CI runs the suite on the newest torch and on the oldest one pyproject.toml admits (see README.md,
"Supported versions"). A test that needs something an older torch does not have or does not do is skipped
there with ``requires_torch``, which names the release it needs and why: never for a bug of the plugin's.
"""

from __future__ import annotations

import re

import pytest
import torch

#: (major, minor) of the torch under test: "2.5.1+cu124" -> (2, 5); a pre-release counts as its release.
TORCH: tuple[int, int] = tuple(int(part) for part in re.match(r"(\d+)\.(\d+)", torch.__version__).groups())


def torch_older_than(version: str) -> bool:
    """Whether the torch under test is older than ``version`` ("major.minor")."""
    major, minor = (int(part) for part in version.split("."))
    return TORCH < (major, minor)


def requires_torch(version: str, reason: str) -> pytest.MarkDecorator:
    """Skip on a torch older than ``version``, saying what that torch lacks."""
    return pytest.mark.skipif(torch_older_than(version), reason=f"needs torch >= {version}: {reason}")
