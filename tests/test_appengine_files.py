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
    jobs = {job["url"]: job for job in load("cron.yaml")["cron"]}
    job = jobs["/tasks/build"]

    assert job["url"] == "/tasks/build"
    assert job["target"] == "etl"
    assert job["schedule"].startswith("every monday")
    assert job["timezone"]
    assert job["retry_parameters"]["job_retry_limit"] >= 1
    assert "min_backoff_seconds" in job["retry_parameters"]


def test_cron_catches_up_daily_on_the_etl_service() -> None:
    jobs = {job["url"]: job for job in load("cron.yaml")["cron"]}
    job = jobs["/tasks/catch-up"]

    assert job["target"] == "etl"
    assert job["schedule"].startswith("every day ")
    assert job["timezone"] == jobs["/tasks/build"]["timezone"]
    # No retries: a catch-up refused while the build holds the lease waits for the next day.
    assert "retry_parameters" not in job


def test_cron_reads_plays_hourly_on_the_etl_service() -> None:
    jobs = {job["url"]: job for job in load("cron.yaml")["cron"]}
    job = jobs["/tasks/plays"]

    assert job["target"] == "etl"
    assert job["schedule"] == "every 1 hours"
    # No retries: a failed hour is caught up by the next one (the cursor is kept).
    assert "retry_parameters" not in job


def test_cron_refreshes_taste_daily_on_the_etl_service() -> None:
    jobs = {job["url"]: job for job in load("cron.yaml")["cron"]}
    job = jobs["/tasks/taste"]

    assert job["target"] == "etl"
    assert job["schedule"].startswith("every day ")
    assert job["timezone"] == jobs["/tasks/build"]["timezone"]
    # No retries: a person missed is read first the next day.
    assert "retry_parameters" not in job


def test_dispatch_sends_tasks_to_etl() -> None:
    rules = load("dispatch.yaml")["dispatch"]

    assert {"url": "*/tasks/*", "service": "etl"} in rules


def test_gcloudignore_uploads_what_the_services_run_and_nothing_else() -> None:
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".gcloudignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    for excluded in ["tests/", "sandbox/", ".venv/", "var/", ".git", "bench/"]:
        assert excluded in patterns
    for needed in ["shared", "etl", "web", "requirements.txt", "app.yaml", "etl.yaml"]:
        assert not any(pattern.rstrip("/") == needed for pattern in patterns)


def test_deployed_code_does_not_import_what_is_not_uploaded() -> None:
    for package in ["shared", "etl", "web"]:
        for source in (REPO_ROOT / package).rglob("*.py"):
            text = source.read_text()
            assert "import sandbox" not in text and "from sandbox" not in text, source
            assert "from tests" not in text and "from bench" not in text, source


def test_readme_deploy_section_covers_every_step() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    deploy = readme[readme.index("## Deploy to App Engine") :]

    for needed in [
        "gcloud services enable",
        "gcloud storage buckets create",
        "gcloud secrets create spotify-client-id",
        "roles/storage.objectAdmin",
        "roles/secretmanager.secretAccessor",
        "gcloud app deploy app.yaml etl.yaml",
        "gcloud app deploy cron.yaml dispatch.yaml",
        "Force run",
        "runs/latest.json",
        "gcloud app logs read",
    ]:
        assert needed in deploy, needed


def test_the_web_answers_only_over_https() -> None:
    handlers = load("app.yaml")["handlers"]

    assert handlers == [{"url": "/.*", "script": "auto", "secure": "always"}]
