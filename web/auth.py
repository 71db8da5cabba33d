"""Sign in with Spotify (authorization code flow through spotipy), and sign out."""

from __future__ import annotations

import logging
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from spotipy.cache_handler import CacheHandler
from spotipy.oauth2 import SpotifyOAuth, SpotifyOauthError

from shared.people.grants import ACTIVE
from shared.people.records import PersonRecords, RecordError
from shared.quota import ShareSpentError
from shared.spotify import (
    USER_SCOPES,
    QuotaExhaustedError,
    SpotifyApi,
    SpotifyError,
    SpotifyRefusedError,
    SpotifyShapeError,
    make_oauth,
    make_spotipy,
)
from shared.storage import Store
from shared.tokens import TokenBox, TokenDecryptError
from shared.users import bump_session_version, load_session_version
from web.quota import charge_to, request_ledger
from web.writes import begin as begin_writes

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

TOKEN_KEY = "spotify_token"  # noqa: S105 (a session key's name, not a secret)
USER_KEY = "user"
STATE_KEY = "oauth_state"
SESSION_VERSION_KEY = "session_version"
AFTER_LOGIN_KEY = "after_login"
GRANTING_KEY = "granting"  # the feature whose added scope this sign-in asks for
# Session keys a page keeps across a sign-in as someone else, because the value names the
# person it is for and its reader checks that (registered by the features, see keep_owned).
OWNER_CHECKED_KEYS: set[str] = set()


def keep_owned(key: str) -> str:
    """Register a session key whose value names its owner, checked wherever it is read: it
    survives another person signing in on the browser (every other key is dropped then)."""
    OWNER_CHECKED_KEYS.add(key)
    return key


@dataclass(frozen=True)
class GrantFeature:
    """A feature that keeps a grant of its own, with a scope asked for only when the person
    turns it on (ARCHITECTURE.md); each registers once, where its page is written."""

    scope: str
    keep: Callable[[str, str, str], None]  # (person id, name, refresh token): keep the grant
    # The feature's record when the newest consent should cover it too: while it is on, its
    # scope is asked for again when another such feature is granted.
    renewed_with: PersonRecords[Any] | None = None


GRANT_FEATURES: dict[str, GrantFeature] = {}


def grant_feature(
    name: str,
    scope: str,
    keep: Callable[[str, str, str], None],
    renewed_with: PersonRecords[Any] | None = None,
) -> None:
    """Register a feature whose "turn on" asks Spotify for `scope` (`/login?add=<name>`)."""
    GRANT_FEATURES[name] = GrantFeature(scope, keep, renewed_with)


SIGN_IN_KEYS = (TOKEN_KEY, USER_KEY, SESSION_VERSION_KEY)
SIGNED_OUT_MESSAGE = "You were signed out. Please sign in again."
SESSION_VERSION_TTL_SECONDS = 5.0


class SignedOutError(Exception):
    """The session holds no Spotify token this server can use: the visitor is signed out."""


class EncryptedSessionCache(CacheHandler):  # type: ignore[misc]
    """Keep the user's Spotify token in the signed session cookie, encrypted with Fernet."""

    def __init__(self, box: TokenBox) -> None:
        self.box = box

    def get_cached_token(self) -> dict[str, Any] | None:
        sealed = session.get(TOKEN_KEY)
        if not sealed:
            return None
        try:
            return self.box.open(sealed)
        except TokenDecryptError:
            session.pop(TOKEN_KEY, None)
            return None

    def save_token_to_cache(self, token_info: dict[str, Any]) -> None:
        session[TOKEN_KEY] = self.box.seal(token_info)


class SessionGrant:
    """spotipy's auth manager for a web request: the session's token, refreshed when due.

    spotipy's own SpotifyOAuth, finding no usable token in its cache, asks for an authorization
    code on the server's stdin (`input()`). Here that is SignedOutError instead, never a prompt.
    """

    def __init__(self, oauth: SpotifyOAuth) -> None:
        self.oauth = oauth

    def get_access_token(self, as_dict: bool = False) -> str:
        token = self.oauth.validate_token(self.oauth.cache_handler.get_cached_token())
        if token is None:
            raise SignedOutError("no usable Spotify token in the session")
        return str(token["access_token"])


class SessionVersions:
    """Each user's session version, read from storage at most once per ttl_seconds per user.

    Sign-out raises the stored version, so a cookie stamped with an older one is refused. Another
    instance notices within ttl_seconds: that long, a copied cookie may still work there.
    """

    def __init__(
        self,
        store: Store,
        ttl_seconds: float = SESSION_VERSION_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[int, float]] = {}

    def current(self, user_id: str) -> int:
        """Return the user's version, from memory when it was read less than ttl_seconds ago."""
        with self._lock:
            cached = self._cached.get(user_id)
        if cached is not None and self.clock() - cached[1] < self.ttl_seconds:
            return cached[0]
        return self.fresh(user_id)

    def fresh(self, user_id: str) -> int:
        """Return the user's version as stored now (for sign-in, which stamps it)."""
        return self._remember(user_id, load_session_version(self.store, user_id))

    def end_sessions(self, user_id: str) -> int:
        """Refuse every cookie the user was given so far."""
        return self._remember(user_id, bump_session_version(self.store, user_id))

    def _remember(self, user_id: str, version: int) -> int:
        now = self.clock()
        with self._lock:
            if len(self._cached) > 10_000:  # forget stale entries rather than grow without end
                self._cached = {
                    k: v for k, v in self._cached.items() if now - v[1] < self.ttl_seconds
                }
            self._cached[user_id] = (version, now)
        return version


def init_app(app: Flask) -> None:
    """Keep session versions for this app, read from its store."""
    app.extensions["session_versions"] = SessionVersions(app.extensions["store"])


def session_versions() -> SessionVersions:
    found: SessionVersions = current_app.extensions["session_versions"]
    return found


def token_box() -> TokenBox:
    return TokenBox(current_app.extensions["settings"].token_encryption_key)


def feature_scope(feature: str) -> str:
    """Return the scopes a feature asks for, for the signed-in person as things stand now.

    Each feature keeps its own refresh token, with the scopes of the grant that gave it. A new
    grant also asks again for the scopes of the person's other features that are on (history
    and taste), so that the newest consent covers everything they use.
    """
    if feature not in GRANT_FEATURES:
        return ""
    asked = GRANT_FEATURES[feature]
    scopes = [asked.scope]
    user = current_user()
    if user is not None and asked.renewed_with is not None:
        scopes += [
            other.scope
            for name, other in GRANT_FEATURES.items()
            if name != feature and other.renewed_with and _is_on(other.renewed_with, user["id"])
        ]
    return " ".join(scopes)


def _is_on(records: PersonRecords[Any], user_id: str) -> bool:
    try:
        loaded = records.load(current_app.extensions["store"], user_id)
    except RecordError:
        return False
    return loaded is not None and loaded[0].status == ACTIVE


def oauth(feature: str = "", *, show_dialog: bool = False) -> SpotifyOAuth:
    """Return the OAuth manager for this request's session (asking, for a feature, its scope)."""
    scope = " ".join(filter(None, [USER_SCOPES, feature_scope(feature)]))
    return make_oauth(
        current_app.extensions["settings"],
        EncryptedSessionCache(token_box()),
        scope=scope,
        show_dialog=show_dialog,
    )


def user_api() -> SpotifyApi:
    """Return Spotify acting for the signed-in user; the token is refreshed unseen. Its
    requests are drawn from the person's share of the day (web/quota.py)."""
    # A web request may wait a few seconds for Spotify, never minutes.
    return SpotifyApi(
        make_spotipy(current_app.extensions["settings"], SessionGrant(oauth())),
        request_ledger(),
        max_attempts=3,
        max_wait_seconds=5,
        backoff_seconds=0.5,
    )


def forget_sign_in() -> None:
    """Drop the user and their token from the session (the CSRF token stays)."""
    for key in SIGN_IN_KEYS:
        session.pop(key, None)


@bp.before_app_request
def load_signed_in_user() -> None:
    """Decide once per request who is signed in: a token that opens, a version not ended."""
    g.user = None
    g.signed_out = False
    user = session.get(USER_KEY)
    sealed = session.get(TOKEN_KEY)
    if not isinstance(user, dict) or not isinstance(user.get("id"), str) or not sealed:
        return
    try:
        token_box().open(str(sealed))
    except TokenDecryptError:
        logger.info(
            "a session token could not be opened; signed out", extra={"user_id": user["id"]}
        )
        forget_sign_in()
        g.signed_out = True
        return
    stamped = session.get(SESSION_VERSION_KEY, 0)
    if not isinstance(stamped, int) or stamped < session_versions().current(user["id"]):
        forget_sign_in()
        g.signed_out = True
        return
    g.user = user


def current_user() -> dict[str, str] | None:
    """Return the signed-in user's id and name, or None."""
    user: dict[str, str] | None = g.get("user")
    return user


def signed_out_page() -> tuple[str, int]:
    """Say that the visitor was signed out and should sign in again."""
    g.signed_out = False  # the page itself says so; base.html need not say it twice
    return render_template(
        "auth_error.html", title="Signed out", message=SIGNED_OUT_MESSAGE, user=None
    ), 401


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send a visitor who is not signed in to the sign-in page first."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            if g.get("signed_out"):
                return signed_out_page()
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped


def safe_next(target: str) -> str:
    """Return target if it is a path on this site, else "/" (no open redirect after sign-in).

    Browsers drop tabs and newlines anywhere in a URL and read a backslash as a slash, so
    "/\\t/evil.example" would become "//evil.example": control characters, whitespace and
    backslashes are refused outright rather than cleaned.
    """
    if (
        not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(unicodedata.category(c)[0] in "CZ" for c in target)
    ):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def spotify_problem(error: SpotifyError) -> str:
    """Say plainly what Spotify's refusal means for the user."""
    if isinstance(error, ShareSpentError):
        return str(error)
    if isinstance(error, QuotaExhaustedError):
        hours = f" for about {round(error.retry_after / 3600)} hours" if error.retry_after else ""
        return (
            f"Spotify's daily request quota for this app is used up{hours}. Please try again later."
        )
    if isinstance(error, SpotifyRefusedError) and error.status == 403:
        return (
            "Spotify refused: this app is in Spotify's Development Mode, where only the up to 5 "
            "people the app's owner added in the Spotify dashboard may use it."
        )
    if isinstance(error, SpotifyRefusedError) and error.status == 401:
        return "Your Spotify sign-in has ended. Please sign in again."
    if isinstance(error, SpotifyShapeError):
        logger.error("Spotify sent an answer of an unexpected shape", extra={"error": str(error)})
        return (
            "Spotify sent an answer this app could not read, so nothing was changed. "
            "Please try again later."
        )
    return "Spotify is not answering right now (it may be busy). Please try again in a minute."


@bp.get("/login")
def login() -> Any:
    """Send the user to Spotify, with a fresh random state to check on the way back.

    Only the sign-in scopes: a feature's added scope is asked for by that feature's POST form
    (`authorize_feature`), never by a link, so no other site can turn a feature on.
    """
    next_page = request.args.get("next", "")
    return _authorize("", safe_next(next_page) if next_page else "")


def authorize_feature(feature: str, next_page: str) -> Any:
    """Ask Spotify for a feature's added scope, showing the consent dialog even if given before."""
    return _authorize(feature if feature in GRANT_FEATURES else "", safe_next(next_page))


def _authorize(feature: str, after_login: str) -> Any:
    state = secrets.token_urlsafe(24)
    session[STATE_KEY] = state
    session[AFTER_LOGIN_KEY] = after_login
    session[GRANTING_KEY] = feature
    return redirect(oauth(feature, show_dialog=bool(feature)).get_authorize_url(state=state))


def _not_signed_in(error: str, feature: str) -> Any:
    """Spotify sent an error instead of a code: say so (the person may just have said no)."""
    declined = error == "access_denied"
    if declined and feature and current_user() is not None:
        # A signed-in person said no to an added permission: nothing changes for them.
        flash("Spotify did not give the permission, so nothing was turned on.", "error")
        return redirect(safe_next(str(session.pop(AFTER_LOGIN_KEY, "")) or "/"))
    message = (
        "You chose not to connect Spotify. Local Shows needs it to put playlists in your account."
        if declined
        else f"Spotify did not sign you in ({error})."
    )
    return render_template(
        "auth_error.html", title="Not signed in", message=message
    ), 200 if declined else 400


@bp.get("/callback")
def callback() -> Any:
    """Finish signing in: check the state, exchange the code, and check Spotify lets the user in."""
    expected = session.get(STATE_KEY)
    if not expected or not secrets.compare_digest(str(request.args.get("state", "")), expected):
        # Anyone can link here: a wrong state changes nothing, neither signs in nor out.
        return render_template(
            "auth_error.html",
            title="Sign-in could not be checked",
            message="The sign-in answer did not match this browser's request. "
            "Please sign in again.",
        ), 400
    session.pop(STATE_KEY)
    feature = str(session.pop(GRANTING_KEY, ""))
    if request.args.get("error"):
        return _not_signed_in(str(request.args["error"]), feature)
    code = request.args.get("code", "")
    if not code:
        return render_template(
            "auth_error.html", title="Not signed in", message="Spotify sent no sign-in code."
        ), 400
    try:
        # A person who approves gives every scope asked for: Spotify has no partial consent.
        oauth(feature).get_access_token(code, as_dict=False, check_cache=False)
        user = user_api().me()
        charge_to(user.id)
        begin_writes(user.id)  # whatever this sign-in writes of the person, a delete covers
    except SpotifyOauthError as error:
        forget_sign_in()
        logger.warning("token exchange refused", extra={"error": str(error)})
        return render_template(
            "auth_error.html",
            title="Not signed in",
            message="Spotify refused the sign-in code. Please sign in again.",
        ), 400
    except SpotifyError as error:
        forget_sign_in()
        status = 403 if isinstance(error, SpotifyRefusedError) and error.status == 403 else 502
        return render_template(
            "auth_error.html", title="Spotify said no", message=spotify_problem(error)
        ), status
    previous = session.get(USER_KEY)
    if isinstance(previous, dict) and previous.get("id") != user.id:
        # Another person signs in on this browser without the first signing out: nothing the
        # pages kept for the first (a playlist just made, cached lists, choices) goes to them.
        carried = {TOKEN_KEY, AFTER_LOGIN_KEY, *OWNER_CHECKED_KEYS}
        kept = {key: session[key] for key in carried if key in session}
        session.clear()
        session.update(kept)
    session[USER_KEY] = {"id": user.id, "name": user.display_name}
    session[SESSION_VERSION_KEY] = session_versions().fresh(user.id)
    session.permanent = True
    from web.backups import refresh_stored_grant  # backups builds on sign-in, not the reverse

    token = EncryptedSessionCache(token_box()).get_cached_token()
    if token and token.get("refresh_token"):
        refresh_stored_grant(user.id, str(token["refresh_token"]))
        if feature in GRANT_FEATURES:
            GRANT_FEATURES[feature].keep(user.id, user.display_name, str(token["refresh_token"]))
    after_login = str(session.pop(AFTER_LOGIN_KEY, ""))
    return redirect(safe_next(after_login) if after_login else url_for("shows.area"))


def end_sessions_and_forget() -> None:
    """Sign the user out everywhere: refuse every cookie they were given, then clear this one."""
    user = current_user()
    if user is not None:
        session_versions().end_sessions(user["id"])
    session.clear()


@bp.post("/logout")
def logout() -> Any:
    """Sign the user out, on this browser and on any copy of its cookie."""
    end_sessions_and_forget()
    return redirect(url_for("home.index"))
