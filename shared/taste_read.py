"""Read a person's taste from Spotify and their history, and keep it (issue 17).

`read_profile` reads the top artists of the three time ranges and the followed artists, every
page up to MAX_PAGES a list, and joins the plays of the person's history: a handful of requests.
`refresh_taste` does it with the grant the person left (the daily job and "Refresh now"), and
keeps the refresh token when Spotify rotated it.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from datetime import datetime
from typing import Any

import pandas as pd

from shared.config import Settings
from shared.people.grants import OpenGrant
from shared.people.records import RecordError
from shared.plays import PlaysFileError, empty_plays, load_plays, month_objects, read_month
from shared.spotify import RequestLedger, SpotifyApi
from shared.storage import StorageError, Store
from shared.taste import (
    MAX_PAGES,
    PAGE_LIMIT,
    TASTE,
    TIME_RANGES,
    Known,
    TasteRecord,
    build_profile,
    parse_followed_artists,
    parse_top_artists,
    plays_by_artist,
    with_profile,
)

logger = logging.getLogger(__name__)

REQUEST_KINDS = ("top_artists", "followed_artists")


def fetch_top_artists(api: SpotifyApi, time_range: str) -> list[tuple[str, str]]:
    """Return a time range's top artists, most listened first, reading at most MAX_PAGES."""
    found: list[tuple[str, str]] = []
    offset = 0
    for _ in range(MAX_PAGES):
        page = parse_top_artists(api.top_artists(time_range, offset, PAGE_LIMIT))
        found += page.artists
        _note_skipped(page.skipped, f"top artists ({time_range})")
        # A page that is not full, or has no next, is the last one.
        if len(page.artists) + page.skipped < PAGE_LIMIT or page.next_offset is None:
            return found
        offset = page.next_offset
    logger.warning("top artists cut at the page cap", extra={"time_range": time_range})
    return found


def fetch_followed_artists(api: SpotifyApi) -> list[tuple[str, str]]:
    """Return the artists the person follows, following the `after` cursor at most MAX_PAGES."""
    found: list[tuple[str, str]] = []
    after: str | None = None
    for _ in range(MAX_PAGES):
        page = parse_followed_artists(api.followed_artists(after, PAGE_LIMIT))
        found += page.artists
        _note_skipped(page.skipped, "followed artists")
        if (
            len(page.artists) + page.skipped < PAGE_LIMIT
            or page.next_after is None
            or page.next_after == after  # a cursor that does not move would loop
        ):
            return found
        after = page.next_after
    logger.warning("followed artists cut at the page cap")
    return found


def _note_skipped(skipped: int, what: str) -> None:
    if skipped:
        logger.warning("artists without id or name skipped", extra={"what": what, "n": skipped})


def count_plays(store: Store, user_id: str) -> tuple[Counter[str], dict[str, str]]:
    """Count the person's plays by artist; a damaged month is left out (and logged), not fatal."""
    try:
        plays = load_plays(store, user_id)
    except PlaysFileError as error:
        logger.error(
            "a damaged history month is left out of a taste profile",
            extra={"user_id": user_id, "error": str(error)},
        )
        plays = _readable_plays(store, user_id)
    return plays_by_artist(plays)


def _readable_plays(store: Store, user_id: str) -> pd.DataFrame:
    frames = []
    for name in month_objects(store, user_id):
        try:
            frame, _ = read_month(store, name)
        except PlaysFileError:
            continue
        if len(frame):
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else empty_plays()


def read_profile(api: SpotifyApi, store: Store, user_id: str) -> tuple[dict[str, Known], int]:
    """Read what Spotify says of the person and join their plays; return it and the requests."""
    spent_before = _spent(api.ledger)
    top = {time_range: fetch_top_artists(api, time_range) for time_range in TIME_RANGES}
    followed = fetch_followed_artists(api)
    requests = _spent(api.ledger) - spent_before  # retries included: each is a request
    plays, play_names = count_plays(store, user_id)
    return build_profile(top, followed, plays, play_names), requests


def _spent(ledger: RequestLedger) -> int:
    return sum(ledger.by_kind[kind] for kind in REQUEST_KINDS)


def refresh_taste(
    store: Store,
    settings: Settings,
    record: TasteRecord,
    *,
    now: datetime,
    ledger: RequestLedger | None = None,
    **api_options: Any,
) -> TasteRecord | None:
    """Read the profile with the person's stored grant and keep it ("Refresh now"); None when
    taste went off meanwhile.

    Raises SpotifyError and TokenDecryptError: `shared.people.grants.pause_reason` says which
    of them pause the person.
    """
    grant = OpenGrant(settings, record, ledger, **api_options)
    try:
        profile = read_profile(grant.api, store, record.user_id)
    except Exception:
        # Spotify may have rotated the token before the read failed: keep the newest.
        with contextlib.suppress(RecordError, StorageError):
            grant.keep_rotated(store, TASTE, record.user_id)
        raise
    return keep_profile(store, record.user_id, grant, profile, now)


def keep_profile(
    store: Store,
    user_id: str,
    grant: OpenGrant[TasteRecord],
    profile: tuple[dict[str, Known], int],
    now: datetime,
) -> TasteRecord | None:
    """Keep a profile read with `grant`, and the refresh token if Spotify rotated it."""
    artists, requests = profile
    return TASTE.update(
        store,
        user_id,
        lambda current: grant.rotated(with_profile(current, artists, now=now, requests=requests)),
    )
