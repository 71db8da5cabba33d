"""Web benchmark: a worker's memory and preview times at 200,000 and 1,000,000 concert rows.

Each size gets its own store in one temporary folder, kept for this run only: the canonical
CSV datasets, then the serving layout the ETL builds from them (`etl.serving`), timed and sized.

Datasets. The 200,000 rows come from a sandbox world through our own parsers, as before (about
45 s: 22 s for the world of 90,000 events, 22 s for the parsers). Through the parsers,
1,000,000 rows need a world five times larger, and generating that world alone had not
finished after 5.5 minutes; so the 1,000,000-row dataset repeats the 200,000 rows as further
nights of the same bills: copy n (2 to 5) gets event ids ending "-n<n>", titles ending
"(night <n>)", and its starts (UTC and local) n - 1 days later. Venues, cities, coordinates and
performers stay as they are: each state keeps its share of the rows (big states stay big) and
the text stays the world's own. Its datasets_s is the copying and writing alone.

Figures for each size, named rows_<rows>.<figure>:
- worker_peak_rss_mb: peak RSS (VmHWM) of the one gunicorn worker that app.yaml starts, after a
  mixed load of MIXED_REQUESTS previews of random areas (a state, a city, a radius) over every
  state, CONCURRENCY at a time; mixed_states says over how many states;
- app_start_ms_folder, app_start_ms_gcs: a fresh app's first page (the area form, no state);
- first_preview_ms_{median,p95,max}_{folder,gcs}: in that fresh app, the first preview of each
  state (none loaded yet), from a folder and from a bucket on the Cloud Storage emulator run in
  its own process;
- preview_loaded_ms_{median,p95}: LOADED_REQUESTS varied previews of LOADED_STATES, each
  area previewed once before;
- layout_build_s, layout_mb, layout_states, layout_largest_state_mb; largest_state,
  largest_state_rows, largest_state_in_memory_mb (what a worker holds of it, as estimated for
  its budget of states); datasets_s (making them);
  bench_s, the wall time of the size once the 200,000 base rows are made.
At 200,000 rows the earlier figures stay, unprefixed and measured as before: rows,
worker_peak_rss_mb (after previews of CA alone), first_load_s, preview_ms_*, create_*.
"""

from __future__ import annotations

import gc
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
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
    storage_emulator_process,
    wait_for_http,
    write_world,
)
from etl.concerts import build_concerts, dedupe_events
from etl.serving import build_serving_layout
from etl.sources import MalformedEvent, seatgeek, ticketmaster
from sandbox.world import generate_world
from shared.config import load_settings
from shared.datasets import ARTISTS, CONCERTS, TOP_TRACKS, save_dataset
from shared.names import performer_key
from shared.serving import INDEX, read_index
from shared.shows_data import load_shows
from shared.spotify import SpotifyApi
from shared.storage import FolderStore, Store, open_store
from web import create_app

TARGET_ROWS = 200_000
SIZES = (200_000, 1_000_000)
REQUESTS = 200
MIXED_REQUESTS = 300
LOADED_REQUESTS = 100
CONCURRENCY = 4
LOADED_STATES = 6  # the biggest state and five middling ones
FIRST_PREVIEW = "/shows?state={state}&days=30&tracks=3"
BUCKET = "bench-shows"
SEED = 7


def build_base_concerts(world: dict[str, Any]) -> pd.DataFrame:
    """Return TARGET_ROWS concert rows made from the world's events by our own parsers."""
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
    return pd.concat([concerts, late], ignore_index=True).iloc[:TARGET_ROWS]


def _later(times: pd.Series, days: int, utc: bool) -> pd.Series:
    """Return ISO times `days` later, written as the ETL writes them."""
    parsed = pd.to_datetime(times, utc=utc, errors="coerce", format="ISO8601")
    shifted = (parsed + pd.Timedelta(days=days)).dt.strftime(
        "%Y-%m-%dT%H:%M:%SZ" if utc else "%Y-%m-%dT%H:%M:%S"
    )
    return shifted.where(parsed.notna(), times)


def replicate_concerts(concerts: pd.DataFrame, rows: int) -> pd.DataFrame:
    """Return `rows` rows: the given ones, then copies as further nights of the same bills."""
    copies = [concerts]
    night = 1
    while sum(len(copy) for copy in copies) < rows:
        night += 1
        copies.append(
            concerts.assign(
                event_id=concerts["event_id"] + f"-n{night}",
                event_title=concerts["event_title"] + f" (night {night})",
                starts_at=_later(concerts["starts_at"], night - 1, utc=True),
                starts_at_local=_later(concerts["starts_at_local"], night - 1, utc=False),
            )
        )
    return pd.concat(copies, ignore_index=True).iloc[:rows]


def save_datasets(store: Store, concerts: pd.DataFrame, world: dict[str, Any]) -> None:
    """Write concerts, matches (the world's truth) and top tracks."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
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
            "checked_at": [now] * len(names),
            "match_confidence": ["high" if truth.get(n) else "" for n in names],
            "match_evidence": ["only candidate" if truth.get(n) else "" for n in names],
            "tracks_checked_at": [now] * len(names),
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
            "fetched_at": now,
        }
        for a in world["spotify"]["artists"]
        for rank, t in enumerate(a["top_track_ids"][:10], start=1)
    ]
    save_dataset(store, TOP_TRACKS, pd.DataFrame(rows))


def build_layout_figures(store: FolderStore) -> dict[str, Any]:
    """Build the serving layout as the ETL does; return its build time and size."""
    started = time.perf_counter()
    index = build_serving_layout(store, now=datetime.now(UTC))
    seconds = time.perf_counter() - started
    if index is None:
        raise RuntimeError("the serving layout was not written (see the log)")
    sizes = [(store.root / name).stat().st_size for name in store.list("serving/")]
    largest = max(index.states, key=lambda code: index.states[code].rows)
    held = load_shows(store).state(largest)
    return {
        "layout_build_s": round(seconds, 1),
        "layout_mb": round(sum(sizes) / 1e6, 1),
        "layout_states": len(index.states),
        "layout_largest_state_mb": round(max(s.bytes for s in index.states.values()) / 1e6, 1),
        "largest_state": largest,
        "largest_state_rows": index.states[largest].rows,
        "largest_state_in_memory_mb": round(held.nbytes / 2**20, 1),
    }


def preview_urls(concerts: pd.DataFrame, count: int, *, every_state: bool = False) -> list[str]:
    """Return varied preview requests: states, cities, radii, windows, genres, headliners.

    Places are drawn as the rows have them (big states more often), or with `every_state`
    a state first, each as likely: a load that reaches every state.
    """
    rng = random.Random(SEED)
    places = concerts[["venue_state", "venue_city"]].drop_duplicates().values.tolist()
    cities_of: dict[str, list[str]] = {}
    for state, city in places:
        cities_of.setdefault(state, []).append(city)
    states = sorted(cities_of)
    urls = []
    for _ in range(count):
        if every_state:
            state = rng.choice(states)
            city = rng.choice(cities_of[state])
        else:
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


def states_by_rows(concerts: pd.DataFrame) -> list[str]:
    """Return the states, most rows first."""
    return [str(state) for state in concerts["venue_state"].value_counts().index]


@contextmanager
def web_worker(data_dir: Path) -> Iterator[tuple[str, int]]:
    """Run the web service as app.yaml says (one worker); yield its URL and the worker's pid."""
    port = free_port()
    app_yaml = yaml.safe_load((REPO_ROOT / "app.yaml").read_text())
    args = shlex.split(app_yaml["entrypoint"].replace("$PORT", str(port)))
    args[args.index("-b") + 1] = f"127.0.0.1:{port}"
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    settings = {**sandbox_env("http://127.0.0.1:9"), "DATA_URL": str(data_dir), "PATH": path}
    service_env = {
        name: app_yaml["env_variables"][name]
        for name in ("GUNICORN_CMD_ARGS", "MALLOC_ARENA_MAX")
        if name in app_yaml["env_variables"]
    }
    env = env_with({**settings, **service_env})
    master = subprocess.Popen(
        args, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/healthz", master)
        children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
        yield url, int(children[0])
    finally:
        master.terminate()
        master.wait(timeout=20)


def get_ok(url: str) -> None:
    answer = requests.get(url, timeout=600)
    assert answer.status_code == 200, (url, answer.status_code)


def worker_memory(data_dir: Path, concerts: pd.DataFrame, *, ca_first: bool) -> dict[str, Any]:
    """Return the worker's peak RSS after a mixed load over every state (and after CA alone)."""
    figures: dict[str, Any] = {}
    urls = preview_urls(concerts, MIXED_REQUESTS, every_state=True)
    with web_worker(data_dir) as (base, worker_pid):
        if ca_first:  # the earlier figure: five previews of CA
            for _ in range(5):
                get_ok(f"{base}/shows?state=CA&days=90")
            figures["worker_peak_rss_mb_ca"] = round(peak_rss_mb(worker_pid), 1)
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(get_ok, [base + path for path in urls]))
        figures["worker_peak_rss_mb"] = round(peak_rss_mb(worker_pid), 1)
    figures["mixed_states"] = len({url.split("state=")[1].split("&")[0] for url in urls})
    return figures


def timed_get(client: Any, path: str) -> float:
    """Return how long a page took, in ms; it must answer 200."""
    started = time.perf_counter()
    answer = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    assert answer.status_code == 200, (path, answer.status_code)
    return elapsed


def time_fresh_app(store: Store, data_url: str, states: list[str], suffix: str) -> dict[str, Any]:
    """In a fresh app, time its first page, then the first preview of each state."""
    settings = load_settings({**sandbox_env("http://127.0.0.1:9"), "DATA_URL": data_url})
    client = create_app(settings, store).test_client()
    start = timed_get(client, "/shows")
    firsts = [timed_get(client, FIRST_PREVIEW.format(state=state)) for state in states]
    return {
        f"app_start_ms_{suffix}": round(start, 1),
        f"first_preview_ms_median_{suffix}": round(median(firsts), 1),
        f"first_preview_ms_p95_{suffix}": round(percentile(firsts, 0.95), 1),
        f"first_preview_ms_max_{suffix}": round(max(firsts), 1),
        f"first_preview_states_{suffix}": len(firsts),
    }


def time_loaded_previews(store: FolderStore, concerts: pd.DataFrame) -> dict[str, Any]:
    """Time varied previews of a loaded state, state by state (the biggest, then mid-sized).

    Each state is read once first; its previews stay within it (no radius: a radius reaching
    another state is that state's first preview, timed above), so that what is timed is a
    preview of a state in memory, whatever the worker's budget for states.
    """
    ranked = states_by_rows(concerts)
    middle = len(ranked) // 2
    chosen = ranked[:1] + ranked[middle : middle + LOADED_STATES - 1]
    settings = load_settings({**sandbox_env("http://127.0.0.1:9"), "DATA_URL": str(store.root)})
    client = create_app(settings, store).test_client()
    times = []
    for state in chosen:
        rows = concerts[concerts["venue_state"] == state]
        urls = [u for u in preview_urls(rows, LOADED_REQUESTS * 2) if "radius" not in u]
        timed_get(client, urls[0])  # read the state
        times += [timed_get(client, path) for path in urls[: LOADED_REQUESTS // len(chosen)]]
    return {
        "preview_loaded_states": " ".join(chosen),
        "preview_loaded_ms_median": round(median(times), 1),
        "preview_loaded_ms_p95": round(percentile(times, 0.95), 1),
    }


def time_gcs(store: FolderStore, states: list[str]) -> dict[str, Any]:
    """Copy the store into a bucket on the emulator, then time a fresh app reading it."""
    with storage_emulator_process(BUCKET):
        data_url = f"gs://{BUCKET}/local-shows"
        bucket = open_store(data_url)
        # The index last, as the ETL writes it: a reader never sees an index without its files.
        names = sorted(store.list(), key=lambda name: name == INDEX)
        for name in names:
            bucket.write(name, store.read(name).data)
        return time_fresh_app(bucket, data_url, states, "gcs")


def time_previews(client: Any, concerts: pd.DataFrame) -> dict[str, float]:
    """Time REQUESTS varied previews."""
    times = [timed_get(client, path) for path in preview_urls(concerts, REQUESTS)]
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


def earlier_figures(
    root: Path, world: dict[str, Any], store: FolderStore, concerts: pd.DataFrame
) -> dict[str, Any]:
    """Measure the first load, previews and creates as the benchmark always has."""
    figures: dict[str, Any] = {}
    with sandbox_process(write_world(world, root / "world.json")) as url:
        settings = load_settings({**sandbox_env(url), "DATA_URL": str(store.root)})
        app = create_app(settings, store, FREEZE_GC=True)  # as web/main.py serves
        client = app.test_client()
        started = time.perf_counter()
        client.get("/shows?state=CA")
        figures["first_load_s"] = round(time.perf_counter() - started, 2)
        figures.update(time_previews(client, concerts))
        figures.update(time_creates(client, concerts))
    return figures


def measure_size(store: FolderStore, concerts: pd.DataFrame) -> dict[str, Any]:
    """Measure memory and preview times on one store (datasets written, layout not yet)."""
    figures = build_layout_figures(store)
    print(f"  layout {figures}", flush=True)
    figures.update(worker_memory(store.root, concerts, ca_first=len(concerts) == TARGET_ROWS))
    print(f"  worker peak RSS {figures['worker_peak_rss_mb']} MB", flush=True)
    index = read_index(store)
    states = sorted(index.states) if index else sorted(states_by_rows(concerts))
    figures.update(time_fresh_app(store, str(store.root), states, "folder"))
    gc.collect()
    figures.update(time_loaded_previews(store, concerts))
    gc.collect()
    figures.update(time_gcs(store, states))
    gc.collect()
    return figures


def run() -> dict[str, Any]:
    """Measure the web app at each of SIZES concert rows."""
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        started = time.perf_counter()
        world = generate_world(5000, 90_000, SEED)
        base = build_base_concerts(world)
        base_seconds = time.perf_counter() - started
        for rows in SIZES:
            started = time.perf_counter()
            concerts = base if rows == TARGET_ROWS else replicate_concerts(base, rows)
            store = FolderStore(root / f"rows-{rows}")
            save_datasets(store, concerts, world)
            made = time.perf_counter() - started + (base_seconds if rows == TARGET_ROWS else 0)
            sized: dict[str, Any] = {"rows": len(concerts), "datasets_s": round(made, 1)}
            print(f"  {len(concerts)} rows written in {made:.0f} s", flush=True)
            sized.update(measure_size(store, concerts))
            if rows == TARGET_ROWS:
                figures["rows"] = len(concerts)
                figures["worker_peak_rss_mb"] = sized.pop("worker_peak_rss_mb_ca")
                figures.update(earlier_figures(root, world, store, concerts))
            sized["bench_s"] = round(time.perf_counter() - started, 1)
            figures.update({f"rows_{rows}.{name}": value for name, value in sized.items()})
            del concerts
            gc.collect()
    return figures
