"""The sandbox's SeatGeek and Ticketmaster stand-ins filter and page as the real APIs do."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from sandbox.geo_filter import miles_between
from sandbox.server import SandboxServer


def seatgeek(sandbox: SandboxServer, **params: Any) -> requests.Response:
    return requests.get(
        f"{sandbox.url}/seatgeek/2/events",
        params={"client_id": "sandbox-seatgeek", **params},
        timeout=10,
    )


def ticketmaster(sandbox: SandboxServer, **params: Any) -> requests.Response:
    return requests.get(
        f"{sandbox.url}/ticketmaster/discovery/v2/events.json",
        params={"apikey": "sandbox-ticketmaster", **params},
        timeout=10,
    )


def busiest_state(world: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for event in world["seatgeek"]["events"]:
        counts[event["venue"]["state"]] = counts.get(event["venue"]["state"], 0) + 1
    return max(counts, key=lambda state: counts[state])


def test_seatgeek_needs_a_client_id(sandbox: SandboxServer) -> None:
    answer = requests.get(f"{sandbox.url}/seatgeek/2/events", timeout=5)

    assert answer.status_code == 403


def test_seatgeek_caps_per_page_at_50_and_pages_to_meta_total(
    sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    state = busiest_state(small_world)
    expected = {e["id"] for e in small_world["seatgeek"]["events"] if e["venue"]["state"] == state}

    first = seatgeek(sandbox, **{"venue.state": state, "per_page": 500}).json()
    seen: list[int] = []
    page = 1
    while True:
        answer = seatgeek(sandbox, **{"venue.state": state, "per_page": 50, "page": page}).json()
        seen += [e["id"] for e in answer["events"]]
        if page * 50 >= answer["meta"]["total"]:
            break
        page += 1

    assert first["meta"]["per_page"] == 50 and len(first["events"]) == min(50, len(expected))
    assert first["meta"]["total"] == len(expected) > 50
    assert len(seen) == len(set(seen)) and set(seen) == expected


def test_seatgeek_filters(sandbox: SandboxServer, small_world: dict[str, Any]) -> None:
    event = small_world["seatgeek"]["events"][0]
    venue = event["venue"]
    starts = datetime.fromisoformat(event["datetime_utc"]).replace(tzinfo=UTC)
    window = {
        "datetime_utc.gte": (starts - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
        "datetime_utc.lte": (starts + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
    }

    by_city = seatgeek(
        sandbox, **{"venue.state": venue["state"], "venue.city": venue["city"], "per_page": 50}
    ).json()
    by_time = seatgeek(sandbox, **window, per_page=50).json()
    near = seatgeek(
        sandbox,
        lat=venue["location"]["lat"],
        lon=venue["location"]["lon"],
        range="10mi",
        per_page=50,
    ).json()
    concerts = seatgeek(sandbox, **{"taxonomies.name": "concert"}).json()
    sports = seatgeek(sandbox, **{"taxonomies.name": "sports"}).json()
    ordered = seatgeek(sandbox, sort="datetime_utc.asc", per_page=50).json()

    assert by_city["events"] and all(e["venue"]["city"] == venue["city"] for e in by_city["events"])
    assert event["id"] in [e["id"] for e in by_time["events"]]
    assert all(
        abs(datetime.fromisoformat(e["datetime_utc"]).replace(tzinfo=UTC) - starts)
        <= timedelta(hours=1)
        for e in by_time["events"]
    )
    assert near["events"] and all(
        miles_between(
            venue["location"]["lat"],
            venue["location"]["lon"],
            e["venue"]["location"]["lat"],
            e["venue"]["location"]["lon"],
        )
        <= 10
        for e in near["events"]
    )
    assert concerts["meta"]["total"] == len(small_world["seatgeek"]["events"])
    assert sports["meta"]["total"] == 0
    times = [e["datetime_utc"] for e in ordered["events"]]
    assert times == sorted(times)


def test_seatgeek_bad_parameter_is_400(sandbox: SandboxServer) -> None:
    assert seatgeek(sandbox, **{"datetime_utc.gte": "next tuesday"}).status_code == 400


def test_ticketmaster_needs_an_api_key(sandbox: SandboxServer) -> None:
    answer = requests.get(f"{sandbox.url}/ticketmaster/discovery/v2/events.json", timeout=5)

    assert answer.status_code == 401
    assert answer.json()["fault"]["detail"]["errorcode"] == "oauth.v2.InvalidApiKey"


def test_ticketmaster_filters_and_pages(
    sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    by_state = Counter(
        e["_embedded"]["venues"][0]["state"]["stateCode"]
        for e in small_world["ticketmaster"]["events"]
    )
    state = by_state.most_common(1)[0][0]  # the busiest: more than one page of 50
    expected = {
        e["id"]
        for e in small_world["ticketmaster"]["events"]
        if e["_embedded"]["venues"][0]["state"]["stateCode"] == state
    }

    first = ticketmaster(
        sandbox, stateCode=state, classificationName="music", size=50, sort="date,asc"
    ).json()
    seen = []
    for number in range(first["page"]["totalPages"]):
        seen += [
            e["id"]
            for e in ticketmaster(sandbox, stateCode=state, size=50, page=number).json()[
                "_embedded"
            ]["events"]
        ]

    assert first["page"]["totalElements"] == len(expected) > 50
    assert set(seen) == expected and len(seen) == len(expected)
    assert ticketmaster(sandbox, size=500).json()["page"]["size"] == 200


def test_ticketmaster_date_window(sandbox: SandboxServer, small_world: dict[str, Any]) -> None:
    event = next(
        e for e in small_world["ticketmaster"]["events"] if "dateTime" in e["dates"]["start"]
    )
    starts = datetime.fromisoformat(event["dates"]["start"]["dateTime"].replace("Z", "+00:00"))
    window = {
        "startDateTime": (starts - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endDateTime": (starts + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }

    found = ticketmaster(sandbox, **window, size=200).json()["_embedded"]["events"]

    assert event["id"] in [e["id"] for e in found]


def test_ticketmaster_refuses_paging_deeper_than_1000(sandbox: SandboxServer) -> None:
    too_deep = ticketmaster(sandbox, size=200, page=5)
    just_fits = ticketmaster(sandbox, size=199, page=5)

    assert too_deep.status_code == 400
    assert too_deep.json()["errors"][0]["code"] == "DIS1035"
    assert just_fits.status_code == 200


def test_ticketmaster_empty_answer_has_no_embedded(sandbox: SandboxServer) -> None:
    answer = ticketmaster(sandbox, stateCode="CA", city="Nowhere").json()

    assert "_embedded" not in answer
    assert answer["page"]["totalElements"] == 0


def test_ticketmaster_allows_5_requests_a_second(sandbox: SandboxServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    # Sent all at once, so that they land within one second even on a slow machine.
    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(lambda _: ticketmaster(sandbox, size=1).status_code, range(10)))

    assert 1 <= codes.count(200) <= 5
    assert codes.count(429) >= 5
    stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()
    assert stats["status_429"]["rate_limit"] == codes.count(429)
