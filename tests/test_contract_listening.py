"""The sandbox's listening answers hold nothing that real ones (../shared/real-api) lack.

Recently played, top tracks, top artists and followed artists are walked into
`path -> JSON types` and held against the recordings in real-api/exports/api/: every path the
sandbox sends must be in a real answer with a type seen there, and the paths our parsers read
must be sent. Development Mode removes fields the recordings still carry (popularity,
available_markets, followers): the sandbox sends a subset.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import spotipy

from sandbox.server import SandboxServer
from tests.contract import assert_no_invented_keys, json_paths, load_real
from tests.sandbox_clients import user_client

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SCOPES = "user-read-recently-played user-top-read user-follow-read"

# What a collector of plays reads of a recently-played page.
RECENTLY_PLAYED_READ = {
    "items[].played_at",
    "items[].context",
    "items[].context.type",
    "items[].context.uri",
    "items[].track.id",
    "items[].track.name",
    "items[].track.duration_ms",
    "items[].track.artists[].id",
    "items[].track.artists[].name",
    "items[].track.album.id",
    "items[].track.album.name",
    "cursors.after",
    "cursors.before",
    "next",
    "limit",
}
TOP_READ = {"items[].id", "items[].name", "total", "limit", "offset", "next", "previous"}
TOP_TRACKS_READ = TOP_READ | {"items[].artists[].id", "items[].album.name"}
TOP_ARTISTS_READ = TOP_READ | {"items[].genres"}
FOLLOWING_READ = {
    "artists.items[].id",
    "artists.items[].name",
    "artists.cursors.after",
    "artists.next",
    "artists.total",
    "artists.limit",
}


def real(name: str) -> Any:
    return load_real(f"exports/api/{name}")


RECENTLY_PLAYED_RECORDINGS = [
    "chekos__recently_played__2023-04-20T0223_before-page.json",
    "chekos__recently_played__2023-04-20T0317_after-overlap.json",
    "chekos__recently_played__2024-12-25_played_at-no-millis.json",
    "chekos__recently_played__2026-03-08_empty.json",
]


@pytest.fixture(scope="module")
def listening_sandbox(small_world: dict[str, Any]) -> Iterator[SandboxServer]:
    with SandboxServer(small_world, start=START) as server:
        yield server


@pytest.fixture(scope="module")
def alice(listening_sandbox: SandboxServer) -> spotipy.Spotify:
    return user_client(listening_sandbox, "alice", SCOPES)


def test_recently_played_sends_only_what_real_pages_do(alice: spotipy.Spotify) -> None:
    full = alice.current_user_recently_played(limit=50)
    overlap = alice.current_user_recently_played(after=full["cursors"]["after"])
    empty = alice.current_user_recently_played(limit=50, before=full["cursors"]["before"])
    recordings = [real(name) for name in RECENTLY_PLAYED_RECORDINGS]

    for answer in (full, overlap, empty):
        assert_no_invented_keys(answer, recordings)
    assert set(json_paths(full)) >= RECENTLY_PLAYED_READ
    assert json_paths(empty)["cursors"] == {"null"} == json_paths(recordings[-1])["cursors"]
    # Development Mode removes these track fields (PLATFORM.md).
    assert not {"items[].track.popularity", "items[].track.available_markets"} & set(
        json_paths(full)
    )


def test_top_tracks_send_only_what_a_real_page_does(alice: spotipy.Spotify) -> None:
    first = alice.current_user_top_tracks(limit=50, time_range="short_term")
    later = alice.next(first)
    recorded = real("chekos__top_tracks_short_term__2026-06-26.json")
    # A later page has a `previous` URL, as every offset-paged Spotify list does; the recording
    # is a first page (previous null), so the URL's type is taken from its own `next`.
    later_page = {**recorded, "previous": recorded["next"]}

    for answer in (first, later):
        assert_no_invented_keys(answer, [recorded, later_page])
        assert set(json_paths(answer)) >= TOP_TRACKS_READ


def test_top_artists_send_only_what_a_real_page_does(alice: spotipy.Spotify) -> None:
    answer = alice.current_user_top_artists(limit=48, time_range="medium_term")
    recorded = real("joostlek__top_artists__2026-03.json")

    assert_no_invented_keys(answer, [recorded])
    assert set(json_paths(answer)) >= TOP_ARTISTS_READ


def test_followed_artists_send_only_what_a_real_page_does(alice: spotipy.Spotify) -> None:
    first = alice.current_user_followed_artists(limit=20)
    pages = [first]
    while pages[-1]["artists"]["next"]:
        pages.append(alice.next(pages[-1]["artists"]))
    recorded = real("joostlek__followed_artists__2026-03.json")

    assert_no_invented_keys(first, [recorded])
    # The recording is a first page of 83 artists; on the last page the sandbox ends the cursor
    # paging with `next` and `cursors.after` null (an assumption: no last page is recorded).
    assert_no_invented_keys(
        pages[-1],
        [recorded],
        allowed={"artists.next": {"null"}, "artists.cursors.after": {"null"}},
    )
    assert set(json_paths(first)) >= FOLLOWING_READ
