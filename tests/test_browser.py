"""A person's whole path in a real browser: open, sign in, pick an area, preview, create."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import make_server

from sandbox.server import SandboxServer
from shared.config import load_settings
from shared.storage import FolderStore
from tests.conftest import BASE_ENV, REPO_ROOT, free_port
from web import area, create_app

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "browser"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Start Debian's Chromium through Playwright; fail loudly (never skip) when it is missing."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"browser tests need Debian's chromium at {CHROMIUM}: apt-get install -y chromium"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def web(sandbox: SandboxServer, data_copy: FolderStore) -> Iterator[tuple[str, Flask]]:
    """Serve the web app on a loopback port, signed in through the sandbox."""
    port = free_port()
    env = {
        **BASE_ENV,
        **sandbox.settings_env(),
        "DATA_URL": str(data_copy.root),
        "SPOTIFY_REDIRECT_URI": f"http://127.0.0.1:{port}/callback",
    }
    app = create_app(load_settings(env), data_copy)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", app
    server.shutdown()
    thread.join(timeout=10)


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_sign_in_pick_an_area_preview_and_create(
    browser: Browser, web: tuple[str, Flask], sandbox: SandboxServer
) -> None:
    url, app = web
    page = browser.new_page()

    page.goto(url)
    shot(page, "01-home")
    page.click("#sign-in")
    page.wait_for_selector("text=Sign in to Spotify (sandbox)")
    shot(page, "02-spotify-consent")
    page.check("input[value=alice]")
    page.click("#agree")
    page.wait_for_url(f"{url}/shows")
    assert "Signed in as Alice Sandbox" in page.inner_text("header")
    shot(page, "03-area-form")

    with page.expect_navigation():
        page.select_option("#state", "NY")
    page.select_option("#city", "New York")
    page.click("#preview")
    page.wait_for_selector("#counts")
    shot(page, "04-preview")
    counts = page.inner_text("#counts")
    assert "shows" in counts and "tracks for the playlist" in counts
    assert page.locator("table#shows tbody tr").count() > 0
    assert page.locator("svg.chart rect").count() > 0

    page.click("#create")
    page.wait_for_selector("#playlist-link")
    shot(page, "05-playlist-made")
    link = page.get_attribute("#playlist-link", "href") or ""

    made = [
        p
        for p in requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["playlists"]
        if p["owner_id"] == "alice"
    ]
    playlist = next(p for p in made if link.endswith(p["id"]))
    with app.app_context():
        data = app.extensions["datasets"].shows()
        query = area.AreaQuery("NY", "New York")
        today = datetime.now(UTC).date()
        _, uris = area.plan_playlist(
            area.select_shows(data, query, today), data, query.tracks_per_artist
        )
    assert uris
    assert [f"spotify:track:{t}" for t in playlist["track_ids"]] == uris
    assert playlist["name"].startswith("Local Shows: New York, NY · ")
    page.close()
