"""The web service: sign in with Spotify, turn local shows and backups into playlists."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request
from flask_wtf.csrf import CSRFProtect

from shared.config import Settings, load_settings
from shared.storage import Store, open_store

csrf = CSRFProtect()
View = TypeVar("View", bound=Callable[..., Any])


def csrf_exempt(view: View) -> View:
    """Exempt a view from CSRFProtect (Flask-WTF ships no types: this keeps the view's)."""
    return cast(View, csrf.exempt(view))


# No inline script or style anywhere: an injected name can then neither run nor restyle a page.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


HSTS = "max-age=63072000; includeSubDomains"


def security_headers(settings: Settings) -> dict[str, str]:
    """The headers for this deployment: forms may also lead to Spotify's consent page.

    Browsers apply form-action to the redirects after a form is sent too (CSP 3), and "Turn
    history on" is a form (a POST, so no link can turn it on) whose answer redirects through
    /login to Spotify's authorize page: the accounts origin must be allowed, and only it.
    """
    parts = urlsplit(settings.spotify_accounts_base)
    accounts = f"{parts.scheme}://{parts.netloc}"
    csp = CONTENT_SECURITY_POLICY.replace("form-action 'self'", f"form-action 'self' {accounts}")
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": csp}
    if settings.production:  # HTTPS only (app.yaml's `secure: always`), for two years
        headers["Strict-Transport-Security"] = HSTS
    return headers


def add_security_headers(response: Response) -> Response:
    """Give every response, error pages and static files included, the security headers.

    Every page and download but the static files is `no-store`: most hold a person's data (their
    playlists, history, backups), and a shared computer's cache or back button must not show
    them to the next person; the others are made per request anyway.
    """
    headers = current_app.extensions.get("security_headers", SECURITY_HEADERS)
    for name, value in headers.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def create_app(
    config: Settings | None = None, store: Store | None = None, **flask_config: Any
) -> Flask:
    """Create the web app from settings (read from the environment when not given)."""
    settings = config or load_settings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.flask_secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
        PERMANENT_SESSION_LIFETIME=timedelta(days=30),
        MAX_CONTENT_LENGTH=64 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    app.config.update(flask_config)
    app.extensions["settings"] = settings
    app.extensions["security_headers"] = security_headers(settings)
    app.extensions["store"] = store or open_store(settings.data_url)

    from web import (
        account,
        auth,
        backups,
        charts,
        data,
        errors,
        home,
        liner_notes,
        listening,
        quota,
        sandbox_links,
        saved_areas,
        shows,
        status,
        taste,
        tour,
        writes,
    )

    writes.init_app(app)  # first: its teardown runs last
    csrf.init_app(app)
    auth.init_app(app)
    app.after_request(add_security_headers)
    data.init_app(app)
    sandbox_links.init_app(app)
    errors.init_app(app)
    quota.init_app(app)
    app.register_blueprint(home.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(shows.bp)
    app.register_blueprint(backups.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(status.bp)
    app.register_blueprint(liner_notes.bp)
    app.register_blueprint(listening.bp)
    app.register_blueprint(saved_areas.bp)
    app.register_blueprint(taste.bp)
    app.register_blueprint(tour.bp)
    app.register_blueprint(charts.bp)
    writes.init_begin(app)  # after the blueprints: auth's hook says who is signed in
    return app
