"""A new deploy under Development Mode's daily quota: days until a saved area is complete.

The world of the ETL benchmark (5,000 performers, 20,000 events); Spotify allows 1,000 requests
a sandbox day (the quota resets when the sandbox clock passes midnight UTC). One person saved
"New York, NY, next 30 days" before the first build. Two schedules on the same world:

- daily: the weekly build on day 1, 8, ...; the daily catch-up on the other days (issue 16);
- weekly_only: the build on day 1, 8, ... and nothing in between, saved areas' performers still
  matched first;
- before: the weekly build alone and no saved area, so nothing is wanted first: matching goes
  soonest show first, as it did before issue 16.

Each run's `now` is the sandbox clock's, moved a day at a time. After each day: is every
performer of the saved area's shows (the next 30 days from that day) checked, and every
performer with a show in the next 30 days anywhere?
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from bench.harness import sandbox_env, sandbox_process, write_world
from etl.catch_up import run_catch_up
from etl.pipeline import make_spotify, run_etl
from etl.sources.registry import make_sources
from sandbox.world import generate_world
from shared.area_query import AreaQuery
from shared.config import Settings, load_settings
from shared.datasets import ARTISTS, CONCERTS, load_dataset
from shared.saved_areas import SAVED_AREAS, SavedArea, SavedAreas
from shared.storage import FolderStore
from shared.tokens import TokenBox
from tests.web_helpers import sign_in
from web import create_app

PERFORMERS, EVENTS, SEED = 5000, 20000, 42
DAILY_QUOTA = 1000
MAX_DAYS = 42
SAVED = {"state": "NY", "city": "New York", "radius_miles": 0, "days": 30, "genres": [],
         "tracks_per_artist": 3, "headliners_only": False}  # fmt: skip


def save_the_area(url: str, store: FolderStore, settings: Settings) -> None:
    """Alice signs in and keeps "New York, NY, next 30 days" fresh (before any build)."""
    app = create_app(settings, store)
    client = app.test_client()
    sign_in(client, "alice")
    with client.session_transaction() as session:
        sealed = session["spotify_token"]
    token = TokenBox(settings.token_encryption_key).open(sealed)
    grant = TokenBox(settings.token_encryption_key).seal({"refresh_token": token["refresh_token"]})
    area = SavedArea("nyc", dict(SAVED), "", "", "", "bench-notes", "2026-11-23T00:00:00Z")
    SAVED_AREAS.put(store, SavedAreas("alice", grant, "Alice", areas=(area,)))


def coverage(store: FolderStore, today: date) -> tuple[bool, bool, int, int]:
    """Whether the saved area's and the country's next-30-day performers are all checked."""
    concerts, _ = load_dataset(store, CONCERTS)
    artists, _ = load_dataset(store, ARTISTS)
    checked = set(artists["performer_key"])
    first, last = AreaQuery(**{**SAVED, "genres": ()}).window(today)
    day = pd.to_datetime(concerts["starts_at_local"].str[:10], errors="coerce").dt.date
    soon = concerts[(day >= first) & (day <= last)]
    in_area = soon[(soon["venue_state"] == "NY") & (soon["venue_city"] == "New York")]
    area_left = set(in_area["performer_key"]) - checked
    all_left = set(soon["performer_key"]) - checked
    return not area_left, not all_left, len(area_left), len(all_left)


def simulate(world_file: Path, root: Path, schedule: str) -> dict[str, Any]:
    """Run one schedule a day at a time; return the days until each goal and the spend."""
    store = FolderStore(root / schedule)
    options = ("--daily-quota", str(DAILY_QUOTA), "--seed", str(SEED))
    figures: dict[str, Any] = {}
    with sandbox_process(world_file, *options) as url:
        env = {**sandbox_env(url), "DATA_URL": str(store.root)}
        settings = load_settings(env)
        if schedule != "before":
            save_the_area(url, store, settings)
        clock = requests.get(f"{url}/_sandbox/clock", timeout=10).json()
        start = datetime.fromisoformat(clock["now"])
        area_day = all_day = None
        started = time.perf_counter()
        for day in range(MAX_DAYS):
            now = start + timedelta(days=day)
            if day % 7 == 0:
                run_etl(
                    store,
                    make_sources(settings),
                    make_spotify(settings),
                    settings.etl_states,
                    now=now,
                    settings=settings,
                )
            elif schedule == "daily":
                run_catch_up(store, make_spotify(settings), settings=settings, now=now)
            area_done, all_done, _, _ = coverage(store, now.date())
            if area_done and area_day is None:
                area_day = day + 1
            if all_done and all_day is None:
                all_day = day + 1
            if area_day and all_day:
                break
            requests.post(f"{url}/_sandbox/advance-hours", json={"hours": 24}, timeout=10)
        figures[f"{schedule}.days_until_saved_area_complete"] = area_day
        figures[f"{schedule}.days_until_next_30_days_nationwide_checked"] = all_day
        counted = requests.get(f"{url}/_sandbox/stats", timeout=10).json()["requests"]
        calls = sum(n for endpoint, n in counted.items() if endpoint.startswith("spotify "))
        figures[f"{schedule}.spotify_api_calls"] = calls  # those refused by the quota too
        figures[f"{schedule}.wall_s"] = round(time.perf_counter() - started, 1)
    return figures


def run() -> dict[str, Any]:
    figures: dict[str, Any] = {"daily_quota": DAILY_QUOTA, "performers": PERFORMERS}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        world = generate_world(PERFORMERS, EVENTS, SEED, start=datetime.now(UTC).date())
        world_file = write_world(world, root / "world.json")
        for schedule in ("daily", "weekly_only", "before"):
            figures |= simulate(world_file, root, schedule)
    return figures
