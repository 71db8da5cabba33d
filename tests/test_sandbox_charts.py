"""The sandbox's daily charts: Spotify's Top 50s (404 in Development Mode) and users' own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import pairwise
from statistics import mean
from typing import Any

import pytest
import requests
import spotipy
from hypothesis import given, settings
from hypothesis import strategies as st
from spotipy.exceptions import SpotifyException

from sandbox.catalog import Catalog
from sandbox.charts import (
    SPOTIFY_CHARTS,
    TOP_50_GLOBAL_ID,
    TOP_50_USA_ID,
    TOP_CHURN,
    VIRAL_50_GLOBAL_ID,
    ChurningChart,
    build_charts,
)
from sandbox.server import SandboxServer
from sandbox.world import daily_playlist_id, generate_world
from tests.clock import TEST_DAY
from tests.sandbox_clients import app_client, user_client

START = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)
CHART_IDS = [TOP_50_GLOBAL_ID, TOP_50_USA_ID, VIRAL_50_GLOBAL_ID]
ALICES_DAILY = daily_playlist_id("alice-daily-50")
OFFICE_CHART = daily_playlist_id("office-chart")


@pytest.fixture
def charts_sandbox(small_world: dict[str, Any]) -> Iterator[SandboxServer]:
    """A fresh sandbox whose clock a test may move, starting mid-afternoon of START's day."""
    with SandboxServer(small_world, start=START) as server:
        yield server


def extended(server: SandboxServer) -> None:
    server.sandbox.options.mode = "extended"


def advance_day(server: SandboxServer, **days: Any) -> requests.Response:
    return requests.post(f"{server.url}/_sandbox/advance-day", json=days or None, timeout=5)


def status_of(call: Any) -> tuple[int, str]:
    with pytest.raises(SpotifyException) as raised:
        call()
    return int(raised.value.http_status), str(raised.value.msg)


def content(entry: dict[str, Any]) -> Any:
    """Return what a playlist entry holds, under `item` (2026) or `track` (before)."""
    return entry["item"] if "item" in entry else entry["track"]


def chart(client: spotipy.Spotify, playlist_id: str) -> list[tuple[str, str]]:
    """Return a playlist's (track id, added_at) in order, every page of it."""
    page = client.playlist_items(playlist_id)
    entries = list(page["items"])
    while page["next"]:
        page = client.next(page)
        entries += page["items"]
    return [(content(e)["id"], e["added_at"]) for e in entries]


def midnight_of(day: int) -> str:
    """Return midnight UTC of a sandbox day, as `added_at` writes it."""
    return f"{(START.date() + timedelta(days=day)).isoformat()}T00:00:00Z"


# Development Mode and Extended Quota


def test_spotify_charts_answer_404_in_development_mode(charts_sandbox: SandboxServer) -> None:
    for client in (user_client(charts_sandbox, "alice"), app_client(charts_sandbox)):
        for playlist_id in CHART_IDS:
            for read in (client.playlist, client.playlist_items):
                status, message = status_of(lambda read=read, p=playlist_id: read(p))
                assert status == 404 and "Resource not found" in message


def test_spotify_charts_are_readable_in_extended_mode_with_either_token(
    charts_sandbox: SandboxServer,
) -> None:
    extended(charts_sandbox)
    app, alice = app_client(charts_sandbox), user_client(charts_sandbox, "alice")

    for spec in SPOTIFY_CHARTS:
        meta = app.playlist(spec.playlist_id)
        assert (meta["name"], meta["owner"]["id"], meta["collaborative"]) == (
            spec.name,
            "spotify",
            False,
        )
        assert meta["items"]["total"] == 50
        assert chart(app, spec.playlist_id) == chart(alice, spec.playlist_id)
        assert len(chart(app, spec.playlist_id)) == 50


# Daily churn


def test_a_days_chart_is_the_same_on_every_read_and_changes_the_next_day(
    charts_sandbox: SandboxServer,
) -> None:
    extended(charts_sandbox)
    app = app_client(charts_sandbox)
    today = chart(app, TOP_50_GLOBAL_ID)
    snapshot = app.playlist(TOP_50_GLOBAL_ID)["snapshot_id"]

    again = chart(app, TOP_50_GLOBAL_ID)
    moved = advance_day(charts_sandbox).json()
    tomorrow = chart(app, TOP_50_GLOBAL_ID)

    assert again == today
    assert moved == {"day": 1, "now": (START + timedelta(days=1)).isoformat()}
    assert [t for t, _ in tomorrow] != [t for t, _ in today]
    assert app.playlist(TOP_50_GLOBAL_ID)["snapshot_id"] != snapshot
    newcomers = {t for t, _ in tomorrow} - {t for t, _ in today}
    assert newcomers and all(at == midnight_of(1) for t, at in tomorrow if t in newcomers)
    assert all(at <= midnight_of(0) for t, at in tomorrow if t not in newcomers)


def test_over_60_days_the_top_50_churns_within_its_bounds_and_tracks_re_enter(
    charts_sandbox: SandboxServer,
) -> None:
    extended(charts_sandbox)
    app = app_client(charts_sandbox)
    days = [chart(app, TOP_50_USA_ID)]
    for _ in range(60):
        advance_day(charts_sandbox)
        days.append(chart(app, TOP_50_USA_ID))

    seen: set[str] = set()
    entries, leaver_places, moves, re_entries = [], [], [], []
    for number, (before, after) in enumerate(pairwise(days), start=1):
        place_before = {t: p for p, (t, _) in enumerate(before)}
        place_after = {t: p for p, (t, _) in enumerate(after)}
        seen |= set(place_before)
        new = [t for t in place_after if t not in place_before]
        entries.append(len(new))
        leaver_places += [p for t, p in place_before.items() if t not in place_after]
        moves += [abs(place_after[t] - p) for t, p in place_before.items() if t in place_after]
        re_entries += [t for t in new if t in seen]
        assert all(dict(after)[t] == midnight_of(number) for t in new)

    assert all(TOP_CHURN.entries_low <= n <= TOP_CHURN.entries_high for n in entries)
    assert 2 <= mean(entries) <= 5
    assert mean(leaver_places) >= 30  # mostly from the bottom of 0..49
    assert max(moves) <= TOP_CHURN.max_daily_move() and mean(moves) <= 3
    assert re_entries


def test_chart_days_follow_the_clock_whichever_control_moves_it(
    charts_sandbox: SandboxServer,
) -> None:
    extended(charts_sandbox)
    app = app_client(charts_sandbox)
    store = charts_sandbox.sandbox.playlists

    requests.post(f"{charts_sandbox.url}/_sandbox/advance-week", timeout=5)
    after_a_week = chart(app, VIRAL_50_GLOBAL_ID)
    requests.post(f"{charts_sandbox.url}/_sandbox/advance-hours", json={"hours": 8}, timeout=5)
    after_8_hours = chart(app, VIRAL_50_GLOBAL_ID)  # 23:30 on day 7: still day 7
    requests.post(f"{charts_sandbox.url}/_sandbox/advance-hours", json={"hours": 1}, timeout=5)
    stats = requests.get(f"{charts_sandbox.url}/_sandbox/stats", timeout=5).json()

    assert [t for t, _ in after_a_week] == list(store.charts[VIRAL_50_GLOBAL_ID].on(7).track_ids)
    assert after_8_hours == after_a_week
    assert stats["day"] == 8
    assert [t for t, _ in chart(app, VIRAL_50_GLOBAL_ID)] == list(
        store.charts[VIRAL_50_GLOBAL_ID].on(8).track_ids
    )


# Users' own churning playlists


def test_a_users_daily_playlist_is_read_by_its_owner_and_refused_to_others(
    charts_sandbox: SandboxServer,
) -> None:
    alice, bob = user_client(charts_sandbox, "alice"), user_client(charts_sandbox, "bob")

    today = chart(alice, ALICES_DAILY)
    status, _ = status_of(lambda: bob.playlist_items(ALICES_DAILY))
    advance_day(charts_sandbox)

    assert len(today) == 50 and len({t for t, _ in today}) == 50
    assert status == 403
    assert bob.playlist(ALICES_DAILY)["owner"]["id"] == "alice"  # metadata stays readable
    assert [t for t, _ in chart(alice, ALICES_DAILY)] != [t for t, _ in today]


def test_a_collaborative_daily_playlist_is_read_by_owner_and_collaborator(
    charts_sandbox: SandboxServer,
) -> None:
    alice, bob = user_client(charts_sandbox, "alice"), user_client(charts_sandbox, "bob")

    by_owner, by_collaborator = chart(bob, OFFICE_CHART), chart(alice, OFFICE_CHART)

    assert by_owner == by_collaborator and len(by_owner) == 40


def test_my_playlists_list_the_daily_playlists_of_owners_and_collaborators(
    charts_sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    def listed(user: str) -> dict[str, dict[str, Any]]:
        items = user_client(charts_sandbox, user).current_user_playlists(limit=50)["items"]
        return {p["id"]: p for p in items}

    alices, bobs = listed("alice"), listed("bob")
    world_own = next(p for p in small_world["spotify"]["playlists"] if p["owner_id"] == "alice")

    assert next(iter(alices)) == world_own["id"]
    summary = {
        pid: (p["owner"]["id"], p["collaborative"], p["tracks"]["total"])
        for pid, p in alices.items()
        if pid in (ALICES_DAILY, OFFICE_CHART)
    }
    assert summary == {ALICES_DAILY: ("alice", False, 50), OFFICE_CHART: ("bob", True, 40)}
    assert all(p["items"]["total"] == p["tracks"]["total"] for p in alices.values() if "items" in p)
    assert OFFICE_CHART in bobs and ALICES_DAILY not in bobs
    assert not set(CHART_IDS) & (set(alices) | set(bobs))


# Paging and limits


def test_chart_pages_carry_an_absolute_next_and_each_counts_toward_the_quota(
    charts_sandbox: SandboxServer,
) -> None:
    extended(charts_sandbox)
    app = app_client(charts_sandbox)
    first = app.playlist_items(TOP_50_GLOBAL_ID, limit=20)
    second = app.next(first)
    third = app.next(second)

    requests_made = requests.get(f"{charts_sandbox.url}/_sandbox/stats", timeout=5).json()
    charts_sandbox.sandbox.options.daily_quota = requests_made["quota"]["spotify_requests"]

    assert first["next"].startswith(f"{charts_sandbox.url}/spotify/v1/playlists/")
    assert (len(first["items"]), len(second["items"]), len(third["items"])) == (20, 20, 10)
    assert third["next"] is None
    assert requests_made["requests"]["spotify GET /spotify/v1/playlists/<playlist_id>/items"] == 3
    assert status_of(lambda: app.playlist_items(TOP_50_GLOBAL_ID))[0] == 429


# The advance-day control


@pytest.mark.parametrize(
    ("json_body", "query"),
    [
        ({"days": 0}, ""),
        ({"days": 401}, ""),
        ({"days": -3}, ""),
        ({"days": "three"}, ""),
        ({"days": 1.5}, ""),
        ({"days": True}, ""),
        ({"days": None}, ""),
        (None, "?days=0"),
        (None, "?days=abc"),
        (None, "?days=1000"),
    ],
)
def test_advance_day_refuses_bad_day_counts(
    charts_sandbox: SandboxServer, json_body: Any, query: str
) -> None:
    answer = requests.post(
        f"{charts_sandbox.url}/_sandbox/advance-day{query}", json=json_body, timeout=5
    )

    assert answer.status_code == 400 and "error" in answer.json()
    assert charts_sandbox.sandbox.clock.hours == 0


def test_advance_day_moves_one_day_by_default_and_more_when_asked(
    charts_sandbox: SandboxServer,
) -> None:
    one = requests.post(f"{charts_sandbox.url}/_sandbox/advance-day", timeout=5).json()
    more = advance_day(charts_sandbox, days=3).json()
    by_query = requests.post(f"{charts_sandbox.url}/_sandbox/advance-day?days=400", timeout=5)

    assert one == {"day": 1, "now": (START + timedelta(days=1)).isoformat()}
    assert more == {"day": 4, "now": (START + timedelta(days=4)).isoformat()}
    assert by_query.json()["day"] == 404


# Any day's chart


@cache
def charts_of(seed: int) -> dict[str, ChurningChart]:
    """Return the Spotify charts of a small world for a seed (made once, then kept)."""
    spotify = generate_world(artists=60, events=10, seed=seed, start=TEST_DAY)["spotify"]
    catalog = Catalog(spotify["artists"], spotify["tracks"], spotify["episodes"])
    return build_charts(SPOTIFY_CHARTS, catalog.tracks, seed)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=3),
    chart_id=st.sampled_from(CHART_IDS),
    day=st.integers(min_value=0, max_value=400),
)
def test_any_days_chart_holds_50_distinct_tracks_in_places_1_to_50(
    seed: int, chart_id: str, day: int
) -> None:
    the_chart = charts_of(seed)[chart_id]

    chart_day = the_chart.on(day)

    places = {track_id: place for place, track_id in enumerate(chart_day.track_ids, start=1)}

    assert len(chart_day.track_ids) == 50
    assert sorted(places.values()) == list(range(1, 51))  # 50 distinct tracks, one place each
    assert set(places) <= set(the_chart.pool)
    assert all(entered <= day for entered in chart_day.entered)
    if day:
        entered_today = [
            t for t, e in zip(chart_day.track_ids, chart_day.entered, strict=True) if e == day
        ]
        assert sorted(entered_today) == sorted(chart_day.new)
