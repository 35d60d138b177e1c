"""Where a session's measurements end up: shipped by xdist workers, merged by the controller, then written:
the JSON file, the updated baseline, the Markdown summary, the HTML page."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from . import baseline, html, jsonfile, markdown
from .config import file_kind
from .state import SESSION, WORKER_OUTPUT_KEY, SessionState, in_test_order

#: Set by GitHub Actions: a Markdown file shown on the run's summary page.
STEP_SUMMARY = "GITHUB_STEP_SUMMARY"


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def finish(session: pytest.Session) -> None:
    """A worker hands its measurements to xdist; the controller (or a plain run) writes the files."""
    config = session.config
    state = config.stash.get(SESSION, None)
    if state is None:
        return
    if is_worker(config):
        config.workeroutput[WORKER_OUTPUT_KEY] = state.payload()  # type: ignore[attr-defined]
        return
    if state.problems:  # shipped by workers: a setting turned into an error there
        _fail_session(session, pytest.ExitCode.USAGE_ERROR)
    if state.settings.disable:
        _write_json(session, state)
        return
    _update_baseline(session, state)
    _write_json(session, state)
    _write_markdown(session, state)
    _write_html(session, state)


def _fail_session(session: pytest.Session, status: pytest.ExitCode = pytest.ExitCode.INTERNAL_ERROR) -> None:
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = status


def _write_json(session: pytest.Session, state: SessionState) -> None:
    path = state.settings.json
    if path is None:
        return
    ordered = in_test_order(state.measurements)
    try:
        document = jsonfile.document(state.settings, ordered, state.lost_workers, state.outcomes,
                                     state.whole_files_collected())
        try:
            document["extra"] = document_fields(session.config, document)
        except Exception as error:  # noqa: BLE001 - a conftest's bug: said in the summary, never an internal error
            raise TypeError(f"pytest_flopbudget_json_document raised {type(error).__name__}: {error}") from None
        jsonfile.write_atomic(path, document)
    except (OSError, ValueError, TypeError) as error:
        state.problem(f"could not write {path}: {type(error).__name__}: {error}")
        _fail_session(session)
    else:
        state.wrote_json(str(path))


def document_fields(config: pytest.Config, document: dict[str, Any]) -> dict[str, Any]:
    """The merged answers of ``pytest_flopbudget_json_document``; TypeError names a bad one."""
    merged: dict[str, Any] = {}
    for answer in reversed(config.hook.pytest_flopbudget_json_document(config=config, document=document)):
        if not isinstance(answer, dict) or not all(isinstance(key, str) for key in answer):
            raise TypeError(f"pytest_flopbudget_json_document returned {answer!r}: expected a dict with string keys")
        merged.update(answer)
    return merged


def _update_baseline(session: pytest.Session, state: SessionState) -> None:
    """``--flopbudget-update``: write what this run measured into the baseline, keeping what it did not run."""
    settings = state.settings
    if not settings.update or settings.baseline is None or state.baseline is None:
        return
    if state.problems:  # a worker's measurements missing or a setting turned into an error: nothing is written
        state.problem(f"baseline {settings.baseline} not updated: the problems above make this run's "
                              "measurements incomplete")
        return
    if state.lost_workers:
        state.problem(f"baseline {settings.baseline} not updated: xdist workers crashed "
                                f"({', '.join(state.lost_workers)}), so this run's measurements are incomplete")
        _fail_session(session)
        return
    old = state.baseline.tests
    gone = baseline.gone_tests(old, state.whole_files_collected())
    tests, change = baseline.update(old, state.ran(), gone)
    try:
        jsonfile.write_atomic(settings.baseline, baseline.baseline_document(tests), text=baseline.dumps)
    except (OSError, ValueError, TypeError) as error:
        state.problem(f"could not write baseline {settings.baseline}: {type(error).__name__}: {error}")
        _fail_session(session)
    else:
        state.updated_baseline(change)


def _write_markdown(session: pytest.Session, state: SessionState) -> None:
    """``--flopbudget-markdown`` gets the table; GitHub Actions' step summary gets it appended (when the run
    measured something). A table that cannot be rendered is a problem noted in the summary."""
    step_summary = os.environ.get(STEP_SUMMARY)
    if state.settings.markdown is None and not (step_summary and state.measurements):
        return
    text = _rendered(session, state, "the Markdown summary", markdown.render)
    if text is None:
        return
    if state.settings.markdown is not None:
        _write_text(session, state, state.settings.markdown, text, "Markdown summary")
    if step_summary and state.measurements:
        kind = _not_regular(Path(step_summary))
        if kind is not None:  # appending to a FIFO nobody reads would hang the session
            state.problem(f"${STEP_SUMMARY} ({step_summary}) is not a regular file ({kind}): not written")
            _fail_session(session)
            return
        try:
            with Path(step_summary).open("a", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as error:
            state.problem(f"could not append to ${STEP_SUMMARY} ({step_summary}): {error}")
            _fail_session(session)


def _write_html(session: pytest.Session, state: SessionState) -> None:
    """``--flopbudget-html``: the page; one that cannot be rendered or written is a problem that fails the session."""
    path = state.settings.html
    if path is None:
        return
    text = _rendered(session, state, "the HTML report", html.render)
    if text is not None:
        _write_text(session, state, path, text, "HTML report")


def _rendered(session: pytest.Session, state: SessionState, what: str,
              render: Callable[[SessionState], str]) -> str | None:
    """A document rendered from the session; one that cannot be is a problem that fails the session (None)."""
    try:
        return render(state)
    except Exception as error:  # noqa: BLE001 - like the terminal summary: said, never raised
        state.problem(f"{what} could not be rendered: {type(error).__name__}: {error}")
        _fail_session(session)
        return None


def _write_text(session: pytest.Session, state: SessionState, path: Path, text: str, what: str) -> None:
    """Write ``text`` atomically; named under the summary, or a problem that fails the session."""
    try:
        jsonfile.write_atomic(path, text, text=str)
    except (OSError, ValueError, TypeError) as error:
        state.problem(f"could not write {path}: {type(error).__name__}: {error}")
        _fail_session(session)
    else:
        state.wrote(f"{what} written to {path}")


def _not_regular(path: Path) -> str | None:
    """What ``path`` is when it exists and is not a regular file (``a FIFO``), else None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) else file_kind(mode)


def merge_worker(config: pytest.Config, node: Any, error: object) -> None:
    """On the controller: add one finished worker's measurements; remember a worker that died without them."""
    state = config.stash.get(SESSION, None)
    if state is None:
        return
    payload = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
    if payload is None:
        state.lose_worker(str(getattr(getattr(node, "gateway", None), "id", node)))
        return
    state.merge(payload)
