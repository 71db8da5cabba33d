"""Web benchmark: preview and create times, and a worker's memory, at 200,000 concert rows."""

from __future__ import annotations

import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import requests
import yaml

from bench.harness import (
    REPO_ROOT,
    env_with,
    free_port,
    median,
    peak_rss_mb,
    percentile,
    sandbox_env,
    sandbox_process,
    write_world,
)
from etl.concerts import build_concerts, dedupe_events
from etl.sources import MalformedEvent, seatgeek, ticketmaster
from sandbox.world import generate_world
from shared.config import load_settings
from shared.datasets import ARTISTS, CONCERTS, TOP_TRACKS, save_dataset
from shared.names import performer_key
from shared.spotify import SpotifyApi
from shared.storage import FolderStore
from web import create_app

TARGET_ROWS = 200_000
REQUESTS = 200
SEED = 7


def build_datasets(store: FolderStore, world: dict[str, Any]) -> int:
    """Write concerts (through our own parsers), matches (the truth) and top tracks."""
    now = datetime.now(UTC)
    events = []
    for parse, raw_events in (
        (seatgeek.parse_event, world["seatgeek"]["events"]),
        (ticketmaster.parse_event, world["ticketmaster"]["events"]),
    ):
        for raw in raw_events:
            try:
                events.append(parse(raw))
            except MalformedEvent:  # abroad or date unknown: the ETL skips them too
                continue
    kept, _ = dedupe_events(events)
    concerts = build_concerts(kept, now=now, fetched_at=now)
    # Venues fill up: a busy world adds late shows of the same bills until 200,000 rows.
    late = concerts.assign(
        event_id=concerts["event_id"] + "-late",
        event_title=concerts["event_title"] + " (late show)",
    )
    concerts = pd.concat([concerts, late], ignore_index=True).iloc[:TARGET_ROWS]
    save_dataset(store, CONCERTS, concerts)
    truth = world["truth"]["performers"]
    names = concerts["performer_name"].unique()
    artists = pd.DataFrame(
        {
            "performer_key": [performer_key(n) for n in names],
            "performer_name": names,
            "spotify_artist_id": [truth.get(n) or "" for n in names],
            "spotify_artist_name": names,
            "match_method": ["exact" if truth.get(n) else "none" for n in names],
            "match_score": [100.0] * len(names),
            "checked_at": [now.strftime("%Y-%m-%dT%H:%M:%SZ")] * len(names),
            "match_confidence": ["high" if truth.get(n) else "" for n in names],
            "match_evidence": ["only candidate" if truth.get(n) else "" for n in names],
            "tracks_checked_at": [now.strftime("%Y-%m-%dT%H:%M:%SZ")] * len(names),
        }
    )
    save_dataset(store, ARTISTS, artists)
    tracks_by_id = {t["id"]: t for t in world["spotify"]["tracks"]}
    rows = [
        {
            "spotify_artist_id": a["id"],
            "rank": rank,
            "track_id": t,
            "track_name": tracks_by_id[t]["name"],
            "album_name": "",
            "release_date": "",
            "duration_ms": 200000,
            "explicit": False,
            "isrc": "",
            "tracks_source": "search",
            "fetched_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for a in world["spotify"]["artists"]
        for rank, t in enumerate(a["top_track_ids"][:10], start=1)
    ]
    save_dataset(store, TOP_TRACKS, pd.DataFrame(rows))
    return len(concerts)


def preview_urls(concerts: pd.DataFrame, count: int) -> list[str]:
    """Return varied preview requests: states, cities, radii, windows, genres, headliners."""
    rng = random.Random(SEED)
    places = concerts[["venue_state", "venue_city"]].drop_duplicates().values.tolist()
    urls = []
    for _ in range(count):
        state, city = rng.choice(places)
        query = (
            f"/shows?state={state}&days={rng.choice([7, 14, 30, 90])}&tracks={rng.randint(1, 5)}"
        )
        if rng.random() < 0.6:
            query += f"&city={city.replace(' ', '+')}"
            if rng.random() < 0.4:
                query += f"&radius={rng.choice([10, 25, 50])}"
        if rng.random() < 0.2:
            query += "&headliners=1"
        urls.append(query)
    return urls


def worker_rss(data_dir: Path, url_path: str) -> float:
    """Start the web service as app.yaml says, load the data, return the worker's peak RSS."""
    port = free_port()
    entrypoint = yaml.safe_load((REPO_ROOT / "app.yaml").read_text())["entrypoint"]
    args = shlex.split(entrypoint.replace("$PORT", str(port)))
    args[args.index("-b") + 1] = f"127.0.0.1:{port}"
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    settings = {**sandbox_env("http://127.0.0.1:9"), "DATA_URL": str(data_dir), "PATH": path}
    env = env_with({**settings, "GUNICORN_CMD_ARGS": "--workers 1 --threads 8"})
    master = subprocess.Popen(
        args, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(200):
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        for _ in range(5):
            requests.get(f"http://127.0.0.1:{port}{url_path}", timeout=120)
        children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
        return peak_rss_mb(int(children[0]))
    finally:
        master.terminate()
        master.wait(timeout=20)


def time_previews(client: Any, concerts: pd.DataFrame) -> dict[str, float]:
    """Time REQUESTS varied previews."""
    times = []
    for path in preview_urls(concerts, REQUESTS):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, path
    return {
        "preview_ms_median": round(median(times), 1),
        "preview_ms_p95": round(percentile(times, 0.95), 1),
    }


def time_creates(client: Any, concerts: pd.DataFrame) -> dict[str, float]:
    """Time REQUESTS create-playlist requests, the time spent waiting on Spotify apart."""
    from tests.web_helpers import csrf_token, sign_in

    waited = [0.0]
    real_call = SpotifyApi.call

    def timed(self: SpotifyApi, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return real_call(self, *args, **kwargs)
        finally:
            waited[0] += time.perf_counter() - started

    SpotifyApi.call = timed  # type: ignore[method-assign]
    totals, spotify = [], []
    try:
        sign_in(client)
        paths = [p for p in preview_urls(concerts, REQUESTS * 3) if "radius" not in p][:REQUESTS]
        for path in paths:
            page = client.get(path)
            form = {
                k: v.replace("+", " ")
                for k, v in (pair.split("=", 1) for pair in path.split("?", 1)[1].split("&"))
            }
            waited[0] = 0.0
            started = time.perf_counter()
            answer = client.post("/shows/playlist", data={**form, "csrf_token": csrf_token(page)})
            totals.append((time.perf_counter() - started) * 1000)
            spotify.append(waited[0] * 1000)
            assert answer.status_code in (303, 400), answer.status_code  # 303: to the result
    finally:
        SpotifyApi.call = real_call  # type: ignore[method-assign]
    own = [total - wait for total, wait in zip(totals, spotify, strict=True)]
    return {
        "create_ms_median": round(median(totals), 1),
        "create_ms_p95": round(percentile(totals, 0.95), 1),
        "create_spotify_ms_median": round(median(spotify), 1),
        "create_own_ms_median": round(median(own), 1),
        "create_own_ms_p95": round(percentile(own, 0.95), 1),
    }


def run() -> dict[str, Any]:
    """Measure the web app on a 200,000-row concerts dataset."""
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        world = generate_world(5000, 90_000, SEED)
        store = FolderStore(root / "data")
        figures["rows"] = build_datasets(store, world)
        figures["worker_peak_rss_mb"] = round(worker_rss(store.root, "/shows?state=CA&days=90"), 1)
        print(
            f"  rows {figures['rows']}, worker peak RSS {figures['worker_peak_rss_mb']} MB",
            flush=True,
        )
        with sandbox_process(write_world(world, root / "world.json")) as url:
            env = {**sandbox_env(url), "DATA_URL": str(store.root)}
            app = create_app(load_settings(env), store)
            client = app.test_client()
            started = time.perf_counter()
            client.get("/shows?state=CA")
            figures["first_load_s"] = round(time.perf_counter() - started, 2)
            concerts = app.extensions["datasets"].shows().concerts
            figures.update(time_previews(client, concerts))
            print(f"  previews: {figures['preview_ms_median']} ms median", flush=True)
            figures.update(time_creates(client, concerts))
    return figures
