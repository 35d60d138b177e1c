"""Baseline entries and texts shared by the baseline tests of every folder (no torch, no pytest session).

Every number is derived by hand:

- ``nn.Linear(64, 32)`` on 4 x 64: 4 * 64 * 32 = 8192 MACs, 2 * 8192 + 4 * 32 bias adds = 16512 FLOPs ('full'),
  64 * 32 + 32 = 2080 params.
- ``nn.Linear(64, 40)``: 4 * 64 * 40 = 10240 MACs, 2 * 10240 + 160 = 20640 FLOPs, 64 * 40 + 40 = 2600 params:
  +25% on every count (20640 / 16512 = 10240 / 8192 = 2600 / 2080 = 1.25).
- ``nn.Linear(64, 30)``: 7680 MACs, 2 * 7680 + 120 = 15480 FLOPs, 64 * 30 + 30 = 1950 params: -6.25%.

Short forms: 16512 FLOPs = 1.65e-05 GFLOPs, 20640 = 2.06e-05; 8192 MACs = 8.19e-06 GMACs, 10240 = 1.02e-05;
2080 params = 2.08K, 2600 = 2.60K.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA = "pytest-flopbudget-baseline"

E32 = {"convention": "full", "flops": 16512, "macs": 8192, "params": 2080}
E40 = {"convention": "full", "flops": 20640, "macs": 10240, "params": 2600}
E30 = {"convention": "full", "flops": 15480, "macs": 7680, "params": 1950}

UPDATED_32_TO_40 = "flops 16,512 -> 20,640, macs 8,192 -> 10,240, params 2,080 -> 2,600"

GROWTH_25 = [
    "Linear: 1.65e-05 -> 2.06e-05 GFLOPs (+25.0%) over the baseline (tolerance 0%)",
    "Linear: 8.19e-06 -> 1.02e-05 GMACs (+25.0%) over the baseline (tolerance 0%)",
    "Linear: 2.08K -> 2.60K params (+25.0%) over the baseline (tolerance 0%)",
]


def text_of(tests: dict[str, Any]) -> str:
    """A baseline file's exact text: sorted keys, indent 2, a trailing newline."""
    return json.dumps({"schema": SCHEMA, "schema_version": 1, "tests": tests}, indent=2, sort_keys=True) + "\n"
