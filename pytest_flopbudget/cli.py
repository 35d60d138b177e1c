"""``python -m pytest_flopbudget``: commands that work on the files a test run writes, without running tests.

- ``merge shard1.json shard2.json -o all.json``: join the ``--flopbudget-json`` files of a sharded suite.
- ``baseline all.json -o baseline.json``: write (or update) a baseline from such a file, as
  ``--flopbudget-update`` does from a run.
- ``compare old.json new.json [--markdown] [--tolerance PCT]``: two runs side by side, for a pull request.
- ``count package.module:factory --input 1x3x224x224``: what one model costs.
- ``html run.json -o report.html``: the run as one self-contained HTML page (as ``--flopbudget-html``).

Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import baseline, jsonfile
from .config import parse_path
from .engine.report import SCHEMA_VERSION
from .state import Measurement, in_test_order

PROG = "python -m pytest_flopbudget"


class CommandError(Exception):
    """A command that cannot do what was asked; the message says why, naming the file."""


def read_results(path: Path) -> dict[str, Any]:
    """One ``--flopbudget-json`` document, checked to be one this version reads."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CommandError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict) or data.get("schema") != jsonfile.SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise CommandError(f"{path} is not a --flopbudget-json file: schema is {found!r}, expected {jsonfile.SCHEMA!r}")
    version = data.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise CommandError(f"{path} has schema_version {data.get('schema_version')!r}; this pytest-flopbudget "
                           f"reads {SCHEMA_VERSION}")
    try:  # every part a command reads, read once here: a damaged file is one line naming it, not a traceback
        data["measurements"] = [_checked(Measurement.from_dict(item)) for item in data["measurements"]]
        convention = data["environment"]["convention"]
        if not isinstance(convention, str) or not all(isinstance(v, str) for v in dict(data.get("tests", {})).values()):
            raise TypeError("convention and test outcomes must be strings")
        data["collected"] = [str(item) for item in data.get("collected", [])]
        data["lost_workers"] = [str(item) for item in data.get("lost_workers", [])]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        what = f"missing {error}" if isinstance(error, KeyError) else f"{type(error).__name__}: {error}"
        raise CommandError(f"{path} is not a valid --flopbudget-json file ({what})") from None
    return data


def _checked(measurement: Measurement) -> Measurement:
    """A measurement whose identity and counts are what the baseline needs; TypeError or ValueError if not."""
    if not isinstance(measurement.test_id, str) or not isinstance(measurement.key, str):
        raise TypeError(f"test_id and key must be strings, got {measurement.test_id!r} and {measurement.key!r}")
    try:
        baseline.Entry.from_dict(baseline.Entry.of(measurement.report).to_dict(), f"{measurement.test_id}")
    except baseline.BaselineError as error:
        raise ValueError(str(error)) from None
    return measurement


def merge_documents(documents: Sequence[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    """One document from the shards' documents: a test that ran in two shards is an error naming it."""
    if not documents:
        raise CommandError("nothing to merge: give at least one file")
    owner: dict[str, Path] = {}
    conventions: dict[str, Path] = {}
    measurements: list[Measurement] = []
    outcomes: dict[str, str] = {}
    collected: set[str] = set()
    lost: list[str] = []
    for path, data in documents:
        conventions.setdefault(data["environment"]["convention"], path)
        shard = list(data["measurements"])
        ids = dict.fromkeys([*data.get("tests", {}), *(m.test_id for m in shard)])
        for test_id in ids:
            if test_id in owner:
                raise CommandError(f"{test_id} ran in two shards: {owner[test_id]} and {path}; each test must "
                                   "run in exactly one shard")
            owner[test_id] = path
        offset = len(measurements)
        for index, measurement in enumerate(in_test_order(shard)):
            measurement.position = offset + index  # shards' positions restart at 0: keep shard order
        measurements += in_test_order(shard)
        outcomes.update(data.get("tests", {}))
        collected.update(data.get("collected", []))
        lost += [f"{path}: {worker}" for worker in data.get("lost_workers", [])]
    if len(conventions) > 1:
        found = ", ".join(f"{name!r} ({path})" for name, path in conventions.items())
        raise CommandError(f"the shards count FLOPs under different conventions: {found}; run every shard with "
                           "the same --flopbudget-convention")
    first = documents[0][1]
    merged = dict(first)
    merged.update({
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "disabled": all(data.get("disabled", False) for _, data in documents),
        "totals": jsonfile.totals(measurements),
        "lost_workers": lost,
        "tests": dict(sorted(outcomes.items())),
        "collected": sorted(collected),
        "merged_from": [str(path) for path, _ in documents],
        "measurements": measurements,
    })
    return merged


def ran_tests(document: dict[str, Any]) -> dict[str, baseline.RanTest]:
    """What each test of a results document left for the baseline."""
    entries: dict[str, dict[str, baseline.Entry]] = {test_id: {} for test_id in document.get("tests", {})}
    outcomes = dict(document.get("tests", {}))
    for measurement in document["measurements"]:
        if not measurement.key:
            raise CommandError(f"measurement of {measurement.test_id} has no baseline key: the file was written "
                               "by an older pytest-flopbudget; run the tests again")
        entries.setdefault(measurement.test_id, {})[measurement.key] = baseline.Entry.of(measurement.report)
        if measurement.skipped:
            outcomes[measurement.test_id] = "skipped"
    return {test_id: baseline.RanTest(outcomes.get(test_id, "passed"), found) for test_id, found in entries.items()}


def command_merge(args: argparse.Namespace) -> int:
    _not_an_input(args.output, args.files)
    documents = [(path, read_results(path)) for path in args.files]
    merged = merge_documents(documents)
    jsonfile.write_atomic(args.output, {**merged, "measurements": [m.to_dict() for m in merged["measurements"]]})
    totals = merged["totals"]
    print(f"merged {len(documents)} files ({totals['measurements']} measurements of {len(merged['tests'])} tests) "
          f"into {args.output}")
    return 0


def command_baseline(args: argparse.Namespace) -> int:
    _not_an_input(args.output, args.files)
    documents = [(path, read_results(path)) for path in args.files]
    merged = merge_documents(documents)
    if merged["lost_workers"]:
        raise CommandError(f"xdist workers crashed in the run ({', '.join(merged['lost_workers'])}), so its "
                           "measurements are incomplete: run the tests again before updating the baseline")
    try:
        old = baseline.load(args.output)
    except baseline.BaselineError as error:
        raise CommandError(str(error)) from None
    gone = baseline.gone_tests(old.tests, merged.get("collected", []))
    tests, change = baseline.update(old.tests, ran_tests(merged), gone)
    jsonfile.write_atomic(args.output, baseline.baseline_document(tests), text=baseline.dumps)
    verb = "updated" if old.exists else "written"
    if change:
        print(f"baseline {args.output} {verb}: {change.counts_text()}")
    else:
        print(f"baseline {args.output} is up to date")
    for line in change.lines():
        print(line)
    return 0


def _not_an_input(output: Path, inputs: list[Path]) -> None:
    """A command's output may not be one of its inputs: writing it would destroy what it reads."""
    if any(Path(os.path.realpath(output)) == Path(os.path.realpath(path)) for path in inputs):
        raise CommandError(f"-o {output} is one of the input files: it would be overwritten")


def command_html(args: argparse.Namespace) -> int:
    from . import html
    from .baseline import Baseline
    from .config import MODE_CHOICES, Settings
    from .state import SessionState

    _not_an_input(args.output, args.files)
    documents = [(path, read_results(path)) for path in args.files]
    merged = merge_documents(documents)
    recorded = merged.get("settings")
    recorded = recorded if isinstance(recorded, dict) else {}
    mode = str(recorded.get("mode")) if recorded.get("mode") in MODE_CHOICES else "fail"
    settings = Settings(convention=merged["environment"]["convention"], mode=mode)
    measurements: list[Measurement] = merged["measurements"]
    # the run compared with a baseline (its measurements say how): the table gets the baseline column
    known = Baseline(Path(str(recorded.get("baseline") or "baseline")), exists=True) \
        if any(m.change is not None for m in measurements) else None
    state = SessionState(settings, measurements=measurements, baseline=known, lost_workers=merged["lost_workers"])
    notes = [f"measurements missing from crashed xdist workers: {', '.join(merged['lost_workers'])}"] \
        if merged["lost_workers"] else []
    if len(documents) > 1:
        notes.append(f"merged from {', '.join(str(path) for path, _ in documents)}")
    title = "flop budget: " + ", ".join(path.name for path, _ in documents)
    jsonfile.write_atomic(args.output, html.render(state, notes=notes, title=title), text=str)
    print(f"HTML report of {len(measurements)} measurements written to {args.output}")
    return 0


def command_count(args: argparse.Namespace) -> int:
    from .countcmd import CountError, build, make_inputs, parse_input, parse_json

    try:
        specs = [parse_input(text) for text in args.input]
        factory_args = parse_json("--args", args.args, (list, dict))
        forward_kwargs = parse_json("--kwargs", args.kwargs, (dict,)) or {}
        if args.depth < 0:
            raise CountError(f"--depth {args.depth}: expected 0 or more")
        from .engine.conventions import convention_error

        problem = convention_error(args.convention)
        if problem is not None:
            raise CountError(f"--convention {args.convention!r}: {problem}")
        if args.json is not None:  # before counting: a path that cannot be written says so at once
            try:
                args.json = parse_path(str(args.json), Path.cwd())
            except ValueError as error:
                raise CountError(f"--json {str(args.json)!r}: {error}") from None
        model = build(args.target, factory_args, args.meta)
        tensors = make_inputs(specs, args.meta)
        from .engine.execution import count

        # --kwargs join the tensors as keywords: count() takes a dict as the forward's keyword arguments
        named = dict(enumerate_positional(model, tensors)) if forward_kwargs else {}
        both = sorted(set(named) & set(forward_kwargs))
        if both:
            raise CountError(f"--kwargs: {', '.join(both)} also given by --input (the forward's parameter of that "
                             "name); give it once")
        inputs: Any = {**named, **forward_kwargs} if forward_kwargs else tuple(tensors)
        try:
            report = count(model, inputs, meta=args.meta, convention=args.convention)
        except Exception as error:  # noqa: BLE001 - the user's model: its error, said in one line
            raise CountError(f"the forward of {args.target} on {', '.join(args.input) or 'no input'} raised "
                             f"{type(error).__name__}: {error}") from None
    except CountError as error:
        raise CommandError(str(error)) from None
    print(report.table(depth=args.depth))
    print(f"exactly: {report.flops:,} FLOPs ({report.convention}), {report.macs:,} MACs, {report.params:,} params")
    if args.json is not None:
        jsonfile.write_atomic(args.json, report.to_dict())
        print(f"report written to {args.json}")
    return 0


def enumerate_positional(model: Any, tensors: list[Any]) -> list[tuple[str, Any]]:
    """Tensors given with --input, by the forward's parameter names, so --kwargs can join them as keywords."""
    import inspect

    parameters = inspect.signature(model.forward).parameters.values()
    names = [parameter.name for parameter in parameters
             if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    if len(tensors) > len(names):
        raise CommandError(f"--kwargs: the forward names {len(names)} positional parameters ({', '.join(names)}), "
                           f"too few for the {len(tensors)} --input tensors to join the keywords by name")
    return list(zip(names, tensors))


def command_compare(args: argparse.Namespace) -> int:
    from .compare import compare_files, render_markdown, render_text
    from .config import parse_tolerance

    try:
        tolerance = parse_tolerance(args.tolerance, Path.cwd())
    except ValueError as error:
        raise CommandError(f"--tolerance {args.tolerance!r}: {error}") from None
    comparison = compare_files(args.old, args.new, tolerance)
    print(render_markdown(comparison) if args.markdown else render_text(comparison), end="")
    return 1 if comparison.failing else 0


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(prog=PROG, description="Work with the files pytest-flopbudget writes.")
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def files_to_output(name: str, run: Callable[[argparse.Namespace], int], help: str, description: str,
                        file_help: str, output_help: str) -> None:
        """A command that reads --flopbudget-json files and writes one file (-o)."""
        command = commands.add_parser(name, help=help, description=description)
        command.add_argument("files", nargs="+", type=Path, metavar="FILE", help=file_help)
        command.add_argument("-o", "--output", required=True, type=Path, help=output_help)
        command.set_defaults(run=run)

    files_to_output("merge", command_merge, "join the --flopbudget-json files of a sharded suite into one",
                    "Join --flopbudget-json files written by the shards of one suite. A test that ran in two shards "
                    "is an error.", "a shard's --flopbudget-json file", "the merged file to write")
    files_to_output("baseline", command_baseline, "write or update a baseline from --flopbudget-json files",
                    "Write the baseline at --output from a run's --flopbudget-json file (several shard files are "
                    "merged first), as --flopbudget-update does: entries of tests that did not run are kept.",
                    "a --flopbudget-json file", "the baseline file to write or update")
    compare = commands.add_parser("compare", help="compare two runs (or baselines) measurement by measurement",
                                  description="Compare OLD and NEW (--flopbudget-json files or baselines): each "
                                              "measurement's FLOPs, MACs and params before and after, new and "
                                              "removed ones, and where a changed model's FLOPs moved. Exit status 1 "
                                              "when a count grew beyond the tolerance or a test measured under a "
                                              "key OLD did not have for it; 0 otherwise.")
    compare.add_argument("old", type=Path, metavar="OLD", help="the earlier run's file (or the baseline)")
    compare.add_argument("new", type=Path, metavar="NEW", help="the later run's file")
    compare.add_argument("--tolerance", default="0", metavar="PERCENT",
                         help="how far a count may grow before it fails, in percent (default 0)")
    compare.add_argument("--markdown", action="store_true", help="print Markdown, ready for a pull request comment")
    compare.set_defaults(run=command_compare)
    counter = commands.add_parser("count", help="count one model: per-module tree and totals",
                                  description="Build a model with TARGET (package.module:callable, called with "
                                              "--args) and count one forward on random inputs of the --input "
                                              "shapes: FLOPs (under --convention), MACs and params, per module.")
    counter.add_argument("target", metavar="TARGET", help="package.module:callable, e.g. torchvision.models:resnet50")
    counter.add_argument("--input", action="append", default=[], metavar="SHAPE[:DTYPE]",
                         help="one forward tensor: 1x3x224x224, or 1x128:long for token ids (repeat for several)")
    counter.add_argument("--args", metavar="JSON", help="the factory's arguments: a JSON list or object")
    counter.add_argument("--kwargs", metavar="JSON", help="keyword arguments of the forward: a JSON object")
    counter.add_argument("--meta", action="store_true",
                         help="build the model on the meta device and count on fake tensors (no memory, same counts)")
    counter.add_argument("--convention", default="full", help="how FLOPs are counted: full, matmul or exact")
    counter.add_argument("--depth", type=int, default=2, help="module tree depth to print (default 2)")
    counter.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")
    counter.set_defaults(run=command_count)
    files_to_output("html", command_html, "write a run's --flopbudget-json files as one HTML page",
                    "Write the run in FILE (several shard files are merged first) as one self-contained HTML page, "
                    "as --flopbudget-html does: the sortable table, unsupported ops, and a cost map of each model's "
                    "modules.", "a --flopbudget-json file", "the HTML file to write")
    return main_parser


def console() -> None:
    """The ``flopbudget`` console script."""
    sys.exit(main())


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; an error is one line on stderr and exit status 2 (argparse's for a usage error)."""
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (CommandError, OSError, ValueError) as error:
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        return 2
