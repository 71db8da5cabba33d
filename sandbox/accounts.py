"""Stand-in for Spotify's accounts service: authorize (with a consent page) and api/token."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, current_app, redirect, render_template_string, request

bp = Blueprint("accounts", __name__, url_prefix="/accounts")

CLIENTS = {"sandbox-client-id": "sandbox-client-secret"}
ACCESS_TOKEN_SECONDS = 3600
KNOWN_SCOPES = {
    "playlist-read-private",
    "playlist-read-collaborative",
    "playlist-modify-public",
    "playlist-modify-private",
    "user-read-private",
    "user-read-email",
    "user-library-read",
    "user-top-read",
    "user-read-recently-played",
    "user-follow-read",
}


@dataclass
class Grant:
    """Who a token speaks for and what it may do."""

    user_id: str | None
    client_id: str
    scopes: frozenset[str]
    expires_at: float = 0.0


@dataclass
class TokenStore:
    """Authorization codes, access tokens and refresh tokens, with revocation."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    codes: dict[str, tuple[Grant, str]] = field(default_factory=dict)
    access: dict[str, Grant] = field(default_factory=dict)
    refresh: dict[str, Grant] = field(default_factory=dict)

    def issue_code(self, grant: Grant, redirect_uri: str) -> str:
        code = "code-" + secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = (grant, redirect_uri)
        return code

    def redeem_code(self, code: str) -> tuple[Grant, str] | None:
        with self.lock:
            return self.codes.pop(code, None)

    def issue_access(self, grant: Grant) -> str:
        token = "access-" + secrets.token_urlsafe(24)
        with self.lock:
            self.access[token] = Grant(
                grant.user_id, grant.client_id, grant.scopes, time.time() + ACCESS_TOKEN_SECONDS
            )
        return token

    def issue_refresh(self, grant: Grant) -> str:
        token = "refresh-" + secrets.token_urlsafe(24)
        with self.lock:
            self.refresh[token] = grant
        return token

    def grant_for(self, access_token: str) -> Grant | None:
        with self.lock:
            grant = self.access.get(access_token)
        if grant is None or grant.expires_at < time.time():
            return None
        return grant

    def revoke_user(self, user_id: str) -> int:
        """Revoke every token of a user, as removing the app from their account does."""
        with self.lock:
            revoked = [t for t, g in self.refresh.items() if g.user_id == user_id]
            for token in revoked:
                del self.refresh[token]
            for token in [t for t, g in self.access.items() if g.user_id == user_id]:
                del self.access[token]
        return len(revoked)

    def expire_access_tokens(self) -> None:
        """Make every access token expired, so clients must refresh."""
        with self.lock:
            for grant in self.access.values():
                grant.expires_at = 0.0


def valid_redirect_uri(uri: str) -> bool:
    """Accept HTTPS, or HTTP on a loopback IP literal; refuse 'localhost' (since 2025-11-27)."""
    parts = urlsplit(uri)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1")


def _error_page(message: str) -> tuple[str, int]:
    return render_template_string("<h1>Error</h1><p>{{ message }}</p>", message=message), 400


CONSENT_PAGE = """<!doctype html>
<html><head><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Spotify (sandbox) – Authorize</title></head>
<body>
<h1>Sign in to Spotify (sandbox)</h1>
<p><strong>{{ client_id }}</strong> would like to access your account:
<code>{{ scope or "(no scopes)" }}</code></p>
<form method="post">
  {% for name, value in params.items() %}
    <input type="hidden" name="{{ name }}" value="{{ value }}">
  {% endfor %}
  <fieldset><legend>Sign in as</legend>
  {% for user in users %}
    <label><input type="radio" name="sandbox_user" value="{{ user.id }}"
      {% if loop.first %}checked{% endif %}>
      {{ user.display_name }} ({{ user.id }})</label><br>
  {% endfor %}
  </fieldset>
  <button type="submit" name="decision" value="agree" id="agree">Agree</button>
  <button type="submit" name="decision" value="cancel" id="cancel">Cancel</button>
</form>
</body></html>"""


@bp.route("/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    """Show the consent page, or sign in at once when `sandbox_user` is given."""
    params = request.values
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    if client_id not in CLIENTS:
        return _error_page("INVALID_CLIENT: Invalid client")
    if not valid_redirect_uri(redirect_uri):
        return _error_page("INVALID_CLIENT: Insecure redirect URI")
    state = params.get("state")
    users = current_app.extensions["sandbox"].users

    def back(**answer: str) -> Response:
        if state is not None:
            answer["state"] = state
        return redirect(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(answer)}")

    if params.get("response_type") != "code":
        return back(error="unsupported_response_type")
    scopes = frozenset(params.get("scope", "").replace(",", " ").split())
    if scopes - KNOWN_SCOPES:
        return back(error="invalid_scope")
    user_id = params.get("sandbox_user")
    if request.method == "POST" and params.get("decision") != "agree":
        return back(error="access_denied")
    if user_id is None:
        keep = {
            k: v
            for k, v in params.items()
            if k in ("client_id", "response_type", "redirect_uri", "state", "scope")
        }
        return render_template_string(
            CONSENT_PAGE,
            client_id=client_id,
            scope=" ".join(sorted(scopes)),
            params=keep,
            users=users.values(),
        )
    if user_id not in users:
        return _error_page(f"no sandbox user {user_id!r}")
    tokens: TokenStore = current_app.extensions["sandbox"].tokens
    code = tokens.issue_code(Grant(user_id, client_id, scopes), redirect_uri)
    return back(code=code)


def _client_credentials() -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            return client_id, secret
        except ValueError:
            return "", ""
    return request.form.get("client_id", ""), request.form.get("client_secret", "")


def _oauth_error(status: int, error: str, description: str) -> tuple[dict[str, str], int]:
    return {"error": error, "error_description": description}, status


@bp.post("/api/token")
def token() -> Any:
    """Exchange a code, a refresh token or client credentials for an access token."""
    client_id, secret = _client_credentials()
    if CLIENTS.get(client_id) != secret or not secret:
        return _oauth_error(401, "invalid_client", "Invalid client")
    tokens: TokenStore = current_app.extensions["sandbox"].tokens
    grant_type = request.form.get("grant_type")
    if grant_type == "authorization_code":
        redeemed = tokens.redeem_code(request.form.get("code", ""))
        if redeemed is None:
            return _oauth_error(400, "invalid_grant", "Invalid authorization code")
        grant, redirect_uri = redeemed
        if request.form.get("redirect_uri") != redirect_uri:
            return _oauth_error(400, "invalid_grant", "Invalid redirect URI")
        if grant.client_id != client_id:
            return _oauth_error(400, "invalid_grant", "Invalid authorization code")
        return _token_answer(tokens, grant, refresh_token=tokens.issue_refresh(grant))
    if grant_type == "refresh_token":
        grant_or_none = tokens.refresh.get(request.form.get("refresh_token", ""))
        if grant_or_none is None or grant_or_none.client_id != client_id:
            return _oauth_error(400, "invalid_grant", "Refresh token revoked")
        return _token_answer(tokens, grant_or_none)
    if grant_type == "client_credentials":
        return _token_answer(tokens, Grant(None, client_id, frozenset()))
    return _oauth_error(
        400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported"
    )


def _token_answer(
    tokens: TokenStore, grant: Grant, refresh_token: str | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "access_token": tokens.issue_access(grant),
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_SECONDS,
    }
    if grant.user_id is not None:
        # Only a user's token says its scopes; a client-credentials answer has none.
        answer["scope"] = " ".join(sorted(grant.scopes))
    if refresh_token:
        answer["refresh_token"] = refresh_token
    return answer
