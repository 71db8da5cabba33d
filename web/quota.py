"""The web's side of the Spotify share (shared/quota.py): a ledger per request, answers kept.

Every Spotify request a page makes, with the session's token or a stored grant, goes through
`request_ledger()`: drawn from the signed-in person's share and all people's, and counted once
when the request ends. A page refused for a spent share answers 429 with a Retry-After until the
next UTC day: the pages that catch Spotify's failures say the refusal's sentence where they say
any other (their 502 becomes a 429 here); a page that does not catch it gets share_spent.html.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from flask import Flask, Response, current_app, g, render_template

from shared.quota import ANSWER_MINUTES, Share, ShareLedger, ShareSpentError
from shared.spotify_records import PlaylistRecord
from shared.storage import StorageError
from web.clock import utc_now
from web.data import app_store

logger = logging.getLogger(__name__)

LEDGER_KEY = "spotify_share"  # in flask.g: this request's ledger
ANSWER_FOR = timedelta(minutes=ANSWER_MINUTES)


def init_app(app: Flask) -> None:
    """Count each request's Spotify requests when it ends; answer 429 when a share is spent."""
    app.teardown_request(settle_share)
    app.after_request(refused_status)
    app.register_error_handler(ShareSpentError, share_spent_page)


def request_ledger() -> ShareLedger:
    """This request's ledger, drawn from the signed-in person's share (made once a request)."""
    ledger = g.get(LEDGER_KEY)
    if not isinstance(ledger, ShareLedger):
        settings = current_app.extensions["settings"]
        share = Share(settings.web_requests_per_person, settings.web_requests_per_day)
        user = g.get("user")
        user_id = str(user["id"]) if isinstance(user, dict) else ""
        ledger = ShareLedger(app_store(), share, now=utc_now(), user_id=user_id)
        setattr(g, LEDGER_KEY, ledger)
    return ledger


def charge_to(user_id: str) -> None:
    """Count this request's Spotify requests as this person's (a sign-in, once Spotify said who)."""
    request_ledger().user_id = user_id


def settle_share(error: BaseException | None = None) -> None:
    """Add what the request spent to the counts (a failure is logged: the page is done)."""
    ledger = g.pop(LEDGER_KEY, None)
    if not isinstance(ledger, ShareLedger):
        return
    try:
        ledger.settle()
    except StorageError as failure:
        logger.error(
            "a page's Spotify requests were not counted",
            extra={"user_id": ledger.user_id, "requests": ledger.spent, "error": str(failure)},
        )


def _retry_after(refused: ShareSpentError) -> str:
    return str(max(1, int((refused.resets_at - utc_now()).total_seconds())))


def refused_status(response: Response) -> Response:
    """A page that failed because a share was spent answers 429, not 5xx: Spotify is fine."""
    ledger = g.get(LEDGER_KEY)
    refused = ledger.refused if isinstance(ledger, ShareLedger) else None
    if refused is not None and response.status_code >= 500:
        response.status_code = 429
        response.headers["Retry-After"] = _retry_after(refused)
    return response


def share_spent_page(error: ShareSpentError) -> tuple[str, int, dict[str, str]]:
    """Say plainly that today's Spotify requests are used up (a page that did not catch it)."""
    page = render_template("share_spent.html", message=str(error), user=g.get("user"))
    return page, 429, {"Retry-After": _retry_after(error)}


def playlists_answer(playlists: list[PlaylistRecord]) -> list[dict[str, Any]]:
    """Playlists as an answer kept for a person (shared/quota.py `save_answer`)."""
    return [asdict(playlist) for playlist in playlists]


def playlists_from(value: Any) -> list[PlaylistRecord] | None:
    """Playlists from a kept answer, or None when it is not one (then Spotify is asked)."""
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        return None
    try:
        playlists = [PlaylistRecord(**entry) for entry in value]
    except TypeError:
        return None
    if not all(isinstance(p.id, str) and isinstance(p.name, str) for p in playlists):
        return None
    return playlists
