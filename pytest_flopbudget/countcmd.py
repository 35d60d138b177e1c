"""``python -m pytest_flopbudget count TARGET``: what a model costs, in one line of shell.

``TARGET`` is ``package.module:callable`` (``torchvision.models:resnet50``, ``mymodels:build`` or a dotted
attribute such as ``mymodels:Net.small``), called with ``--args`` to build the model; ``--input`` gives the shapes
of the forward's tensors. torch is imported only here, when the command runs.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

#: What ``:DTYPE`` after a shape may say, and the torch dtype it means; integer dtypes make token ids.
DTYPES = {
    "float": "float32", "float32": "float32", "float16": "float16", "half": "float16", "bfloat16": "bfloat16",
    "float64": "float64", "double": "float64", "long": "int64", "int64": "int64", "int": "int32", "int32": "int32",
}
#: Token ids are drawn from [0, TOKEN_RANGE): small enough for any vocabulary.
TOKEN_RANGE = 100

_SHAPE = re.compile(r"[0-9]+(?:x[0-9]+)*")


class CountError(ValueError):
    """A target, shape or argument that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class InputSpec:
    shape: tuple[int, ...]
    dtype: str  # a name in DTYPES' values


def parse_input(text: str) -> InputSpec:
    """``1x3x224x224`` or ``1x128:long``."""
    shape_text, _, dtype_text = text.partition(":")
    if not _SHAPE.fullmatch(shape_text):
        raise CountError(f"--input {text!r}: expected a shape such as 1x3x224x224 (ASCII digits joined by x), "
                         "optionally followed by :DTYPE (:long for token ids)")
    dtype = DTYPES.get(dtype_text or "float")
    if dtype is None:
        raise CountError(f"--input {text!r}: unknown dtype {dtype_text!r}; expected one of {', '.join(DTYPES)}")
    return InputSpec(tuple(int(size) for size in shape_text.split("x")), dtype)


def parse_json(option: str, text: str | None, kinds: tuple[type, ...]) -> Any:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CountError(f"{option} {text!r}: not valid JSON ({error})") from None
    if not isinstance(value, kinds):
        names = " or ".join("a JSON list" if kind is list else "a JSON object" for kind in kinds)
        raise CountError(f"{option} {text!r}: expected {names}")
    return value


def resolve_target(target: str) -> Any:
    """The callable ``package.module:attribute.path`` names; CountError says which part is missing."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise CountError(f"TARGET {target!r}: expected package.module:callable, such as torchvision.models:resnet50")
    here = os.getcwd()
    if "" not in sys.path and here not in sys.path:  # as `python -m` does: a recipe beside you imports
        sys.path.insert(0, here)
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 - ImportError, or whatever the module raises (SyntaxError...)
        raise CountError(f"TARGET {target!r}: cannot import {module_name}: {type(error).__name__}: {error}") from None
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise CountError(f"TARGET {target!r}: {module_name} has no {attribute}")
        found = getattr(found, part)
    if not callable(found):
        raise CountError(f"TARGET {target!r}: {attribute} is a {type(found).__name__}, not a callable that builds "
                         "a model")
    return found


def build(target: str, args: Any, meta: bool) -> Any:
    """Call the factory (on the meta device with ``meta``); the result must be an nn.Module."""
    import torch
    from torch import nn

    factory = resolve_target(target)
    if isinstance(factory, nn.Module):  # a model object, not a factory: measured as it is
        if args is not None:
            raise CountError(f"TARGET {target!r}: is a {type(factory).__name__} instance, not a factory, so --args "
                             "has nothing to build")
        return factory
    positional = args if isinstance(args, list) else []
    keywords = args if isinstance(args, dict) else {}
    try:
        if meta:
            with torch.device("meta"):
                model = factory(*positional, **keywords)
        else:
            model = factory(*positional, **keywords)
    except (Exception, SystemExit) as error:  # noqa: BLE001 - the user's factory: its error, said in one line
        raise CountError(f"TARGET {target!r}: calling it raised {type(error).__name__}: {error}") from None
    if not isinstance(model, nn.Module):
        raise CountError(f"TARGET {target!r}: returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def make_inputs(specs: list[InputSpec], meta: bool = False) -> list[Any]:
    """Random tensors of those shapes: normal floats, token ids in [0, TOKEN_RANGE) for integer dtypes; with
    ``meta``, tensors on the meta device (no memory, whatever the shape)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    tensors = []
    for spec in specs:
        dtype = getattr(torch, spec.dtype)
        try:
            if meta:
                tensors.append(torch.empty(spec.shape, dtype=dtype, device="meta"))
            elif dtype.is_floating_point:
                tensors.append(torch.randn(spec.shape, generator=generator).to(dtype))
            else:
                tensors.append(torch.randint(0, TOKEN_RANGE, spec.shape, generator=generator, dtype=dtype))
        except (RuntimeError, TypeError, OverflowError, MemoryError) as error:  # too large to make
            shape = "x".join(map(str, spec.shape))
            raise CountError(f"--input {shape}: cannot make this tensor ({type(error).__name__}: "
                             f"{str(error).splitlines()[0]}); try --meta") from None
    return tensors
