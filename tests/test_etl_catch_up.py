"""The daily catch-up against the sandbox: nothing left costs no request; after a build stopped
by quota it checks what was left (saved areas' performers first) and refreshes the touched area;
cron only; the build's lease."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from etl.catch_up import NOTHING_TO_DO, run_catch_up
from etl.lease import take_lease
from etl.pipeline import make_spotify, run_etl
from etl.refresh_areas import WAITING
from etl.service import create_app as create_etl_app
from etl.sources.registry import make_sources
from etl.wanted import area_performers, concert_shows, query_of
from sandbox.server import SandboxServer
from shared import area_plan
from shared.config import Settings, load_settings
from shared.datasets import ARTISTS, CONCERTS, load_dataset
from shared.shows_data import load_shows
from shared.storage import FolderStore
from tests.clock import clock_now
from tests.conftest import BASE_ENV
from tests.test_etl_saved_areas import (
    busiest_city,
    refresh,
    sandbox_playlist,
    save_area,
    stats,
    stored_area,
)
from web.status import parse_run_report

CRON = {"X-Appengine-Cron": "true"}
NOW = clock_now()


def settings_for(sandbox: SandboxServer, store: FolderStore) -> Settings:
    return load_settings(
        {
            **BASE_ENV,
            **sandbox.settings_env(),
            "DATA_URL": str(store.root),
            "TICKETMASTER_API_KEY": "",
        }
    )


@pytest.fixture
def settings(sandbox: SandboxServer, data_copy: FolderStore) -> Settings:
    return settings_for(sandbox, data_copy)


@pytest.fixture
def etl_client(settings: Settings, data_copy: FolderStore) -> FlaskClient:
    return create_etl_app(settings, data_copy).test_client()


def test_nothing_left_makes_no_spotify_request(
    data_copy: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    save_area(data_copy, settings, "alice", busiest_city(load_shows(data_copy)))
    refresh(data_copy, settings)  # as the build does: the area's playlist is written
    before = stats(sandbox)["requests"]

    report = run_catch_up(data_copy, make_spotify(settings), settings=settings)

    assert stats(sandbox)["requests"] == before
    assert (report["kind"], report["status"]) == ("catch-up", NOTHING_TO_DO)
    assert report["left_before"] == {"performers": 0, "tracks_due": 0}
    assert report["spotify"]["requests"] == 0
    saved = data_copy.read(f"runs/{report['run_id']}.json").data
    assert json.loads(saved)["kind"] == "catch-up"
    shown = parse_run_report(saved)  # as the status page reads it
    assert (shown.kind_label, shown.status_label) == ("Catch-up", "Nothing to do")


def test_a_catch_up_checks_what_a_stopped_build_left_and_refreshes_the_area(
    sandbox: SandboxServer, built_datasets: Path, tmp_path: Path
) -> None:
    query = busiest_city(load_shows(FolderStore(built_datasets)))
    store = FolderStore(tmp_path / "fresh")
    settings = settings_for(sandbox, store)
    save_area(store, settings, "alice", query)
    sandbox.sandbox.options.daily_quota = 3
    build = run_etl(
        store, make_sources(settings), make_spotify(settings), settings.etl_states,
        now=NOW, settings=settings,
    )  # fmt: skip
    assert build["status"] == "stopped_quota" and build["artists"]["left_for_next_run"] > 0
    assert build["saved_areas"]["stopped"] == "quota" and build["saved_areas"]["left_waiting"] == 1
    concerts, _ = load_dataset(store, CONCERTS)
    wanted = area_performers(concert_shows(concerts), query_of(query), NOW.date())
    sandbox.sandbox.limits.reset()  # the next quota day: enough for the saved area, not all
    sandbox.sandbox.options.daily_quota = 40

    first = run_catch_up(store, make_spotify(settings), settings=settings, now=NOW)

    assert (first["kind"], first["status"]) == ("catch-up", "stopped_quota")
    assert first["left_before"]["performers"] == build["artists"]["left_for_next_run"]
    assert first["artists"]["left_for_next_run"] > 0
    artists, _ = load_dataset(store, ARTISTS)
    assert wanted <= set(artists["performer_key"])  # the saved area's performers came first
    assert first["saved_areas_touched"] == 1

    sandbox.sandbox.limits.reset()
    sandbox.sandbox.options.daily_quota = None
    second = run_catch_up(store, make_spotify(settings), settings=settings, now=NOW)

    assert second["status"] == "ok" and second["artists"]["left_for_next_run"] == 0
    area = stored_area(store, "alice")
    assert area.last_result.startswith("Updated: ") and area.content_hash
    _, uris = area_plan.plan(load_shows(store), query_of(query), NOW.date())
    playlist = sandbox_playlist(sandbox, area.playlist_id)
    assert [f"spotify:track:{t}" for t in playlist["track_ids"]] == uris


def test_areas_a_refresh_could_not_reach_are_refreshed_with_nothing_left_to_match(
    data_copy: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    """The build matched everything, but Spotify's quota ran out during its refresh."""
    query = busiest_city(load_shows(data_copy))
    save_area(data_copy, settings, "alice", query)
    save_area(data_copy, settings, "bob", query)
    sandbox.sandbox.limits.reset()
    sandbox.sandbox.options.daily_quota = 2  # one new playlist takes two: the first person's
    try:
        stopped = refresh(data_copy, settings)
    finally:
        sandbox.sandbox.limits.reset()
        sandbox.sandbox.options.daily_quota = None
    assert stopped.stopped == "quota" and stopped.left_waiting >= 1
    waiting = [u for u in ("alice", "bob") if not stored_area(data_copy, u).content_hash]
    assert waiting and stored_area(data_copy, waiting[0]).last_result == WAITING

    report = run_catch_up(data_copy, make_spotify(settings), settings=settings)

    assert report["status"] == "ok" and report["left_before"]["performers"] == 0
    assert report["saved_areas_waiting"] == len(waiting)
    assert report["saved_areas"]["updated"] + report["saved_areas"]["made_again"] >= len(waiting)
    for user in ("alice", "bob"):
        area = stored_area(data_copy, user)
        assert area.content_hash and area.last_result.startswith(("Updated: ", "Unchanged: "))
    _, uris = area_plan.plan(load_shows(data_copy), query_of(query), NOW.date())
    playlist = sandbox_playlist(sandbox, stored_area(data_copy, waiting[0]).playlist_id)
    assert [f"spotify:track:{t}" for t in playlist["track_ids"]] == uris
    # Once written, the next day's catch-up has nothing to do again.
    before = stats(sandbox)["requests"]
    again = run_catch_up(data_copy, make_spotify(settings), settings=settings)
    assert again["status"] == NOTHING_TO_DO and stats(sandbox)["requests"] == before


def test_the_catch_up_answers_only_cron(etl_client: FlaskClient) -> None:
    answer = etl_client.get("/tasks/catch-up")

    assert answer.status_code == 403
    assert answer.get_json()["status"] == "forbidden"


def test_the_catch_up_waits_while_the_build_holds_the_lease(
    etl_client: FlaskClient, data_copy: FolderStore, sandbox: SandboxServer
) -> None:
    take_lease(data_copy, "a-build", now=clock_now() - timedelta(minutes=5))
    before = stats(sandbox)["requests"]

    answer = etl_client.get("/tasks/catch-up", headers=CRON)

    assert answer.status_code == 409 and answer.get_json()["status"] == "busy"
    assert stats(sandbox)["requests"] == before
