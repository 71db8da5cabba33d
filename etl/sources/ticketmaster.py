"""Fetch a state's upcoming concerts from Ticketmaster Discovery, in windows under 1,000 deep."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from etl.sources import (
    DateUnknownError,
    Event,
    EventSource,
    MalformedEvent,
    Performer,
    StateFetch,
    Venue,
    as_dict,
    as_list,
    clean,
    local_midnight,
    performers_from_title,
    require,
    safe_url,
    spotify_artist_id_in,
    to_float,
    venue_state,
    venue_zone,
)
from etl.sources.http import JsonClient
from etl.sources.paging import Paging, fetch_windows
from shared.config import Settings

PAGE_SIZE = 200
MAX_DEPTH = 1000  # Ticketmaster refuses size * page >= 1000
REQUESTS_PER_SECOND = 5
TM_TIME = "%Y-%m-%dT%H:%M:%SZ"
NOT_GENRES = {"undefined", "other", ""}


def _total(answer: dict[str, Any]) -> int:
    total = as_dict(answer.get("page")).get("totalElements")
    return total if isinstance(total, int) else 0


def _events(answer: dict[str, Any]) -> list[Any]:
    # An empty page has no `_embedded` at all.
    events = as_dict(answer.get("_embedded")).get("events")
    return events if isinstance(events, list) else []


PAGING = Paging(
    first_page=0,
    page_size=PAGE_SIZE,
    max_results=MAX_DEPTH,
    refuses_deeper=True,
    total=_total,
    events=_events,
)


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

    def fetch_state_events(self, state: str, *, since: datetime) -> StateFetch:
        """Return every upcoming concert in a state, halving date windows that hold over 1,000."""
        fetched = StateFetch(self.name, state)
        requests_before = self.client.thread_requests()
        fetch_windows(
            fetched,
            PAGING,
            lambda start, end, page: self.client.get(
                self.url, self._params(state, start, end, page)
            ),
            lambda raw, notes: parse_event(raw, state=state, notes=notes),
            since=since,
        )
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


def from_settings(settings: Settings) -> EventSource | None:
    """Return the Ticketmaster source when its API key is set, else None."""
    if not settings.ticketmaster_api_key:
        return None
    return TicketmasterSource(settings.ticketmaster_api_base, settings.ticketmaster_api_key)


def _classification_names(item: dict[str, Any], level: str) -> list[str]:
    names = []
    for classification in as_list(item.get("classifications")):
        if isinstance(classification, dict) and isinstance(classification.get(level), dict):
            name = str(classification[level].get("name") or "").lower()
            if name not in NOT_GENRES:
                names.append(name)
    return names


def _start(raw: dict[str, Any], venue: Venue, what: str) -> tuple[datetime, str, bool]:
    """Return the UTC start, the local start text and whether the time is still unknown.

    `dateTBD`/`dateTBA`: no date yet, nothing to list. `timeTBA`, `noSpecificTime` or no
    `localTime`: the date alone, placed at the venue's local midnight.
    """
    dates = require(raw, "dates", dict, what)
    start = require(dates, "start", dict, what)
    if start.get("dateTBD") is True or start.get("dateTBA") is True:
        raise DateUnknownError(f"{what}: date to be determined")
    try:
        day = date.fromisoformat(require(start, "localDate", str, what))
    except ValueError:
        raise MalformedEvent(f"{what}: unreadable date {start.get('localDate')!r}") from None
    local_time = start.get("localTime")
    if (
        start.get("timeTBA") is True
        or start.get("noSpecificTime") is True
        or not isinstance(local_time, str)
    ):
        zone = venue_zone([venue.timezone], venue.state, what)[1]
        return local_midnight(day, zone), day.isoformat(), True
    try:
        local = datetime.fromisoformat(f"{day.isoformat()}T{local_time}")
        if isinstance(start.get("dateTime"), str):
            starts_at = datetime.fromisoformat(start["dateTime"].replace("Z", "+00:00"))
            starts_at = starts_at.astimezone(UTC)
        else:
            zone = venue_zone([venue.timezone], venue.state, what)[1]
            starts_at = local.replace(tzinfo=zone).astimezone(UTC)
    except ValueError:
        raise MalformedEvent(f"{what}: unreadable start {local_time!r}") from None
    return starts_at, local.isoformat(), False


def _performers(raw: dict[str, Any], embedded: dict[str, Any], what: str) -> tuple[Performer, ...]:
    attractions = [
        a for a in as_list(embedded.get("attractions")) if isinstance(a, dict) and a.get("name")
    ]
    if not attractions:
        # About one music event in ten names no attractions: the act is only in its name.
        from_title = performers_from_title(clean(raw.get("name")))
        if not from_title:
            raise MalformedEvent(f"{what}: no performers and no name")
        return from_title
    return tuple(
        Performer(
            performer_id=str(a.get("id") or ""),
            name=clean(a["name"]),
            is_headliner=order == 0,
            billing_order=order + 1,
            genres=tuple(_classification_names(a, "genre")),
            kind=next(iter(_classification_names(a, "segment")), ""),
            spotify_artist_id=_spotify_id(a),
        )
        for order, a in enumerate(attractions)
    )


def parse_event(
    raw: dict[str, Any], *, state: str = "", notes: Counter[str] | None = None
) -> Event:
    """Turn a Ticketmaster event into an Event; MalformedEvent when it cannot be listed.

    `state` is the state queried: a US venue that names no state is taken to be in it.
    """
    event_id = str(require(raw, "id", str, "event"))
    what = f"ticketmaster event {event_id}"
    embedded = require(raw, "_embedded", dict, what)
    venues = require(embedded, "venues", list, what)
    if not venues or not isinstance(venues[0], dict):
        raise MalformedEvent(f"{what}: no venue")
    venue_raw = venues[0]
    location = as_dict(venue_raw.get("location"))
    code = venue_state(
        as_dict(venue_raw.get("state")).get("stateCode"),
        as_dict(venue_raw.get("country")).get("countryCode"),
        state,
        what,
    )
    # The venue's zone, else the event's, else the state's main one; never UTC for a US venue.
    # A timed event with its UTC start needs none, so a missing zone only fails one without.
    try:
        zone_name = venue_zone(
            [venue_raw.get("timezone"), as_dict(raw.get("dates")).get("timezone")], code, what
        )[0]
    except MalformedEvent:
        zone_name = ""
    venue = Venue(
        name=clean(require(venue_raw, "name", str, what)),
        city=clean(as_dict(venue_raw.get("city")).get("name")),
        state=code,
        postal_code=str(venue_raw.get("postalCode") or ""),
        lat=to_float(location.get("latitude")),
        lon=to_float(location.get("longitude")),
        timezone=zone_name,
    )
    starts_at, local_text, time_tbd = _start(raw, venue, what)
    performers = _performers(raw, embedded, what)
    return Event(
        source="ticketmaster",
        event_id=event_id,
        title=clean(raw.get("name")) or performers[0].name,
        url=safe_url(raw.get("url"), what, notes),
        starts_at=starts_at,
        starts_at_local=local_text,
        time_tbd=time_tbd,
        venue=venue,
        performers=performers,
        genres=tuple(_classification_names(raw, "genre")),
    )


def _spotify_id(attraction: dict[str, Any]) -> str:
    links = as_dict(attraction.get("externalLinks"))
    for link in as_list(links.get("spotify")):
        found = spotify_artist_id_in(link.get("url")) if isinstance(link, dict) else ""
        if found:
            return found
    return ""
