"""Set up logging: structured JSON lines on App Engine, readable text elsewhere."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else was passed with `extra=` and is logged as a field.
_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Return the fields a log call passed with `extra=`."""
    return {key: value for key, value in vars(record).items() if key not in _RECORD_FIELDS}


class CloudLoggingFormatter(logging.Formatter):
    """Format a record as one JSON object that Cloud Logging reads as a structured entry."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelno, "DEFAULT"),
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        entry.update(extra_fields(record))
        if record.exc_info:
            entry["message"] += "\n" + self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """Format a record as a line of text, with its extra fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = extra_fields(record)
        if fields:
            line += " " + " ".join(f"{key}={value}" for key, value in fields.items())
        return line


def setup_logging(level: int = logging.INFO, *, structured: bool | None = None) -> None:
    """Send the root logger to stdout, as JSON on App Engine (GAE_ENV set) and text elsewhere."""
    if structured is None:
        structured = bool(os.environ.get("GAE_ENV"))
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter() if structured else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_local_shows", False):
            root.removeHandler(existing)
    handler._local_shows = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
