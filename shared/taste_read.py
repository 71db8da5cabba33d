"""Read a person's taste from Spotify and their history, and keep it (issue 17).

`read_profile` reads the top artists of the three time ranges and the followed artists, every
page up to MAX_PAGES a list, and joins the plays of the person's history: a handful of requests.
`refresh_taste` does it with the grant the person left (the daily job and "Refresh now"), and
keeps the refresh token when Spotify rotated it.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from datetime import datetime
from typing import Any

import pandas as pd

from shared.config import Settings
from shared.plays import PlaysFileError, empty_plays, load_plays, month_objects, read_month
from shared.spotify import RequestLedger, SpotifyApi, SpotifyRefusedError, StoredGrant
from shared.storage import Store
from shared.taste import (
    MAX_PAGES,
    NEEDS_SIGN_IN,
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
from shared.tokens import TokenBox, TokenDecryptError

logger = logging.getLogger(__name__)

REQUEST_KINDS = ("top_artists", "followed_artists")
REVOKED_REASON = (
    "Spotify no longer accepts the permission you gave us to read your top and followed artists "
    "(it was revoked or expired), so your taste is no longer refreshed."
)
SCOPE_LOST_REASON = (
    "Spotify says the permission we hold may no longer read your top or followed artists, so "
    "your taste is no longer refreshed."
)
KEY_ROTATED_REASON = (
    "Local Shows changed its encryption key, so the permission you gave us can no longer be "
    "read; your taste is no longer refreshed."
)


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
    """Read the profile with the person's stored grant and keep it; None when taste went off.

    Raises SpotifyError (SpotifyRefusedError 401 when the grant is refused) and
    TokenDecryptError (the key changed): `pause_reason` says which of them pause the person.
    """
    box = TokenBox(settings.token_encryption_key)
    refresh_token = str(box.open(record.sealed_refresh_token).get("refresh_token", ""))
    grant = StoredGrant(settings, refresh_token)
    api = SpotifyApi.for_stored_grant(settings, grant, ledger, **api_options)
    artists, requests = read_profile(api, store, record.user_id)

    def kept(current: TasteRecord) -> TasteRecord:
        changed = with_profile(current, artists, now=now, requests=requests)
        # Spotify rotated the token: keep the newest, unless the person gave a new grant since.
        if (
            grant.refresh_token != refresh_token
            and current.sealed_refresh_token == record.sealed_refresh_token
        ):
            changed = replace(
                changed, sealed_refresh_token=box.seal({"refresh_token": grant.refresh_token})
            )
        return changed

    return TASTE.update(store, record.user_id, kept)


def pause_reason(error: Exception) -> str:
    """Return why an error pauses the person's taste ("" when it is not their grant's fault)."""
    if isinstance(error, TokenDecryptError):
        return KEY_ROTATED_REASON
    if isinstance(error, SpotifyRefusedError) and error.status == 401:
        return REVOKED_REASON
    if isinstance(error, SpotifyRefusedError) and error.status == 403:
        return SCOPE_LOST_REASON
    return ""


def pause_taste(store: Store, user_id: str, reason: str) -> None:
    """Stop refreshing a person's taste until they give the permission again."""
    TASTE.update(
        store, user_id, lambda r: replace(r, status=NEEDS_SIGN_IN, status_reason=reason, problem="")
    )
    logger.warning("a person's taste is paused", extra={"user_id": user_id})
