"""The daily chart job when things go wrong (issue 18): damaged files, lost access, deletes that
race the run, refusals, and paging against the 2026 API.

Each test runs its own sandbox from START (the fixtures of tests/test_etl_charts.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from etl.chart_people import (
    APP_CREDENTIALS_PROBLEM,
    NOT_ALLOWLISTED,
    NOT_ALLOWLISTED_PROBLEM,
    NOT_YOURS_REASON,
    plan_playlists,
)
from etl.chart_read import ChartRead, fetch_chart_playlist
from etl.charts import collect
from etl.service import create_app as create_etl_app
from sandbox.charts import TOP_50_GLOBAL_ID
from sandbox.server import SandboxServer
from shared.chart_history import build_history
from shared.charts import (
    CHART_PEOPLE,
    NEEDS_SIGN_IN,
    ChartsRecord,
    TrackedPlaylist,
    chart_folder,
    load_about,
    load_history,
    load_snapshot,
    save_snapshot,
    snapshot_days,
)
from shared.config import Settings, load_settings
from shared.spotify import RequestLedger, SpotifyApi
from shared.storage import FolderStore, StorageError
from tests.conftest import BASE_ENV
from tests.contract import load_real
from tests.test_chart_history import snapshot
from tests.test_etl_charts import (  # the fixtures and helpers of the daily job's tests
    ALICES_DAILY,
    CRON,
    OFFICE_CHART,
    START,
    advance_day,
    day_of,
    files_of,
    run,
    settings_for,
    track,
)

OTHER = "0123456789abcdefABCDEF"  # a playlist id no one tracks


@pytest.fixture
def server(small_world: dict[str, Any]) -> Iterator[SandboxServer]:
    with SandboxServer(small_world, start=START) as running:
        yield running


@pytest.fixture
def store(tmp_path: Any) -> FolderStore:
    return FolderStore(tmp_path / "data")


@pytest.fixture
def settings(server: SandboxServer, store: FolderStore) -> Settings:
    return settings_for(server, store)


def history_from_snapshots(store: FolderStore, playlist_id: str) -> pd.DataFrame:
    days = snapshot_days(store, playlist_id)
    return build_history([(d, load_snapshot(store, playlist_id, d)) for d in days])


# 1 and 2: a damaged history is rebuilt; one playlist's trouble never stops the others.


def test_a_damaged_history_cell_is_rebuilt_and_the_other_playlists_still_run(
    server: SandboxServer, store: FolderStore, settings: Settings
) -> None:
    track(server, store, settings, "alice", ALICES_DAILY, OFFICE_CHART)
    run(server, store, settings)
    advance_day(server)
    name = f"{chart_folder(ALICES_DAILY)}history.csv"
    lines = store.read(name).data.decode().splitlines()
    cells = lines[1].split(",")
    cells[1] = "x"  # an unreadable rank: read as missing
    store.write(name, "\n".join([lines[0], ",".join(cells), *lines[2:]]).encode() + b"\n")

    summary = run(server, store, settings)

    assert (summary.snapshotted, summary.failed) == (2, 0)
    assert len(snapshot_days(store, OFFICE_CHART)) == 2
    rebuilt, _ = load_history(store, ALICES_DAILY)
    expected = history_from_snapshots(store, ALICES_DAILY)
    assert list(rebuilt["rank"]) == list(expected["rank"])
    assert list(rebuilt["previous_rank"]) == list(expected["previous_rank"])
    assert load_about(store, ALICES_DAILY).problem == ""


def test_a_history_that_is_not_csv_is_rebuilt_when_a_run_finishes_a_day(
    server: SandboxServer, store: FolderStore, settings: Settings
) -> None:
    track(server, store, settings, "alice", ALICES_DAILY)
    run(server, store, settings)
    store.write(f"{chart_folder(ALICES_DAILY)}history.csv", b"\xff\xfe not a csv")
    store.delete(f"{chart_folder(ALICES_DAILY)}about.json")  # as if the run died there

    again = run(server, store, settings)

    assert (again.already, again.failed, again.requests) == (1, 0, 0)
    assert set(load_history(store, ALICES_DAILY)[0]["day"]) == {day_of(server)}


def test_any_error_of_one_playlist_is_counted_and_said_and_the_rest_go_on(
    server: SandboxServer,
    store: FolderStore,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    track(server, store, settings, "alice", ALICES_DAILY, OFFICE_CHART)
    real_rows = collect.__globals__["snapshot_rows"]

    def broken(items: Any, captured_at: str) -> Any:
        if len(items) == 40:  # the office chart's
            raise RuntimeError("something no one foresaw")
        return real_rows(items, captured_at=captured_at)

    monkeypatch.setattr("etl.charts.snapshot_rows", broken)

    summary = run(server, store, settings)

    assert (summary.snapshotted, summary.failed) == (1, 1)
    assert dict(summary.failed_by_reason) == {"bad_data": 1}
    about = load_about(store, OFFICE_CHART)
    assert about.last_status == "failed" and "could not be taken" in about.problem


def test_the_endpoint_answers_a_failed_run_in_words_never_a_bare_500(
    server: SandboxServer,
    store: FolderStore,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the store went away")

    monkeypatch.setattr("etl.service.run_charts", failing)
    etl = create_etl_app(settings, store).test_client()

    answer = etl.get("/tasks/charts", headers=CRON)

    assert answer.status_code == 500
    assert answer.get_json() == {"status": "failed", "error": "RuntimeError: the store went away"}


def test_a_saved_snapshot_whose_history_failed_is_said_to_be_saved(
    server: SandboxServer,
    store: FolderStore,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    track(server, store, settings, "alice", ALICES_DAILY)

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise StorageError("the history could not be written")

    monkeypatch.setattr("etl.charts.add_to_history", failing)

    summary = run(server, store, settings)

    assert (summary.snapshotted, summary.failed, summary.history_failed) == (1, 0, 1)
    about = load_about(store, ALICES_DAILY)
    assert (about.last_status, about.last_day) == ("snapshot", day_of(server))
    assert about.problem.startswith("Today's snapshot was saved")
    assert "could not be taken" not in about.problem


def test_a_damaged_snapshot_is_left_out_of_the_rebuilt_history_as_a_gap(
    folder_store: FolderStore,
) -> None:
    from etl.charts import add_to_history
    from shared.charts import rebuild_history

    playlist = ALICES_DAILY
    save_snapshot(folder_store, playlist, "2026-11-01", snapshot("a", "b"))
    rebuild_history(folder_store, playlist)
    folder_store.write(f"{chart_folder(playlist)}2026-11-02.csv", b"position,track_id\nx,\n")
    save_snapshot(folder_store, playlist, "2026-11-03", snapshot("b", "c"))

    damaged = add_to_history(folder_store, playlist, "2026-11-03", snapshot("b", "c"))

    assert damaged == ["2026-11-02"]
    history = load_history(folder_store, playlist)[0]
    assert sorted(set(history["day"])) == ["2026-11-01", "2026-11-03"]  # no day copied
    third = history[history["day"] == "2026-11-03"].sort_values("rank")
    assert list(third["previous_rank"]) == ["2", ""]  # compared with the last good day


# 3: a person who lost a playlist loses it; the grant that reads a shared playlist turns.


def test_the_grant_that_reads_a_shared_playlist_turns_day_by_day() -> None:
    tracked = (TrackedPlaylist(OFFICE_CHART, "", ""),)
    people = {u: ChartsRecord(u, "sealed", playlists=tracked) for u in ("alice", "bob")}

    plans = [plan_playlists((), people, rotation=day)[OFFICE_CHART] for day in (0, 1, 2)]

    assert plans == [["alice", "bob"], ["bob", "alice"], ["alice", "bob"]]


def test_a_collaborator_removed_loses_the_playlist_and_the_owner_still_gets_the_days(
    server: SandboxServer, store: FolderStore, settings: Settings
) -> None:
    track(server, store, settings, "alice", ALICES_DAILY, OFFICE_CHART)
    track(server, store, settings, "bob", OFFICE_CHART)  # bob owns it; alice collaborates
    office = server.sandbox.playlists.get(OFFICE_CHART)
    assert office is not None and "alice" in office.collaborators
    office.collaborators.discard("alice")

    first = run(server, store, settings)
    first_day = day_of(server)
    advance_day(server)
    second = run(server, store, settings)

    assert snapshot_days(store, OFFICE_CHART) == [first_day, day_of(server)]
    assert first.snapshotted == second.snapshotted == 2
    assert first.taken_off_records + second.taken_off_records == 1  # on alice's turn
    alice = CHART_PEOPLE.load(store, "alice")
    assert alice is not None and alice[0].status == "active"
    assert not alice[0].tracks(OFFICE_CHART) and alice[0].tracks(ALICES_DAILY)
    assert alice[0].status_reason == NOT_YOURS_REASON.format(name=office.meta["name"])
    bob = CHART_PEOPLE.load(store, "bob")
    assert bob is not None and bob[0].tracks(OFFICE_CHART) and bob[0].status_reason == ""


# 4: deletes that race the run.


def test_a_playlist_deleted_while_the_run_reads_it_gets_no_files(
    server: SandboxServer,
    store: FolderStore,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    track(server, store, settings, "alice", ALICES_DAILY)
    real_fetch = fetch_chart_playlist

    def deleted_meanwhile(api: SpotifyApi, playlist_id: str) -> ChartRead:
        read = real_fetch(api, playlist_id)
        store.delete(CHART_PEOPLE.object("alice"))  # the web's "Delete my data", without the lease
        return read

    monkeypatch.setattr("etl.chart_people.fetch_chart_playlist", deleted_meanwhile)

    summary = run(server, store, settings)

    assert (summary.snapshotted, summary.untracked) == (0, 1)
    assert files_of(store, ALICES_DAILY) == {}


def test_chart_folders_no_one_tracks_are_swept_and_a_damaged_record_keeps_its_words(
    server: SandboxServer, store: FolderStore, settings: Settings
) -> None:
    track(server, store, settings, "alice", ALICES_DAILY)
    save_snapshot(store, OTHER, "2026-11-01", snapshot("a"))  # left behind by a race
    save_snapshot(store, OFFICE_CHART, "2026-11-01", snapshot("a"))
    store.write(CHART_PEOPLE.object("bo"), f'{{"playlists": ["{OFFICE_CHART}"'.encode())

    summary = run(server, store, settings)

    assert summary.swept == 1
    assert files_of(store, OTHER) == {}
    assert snapshot_days(store, OFFICE_CHART) == ["2026-11-01"]
    assert snapshot_days(store, ALICES_DAILY) == [day_of(server)]


# 5: paging by offset, whatever the embedded `next` says.


class PagedClient:
    """spotipy's place: a playlist of `size` entries whose embedded page's `next` names the
    old /tracks path (403 since 2026); the pages after it come only from playlist_items."""

    def __init__(self, size: int) -> None:
        entry = load_real("spotify/joostlek__playlist_items.json")["items"][0]
        self.entries = [entry] * size
        self.calls: list[dict[str, Any]] = []

    def page(self, playlist_id: str, offset: int) -> dict[str, Any]:
        more = offset + 100 < len(self.entries)
        old = f"https://api.spotify.com/v1/playlists/{playlist_id}/tracks?offset={offset + 100}"
        return {
            "items": self.entries[offset : offset + 100],
            "next": old if more else None,
            "total": len(self.entries),
        }

    def playlist(self, playlist_id: str, **options: Any) -> dict[str, Any]:
        return {"name": "Big", "owner": {"id": "x"}, "items": self.page(playlist_id, 0)}

    def playlist_items(self, playlist_id: str, **options: Any) -> dict[str, Any]:
        self.calls.append(options)
        return self.page(playlist_id, options["offset"])

    def next(self, page: dict[str, Any]) -> None:
        raise AssertionError("the embedded next is never followed")


@pytest.mark.parametrize("size", [100, 101, 250])
def test_pages_after_the_first_are_asked_by_offset_one_request_per_100(size: int) -> None:
    client = PagedClient(size)
    api = SpotifyApi(client)  # type: ignore[arg-type]

    read = fetch_chart_playlist(api, ALICES_DAILY)

    assert len(read.items) == size
    assert [item.position for item in read.items] == list(range(size))
    assert api.ledger.spent == math.ceil(size / 100)
    assert [c["offset"] for c in client.calls] == list(range(100, size, 100))
    for call in client.calls:
        assert (call["limit"], tuple(call["additional_types"])) == (100, ("track", "episode"))


# 6: refusals said for what they are.


def test_the_apps_refused_credentials_are_not_called_development_mode(
    server: SandboxServer, store: FolderStore
) -> None:
    good = settings_for(server, store, TOP_50_GLOBAL_ID)
    env = {**BASE_ENV, **server.settings_env(), "DATA_URL": str(store.root)}
    bad = load_settings({**env, "CHART_PLAYLISTS": TOP_50_GLOBAL_ID, "SPOTIFY_CLIENT_SECRET": "no"})
    assert bad.spotify_client_secret != good.spotify_client_secret

    summary = collect(
        store, bad, RequestLedger(), now=server.sandbox.clock.now(), sleep=lambda s: None
    )

    about = load_about(store, TOP_50_GLOBAL_ID)
    assert (dict(summary.failed_by_reason), about.problem) == (
        {"refused": 1},
        APP_CREDENTIALS_PROBLEM,
    )
    assert "Development Mode" not in about.problem


def test_a_person_off_the_allowlist_is_paused_and_keeps_their_playlists(
    server: SandboxServer, store: FolderStore, settings: Settings
) -> None:
    track(server, store, settings, "mallory", ALICES_DAILY)  # not on the app's allowlist

    summary = run(server, store, settings)

    mallory = CHART_PEOPLE.load(store, "mallory")
    assert mallory is not None and mallory[0].status == NEEDS_SIGN_IN
    assert mallory[0].status_reason == NOT_ALLOWLISTED
    assert mallory[0].tracks(ALICES_DAILY)
    assert (summary.newly_paused, summary.taken_off_records) == (1, 0)
    assert load_about(store, ALICES_DAILY).problem == NOT_ALLOWLISTED_PROBLEM
