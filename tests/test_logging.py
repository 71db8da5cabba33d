"""Logs are JSON lines with severity on App Engine and readable text elsewhere."""

from __future__ import annotations

import json
import logging

import pytest

from shared.logging import setup_logging


@pytest.fixture(autouse=True)
def restore_root_logger() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def test_app_engine_logs_one_json_object_per_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAE_ENV", "standard")
    setup_logging()

    logging.getLogger("etl.pipeline").warning("state failed", extra={"state": "NY", "attempts": 3})

    lines = capsys.readouterr().out.strip().splitlines()
    entry = json.loads(lines[-1])
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "state failed"
    assert entry["state"] == "NY"
    assert entry["attempts"] == 3
    assert entry["logger"] == "etl.pipeline"


def test_exceptions_are_kept_in_the_json_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAE_ENV", "standard")
    setup_logging()

    try:
        raise ValueError("bad row")
    except ValueError:
        logging.getLogger("x").exception("failed")

    entry = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert entry["severity"] == "ERROR"
    assert "ValueError: bad row" in entry["message"]


def test_local_logs_are_text(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GAE_ENV", raising=False)
    setup_logging()

    logging.getLogger("etl.pipeline").info("state done", extra={"state": "CA"})

    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "INFO" in line and "etl.pipeline: state done state=CA" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_setting_up_twice_does_not_double_lines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GAE_ENV", raising=False)
    setup_logging()
    setup_logging()

    logging.getLogger("x").info("once")

    assert capsys.readouterr().out.count("once") == 1
