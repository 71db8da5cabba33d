"""Drive the web app's sign-in through the sandbox with Flask's test client."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import requests
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from shared.storage import Store


def sign_in(client: FlaskClient, user: str = "alice") -> TestResponse:
    """Sign a sandbox user in: /login, the sandbox's authorize (no click), then /callback."""
    login = client.get("/login")
    authorize = requests.get(
        login.headers["Location"] + f"&sandbox_user={user}", allow_redirects=False, timeout=10
    )
    callback = authorize.headers["Location"]
    return client.get(callback[callback.index("/callback") :])


def follow_sign_in(client: FlaskClient, start: TestResponse, user: str = "alice") -> TestResponse:
    """Follow a redirect to Spotify's authorize page (a feature's added permission) and back."""
    assert start.status_code in (302, 303), start.get_data(as_text=True)[:300]
    authorize = requests.get(
        start.headers["Location"] + f"&sandbox_user={user}", allow_redirects=False, timeout=10
    )
    callback = authorize.headers["Location"]
    return client.get(callback[callback.index("/callback") :])


def turn_history_on(client: FlaskClient, user: str = "alice") -> TestResponse:
    """On the Listening page, turn history on: Spotify asks for the added scope, then back."""
    page = client.get("/listening")
    answer = client.post("/listening/on", data={"csrf_token": csrf_token(page)})
    return follow_sign_in(client, answer, user)


def csrf_token(page: TestResponse) -> str:
    """Return the CSRF token a page's form carries."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert found, "the page has no CSRF token"
    return found.group(1)


def rebuild_serving(store: Store) -> None:
    """Rebuild the serving layout after a test changed the datasets, as the ETL does after a run."""
    from etl.serving import build_serving_layout

    build_serving_layout(store, now=datetime.now(UTC))
