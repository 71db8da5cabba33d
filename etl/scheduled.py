"""The per-person jobs cron runs, each registered once where it is written.

A job module calls `schedule(...)`; `scheduled_jobs()` finds every one (it imports the etl
package's modules), so the service serves each at `/tasks/<name>` for cron and the command line
runs each as `python -m etl <name>`, without either naming it. Adding a per-person job is its
feature's record (shared/), its job (etl/), its line in cron.yaml, and its page (web/).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.config import Settings
from shared.storage import Store

# Modules that are not jobs (etl/main.py makes the app at import: never imported here).
NOT_JOBS = ("__main__", "main", "service", "scheduled")


@dataclass(frozen=True)
class Scheduled:
    """A job cron runs: its name (URL and command), what it does, how to run it, and how the
    command line says what a run did."""

    name: str
    what: str  # "read every opted-in person's new plays (hourly)"
    run: Callable[[Store, Settings], dict[str, Any]]  # LeaseHeld when another run holds it
    describe: Callable[[dict[str, Any]], str]


_JOBS: dict[str, Scheduled] = {}


def schedule(
    name: str,
    what: str,
    run: Callable[[Store, Settings], dict[str, Any]],
    describe: Callable[[dict[str, Any]], str],
) -> Scheduled:
    """Register a job cron runs."""
    job = Scheduled(name, what, run, describe)
    _JOBS[name] = job
    return job


def scheduled_jobs() -> dict[str, Scheduled]:
    """Return every registered job, by name (importing the etl modules that register them)."""
    import etl

    for module in pkgutil.iter_modules(etl.__path__):
        if module.name not in NOT_JOBS:
            importlib.import_module(f"etl.{module.name}")
    return dict(sorted(_JOBS.items()))


def stopped_words(report: dict[str, Any]) -> str:
    """The end of a job's line when it stopped early: ", stopped: quota"."""
    return f", stopped: {report['stopped']}" if report.get("stopped") else ""
