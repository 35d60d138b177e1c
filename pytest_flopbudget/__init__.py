"""pytest-flopbudget: FLOPs, MACs and parameter budgets for PyTorch models, checked in your tests.

Importing this package does not import torch; ``count``, ``watch`` and the ``register_*`` helpers load it on
first use.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

from .engine.conventions import CONVENTIONS, Cost
from .engine.report import ModuleStats, OpStats, Report


def _installed_version() -> str:
    """The version pip installed: the one number, kept in pyproject.toml."""
    try:
        return metadata.version("pytest-flopbudget")
    except metadata.PackageNotFoundError:  # imported from a source tree that was never installed
        return "0+unknown"


__version__ = _installed_version()

if TYPE_CHECKING:
    from .budget import Budget
    from .engine.execution import count
    from .engine.formulas import PER_ELEMENT, declare_zero_cost, register_op_formula
    from .engine.modules import register_module_formula
    from .engine.watch import watch
    from .failures import FlopBudgetExceeded, FlopBudgetFailure, FlopBudgetWarning, NothingMeasured

_LAZY = {
    "Budget": "budget",
    "FlopBudgetExceeded": "failures",
    "FlopBudgetFailure": "failures",
    "FlopBudgetWarning": "failures",
    "NothingMeasured": "failures",
    "count": "engine.execution",
    "watch": "engine.watch",
    "register_op_formula": "engine.formulas",
    "declare_zero_cost": "engine.formulas",
    "PER_ELEMENT": "engine.formulas",
    "register_module_formula": "engine.modules",
}

__all__ = [
    "Budget", "CONVENTIONS", "Cost", "FlopBudgetExceeded", "FlopBudgetFailure", "FlopBudgetWarning", "ModuleStats",
    "NothingMeasured", "OpStats",
    "PER_ELEMENT", "Report", "count", "declare_zero_cost", "register_module_formula", "register_op_formula",
    "watch", "__version__",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'pytest_flopbudget' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value
