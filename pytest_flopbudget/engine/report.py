"""The result of one measurement: plain data that renders itself and survives a JSON round trip.

Nothing here imports torch, so a pytest controller (or a CI script reading the JSON) can load reports
without paying for it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .units import format_count

SCHEMA_VERSION = 1
#: How many of the costliest modules failures and the verbose summary show.
TOP_MODULES = 5


@dataclass
class ModuleStats:
    """One module's share of a forward call; flops, macs and params include its submodules."""

    type: str
    flops: int = 0
    macs: int = 0
    params: int = 0
    calls: int = 0


@dataclass
class OpStats:
    """One op's total over a forward call, under the report's convention."""

    flops: int = 0
    macs: int = 0
    calls: int = 0


@dataclass
class Report:
    """Counts for one forward call of one model with the given inputs.

    ``flops`` follow ``convention`` (see README "Conventions"); ``macs`` are convention-free.
    ``modules`` is keyed by qualified name as in ``named_modules()`` ("" is the model itself).
    ``modified_params`` names the parameters whose data the forward changed in place (their version
    counters moved); measuring does not copy them back.
    """

    model: str
    convention: str
    flops: int
    macs: int
    params: int
    trainable_params: int
    frozen_params: int
    buffers: int
    param_bytes: int
    buffer_bytes: int = 0
    bytes_by_dtype: dict[str, int] = field(default_factory=dict)
    input_shapes: list[Any] = field(default_factory=list)
    modules: dict[str, ModuleStats] = field(default_factory=dict)
    ops: dict[str, OpStats] = field(default_factory=dict)
    unsupported: dict[str, int] = field(default_factory=dict)
    meta: bool = False
    name: str | None = None
    modified_params: list[str] = field(default_factory=list)
    model_type: str = ""  # the model's class as module.QualifiedName (``model`` is its bare name)

    @property
    def gflops(self) -> float:
        return self.flops / 1e9

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def label(self) -> str:
        """What a person calls this measurement: its given name, else the model's class."""
        return self.name or self.model

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict; ``Report.from_dict(r.to_dict()) == r`` holds exactly."""
        data = asdict(self)
        data["schema_version"] = SCHEMA_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["modules"] = {name: ModuleStats(**stats) for name, stats in data.get("modules", {}).items()}
        values["ops"] = {name: OpStats(**stats) for name, stats in data.get("ops", {}).items()}
        values["input_shapes"] = _lists(data.get("input_shapes", []))
        return cls(**values)

    def own_costs(self) -> dict[str, ModuleStats]:
        """Each module's exclusive cost: its FLOPs and MACs less its direct submodules', so a module that does
        work in its own forward (``nn.MultiheadAttention``'s attention, a model's functional calls) shows it.
        Params and calls stay the module's own."""
        children: dict[str, tuple[int, int]] = {}
        for name, stats in self.modules.items():
            if name:
                parent = name.rpartition(".")[0]
                flops, macs = children.get(parent, (0, 0))
                children[parent] = (flops + stats.flops, macs + stats.macs)
        own = {}
        for name, stats in self.modules.items():
            flops, macs = children.get(name, (0, 0))
            own[name] = replace(stats, flops=max(stats.flops - flops, 0), macs=max(stats.macs - macs, 0))
        return own

    def top_modules(self, count: int) -> list[tuple[str, ModuleStats]]:
        """The ``count`` modules that do the most work themselves (exclusive FLOPs; "" is the model's own
        forward): where the cost is incurred, not where it is summed."""
        costly = [(name, stats) for name, stats in self.own_costs().items() if stats.flops]
        return sorted(costly, key=lambda item: (-item[1].flops, item[0]))[:count]

    def top_shares(self, count: int = TOP_MODULES) -> list[tuple[str, ModuleStats, float]]:
        """:meth:`top_modules` (exclusive costs) with each one's share of the model's FLOPs, in percent."""
        total = self.flops or 1
        return [(name, stats, 100.0 * stats.flops / total) for name, stats in self.top_modules(count)]

    def table(self, depth: int | None = 2) -> str:
        """A per-module text table down to ``depth`` levels below the model (None: every level)."""
        total = self.flops or 1
        header = ("module", "type", "params", "MACs", f"FLOPs ({self.convention})", "share", "calls")
        rows = []
        for name, stats in self.modules.items():
            level = 0 if not name else name.count(".") + 1
            if depth is not None and level > depth:
                continue
            label = "(model)" if not name else "  " * (level - 1) + name.rpartition(".")[2]
            rows.append((
                label,
                stats.type,
                format_count(stats.params),
                format_count(stats.macs),
                format_count(stats.flops),
                f"{100.0 * stats.flops / total:.1f}%",
                str(stats.calls),
            ))
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]) for i, cell in enumerate(row))
                 for row in [header, *rows]]
        lines.insert(1, "  ".join("-" * width for width in widths))
        lines.append(self.summary_line())
        if self.unsupported:
            ops = ", ".join(f"{op} x{calls}" for op, calls in sorted(self.unsupported.items()))
            lines.append(f"unsupported ops (not counted): {ops}")
        if self.modified_params:
            lines.append(f"parameters the forward changed in place: {', '.join(self.modified_params)}")
        return "\n".join(lines)

    def summary_line(self) -> str:
        return (
            f"{self.label}: {format_count(self.flops)} FLOPs ({self.convention}), {format_count(self.macs)} MACs, "
            f"{format_count(self.params)} params ({format_count(self.trainable_params)} trainable, "
            f"{format_count(self.frozen_params)} frozen)"
        )


def _lists(value: Any) -> Any:
    """Shapes come back from JSON as lists; tuples written by callers compare equal after this."""
    if isinstance(value, (list, tuple)):
        return [_lists(item) for item in value]
    return value
