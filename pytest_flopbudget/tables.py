"""Budgets written in pyproject.toml, for a whole suite: ``[tool.flopbudget.default]``, ``.models.<Class>`` and
``.tests."<glob>"``.

Plain data and matching only: which tables apply to a test id or to a model class. The tables are validated
when read, so a bad value stops the session before collection with the file, the table and the key named.
"""

from __future__ import annotations

import difflib
import fnmatch
import glob
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .budget import LIMITS, Budget, BudgetError

#: The sub-tables of ``[tool.flopbudget]`` that hold budgets rather than settings.
TABLE_KEYS = ("default", "models", "tests")


class TableError(ValueError):
    """A budget table that cannot be used; the message names the file, the table and the key."""


@dataclass(frozen=True)
class TableBudget:
    """One budget table: its limits as written (validated) and where it was written, for messages."""

    where: str  # pyproject.toml [tool.flopbudget.tests."tests/x.py::*"]
    limits: Mapping[str, Any]
    file: str = ""  # the pyproject.toml it is written in

    def line(self, text: str) -> int:
        """The first line of the file that mentions ``text`` (1-based; 0 when none does), for warnings."""
        try:
            lines = Path(self.file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return 0
        return next((number for number, content in enumerate(lines, 1) if text in content), 0)


@dataclass(frozen=True)
class BudgetTables:
    """Every budget table of one pyproject.toml."""

    default: TableBudget | None = None
    models: Mapping[str, TableBudget] = field(default_factory=dict)
    tests: tuple[tuple[str, TableBudget], ...] = ()  # in the order written

    def __bool__(self) -> bool:
        return self.default is not None or bool(self.models) or bool(self.tests)

    def for_test(self, nodeid: str) -> list[TableBudget]:
        """The ``tests`` tables whose pattern matches ``nodeid``, the one written last first (it wins)."""
        return [table for pattern, table in reversed(self.tests) if matches(pattern, nodeid)]

    def for_model(self, model_type: str, model: str) -> list[TableBudget]:
        """The ``models`` tables of a class: its dotted ``module.ClassName`` first (it wins), then its name."""
        return [self.models[key] for key in dict.fromkeys((model_type, model)) if key and key in self.models]

    def unmatched_patterns(self, nodeids: Iterable[str], rootdir: Path, partial: Iterable[str] = ()) -> list[str]:
        """Patterns that name nothing in this run: no collected test matches, and the pattern names a file or
        directory this run collected whole, or nothing on disk at all. A pattern for what the run did not
        collect (other files, other tests of a file named by node id) is quiet."""
        nodeids = list(nodeids)
        partial = set(partial)
        complete = [nodeid for nodeid in nodeids if nodeid.partition("::")[0] not in partial]
        unmatched = []
        for pattern, _ in self.tests:
            if any(matches(pattern, nodeid) for nodeid in nodeids):
                continue
            path_part = normalize(pattern).partition("::")[0]
            in_run = any(matches(path_part, nodeid) for nodeid in complete)
            on_disk = bool(path_part) and bool(glob.glob(os.path.join(glob.escape(str(rootdir)), path_part),
                                                          recursive=True))
            named_partly = any(matches(path_part, file) for file in partial)
            if in_run or not (on_disk or named_partly):
                unmatched.append(pattern)
        return unmatched


def model_table_hints(tables: BudgetTables, measured: Iterable[tuple[str, str]]) -> list[str]:
    """``models`` tables that look meant for a model this run measured but match none: a near miss of a class
    name (``Linaer``), or a dotted path to a measured class by another route (``torch.nn.Linear`` for
    ``torch.nn.modules.linear.Linear``). A table for a model the run did not measure at all is not one."""
    measured = list(measured)
    names = {name for name, _ in measured} | {path for _, path in measured}
    hints = []
    for key, table in tables.models.items():
        if key in names:
            continue
        last = key.rpartition(".")[2]
        same_class = sorted(path for name, path in measured if "." in key and name == last)
        close = difflib.get_close_matches(key, sorted(names), n=1, cutoff=0.8)
        suggestion = same_class[0] if same_class else close[0] if close else None
        if suggestion is not None:
            hints.append(f"{table.where} matched no measured model: did you mean {suggestion}? (tables match a "
                         "model's class name or its module.ClassName exactly)")
    return hints


def node_candidates(nodeid: str) -> list[str]:
    """What a pattern may name: the test id, the id without its parameters, each enclosing class or module,
    and each directory above the file (``tests/vision``)."""
    candidates = [nodeid]
    bare = nodeid.split("[", 1)[0] if nodeid.endswith("]") else nodeid
    parts = bare.split("::")
    candidates += ["::".join(parts[:end]) for end in range(len(parts), 0, -1)]
    path = Path(parts[0])
    candidates += [parent.as_posix() for parent in path.parents if parent.as_posix() != "."]
    return list(dict.fromkeys(candidates))


def normalize(pattern: str) -> str:
    """``./tests/vision/`` -> ``tests/vision``: node ids have no leading ``./`` and no trailing ``/``."""
    while pattern.startswith("./"):
        pattern = pattern[2:]
    path, sep, rest = pattern.partition("::")
    return (path.rstrip("/") or path) + sep + rest


def _literal_brackets(pattern: str) -> str:
    """Brackets are literal, as in test ids (``test_x[*]`` names every parameter set), not fnmatch classes."""
    return "".join({"[": "[[]", "]": "[]]"}.get(char, char) for char in pattern)


def matches(pattern: str, nodeid: str) -> bool:
    """A glob (``*`` and ``?``, which also cross ``/`` and ``::``; brackets are literal) or an exact id, against
    the test or a node above it, so ``"tests/test_vision.py"`` names every test of that file."""
    pattern = normalize(pattern)
    glob_pattern = _literal_brackets(pattern)
    return any(candidate == pattern or fnmatch.fnmatchcase(candidate, glob_pattern)
               for candidate in node_candidates(nodeid))


def parse_tables(table: Mapping[str, Any], where: str, path: str) -> BudgetTables:
    """The budget tables in ``[tool.flopbudget]``; ``where`` is ``pyproject.toml [tool.flopbudget`` (the
    table name continues) and ``path`` is the file, both for messages."""
    default = table.get("default")
    models = table.get("models")
    tests = table.get("tests")
    return BudgetTables(
        default=None if default is None else _budget(default, f"{where}.default]", path),
        models={} if models is None else _models(models, f"{where}.models", path),
        tests=() if tests is None else _tests(tests, f"{where}.tests", path),
    )


def _models(value: Any, where: str, path: str) -> dict[str, TableBudget]:
    """``[...models.Net]`` and ``[...models."pkg.module.Net"]``; an unquoted dotted key
    (``[...models.pkg.module.Net]``) is a nested table in TOML and reads the same."""
    _expect_table(value, f"{where}]", path)
    found: dict[str, TableBudget] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, sub in node.items():
            name = f"{prefix}.{key}" if prefix else key
            shown = f'{where}."{name}"]' if "." in name else f"{where}.{name}]"
            _expect_table(sub, shown, path)
            if sub and all(isinstance(inner, Mapping) for inner in sub.values()):
                walk(sub, name)  # a namespace: pkg -> module -> Net
            else:
                found[name] = _budget(sub, shown, path)

    walk(value, "")
    return found


def _tests(value: Any, where: str, path: str) -> tuple[tuple[str, TableBudget], ...]:
    _expect_table(value, f"{where}]", path)
    found = []
    for pattern, sub in value.items():
        shown = f'{where}."{pattern}"]'
        if not pattern.strip():
            raise TableError(f"empty test pattern in {where}] ({path}): expected a test id or a glob such as "
                             '"tests/test_vision.py::*"')
        found.append((pattern, _budget(sub, shown, path)))
    return tuple(found)


def _budget(value: Any, where: str, path: str) -> TableBudget:
    _expect_table(value, where, path)
    valid = list(LIMITS)
    if not value:
        raise TableError(f"empty table {where} ({path}): it sets no limit; give at least one of {', '.join(valid)}")
    for key, raw in value.items():
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"expected one of {', '.join(valid)}"
            raise TableError(f"unknown key {key!r} in {where} ({path}): {hint}")
        try:
            Budget(**{key: raw})
        except BudgetError as error:
            raise TableError(f"invalid {key} {raw!r} in {where} ({path}): {error}") from None
    return TableBudget(where, dict(value), path)


def _expect_table(value: Any, where: str, path: str) -> None:
    if not isinstance(value, Mapping):
        raise TableError(f"invalid {where} ({path}): expected a table of limits, got {type(value).__name__} "
                         f"{value!r}")
