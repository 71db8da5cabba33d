"""Talk to the Spotify Web API through spotipy: one budget, one retry loop, parsed records."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import spotipy
from spotipy.cache_handler import CacheHandler, MemoryCacheHandler
from spotipy.oauth2 import SpotifyClientCredentials, SpotifyOAuth, SpotifyOauthError

from shared.config import Settings
from shared.spotify_errors import (
    BudgetExhaustedError,
    QuotaExhaustedError,
    SpotifyError,
    SpotifyRefusedError,
    SpotifyShapeError,
    SpotifyUnavailableError,
)
from shared.spotify_records import (
    ArtistRecord,
    PlaylistItem,
    PlaylistRecord,
    TrackRecord,
    UserRecord,
    items_of,
    page_items,
    parse_artist,
    parse_created_playlist,
    parse_playlist,
    parse_playlist_item,
    parse_track,
    parse_user,
    require_object,
)

__all__ = [
    "BudgetExhaustedError",
    "QuotaExhaustedError",
    "SpotifyError",
    "SpotifyRefusedError",
    "SpotifyShapeError",
    "SpotifyUnavailableError",
]

logger = logging.getLogger(__name__)
# spotipy logs every refusal at ERROR, the expected ones too (a Development Mode probe, a short
# 429); this module decides what is an error and logs it itself.
logging.getLogger("spotipy.client").setLevel(logging.CRITICAL)

QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
RETRY_STATUSES = {500, 502, 503, 504}
MAX_ITEMS_PER_WRITE = 100  # Spotify refuses more in one playlist write
# What the web asks of a user: to read their playlists (to refresh ours in place, and to offer
# their own as a backup source) and to write private ones. Nothing else.
USER_SCOPES = "playlist-read-private playlist-modify-private"


@dataclass
class RequestLedger:
    """Every Spotify request a run made, by kind, against its budget."""

    budget: int | None = None
    spent: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    status_429: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def left(self) -> int | None:
        return None if self.budget is None else max(0, self.budget - self.spent)

    def charge(self, kind: str) -> None:
        with self.lock:
            if self.budget is not None and self.spent >= self.budget:
                raise BudgetExhaustedError(
                    f"the run's budget of {self.budget} Spotify requests is spent"
                )
            self.spent += 1
            self.by_kind[kind] += 1

    def count(self, counter: Counter[str], key: str) -> None:
        with self.lock:
            counter[key] += 1


def quoted(name: str) -> str:
    """Return a name as a quoted search phrase (a quote inside would end the phrase)."""
    return '"' + name.replace('"', " ").strip() + '"'


class SpotifyApi:
    """Spotify calls with a budget, bounded retries and a deadline; spotipy never sleeps."""

    def __init__(
        self,
        client: spotipy.Spotify,
        ledger: RequestLedger | None = None,
        *,
        deadline: float | None = None,
        max_attempts: int = 5,
        max_wait_seconds: float = 120.0,
        backoff_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ledger = ledger or RequestLedger()
        self.deadline = deadline
        self.max_attempts = max_attempts
        self.max_wait_seconds = max_wait_seconds
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
        self.clock = clock
        self._jitter = random.Random()  # noqa: S311 (spreads retries; not security)

    @classmethod
    def for_app(
        cls, settings: Settings, ledger: RequestLedger | None = None, **options: Any
    ) -> SpotifyApi:
        """Return a client with the app's own token (client credentials), as the ETL uses."""
        auth = SpotifyClientCredentials(
            settings.spotify_client_id,
            settings.spotify_client_secret,
            cache_handler=MemoryCacheHandler(),
            requests_timeout=10,
        )
        auth.OAUTH_TOKEN_URL = settings.spotify_accounts_base + "api/token"
        return cls(make_spotipy(settings, auth), ledger, **options)

    @classmethod
    def for_stored_grant(
        cls,
        settings: Settings,
        grant: StoredGrant,
        ledger: RequestLedger | None = None,
        **options: Any,
    ) -> SpotifyApi:
        """Return a client acting for a user from their stored refresh token (the ETL's backups)."""
        return cls(make_spotipy(settings, grant), ledger, **options)

    def call(self, kind: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Make one API call, retrying 5xx and short 429s; raise this module's errors."""
        for attempt in range(1, self.max_attempts + 1):
            if self.deadline is not None and self.clock() >= self.deadline:
                raise BudgetExhaustedError("the run's time is up")
            self.ledger.charge(kind)
            try:
                return method(*args, **kwargs)
            except spotipy.SpotifyException as error:
                wait = self._wait_or_raise(error, attempt)
            except (requests.Timeout, requests.ConnectionError) as error:
                self.ledger.count(self.ledger.failures, type(error).__name__)
                wait = self._backoff(attempt)
            except SpotifyOauthError as error:
                if not _grant_refused(error):
                    # The accounts service failed (5xx, 429, garbage): not the person's doing.
                    self.ledger.count(self.ledger.failures, "token_endpoint")
                    wait = self._backoff(attempt)
                else:
                    raise SpotifyRefusedError(401, f"token refused: {error}") from error
            if attempt == self.max_attempts:
                break
            logger.warning(
                "Spotify request failed; retrying",
                extra={"kind": kind, "attempt": attempt, "wait_s": round(wait, 2)},
            )
            self.sleep(wait)
        raise SpotifyUnavailableError(f"Spotify failed {self.max_attempts} times for {kind}")

    def _wait_or_raise(self, error: spotipy.SpotifyException, attempt: int) -> float:
        status = int(error.http_status or 0)
        if status == 429:
            return self._rate_limited(error, attempt)
        if status in RETRY_STATUSES:
            self.ledger.count(self.ledger.failures, str(status))
            return self._backoff(attempt)
        raise SpotifyRefusedError(status, str(error.msg).split("\n")[-1].strip()) from error

    def _rate_limited(self, error: spotipy.SpotifyException, attempt: int) -> float:
        """Return how long to wait after a 429, or stop: the quota is spent.

        Real quota answers often carry no `reason` (a body `{}`, or only status and message)
        but a Retry-After of hours: a wait past what this run can is the quota, whatever the body.
        """
        retry_after = _retry_after(error)
        if error.reason == QUOTA_EXCEEDED:
            self.ledger.count(self.ledger.status_429, "quota_exceeded")
            raise QuotaExhaustedError("Spotify's daily quota is exhausted", retry_after) from error
        wait = retry_after if retry_after is not None else self._backoff(attempt)
        left = None if self.deadline is None else self.deadline - self.clock()
        if wait > self.max_wait_seconds or (left is not None and wait >= left):
            self.ledger.count(self.ledger.status_429, "long_wait_without_reason")
            raise QuotaExhaustedError(
                f"Spotify's quota is exhausted: it asks to wait {wait:.0f} s "
                "(no reason given), past what this run can",
                retry_after,
            ) from error
        self.ledger.count(self.ledger.status_429, "rate_limit")
        return wait

    def _backoff(self, attempt: int) -> float:
        return float(self.backoff_seconds * 2 ** (attempt - 1) * (0.5 + self._jitter.random()))

    def search_artist_with_tracks(
        self, name: str, limit: int = 10
    ) -> tuple[list[ArtistRecord], list[TrackRecord]]:
        """Search once for an artist's name: the candidates, and their tracks in search order."""
        answer = self.call(
            "search",
            self.client.search,
            q=f"artist:{quoted(name)}",
            type="artist,track",
            limit=limit,
        )
        artists = [a for a in (parse_artist(raw) for raw in items_of(answer, "artists")) if a]
        tracks = [t for t in (parse_track(raw) for raw in items_of(answer, "tracks")) if t]
        return artists, tracks

    def search_artists(self, name: str, limit: int = 10) -> list[ArtistRecord]:
        """Search for an artist's name; return the candidates."""
        answer = self.call(
            "search", self.client.search, q=f"artist:{quoted(name)}", type="artist", limit=limit
        )
        return [a for a in (parse_artist(raw) for raw in items_of(answer, "artists")) if a]

    def search_tracks(
        self, artist_name: str, limit: int = 10, offset: int = 0
    ) -> list[TrackRecord]:
        """Search the tracks credited to an artist's name, in search order."""
        answer = self.call(
            "track_search",
            self.client.search,
            q=f"artist:{quoted(artist_name)}",
            type="track",
            limit=limit,
            offset=offset,
        )
        return [t for t in (parse_track(raw) for raw in items_of(answer, "tracks")) if t]

    def search_recent_tracks(
        self, artist_name: str, since_year: int, until_year: int
    ) -> list[TrackRecord]:
        """Search the tracks credited to a name released in those years (the `year:` filter)."""
        answer = self.call(
            "recent_search",
            self.client.search,
            q=f"artist:{quoted(artist_name)} year:{since_year}-{until_year}",
            type="track",
            limit=10,
        )
        return [t for t in (parse_track(raw) for raw in items_of(answer, "tracks")) if t]

    def me(self) -> UserRecord:
        """Return the signed-in user."""
        return parse_user(self.call("me", self.client.me))

    def my_playlists(self, max_pages: int = 20) -> list[PlaylistRecord]:
        """Return the user's playlists (owned and followed), every page up to max_pages of 50."""
        found: list[PlaylistRecord] = []
        page = self.call("playlists", self.client.current_user_playlists, limit=50)
        for _ in range(max_pages):
            items = page_items(page, "playlists page")
            found += [p for p in (parse_playlist(raw) for raw in items) if p]
            if not page.get("next"):
                break
            page = self.call("playlists", self.client.next, page)
        return found

    def create_playlist(self, name: str, description: str) -> PlaylistRecord:
        """Create a private playlist in the user's account (POST /me/playlists)."""
        answer = self.call(
            "playlist_write",
            self.client.current_user_playlist_create,
            name,
            public=False,
            description=description,
        )
        return parse_created_playlist(answer)

    def change_playlist_details(self, playlist_id: str, name: str, description: str) -> None:
        """Rename a playlist and replace its description."""
        self.call(
            "playlist_write",
            self.client.playlist_change_details,
            playlist_id,
            name=name,
            description=description,
        )

    def replace_items(self, playlist_id: str, uris: list[str]) -> None:
        """Replace a playlist's items with at most 100 URIs."""
        self.call(
            "playlist_write",
            self.client.playlist_replace_items,
            playlist_id,
            uris[:MAX_ITEMS_PER_WRITE],
        )

    def add_items(self, playlist_id: str, uris: list[str]) -> None:
        """Append at most 100 URIs to a playlist."""
        self.call(
            "playlist_write",
            self.client.playlist_add_items,
            playlist_id,
            uris[:MAX_ITEMS_PER_WRITE],
        )

    def playlist_items(self, playlist_id: str, max_pages: int = 200) -> list[PlaylistItem]:
        """Return every entry of a playlist, reading every page (100 a page).

        Entries that hold no track (episodes, local files, removed tracks) come back with
        `track=None` and why, so that callers can count them and never write them as tracks.
        """
        items: list[PlaylistItem] = []
        page = self.call("playlist_read", self.client.playlist_items, playlist_id, limit=100)
        for _ in range(max_pages):
            raw_items = page_items(page, "playlist items page")
            items += [parse_playlist_item(len(items) + n, raw) for n, raw in enumerate(raw_items)]
            if not page.get("next"):
                break
            page = self.call("playlist_read", self.client.next, page)
        return items

    def can_read_items(self, playlist_id: str) -> bool:
        """Probe whether the playlist's items can be read (Development Mode hides some)."""
        try:
            self.call("probe", self.client.playlist_items, playlist_id, limit=1)
        except SpotifyRefusedError as error:
            if error.status in (403, 404):
                return False
            raise
        return True

    def recently_played(self, after_ms: int | None, limit: int = 50) -> Any:
        """Return the raw recently-played page after a cursor (ms); shared.plays parses it.

        Spotify keeps only the last 50 plays reachable, so one request of 50 is all there is.
        """
        if after_ms:
            return self.call(
                "recently_played",
                self.client.current_user_recently_played,
                limit=limit,
                after=after_ms,
            )
        return self.call("recently_played", self.client.current_user_recently_played, limit=limit)

    def top_artists(self, time_range: str, offset: int, limit: int = 50) -> Any:
        """Return one raw page of the user's top artists in a time range; shared.taste parses it."""
        return self.call(
            "top_artists",
            self.client.current_user_top_artists,
            limit=limit,
            offset=offset,
            time_range=time_range,
        )

    def followed_artists(self, after: str | None, limit: int = 50) -> Any:
        """Return one raw page of the artists the user follows after a cursor (an artist id)."""
        return self.call(
            "followed_artists", self.client.current_user_followed_artists, limit=limit, after=after
        )

    def artist_top_tracks(self, artist_id: str) -> list[TrackRecord]:
        """Return an artist's top tracks (Extended Quota only; Development Mode refuses it)."""
        answer = self.call(
            "top_tracks", self.client._get, f"artists/{artist_id}/top-tracks", market="US"
        )
        raw_tracks = require_object(answer, "top tracks").get("tracks")
        if not isinstance(raw_tracks, list):
            raise SpotifyShapeError("top tracks: no list of tracks")
        return [t for t in (parse_track(raw) for raw in raw_tracks) if t]


class StoredGrant:
    """Access tokens for a user who is not here, from the refresh token they left us.

    Never asks for an authorization code: a refused refresh raises SpotifyOauthError.
    """

    def __init__(self, settings: Settings, refresh_token: str) -> None:
        self.oauth = make_oauth(settings, MemoryCacheHandler())
        self.refresh_token = refresh_token
        self.token: dict[str, Any] | None = None

    def get_access_token(self, as_dict: bool = False) -> str:
        if self.token is None or self.oauth.is_token_expired(self.token):
            self.token = self.oauth.refresh_access_token(self.refresh_token)
            # Spotify may rotate the refresh token; keep the newest.
            self.refresh_token = str(self.token.get("refresh_token") or self.refresh_token)
        return str(self.token["access_token"])


def make_oauth(
    settings: Settings,
    cache_handler: CacheHandler,
    scope: str = USER_SCOPES,
    *,
    show_dialog: bool = False,
) -> SpotifyOAuth:
    """Return spotipy's authorization-code manager for our settings (real or sandbox).

    `show_dialog`: Spotify asks the person even for scopes they granted before (without it, a
    scope granted once is granted again silently).
    """
    oauth = SpotifyOAuth(
        client_id=settings.spotify_client_id,
        client_secret=settings.spotify_client_secret,
        redirect_uri=settings.spotify_redirect_uri,
        scope=scope,
        cache_handler=cache_handler,
        open_browser=False,
        requests_timeout=10,
        show_dialog=show_dialog,
    )
    oauth.OAUTH_AUTHORIZE_URL = settings.spotify_accounts_base + "authorize"
    oauth.OAUTH_TOKEN_URL = settings.spotify_accounts_base + "api/token"
    return oauth


def make_spotipy(settings: Settings, auth_manager: Any) -> spotipy.Spotify:
    """Build spotipy for our settings, with a plain session: its urllib3 retry would sleep for
    Retry-After (up to hours) and drop the 429's reason, so we retry ourselves."""
    session = requests.Session()
    session.hooks["response"].append(_readable_error_body)
    client = spotipy.Spotify(
        auth_manager=auth_manager,
        requests_session=session,
        requests_timeout=15,
        retries=0,
        status_retries=0,
    )
    client.prefix = settings.spotify_api_base
    return client


def _readable_error_body(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Give spotipy an error answer it can read.

    spotipy reads an error body as `{"error": {...}}` and dies with AttributeError on other JSON
    (a gateway's `{"error": "..."}`, a list, `{"error": null}`); `{}` and plain text it reads.
    """
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        return
    if isinstance(body, dict) and isinstance(body.get("error", {}), dict):
        return
    said = body.get("error") if isinstance(body, dict) else None
    message = str(said) if isinstance(said, str) else "an error answer of an unknown shape"
    response._content = json.dumps(
        {"error": {"status": response.status_code, "message": message}}
    ).encode()


# What the accounts service answers when a grant or the app's credentials are no good (RFC 6749
# section 5.2); anything else from it (a 5xx page, a 429) is a failure to retry, not a refusal.
GRANT_REFUSALS = {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_request"}


def _grant_refused(error: SpotifyOauthError) -> bool:
    return getattr(error, "error", None) in GRANT_REFUSALS


def _retry_after(error: spotipy.SpotifyException) -> float | None:
    headers = error.headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
