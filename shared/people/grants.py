"""A person's sealed grant: opened for a piece of work, a rotated token kept, a refusal a pause.

Every per-person record that lets the ETL act for a person keeps the same four fields
(`Granted`). `OpenGrant` opens the sealed refresh token and makes the Spotify client; when
Spotify rotates the refresh token during the work, `rotated` keeps the newest, but only if the
record still holds the grant the work opened (a person who signed in again meanwhile gave a
newer one, which must not be overwritten). `pause_reason` is the one set of reasons a refused
grant pauses a feature for, worded the same on every page.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Generic, Protocol, TypeVar, cast

from shared.config import Settings
from shared.people.records import PersonRecords
from shared.spotify import RequestLedger, SpotifyApi, StoredGrant
from shared.spotify_errors import SpotifyRefusedError
from shared.storage import Store
from shared.tokens import TokenBox, TokenDecryptError

logger = logging.getLogger(__name__)

ACTIVE = "active"
NEEDS_SIGN_IN = "needs_sign_in"

# Why a feature is paused: one set, said the same way on every page.
REVOKED = (
    "Spotify no longer accepts the permission you gave us (it was revoked or has expired). "
    "Sign in again to go on."
)
SCOPE_LOST = "Spotify says the permission we hold no longer allows this. Sign in again to go on."
KEY_ROTATED = (
    "Local Shows changed its encryption key, so the permission you gave us can no longer be "
    "read. Sign in again to go on."
)
NOT_ALLOWLISTED = (
    "Spotify refused your account to this app: in Development Mode only the people the app's "
    "owner added in the Spotify dashboard may use it. Ask the owner to add you again, then sign "
    "in again."
)
PAUSE_REASONS = (REVOKED, SCOPE_LOST, KEY_ROTATED, NOT_ALLOWLISTED)


class Granted(Protocol):
    """The fields of a record that holds a person's grant."""

    @property
    def user_id(self) -> str: ...
    @property
    def sealed_refresh_token(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def status_reason(self) -> str: ...


G = TypeVar("G", bound=Granted)


def pause_reason(error: Exception, *, forbidden: str = SCOPE_LOST) -> str:
    """Return why an error pauses the person ("" when it is not their grant's fault).

    `forbidden`: what a 403 means to the feature ("" when a 403 is not about the grant).
    """
    if isinstance(error, TokenDecryptError):
        return KEY_ROTATED
    if isinstance(error, SpotifyRefusedError) and error.status == 401:
        return REVOKED
    if isinstance(error, SpotifyRefusedError) and error.status == 403:
        return forbidden
    return ""


def seal(settings: Settings, refresh_token: str) -> str:
    """Return a refresh token sealed for a record."""
    return TokenBox(settings.token_encryption_key).seal({"refresh_token": refresh_token})


class OpenGrant(Generic[G]):
    """A person's grant opened for one piece of work: the client, and what Spotify rotated."""

    def __init__(
        self,
        settings: Settings,
        record: G,
        ledger: RequestLedger | None = None,
        **api_options: Any,
    ) -> None:
        """Open the record's grant; TokenDecryptError when it cannot be (the key changed)."""
        self.settings = settings
        self.sealed = record.sealed_refresh_token
        box = TokenBox(settings.token_encryption_key)
        self.refresh_token = str(box.open(self.sealed).get("refresh_token", ""))
        self.grant = StoredGrant(settings, self.refresh_token)
        self.api = SpotifyApi.for_stored_grant(settings, self.grant, ledger, **api_options)

    def rotated(self, current: G) -> G:
        """Return the record with the refresh token Spotify rotated, if it did and the record
        still holds the grant this work opened; else the record as it is."""
        if self.grant.refresh_token == self.refresh_token or current.sealed_refresh_token != (
            self.sealed
        ):
            return current
        fresh = seal(self.settings, self.grant.refresh_token)
        return cast(G, replace(cast(Any, current), sealed_refresh_token=fresh))

    def keep_rotated(self, store: Store, records: PersonRecords[G], user_id: str) -> None:
        """Keep a rotated refresh token in the person's record (see `rotated`)."""
        if self.grant.refresh_token != self.refresh_token:
            records.update(store, user_id, self.rotated)


def pause(store: Store, records: PersonRecords[G], user_id: str, reason: str) -> G | None:
    """Pause a person's feature until they sign in again; the page says `reason`."""
    paused = records.update(
        store,
        user_id,
        lambda r: cast(G, replace(cast(Any, r), status=NEEDS_SIGN_IN, status_reason=reason)),
    )
    logger.warning(
        "a person's feature is paused", extra={"user_id": user_id, "feature": records.feature}
    )
    return paused
