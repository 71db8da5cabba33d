"""Sign in with Spotify (authorization code flow through spotipy), and sign out."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from spotipy.cache_handler import CacheHandler
from spotipy.oauth2 import SpotifyOAuth, SpotifyOauthError

from shared.spotify import (
    QuotaExhaustedError,
    SpotifyApi,
    SpotifyError,
    SpotifyRefusedError,
    SpotifyShapeError,
    make_oauth,
)
from shared.tokens import TokenBox, TokenDecryptError

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

TOKEN_KEY = "spotify_token"  # noqa: S105 (a session key's name, not a secret)
USER_KEY = "user"
STATE_KEY = "oauth_state"


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


def oauth() -> SpotifyOAuth:
    """Return the OAuth manager for this request's session."""
    settings = current_app.extensions["settings"]
    return make_oauth(settings, EncryptedSessionCache(TokenBox(settings.token_encryption_key)))


def user_api() -> SpotifyApi:
    """Return Spotify acting for the signed-in user; spotipy refreshes the token unseen."""
    # A web request may wait a few seconds for Spotify, never minutes.
    return SpotifyApi.for_user(
        current_app.extensions["settings"],
        oauth(),
        max_attempts=3,
        max_wait_seconds=5,
        backoff_seconds=0.5,
    )


def current_user() -> dict[str, str] | None:
    """Return the signed-in user's id and name, or None."""
    user = session.get(USER_KEY)
    return user if isinstance(user, dict) and session.get(TOKEN_KEY) else None


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send a visitor who is not signed in to the sign-in page first."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped


def spotify_problem(error: SpotifyError) -> str:
    """Say plainly what Spotify's refusal means for the user."""
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
    """Send the user to Spotify, with a fresh random state to check on the way back."""
    state = secrets.token_urlsafe(24)
    session[STATE_KEY] = state
    next_page = request.args.get("next", "")
    session["after_login"] = (
        next_page if next_page.startswith("/") and not next_page.startswith("//") else ""
    )
    return redirect(oauth().get_authorize_url(state=state))


@bp.get("/callback")
def callback() -> Any:
    """Finish signing in: check the state, exchange the code, and check Spotify lets the user in."""
    expected = session.pop(STATE_KEY, None)
    if not expected or not secrets.compare_digest(str(request.args.get("state", "")), expected):
        session.pop(TOKEN_KEY, None)
        return render_template(
            "auth_error.html",
            title="Sign-in could not be checked",
            message="The sign-in answer did not match this browser's request. "
            "Please sign in again.",
        ), 400
    if request.args.get("error"):
        declined = request.args["error"] == "access_denied"
        message = (
            "You chose not to connect Spotify. Local Shows needs it to put playlists "
            "in your account."
            if declined
            else f"Spotify did not sign you in ({request.args['error']})."
        )
        return render_template(
            "auth_error.html", title="Not signed in", message=message
        ), 200 if declined else 400
    code = request.args.get("code", "")
    if not code:
        return render_template(
            "auth_error.html", title="Not signed in", message="Spotify sent no sign-in code."
        ), 400
    try:
        oauth().get_access_token(code, as_dict=False, check_cache=False)
        user = user_api().me()
    except SpotifyOauthError as error:
        session.pop(TOKEN_KEY, None)
        logger.warning("token exchange refused", extra={"error": str(error)})
        return render_template(
            "auth_error.html",
            title="Not signed in",
            message="Spotify refused the sign-in code. Please sign in again.",
        ), 400
    except SpotifyError as error:
        session.pop(TOKEN_KEY, None)
        status = 403 if isinstance(error, SpotifyRefusedError) and error.status == 403 else 502
        return render_template(
            "auth_error.html", title="Spotify said no", message=spotify_problem(error)
        ), status
    session[USER_KEY] = {"id": user.id, "name": user.display_name}
    session.permanent = True
    from web.backups import refresh_stored_grant  # backups builds on sign-in, not the reverse

    token = EncryptedSessionCache(
        TokenBox(current_app.extensions["settings"].token_encryption_key)
    ).get_cached_token()
    if token and token.get("refresh_token"):
        refresh_stored_grant(user.id, str(token["refresh_token"]))
    return redirect(session.pop("after_login", "") or url_for("shows.area"))


@bp.post("/logout")
def logout() -> Any:
    """Forget the user and their token."""
    session.clear()
    return redirect(url_for("home.index"))
