"""Taste (issue 17): what a profile costs, and the area page with the marks at 200,000 rows.

- Profile: each sandbox user turns taste on (a sign-in with the taste scopes) and their profile
  is read as the daily job reads it, against a sandbox with Spotify's latency: Spotify requests
  and seconds per person.
- Area page: the 200,000-row world of the web benchmark; one signed-in person previews loaded
  states (the biggest and some mid-sized) without a taste profile, then with one of
  KNOWN_ARTISTS artists (drawn from the matched ones: a heavy listener's history), the previews
  alternating plain, "artists I know first", "only artists I know" and a half/half mix.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import requests
from spotipy.cache_handler import MemoryCacheHandler

from bench.bench_web import (
    SEED,
    build_base_concerts,
    preview_urls,
    save_datasets,
    states_by_rows,
    timed_get,
)
from bench.harness import median, percentile, sandbox_env, sandbox_process, write_world
from etl.serving import build_serving_layout
from sandbox.world import generate_world
from shared.config import load_settings
from shared.datasets import ARTISTS, load_dataset
from shared.spotify import (
    USER_SCOPES,
    RequestLedger,
    SpotifyApi,
    SpotifyRefusedError,
    StoredGrant,
    make_oauth,
)
from shared.storage import FolderStore
from shared.taste import TASTE, TASTE_SCOPES, Known, TasteRecord
from shared.taste_read import read_profile
from tests.web_helpers import sign_in
from web import create_app

LATENCY_MS = 120
KNOWN_ARTISTS = 1000
LOADED_STATES = 4
REQUESTS = 80
VARIANTS = ("", "&sort=known", "&known=1", "&mix=half")


def refresh_token_for(settings: Any, user: str) -> str:
    """Sign a sandbox user in with the taste scopes; return their refresh token."""
    oauth = make_oauth(settings, MemoryCacheHandler(), scope=f"{USER_SCOPES} {TASTE_SCOPES}")
    authorize = requests.get(
        oauth.get_authorize_url() + f"&sandbox_user={user}", allow_redirects=False, timeout=10
    )
    code = parse_qs(urlsplit(authorize.headers["Location"]).query)["code"][0]
    oauth.get_access_token(code, as_dict=False, check_cache=False)
    token = oauth.cache_handler.get_cached_token()
    return str(token["refresh_token"])


def profile_figures(world: dict[str, Any], world_file: Path, root: Path) -> dict[str, Any]:
    """Read each sandbox user's profile as the daily job does; requests and time per person."""
    users = [user["id"] for user in world["spotify"]["users"]]
    store = FolderStore(root / "taste-store")
    spent, seconds, sizes = [], [], []
    refused = 0
    with sandbox_process(world_file, "--latency-ms", str(LATENCY_MS)) as url:
        settings = load_settings({**sandbox_env(url), "DATA_URL": str(store.root)})
        for user in users:
            grant = StoredGrant(settings, refresh_token_for(settings, user))
            ledger = RequestLedger()
            api = SpotifyApi.for_stored_grant(settings, grant, ledger)
            started = time.perf_counter()
            try:
                artists, requests_made = read_profile(api, store, user)
            except SpotifyRefusedError:  # Development Mode: not one of the app's 5 users
                refused += 1
                continue
            seconds.append(time.perf_counter() - started)
            spent.append(requests_made)
            sizes.append(len(artists))
    return {
        "profile_people": len(spent),
        "profile_people_refused_by_development_mode": refused,
        "profile_sandbox_latency_ms": LATENCY_MS,
        "profile_requests_per_person_median": median([float(n) for n in spent]),
        "profile_requests_per_person_max": max(spent),
        "profile_s_per_person_median": round(median(seconds), 2),
        "profile_s_per_person_max": round(max(seconds), 2),
        "profile_artists_median": median([float(n) for n in sizes]),
    }


def time_previews(client: Any, urls: list[str]) -> list[float]:
    return [timed_get(client, url) for url in urls]


def area_page_figures(world: dict[str, Any], world_file: Path, root: Path) -> dict[str, Any]:
    """Preview loaded states without and with a taste profile of KNOWN_ARTISTS artists."""
    store = FolderStore(root / "rows-200000")
    concerts = build_base_concerts(world)
    save_datasets(store, concerts, world)
    build_serving_layout(store, now=pd.Timestamp.now(tz="UTC").to_pydatetime())
    ranked = states_by_rows(concerts)
    middle = len(ranked) // 2
    chosen = ranked[:1] + ranked[middle : middle + LOADED_STATES - 1]
    rng = random.Random(SEED)
    urls = []
    for state in chosen:
        rows = concerts[concerts["venue_state"] == state]
        found = [u for u in preview_urls(rows, REQUESTS * 2) if "radius" not in u]
        urls += found[: REQUESTS // len(chosen)]
    artists, _ = load_dataset(store, ARTISTS)
    matched = sorted(set(artists["spotify_artist_id"].dropna().astype(str)) - {""})
    known = {
        artist_id: Known(f"artist {artist_id}", plays=rng.randint(1, 400))
        for artist_id in rng.sample(matched, min(KNOWN_ARTISTS, len(matched)))
    }
    with sandbox_process(world_file) as url:
        settings = load_settings({**sandbox_env(url), "DATA_URL": str(store.root)})
        app = create_app(settings, store, FREEZE_GC=True)  # as web/main.py serves
        client = app.test_client()
        sign_in(client, "alice")
        for state in chosen:  # read each state once: what is timed is a loaded state
            timed_get(client, f"/shows?state={state}")
        plain = time_previews(client, urls)
        TASTE.put(store, TasteRecord("alice", "sealed", artists=known))
        with_taste = time_previews(
            client, [u + VARIANTS[i % len(VARIANTS)] for i, u in enumerate(urls)]
        )
        marks = client.get(urls[0]).get_data(as_text=True).count('class="known"')
    return {
        "rows": len(concerts),
        "preview_states": " ".join(chosen),
        "known_artists": len(known),
        "preview_ms_p95_without_taste": round(percentile(plain, 0.95), 1),
        "preview_ms_median_without_taste": round(median(plain), 1),
        "preview_ms_p95_with_marks": round(percentile(with_taste, 0.95), 1),
        "preview_ms_median_with_marks": round(median(with_taste), 1),
        "preview_p95_ratio_with_to_without": round(
            percentile(with_taste, 0.95) / percentile(plain, 0.95), 2
        ),
        "marks_on_first_preview": marks,
    }


def run() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        world = generate_world(5000, 90_000, SEED)
        world_file = write_world(world, root / "world.json")
        figures.update(profile_figures(world, world_file, root))
        figures.update(area_page_figures(world, world_file, root))
    return figures
