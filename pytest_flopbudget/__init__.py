"""pytest-flopbudget: FLOPs, MACs and parameter budgets for PyTorch models, checked in your tests.

Importing this package does not import torch; ``count`` and the ``register_*`` helpers load it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .conventions import CONVENTIONS, Cost
from .report import ModuleStats, OpStats, Report

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .budget import Budget
    from .counter import count, watch
    from .runtest import FlopBudgetExceeded
    from .formulas import PER_ELEMENT, declare_zero_cost, register_op_formula
    from .modules import register_module_formula

_LAZY = {
    "Budget": "budget",
    "FlopBudgetExceeded": "runtest",
    "count": "counter",
    "watch": "counter",
    "register_op_formula": "formulas",
    "declare_zero_cost": "formulas",
    "PER_ELEMENT": "formulas",
    "register_module_formula": "modules",
}

__all__ = [
    "Budget", "FlopBudgetExceeded", "CONVENTIONS", "Cost", "ModuleStats", "OpStats", "PER_ELEMENT", "Report", "count", "declare_zero_cost",
    "register_module_formula", "register_op_formula", "watch", "__version__",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'pytest_flopbudget' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value
