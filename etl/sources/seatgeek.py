"""Fetch a state's upcoming concerts from SeatGeek's /events, every page of them."""

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
from etl.sources.timezones import STATE_TIMEZONES
from shared.config import Settings

PER_PAGE = 50  # SeatGeek's cap since 2023
DEEP_PAGING_LIMIT = 10_000  # past this, paging is unreliable: split the dates instead
SEATGEEK_TIME = "%Y-%m-%dT%H:%M:%S"


def _total(answer: dict[str, Any]) -> int:
    total = as_dict(answer.get("meta")).get("total")
    return total if isinstance(total, int) else len(answer.get("events") or [])


def _events(answer: dict[str, Any]) -> list[Any]:
    events = answer.get("events")
    return events if isinstance(events, list) else []


PAGING = Paging(
    first_page=1,
    page_size=PER_PAGE,
    max_results=DEEP_PAGING_LIMIT,
    refuses_deeper=False,
    total=_total,
    events=_events,
)


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


def from_settings(settings: Settings) -> EventSource | None:
    """Return the SeatGeek source when its client id is set, else None."""
    if not settings.seatgeek_client_id:
        return None
    return SeatGeekSource(
        settings.seatgeek_api_base, settings.seatgeek_client_id, settings.seatgeek_client_secret
    )


def parse_time(text: str, what: str) -> datetime:
    """Parse SeatGeek's naive UTC time ('2026-12-01T01:00:00')."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        raise MalformedEvent(f"{what}: unreadable time {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def spotify_id_from_links(links: Any) -> str:
    """Return the Spotify artist id among a performer's links, or ''.

    A link's `id` is a Spotify URI ("spotify:artist:..."), as on /performers/{id}.
    """
    for link in links if isinstance(links, list) else []:
        found = spotify_artist_id_in(as_dict(link).get("id"))
        if found:
            return found
    return ""


def _performers(raw: dict[str, Any], what: str) -> tuple[Performer, ...]:
    named = [p for p in as_list(raw.get("performers")) if isinstance(p, dict) and p.get("name")]
    if not named:
        # A listing without named performers keeps its show: its title names the act.
        from_title = performers_from_title(clean(raw.get("title")))
        if not from_title:
            raise MalformedEvent(f"{what}: no named performers and no title")
        return from_title
    # The headliner is the performer marked primary (else the first); the rest keep their order.
    # Only the primary one carries `primary`: the others have no such key at all.
    headliner = next((p for p in named if p.get("primary") is True), named[0])
    ordered = [headliner] + [p for p in named if p is not headliner]
    return tuple(
        Performer(
            performer_id=str(p.get("id") or ""),
            name=clean(p["name"]),
            is_headliner=order == 0,
            billing_order=order + 1,
            genres=tuple(
                str(g.get("slug") or g.get("name") or "").lower()
                for g in as_list(p.get("genres"))
                if isinstance(g, dict)
            ),
            kind=clean(p.get("type")),
            spotify_artist_id=spotify_id_from_links(p.get("links")),
        )
        for order, p in enumerate(ordered)
    )


def _start(raw: dict[str, Any], venue: Venue, what: str) -> tuple[datetime, str, bool]:
    """Return the UTC start, the local start text and whether the time is still unknown.

    SeatGeek's flags (its own docs, quoted in gist citrus/291cff9acec2352d4ac4dcf1f6812578):
    `time_tbd` means "datetime_local will contain the sentinel value of 3:30am as well as the
    correct date"; `date_tbd` means "datetime_utc and datetime_local should be treated as
    estimates". `datetime_tbd` is not in those docs; a recorded event that has it (id 6077353,
    in a public model class's doc comment found by code search) has `date_tbd` and `time_tbd`
    true with it and a placeholder date (Dec 31, 03:30): so it too means the date is unknown.
    """
    if raw.get("date_tbd") is True or raw.get("datetime_tbd") is True:
        raise DateUnknownError(f"{what}: date to be determined")
    local_text = str(raw.get("datetime_local") or "")[:19]
    if raw.get("time_tbd") is not True:
        starts_at = parse_time(require(raw, "datetime_utc", str, what), what)
        try:
            local_text = datetime.fromisoformat(local_text).strftime(SEATGEEK_TIME)
        except ValueError:
            zone = venue_zone([venue.timezone], venue.state, what)[1]
            local_text = starts_at.astimezone(zone).strftime(SEATGEEK_TIME)
        return starts_at, local_text, False
    # Time to be announced: the date is right, the 03:30 is a sentinel. Keep the date alone.
    zone = venue_zone([venue.timezone], venue.state, what)[1]
    try:
        day = date.fromisoformat(local_text[:10])
    except ValueError:
        day = parse_time(require(raw, "datetime_utc", str, what), what).astimezone(zone).date()
    return local_midnight(day, zone), day.isoformat(), True


def parse_event(
    raw: dict[str, Any], *, state: str = "", notes: Counter[str] | None = None
) -> Event:
    """Turn a SeatGeek event into an Event; MalformedEvent when it cannot be listed.

    `state` is the state queried: a US venue that names no state is taken to be in it.
    """
    event_id = str(require(raw, "id", (int, str), "event"))
    what = f"seatgeek event {event_id}"
    venue_raw = require(raw, "venue", dict, what)
    location = as_dict(venue_raw.get("location"))
    code = venue_state(venue_raw.get("state"), venue_raw.get("country"), state, what)
    venue = Venue(
        name=clean(require(venue_raw, "name", str, what)),
        city=clean(venue_raw.get("city")),
        state=code,
        postal_code=str(venue_raw.get("postal_code") or ""),
        lat=to_float(location.get("lat")),
        lon=to_float(location.get("lon")),
        timezone=str(venue_raw.get("timezone") or STATE_TIMEZONES.get(code, "")),
    )
    starts_at, local_text, time_tbd = _start(raw, venue, what)
    performers = _performers(raw, what)
    return Event(
        source="seatgeek",
        event_id=event_id,
        title=clean(raw.get("title")) or performers[0].name,
        url=safe_url(raw.get("url"), what, notes),
        starts_at=starts_at,
        starts_at_local=local_text,
        time_tbd=time_tbd,
        venue=venue,
        performers=performers,
        genres=tuple(g for p in performers for g in p.genres),
    )
