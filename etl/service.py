"""The etl service's Flask app: the cron-only build, catch-up, plays, taste and charts
endpoints, and the health check."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, request

from etl.alerts import RUN_FAILED, Alert, log_alerts
from etl.catch_up import run_catch_up
from etl.charts import run_charts
from etl.lease import LeaseHeld
from etl.pipeline import make_spotify, run_etl
from etl.scheduled import Scheduled, scheduled_jobs
from etl.sources.registry import NoEventSourceError, make_sources
from shared.config import Settings, load_settings
from shared.storage import Store, open_store

logger = logging.getLogger(__name__)


def create_app(config: Settings | None = None, store: Store | None = None) -> Flask:
    """Create the etl service's app from settings (read from the environment when not given)."""
    settings = config or load_settings()
    app = Flask(__name__)
    app.extensions["settings"] = settings
    app.extensions["store"] = store or open_store(settings.data_url)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "etl"}

    @app.get("/tasks/build")
    def build() -> tuple[dict[str, Any], int]:
        """Run the weekly build, for App Engine cron only.

        App Engine strips X-Appengine-Cron from outside requests, so its presence proves cron
        (or "Force run" in the Cloud Scheduler console) sent the request.
        """
        refused = _refuse_unless_cron("build")
        if refused:
            return refused
        try:
            sources = make_sources(settings)
        except NoEventSourceError as error:
            # No run starts, so no report says so: the alert line is all that tells anyone.
            log_alerts([Alert(RUN_FAILED, "", f"no run started: {error}", {"error": str(error)})])
            return {"status": "failed", "error": str(error)}, 500
        try:
            report = run_etl(
                app.extensions["store"],
                sources,
                make_spotify(settings),
                settings.etl_states,
                settings=settings,
            )
        except LeaseHeld as error:
            return {"status": "busy", "error": str(error)}, 409
        except Exception as error:  # the run report holds the details; cron retries a 500
            return {"status": "failed", "error": f"{type(error).__name__}: {error}"}, 500
        return report, 200

    @app.get("/tasks/catch-up")
    def catch_up() -> tuple[dict[str, Any], int]:
        """Resume the matching a build left undone, daily, for App Engine cron only.

        It shares the build's lease: while a build runs, the catch-up answers 409 and does
        nothing (cron tries again the next day).
        """
        refused = _refuse_unless_cron("catch-up")
        if refused:
            return refused
        try:
            report = run_catch_up(
                app.extensions["store"], make_spotify(settings), settings=settings
            )
        except LeaseHeld as error:
            return {"status": "busy", "error": str(error)}, 409
        except Exception as error:  # the run report holds the details
            return {"status": "failed", "error": f"{type(error).__name__}: {error}"}, 500
        return report, 200

    for job in scheduled_jobs().values():
        app.add_url_rule(
            f"/tasks/{job.name}",
            f"task_{job.name}",
            _task_view(job, app.extensions["store"], settings),
        )

    @app.get("/tasks/charts")
    def charts() -> tuple[dict[str, Any], int]:
        """Snapshot every tracked chart playlist, daily, for App Engine cron only."""
        refused = _refuse_unless_cron("charts run")
        if refused:
            return refused
        try:
            return run_charts(app.extensions["store"], settings), 200
        except LeaseHeld as error:
            return {"status": "busy", "error": str(error)}, 409
        except Exception as error:  # the log holds the traceback; cron retries a 500
            logger.exception("the charts run failed")
            return {"status": "failed", "error": f"{type(error).__name__}: {error}"}, 500

    return app


def _task_view(
    job: Scheduled, store: Store, settings: Settings
) -> Callable[[], tuple[dict[str, Any], int]]:
    """The cron-only endpoint of a per-person job (etl/scheduled.py)."""

    def view() -> tuple[dict[str, Any], int]:
        refused = _refuse_unless_cron(f"{job.name} run")
        if refused:
            return refused
        try:
            return job.run(store, settings), 200
        except LeaseHeld as error:
            return {"status": "busy", "error": str(error)}, 409

    view.__doc__ = f"{job.what[:1].upper()}{job.what[1:]}, for App Engine cron only."
    return view


def _refuse_unless_cron(what: str) -> tuple[dict[str, Any], int] | None:
    """App Engine strips X-Appengine-Cron from outside requests: its presence proves cron (or
    "Force run" in the Cloud Scheduler console) sent the request."""
    if request.headers.get("X-Appengine-Cron") == "true":
        return None
    logger.warning(
        f"refused a {what} request that did not come from cron",
        extra={"remote": request.remote_addr},
    )
    return {"status": "forbidden", "error": f"only App Engine cron may start a {what}"}, 403
