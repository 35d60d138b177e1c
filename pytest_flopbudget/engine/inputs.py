"""The one walker over a forward's inputs: which tensors they hold, their shapes, and copies with tensors replaced.

Containers are torch's own pytree (tuples, lists, dicts, namedtuples and whatever a library registered with
``torch.utils._pytree``), plus batch objects: dataclasses and plain objects with attributes (a torch_geometric
``Data``), walked one level into their fields. A ``PackedSequence`` is a namedtuple whose batch sizes are
shape information, kept on the CPU where torch reads them: walks that replace tensors leave them alone.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, Callable

import torch
import torch.utils._pytree as pytree
from torch import nn

TensorMap = Callable[[torch.Tensor], torch.Tensor]

# torch < 2.8 has no public tree_is_leaf; its private _is_leaf is the same test (newer torch deprecates it).
_tree_is_leaf = getattr(pytree, "tree_is_leaf", None) or pytree._is_leaf


def normalize_inputs(inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """tensor -> one positional argument; tuple/list -> positional; dict -> keyword. Nested values pass through."""
    if isinstance(inputs, torch.Tensor):
        return (inputs,), {}
    if isinstance(inputs, (tuple, list)):
        return tuple(inputs), {}
    if isinstance(inputs, dict):
        if not all(isinstance(key, str) for key in inputs):
            raise TypeError("inputs: a dict of inputs is passed as keyword arguments, so its keys must be strings")
        return (), dict(inputs)
    raise TypeError(
        f"inputs: expected a tensor, a tuple or list of positional arguments or a dict of keyword arguments, "
        f"got {type(inputs).__name__}"
    )


def _is_batch_object(value: Any) -> bool:
    """An object whose fields may hold tensors: a dataclass instance or a plain object with attributes."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes, type, nn.Module, torch.Tensor)):
        return False
    return dataclasses.is_dataclass(value) or isinstance(getattr(value, "__dict__", None), dict)


def _fields_of(value: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(value):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if hasattr(value, f.name)}
    return dict(vars(value))


def _holds_tensors(value: Any) -> bool:
    return isinstance(value, torch.Tensor) or not _tree_is_leaf(value) or _is_batch_object(value) \
        or isinstance(value, Mapping)


#: How deep batch objects are opened (``batch.inner.x``): deep enough for real batches, bounded for cycles.
DEPTH = 4


def _leaves(value: Any, depth: int = DEPTH) -> list[Any]:
    """pytree leaves, with batch objects and other mappings (PyG ``Data`` keeps its tensors in one) opened,
    ``DEPTH`` levels deep."""
    leaves = []
    for leaf in pytree.tree_leaves(value):
        if depth and isinstance(leaf, Mapping) and not isinstance(leaf, dict):
            leaves.extend(_leaves(list(leaf.values()), depth - 1))
        elif depth and _is_batch_object(leaf):
            leaves.extend(_leaves(list(_fields_of(leaf).values()), depth - 1))
        else:
            leaves.append(leaf)
    return leaves


def tensors_in(value: Any) -> Iterator[torch.Tensor]:
    """Every tensor inside ``value``, in order."""
    for leaf in _leaves(value):
        if isinstance(leaf, torch.Tensor):
            yield leaf


def input_shapes(inputs: Any) -> list[list[int]]:
    # int(): under torch.jit.trace a size is a traced 0-dim tensor, and a report holds plain numbers
    return [[int(size) for size in tensor.shape] for tensor in tensors_in(inputs)]


def packed_sequences(value: Any) -> list[nn.utils.rnn.PackedSequence]:
    """The PackedSequences among ``value``'s containers (their batch sizes are read as shapes)."""
    found = pytree.tree_leaves(value, is_leaf=lambda node: isinstance(node, nn.utils.rnn.PackedSequence))
    return [leaf for leaf in found if isinstance(leaf, nn.utils.rnn.PackedSequence)]


def map_tensors(value: Any, function: TensorMap) -> Any:
    """A copy of ``value`` with ``function`` applied to every tensor (a PackedSequence's batch sizes kept).

    Batch objects are copied shallowly with their tensor-holding fields replaced; the caller's are untouched.
    """

    def replace(leaf: Any) -> Any:
        if isinstance(leaf, torch.Tensor):
            return function(leaf)
        if isinstance(leaf, nn.utils.rnn.PackedSequence):
            return type(leaf)(function(leaf.data), leaf.batch_sizes,
                              *(None if t is None else function(t) for t in (leaf.sorted_indices,
                                                                          leaf.unsorted_indices)))
        if _is_batch_object(leaf):
            changed = {name: map_tensors(field, function) for name, field in _fields_of(leaf).items()
                       if _holds_tensors(field)}
            if not changed:
                return leaf
            if dataclasses.is_dataclass(leaf) and not isinstance(leaf, type):
                return dataclasses.replace(leaf, **changed) if _init_fields(leaf, changed) else _patched(leaf, changed)
            return _patched(leaf, changed)
        return leaf

    return pytree.tree_map(replace, value, is_leaf=lambda node: isinstance(node, nn.utils.rnn.PackedSequence))


def _init_fields(instance: Any, changed: dict[str, Any]) -> bool:
    init = {f.name for f in dataclasses.fields(instance) if f.init}
    return set(changed) <= init


def _patched(leaf: Any, changed: dict[str, Any]) -> Any:
    clone = copy.copy(leaf)
    for name, field in changed.items():
        object.__setattr__(clone, name, field)
    return clone


def signature(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """What may decide a forward's cost besides the model and its mode, in two parts.

    The first: the structure of the inputs, each tensor's shape, dtype and device, and the type of every other
    value, batch objects and mappings opened ``DEPTH`` levels deep. The second: the values of the non-tensor
    arguments (a step number, a ``depth=``, a config object's fields), which may or may not change the cost;
    ``watch()`` decides by measuring (see its docstring).
    """
    shapes: list[Any] = []
    values: list[Any] = []

    def describe(value: Any, depth: int) -> None:
        leaves, spec = pytree.tree_flatten(value)
        shapes.append(str(spec))
        for leaf in leaves:
            if isinstance(leaf, torch.Tensor):
                shapes.append(("T", tuple(leaf.shape), leaf.dtype, leaf.device.type))
            elif depth and isinstance(leaf, Mapping) and not isinstance(leaf, dict):
                shapes.append((type(leaf).__name__, tuple(leaf.keys())))
                describe(list(leaf.values()), depth - 1)
            elif depth and _is_batch_object(leaf):
                fields = _fields_of(leaf)
                shapes.append((type(leaf).__name__, tuple(fields)))
                describe(list(fields.values()), depth - 1)
            else:
                shapes.append(type(leaf).__name__)
                values.append(_hashable(leaf))

    describe((args, kwargs), DEPTH)
    return tuple(shapes), tuple(values)


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return value
