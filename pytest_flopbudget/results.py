"""Where a session's measurements end up: shipped by xdist workers, merged by the controller, written to JSON."""

from __future__ import annotations

from typing import Any

import pytest

from . import jsonfile
from .state import SESSION, WORKER_OUTPUT_KEY, in_test_order, read_payload, worker_payload


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def finish(session: pytest.Session) -> None:
    """A worker hands its measurements to xdist; the controller (or a plain run) writes the JSON file."""
    config = session.config
    state = config.stash.get(SESSION, None)
    if state is None:
        return
    if is_worker(config):
        config.workeroutput[WORKER_OUTPUT_KEY] = worker_payload(state.measurements)  # type: ignore[attr-defined]
        return
    path = state.settings.json
    if path is None:
        return
    ordered = in_test_order(state.measurements)
    try:
        jsonfile.write_atomic(path, jsonfile.document(state.settings, ordered, state.lost_workers))
    except (OSError, ValueError, TypeError) as error:
        state.json_error = f"could not write {path}: {type(error).__name__}: {error}"
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
    else:
        state.json_written = str(path)


def merge_worker(config: pytest.Config, node: Any, error: object) -> None:
    """On the controller: add one finished worker's measurements; remember a worker that died without them."""
    state = config.stash.get(SESSION, None)
    if state is None:
        return
    payload = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
    if payload is None:
        state.lost_workers.append(str(getattr(getattr(node, "gateway", None), "id", node)))
        return
    state.measurements.extend(read_payload(payload))
