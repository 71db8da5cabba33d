"""Who reads each chart playlist (issue 18), and what a refusal means for the one who tried.

The operator's playlists are read with the app's own token; a person's with their grant. A
playlist several people track is read once a day, with one grant: whose turns day by day, so
that a person who lost the playlist is found out within as many days as it has trackers.

What a refusal of a person's grant means (PLATFORM.md, Development Mode since 2026-02-11):
- 401, or a grant that cannot be unsealed: the permission is gone; the person is paused;
- 403 on the playlist object itself: the person is no longer on the app's allowlist (every
  request of theirs is refused); the person is paused;
- 403 on the playlist's entries: they no longer own it or collaborate on it; the playlist is
  taken off their record (so the web stops showing it to them) and their record says why;
- 404: the playlist is gone.
After any of these, the next tracker is tried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from etl.chart_read import ChartRead, EntriesRefusedError, fetch_chart_playlist
from etl.report import load_latest_report
from shared.charts import (
    ACTIVE,
    CHART_PEOPLE,
    ChartsError,
    ChartsRecord,
    without_playlist,
)
from shared.config import Settings
from shared.people.deletion import Writes
from shared.people.grants import KEY_ROTATED, NOT_ALLOWLISTED, REVOKED, OpenGrant, pause
from shared.spotify import RequestLedger, SpotifyApi
from shared.spotify_errors import SpotifyRefusedError
from shared.storage import StorageError, Store
from shared.tokens import TokenDecryptError

logger = logging.getLogger(__name__)

OPERATOR = ""  # the reader of the operator's playlists: the app's own token
REFUSED, NOT_FOUND = "refused", "not_found"

# Said to a person on their record (status_reason): the grants module's reasons, and this.
NOT_YOURS_REASON = (
    'Spotify no longer shows us the tracks of your tracked playlist "{name}": you no longer own '
    "it or collaborate on it, so it was taken off your charts."
)

# Said on a playlist's page (about.json's problem).
DEVELOPMENT_MODE_PROBLEM = (
    "Spotify answers 404 (not found) when this app reads this playlist. Spotify-owned playlists "
    "such as the Top 50 and Viral 50 answer 404 to apps in Development Mode since 27 November "
    "2024: tracking them needs Extended Quota, which this app does not have."
)
NOT_FOUND_PROBLEM = (
    "Spotify says this playlist does not exist (it was deleted, or the id is wrong)."
)
NOT_YOURS_PROBLEM = (
    "Spotify no longer shows this playlist's tracks to the person who tracks it: they no longer "
    "own it or collaborate on it (Spotify shows a playlist's tracks only to those)."
)
APP_REFUSED_PROBLEM = (
    "Spotify refuses this playlist's tracks to the app's own token: in Development Mode an app "
    "reads only the playlists a signed-in person owns or collaborates on."
)
APP_CREDENTIALS_PROBLEM = (
    "Spotify refused this app's own credentials (its client id and secret), so the playlists "
    "the operator lists could not be read. The operator must check SPOTIFY_CLIENT_ID and "
    "SPOTIFY_CLIENT_SECRET."
)
SIGN_IN_PROBLEM = (
    "The person who tracks this playlist must sign in again: Spotify no longer accepts the "
    "permission they gave."
)
NOT_ALLOWLISTED_PROBLEM = (
    "Spotify refuses the person who tracks this playlist: they are no longer among the people "
    "this app's owner added in the Spotify dashboard (Development Mode)."
)
OTHER_REFUSAL_PROBLEM = "Spotify refused to show this playlist (it answered {status})."


def plan_playlists(
    operator_playlists: tuple[str, ...], people: dict[str, ChartsRecord], *, rotation: int = 0
) -> dict[str, list[str]]:
    """Return each playlist of the day and who may read it, in order: the operator's app token
    (OPERATOR) first, then the active people who track it, their order turned by `rotation`
    (the day's number: each tracker's grant goes first in turn)."""
    plan: dict[str, list[str]] = {playlist_id: [OPERATOR] for playlist_id in operator_playlists}
    trackers: dict[str, list[str]] = {}
    for user_id, record in sorted(people.items()):
        if record.status != ACTIVE:
            continue
        for playlist in record.playlists:
            plan.setdefault(playlist.playlist_id, [])
            trackers.setdefault(playlist.playlist_id, []).append(user_id)
    for playlist_id, users in trackers.items():
        turn = rotation % len(users)
        plan[playlist_id] += users[turn:] + users[:turn]
    return plan


class Readers:
    """The Spotify clients of a run: the app's own, and each person's, made when first needed."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        ledger: RequestLedger,
        people: dict[str, ChartsRecord],
        api_options: dict[str, Any],
    ) -> None:
        self.store, self.settings, self.ledger = store, settings, ledger
        self.people, self.api_options = people, api_options
        self.clients: dict[str, SpotifyApi] = {}
        self.grants: dict[str, OpenGrant[ChartsRecord]] = {}
        # The deletion protocol: a person who deletes their charts while the run reads with
        # their grant has what the run wrote for them swept again (`finish`).
        self.writes: dict[str, Writes] = {}
        self.paused: dict[str, str] = {}  # person -> why
        self.dropped: list[tuple[str, str]] = []  # (person, playlist) taken off their record

    def api(self, reader: str) -> SpotifyApi:
        """Return the client of a reader; TokenDecryptError when a person's grant is unreadable."""
        if reader not in self.clients:
            if reader == OPERATOR:
                client = SpotifyApi.for_app(self.settings, self.ledger, **self.api_options)
            else:
                self.writes[reader] = Writes(
                    self.store, reader, self.settings, feature=CHART_PEOPLE.feature
                )
                grant = OpenGrant(
                    self.settings, self.people[reader], self.ledger, **self.api_options
                )
                self.grants[reader] = grant
                client = grant.api
            self.clients[reader] = client
        return self.clients[reader]

    def pause(self, user_id: str, reason: str) -> bool:
        """Pause a person (their grant was refused); False when their record could not be."""
        self.paused[user_id] = reason
        try:
            pause(self.store, CHART_PEOPLE, user_id, reason)
        except (ChartsError, StorageError):
            logger.exception("could not pause a person's charts", extra={"user_id": user_id})
            return False
        return True

    def drop(self, user_id: str, playlist_id: str, name: str) -> bool:
        """Take a playlist off a person's record (it is no longer theirs) and say so there."""
        tracked = next(
            (p.name for p in self.people[user_id].playlists if p.playlist_id == playlist_id), ""
        )
        reason = NOT_YOURS_REASON.format(name=(name or tracked or playlist_id)[:200])

        def change(record: ChartsRecord) -> ChartsRecord:
            return replace(without_playlist(record, playlist_id), status_reason=reason)

        changed = self._update(user_id, change, "drop a playlist from")
        if changed:
            self.dropped.append((user_id, playlist_id))
            logger.warning(
                "a playlist is no longer the person's: taken off their charts",
                extra={"user_id": user_id, "playlist_id": playlist_id},
            )
        return changed

    def _update(
        self, user_id: str, change: Callable[[ChartsRecord], ChartsRecord], what: str
    ) -> bool:
        try:
            CHART_PEOPLE.update(self.store, user_id, change)
        except (ChartsError, StorageError):
            logger.exception(f"could not {what} a person's charts", extra={"user_id": user_id})
            return False
        return True

    def finish(self) -> None:
        """Keep the refresh tokens Spotify rotated (unless the person gave a new grant since),
        and finish any delete that came while the run read with a person's grant."""
        for user_id, grant in self.grants.items():
            if self.writes[user_id].finish() or user_id in self.paused:
                continue
            try:
                grant.keep_rotated(self.store, CHART_PEOPLE, user_id)
            except (ChartsError, StorageError):
                logger.exception("could not keep a rotated token", extra={"user_id": user_id})


@dataclass(frozen=True)
class Refusal:
    """Why no reader could read a playlist today: about.json's status and problem."""

    status: str
    problem: str


def read_playlist(
    store: Store, playlist_id: str, who: list[str], readers: Readers
) -> ChartRead | Refusal:
    """Read a playlist with the first reader that may; what the refusals mean is done to each
    refused reader's record on the way (paused, or the playlist taken off it)."""
    refusal = Refusal(REFUSED, SIGN_IN_PROBLEM)
    for reader in who:
        if reader in readers.paused:
            if readers.paused[reader] == NOT_ALLOWLISTED:
                refusal = Refusal(REFUSED, NOT_ALLOWLISTED_PROBLEM)
            continue
        try:
            return fetch_chart_playlist(readers.api(reader), playlist_id)
        except TokenDecryptError:
            readers.pause(reader, KEY_ROTATED)
        except SpotifyRefusedError as error:
            refusal = _refused(store, playlist_id, reader, error, readers) or refusal
    return refusal


def _refused(
    store: Store, playlist_id: str, reader: str, error: SpotifyRefusedError, readers: Readers
) -> Refusal | None:
    """Act on one reader's refusal; return what to say, or None to keep what was said."""
    if reader == OPERATOR:
        return _operator_refused(store, error)
    if error.status == 401:
        readers.pause(reader, REVOKED)
        return None
    if error.status == 404:
        return Refusal(NOT_FOUND, NOT_FOUND_PROBLEM)
    if isinstance(error, EntriesRefusedError):
        readers.drop(reader, playlist_id, error.name)
        return Refusal(REFUSED, NOT_YOURS_PROBLEM)
    if error.status == 403:  # the playlist object itself: the person is refused altogether
        readers.pause(reader, NOT_ALLOWLISTED)
        return Refusal(REFUSED, NOT_ALLOWLISTED_PROBLEM)
    return Refusal(REFUSED, OTHER_REFUSAL_PROBLEM.format(status=error.status))


def _operator_refused(store: Store, error: SpotifyRefusedError) -> Refusal:
    """What a refusal of the app's own token means: a 401 is its client credentials, never
    Development Mode; a 404 is Development Mode unless the build found Extended Quota."""
    if error.status == 404:
        return Refusal(NOT_FOUND, _operator_not_found_problem(store))
    problems = {401: APP_CREDENTIALS_PROBLEM, 403: APP_REFUSED_PROBLEM}
    default = OTHER_REFUSAL_PROBLEM.format(status=error.status)
    return Refusal(REFUSED, problems.get(error.status, default))


def _operator_not_found_problem(store: Store) -> str:
    """A 404 to the app's token is Development Mode unless the build's probe found Extended
    Quota (the latest build report says which mode it found: no request of our own)."""
    report = load_latest_report(store) or {}
    spotify = report.get("spotify")
    mode = spotify.get("mode") if isinstance(spotify, dict) else None
    return NOT_FOUND_PROBLEM if mode == "extended" else DEVELOPMENT_MODE_PROBLEM
