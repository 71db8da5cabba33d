"""Build the concerts dataset: every state from every source, deduped, a row per performer."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from etl.sources import Event, EventSource, SourceError, StateFetch
from etl.sources.seatgeek import SeatGeekSource
from etl.sources.ticketmaster import TicketmasterSource
from shared.config import Settings
from shared.datasets import CONCERTS
from shared.names import normalize_name

logger = logging.getLogger(__name__)

ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"
FETCH_WORKERS = 4


class NoEventSourceError(Exception):
    """Neither SeatGeek nor Ticketmaster is configured."""


def make_sources(settings: Settings) -> list[EventSource]:
    """Return the event sources whose keys are set: SeatGeek first, then Ticketmaster."""
    sources: list[EventSource] = []
    if settings.seatgeek_client_id:
        sources.append(
            SeatGeekSource(
                settings.seatgeek_api_base,
                settings.seatgeek_client_id,
                settings.seatgeek_client_secret,
            )
        )
    if settings.ticketmaster_api_key:
        sources.append(
            TicketmasterSource(settings.ticketmaster_api_base, settings.ticketmaster_api_key)
        )
    if not sources:
        raise NoEventSourceError(
            "no event source is configured: set TICKETMASTER_API_KEY (self-serve keys are "
            "issued at once) or SEATGEEK_CLIENT_ID (new SeatGeek keys wait months for approval)"
        )
    return sources


@dataclass
class ConcertsFetch:
    """What fetching every state from every source gave."""

    fetches: list[StateFetch] = field(default_factory=list)
    failed: dict[tuple[str, str], str] = field(default_factory=dict)  # (state, source) -> why

    @property
    def events(self) -> list[Event]:
        return [event for fetch in self.fetches for event in fetch.events]

    @property
    def skipped(self) -> int:
        return sum(fetch.skipped for fetch in self.fetches)

    def requests_by_source(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for fetch in self.fetches:
            counts[fetch.source] = counts.get(fetch.source, 0) + fetch.requests
        return counts


def fetch_concerts(
    sources: Sequence[EventSource],
    states: Sequence[str],
    *,
    since: datetime,
    on_state: Callable[[str, list[StateFetch], dict[str, str]], None] | None = None,
    workers: int = FETCH_WORKERS,
) -> ConcertsFetch:
    """Fetch every state from every source, a few at once; a failure is recorded, never raised.

    Progress is still reported state by state, in order. Each source keeps to its own pace
    (Ticketmaster's client lets through 5 requests a second, whichever thread asks).
    """
    result = ConcertsFetch()
    started = time.monotonic()

    def fetch(source: EventSource, state: str) -> StateFetch | SourceError:
        try:
            return source.fetch_state_events(state, since=since)
        except SourceError as error:
            return error

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {
            (state, source.name): pool.submit(fetch, source, state)
            for state in states
            for source in sources
        }
        for number, state in enumerate(states, start=1):
            state_fetches: list[StateFetch] = []
            state_failures: dict[str, str] = {}
            for source in sources:
                outcome = futures[(state, source.name)].result()
                if isinstance(outcome, SourceError):
                    state_failures[source.name] = str(outcome)
                    result.failed[(state, source.name)] = str(outcome)
                    logger.error(
                        "state fetch failed",
                        extra={"state": state, "source": source.name, "error": str(outcome)},
                    )
                    continue
                state_fetches.append(outcome)
                result.fetches.append(outcome)
            logger.info(
                "state fetched",
                extra={
                    "state": state,
                    "states_done": number,
                    "states_total": len(states),
                    "events": sum(len(f.events) for f in state_fetches),
                    "skipped": sum(f.skipped for f in state_fetches),
                    "failed_sources": sorted(state_failures),
                    "elapsed_s": round(time.monotonic() - started, 1),
                },
            )
            if on_state is not None:
                on_state(state, state_fetches, state_failures)
    return result


def event_identity(event: Event) -> tuple[str, str, str, str]:
    """Return what makes two listings one event: venue, local start, headliner."""
    return (
        normalize_name(event.venue.name).replace(" ", ""),
        event.venue.state,
        event.starts_at_local[:16],
        normalize_name(event.performers[0].name).replace(" ", ""),
    )


def dedupe_events(events: Iterable[Event]) -> tuple[list[Event], int]:
    """Keep each event once (the first source's listing), taking Spotify links from the others."""
    kept: dict[tuple[str, str, str, str], Event] = {}
    duplicates = 0
    for event in events:
        key = event_identity(event)
        first = kept.get(key)
        if first is None:
            kept[key] = event
            continue
        duplicates += 1
        links = {
            normalize_name(p.name): p.spotify_artist_id
            for p in event.performers
            if p.spotify_artist_id
        }
        if links:
            performers = tuple(
                p
                if p.spotify_artist_id
                else dataclasses.replace(p, spotify_artist_id=links.get(normalize_name(p.name), ""))
                for p in first.performers
            )
            kept[key] = dataclasses.replace(first, performers=performers)
    return list(kept.values()), duplicates


def is_upcoming(event: Event, now: datetime) -> bool:
    """Tell whether an event is still to come; one with no time yet counts all its day."""
    if event.time_tbd:
        return event.starts_at + timedelta(days=1) > now
    return event.starts_at >= now


def build_concerts(events: Iterable[Event], *, now: datetime, fetched_at: datetime) -> pd.DataFrame:
    """Explode upcoming events into one row per (event, performer), in the concerts columns."""
    rows = []
    fetched_text = fetched_at.strftime(ISO_UTC)
    for event in events:
        if not is_upcoming(event, now):
            continue
        seen: set[str] = set()
        for performer in event.performers:
            key = normalize_name(performer.name)
            if key in seen:
                continue
            seen.add(key)
            rows.append(
                {
                    "event_id": event.event_id,
                    "source": event.source,
                    "event_title": event.title,
                    "event_url": event.url,
                    "starts_at": event.starts_at.strftime(ISO_UTC),
                    "starts_at_local": event.starts_at_local,
                    "time_tbd": event.time_tbd,
                    "venue_name": event.venue.name,
                    "venue_city": event.venue.city,
                    "venue_state": event.venue.state,
                    "venue_postal_code": event.venue.postal_code,
                    "venue_lat": event.venue.lat,
                    "venue_lon": event.venue.lon,
                    "performer_id": performer.performer_id,
                    "performer_name": performer.name,
                    "is_headliner": performer.is_headliner,
                    "billing_order": performer.billing_order,
                    "genres": "|".join(dict.fromkeys(performer.genres or event.genres)),
                    "source_spotify_artist_id": performer.spotify_artist_id,
                    "fetched_at": fetched_text,
                    "performer_kind": performer.kind,
                }
            )
    frame = pd.DataFrame(rows, columns=[*CONCERTS.column_names, "performer_kind"])
    return sort_concerts(frame)


def carry_over(
    previous: pd.DataFrame,
    fresh: pd.DataFrame,
    *,
    failed: Iterable[tuple[str, str]],
    states_run: Iterable[str],
    now: datetime,
) -> tuple[pd.DataFrame, int]:
    """Add to the fresh rows the upcoming previous rows of states not fetched this time.

    Those are the (state, source) pairs whose fetch failed, and the states this run did not visit.
    """
    failed_pairs, visited = set(failed), set(states_run)
    if previous.empty:
        return fresh, 0
    pairs = zip(previous["venue_state"], previous["source"], strict=True)
    keep = pd.Series(
        [state not in visited or (state, source) in failed_pairs for state, source in pairs],
        index=previous.index,
    )
    keep &= previous["starts_at"] >= now.strftime(ISO_UTC)
    kept = previous[keep]
    if kept.empty:
        return fresh, 0
    merged = (
        pd.concat([fresh, kept], ignore_index=True)
        if not fresh.empty
        else kept.reset_index(drop=True)
    )
    return sort_concerts(merged), len(kept)


def sort_concerts(frame: pd.DataFrame) -> pd.DataFrame:
    """Order rows by start, then event, then billing."""
    if frame.empty:
        return frame.reset_index(drop=True)
    return frame.sort_values(
        ["starts_at", "source", "event_id", "billing_order"], kind="stable"
    ).reset_index(drop=True)
