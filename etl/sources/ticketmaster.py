"""Fetch a state's upcoming concerts from Ticketmaster Discovery, in windows under 1,000 deep."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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

PAGE_SIZE = 200
MAX_DEPTH = 1000  # Ticketmaster refuses size * page >= 1000
REQUESTS_PER_SECOND = 5
TM_TIME = "%Y-%m-%dT%H:%M:%SZ"
NOT_GENRES = {"undefined", "other", ""}


class TicketmasterSource:
    """Ticketmaster's Discovery API v2, keyed by a self-serve API key."""

    name = "ticketmaster"

    def __init__(self, api_base: str, api_key: str, client: JsonClient | None = None) -> None:
        self.url = api_base.rstrip("/") + "/events.json"
        self.api_key = api_key
        # Stay just under 5 requests a second, so that 429s are rare rather than routine.
        self.client = client or JsonClient(
            self.name, min_interval_seconds=1.05 / REQUESTS_PER_SECOND
        )
        self.truncated = 0

    def fetch_state_events(self, state: str, *, since: datetime) -> StateFetch:
        """Return every upcoming concert in a state, halving date windows that hold over 1,000."""
        fetched = StateFetch(self.name, state)
        requests_before = self.client.thread_requests()
        self._fetch_window(fetched, state, since, None, since=since)
        fetched.requests = self.client.thread_requests() - requests_before
        return fetched

    def _params(
        self, state: str, start: datetime, end: datetime | None, page: int
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "apikey": self.api_key,
            "countryCode": "US",
            "stateCode": state,
            "classificationName": "music",
            "startDateTime": start.astimezone(UTC).strftime(TM_TIME),
            "sort": "date,asc",
            "size": PAGE_SIZE,
            "page": page,
        }
        if end is not None:
            params["endDateTime"] = end.astimezone(UTC).strftime(TM_TIME)
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
        answer = self.client.get(self.url, self._params(state, start, end, 0))
        page_info = as_dict(answer.get("page"))
        total = int(page_info.get("totalElements") or 0)
        if total > MAX_DEPTH:
            parts = split_window(start, end, since=since)
            for part_start, part_end in parts:
                self._fetch_window(fetched, state, part_start, part_end, since=since)
            if parts:
                return
            self.truncated += total - MAX_DEPTH
            logger.warning(
                "more events in one window than Ticketmaster lets us page through; some are missed",
                extra={"state": state, "window_start": start.isoformat(), "events": total},
            )
        page = 0
        while True:
            for raw in as_dict(answer.get("_embedded")).get("events") or []:
                try:
                    fetched.events.append(parse_event(raw))
                except MalformedEvent as error:
                    fetched.skipped += 1
                    logger.warning(
                        "skipped a malformed event",
                        extra={"source": self.name, "state": state, "reason": str(error)},
                    )
            page += 1
            if page * PAGE_SIZE >= min(total, MAX_DEPTH):
                break
            answer = self.client.get(self.url, self._params(state, start, end, page))


def _classification_names(item: dict[str, Any], level: str) -> list[str]:
    names = []
    for classification in item.get("classifications") or []:
        if isinstance(classification, dict) and isinstance(classification.get(level), dict):
            name = str(classification[level].get("name") or "").lower()
            if name not in NOT_GENRES:
                names.append(name)
    return names


def _start(raw: dict[str, Any], timezone: str, what: str) -> tuple[datetime, str, bool]:
    """Return the UTC start, the local start text and whether the time is still to be announced."""
    dates = require(raw, "dates", dict, what)
    start = require(dates, "start", dict, what)
    local_date = start.get("localDate")
    if not isinstance(local_date, str):
        raise MalformedEvent(f"{what}: no start date")
    local_time = start.get("localTime") if isinstance(start.get("localTime"), str) else None
    time_tbd = bool(start.get("timeTBA") or start.get("noSpecificTime") or local_time is None)
    local_text = f"{local_date}T{local_time or '00:00:00'}"
    try:
        local = datetime.fromisoformat(local_text)
        if isinstance(start.get("dateTime"), str):
            return (
                datetime.fromisoformat(start["dateTime"].replace("Z", "+00:00")).astimezone(UTC),
                local_text,
                time_tbd,
            )
        zone = ZoneInfo(timezone) if timezone else UTC
    except (ValueError, ZoneInfoNotFoundError):
        raise MalformedEvent(f"{what}: unreadable start {local_text!r}") from None
    return local.replace(tzinfo=zone).astimezone(UTC), local_text, time_tbd


def parse_event(raw: dict[str, Any]) -> Event:
    """Turn a Ticketmaster event into an Event; MalformedEvent if it lacks what a concert needs."""
    event_id = str(require(raw, "id", str, "event"))
    what = f"ticketmaster event {event_id}"
    embedded = require(raw, "_embedded", dict, what)
    venues = require(embedded, "venues", list, what)
    if not venues or not isinstance(venues[0], dict):
        raise MalformedEvent(f"{what}: no venue")
    venue_raw = venues[0]
    state = as_dict(venue_raw.get("state"))
    location = as_dict(venue_raw.get("location"))
    timezone = str(venue_raw.get("timezone") or as_dict(raw.get("dates")).get("timezone") or "")
    venue = Venue(
        name=str(require(venue_raw, "name", str, what)),
        city=str(as_dict(venue_raw.get("city")).get("name") or ""),
        state=str(require(state, "stateCode", str, what)).upper(),
        postal_code=str(venue_raw.get("postalCode") or ""),
        lat=to_float(location.get("latitude")),
        lon=to_float(location.get("longitude")),
        timezone=timezone,
    )
    attractions = [
        a for a in embedded.get("attractions") or [] if isinstance(a, dict) and a.get("name")
    ]
    if not attractions:
        raise MalformedEvent(f"{what}: no performers")
    performers = tuple(
        Performer(
            performer_id=str(a.get("id") or ""),
            name=str(a["name"]).strip(),
            is_headliner=order == 0,
            billing_order=order + 1,
            genres=tuple(_classification_names(a, "genre")),
            kind=next(iter(_classification_names(a, "segment")), ""),
            spotify_artist_id=_spotify_id(a),
        )
        for order, a in enumerate(attractions)
    )
    starts_at, local_text, time_tbd = _start(raw, timezone, what)
    return Event(
        source="ticketmaster",
        event_id=event_id,
        title=str(raw.get("name") or performers[0].name),
        url=str(raw.get("url") or ""),
        starts_at=starts_at,
        starts_at_local=local_text,
        time_tbd=time_tbd,
        venue=venue,
        performers=performers,
        genres=tuple(_classification_names(raw, "genre")),
    )


def _spotify_id(attraction: dict[str, Any]) -> str:
    links = as_dict(attraction.get("externalLinks"))
    for link in links.get("spotify") or []:
        found = spotify_artist_id_in(link.get("url")) if isinstance(link, dict) else ""
        if found:
            return found
    return ""
