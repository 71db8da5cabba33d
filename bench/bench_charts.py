"""Charts (issue 18): Spotify requests per tracked playlist a day, and the chart page on a year.

- Requests: the daily job (`etl.charts`) runs against the sandbox for DAYS sandbox days, moving
  the sandbox a day between runs, with every kind of tracked playlist: the operator's Top 50s
  and Viral 50 (extended mode), alice's own daily 50, the collaborative "Office chart" and one
  of alice's bigger playlists (more than 100 items: two pages). Figures: requests per playlist
  a day against the goal, ceil(items / 100); and a second run on the same day (no request).
- Chart page: a year (YEAR_DAYS) of daily snapshots of a 50-track Top 50 churning as the sandbox
  models it, its history rebuilt from them and grown a day (what the daily job does), then the
  page of that playlist, plain and with a track's rank line, and the history CSV, through the
  Flask test client (no network between): p95 and median.
"""

from __future__ import annotations

import math
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from bench.harness import median, percentile, sandbox_env, sandbox_process, write_world
from etl.charts import collect
from sandbox.charts import SPOTIFY_CHARTS, ChurningChart
from sandbox.server import SandboxServer
from sandbox.world import daily_playlist_id, generate_world
from shared.chart_history import add_day
from shared.charts import (
    CHART_PEOPLE,
    CHART_SCOPES,
    ChartsRecord,
    TrackedPlaylist,
    history_dataset,
    load_history,
    load_snapshot,
    rebuild_history,
    save_snapshot,
    snapshot_days,
)
from shared.config import load_settings
from shared.spotify import RequestLedger
from shared.storage import FolderStore
from shared.tokens import TokenBox
from tests.conftest import BASE_ENV
from tests.sandbox_clients import authorize_code, oauth, user_client
from tests.web_helpers import sign_in
from web import create_app

DAYS = 14
BIG_PLAYLIST_ITEMS = 250
YEAR_DAYS = 365
PAGE_REQUESTS = 200
SEED = 18
TOP_50 = SPOTIFY_CHARTS[0]
YEAR_START = date(2025, 11, 23)


def year_of_snapshots(store: FolderStore, world: dict[str, Any]) -> None:
    """Write a year of a Top 50's daily snapshots, churning as the sandbox models it."""
    tracks = {t["id"]: t for t in world["spotify"]["tracks"]}
    pool = sorted(tracks)
    chart = ChurningChart(TOP_50, pool, SEED)
    for day in range(YEAR_DAYS):
        rows = [
            {
                "position": position,
                "track_id": track_id,
                "track_name": tracks[track_id]["name"],
                "artist_names": "; ".join(a["name"] for a in tracks[track_id]["artists"]),
                "album_name": tracks[track_id].get("album", {}).get("name", ""),
                "added_at": date_of(entered) + "T00:00:00Z",
                "duration_ms": tracks[track_id].get("duration_ms", 200_000),
                "captured_at": date_of(day) + "T10:30:00Z",
            }
            for position, (track_id, entered) in enumerate(
                zip(chart.on(day).track_ids, chart.on(day).entered, strict=True), start=1
            )
        ]
        save_snapshot(store, TOP_50.playlist_id, date_of(day), pd.DataFrame(rows))


def date_of(day: int) -> str:
    """Return the calendar day of a year's day 0 to 364 (the year before today's issue)."""
    return (YEAR_START + timedelta(days=day)).isoformat()


def history_figures(store: FolderStore) -> dict[str, Any]:
    """Rebuild the year's history from its snapshots; then grow it by its last day."""
    playlist_id = TOP_50.playlist_id
    started = time.perf_counter()
    history = rebuild_history(store, playlist_id)
    rebuild_s = time.perf_counter() - started
    days = snapshot_days(store, playlist_id)
    last = days[-1]
    without_last = history[history["day"] != last]
    snapshot = load_snapshot(store, playlist_id, last)
    grow = []
    for _ in range(20):
        started = time.perf_counter()
        add_day(without_last, last, snapshot)
        grow.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    load_history(store, playlist_id)
    load_ms = (time.perf_counter() - started) * 1000
    size = (store.root / history_dataset(playlist_id).name).stat().st_size
    return {
        "year_days": len(days),
        "year_history_rows": len(history),
        "year_history_mb": round(size / 1e6, 2),
        "history_rebuild_s_from_a_year_of_snapshots": round(rebuild_s, 2),
        "history_add_day_ms_median": round(median(grow), 1),
        "history_load_ms": round(load_ms, 1),
    }


def timed_get(client: Any, path: str) -> float:
    started = time.perf_counter()
    answer = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != 200:
        raise RuntimeError(f"{path} answered {answer.status_code}")
    return elapsed


def page_figures(store: FolderStore, world_file: Path) -> dict[str, Any]:
    """Time the chart page of the year's Top 50 (an operator playlist), signed in."""
    playlist_id = TOP_50.playlist_id
    history, _ = load_history(store, playlist_id)
    track_ids = list(dict.fromkeys(history["track_id"]))
    with sandbox_process(world_file) as url:
        env = {**sandbox_env(url), "DATA_URL": str(store.root), "CHART_PLAYLISTS": playlist_id}
        app = create_app(load_settings(env), store)
        client = app.test_client()
        sign_in(client, "alice")
        page = f"/charts/{playlist_id}"
        first = timed_get(client, page)
        plain = [timed_get(client, page) for _ in range(PAGE_REQUESTS)]
        with_track = [
            timed_get(client, f"{page}?track={track_ids[n % len(track_ids)]}")
            for n in range(PAGE_REQUESTS)
        ]
        csv = [timed_get(client, f"{page}/history.csv") for _ in range(20)]
    return {
        "chart_page_first_ms": round(first, 1),
        "chart_page_ms_p95": round(percentile(plain, 0.95), 1),
        "chart_page_ms_median": round(median(plain), 1),
        "chart_page_with_track_line_ms_p95": round(percentile(with_track, 0.95), 1),
        "chart_page_with_track_line_ms_median": round(median(with_track), 1),
        "history_csv_ms_median": round(median(csv), 1),
    }


def request_figures(world: dict[str, Any], root: Path) -> dict[str, Any]:
    """Run the daily job for DAYS sandbox days over every kind of tracked playlist."""
    store = FolderStore(root / "requests")
    operator = [spec.playlist_id for spec in SPOTIFY_CHARTS]
    mine = [daily_playlist_id("alice-daily-50"), daily_playlist_id("office-chart")]
    with SandboxServer(world) as server:
        requests.post(f"{server.url}/_sandbox/config", json={"mode": "extended"}, timeout=10)
        env = {**BASE_ENV, **server.settings_env(), "DATA_URL": str(store.root)}
        settings = load_settings({**env, "CHART_PLAYLISTS": ",".join(operator)})
        big = next(p["id"] for p in world["spotify"]["playlists"] if p["owner_id"] == "alice")
        alice = user_client(server, "alice")
        catalog = list(server.sandbox.catalog.tracks)
        have = len(server.sandbox.playlists.get(big).track_ids)  # type: ignore[union-attr]
        extra = [f"spotify:track:{t}" for t in catalog[: max(0, BIG_PLAYLIST_ITEMS - have)]]
        for start in range(0, len(extra), 100):
            alice.playlist_add_items(big, extra[start : start + 100])
        manager = oauth(server, CHART_SCOPES)
        manager.get_access_token(authorize_code(server, manager, "alice"), as_dict=False)
        token = {"refresh_token": manager.cache_handler.get_cached_token()["refresh_token"]}
        sealed = TokenBox(settings.token_encryption_key).seal(token)
        tracked = tuple(TrackedPlaylist(p, "", "") for p in [*mine, big])
        CHART_PEOPLE.put(store, ChartsRecord("alice", sealed, playlists=tracked))
        ratios, per_day, seconds = [], [], []
        again = 0
        for day in range(DAYS):
            sizes = {
                p: len(server.sandbox.playlists.get(p).track_ids)  # type: ignore[union-attr]
                for p in [*operator, *mine, big]
            }
            started = time.perf_counter()
            summary = collect(store, settings, RequestLedger(), now=server.sandbox.clock.now())
            seconds.append(time.perf_counter() - started)
            per_day.append(summary.requests)
            for playlist_id, spent in summary.requests_by_playlist.items():
                ratios.append(spent / max(1, math.ceil(sizes[playlist_id] / 100)))
            again += collect(
                store, settings, RequestLedger(), now=server.sandbox.clock.now()
            ).requests
            if day < DAYS - 1:
                requests.post(f"{server.url}/_sandbox/advance-day", timeout=10)
        history, _ = load_history(store, operator[0])
    return {
        "tracked_playlists": len(operator) + len(mine) + 1,
        "days_run": DAYS,
        "big_playlist_items": BIG_PLAYLIST_ITEMS,
        "requests_per_day": median([float(n) for n in per_day]),
        "requests_per_playlist_day_over_goal_max": round(max(ratios), 2),
        "requests_per_playlist_day_over_goal_median": round(median(ratios), 2),
        "requests_second_run_same_day": again,
        "daily_run_s_median": round(median(seconds), 2),
        "top50_history_days_after_run": int(history["day"].nunique()),
    }


def run() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        world = generate_world(200, 400, SEED)
        world_file = write_world(world, root / "world.json")
        figures.update(request_figures(world, root))
        store = FolderStore(root / "data")
        year_of_snapshots(store, world)
        figures.update(history_figures(store))
        figures.update(page_figures(store, world_file))
    return figures
