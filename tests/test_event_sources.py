"""Event sources parse the APIs' own shapes into one record type, and skip malformed events."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from etl.sources import DateUnknownError, MalformedEvent, OutsideUSError, SourceError
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
    assert event.starts_at_local == "2026-12-05"
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


def both(*changes: Any) -> Any:
    def change(raw: dict[str, Any]) -> None:
        for one in changes:
            one(raw)

    return change


# A listing without performers is no longer refused: its title names the act (see below).
@pytest.mark.parametrize(
    "change",
    [
        drop("id"),
        drop("venue"),
        both(set_to("performers", []), drop("title")),
        both(set_to("performers", [{"id": 1}]), set_to("title", "(TBA)")),
        set_to("datetime_utc", "soon"),
        set_to("venue", "Madison Square Garden"),
        drop("venue.state"),
    ],
)
def test_malformed_seatgeek_events_are_refused(change: Any) -> None:
    raw = copy.deepcopy(SEATGEEK_EVENT)
    change(raw)

    with pytest.raises(MalformedEvent) as refused:
        sg.parse_event(raw)

    assert refused.value.reason == "malformed"


@pytest.mark.parametrize(
    "change",
    [
        drop("id"),
        drop("_embedded"),
        drop("_embedded.venues"),
        both(drop("_embedded.attractions"), drop("name")),
        drop("dates"),
        set_to("dates", {"start": {"localTime": "20:00:00"}}),
        set_to("dates.start.localDate", "soon"),
    ],
)
def test_malformed_ticketmaster_events_are_refused(change: Any) -> None:
    raw = copy.deepcopy(TICKETMASTER_EVENT)
    change(raw)

    with pytest.raises(MalformedEvent) as refused:
        tm.parse_event(raw)

    assert refused.value.reason == "malformed"


@pytest.mark.parametrize(
    ("flags", "time_tbd"),
    [
        ({"time_tbd": True}, True),
        ({"time_tbd": True, "datetime_tbd": False, "date_tbd": False}, True),
        ({"time_tbd": False, "datetime_tbd": False, "date_tbd": False}, False),
    ],
)
def test_seatgeek_show_without_a_time_is_listed_on_its_date_not_at_3_30(
    flags: dict[str, bool], time_tbd: bool
) -> None:
    raw = {**copy.deepcopy(SEATGEEK_EVENT), **flags}
    raw["datetime_local"], raw["datetime_utc"] = (
        ("2026-12-05T03:30:00", "2026-12-05T08:30:00")
        if time_tbd
        else ("2026-12-05T20:30:00", "2026-12-06T01:30:00")
    )

    event = sg.parse_event(raw)

    assert event.time_tbd is time_tbd
    if time_tbd:
        assert event.starts_at_local == "2026-12-05"
        assert event.starts_at == datetime(2026, 12, 5, 5, 0, tzinfo=UTC)  # midnight in New York
    else:
        assert event.starts_at_local == "2026-12-05T20:30:00"


@pytest.mark.parametrize(
    "flags",
    [
        {"date_tbd": True, "time_tbd": False},
        # As recorded for a real event: all three true and a placeholder date (Dec 31, 03:30).
        {"datetime_tbd": True, "date_tbd": True, "time_tbd": True},
        {"datetime_tbd": True},
    ],
)
def test_seatgeek_show_without_a_date_is_skipped_as_such(flags: dict[str, bool]) -> None:
    raw = {**copy.deepcopy(SEATGEEK_EVENT), **flags}

    with pytest.raises(DateUnknownError) as refused:
        sg.parse_event(raw)

    assert refused.value.reason == "date to be determined"


@pytest.mark.parametrize(
    "start",
    [
        {"localDate": "2026-12-05", "timeTBA": True},
        {"localDate": "2026-12-05", "noSpecificTime": True, "localTime": "20:00:00"},
        {"localDate": "2026-12-05", "timeTBA": False, "noSpecificTime": False},
    ],
)
def test_ticketmaster_show_without_a_time_in_each_shape(start: dict[str, Any]) -> None:
    raw = copy.deepcopy(TICKETMASTER_EVENT)
    raw["dates"]["start"] = start

    event = tm.parse_event(raw)

    assert event.time_tbd is True
    assert event.starts_at_local == "2026-12-05"
    assert event.starts_at == datetime(2026, 12, 5, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize("flag", ["dateTBD", "dateTBA"])
def test_ticketmaster_show_without_a_date_is_skipped_as_such(flag: str) -> None:
    raw = copy.deepcopy(TICKETMASTER_EVENT)
    raw["dates"]["start"] = {"localDate": "2026-12-05", flag: True, "timeTBA": True}

    with pytest.raises(DateUnknownError):
        tm.parse_event(raw)


def test_ticketmaster_time_zone_is_the_venues_else_the_events_else_the_states() -> None:
    raw = copy.deepcopy(TICKETMASTER_EVENT)
    raw["dates"]["start"] = {"localDate": "2026-12-05", "localTime": "20:00:00"}
    raw["_embedded"]["venues"][0]["timezone"] = "America/Chicago"
    venue_zone = tm.parse_event(raw)
    del raw["_embedded"]["venues"][0]["timezone"]
    event_zone = tm.parse_event(raw)
    del raw["dates"]["timezone"]
    raw["_embedded"]["venues"][0]["state"]["stateCode"] = "CA"
    state_zone = tm.parse_event(raw)

    assert venue_zone.starts_at == datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    assert event_zone.starts_at == datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
    assert (state_zone.venue.timezone, state_zone.starts_at) == (
        "America/Los_Angeles",
        datetime(2026, 12, 6, 4, 0, tzinfo=UTC),
    )


def test_seatgeek_venue_without_a_state_takes_the_queried_one_unless_outside_the_us() -> None:
    raw = copy.deepcopy(SEATGEEK_EVENT)
    raw["venue"]["state"] = None
    raw["venue"]["country"] = "US"
    abroad = copy.deepcopy(raw)
    abroad["venue"]["country"] = "Brazil"

    assert sg.parse_event(raw, state="ny").venue.state == "NY"
    with pytest.raises(MalformedEvent):
        sg.parse_event(raw)  # nothing queried, nothing known
    with pytest.raises(OutsideUSError) as refused:
        sg.parse_event(abroad, state="NY")
    assert refused.value.reason == "outside the US"


def test_listings_without_performers_take_them_from_the_title() -> None:
    seatgeek_raw = copy.deepcopy(SEATGEEK_EVENT)
    seatgeek_raw["performers"] = []
    ticketmaster_raw = copy.deepcopy(TICKETMASTER_EVENT)
    del ticketmaster_raw["_embedded"]["attractions"]
    ticketmaster_raw["name"] = "Sigur Ros w/ Low - Heima World Tour"

    from_seatgeek = sg.parse_event(seatgeek_raw)
    from_ticketmaster = tm.parse_event(ticketmaster_raw)

    assert [
        (p.name, p.is_headliner, p.billing_order, p.from_title) for p in from_seatgeek.performers
    ] == [
        ("Bruce Springsteen & The E Street Band", True, 1, True),
        ("Yes Tribute", False, 2, True),
    ]
    assert [p.name for p in from_ticketmaster.performers] == ["Sigur Ros", "Low"]
    assert all(p.from_title and not p.spotify_artist_id for p in from_ticketmaster.performers)
    assert from_ticketmaster.genres == ("rock",)  # the event's genre stands for theirs


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://seatgeek.com/e/1", True),
        ("HTTP://www.ticketmaster.com/event/1?x=1", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("/event/1", False),
        ("//evil.example/x", False),
        ("https://", False),
        ("http://[::1", False),
        ("", False),
    ],
)
def test_only_absolute_http_urls_are_kept(url: str, kept: bool) -> None:
    notes: Counter[str] = Counter()
    raw = {**copy.deepcopy(SEATGEEK_EVENT), "url": url}

    event = sg.parse_event(raw, notes=notes)

    assert event.url == (url if kept else "")
    assert sum(notes.values()) == (0 if kept or not url else 1)


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
