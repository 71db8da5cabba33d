"""ETL benchmark: cold and warm builds of a 5,000-performer world on a slow, rate-limited sandbox.

The original project's algorithm runs beside it on the same world.
"""

from __future__ import annotations

import copy
import random
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from thefuzz import fuzz

from bench.harness import requests_of, sandbox_env, sandbox_process, sandbox_stats, write_world
from etl.pipeline import make_spotify, run_etl
from etl.sources.registry import make_sources
from sandbox.world import generate_world
from shared.config import load_settings
from shared.datasets import ARTISTS, CONCERTS, load_dataset
from shared.names import normalize_name, performer_key
from shared.storage import FolderStore

PERFORMERS, EVENTS, SEED = 5000, 20000, 42
LATENCY_MS, SPOTIFY_RATE, TICKETMASTER_RATE = 100, 25, 5
CHANGED_SHARE = 0.05
BASELINE_SAMPLE = 40  # performers the original algorithm is timed on (it is slow)
BASELINE_QUALITY_SAMPLE = 600  # performers its match rule is scored on


def quality(
    store: FolderStore, truth: dict[str, str | None], spotify_artists: list[dict[str, Any]]
) -> dict[str, float]:
    """Return match quality in artists.csv against the world's truth, by performer key.

    precision and recall over all claims; claims and precision at each confidence (high,
    medium, low); and, for performers whose name several Spotify artists share (namesakes,
    genres mostly absent), how many were matched to the right one.
    """
    artists, _ = load_dataset(store, ARTISTS)
    concerts, _ = load_dataset(store, CONCERTS)
    found = dict(zip(artists["performer_key"], artists["spotify_artist_id"], strict=True))
    confidence = dict(zip(artists["performer_key"], artists["match_confidence"], strict=True))
    true_id = {performer_key(name): artist for name, artist in truth.items()}
    keys = {performer_key(name) for name in concerts["performer_name"].unique()} & set(true_id)
    claimed = [key for key in keys if found.get(key)]
    right = {key for key in claimed if found[key] == true_id[key]}
    on_spotify = [key for key in keys if true_id[key]]
    shared = Counter(normalize_name(artist["name"]) for artist in spotify_artists)
    namesakes = [key for key in on_spotify if shared[key] > 1]
    figures: dict[str, float] = {
        "precision": len(right) / max(1, len(claimed)),
        "recall": sum(1 for key in on_spotify if key in right) / max(1, len(on_spotify)),
        "namesake_performers": len(namesakes),
        "namesakes_right": sum(1 for key in namesakes if key in right),
    }
    for level in ("high", "medium", "low"):
        at_level = [key for key in claimed if confidence.get(key) == level]
        figures[f"matches_{level}_confidence"] = len(at_level)
        figures[f"precision_{level}_confidence"] = sum(1 for key in at_level if key in right) / max(
            1, len(at_level)
        )
    return figures


def changed_world(world: dict[str, Any], share: float, seed: int) -> dict[str, Any]:
    """Return the world a week later: a share of events replaced by shows of new performers."""
    rng = random.Random(seed)
    changed = copy.deepcopy(world)
    performing = {v for v in world["truth"]["performers"].values() if v}
    newcomers = [a for a in changed["spotify"]["artists"] if a["id"] not in performing]
    rng.shuffle(newcomers)
    events = changed["seatgeek"]["events"]
    for number, event in enumerate(rng.sample(events, int(len(events) * share))):
        artist = newcomers[number % len(newcomers)]
        event["id"] = 9_000_000 + number
        event["performers"] = [
            {
                "id": 500_000 + number,
                "name": artist["name"],
                "short_name": artist["name"],
                "slug": f"new-{number}",
                "type": "band",
                "primary": True,
                # As real SeatGeek answers: no `links`, and no `genres` key when there are none.
                **(
                    {"genres": [{"name": g, "slug": g, "primary": True} for g in artist["genres"]]}
                    if artist["genres"]
                    else {}
                ),
            }
        ]
        event["title"] = artist["name"]
        changed["truth"]["performers"][artist["name"]] = artist["id"]
    return changed


def build(url: str, store: FolderStore) -> tuple[dict[str, Any], float]:
    env = {**sandbox_env(url), "DATA_URL": str(store.root), "SPOTIFY_REQUEST_BUDGET": "100000"}
    settings = load_settings(env)
    started = time.perf_counter()
    report = run_etl(
        store,
        make_sources(settings),
        make_spotify(settings),
        settings.etl_states,
        settings=settings,
    )
    return report, time.perf_counter() - started


def baseline(url: str, store: FolderStore, truth: dict[str, str | None]) -> dict[str, float]:
    """Run the original project's algorithm: per performer one artist search, one top-tracks
    call and ten audio-feature calls; a genre search per concert row; one request at a time;
    the best candidate by partial_ratio, taken when above 80."""
    session = requests.Session()
    token = session.post(
        f"{url}/accounts/api/token",
        data={"grant_type": "client_credentials"},
        auth=("sandbox-client-id", "sandbox-client-secret"),
        timeout=10,
    ).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    concerts, _ = load_dataset(store, CONCERTS)
    performers = list(dict.fromkeys(concerts["performer_name"]))
    rows_per_performer = len(concerts) / len(performers)

    def get(path: str, **params: Any) -> Any:
        while True:
            answer = session.get(f"{url}/spotify/v1/{path}", params=params, timeout=30)
            if answer.status_code != 429:
                return answer
            time.sleep(float(answer.headers.get("Retry-After", 1)))

    def match(name: str) -> str:
        items = (
            get("search", q=f"artist:{name}", type="artist", limit=10)
            .json()
            .get("artists", {})
            .get("items", [])
        )
        scored = [(fuzz.partial_ratio(name, item["name"]), item["id"]) for item in items]
        best = max(scored, default=(0, ""))
        return best[1] if best[0] > 80 else ""

    requests.post(f"{url}/_sandbox/reset", timeout=10)
    started = time.perf_counter()
    sample_requests = 0
    for name in performers[:BASELINE_SAMPLE]:
        artist_id = match(name)
        get(f"artists/{artist_id or 'none'}/top-tracks", market="US")
        for _ in range(10):
            get(f"audio-features/{artist_id or 'none'}")
        sample_requests += 12
    rows = int(BASELINE_SAMPLE * rows_per_performer)
    for row in concerts.head(rows).itertuples(index=False):
        get("search", q=f"genre:{str(row.genres).split('|')[0] or 'rock'}", type="track", limit=10)
    sample_requests += rows
    sample_seconds = time.perf_counter() - started
    total_requests = 12 * len(performers) + len(concerts)
    requests.post(f"{url}/_sandbox/config", json={"latency_ms": 0, "rate_limit": None}, timeout=10)
    rng = random.Random(SEED)
    sample = rng.sample(performers, min(BASELINE_QUALITY_SAMPLE, len(performers)))
    picked = {name: match(name) for name in sample}
    claimed = [n for n in sample if picked[n]]
    on_spotify = [n for n in sample if truth.get(n)]
    return {
        "requests": total_requests,
        "requests_per_new_performer": round(total_requests / len(performers), 2),
        "wall_s_estimated": round(sample_seconds * total_requests / sample_requests, 1),
        "precision": round(
            sum(1 for n in claimed if picked[n] == truth.get(n)) / max(1, len(claimed)), 4
        ),
        "recall": round(
            sum(1 for n in on_spotify if picked[n] == truth[n]) / max(1, len(on_spotify)), 4
        ),
    }


def run() -> dict[str, Any]:
    """Cold build, warm build and baseline; return the figures."""
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        world = generate_world(PERFORMERS, EVENTS, SEED, start=datetime.now(UTC).date())
        truth = world["truth"]["performers"]
        options = (
            "--latency-ms",
            str(LATENCY_MS),
            "--rate-limit",
            str(SPOTIFY_RATE),
            "--seed",
            str(SEED),
        )
        store = FolderStore(root / "data")
        with sandbox_process(write_world(world, root / "world.json"), *options) as url:
            report, wall = build(url, store)
            stats = sandbox_stats(url)
        spotify, ticketmaster = requests_of(stats, "spotify"), requests_of(stats, "ticketmaster")
        new = report["artists"]["new_performers"]
        floor = spotify / SPOTIFY_RATE + ticketmaster / TICKETMASTER_RATE
        scored = quality(store, truth, world["spotify"]["artists"])
        figures.update(
            {
                "cold.new_performers": new,
                "cold.spotify_requests": spotify,
                "cold.spotify_requests_per_new_performer": round(spotify / new, 3),
                "cold.seatgeek_requests": requests_of(stats, "seatgeek"),
                "cold.ticketmaster_requests": ticketmaster,
                "cold.wall_s": round(wall, 1),
                "cold.floor_s": round(floor, 1),
                "cold.wall_over_floor": round(wall / floor, 3),
                **{
                    f"cold.{name}": round(value, 4) if isinstance(value, float) else value
                    for name, value in scored.items()
                },
                "cold.requests_by_kind": report["spotify"]["requests_by_kind"],
                "cold.status_429_by_reason": report["spotify"]["status_429_by_reason"],
                "cold.status": report["status"],
            }
        )
        later = changed_world(world, CHANGED_SHARE, SEED + 1)
        with sandbox_process(write_world(later, root / "later.json"), *options) as url:
            warm_report, warm_wall = build(url, store)
            warm_stats = sandbox_stats(url)
            base = baseline(url, store, later["truth"]["performers"])
        warm_new = warm_report["artists"]["new_performers"]
        warm_spotify = requests_of(warm_stats, "spotify")
        figures.update(
            {
                "warm.new_performers": warm_new,
                "warm.spotify_requests": warm_spotify,
                "warm.requests_over_new_performers": round(warm_spotify / max(1, warm_new), 3),
                "warm.wall_s": round(warm_wall, 1),
                **{f"baseline.{k}": v for k, v in base.items()},
                "ratio.requests_baseline_over_ours": round(base["requests"] / spotify, 1),
                "ratio.wall_baseline_over_ours": round(base["wall_s_estimated"] / wall, 1),
            }
        )
    return figures
