"""Session settings from every source, resolved by one function with one precedence rule.

Precedence, highest first: command line (``--flopbudget-*``), ini (pytest.ini, tox.ini, setup.cfg,
``[tool.pytest.ini_options]`` or ``[tool.pytest]``; ``flopbudget_*``), ``[tool.flopbudget]`` in pyproject.toml,
the default.
Budgets come from markers, the budget tables of ``[tool.flopbudget]`` (tables.py) and the
``pytest_flopbudget_budget`` hook, merged by plan.py.
Every value from every source is validated, also one a higher source overrides, and an error names the
value, the setting and the source: ``invalid flopbudget_convention 'x' from ini: ...``.
"""

from __future__ import annotations

import difflib
import math
import os.path as os_path
import re
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from .engine.conventions import CONVENTIONS, DEFAULT_CONVENTION, convention_error
from .tables import TABLE_KEYS, BudgetTables, TableError, parse_tables

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib  # type: ignore[no-redef,import-not-found,unused-ignore]  # 3.9-3.10 only

PYPROJECT_TABLE = "tool.flopbudget"


#: A setting with a bad value: pytest prints it as a usage error and exits before collecting. (UsageError is final.)
ConfigError = pytest.UsageError


@dataclass(frozen=True)
class Option:
    """One setting under its three spellings: ``--flopbudget-<name>``, ``flopbudget_<name>``, ``<name>``."""

    key: str
    help: str
    parse: Callable[[Any, Path], Any]
    default: Any
    flag: bool = False
    metavar: str = "PATH"

    @property
    def cli(self) -> str:
        return f"--flopbudget-{self.key}"

    @property
    def dest(self) -> str:
        return f"flopbudget_{self.key}"

    @property
    def ini(self) -> str:
        return f"flopbudget_{self.key}"


def _convention(raw: Any, base: Path) -> str:
    error = convention_error(raw)
    if error is not None:
        raise ValueError(error)
    return str(raw)


def _choice(*choices: str) -> Callable[[Any, Path], str]:
    def parse(raw: Any, base: Path) -> str:
        if not isinstance(raw, str) or raw.strip() not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return raw.strip()
    return parse


WATCH_CHOICES = ("marked", "all")
MODE_CHOICES = ("fail", "warn")


_PERCENT = re.compile(r"[ \t]*((?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[ \t]*%?[ \t]*")
_PERCENT_EXPECTED = "expected a percentage, a finite number zero or more in ASCII digits, such as 0, 2.5 or \"2.5%\""


def parse_tolerance(raw: Any, base: Path) -> float:
    """A percentage: ``2.5``, ``"2.5"`` or ``"2.5%"``; finite and zero or more."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(_PERCENT_EXPECTED)
    if isinstance(raw, str):
        match = _PERCENT.fullmatch(raw)
        if match is None:
            raise ValueError(_PERCENT_EXPECTED)
        raw = match.group(1)
    try:
        value = float(raw)
    except OverflowError:  # a TOML integer of hundreds of digits
        raise ValueError(f"{_PERCENT_EXPECTED}; this one is too large") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(_PERCENT_EXPECTED)
    return value + 0.0


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _flag(raw: Any, base: Path) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise ValueError("expected true or false")


#: What ends a directory's name: "/" everywhere, "\\" on Windows (and a typo for one anywhere else).
_SEPARATORS = ("/", "\\")


def parse_path(raw: Any, base: Path) -> Path:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("expected a file path")
    if raw.rstrip().endswith(_SEPARATORS):  # Path("out/") is Path("out"): a file named like the directory
        raise ValueError("ends with a path separator, so it names a directory; expected a file path such as "
                         f"{raw.rstrip()}measurements.json")
    path = base / Path(raw).expanduser()
    try:
        mode = path.stat().st_mode  # follows a symlink: its target is what gets written
    except (FileNotFoundError, NotADirectoryError, ValueError):  # absent (a dangling symlink's target is
        return path  # created), or below a file or unwritable at all: the write says why
    except OSError as error:  # a symlink loop, a directory that cannot be searched
        raise ValueError(f"{path} cannot be written: {error.strerror or error}") from None
    if stat.S_ISDIR(mode):
        raise ValueError(f"{path} is a directory; expected a file path")
    if not stat.S_ISREG(mode):  # replacing /dev/null or a FIFO with a report would destroy it
        raise ValueError(f"{path} is not a regular file ({file_kind(mode)}); expected the path of a regular file "
                         "or of one to create")
    return path


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words: ``a FIFO``, ``a character device``, ..."""
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))
    return next((kind for test, kind in kinds if test(mode)), "an unknown kind of file")


OPTIONS: tuple[Option, ...] = (
    Option("disable", "measure and check nothing; the marker stays registered and the complexity fixture still "
           "returns reports", _flag, False, flag=True),
    Option("convention", f"how FLOPs are counted: {', '.join(CONVENTIONS)} (default {DEFAULT_CONVENTION}); "
           "see the README's conventions table", _convention, DEFAULT_CONVENTION,
           metavar="{" + ",".join(CONVENTIONS) + "}"),
    Option("json", "write every measurement to this JSON file (schema in the README)", parse_path, None),
    Option("watch", "which tests have their model forwards watched: marked (tests with a flop_budget marker or "
           "a [tool.flopbudget.tests] pattern, the default) or all", _choice(*WATCH_CHOICES), "marked",
           metavar="{" + ",".join(WATCH_CHOICES) + "}"),
    Option("mode", "fail (the default): an overrun or a growth over the baseline fails its test; warn: it is "
           "reported as a warning and the test passes", _choice(*MODE_CHOICES), "fail",
           metavar="{" + ",".join(MODE_CHOICES) + "}"),
    Option("baseline", "compare every measurement with this baseline JSON file (meant to be committed); growth "
           "beyond the tolerance fails the test", parse_path, None),
    Option("tolerance", "how much a count may grow over the baseline, in percent (default 0: counts are exact)",
           parse_tolerance, 0.0, metavar="PERCENT"),
    Option("update", "write the baseline file from this run (a partial run updates only the tests it ran)",
           _flag, False, flag=True),
    Option("markdown", "write the summary as a Markdown table to this file (it is also appended to "
           "$GITHUB_STEP_SUMMARY when that is set)", parse_path, None),
    Option("html", "write the session as one self-contained HTML page to this file: the table, sortable, and a "
           "cost map of each model's modules", parse_path, None),
)


@dataclass(frozen=True)
class Source:
    """Raw values from one place, with the directory relative paths in it are resolved against."""

    name: str
    values: Mapping[str, Any]
    base: Path
    spelling: Callable[[Option], str]
    file: Path | None = None  # the file the values are written in, named by errors

    def show(self, raw: Any) -> str:
        """A value as it is written in this source: TOML's ``true``, not Python's ``True``."""
        if isinstance(raw, bool) and self.file is not None:
            return "true" if raw else "false"
        return repr(raw)


@dataclass(frozen=True)
class Settings:
    """The resolved session settings; ``origins`` says which source gave each one."""

    disable: bool = False
    convention: str = DEFAULT_CONVENTION
    json: Path | None = None
    watch: str = "marked"
    mode: str = "fail"
    baseline: Path | None = None
    tolerance: float = 0.0
    update: bool = False
    markdown: Path | None = None
    html: Path | None = None
    tables: BudgetTables = field(default_factory=BudgetTables)
    origins: dict[str, str] = field(default_factory=dict)

    def update_command(self) -> str:
        """The command that records a run in the baseline (naming the baseline when the command line did)."""
        if self.origins.get("baseline") == "command line":
            return f"pytest --flopbudget-baseline={self.baseline} --flopbudget-update"
        return "pytest --flopbudget-update"


def add_options(parser: pytest.Parser) -> None:
    """Register ``--flopbudget-*`` and their ``flopbudget_*`` ini twins; CLI defaults are None so the ini applies."""
    group = parser.getgroup("flopbudget", "FLOP budgets (pytest-flopbudget)")
    for option in OPTIONS:
        if option.flag:
            group.addoption(option.cli, action="store_true", default=None, dest=option.dest, help=option.help)
        else:
            group.addoption(option.cli, default=None, dest=option.dest, help=option.help, metavar=option.metavar)
        parser.addini(option.ini, f"{option.help} (same as {option.cli})", type="bool" if option.flag else "string",
                      default=None)
    parser.addini(VERBOSITY_INI, "how much the flop budget summary and failures show: an integer like -v's count "
                  "(-1 one line, 0, 1 costliest modules), or auto (the default: follow -v/-q)", default="auto")


VERBOSITY_INI = "verbosity_flopbudget"


def verbosity(config: pytest.Config) -> int:
    """How much the summary and failures show: ``verbosity_flopbudget`` (an integer, pytest's per-plugin
    verbosity convention), or ``-v``/``-q`` when it is ``auto`` or unset."""
    raw = config.getini(VERBOSITY_INI)
    global_level = int(config.option.verbose)
    if raw is None or str(raw).strip() in ("", "auto"):
        return global_level
    text = str(raw).strip()
    if not text.lstrip("+-").isdigit() or not text.isascii():
        raise ConfigError(f"invalid {VERBOSITY_INI} {raw!r} from ini: expected an integer (such as -1, 0, 2) or auto")
    return int(text)


def settings_line(settings: Settings) -> str:
    """``flopbudget: convention=full, watch=marked, mode=fail (default); baseline=b.json (command line)``: each
    setting that is set, grouped by where it came from, for the session header."""
    groups: dict[str, list[str]] = {}
    for option in OPTIONS:
        value = getattr(settings, option.key)
        if value is None or value is False or (option.key == "tolerance" and settings.baseline is None):
            continue  # unset, off, or a tolerance with no baseline to apply to
        shown = "true" if value is True else f"{value:g}%" if option.key == "tolerance" else str(value)
        groups.setdefault(settings.origins.get(option.key, "default"), []).append(f"{option.key}={shown}")
    return "flopbudget: " + "; ".join(f"{', '.join(items)} ({origin})" for origin, items in groups.items())


def resolve(sources: list[Source], tables: BudgetTables | None = None) -> Settings:
    """The one precedence rule: the first source (highest first) that sets a value gives it."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for option in OPTIONS:
        for source in sources:
            raw = source.values.get(option.key)
            if raw is None:
                continue
            try:
                value = option.parse(raw, source.base)
            except ValueError as error:
                where = f" ({source.file})" if source.file is not None else ""
                raise ConfigError(f"invalid {source.spelling(option)} {source.show(raw)} from {source.name}{where}: "
                                  f"{error}") from None
            if option.key not in values:
                values[option.key], origins[option.key] = value, source.name
        if option.key not in values:
            values[option.key], origins[option.key] = option.default, "default"
    settings = Settings(origins=origins, tables=tables or BudgetTables(), **values)
    check_together(settings)
    return settings


def check_together(settings: Settings) -> None:
    """Settings that are valid alone but not together: one file for two outputs; an update needs a baseline
    and something measured."""
    paths: dict[Path, str] = {}
    for key in ("baseline", "json", "markdown", "html"):
        path = getattr(settings, key)
        if path is None:
            continue
        resolved = Path(os_path.realpath(path))
        if resolved in paths:
            raise ConfigError(f"{key} from {settings.origins[key]} and {paths[resolved]} name the same file, "
                              f"{path}: one would overwrite the other")
        paths[resolved] = f"{key} from {settings.origins[key]}"
    if not settings.update:
        return
    update = f"update from {settings.origins['update']}"
    if settings.baseline is None:
        raise ConfigError(f"{update}: there is no baseline to update; name it with --flopbudget-baseline=PATH, "
                          "flopbudget_baseline in ini or baseline in [tool.flopbudget]")
    if settings.disable:
        raise ConfigError(f"{update}: the plugin is disabled (disable from {settings.origins['disable']}), so "
                          "nothing would be measured to update the baseline with")


def resolve_settings(config: pytest.Config) -> Settings:
    """Read every source of ``config`` and resolve them; raises ConfigError naming the bad value's source."""
    here = config.invocation_params.dir
    cli = {option.key: config.getoption(option.dest) for option in OPTIONS}
    ini = {option.key: read_ini(config, option) for option in OPTIONS}
    ini_base = config.inipath.parent if config.inipath is not None else here
    sources = [
        Source("command line", cli, here, lambda option: option.cli),
        Source("ini", ini, ini_base, lambda option: option.ini),
    ]
    tables = BudgetTables()
    pyproject = pyproject_path(config)
    table = read_pyproject(pyproject) if pyproject is not None else None
    if pyproject is not None and table is not None:
        name = f"{pyproject.name} [{PYPROJECT_TABLE}]"
        values = {key: value for key, value in table.items() if key not in TABLE_KEYS}
        sources.append(Source(name, values, pyproject.parent, lambda option: option.key, pyproject))
        try:
            tables = parse_tables(table, f"{pyproject.name} [{PYPROJECT_TABLE}", str(pyproject))
        except TableError as error:
            raise ConfigError(str(error)) from None
    return resolve(sources, tables)


def read_ini(config: pytest.Config, option: Option) -> Any:
    """The ini value, None when unset; pytest's own type errors (a TOML int for a path) name the setting."""
    try:
        value = config.getini(option.ini)
    except (TypeError, ValueError, pytest.UsageError) as error:  # pytest >= 9.1 raises UsageError
        raise ConfigError(f"invalid {option.ini} from ini: {error}") from None
    # pytest before 8 returns "" (string) or [] (bool) for an unset value, so an empty value reads as unset.
    return None if value is None or value == "" or value == [] else value


def pyproject_path(config: pytest.Config) -> Path | None:
    """The inifile when it is a pyproject.toml, else the one in the rootdir, if any."""
    if config.inipath is not None and config.inipath.name == "pyproject.toml":
        return config.inipath
    candidate = config.rootpath / "pyproject.toml"
    return candidate if candidate.is_file() else None


def read_pyproject(path: Path) -> dict[str, Any] | None:
    """The ``[tool.flopbudget]`` table of ``path`` (None when absent); unknown keys are errors."""
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    table = document.get("tool", {}).get("flopbudget")
    if table is None:
        return None
    where = f"{path.name} [{PYPROJECT_TABLE}]"
    if not isinstance(table, dict):
        raise ConfigError(f"invalid {where} in {path}: expected a table, got {type(table).__name__}")
    valid = [option.key for option in OPTIONS] + list(TABLE_KEYS)
    for key in table:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"expected one of {', '.join(valid)}"
            raise ConfigError(f"unknown key {key!r} in {where} ({path}): {hint}")
    for option in OPTIONS:  # TOML has booleans: "true" or 1 here is a mistake, not a spelling of true
        value = table.get(option.key)
        if option.flag and value is not None and not isinstance(value, bool):
            raise ConfigError(f"invalid {option.key} {value!r} from {where} ({path}): expected a TOML boolean, "
                              "true or false without quotes")
    return table
