"""The web app's pages and its session cookie settings."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from shared.config import Settings, load_settings
from tests.conftest import APP_ENGINE_ENV
from web import create_app


@pytest.fixture
def client(settings: Settings) -> FlaskClient:
    return create_app(settings).test_client()


def test_home_page(client: FlaskClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert b"Spotify playlist" in response.data


def test_unknown_page_is_a_readable_404(client: FlaskClient) -> None:
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert b"Not Found" in response.data
    assert b"Back to the start" in response.data


def test_session_cookies_are_secure_in_production() -> None:
    settings = load_settings({**APP_ENGINE_ENV, "DATA_URL": "gs://bucket/p"})

    app = create_app(settings, store=object())  # type: ignore[arg-type]

    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_local_cookies_work_over_http(settings: Settings) -> None:
    app = create_app(settings)

    assert app.config["SESSION_COOKIE_SECURE"] is False
