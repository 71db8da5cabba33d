"""A person's whole path in a real browser: sign in, preview, create, back up, listen, delete."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import make_server

from sandbox.server import SandboxServer
from sandbox.world import daily_playlist_id
from shared import area_plan
from shared.area_query import AreaQuery
from shared.charts import rebuild_history, save_snapshot
from shared.config import load_settings
from shared.datasets import backups_of, load_dataset
from shared.exports import parse_export_file
from shared.liner_notes import count_user_notes
from shared.listening import HISTORY_SCOPE, LISTENING
from shared.plays import load_plays, month_objects
from shared.shows_data import load_shows
from shared.storage import FolderStore
from shared.taste import known_artists
from shared.users import BACKUPS
from tests.clock import clock_now
from tests.conftest import BASE_ENV, REPO_ROOT, free_port
from tests.contract import REAL_API
from web import create_app

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
# A real extended export, read where the recordings live (never copied into the repo).
MICA_EXPORT = REAL_API / "exports" / "extended" / "mica-92__Streaming_History_Audio_2024_4.json"
SPOTIFY_EXPORT_NAME = "Streaming_History_Audio_2024_4.json"  # the name Spotify gives it
# The browser's own timezone, which the stats page picks up by itself.
BROWSER_TIMEZONE = "America/Argentina/Buenos_Aires"


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
        today = clock_now().date()
        _, uris = area_plan.plan(data, query, today)
    return uris


@pytest.mark.parametrize("size", SIZES)
def test_the_whole_path_at_phone_and_desktop_widths(
    browser: Browser,
    web: tuple[str, Flask],
    sandbox: SandboxServer,
    size: str,
    tmp_path: Path,
) -> None:
    url, app = web
    store: FolderStore = app.extensions["store"]
    width, height = SIZES[size]
    page = browser.new_page(
        viewport={"width": width, "height": height}, timezone_id=BROWSER_TIMEZONE
    )
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
    page.check("#keep-fresh-box")
    page.click("#update")
    page.wait_for_selector("#what-happened")
    assert page.inner_text("h1").startswith("Updated: ")
    assert "It will be kept fresh" in page.inner_text("#kept-fresh")
    step(page, size, 10, "playlist-updated")

    # Saved areas: the area kept fresh, its playlist, and when it is refreshed next.
    page.click("#kept-fresh a")
    page.wait_for_selector("#saved-areas")
    listed = page.inner_text("#saved-areas")
    assert "New York, NY · next 30 days · 1 track each" in listed
    assert "not refreshed yet" in listed and "Next refresh: Mon" in listed
    step(page, size, 10, "saved-areas")
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
    assert BACKUPS.load(store, "alice") is not None

    # Status: how the runs went.
    page.click("header >> text=Status")
    page.wait_for_selector("#runs")
    assert page.locator("#runs > li").count() >= 1
    step(page, size, 15, "status")

    months = walk_listening(page, size, url, store, tmp_path)
    walk_taste(page, size, url, store)
    walk_charts(page, size, url, store)

    # Delete my data: a second step that says exactly what goes, then it is gone.
    page.goto(f"{url}/backups")
    page.click("#delete-my-data")
    page.wait_for_selector("#confirm-delete")
    listed = page.inner_text("#deleted")
    assert "1 week of backups" in listed and "liner-notes page" in listed
    assert "your 1 saved area " in listed
    assert f"your listening history ({months} months of plays)" in listed
    assert "your taste: the artists Local Shows knows you love" in listed
    assert "your 1 tracked chart playlist on Charts" in listed
    assert users_objects(store, "alice"), "nothing is deleted before the confirmation"
    step(page, size, 23, "delete-confirm")
    page.click("#confirm-delete")
    page.wait_for_selector("text=Sign in")
    step(page, size, 24, "deleted")
    assert users_objects(store, "alice") == []
    page.close()


def walk_taste(page: Page, size: str, url: str, store: FolderStore) -> None:
    """Turn taste on, see the marks and the mix on an area, and "Your artists on tour"."""
    page.goto(f"{url}/tour")
    page.wait_for_selector("#tour-taste-off")
    page.click("#tour-taste-off a")
    page.wait_for_selector("#taste-off")
    step(page, size, 22, "taste-off")
    page.click("#taste-on-form button[type=submit]")
    page.wait_for_selector("text=Sign in to Spotify (sandbox)")
    assert {"user-top-read", "user-follow-read"} <= set(page.inner_text("code").split())
    page.check("input[value=alice]")
    page.click("#agree")
    page.wait_for_url(f"{url}/taste")
    page.wait_for_selector("#taste-on")
    known = known_artists(store, "alice")
    assert known and int(page.inner_text("#count-known")) == len(known)
    step(page, size, 22, "taste-on")

    # A state where alice's artists play: their shows, marked, soonest first.
    data = load_shows(store)
    today = clock_now().date()
    state = next(
        code
        for code in sorted(data.states)
        if len(
            area_plan.only_known_shows(
                area_plan.select(data, AreaQuery(code, days=366), today).rows, known
            )
        )
    )
    page.click("header >> text=On tour")
    page.wait_for_selector("#tour-form")
    page.select_option("#near", "state")
    page.select_option("#tour-state", state)
    page.click("#tour-show")
    page.wait_for_selector("#tour-counts")
    shows = page.locator("#tour-shows > li.show")
    assert shows.count() >= 1
    assert all(shows.nth(i).locator(".known").count() for i in range(min(5, shows.count())))
    step(page, size, 22, "your-artists-on-tour")

    # The area page: the taste choices, the count of artists known, and a half/half mix.
    page.goto(f"{url}/shows?state={state}&days=90&sort=known")
    page.wait_for_selector("#taste-choices")
    page.select_option("#mix", "half")
    page.click("#preview")
    page.wait_for_selector("#known-count")
    assert "This mix" in page.inner_text("#known-count")
    step(page, size, 22, "area-with-taste")


def chart_snapshot(names: list[str]) -> pd.DataFrame:
    """A day's snapshot of these tracks in this order (ids made from their names)."""
    return pd.DataFrame(
        {
            "position": range(1, len(names) + 1),
            "track_id": [f"chartTrack{name[:1]}".ljust(22, "0") for name in names],
            "track_name": names,
            "artist_names": [f"{name[:1]} and the Longer Named Orchestra" for name in names],
            "album_name": "",
            "added_at": "",
            "duration_ms": 200_000,
            "captured_at": "",
        }
    )


def walk_charts(page: Page, size: str, url: str, store: FolderStore) -> None:
    """Track one's own playlist (Spotify asks for the added scope), then read its chart."""
    playlist_id = daily_playlist_id("alice-daily-50")
    names = ["Aurora", "Borealis", "Cascade", "Driftwood", "Ember", "Fjord_of_the_endless_night"]
    today = clock_now().date()
    days = {
        today - timedelta(days=3): names[:5],
        today - timedelta(days=2): [names[1], names[0], names[2], names[5], names[3]],
        today: [names[5], names[0], names[3], names[4], names[2]],
    }
    for day, listed in days.items():
        save_snapshot(store, playlist_id, day.isoformat(), chart_snapshot(listed))
    rebuild_history(store, playlist_id)

    page.click("header >> text=Charts")
    page.wait_for_selector("#add-form")
    page.select_option("#add-playlist", playlist_id)
    page.click("#add-form button[type=submit]")
    page.wait_for_selector("text=Sign in to Spotify (sandbox)")
    assert "playlist-read-collaborative" in page.inner_text("code").split()
    page.check("input[value=alice]")
    page.click("#agree")
    page.wait_for_url(f"{url}/charts")
    fits(page)
    page.click(f'#tracked li[data-playlist="{playlist_id}"] a')
    page.wait_for_selector("#chart-table")
    moves = page.locator("#chart-table td.move span[aria-hidden]").all_inner_texts()
    assert moves == ["▲ 3", "=", "▲ 2", "RE", "▼ 2"]
    assert page.locator("#chart-table td.move .visually-hidden").first.inner_text() == "up 3"
    assert page.locator("#churn-chart g.churn-day").count() == 2  # not the first day
    page.click("#chart-table tr >> nth=1 >> td.track a")
    page.wait_for_selector("#rank-chart")
    assert page.locator("#rank-chart polyline.rank-line").count() == 1
    assert page.locator("#rank-chart circle.rank-point").count() == 2
    step(page, size, 23, "chart")


def walk_listening(page: Page, size: str, url: str, store: FolderStore, tmp_path: Path) -> int:
    """Turn history on, import a real export, read the stats in two timezones; return its months."""
    # Off at first, and says why one would turn it on; Spotify asks for the one added scope.
    page.click("header >> text=Listening")
    page.wait_for_selector("#history-off")
    assert "Spotify shows only your last 50 plays" in page.inner_text("#history-off")
    assert "read your recently played tracks" in page.inner_text("#scope-note")
    step(page, size, 16, "listening-off")
    page.click("#history-on-form button[type=submit]")
    page.wait_for_selector("text=Sign in to Spotify (sandbox)")
    assert HISTORY_SCOPE == "user-read-recently-played"
    assert HISTORY_SCOPE in page.inner_text("code").split()
    step(page, size, 17, "history-consent")
    page.check("input[value=alice]")
    page.click("#agree")
    page.wait_for_url(f"{url}/listening")
    page.wait_for_selector("#history-on")
    assert "History is on" in page.inner_text("main")
    assert LISTENING.object("alice") in store.list("listening/")
    loaded = LISTENING.load(store, "alice")
    assert loaded is not None and loaded[0].status == "active"
    step(page, size, 18, "history-on")

    # Import Spotify's export, under the name Spotify gives it: music kept, podcasts left out.
    export_bytes = MICA_EXPORT.read_bytes()
    expected = parse_export_file(SPOTIFY_EXPORT_NAME, export_bytes)
    export_file = tmp_path / SPOTIFY_EXPORT_NAME
    export_file.write_bytes(export_bytes)
    page.set_input_files("#files", str(export_file))
    page.check("#mine")  # a 2024 export names no account: the person says it is theirs
    with page.expect_navigation():
        page.click("#import-form button[type=submit]")
    page.wait_for_selector("#last-import")
    kept = load_plays(store, "alice")
    result = page.inner_text("#last-import")
    assert f"1 file with {len(expected.plays):,} plays of music: {len(kept):,} new plays kept" in (
        result
    )
    assert f"left out: {expected.skipped['episode']:,} podcast episodes." in result
    months = month_objects(store, "alice")
    assert months and len(kept) > 0
    assert f"{len(kept):,} plays, from" in page.inner_text("#months")
    assert f"({len(months)} month files)" in page.inner_text("#months")
    step(page, size, 19, "history-imported")

    # Stats: the page reloads once in the browser's timezone, then shows totals, tops, pictures.
    page.click("#stats-link")
    page.wait_for_selector('#listening-stats[data-tz-chosen="1"]')
    # Chromium's ICU names some zones by their older alias (America/Buenos_Aires here).
    browser_zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    assert browser_zone.endswith("/Buenos_Aires")
    assert page.input_value("#tz") == browser_zone
    assert page.get_attribute("#listening-stats", "data-tz") == browser_zone
    assert page.inner_text("#total-plays") != "0"
    assert page.is_visible("#totals")
    assert page.locator("#period-all-time ol.top-list.artists li").count() > 0
    assert page.locator("#period-all-time ol.top-list.tracks li").count() > 0
    assert page.is_visible("#period-all-time ol.top-list.artists")
    charts = page.locator("figure.stats-figure svg")
    assert charts.count() == 4
    assert all(charts.nth(index).is_visible() for index in range(4))
    heatmap_before = page.inner_text("#figure-heatmap figcaption")
    assert f"in {browser_zone} time" in heatmap_before
    step(page, size, 20, "stats")

    # Another timezone by the form: the hours move with it.
    page.fill("#tz", "Asia/Tokyo")
    with page.expect_navigation():
        page.click("#tz-form button[type=submit]")
    page.wait_for_selector('#listening-stats[data-tz="Asia/Tokyo"]')
    assert page.input_value("#tz") == "Asia/Tokyo"
    heatmap_after = page.inner_text("#figure-heatmap figcaption")
    assert "in Asia/Tokyo time" in heatmap_after and heatmap_after != heatmap_before
    step(page, size, 21, "stats-tokyo")

    # Back on the Listening page, the way to delete the history alone is there.
    page.click("text=← Your listening")
    page.wait_for_selector("#delete-history")
    step(page, size, 22, "listening-with-history")
    return len(months)


def users_objects(store: FolderStore, user_id: str) -> list[str]:
    """Return every object Local Shows keeps of a person (liner notes and listening included)."""
    names = [
        name
        for prefix in (
            "users/",
            "backups/",
            "playlists/",
            "listening/",
            "plays/",
            "areas/",
            "previews/",
            "taste/",
            "chart_people/",
        )
        for name in store.list(prefix)
        if name.split("/", 1)[1].startswith((f"{user_id}.", f"{user_id}/"))
    ]
    return names + [f"notes: {n}" for n in range(count_user_notes(store, user_id))]
