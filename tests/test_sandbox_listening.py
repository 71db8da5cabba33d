"""The sandbox's listening: recently played with the real rules, top items, follows, exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import spotipy
from spotipy.exceptions import SpotifyException

from sandbox.__main__ import main
from sandbox.catalog import Catalog
from sandbox.listening import LISTED_MS, Listening, ms_of, played_at
from sandbox.server import SandboxServer
from sandbox.streaming_history import write_export
from tests.contract import load_real
from tests.sandbox_clients import user_client

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LISTENING_SCOPES = "user-read-recently-played user-top-read user-follow-read"
NO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
WITH_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def listening_sandbox(small_world: dict[str, Any]) -> Iterator[SandboxServer]:
    """A sandbox of its own whose clock starts at a fixed time and is never moved."""
    with SandboxServer(small_world, start=START) as server:
        yield server


@pytest.fixture
def moving_sandbox(small_world: dict[str, Any]) -> Iterator[SandboxServer]:
    """A fresh sandbox whose clock a test may move."""
    with SandboxServer(small_world, start=START) as server:
        yield server


@pytest.fixture(scope="module")
def alice(listening_sandbox: SandboxServer) -> spotipy.Spotify:
    return user_client(listening_sandbox, "alice", LISTENING_SCOPES)


def status_of(call: Any) -> int:
    with pytest.raises(SpotifyException) as raised:
        call()
    return int(raised.value.http_status)


def as_ms(text: str) -> int:
    return ms_of(datetime.fromisoformat(text.replace("Z", "+00:00")))


# Recently played


def test_only_the_last_50_plays_are_reachable(alice: spotipy.Spotify) -> None:
    first = alice.current_user_recently_played(limit=50)

    beyond = alice.current_user_recently_played(limit=50, before=first["cursors"]["before"])

    assert len(first["items"]) == 50
    assert first["next"] is None
    assert beyond == {
        "items": [],
        "next": None,
        "cursors": None,
        "limit": 50,
        "href": beyond["href"],
    }


def test_plays_come_newest_first_with_cursors_in_ms(alice: spotipy.Spotify) -> None:
    answer = alice.current_user_recently_played(limit=20)

    times = [as_ms(item["played_at"]) for item in answer["items"]]
    assert len(times) == 20 and answer["limit"] == 20
    assert times == sorted(times, reverse=True) and len(set(times)) == 20
    assert answer["cursors"] == {"after": str(times[0]), "before": str(times[-1])}
    assert times[0] <= ms_of(START)
    assert f"before={times[-1]}" in answer["next"]


def test_before_pages_follow_on_without_gap_or_overlap(alice: spotipy.Spotify) -> None:
    whole = alice.current_user_recently_played(limit=50)["items"]

    pages = [alice.current_user_recently_played(limit=20)]
    while pages[-1]["next"]:
        pages.append(alice.next(pages[-1]))

    assert [len(p["items"]) for p in pages] == [20, 20, 10]
    assert [item for p in pages for item in p["items"]] == whole


def test_an_after_read_returns_the_newest_seen_play_again(alice: spotipy.Spotify) -> None:
    newest = alice.current_user_recently_played(limit=5)

    again = alice.current_user_recently_played(after=newest["cursors"]["after"])

    assert again["items"] == newest["items"][:1]
    assert again["cursors"]["after"] == again["cursors"]["before"] == newest["cursors"]["after"]
    assert "after=" in again["next"]


def test_an_after_read_gives_the_plays_next_after_the_cursor(alice: spotipy.Spotify) -> None:
    whole = alice.current_user_recently_played(limit=50)["items"]
    cursor = as_ms(whole[30]["played_at"]) + 1

    answer = alice.current_user_recently_played(limit=10, after=cursor)

    assert answer["items"] == whole[20:30]


def test_plays_under_30_seconds_are_not_listed(listening_sandbox: SandboxServer) -> None:
    client = user_client(listening_sandbox, "alice", LISTENING_SCOPES)
    items = client.current_user_recently_played(limit=50)["items"]
    oldest, newest = as_ms(items[-1]["played_at"]), as_ms(items[0]["played_at"])

    plays = listening_sandbox.sandbox.listening.plays_between("alice", oldest, newest)

    short = [p for p in plays if p.track_id and p.ms_played < LISTED_MS]
    listed = [(p.track_id, played_at(p.end_ms)) for p in plays if p.listed]
    assert short, "the window should hold skipped plays"
    assert [(i["track"]["id"], i["played_at"]) for i in items] == listed[::-1]


def test_played_at_mostly_has_milliseconds_and_sometimes_not(alice: spotipy.Spotify) -> None:
    stamps = [item["played_at"] for item in alice.current_user_recently_played(limit=50)["items"]]

    assert any(NO_MILLIS.match(stamp) for stamp in stamps)
    assert sum(bool(WITH_MILLIS.match(stamp)) for stamp in stamps) > 35
    assert all(NO_MILLIS.match(s) or WITH_MILLIS.match(s) for s in stamps)


def test_contexts_are_playlists_albums_artists_or_null(
    listening_sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    listening = listening_sandbox.sandbox.listening
    plays = listening.plays_between("alice", ms_of(START - timedelta(days=7)), ms_of(START))
    kinds = {p.context[0] if p.context else None for p in plays if p.track_id}
    items = user_client(listening_sandbox, "alice", LISTENING_SCOPES).current_user_recently_played(
        limit=50
    )["items"]

    assert kinds == {"playlist", "album", "artist", None}
    for item in items:
        context = item["context"]
        if context is not None:
            kind, context_id = context["uri"].split(":")[1:]
            assert context["type"] == kind in ("playlist", "album", "artist")
            assert context["href"].endswith(f"/{kind}s/{context_id}")


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"limit": 0}, 400),
        ({"limit": 51}, 400),
        ({"limit": "ten"}, 400),
        ({"after": 1, "before": 2}, 400),
        ({"after": "yesterday"}, 400),
        ({"limit": 1}, 200),
        ({"limit": 50}, 200),
    ],
)
def test_recently_played_checks_its_parameters(
    listening_sandbox: SandboxServer, alice: spotipy.Spotify, params: dict[str, Any], status: int
) -> None:
    answer = requests.get(
        f"{listening_sandbox.url}/spotify/v1/me/player/recently-played",
        params=params,
        headers=alice._auth_headers(),
        timeout=5,
    )

    assert answer.status_code == status
    if status == 400:
        assert answer.json()["error"]["status"] == 400


def test_recently_played_gives_20_plays_by_default(
    listening_sandbox: SandboxServer, alice: spotipy.Spotify
) -> None:
    answer = requests.get(
        f"{listening_sandbox.url}/spotify/v1/me/player/recently-played",
        headers=alice._auth_headers(),
        timeout=5,
    ).json()

    assert len(answer["items"]) == answer["limit"] == 20
    assert answer["href"].endswith("/me/player/recently-played?limit=20")


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.current_user_recently_played(),
        lambda c: c.current_user_top_artists(),
        lambda c: c.current_user_top_tracks(),
        lambda c: c.current_user_followed_artists(),
    ],
    ids=["recently-played", "top-artists", "top-tracks", "following"],
)
def test_listening_endpoints_need_their_scopes(listening_sandbox: SandboxServer, call: Any) -> None:
    client = user_client(listening_sandbox, "alice", "playlist-read-private")

    with pytest.raises(SpotifyException) as raised:
        call(client)

    assert raised.value.http_status == 403
    assert "Insufficient client scope" in raised.value.msg


def test_a_user_off_the_allowlist_is_refused(listening_sandbox: SandboxServer) -> None:
    mallory = user_client(listening_sandbox, "mallory", LISTENING_SCOPES)

    assert status_of(mallory.current_user_recently_played) == 403


# The clock


def test_advancing_hours_brings_new_plays(moving_sandbox: SandboxServer) -> None:
    client = user_client(moving_sandbox, "alice", LISTENING_SCOPES)
    before = client.current_user_recently_played(limit=50)

    moved = requests.post(
        f"{moving_sandbox.url}/_sandbox/advance-hours", json={"hours": 24}, timeout=5
    ).json()
    after = client.current_user_recently_played(limit=50, after=before["cursors"]["after"])

    assert moved["now"] == (START + timedelta(hours=24)).isoformat()
    assert len(after["items"]) > 1
    assert after["items"][-1] == before["items"][0]
    assert as_ms(after["items"][0]["played_at"]) <= ms_of(START + timedelta(hours=24))
    clock = requests.get(f"{moving_sandbox.url}/_sandbox/clock", timeout=5).json()
    assert clock == {"now": moved["now"], "start": START.isoformat(), "hours": 24}


def test_advancing_a_week_moves_the_clock_168_hours(moving_sandbox: SandboxServer) -> None:
    answer = requests.post(f"{moving_sandbox.url}/_sandbox/advance-week", timeout=5).json()

    assert answer == {"week": 1, "now": (START + timedelta(hours=168)).isoformat()}
    stats = requests.get(f"{moving_sandbox.url}/_sandbox/stats", timeout=5).json()
    assert stats["now"] == answer["now"]


@pytest.mark.parametrize("body", [{}, {"hours": -1}, {"hours": "2"}, {"hours": True}])
def test_advance_hours_refuses_a_bad_amount(moving_sandbox: SandboxServer, body: Any) -> None:
    answer = requests.post(f"{moving_sandbox.url}/_sandbox/advance-hours", json=body, timeout=5)

    assert answer.status_code == 400


def test_listening_is_the_same_for_a_seed(small_world: dict[str, Any]) -> None:
    spotify = small_world["spotify"]

    def days_of(seed: int) -> list[Any]:
        catalog = Catalog(spotify["artists"], spotify["tracks"], spotify["episodes"])
        listening = Listening.from_world(small_world, catalog, seed)
        return listening.plays_between("bob", ms_of(START - timedelta(days=3)), ms_of(START))

    first = days_of(1)
    assert first == days_of(1) != days_of(2)
    assert 3 * 15 <= len(first) <= 3 * 90


# Top items and follows


def test_top_items_page_by_offset(alice: spotipy.Spotify) -> None:
    whole = alice.current_user_top_tracks(limit=20, time_range="short_term")

    first = alice.current_user_top_tracks(limit=10, time_range="short_term")
    second = alice.next(first)

    assert first["items"] + second["items"] == whole["items"]
    assert first["previous"] is None and second["offset"] == 10 and second["previous"]
    assert whole["total"] > 20 and "time_range=short_term" in first["next"]
    assert {
        "items",
        "total",
        "limit",
        "offset",
        "href",
        "next",
        "previous",
    } == set(first)


def test_top_artists_follow_the_plays_of_the_range(
    listening_sandbox: SandboxServer, alice: spotipy.Spotify
) -> None:
    short = alice.current_user_top_artists(limit=50, time_range="short_term")
    long = alice.current_user_top_artists(limit=50, time_range="long_term")
    plays = listening_sandbox.sandbox.listening.plays_between(
        "alice", ms_of(START - timedelta(days=28)), ms_of(START)
    )
    catalog = listening_sandbox.sandbox.catalog
    counts: dict[str, int] = {}
    for play in plays:
        if play.listed:
            for artist in catalog.tracks[play.track_id]["artists"]:
                counts[artist["id"]] = counts.get(artist["id"], 0) + 1

    assert short["total"] == len(counts)
    assert short["items"][0]["id"] == max(counts, key=lambda a: (counts[a], a))
    assert long["total"] >= short["total"]
    assert [a["id"] for a in short["items"][:10]] != [a["id"] for a in long["items"][:10]]


@pytest.mark.parametrize(
    "params", [{"time_range": "forever"}, {"limit": 51}, {"limit": 0}, {"offset": -1}]
)
def test_top_items_check_their_parameters(
    listening_sandbox: SandboxServer, alice: spotipy.Spotify, params: dict[str, Any]
) -> None:
    answer = requests.get(
        f"{listening_sandbox.url}/spotify/v1/me/top/artists",
        params=params,
        headers=alice._auth_headers(),
        timeout=5,
    )

    assert answer.status_code == 400


def test_followed_artists_page_by_cursor(alice: spotipy.Spotify) -> None:
    pages = [alice.current_user_followed_artists(limit=10)["artists"]]
    while pages[-1]["next"]:
        pages.append(alice.next(pages[-1])["artists"])

    ids = [artist["id"] for page in pages for artist in page["items"]]
    assert len(ids) == len(set(ids)) == pages[0]["total"] > 10
    assert pages[0]["cursors"] == {"after": pages[0]["items"][-1]["id"]}
    assert pages[-1]["cursors"] == {"after": None}
    top = {
        a["id"] for a in alice.current_user_top_artists(limit=50, time_range="long_term")["items"]
    }
    assert set(ids) & top and set(ids) - top


def test_following_needs_type_artist(
    listening_sandbox: SandboxServer, alice: spotipy.Spotify
) -> None:
    answer = requests.get(
        f"{listening_sandbox.url}/spotify/v1/me/following",
        params={"type": "user"},
        headers=alice._auth_headers(),
        timeout=5,
    )

    assert answer.status_code == 400


# The export


def real_export_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = load_real(
        "exports/extended/Efrrowini__Streaming_History_Audio_2026.json"
    )
    return rows


def test_export_rows_have_exactly_the_real_2026_key_set(
    listening_sandbox: SandboxServer, tmp_path: Path
) -> None:
    real_keys = {frozenset(row) for row in real_export_rows()}

    paths = write_export(listening_sandbox.sandbox.listening, "alice", tmp_path, START)

    rows = [row for path in paths for row in json.loads(path.read_text())]
    assert [path.name for path in paths] == ["Streaming_History_Audio_2026.json"]
    assert {frozenset(row) for row in rows} == real_keys
    assert list(rows[0]) == list(real_export_rows()[0])
    assert any(row["spotify_episode_uri"] and row["spotify_track_uri"] is None for row in rows)
    assert any(row["ms_played"] < 30_000 and row["skipped"] for row in rows)
    stamps = [row["ts"] for row in rows]
    assert stamps != sorted(stamps), "real files are not sorted"
    assert all(NO_MILLIS.match(stamp) for stamp in stamps)
    assert min(stamps) >= (START - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert max(stamps) <= START.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_export_holds_the_plays_recently_played_reports(
    listening_sandbox: SandboxServer, alice: spotipy.Spotify, tmp_path: Path
) -> None:
    items = alice.current_user_recently_played(limit=50)["items"]

    paths = write_export(listening_sandbox.sandbox.listening, "alice", tmp_path, START)

    rows = {
        (row["spotify_track_uri"], row["ts"])
        for path in paths
        for row in json.loads(path.read_text())
        if row["ms_played"] >= 30_000
    }
    reported = {(item["track"]["uri"], item["played_at"][:19] + "Z") for item in items}
    assert reported <= rows
    newest = max(ts for _, ts in rows)
    assert newest == items[0]["played_at"][:19] + "Z"


def test_a_large_export_is_split_into_numbered_files(
    listening_sandbox: SandboxServer, tmp_path: Path
) -> None:
    paths = write_export(
        listening_sandbox.sandbox.listening, "bob", tmp_path, START, plays=3000, rows_per_file=400
    )

    rows = [row for path in paths for row in json.loads(path.read_text())]
    assert len(rows) == 3000
    assert len(paths) >= 8
    assert all(
        re.fullmatch(r"Streaming_History_Audio_20\d\d_\d+\.json", path.name) for path in paths
    )
    assert [int(path.stem.rsplit("_", 1)[1]) for path in paths] == list(range(len(paths)))


def test_the_export_command_writes_what_the_sandbox_serves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    until = "2026-11-23T12:00:00+00:00"

    code = main(
        ["export", "--user", "alice", "--out", str(tmp_path), "--until", until, "--plays", "200"]
    )

    assert code == 0
    written = capsys.readouterr().out.split()
    rows = [row for name in written for row in json.loads(Path(name).read_text())]
    assert len(rows) == 200
    assert max(row["ts"] for row in rows) <= "2026-11-23T12:00:00Z"
