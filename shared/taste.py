"""A person's taste profile: `taste/<user>.json`, the artists they know and how (issue 17).

With the person's consent (`user-top-read`, `user-follow-read`) the app reads their top artists
in Spotify's three time ranges, every page, and the artists they follow (cursor-paged), and
counts their plays by artist from their listening history when they keep one. For each Spotify
artist id the profile says how the person knows them. The record also holds the sealed grant
that the daily refresh uses; turning taste off, or "Delete my data", deletes the record.

Pages are matched to performers only by Spotify artist id, through the datasets (`artists.csv`
and the serving layout's `spotify_artist_id`): never by name.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from shared.config import Settings
from shared.people.deletion import register
from shared.people.records import PersonRecords, RecordError
from shared.spotify_records import page_items, parse_artist, require_object
from shared.storage import Store

TASTE_SCOPES = "user-top-read user-follow-read"
ACTIVE = "active"
NEEDS_SIGN_IN = "needs_sign_in"
STATUSES = (ACTIVE, NEEDS_SIGN_IN)
# Spotify's /me/top time ranges, as the pages name them.
TIME_RANGES = {
    "short_term": "last 4 weeks",
    "medium_term": "last 6 months",
    "long_term": "all time",
}
PAGE_LIMIT = 50  # the most /me/top and /me/following give a request
# Spotify answers at most a few hundred top artists per range; a page cap keeps a broken
# `next` link (or an endless cursor) from spending the quota.
MAX_PAGES = 6
REFRESH_EVERY = timedelta(hours=20)  # "at most daily", with room for the cron's drift


class TasteError(RecordError):
    """A taste record that cannot be read."""


@dataclass(frozen=True)
class Known:
    """How a person knows one artist."""

    name: str = ""
    top: tuple[str, ...] = ()  # the time ranges the artist is in the person's top of
    followed: bool = False
    plays: int = 0  # plays of 30 s or more in the person's history

    @property
    def label(self) -> str:
        """Say it the way a friend would: "you've played them 212 times", the strongest first."""
        if self.plays >= 2:
            return f"you've played them {self.plays:,} times"
        if self.top:
            return f"in your top artists ({TIME_RANGES.get(self.top[0], self.top[0])})"
        if self.followed:
            return "you follow them"
        return "you've played them once"

    @property
    def weight(self) -> int:
        """Order known artists: most played, then top, then followed."""
        return self.plays * 10 + (5 if self.top else 0) + (3 if self.followed else 0)


@dataclass(frozen=True)
class TasteRecord:
    """Taste on (or paused), the sealed grant, and the profile last read."""

    user_id: str
    sealed_refresh_token: str
    display_name: str = ""
    status: str = ACTIVE
    status_reason: str = ""
    granted_at: str = ""  # ISO UTC
    refreshed_at: str = ""  # ISO UTC: when the profile was last read; "" before the first read
    requests: int = 0  # Spotify requests the last read took
    problem: str = ""  # why the last read failed, for the page
    artists: dict[str, Known] = field(default_factory=dict)  # Spotify artist id -> how known

    def due(self, now: datetime) -> bool:
        """Tell whether the profile should be read again (never read, or read a day ago)."""
        if self.status != ACTIVE:
            return False
        try:
            last = datetime.fromisoformat(self.refreshed_at.replace("Z", "+00:00"))
        except ValueError:
            return True
        return now.astimezone(UTC) - last >= REFRESH_EVERY


def _check(record: TasteRecord) -> str:
    if not record.sealed_refresh_token or record.status not in STATUSES:
        return "it lacks a grant or a status"
    for artist_id, known in record.artists.items():
        if known.plays < 0 or set(known.top) - set(TIME_RANGES):
            return f"artist {artist_id!r} has a wrong top list or play count"
    return ""


TASTE = PersonRecords("taste", "taste/", TasteRecord, TasteError, _check)


def known_artists(store: Store, user_id: str) -> dict[str, Known]:
    """Return the artists a person knows ({} when taste is off or its record is damaged)."""
    try:
        loaded = TASTE.load(store, user_id)
    except TasteError:
        return {}
    return dict(loaded[0].artists) if loaded else {}


# Reading Spotify's answers (real layouts in ../shared/real-api/exports/api/).


@dataclass(frozen=True)
class ArtistPage:
    """One page of artists: (id, name) pairs, what was skipped, and where the next page is."""

    artists: list[tuple[str, str]]
    skipped: int
    next_offset: int | None = None  # /me/top: the next page's offset
    next_after: str | None = None  # /me/following: the next page's cursor


def _artists(items: Iterable[Any]) -> tuple[list[tuple[str, str]], int]:
    found, skipped = [], 0
    for raw in items:
        artist = parse_artist(raw)
        if artist is None or not artist.id:
            skipped += 1
            continue
        found.append((artist.id, artist.name))
    return found, skipped


def parse_top_artists(answer: Any) -> ArtistPage:
    """Read a /me/top/artists page; the next offset is None on the last page.

    Spotify's `next` link carries the offset; it is followed only while the page was full.
    """
    page = require_object(answer, "top artists")
    items = page_items(page, "top artists")
    artists, skipped = _artists(items)
    offset, limit, total = page.get("offset"), page.get("limit"), page.get("total")
    more = bool(page.get("next")) and bool(items)
    next_offset = None
    if more and isinstance(offset, int) and isinstance(limit, int) and limit > 0:
        next_offset = offset + len(items)
        if isinstance(total, int) and next_offset >= total:
            next_offset = None
    return ArtistPage(artists, skipped, next_offset=next_offset)


def parse_followed_artists(answer: Any) -> ArtistPage:
    """Read a /me/following?type=artist page (under "artists"); cursor None on the last page."""
    outer = require_object(answer, "followed artists")
    page = require_object(outer.get("artists"), "followed artists")
    items = page_items(page, "followed artists")
    artists, skipped = _artists(items)
    cursors = page.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    more = bool(page.get("next")) and bool(items) and isinstance(after, str) and bool(after)
    return ArtistPage(artists, skipped, next_after=str(after) if more else None)


def plays_by_artist(plays: pd.DataFrame) -> tuple[Counter[str], dict[str, str]]:
    """Count plays of 30 s or more per Spotify artist id; return the counts and the names.

    Rows without artist ids (Spotify's exports name only the album artist) count for the
    artist of the same track in rows that have ids, never by name.
    """
    counts: Counter[str] = Counter()
    names: dict[str, str] = {}
    if plays.empty:
        return counts, names
    listened = pd.to_numeric(plays["ms_played"], errors="coerce").fillna(30_000) >= 30_000
    rows = plays.loc[listened, ["track_uri", "artist_ids", "artist_names"]].astype(str)
    artists_of_track: dict[str, list[str]] = {}
    for (uri, ids_text, names_text), count in Counter(map(tuple, rows.to_numpy())).items():
        ids, artist_names = _json_list(ids_text), _json_list(names_text)
        if ids and uri:
            artists_of_track.setdefault(uri, ids)
        for index, artist_id in enumerate(ids):
            counts[artist_id] += count
            if index < len(artist_names):
                names.setdefault(artist_id, artist_names[index])
    for (uri, ids_text, _), count in Counter(map(tuple, rows.to_numpy())).items():
        if not _json_list(ids_text) and uri in artists_of_track:
            for artist_id in artists_of_track[uri]:
                counts[artist_id] += count
    return counts, names


def _json_list(text: str) -> list[str]:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return [str(v) for v in value if v] if isinstance(value, list) else []


def build_profile(
    top: dict[str, list[tuple[str, str]]],
    followed: list[tuple[str, str]],
    plays: Counter[str],
    play_names: dict[str, str],
) -> dict[str, Known]:
    """Join what Spotify said and the history into one entry per artist id."""
    names: dict[str, str] = dict(play_names)
    ranges: dict[str, list[str]] = {}
    for time_range in TIME_RANGES:  # short first: "in your top (last 4 weeks)" is the freshest
        for artist_id, name in top.get(time_range, []):
            names[artist_id] = name or names.get(artist_id, "")
            if time_range not in ranges.setdefault(artist_id, []):
                ranges[artist_id].append(time_range)
    follows = set()
    for artist_id, name in followed:
        names[artist_id] = name or names.get(artist_id, "")
        follows.add(artist_id)
    ids = set(ranges) | follows | {a for a, n in plays.items() if n > 0}
    return {
        artist_id: Known(
            names.get(artist_id, ""),
            tuple(ranges.get(artist_id, ())),
            artist_id in follows,
            int(plays.get(artist_id, 0)),
        )
        for artist_id in sorted(ids)
    }


def with_profile(
    record: TasteRecord, artists: dict[str, Known], *, now: datetime, requests: int
) -> TasteRecord:
    """Return the record with a freshly read profile."""
    return replace(
        record,
        artists=artists,
        refreshed_at=now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        requests=requests,
        problem="",
    )


def _sweep(store: Store, user_id: str, settings: Settings) -> int:
    """Delete the grant and the profile."""
    return int(TASTE.delete(store, user_id))


register("taste", "taste", _sweep)
