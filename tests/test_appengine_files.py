"""The App Engine files say what ARCHITECTURE.md and PLATFORM.md require."""

from __future__ import annotations

from typing import Any

import yaml

from tests.conftest import REPO_ROOT


def load(name: str) -> Any:
    return yaml.safe_load((REPO_ROOT / name).read_text())


def test_web_service() -> None:
    app = load("app.yaml")

    assert app["runtime"] == "python313"
    assert app["service"] == "default"
    assert app["entrypoint"] == "gunicorn -b :$PORT web.main:app"


def test_etl_service_can_run_for_hours() -> None:
    etl = load("etl.yaml")

    assert etl["runtime"] == "python313"
    assert etl["service"] == "etl"
    assert etl["instance_class"] == "B2"
    assert "basic_scaling" in etl
    assert etl["entrypoint"].startswith("gunicorn -b :$PORT ")
    assert "--timeout 0" in etl["entrypoint"]
    assert etl["entrypoint"].endswith(" etl.main:app")


def test_cron_runs_the_build_weekly_on_the_etl_service() -> None:
    (job,) = load("cron.yaml")["cron"]

    assert job["url"] == "/tasks/build"
    assert job["target"] == "etl"
    assert job["schedule"].startswith("every monday")
    assert job["timezone"]
    assert job["retry_parameters"]["job_retry_limit"] >= 1
    assert "min_backoff_seconds" in job["retry_parameters"]


def test_dispatch_sends_tasks_to_etl() -> None:
    rules = load("dispatch.yaml")["dispatch"]

    assert {"url": "*/tasks/*", "service": "etl"} in rules
