"""One paging loop for every source, and one registry of sources."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from etl.sources import DateUnknownError, MalformedEvent, StateFetch
from etl.sources.paging import Paging, fetch_windows
from etl.sources.registry import NoEventSourceError, make_sources
from shared.config import Settings

SINCE = datetime(2026, 11, 20, tzinfo=UTC)


def page_server(
    times: list[datetime], per_page: int, first_page: int, *, refuse_past: int | None = None
) -> tuple[list[tuple[datetime, datetime | None, int]], Any]:
    """Return the calls made and a get_page serving events at `times`, by window and page."""
    calls: list[tuple[datetime, datetime | None, int]] = []

    def get_page(start: datetime, end: datetime | None, page: int) -> dict[str, Any]:
        calls.append((start, end, page))
        index = page - first_page
        if refuse_past is not None and index * per_page >= refuse_past:
            raise AssertionError("paged deeper than the source allows")
        chosen = [n for n, t in enumerate(times) if t >= start and (end is None or t <= end)]
        served = chosen[index * per_page : (index + 1) * per_page]
        return {"total": len(chosen), "events": [{"n": n} for n in served]}

    return calls, get_page


def fake_paging(first_page: int, size: int, most: int, refuses: bool) -> Paging:
    return Paging(first_page, size, most, refuses, lambda a: a["total"], lambda a: a["events"])


def parse_number(raw: Any, notes: Counter[str]) -> Any:
    if raw["n"] % 10 == 3:
        raise MalformedEvent("garbled")
    if raw["n"] % 10 == 7:
        raise DateUnknownError("no date")
    return raw["n"]


def test_paging_reads_every_page_and_counts_skips_by_reason() -> None:
    times = [SINCE + timedelta(hours=n) for n in range(120)]
    calls, get_page = page_server(times, per_page=50, first_page=1)
    fetched = StateFetch("seatgeek", "NY")

    fetch_windows(fetched, fake_paging(1, 50, 10_000, False), get_page, parse_number, since=SINCE)

    assert [page for _, _, page in calls] == [1, 2, 3]
    assert len(fetched.events) == 96
    assert fetched.skipped_reasons == {"malformed": 12, "date to be determined": 12}
    assert fetched.skipped == 24


def test_paging_splits_a_deep_window_then_truncates_what_it_cannot_split() -> None:
    # 1,200 shows over 50 days, and a festival of 1,500 acts all at one minute.
    times = sorted(
        [SINCE + timedelta(hours=n) for n in range(1200)] + [SINCE + timedelta(days=20)] * 1500
    )
    calls, get_page = page_server(times, per_page=200, first_page=0, refuse_past=1000)
    fetched = StateFetch("ticketmaster", "CA")

    fetch_windows(
        fetched,
        fake_paging(0, 200, 1000, True),
        get_page,
        lambda raw, notes: raw["n"],
        since=SINCE,
    )

    festival = [(s, e) for s, e, _ in calls if s <= SINCE + timedelta(days=20) <= (e or s)]
    # The festival's window could not be split below an hour: the 1,000 it lets us page
    # through are read (with the hourly show of that hour), the rest counted as truncated.
    assert festival[-1][1] is not None and festival[-1][1] - festival[-1][0] <= timedelta(hours=1)
    assert fetched.truncated == 501
    assert len(fetched.events) + fetched.truncated == len(times)
    assert len(set(fetched.events)) == len(fetched.events)  # no window read twice


def test_registry_makes_each_configured_source_in_order(settings: Settings) -> None:
    both_keys = dataclasses.replace(settings, seatgeek_client_id="id", ticketmaster_api_key="key")
    ticketmaster_only = dataclasses.replace(settings, ticketmaster_api_key="key")

    assert [s.name for s in make_sources(both_keys)] == ["seatgeek", "ticketmaster"]
    assert [s.name for s in make_sources(ticketmaster_only)] == ["ticketmaster"]
    with pytest.raises(NoEventSourceError, match="TICKETMASTER_API_KEY"):
        make_sources(settings)
