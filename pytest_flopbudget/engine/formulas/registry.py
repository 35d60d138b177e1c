"""The op -> cost registry: how a formula is registered and found, and the constants formulas share.

Every op that runs under the counter is either costed by a registered formula, declared zero-cost data
movement, or reported as unsupported. The built-in formulas live in the family modules of this package and
register themselves when :mod:`pytest_flopbudget.engine.formulas` is imported. The per-element constants live
in :data:`PER_ELEMENT` (README.md's "Per-element costs" table is the same table); they are read-only, so a
formula may read them at import or at call time alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Callable, Union, cast

import torch
from torch._ops import OpOverload, OpOverloadPacket

from ..conventions import ZERO, Cost
from ..replay import Deferred

aten = torch.ops.aten

#: Cost per element of the non-contraction op families under the ``full`` and ``exact`` conventions.
PER_ELEMENT: Mapping[str, int] = MappingProxyType({
    "elementwise": 1,  # add, sub, mul, div, pow, exp, sqrt, comparisons, ... per output element
    "activation": 1,  # relu, gelu, silu, sigmoid, tanh, hardswish, ... per output element
    "fused_multiply_add": 2,  # addcmul, addcdiv, lerp: a multiply and an add per output element
    "softmax": 5,  # max, subtract, exp, sum, divide per element (log_softmax alike)
    "normalization": 5,  # batch/layer/group/instance norm: mean, variance, subtract, scale, shift
    "loss": 3,  # mse, l1, smooth_l1, huber, bce, kl_div: difference, square/abs/log, accumulate per input element
    "reduction": 1,  # sum, mean, amax, prod, norm, cumsum, ... per input element
    "variance": 3,  # var, std: subtract, square, accumulate per input element
    "dropout": 2,  # scale and mask per element (train mode only; eval dropout runs nothing)
    "scatter_add": 1,  # index_add, scatter_add, embedding_bag: one add per source element
})

#: Real operations per complex one: every op that reads or writes a complex tensor is counted in real
#: arithmetic with these factors (README "Complex tensors"). z = a + bi, w = c + di.
COMPLEX: Mapping[str, int] = MappingProxyType({
    "mac": 4,  # s += z*w is re += ac - bd, im += ad + bc: 4 real multiply-accumulates
    "output": 2,  # a complex dot product is 2 real sums (re, im), so `exact` subtracts 2 per complex output
    "bias": 2,  # a complex bias add is 2 real adds
    "per_element": 2,  # any other per-element op: its real PER_ELEMENT constant once per real component
    "multiply": 6,  # z*w with both complex: 4 real multiplies + 2 real adds, per element
    "divide": 11,  # z/w with both complex, ((ac + bd) + (bc - ad)i) / (c^2 + d^2): 6 mul, 3 add, 2 div
})

#: An op's positional and keyword arguments, as ``__torch_dispatch__`` receives them.
OpArgs = tuple[Any, ...]
OpKwargs = dict[str, Any]
#: formula(args, kwargs, out): the call's Cost, a Deferred one (replayed later, see :mod:`..replay`) or None.
Formula = Callable[[OpArgs, OpKwargs, Any], Union[Cost, Deferred, None]]

#: op overload packet -> (family, formula); a formula returning None means "cannot cost this call".
OP_FORMULAS: dict[OpOverloadPacket, tuple[str, Formula]] = {}
#: ops that move or create data and cost nothing by declaration.
ZERO_COST: set[OpOverloadPacket] = set()



def register_op_formula(*ops: OpOverload | OpOverloadPacket | str, family: str) -> Callable[[Formula], Formula]:
    """Register ``formula(args, kwargs, out) -> Cost`` for aten ops (overloads or packets) or op names.

    Names an installed torch lacks are skipped, so one table serves every supported torch release.
    Third parties use the same decorator for their own custom ops, e.g. ``torch.ops.mylib.fused_mlp``.
    """

    def decorate(formula: Formula) -> Formula:
        for op in _resolve(ops):
            OP_FORMULAS[op] = (family, formula)
        return formula

    return decorate


def declare_zero_cost(*ops: OpOverload | OpOverloadPacket | str) -> None:
    """Declare ops that only move or create data, so they are neither costed nor reported unsupported."""
    ZERO_COST.update(_resolve(ops))


def _resolve(ops: Iterable[OpOverload | OpOverloadPacket | str]) -> list[OpOverloadPacket]:
    resolved: list[OpOverloadPacket] = []
    for op in ops:
        if isinstance(op, str):
            named = getattr(aten, op, None)
            if named is None:
                continue
            op = named
        packet = getattr(op, "overloadpacket", op)
        resolved.append(cast(OpOverloadPacket, packet))  # getattr is untyped here: an overload's packet, or op itself
    return resolved


def lookup(func: OpOverload) -> tuple[str, Formula] | None:
    """The (family, formula) for an op overload, falling back to torch's pointwise tag.

    The formula returned counts in real arithmetic: formulas count the op's own element operations, and
    calls that read or write complex tensors are converted with :data:`COMPLEX` here, in one place.
    """
    packet = func.overloadpacket
    entry = OP_FORMULAS.get(packet)
    if entry is None:
        if packet in ZERO_COST:
            return _ZERO_ENTRY
        if torch.Tag.pointwise not in func.tags:
            return None
        entry = _POINTWISE_ENTRY
    family, formula = entry
    return family, _in_real_arithmetic(formula, _COMPLEX_PRODUCTS.get(packet))


def complex_to_real(cost: Cost) -> Cost:
    """``cost`` of an op on complex tensors, counted as element operations, in real operations."""
    return Cost(macs=cost.macs * COMPLEX["mac"], outputs=cost.outputs * COMPLEX["output"],
                bias=cost.bias * COMPLEX["bias"], other=cost.other * COMPLEX["per_element"])


def _in_real_arithmetic(formula: Formula, product: str | None) -> Formula:
    """``formula``, with calls on complex tensors converted to real arithmetic (see :data:`COMPLEX`).

    ``product`` names the COMPLEX entry of an elementwise multiply or divide: when both of its operands are
    complex it costs that many real FLOPs per element instead of the per-component rule.
    """

    def real(args: OpArgs, kwargs: OpKwargs, out: Any) -> Cost | Deferred | None:
        cost = formula(args, kwargs, out)
        if type(cost) is not Cost or not _touches_complex(args, kwargs, out) or cost == ZERO:
            return cost
        if product is not None and len(args) > 1 and _is_complex(args[0]) and _is_complex(args[1]):
            return Cost(other=COMPLEX[product] * numel(out))
        return complex_to_real(cost)

    return real


def _is_complex(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.is_complex()
    return isinstance(value, complex)


def _touches_complex(args: OpArgs, kwargs: OpKwargs, out: Any) -> bool:
    """Whether any tensor an op reads (top-level or in a list argument) or writes is complex."""
    if _any_complex(args) or _any_complex((out,)):
        return True
    return bool(kwargs) and _any_complex(tuple(kwargs.values()))


def _any_complex(values: tuple[Any, ...]) -> bool:
    for value in values:
        if isinstance(value, torch.Tensor):
            if value.is_complex():
                return True
        elif isinstance(value, (tuple, list)):
            for item in value:
                if isinstance(item, torch.Tensor) and item.is_complex():
                    return True
    return False


# ---------------------------------------------------------------------------------------------- helpers


def arg(args: OpArgs, kwargs: OpKwargs, index: int, name: str, default: Any = None) -> Any:
    """The argument at ``index`` or keyword ``name``: aten ops are called both ways."""
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            found = first_tensor(item)
            if found is not None:
                return found
    return None


def numel(value: Any) -> int:
    tensor = first_tensor(value)
    return int(tensor.numel()) if tensor is not None else 0


def per_output(family: str) -> Formula:
    """PER_ELEMENT[family] FLOPs per output element."""
    constant = PER_ELEMENT[family]
    return lambda args, kwargs, out: Cost(other=constant * numel(out))


def per_input(family: str) -> Formula:
    """PER_ELEMENT[family] FLOPs per element of the first argument."""
    constant = PER_ELEMENT[family]
    return lambda args, kwargs, out: Cost(other=constant * numel(args[0] if args else None))


_ZERO_ENTRY: tuple[str, Formula] = ("data movement", lambda args, kwargs, out: ZERO)
_POINTWISE_ENTRY: tuple[str, Formula] = ("elementwise", per_output("elementwise"))
#: elementwise ops whose complex x complex form is a complex product or quotient (COMPLEX keys)
_COMPLEX_PRODUCTS: dict[OpOverloadPacket, str] = {aten.mul: "multiply", aten.mul_: "multiply", aten.div: "divide",
                                                  aten.div_: "divide"}
