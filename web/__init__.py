"""The web service: sign in with Spotify, turn local shows and backups into playlists."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, Response
from flask_wtf.csrf import CSRFProtect

from shared.config import Settings, load_settings
from shared.storage import Store, open_store

csrf = CSRFProtect()

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


def add_security_headers(response: Response) -> Response:
    """Give every response, error pages and static files included, the security headers."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
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
    app.extensions["store"] = store or open_store(settings.data_url)

    from web import (
        account,
        auth,
        backups,
        data,
        errors,
        home,
        liner_notes,
        sandbox_links,
        shows,
        status,
    )

    csrf.init_app(app)
    auth.init_app(app)
    app.after_request(add_security_headers)
    data.init_app(app)
    sandbox_links.init_app(app)
    errors.init_app(app)
    app.register_blueprint(home.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(shows.bp)
    app.register_blueprint(backups.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(status.bp)
    app.register_blueprint(liner_notes.bp)
    return app
