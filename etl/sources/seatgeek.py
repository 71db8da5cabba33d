"""Fetch a state's upcoming concerts from SeatGeek's /events, every page of them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from etl.sources import (
    Event,
    MalformedEvent,
    Performer,
    StateFetch,
    Venue,
    as_dict,
    require,
    split_window,
    spotify_artist_id_in,
    to_float,
)
from etl.sources.http import JsonClient

logger = logging.getLogger(__name__)

PER_PAGE = 50  # SeatGeek's cap since 2023
DEEP_PAGING_LIMIT = 10_000  # past this, paging is unreliable: split the dates instead
SEATGEEK_TIME = "%Y-%m-%dT%H:%M:%S"


class SeatGeekSource:
    """SeatGeek's Platform API, keyed by client id (and optional secret)."""

    name = "seatgeek"

    def __init__(
        self,
        api_base: str,
        client_id: str,
        client_secret: str | None = None,
        client: JsonClient | None = None,
    ) -> None:
        self.url = api_base.rstrip("/") + "/events"
        self.auth = {
            "client_id": client_id,
            **({"client_secret": client_secret} if client_secret else {}),
        }
        self.client = client or JsonClient(self.name)

    def fetch_state_events(self, state: str, *, since: datetime) -> StateFetch:
        """Return every upcoming concert in a state, splitting the dates if there are too many."""
        fetched = StateFetch(self.name, state)
        requests_before = self.client.thread_requests()
        self._fetch_window(fetched, state, since, None, since=since)
        fetched.requests = self.client.thread_requests() - requests_before
        return fetched

    def _params(
        self, state: str, start: datetime, end: datetime | None, page: int
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            **self.auth,
            "venue.state": state,
            "taxonomies.name": "concert",
            "datetime_utc.gte": start.astimezone(UTC).strftime(SEATGEEK_TIME),
            "sort": "datetime_utc.asc",
            "per_page": PER_PAGE,
            "page": page,
        }
        if end is not None:
            params["datetime_utc.lte"] = end.astimezone(UTC).strftime(SEATGEEK_TIME)
        return params

    def _fetch_window(
        self,
        fetched: StateFetch,
        state: str,
        start: datetime,
        end: datetime | None,
        *,
        since: datetime,
    ) -> None:
        first = self.client.get(self.url, self._params(state, start, end, 1))
        total = _total(first)
        parts = split_window(start, end, since=since) if total > DEEP_PAGING_LIMIT else []
        for part_start, part_end in parts:
            self._fetch_window(fetched, state, part_start, part_end, since=since)
        if parts:
            return
        if total > DEEP_PAGING_LIMIT:
            logger.warning(
                "more events in one window than SeatGeek pages reliably; some may be missed",
                extra={"state": state, "window_start": start.isoformat(), "events": total},
            )
        page, answer = 1, first
        while True:
            for raw in answer.get("events") or []:
                try:
                    fetched.events.append(parse_event(raw))
                except MalformedEvent as error:
                    fetched.skipped += 1
                    logger.warning(
                        "skipped a malformed event",
                        extra={"source": self.name, "state": state, "reason": str(error)},
                    )
            if page * PER_PAGE >= total or not answer.get("events"):
                break
            page += 1
            answer = self.client.get(self.url, self._params(state, start, end, page))


def _total(answer: dict[str, Any]) -> int:
    meta = answer.get("meta")
    total = meta.get("total") if isinstance(meta, dict) else None
    return total if isinstance(total, int) else len(answer.get("events") or [])


def parse_time(text: str, what: str) -> datetime:
    """Parse SeatGeek's naive UTC time ('2026-12-01T01:00:00')."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        raise MalformedEvent(f"{what}: unreadable time {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def spotify_id_from_links(links: Any) -> str:
    """Return the Spotify artist id among a performer's links, or ''."""
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, dict):
            continue
        found = spotify_artist_id_in(link.get("id")) or spotify_artist_id_in(link.get("url"))
        if found:
            return found
    return ""


def parse_event(raw: dict[str, Any]) -> Event:
    """Turn a SeatGeek event into an Event; MalformedEvent when it lacks what a concert needs."""
    event_id = str(require(raw, "id", (int, str), "event"))
    what = f"seatgeek event {event_id}"
    venue_raw = require(raw, "venue", dict, what)
    location = as_dict(venue_raw.get("location"))
    venue = Venue(
        name=str(require(venue_raw, "name", str, what)),
        city=str(venue_raw.get("city") or ""),
        state=str(require(venue_raw, "state", str, what)).upper(),
        postal_code=str(venue_raw.get("postal_code") or ""),
        lat=to_float(location.get("lat")),
        lon=to_float(location.get("lon")),
        timezone=str(venue_raw.get("timezone") or ""),
    )
    performers_raw = [
        p for p in require(raw, "performers", list, what) if isinstance(p, dict) and p.get("name")
    ]
    if not performers_raw:
        raise MalformedEvent(f"{what}: no named performers")
    # The headliner is the performer marked primary (else the first); the rest keep their order.
    headliner = next((p for p in performers_raw if p.get("primary")), performers_raw[0])
    ordered = [headliner] + [p for p in performers_raw if p is not headliner]
    performers = tuple(
        Performer(
            performer_id=str(p.get("id") or ""),
            name=str(p["name"]).strip(),
            is_headliner=order == 0,
            billing_order=order + 1,
            genres=tuple(
                str(g.get("slug") or g.get("name") or "").lower()
                for g in p.get("genres") or []
                if isinstance(g, dict)
            ),
            kind=str(p.get("type") or ""),
            spotify_artist_id=spotify_id_from_links(p.get("links")),
        )
        for order, p in enumerate(ordered)
    )
    starts_at = parse_time(require(raw, "datetime_utc", str, what), what)
    local = str(raw.get("datetime_local") or "")
    return Event(
        source="seatgeek",
        event_id=event_id,
        title=str(raw.get("title") or headliner["name"]),
        url=str(raw.get("url") or ""),
        starts_at=starts_at,
        starts_at_local=local[:19],
        time_tbd=bool(raw.get("time_tbd") or raw.get("datetime_tbd")),
        venue=venue,
        performers=performers,
        genres=tuple(g for p in performers for g in p.genres),
    )
