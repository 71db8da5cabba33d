"""A person's whole path in a real browser: open, sign in, pick an area, preview, create."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import make_server

from sandbox.server import SandboxServer
from shared.config import load_settings
from shared.datasets import backups_of, load_dataset
from shared.storage import FolderStore
from shared.users import load_user
from tests.conftest import BASE_ENV, REPO_ROOT, free_port
from web import area, create_app
from web.area_form import AreaQuery
from web.liner_notes import count_user_notes

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


SIZES = {"phone": (390, 844), "desktop": (1280, 800)}


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def fits(page: Page) -> None:
    """Fail when the page scrolls sideways: wider than the window it is shown in."""
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size or {"width": 0}
    assert width <= viewport["width"], f"{page.url} is {width} px wide in {viewport['width']} px"


def step(page: Page, size: str, number: int, name: str) -> None:
    """Check the page fits its window, and keep a screenshot of it."""
    fits(page)
    shot(page, f"{size}-{number:02d}-{name}")


def alices_playlists(sandbox: SandboxServer) -> dict[str, dict[str, Any]]:
    stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()
    return {p["id"]: p for p in stats["playlists"] if p["owner_id"] == "alice"}


def planned_uris(app: Flask, query: AreaQuery) -> list[str]:
    with app.app_context():
        data = app.extensions["datasets"].shows()
        today = datetime.now(UTC).date()
        _, uris = area.plan(data, query, today)
    return uris


@pytest.mark.parametrize("size", SIZES)
def test_the_whole_path_at_phone_and_desktop_widths(
    browser: Browser, web: tuple[str, Flask], sandbox: SandboxServer, size: str
) -> None:
    url, app = web
    store: FolderStore = app.extensions["store"]
    width, height = SIZES[size]
    page = browser.new_page(viewport={"width": width, "height": height})
    before = set(alices_playlists(sandbox))

    page.goto(url)
    step(page, size, 1, "home")
    page.click("#sign-in")
    page.wait_for_selector("text=Sign in to Spotify (sandbox)")
    step(page, size, 2, "spotify-consent")
    page.check("input[value=alice]")
    page.click("#agree")
    page.wait_for_url(f"{url}/shows")
    assert "Signed in as Alice Sandbox" in page.inner_text("p.who")
    step(page, size, 3, "area-form")

    # Area and preview: shows as listings with a ticket link each.
    with page.expect_navigation():
        page.select_option("#state", "NY")
    assert "New York (NY)" in page.inner_text("#state")
    page.select_option("#city", "New York")
    page.click("#preview")
    page.wait_for_selector("#counts")
    counts = page.inner_text("#counts")
    assert " shows, " in counts and "tracks for the playlist" in counts
    cards = page.locator("ol#shows li.show")
    assert cards.count() > 0
    first_card = cards.first.inner_text()
    assert re.search(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [A-Z][a-z]{2} \d+ · ", first_card)
    assert page.locator("ol#shows li.show a.tickets").count() > 0
    assert page.locator("svg.chart rect").count() > 0
    step(page, size, 4, "preview")
    page.click("#sort a")  # by artist
    page.wait_for_selector('#sort strong:text("artist")')
    step(page, size, 5, "preview-by-artist")

    # Make: once sent, the form says it is working (held here to look), and cannot go twice.
    page.evaluate(
        "document.getElementById('create-form').addEventListener('submit', e => e.preventDefault())"
    )
    page.click("#create")
    assert page.is_visible("#create-form.busy .working")
    assert "Making your playlist" in page.inner_text("#create-form .working")
    with page.expect_navigation():
        page.evaluate("document.getElementById('create-form').submit()")
    page.wait_for_selector("#playlist-link")
    assert page.inner_text("h1").startswith("Made: Local Shows: New York, NY · ")
    step(page, size, 6, "playlist-made")
    made = {k: v for k, v in alices_playlists(sandbox).items() if k not in before}
    assert len(made) == 1
    playlist_id, playlist = next(iter(made.items()))
    uris = planned_uris(app, AreaQuery("NY", "New York"))
    assert uris and [f"spotify:track:{t}" for t in playlist["track_ids"]] == uris
    assert (page.get_attribute("#playlist-link", "href") or "").endswith(playlist_id)

    notes_href = page.get_attribute("#notes-link", "href") or ""
    back_href = page.get_attribute("text=Back to these shows", "href") or ""

    # The demo shows what went in: the sandbox's page of the playlist's items.
    page.click("#sandbox-playlist")
    page.wait_for_selector("ol")
    assert page.locator("ol > li").count() == len(playlist["track_ids"])
    step(page, size, 7, "sandbox-playlist")

    # Liner notes: each track with its show, public by its link (the description carries it).
    assert playlist["description"].endswith(notes_href)
    page.goto(notes_href)
    page.wait_for_selector("#notes")
    assert page.locator("ol#notes > li").count() == len(playlist["track_ids"])
    assert "anyone with its link" in page.inner_text("#public-note")
    step(page, size, 8, "liner-notes")

    # Update it: same playlist, new tracks.
    page.goto(url + back_href)
    page.wait_for_selector("#existing")
    page.select_option("#tracks", "1")
    page.click("#preview")
    page.wait_for_selector("#update")
    step(page, size, 9, "update-offer")
    page.click("#update")
    page.wait_for_selector("#what-happened")
    assert page.inner_text("h1").startswith("Updated: ")
    step(page, size, 10, "playlist-updated")
    now = alices_playlists(sandbox)
    assert set(now) - before == {playlist_id}  # updated in place, nothing new
    one_each = planned_uris(app, AreaQuery("NY", "New York", tracks_per_artist=1))
    assert [f"spotify:track:{t}" for t in now[playlist_id]["track_ids"]] == one_each

    # Backups: opting in takes the first backup at once; "Back up now" adds what it lacks.
    page.click("header >> text=Backups")
    page.wait_for_selector("#opt-in")
    step(page, size, 11, "backups-opt-in")
    page.click("#opt-in button[type=submit]")
    page.wait_for_selector("#weeks")
    assert "Backups are on. Backed up" in page.inner_text("main")
    assert "Next weekly backup: Mon" in page.inner_text("#next-backup")
    assert page.locator("#weeks li").count() == 1
    kept, _ = load_dataset(store, backups_of("alice"))
    assert len(kept) > 0 and kept["week"].nunique() == 1
    step(page, size, 12, "backups-first-week")
    page.click("#back-up-now button")
    page.wait_for_selector(".backup-message")
    assert "already kept" in page.inner_text(".backup-message") or "Added" in page.inner_text(
        ".backup-message"
    )
    assert "you can again after" in page.inner_text("#back-up-now-note")
    assert len(load_dataset(store, backups_of("alice"))[0]) == len(kept)  # nothing twice
    step(page, size, 13, "backups-backed-up-now")

    # Stop backups asks first, and Cancel keeps everything.
    page.click("#opt-out")
    page.wait_for_selector("#stop-keep")
    assert "1 week" in page.inner_text("#weeks-choice")
    step(page, size, 14, "stop-confirm")
    page.click("#cancel")
    page.wait_for_selector("#back-up-now")
    assert load_user(store, "alice") is not None

    # Status: how the runs went.
    page.click("header >> text=Status")
    page.wait_for_selector("#runs")
    assert page.locator("#runs > li").count() >= 1
    step(page, size, 15, "status")

    # Delete my data: a second step that says exactly what goes, then it is gone.
    page.goto(f"{url}/backups")
    page.click("#delete-my-data")
    page.wait_for_selector("#confirm-delete")
    listed = page.inner_text("#deleted")
    assert "1 week of backups" in listed and "liner-notes page" in listed
    assert users_objects(store, "alice"), "nothing is deleted before the confirmation"
    step(page, size, 16, "delete-confirm")
    page.click("#confirm-delete")
    page.wait_for_selector("text=Sign in")
    step(page, size, 17, "deleted")
    assert users_objects(store, "alice") == []
    page.close()


def users_objects(store: FolderStore, user_id: str) -> list[str]:
    """Return every object Local Shows keeps of a person (their liner notes included)."""
    names = [
        name
        for prefix in ("users/", "backups/", "playlists/")
        for name in store.list(prefix)
        if name.split("/", 1)[1].startswith(f"{user_id}.")
    ]
    return names + [f"notes: {n}" for n in range(count_user_notes(store, user_id))]
