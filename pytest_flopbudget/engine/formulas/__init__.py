"""Op -> cost formulas, one module per family. Importing this package registers every built-in formula.

This is the one place where registration happens: each family module below registers its formulas with
:mod:`.registry` when imported, and nothing else imports them for that side effect.
"""

from __future__ import annotations

from . import attention, convolution, data_movement, elementwise, fused, matmul, quantized  # noqa: F401 (registers)
from .registry import (
    COMPLEX,
    OP_FORMULAS,
    PER_ELEMENT,
    ZERO_COST,
    Formula,
    declare_zero_cost,
    lookup,
    register_op_formula,
)

__all__ = ["COMPLEX", "OP_FORMULAS", "PER_ELEMENT", "ZERO_COST", "Formula", "declare_zero_cost", "lookup",
           "register_op_formula"]
