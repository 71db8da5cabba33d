"""Build the concerts dataset: every state from every source, deduped, a row per performer."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from etl.sources import Event, EventSource, SourceError, StateFetch
from shared.datasets import CONCERTS, performer_keys
from shared.names import normalize_name, performer_key

logger = logging.getLogger(__name__)

ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"
FETCH_WORKERS = 4


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

    def notes(self) -> Counter[str]:
        """Return the oddities of kept events (a URL dropped), and events past paging depth."""
        notes: Counter[str] = sum((fetch.notes for fetch in self.fetches), Counter())
        truncated = sum(fetch.truncated for fetch in self.fetches)
        if truncated:
            notes["events past the paging depth, missed"] += truncated
        return notes

    def skipped_reasons(self) -> Counter[str]:
        """Return how many events were skipped for each reason, every state and source."""
        return sum((fetch.skipped_reasons for fetch in self.fetches), Counter())

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
                    "skipped_reasons": dict(
                        sum((f.skipped_reasons for f in state_fetches), Counter[str]())
                    ),
                    "failed_sources": sorted(state_failures),
                    "elapsed_s": round(time.monotonic() - started, 1),
                },
            )
            if on_state is not None:
                on_state(state, state_fetches, state_failures)
    return result


Identity = tuple[str, str, str, str]


def event_identity(event: Event) -> Identity:
    """Return what two listings of one show share: venue, state, local date, headliner.

    The start time is not in it, as one source may not know it yet: see `same_show`.
    """
    return (
        normalize_name(event.venue.name).replace(" ", ""),
        event.venue.state,
        event.starts_at_local[:10],
        normalize_name(event.performers[0].name).replace(" ", ""),
    )


def _clock(event: Event) -> str:
    """Return the local start as HH:MM, or '' when the time is not known yet."""
    return "" if event.time_tbd else event.starts_at_local[11:16]


def same_show(first: Event, other: Event) -> bool:
    """Tell whether two listings of one identity are one show: a time unknown, or the same time.

    Two timed shows of a day (a matinee and an evening) stay two.
    """
    return not _clock(first) or not _clock(other) or _clock(first) == _clock(other)


def dedupe_events(events: Iterable[Event]) -> tuple[list[Event], int]:
    """Keep each show once (the first source's listing), with the others' Spotify links.

    When one listing knows the start time and the kept one does not, the kept one takes it.
    """
    kept: dict[Identity, list[Event]] = {}
    order: list[tuple[Identity, int]] = []
    duplicates = 0
    for event in events:
        identity = event_identity(event)
        listings = kept.setdefault(identity, [])
        index = next((i for i, first in enumerate(listings) if same_show(first, event)), None)
        if index is None:
            order.append((identity, len(listings)))
            listings.append(event)
            continue
        duplicates += 1
        listings[index] = _merged(listings[index], event)
    return [kept[identity][index] for identity, index in order], duplicates


def _merged(first: Event, other: Event) -> Event:
    """Return the first listing with the other's Spotify links, and the other's start if timed."""
    merged = first
    links = {
        normalize_name(p.name): p.spotify_artist_id for p in other.performers if p.spotify_artist_id
    }
    if links:
        performers = tuple(
            p
            if p.spotify_artist_id
            else dataclasses.replace(p, spotify_artist_id=links.get(normalize_name(p.name), ""))
            for p in first.performers
        )
        merged = dataclasses.replace(merged, performers=performers)
    if first.time_tbd and not other.time_tbd:
        merged = dataclasses.replace(
            merged,
            starts_at=other.starts_at,
            starts_at_local=other.starts_at_local,
            time_tbd=False,
        )
    return merged


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
            key = performer_key(performer.name)
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
                    "performer_key": key,
                    "is_headliner": performer.is_headliner,
                    "billing_order": performer.billing_order,
                    "genres": "|".join(dict.fromkeys(performer.genres or event.genres)),
                    "source_spotify_artist_id": performer.spotify_artist_id,
                    "fetched_at": fetched_text,
                    "performer_kind": performer.kind,
                    "performer_from_title": performer.from_title,
                }
            )
    frame = pd.DataFrame(rows, columns=CONCERTS.column_names)
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
    previous = with_performer_keys(previous)
    pairs = zip(previous["venue_state"], previous["source"], strict=True)
    keep = pd.Series(
        [state not in visited or (state, source) in failed_pairs for state, source in pairs],
        index=previous.index,
    )
    # As is_upcoming: a show with no time yet counts all its (local) day.
    tbd = previous["time_tbd"].astype(bool)
    keep &= (previous["starts_at"] >= now.strftime(ISO_UTC)) | (
        tbd & (previous["starts_at"] > (now - timedelta(days=1)).strftime(ISO_UTC))
    )
    kept = previous[keep]
    if kept.empty:
        return fresh, 0
    merged = (
        pd.concat([fresh, kept], ignore_index=True)
        if not fresh.empty
        else kept.reset_index(drop=True)
    )
    return sort_concerts(merged), len(kept)


def with_performer_keys(concerts: pd.DataFrame) -> pd.DataFrame:
    """Return concerts with every row's performer key: rows written before the column get one."""
    return concerts.assign(performer_key=performer_keys(concerts))  # copy-on-write: cheap


def sort_concerts(frame: pd.DataFrame) -> pd.DataFrame:
    """Order rows by start, then event, then billing."""
    if frame.empty:
        return frame.reset_index(drop=True)
    return frame.sort_values(
        ["starts_at", "source", "event_id", "billing_order"], kind="stable"
    ).reset_index(drop=True)
