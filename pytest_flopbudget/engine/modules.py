"""Module-level formulas for kernels that are opaque at op level.

The RNN family runs as one fused kernel on most backends (mkldnn on CPU, cuDNN on CUDA), so its op-level
view differs by device. Counting it from the module, with the gate formulas below, gives one answer on
every device. While such a module runs, the ops inside it are not counted again.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable, Optional, Protocol, cast

from torch import nn

from .conventions import ZERO, Cost

_quantized_dynamic: ModuleType | None
try:  # int8 / fp16 dynamic quantized RNNs: not nn.RNNBase subclasses, same module attributes
    from torch.ao.nn.quantized.dynamic.modules import rnn as _quantized_dynamic
except ImportError:  # pragma: no cover - torch builds without torch.ao
    _quantized_dynamic = None

#: cost of one step of one gate set, per hidden unit: (gates, elementwise work per hidden unit).
#: LSTM: sigmoid x3, tanh x2, c' = f*c + i*g (3), h = o*tanh(c') (1) -> 9.
#: GRU: sigmoid x2, r*(W_hn h + b_hn) (1), + W_in x (1), tanh (1), h' = n + z*(h - n) (3) -> 8.
#: RNN: one activation (tanh or relu) -> 1.
GATES: dict[str, tuple[int, int]] = {"LSTM": (4, 9), "GRU": (3, 8), "RNN_TANH": (1, 1), "RNN_RELU": (1, 1)}

ModuleFormula = Callable[[nn.Module, tuple[Any, ...], Any], Optional[Cost]]

#: module class -> formula(module, args, output) -> Cost (None: cannot cost this call).
MODULE_FORMULAS: dict[type, ModuleFormula] = {}


def register_module_formula(module_type: type) -> Callable[[ModuleFormula], ModuleFormula]:
    """Cost every call of ``module_type`` (and subclasses) with ``formula(module, args, output)``.

    Use it for custom modules whose kernels are opaque to op-level counting (a fused CUDA extension).
    The ops inside such a module are then not counted on top.
    """

    def decorate(formula: ModuleFormula) -> ModuleFormula:
        MODULE_FORMULAS[module_type] = formula
        _BY_TYPE.clear()
        return formula

    return decorate


_BY_TYPE: dict[type, tuple[str, ModuleFormula] | None] = {}  # lookup_module's answers, per module class


def lookup_module(module: nn.Module) -> tuple[str, ModuleFormula] | None:
    """:func:`_lookup` for ``type(module)``, remembered (it runs on every module call)."""
    module_type = type(module)
    try:
        return _BY_TYPE[module_type]
    except KeyError:
        found = _BY_TYPE[module_type] = _lookup(module_type)
        return found


def _lookup(module_type: type) -> tuple[str, ModuleFormula] | None:
    """(label for the op table, formula) for a module costed as a whole, e.g. ("nn.LSTM", rnn_cost).

    A subclass inherits its base's formula only while its ``forward`` is the base's or torch's own (nn.LSTM's
    for nn.RNNBase's formula): one that writes its own may do more (a head after the LSTM), so its ops are
    counted one by one instead.
    """
    for cls in module_type.__mro__:
        formula = MODULE_FORMULAS.get(cls)
        if formula is not None:
            if not _forward_is_trusted(module_type, cls):
                return None
            name = module_type.__name__
            return (f"nn.{name}" if module_type.__module__.startswith("torch.nn") else name), formula
    return None


def _forward_is_trusted(module_type: type, registered: type) -> bool:
    owner = next((cls for cls in module_type.__mro__ if "forward" in vars(cls)), registered)
    return owner is registered or not issubclass(owner, registered) or owner.__module__.startswith("torch.")


def gate_step_cost(mode: str, input_size: int, hidden_size: int, proj_size: int, bias: bool) -> Cost:
    """One time step of one direction of one layer, for one sequence.

    Gate contractions take [x, h] (K = input + recurrent size) for every gate, except GRU's candidate gate,
    whose two halves are separate products (the reset gate multiplies the hidden half). Each gate output
    gets two bias adds (b_ih and b_hh). LSTM's projection h = W_hr h adds hidden * proj MACs.
    """
    gates, elementwise = GATES[mode]
    recurrent = proj_size or hidden_size
    macs = gates * hidden_size * (input_size + recurrent)
    outputs = gates * hidden_size + (hidden_size if mode == "GRU" else 0)
    if proj_size:
        macs += hidden_size * proj_size
        outputs += proj_size
    return Cost(macs=macs, outputs=outputs, bias=2 * gates * hidden_size if bias else 0,
                other=elementwise * hidden_size)


def _rows(output: Any, width: int) -> int:
    """Sequence-steps processed: rows of a PackedSequence, else output elements over the feature width."""
    data = getattr(output, "data", output)
    if isinstance(output, nn.utils.rnn.PackedSequence):
        return int(data.shape[0])
    return int(data.numel()) // width


class _Cell(Protocol):
    """What the formulas read of a recurrent cell (nn.RNNCellBase and its dynamic quantized twin)."""

    input_size: int
    hidden_size: int
    bias: bool


class _Recurrent(_Cell, Protocol):
    """What the formulas read of a recurrent module (nn.RNNBase and its dynamic quantized twin)."""

    mode: str
    num_layers: int
    bidirectional: bool


def rnn_cost(module: nn.Module, args: tuple[Any, ...], output: Any) -> Cost | None:
    """RNN, LSTM and GRU: every layer and direction, batch_first or not, batched or not, packed or padded."""
    if output is None:
        return None
    rnn = cast(_Recurrent, module)  # nn.Module's __getattr__ says Tensor | Module; RNN modules have these
    directions = 2 if rnn.bidirectional else 1
    proj_size = getattr(rnn, "proj_size", 0) or 0
    recurrent = proj_size or rnn.hidden_size
    steps = _rows(output[0], directions * recurrent)
    total = ZERO
    for layer in range(rnn.num_layers):
        input_size = rnn.input_size if layer == 0 else directions * recurrent
        step = gate_step_cost(rnn.mode, input_size, rnn.hidden_size, proj_size, rnn.bias)
        total = total + step.scaled(directions)
    return total.scaled(steps)


_LSTM_CELLS: tuple[type, ...] = (nn.LSTMCell,)
_GRU_CELLS: tuple[type, ...] = (nn.GRUCell,)
if _quantized_dynamic is not None:
    _LSTM_CELLS += (_quantized_dynamic.LSTMCell,)
    _GRU_CELLS += (_quantized_dynamic.GRUCell,)


def rnn_cell_cost(module: nn.Module, args: tuple[Any, ...], output: Any) -> Cost | None:
    """RNNCell, LSTMCell and GRUCell: one step for each row of the batch (or one unbatched row)."""
    if output is None:
        return None
    if isinstance(module, _LSTM_CELLS):
        mode, hidden = "LSTM", output[0]
    elif isinstance(module, _GRU_CELLS):
        mode, hidden = "GRU", output
    else:
        mode, hidden = "RNN_TANH", output
    cell = cast(_Cell, module)  # nn.Module's __getattr__ says Tensor | Module; RNN cells have these
    steps = int(hidden.numel()) // cell.hidden_size
    return gate_step_cost(mode, cell.input_size, cell.hidden_size, 0, cell.bias).scaled(steps)


# Float and dynamic quantized (int8 weights, or fp16) recurrent modules run the same gate arithmetic.
register_module_formula(nn.RNNBase)(rnn_cost)
register_module_formula(nn.RNNCellBase)(rnn_cell_cost)
if _quantized_dynamic is not None:
    register_module_formula(_quantized_dynamic.RNNBase)(rnn_cost)
    register_module_formula(_quantized_dynamic.RNNCellBase)(rnn_cell_cost)
