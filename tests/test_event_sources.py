"""Event sources parse the APIs' own shapes into one record type, and skip malformed events."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from etl.sources import MalformedEvent, SourceError
from etl.sources import seatgeek as sg
from etl.sources import ticketmaster as tm
from etl.sources.http import JsonClient
from sandbox.server import SandboxServer

SEATGEEK_EVENT: dict[str, Any] = {
    "id": 7000001,
    "title": "Bruce Springsteen & The E Street Band with Yes Tribute",
    "url": "https://seatgeek.com/e/7000001",
    "datetime_utc": "2026-12-06T01:30:00",
    "datetime_local": "2026-12-05T20:30:00",
    "time_tbd": False,
    "type": "concert",
    "taxonomies": [{"name": "concert"}],
    "venue": {
        "id": 1,
        "name": "The Owl Ballroom",
        "city": "Brooklyn",
        "state": "NY",
        "postal_code": "11216",
        "timezone": "America/New_York",
        "location": {"lat": 40.68, "lon": -73.94},
    },
    "performers": [
        {
            "id": 2,
            "name": "Yes Tribute",
            "type": "band",
            "primary": False,
            "genres": [],
            "links": [],
        },
        {
            "id": 1,
            "name": "Bruce Springsteen & The E Street Band",
            "type": "band",
            "primary": True,
            "genres": [{"name": "Rock", "slug": "rock", "primary": True}],
            "links": [{"id": "spotify:artist:3eqjTLE0HfPfh78zjh6TqT", "provider": "spotify"}],
        },
        {
            "id": 3,
            "name": "Dana Whitlock",
            "type": "comedy",
            "primary": False,
            "genres": [],
            "links": [],
        },
    ],
}

TICKETMASTER_EVENT: dict[str, Any] = {
    "name": "Sigur Ros",
    "id": "vvG1abc",
    "url": "https://www.ticketmaster.com/event/vvG1abc",
    "dates": {
        "start": {
            "localDate": "2026-12-05",
            "localTime": "20:30:00",
            "dateTime": "2026-12-06T01:30:00Z",
            "timeTBA": False,
        },
        "timezone": "America/New_York",
    },
    "classifications": [{"segment": {"name": "Music"}, "genre": {"name": "Rock"}}],
    "_embedded": {
        "venues": [
            {
                "name": "Owl Ballroom",
                "postalCode": "11216",
                "timezone": "America/New_York",
                "city": {"name": "Brooklyn"},
                "state": {"stateCode": "NY"},
                "location": {"longitude": "-73.94", "latitude": "40.68"},
            }
        ],
        "attractions": [
            {
                "name": "Sigur Ros",
                "id": "K8v1",
                "classifications": [
                    {"segment": {"name": "Music"}, "genre": {"name": "Alternative"}}
                ],
                "externalLinks": {
                    "spotify": [{"url": "https://open.spotify.com/artist/6UUrUCIZtQeOf8tC0WuzRy"}]
                },
            },
            {
                "name": "Low",
                "id": "K8v2",
                "classifications": [{"segment": {"name": "Music"}, "genre": {"name": "Undefined"}}],
            },
        ],
    },
}


def test_seatgeek_event_parses_headliner_billing_and_links() -> None:
    event = sg.parse_event(SEATGEEK_EVENT)

    assert event.source == "seatgeek" and event.event_id == "7000001"
    assert event.starts_at == datetime(2026, 12, 6, 1, 30, tzinfo=UTC)
    assert event.starts_at_local == "2026-12-05T20:30:00"
    assert [(p.name, p.is_headliner, p.billing_order) for p in event.performers] == [
        ("Bruce Springsteen & The E Street Band", True, 1),
        ("Yes Tribute", False, 2),
        ("Dana Whitlock", False, 3),
    ]
    assert event.performers[0].spotify_artist_id == "3eqjTLE0HfPfh78zjh6TqT"
    assert event.performers[0].genres == ("rock",)
    assert event.performers[2].kind == "comedy"
    assert event.venue.lat == 40.68 and event.venue.state == "NY"


def test_ticketmaster_event_parses_attractions_and_spotify_links() -> None:
    event = tm.parse_event(TICKETMASTER_EVENT)

    assert event.source == "ticketmaster" and event.event_id == "vvG1abc"
    assert event.starts_at == datetime(2026, 12, 6, 1, 30, tzinfo=UTC)
    assert event.starts_at_local == "2026-12-05T20:30:00"
    assert [(p.name, p.is_headliner, p.billing_order) for p in event.performers] == [
        ("Sigur Ros", True, 1),
        ("Low", False, 2),
    ]
    assert event.performers[0].spotify_artist_id == "6UUrUCIZtQeOf8tC0WuzRy"
    assert event.performers[1].genres == ()
    assert event.venue.lat == 40.68 and event.venue.city == "Brooklyn"


def test_ticketmaster_time_to_be_announced_uses_the_local_date() -> None:
    raw = copy.deepcopy(TICKETMASTER_EVENT)
    raw["dates"]["start"] = {"localDate": "2026-12-05", "timeTBA": True, "noSpecificTime": True}

    event = tm.parse_event(raw)

    assert event.time_tbd is True
    assert event.starts_at == datetime(2026, 12, 5, 5, 0, tzinfo=UTC)  # local midnight in New York


def drop(path: str) -> Any:
    def change(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            raw = raw[key]
        raw.pop(last)

    return change


def set_to(path: str, value: Any) -> Any:
    def change(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            raw = raw[key]
        raw[last] = value

    return change


@pytest.mark.parametrize(
    "change",
    [
        drop("id"),
        drop("venue"),
        drop("performers"),
        set_to("performers", []),
        set_to("performers", [{"id": 1}]),
        set_to("datetime_utc", "soon"),
        set_to("venue", "Madison Square Garden"),
        drop("venue.state"),
    ],
)
def test_malformed_seatgeek_events_are_refused(change: Any) -> None:
    raw = copy.deepcopy(SEATGEEK_EVENT)
    change(raw)

    with pytest.raises(MalformedEvent):
        sg.parse_event(raw)


@pytest.mark.parametrize(
    "change",
    [
        drop("id"),
        drop("_embedded"),
        drop("_embedded.venues"),
        drop("_embedded.attractions"),
        set_to("_embedded.attractions", []),
        drop("dates"),
        set_to("dates", {"start": {"dateTBA": True}}),
    ],
)
def test_malformed_ticketmaster_events_are_refused(change: Any) -> None:
    raw = copy.deepcopy(TICKETMASTER_EVENT)
    change(raw)

    with pytest.raises(MalformedEvent):
        tm.parse_event(raw)


def test_json_client_retries_5xx_and_429_then_succeeds(sandbox: SandboxServer) -> None:
    sandbox.sandbox.options.error_rate = 0.5
    waits: list[float] = []
    client = JsonClient("seatgeek", sleep=waits.append, max_attempts=12)

    answers = [
        client.get(f"{sandbox.url}/seatgeek/2/events", {"client_id": "sandbox-seatgeek"})
        for _ in range(10)
    ]

    assert all("events" in answer for answer in answers)
    assert client.retries > 0 and len(waits) == client.retries


def test_json_client_gives_up_after_bounded_attempts(sandbox: SandboxServer) -> None:
    sandbox.sandbox.options.fail_states = ["NY"]
    waits: list[float] = []
    client = JsonClient("seatgeek", sleep=waits.append, max_attempts=4)

    with pytest.raises(SourceError, match="failed 4 times"):
        client.get(
            f"{sandbox.url}/seatgeek/2/events",
            {"client_id": "sandbox-seatgeek", "venue.state": "NY"},
        )

    assert len(waits) == 3
    assert all(0 < wait <= 0.5 * 2**2 * 1.5 for wait in waits)  # exponential backoff, jittered


def test_json_client_does_not_retry_a_refusal_and_hides_keys(sandbox: SandboxServer) -> None:
    client = JsonClient("seatgeek", sleep=lambda s: None)

    with pytest.raises(SourceError) as raised:
        client.get(f"{sandbox.url}/seatgeek/2/events", {"client_id": "wrong-key"})

    assert "403" in str(raised.value)
    assert "wrong-key" not in str(raised.value)
    assert client.requests == 1


def test_json_client_gives_up_on_a_connection_refused() -> None:
    from tests.conftest import free_port

    client = JsonClient("ticketmaster", sleep=lambda s: None, max_attempts=2, timeout=(0.5, 0.5))

    with pytest.raises(SourceError, match="ConnectionError"):
        client.get(f"http://127.0.0.1:{free_port()}/events.json", {})


def test_split_window_halves_down_to_an_hour_and_splits_the_open_tail_once_a_decade() -> None:
    from datetime import timedelta

    from etl.sources import NEAR_YEARS, split_window

    since = datetime(2026, 11, 20, tzinfo=UTC)

    open_ended = split_window(since, None, since=since)
    halves = split_window(since, since + timedelta(days=2), since=since)

    assert open_ended == [
        (since, since + NEAR_YEARS),
        (since + NEAR_YEARS + timedelta(seconds=1), None),
    ]
    assert halves[0] == (since, since + timedelta(days=1))
    assert halves[1][0] == since + timedelta(days=1, seconds=1)
    assert split_window(since, since + timedelta(minutes=59), since=since) == []
    assert split_window(since + timedelta(days=11 * 365), None, since=since) == []
