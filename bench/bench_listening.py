"""Listening history: importing a 100,000-play export, the stats page, and the hourly job.

- Import: `python -m sandbox export --plays 100000` writes Spotify's 2024+ layout (about ten
  files); each is uploaded as a person would, one request per file, through the web app.
- Stats: a gunicorn worker as app.yaml runs it, with a signed-in cookie; its peak memory before
  (idle: warm, after the home page, no history read) and after serving the stats page.
- Hourly job: five people with history on, against a sandbox with Spotify's latency; requests
  per person per hour with new plays and with none, and how many people one instance reads in
  an hour at the measured pace.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from flask import Flask

from bench.bench_web import web_worker
from bench.harness import (
    KEYS,
    REPO_ROOT,
    peak_rss_mb,
    percentile,
    sandbox_env,
    sandbox_process,
    write_world,
)
from etl.plays import collect_everyone
from sandbox.world import generate_world
from shared.config import load_settings
from shared.plays import month_objects
from shared.plays_append import append_plays
from shared.spotify import RequestLedger
from shared.storage import FolderStore
from shared.tokens import TokenBox
from tests.web_helpers import csrf_token, sign_in, turn_history_on
from web import create_app

PLAYS = 100_000
USERS = ("alice", "bob", "carol", "dan", "erin")
LATENCY_MS = 120  # about what a Web API answer takes from Google Cloud
STATS_REQUESTS = 40
ZONES = ("America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney", "UTC")


def world_with_users() -> dict[str, Any]:
    world = generate_world(400, 1200, 1, start=datetime.now(UTC).date())
    known = {user["id"] for user in world["spotify"]["users"]}
    for user_id in USERS:
        if user_id not in known:
            world["spotify"]["users"].append(
                {
                    "id": user_id,
                    "display_name": user_id.title(),
                    "account_id": f"bench-{user_id}",
                    "allowlisted": True,
                }
            )
    return world


def write_export(world_file: Path, out: Path) -> list[Path]:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox",
            "export",
            "--user",
            "alice",
            "--world",
            str(world_file),
            "--out",
            str(out),
            "--plays",
            str(PLAYS),
        ],
        cwd=REPO_ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return sorted(out.glob("*.json"))


def time_import(app: Flask, files: list[Path], store: FolderStore) -> dict[str, Any]:
    """Upload each file as its own request, as the page asks for a big export."""
    client = app.test_client()
    sign_in(client, "alice")
    seconds = []
    for path in files:
        body = path.read_bytes()
        token = csrf_token(client.get("/listening"))
        started = time.perf_counter()
        answer = client.post(
            "/listening/import",
            data={"csrf_token": token, "mine": "1", "files": [(io.BytesIO(body), path.name)]},
            content_type="multipart/form-data",
        )
        seconds.append(time.perf_counter() - started)
        assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
    again = time.perf_counter()
    token = csrf_token(client.get("/listening"))
    client.post(
        "/listening/import",
        data={
            "csrf_token": token,
            "mine": "1",
            "files": [(io.BytesIO(files[0].read_bytes()), files[0].name)],
        },
        content_type="multipart/form-data",
    )
    return {
        "export_files": len(files),
        "export_mb": round(sum(p.stat().st_size for p in files) / 1e6, 1),
        "import_100k_seconds": round(sum(seconds), 2),
        "import_slowest_file_seconds": round(max(seconds), 2),
        "import_same_file_again_seconds": round(time.perf_counter() - again, 2),
        "months_kept": len(month_objects(store, "alice")),
    }


def new_plays(hour: int) -> pd.DataFrame:
    """Three plays of the hour just past, as recently-played gives them."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows = []
    for minute in (5, 25, 45):
        moment = now.replace(minute=minute) + timedelta(hours=hour)
        played_at = moment.strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"
        rows.append(
            {
                "played_at": played_at,
                "ms_played": "",
                "duration_ms": "200000",
                "track_id": "4uLU6hMCjMI75M1A2tKUQC",
                "track_uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC",
                "track": "A Song",
                "artist_ids": '["0OdUWJ0sBjDrqHygGUXeCF"]',
                "artist_names": '["An Artist"]',
                "album": "An Album",
                "context_uri": "",
                "source": "recently_played",
            }
        )
    return pd.DataFrame(rows)


def session_cookie(user_id: str) -> str:
    """A signed-in session cookie for the worker (the same keys, as a real sign-in makes)."""
    signer = Flask("bench")
    signer.secret_key = KEYS["FLASK_SECRET_KEY"]
    token = {
        "access_token": "bench",
        "refresh_token": "bench",
        "token_type": "Bearer",
        "expires_at": int(time.time()) + 3600,
        "scope": "playlist-read-private playlist-modify-private",
    }
    session = {
        "user": {"id": user_id, "name": user_id.title()},
        "spotify_token": TokenBox(KEYS["TOKEN_ENCRYPTION_KEY"]).seal(token),
        "session_version": 0,
        "_permanent": True,
    }
    serializer = signer.session_interface.get_signing_serializer(signer)  # type: ignore[attr-defined]
    return str(serializer.dumps(session))


def time_stats(data_dir: Path) -> dict[str, Any]:
    """The stats page in one worker: first view, loaded views, new timezones, and memory."""
    with web_worker(data_dir) as (url, pid):
        cookies = {"session": session_cookie("alice")}

        def get(path: str) -> float:
            started = time.perf_counter()
            answer = requests.get(url + path, cookies=cookies, timeout=120)
            elapsed = (time.perf_counter() - started) * 1000
            assert answer.status_code == 200, answer.text[:300]
            return elapsed

        for _ in range(3):
            get("/")  # a page that reads no history: the worker warm, its libraries loaded
        idle_mb = peak_rss_mb(pid)
        first = get("/listening/stats?tz=UTC")
        loaded = [get("/listening/stats?tz=UTC") for _ in range(STATS_REQUESTS)]
        zones = [get(f"/listening/stats?tz={ZONES[i % len(ZONES)]}") for i in range(20)]
        listening = [get("/listening") for _ in range(10)]
        after_new_plays = []
        for hour in range(5):  # as the hourly job does: a few new plays in the newest month
            append_plays(FolderStore(data_dir), "alice", new_plays(hour))
            after_new_plays.append(get("/listening/stats?tz=UTC"))
        peak_mb = peak_rss_mb(pid)
    return {
        "stats_first_view_ms": round(first, 1),
        "stats_p95_ms": round(percentile(loaded, 0.95), 1),
        "stats_median_ms": round(sorted(loaded)[len(loaded) // 2], 1),
        "stats_p95_ms_changing_timezone": round(percentile(zones, 0.95), 1),
        "listening_page_p95_ms": round(percentile(listening, 0.95), 1),
        "stats_view_after_an_hour_of_new_plays_ms": round(max(after_new_plays), 1),
        "worker_idle_peak_mb": round(idle_mb, 1),
        "worker_peak_serving_stats_mb": round(peak_mb, 1),
        "worker_stats_memory_above_idle_mb": round(peak_mb - idle_mb, 1),
    }


def time_hourly(url: str, root: Path) -> dict[str, Any]:
    """Five people: the first read, an hour of new plays, and an hour with nothing new."""
    store = FolderStore(root / "hourly")
    settings = load_settings({**sandbox_env(url), "DATA_URL": str(store.root)})
    app = create_app(settings, store)
    for user_id in USERS:
        client = app.test_client()
        sign_in(client, user_id)
        assert turn_history_on(client, user_id).status_code == 302

    def hour(advance: float) -> tuple[Any, float]:
        if advance:
            requests.post(f"{url}/_sandbox/advance-hours", json={"hours": advance}, timeout=10)
        started = time.perf_counter()
        summary = collect_everyone(store, settings, RequestLedger(), now=datetime.now(UTC))
        return summary, time.perf_counter() - started

    first, first_s = hour(0)
    busy, busy_s = hour(1)
    quiet, quiet_s = hour(0)
    people = len(USERS)
    per_person = busy_s / people
    return {
        "hourly_users": people,
        "hourly_first_read_plays": first.plays_added,
        "hourly_requests_per_user_with_new_plays": round(busy.requests / people, 2),
        "hourly_new_plays_per_user": round(busy.plays_added / people, 1),
        "hourly_requests_per_user_nothing_new": round(quiet.requests / people, 2),
        "hourly_seconds_per_user": round(per_person, 3),
        "hourly_seconds_per_user_nothing_new": round(quiet_s / people, 3),
        "hourly_first_run_seconds": round(first_s, 2),
        "hourly_users_per_instance_hour": int(3600 / per_person) if per_person else 0,
        "hourly_sandbox_latency_ms": LATENCY_MS,
    }


def run() -> dict[str, Any]:
    figures: dict[str, Any] = {"plays_in_export": PLAYS}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        world_file = write_world(world_with_users(), root / "world.json")
        files = write_export(world_file, root / "export")
        with sandbox_process(world_file) as url:
            store = FolderStore(root / "data")
            settings = load_settings({**sandbox_env(url), "DATA_URL": str(store.root)})
            figures |= time_import(create_app(settings, store), files, store)
        figures |= time_stats(store.root)
        with sandbox_process(world_file, "--latency-ms", str(LATENCY_MS)) as url:
            figures |= time_hourly(url, root)
    return figures
