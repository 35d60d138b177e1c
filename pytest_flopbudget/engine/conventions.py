"""What a FLOP is: the convention-neutral cost of an op and the three named conventions.

Every formula returns a :class:`Cost` made of four exact integers. A convention is then only a way of
adding them up, so switching conventions never re-runs a model and the three answers cannot drift apart.
"""

from __future__ import annotations

from typing import NamedTuple

CONVENTIONS: tuple[str, ...] = ("full", "matmul", "exact")
DEFAULT_CONVENTION = "full"


class Cost(NamedTuple):
    """The cost of one op call (immutable; a named tuple because the engine adds millions of them).

    macs: multiply-accumulates of contractions (matmuls, convolutions, attention, RNN gates).
    outputs: output elements of those contractions (each K-term dot product costs 2K - 1 FLOPs exactly).
    bias: bias additions fused into a contraction (addmm, conv with bias, baddbmm, RNN gate biases).
    other: per-element work outside contractions (elementwise, activations, softmax, norms, pooling).
    """

    macs: int = 0
    outputs: int = 0
    bias: int = 0
    other: int = 0

    def __add__(self, other: Cost) -> Cost:  # type: ignore[override]  # adds field by field, not tuple concatenation
        return Cost(self.macs + other.macs, self.outputs + other.outputs, self.bias + other.bias,
                    self.other + other.other)

    def scaled(self, factor: int) -> Cost:
        return Cost(self.macs * factor, self.outputs * factor, self.bias * factor, self.other * factor)

    def flops(self, convention: str) -> int:
        """FLOPs under ``convention``; see README "Conventions" for the table."""
        if convention == "full":
            return 2 * self.macs + self.bias + self.other
        if convention == "matmul":
            return 2 * self.macs
        if convention == "exact":
            return 2 * self.macs - self.outputs + self.bias + self.other
        raise ValueError(f"unknown convention {convention!r}: {convention_error(convention)}")


ZERO = Cost()


def convention_error(convention: object) -> str | None:
    """Why ``convention`` names no convention ("expected one of full, matmul, exact"), or None if it does."""
    if isinstance(convention, str) and convention in CONVENTIONS:
        return None
    return f"expected one of {', '.join(CONVENTIONS)}"


def validate_convention(convention: object, argument: str = "convention") -> str:
    """Return ``convention`` if it names a convention, else raise ValueError naming ``argument``."""
    error = convention_error(convention)
    if error is not None:
        raise ValueError(f"{argument}: unknown convention {convention!r}: {error}")
    return convention  # type: ignore[return-value]
