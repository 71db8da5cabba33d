"""Spotify's real recorded answers (../shared/real-api/spotify) through our parsers, whole.

The files are read where they are, beside the repo; nothing of them is copied here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import spotipy
from flask import Flask, Response
from werkzeug.serving import make_server

from shared.config import Settings
from shared.spotify import (
    QuotaExhaustedError,
    RequestLedger,
    SpotifyApi,
    SpotifyRefusedError,
    SpotifyShapeError,
    SpotifyUnavailableError,
    make_spotipy,
)
from shared.spotify_records import (
    ArtistRecord,
    PlaylistItem,
    TrackRecord,
    UserRecord,
    items_of,
    page_items,
    parse_artist,
    parse_playlist,
    parse_playlist_item,
    parse_track,
    parse_user,
)
from tests.contract import REAL_API

REAL = REAL_API / "spotify"


def real(name: str) -> Any:
    return json.loads((REAL / name).read_text())


def test_playlist_items_of_2026_carry_item_and_track_and_read_as_one_track() -> None:
    page = real("joostlek__playlist_items.json")

    items = [parse_playlist_item(n, raw) for n, raw in enumerate(page_items(page, "page"))]

    assert items == [
        PlaylistItem(
            0,
            "2025-07-29T21:11:55Z",
            TrackRecord(
                id="3ZL9gPzeCnKG9l5SB1SlcZ",
                name="All I Need",
                artist_ids=("7zrkALJ9ayRjzysp4QYoEg", "6SKEuFZYhaTytrhtJjgnO2"),
                artist_names=("Maribou State", "Andreya Triana"),
                album_name="All I Need",
                release_date="2025-01-13",
                duration_ms=227934,
                explicit=False,
                isrc="GBCFB2300770",
            ),
        )
    ]


def test_a_podcast_episode_in_a_playlist_is_skipped_as_an_episode_never_a_track() -> None:
    page = real("java__GetPlaylistsItemsRequest_Episode.json")

    items = [parse_playlist_item(n, raw) for n, raw in enumerate(page_items(page, "page"))]

    # The entry says `track` and its object has an id and a name: only `type: episode` tells.
    assert items == [PlaylistItem(0, "2016-10-11T13:44:40Z", None, "episode")]
    assert parse_track(page["items"][0]["track"]) is None


def _entry(content: Any, *, key: str = "item", is_local: bool = False) -> dict[str, Any]:
    return {"added_at": "2026-03-01T10:00:00Z", "is_local": is_local, key: content}


def _recorded_track() -> dict[str, Any]:
    track: dict[str, Any] = real("joostlek__playlist_items.json")["items"][0]["item"]
    return track


@pytest.mark.parametrize(
    ("entry", "skipped"),
    [
        (_entry(_recorded_track()), ""),
        (_entry(_recorded_track(), key="track"), ""),
        # Both keys, as in 2026: `item` is read; a null `item` falls back to `track`.
        ({**_entry(_recorded_track()), "track": _recorded_track()}, ""),
        ({**_entry(None), "track": _recorded_track()}, ""),
        (_entry(None), "removed"),
        ({"added_at": "2026-03-01T10:00:00Z", "is_local": False}, "removed"),
        # A local file: Spotify sends a track object with a null id and a spotify:local URI.
        (
            _entry(
                {
                    "id": None,
                    "name": "Demo",
                    "type": "track",
                    "is_local": True,
                    "uri": "spotify:local:Me:Tapes:Demo:180",
                },
                is_local=True,
            ),
            "local",
        ),
        (_entry({**_recorded_track(), "type": "episode"}), "episode"),
        (_entry({**_recorded_track(), "episode": True}), "episode"),
        (_entry({"name": "no id", "type": "track"}), "unreadable"),
        (_entry("a string"), "unreadable"),
        ("not an object", "removed"),
    ],
)
def test_every_kind_of_playlist_entry_is_a_track_or_skipped_by_kind(
    entry: Any, skipped: str
) -> None:
    item = parse_playlist_item(3, entry)

    assert item.skipped == skipped
    assert (item.track is not None) == (skipped == "")
    if item.track is not None:
        assert item.track.id == "3ZL9gPzeCnKG9l5SB1SlcZ"


def test_my_playlists_pages_report_their_size_as_items_or_tracks() -> None:
    both = page_items(real("joostlek__current_user_playlist_1.json"), "page")
    tracks_only = page_items(real("joostlek__current_user_playlist_2.json"), "page")

    parsed = [parse_playlist(raw) for raw in both + tracks_only]

    assert all(record is not None for record in parsed)
    # Every size comes from the answer: items.total where given, else tracks.total.
    expected = [(raw.get("items") or raw["tracks"])["total"] for raw in both + tracks_only]
    assert [record.total for record in parsed if record] == expected
    assert sum(expected) > 0 and len(parsed) == 48 + 47
    first = parse_playlist(tracks_only[0])
    assert first is not None
    assert (first.id, first.owner_id, first.total) == ("37i9dQZF1EP6YuccBxUcC1", "spotify", 50)
    assert first.name.startswith("daylist")


def test_search_answers_read_whole_artists_mostly_without_genres() -> None:
    answer = real("java__SearchItemRequest.json")

    artists = [parse_artist(raw) for raw in items_of(answer, "artists")]
    tracks = [parse_track(raw) for raw in items_of(answer, "tracks")]

    assert artists == [
        ArtistRecord("5l8lZmnKzCAUKKtNZMzbVO", "Muse And The Forgetting"),
        ArtistRecord("4L6i1I6tFpc1bKui5coGme", "Muse"),
        ArtistRecord("0oYf9u7u00PBfFUDY6B00U", "M.U.S.E."),
        ArtistRecord("3TN2e4aym8jdMv7uxWuMa5", "MUSE"),
        ArtistRecord("1zFNYw5kgA7UEKWqNHf1Et", "Dangerous Muse", ("alternative dance",)),
        ArtistRecord("3uIGREwbP57eNOtcol8yrC", "Celtic Muse", ("harp", "string folk")),
        ArtistRecord("7dwv5d4pNWa18YFMiXZiFi", "The Muse Maker"),
        ArtistRecord("4nxsiEZEqHdOZIcx96h28q", "Workout Muse"),
        ArtistRecord("2vh427vhmYQWKFzFFUG0tZ", "MaddRegaeles Muse"),
        ArtistRecord("2RLgQST3UuvyraOMj04JXe", "Muse Girls"),
    ]
    assert [(t.id, t.name, t.artist_names, t.album_name, t.explicit) for t in tracks if t] == [
        ("3lPr8ghNDBLc2uZovNyLs9", "Supermassive Black Hole", ("Muse",), "Black Holes And Revelations", False),
        ("383QXk8nb2YrARMUwDdjQS", "Psycho", ("Muse",), "Drones", True),
        ("7ouMYWpwJ422jRcDASZB7P", "Knights Of Cydonia", ("Muse",), "Black Holes And Revelations", False),
        ("7JhTr0G0gr3ESY3B9uqPi4", "Dig Down", ("Muse",), "Dig Down", False),
        ("7xyYsOvq5Ec3P4fr6mM9fD", "Hysteria", ("Muse",), "Absolution", False),
        ("2takcwOaAZWiXQijPHIx7B", "Time Is Running Out", ("Muse",), "Absolution", False),
        ("0It6VJoMAare1zdV2wxqZq", "Undisclosed Desires", ("Muse",), "The Resistance", False),
        ("5NNXPVydz9kE8xOY7ycj4r", "Keep Me Around", ("The Wood Brothers",), "The Muse", False),
        ("41ipOYFGT2MW4dvOPkoK1f", "Muse", ("PARTYNEXTDOOR",), "PARTYNEXTDOOR TWO", True),
        ("1hkC9kHG980jEfkTmQYB7t", "Sing About It", ("The Wood Brothers",), "The Muse", False),
    ]  # fmt: skip
    # Three artists of the one normalised name "muse", none with genres: the matcher's hard case.
    assert all(t is not None and t.release_date == "" and t.isrc for t in tracks)


def test_a_track_search_and_an_artist_read_whole() -> None:
    answer = real("joostlek__search.json")

    tracks = [parse_track(raw) for raw in items_of(answer, "tracks")]

    assert [(t.id, t.artist_ids, t.release_date, t.duration_ms, t.isrc) for t in tracks if t] == [
        ("4PTG3Z6ehGkBFwjybzWkR8", ("0gxyHStUsqpMadRV0Di1Qt",), "1987-11-12", 213573, "GBARL9300135"),
        ("5juAS6AmOceMjFnlUaJQr2", ("1mYgKcXdbklH5RwjU6XA8c",), "2025-10-03", 165315, "GBUM72505545"),
        ("0EuQ4KOfNmQX9RQt8BN9gG", ("1K8Sk2nWCEIqOsGPT1cV9Q",), "2026-02-04", 193231, "QZHNC2668731"),
        ("0PAiAlK1oyPeWvet3ZVmfE", ("5ApzCoihjAuHAfGVoVqv61",), "1990-11-14", 191796, "USX9P1306179"),
        ("3XQsHKA5zyxVkavbQ5d79m", ("5ApzCoihjAuHAfGVoVqv61",), "2015-12-28", 191053, "USCGJ1621993"),
    ]  # fmt: skip
    assert parse_artist(real("joostlek__artist.json")) == ArtistRecord(
        "0TnOYISbd1XYRBk9myaseg", "Pitbull"
    )


def test_the_profile_reads_and_a_profile_without_id_is_a_shape_error() -> None:
    assert parse_user(real("joostlek__current_user.json")) == UserRecord(
        "1112264649", "Joost Lekkerkerker"
    )
    with pytest.raises(SpotifyShapeError, match="no user id"):
        parse_user({"display_name": "x"})


@pytest.mark.parametrize(
    "answer",
    [None, [], "text", {"artists": None}, {"artists": {"items": {}}}, {"tracks": {"items": []}}],
)
def test_a_search_answer_of_the_wrong_shape_is_a_shape_error(answer: Any) -> None:
    with pytest.raises(SpotifyShapeError):
        items_of(answer, "artists")


# Recorded error answers, served over HTTP so that spotipy and requests read them for real.


@pytest.fixture
def recorded_server() -> Iterator[tuple[str, list[tuple[int, dict[str, str], str]]]]:
    """Serve, one request each, the (status, headers, body) answers a test queues."""
    queue: list[tuple[int, dict[str, str], str]] = []
    app = Flask("recorded")

    @app.route("/v1/<path:anything>", methods=["GET", "POST", "PUT"])
    def answer(anything: str) -> Response:
        status, headers, body = queue.pop(0) if queue else (200, {}, "{}")
        return Response(body, status=status, headers=headers, content_type="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1/", queue
    finally:
        server.shutdown()
        thread.join(timeout=5)


class _Token:
    def get_access_token(self, as_dict: bool = False) -> str:
        return "recorded"


def _api(settings: Settings, base: str, sleeps: list[float]) -> SpotifyApi:
    client: spotipy.Spotify = make_spotipy(settings, _Token())
    client.prefix = base
    return SpotifyApi(client, RequestLedger(), sleep=sleeps.append, max_attempts=3)


def _recorded_429(name: str) -> tuple[int, dict[str, str], str]:
    recorded = real(name)
    body = recorded.get("body", recorded)
    return int(recorded.get("status", 429)), dict(recorded.get("headers", {})), json.dumps(body)


def test_a_429_with_an_empty_body_and_hours_to_wait_stops_as_quota(
    settings: Settings, recorded_server: tuple[str, list[Any]]
) -> None:
    base, queue = recorded_server
    queue.append(_recorded_429("issue__spotify-web-api-node-426__429_long_retry_after.json"))
    sleeps: list[float] = []
    api = _api(settings, base, sleeps)

    with pytest.raises(QuotaExhaustedError) as stopped:
        api.search_artists("Muse")

    assert stopped.value.retry_after == 13749 and sleeps == []
    assert "quota" in str(stopped.value) and "no reason" in str(stopped.value)
    assert api.ledger.status_429 == {"long_wait_without_reason": 1}


@pytest.mark.parametrize(
    "name", ["issue__spotify-web-api-1402__429_rate_limit.json", "joostlek__rate_limit.json"]
)
def test_a_429_without_reason_or_wait_is_retried_then_reported_unavailable(
    settings: Settings, recorded_server: tuple[str, list[Any]], name: str
) -> None:
    base, queue = recorded_server
    status, headers, body = _recorded_429(name)
    queue.extend([(status, headers, body)] * 3)
    sleeps: list[float] = []
    api = _api(settings, base, sleeps)

    with pytest.raises(SpotifyUnavailableError):
        api.search_artists("Muse")

    assert len(sleeps) == 2 and api.ledger.status_429 == {"rate_limit": 3}


def test_the_same_quota_body_with_hours_to_wait_stops_instead(
    settings: Settings, recorded_server: tuple[str, list[Any]]
) -> None:
    base, queue = recorded_server
    status, _, body = _recorded_429("issue__spotify-web-api-1402__429_rate_limit.json")
    queue.append((status, {"Retry-After": "50400"}, body))
    api = _api(settings, base, [])

    with pytest.raises(QuotaExhaustedError):
        api.search_artists("Muse")


@pytest.mark.parametrize(
    "body", ['{"error": "invalid_client"}', "[1, 2]", '{"error": null}', "not json", ""]
)
def test_error_bodies_spotipy_cannot_read_are_still_a_refusal(
    settings: Settings, recorded_server: tuple[str, list[Any]], body: str
) -> None:
    base, queue = recorded_server
    queue.append((403, {}, body))

    with pytest.raises(SpotifyRefusedError) as refused:
        _api(settings, base, []).me()

    assert refused.value.status == 403


@pytest.mark.parametrize("body", ["[]", '"text"', "not json", '{"items": "x"}'])
def test_a_page_of_the_wrong_shape_is_a_shape_error_not_a_refusal(
    settings: Settings, recorded_server: tuple[str, list[Any]], body: str
) -> None:
    base, queue = recorded_server
    queue.append((200, {}, body))

    with pytest.raises(SpotifyShapeError):
        _api(settings, base, []).playlist_items("37i9dQZF1DXcBWIGoYBM5M")
