"""The daily chart job (issue 18) through spotipy against the sandbox: snapshots, history, costs.

Each test runs its own sandbox from START, so that moving its clock a day moves no one else's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
import requests

from etl.chart_people import (
    DEVELOPMENT_MODE_PROBLEM,
    NOT_YOURS_REASON,
    REVOKED,
    SIGN_IN_PROBLEM,
    plan_playlists,
)
from etl.chart_read import ChartRead, fetch_chart_playlist, parse_chart_playlist
from etl.charts import CHARTS_LEASE_NAME, ChartsSummary, collect
from etl.lease import take_lease
from etl.service import create_app as create_etl_app
from sandbox.charts import TOP_50_GLOBAL_ID, VIRAL_50_GLOBAL_ID
from sandbox.server import SandboxServer
from sandbox.world import daily_playlist_id
from shared.chart_history import RE_ENTRY
from shared.charts import (
    ACTIVE,
    CHART_PEOPLE,
    CHART_SCOPES,
    NEEDS_SIGN_IN,
    ChartsRecord,
    TrackedPlaylist,
    chart_folder,
    load_about,
    load_history,
    load_snapshot,
    snapshot_days,
)
from shared.config import ConfigError, Settings, load_settings
from shared.spotify import RequestLedger, SpotifyApi, SpotifyRefusedError, SpotifyShapeError
from shared.storage import FolderStore
from shared.tokens import TokenBox
from tests.clock import clock_now
from tests.conftest import BASE_ENV
from tests.contract import load_real
from tests.sandbox_clients import authorize_code, oauth, user_client

START = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)
ALICES_DAILY = daily_playlist_id("alice-daily-50")  # alice's own, 50 tracks, churning daily
OFFICE_CHART = daily_playlist_id("office-chart")  # bob's, alice collaborates; 40 tracks
CRON = {"X-Appengine-Cron": "true"}


@pytest.fixture
def server(small_world: dict[str, Any]) -> Iterator[SandboxServer]:
    with SandboxServer(small_world, start=START) as running:
        yield running


@pytest.fixture
def store(tmp_path: Any) -> FolderStore:
    return FolderStore(tmp_path / "data")


def settings_for(server: SandboxServer, store: FolderStore, operator: str = "") -> Settings:
    env = {**BASE_ENV, **server.settings_env(), "DATA_URL": str(store.root)}
    return load_settings({**env, "CHART_PLAYLISTS": operator})


@pytest.fixture
def settings(server: SandboxServer, store: FolderStore) -> Settings:
    return settings_for(server, store)


def saves_of(world: dict[str, Any], user: str) -> dict[str, Any]:
    """A user's "Discover Weekly saves": a playlist with episodes, a local file, removed tracks."""
    return next(
        p for p in world["spotify"]["playlists"] if p["owner_id"] == user and "saves" in p["name"]
    )


def track(
    server: SandboxServer, store: FolderStore, settings: Settings, user: str, *ids: str
) -> None:
    """Give a person's grant (the consent the web asks for) and the playlists they track."""
    manager = oauth(server, CHART_SCOPES)
    manager.get_access_token(authorize_code(server, manager, user), as_dict=False)
    refresh_token = manager.cache_handler.get_cached_token()["refresh_token"]
    sealed = TokenBox(settings.token_encryption_key).seal({"refresh_token": refresh_token})
    playlists = tuple(TrackedPlaylist(i, "", "2026-11-02T15:00:00Z") for i in ids)
    CHART_PEOPLE.put(store, ChartsRecord(user, sealed, display_name=user, playlists=playlists))


def run(server: SandboxServer, store: FolderStore, settings: Settings) -> ChartsSummary:
    return collect(
        store, settings, RequestLedger(), now=server.sandbox.clock.now(), sleep=lambda s: None
    )


def advance_day(server: SandboxServer, days: int = 1) -> None:
    answer = requests.post(f"{server.url}/_sandbox/advance-day", json={"days": days}, timeout=10)
    assert answer.status_code == 200, answer.text


def day_of(server: SandboxServer) -> str:
    return server.sandbox.clock.now().date().isoformat()


def files_of(store: FolderStore, playlist_id: str) -> dict[str, bytes]:
    return {name: store.read(name).data for name in store.list(chart_folder(playlist_id))}


def sandbox_chart(server: SandboxServer, playlist_id: str) -> list[str]:
    """The track ids the sandbox's churning playlist holds on its current day."""
    playlist = server.sandbox.playlists.get(playlist_id)
    assert playlist is not None
    return list(playlist.track_ids)


# What is read, and how often.


def test_a_persons_playlist_is_snapshotted_once_a_day(
    server: SandboxServer, store: FolderStore, settings: Settings
) -> None:
    track(server, store, settings, "alice", ALICES_DAILY)

    first = run(server, store, settings)
    files = files_of(store, ALICES_DAILY)
    again = run(server, store, settings)

    day = day_of(server)
    assert (first.snapshotted, first.failed, first.requests_by_playlist) == (
        1,
        0,
        {ALICES_DAILY: 1},
    )
    assert snapshot_days(store, ALICES_DAILY) == [day]
    snapshot = load_snapshot(store, ALICES_DAILY, day)
    assert list(snapshot["track_id"]) == sandbox_chart(server, ALICES_DAILY)
    about = load_about(store, ALICES_DAILY)
    assert (about.name, about.last_day, about.last_status) == ("Alice's daily 50", day, "snapshot")
    assert about.owner  # her display name, as the playlist's owner
    assert (about.tracks, about.requests, about.problem) == (50, 1, "")
    # The second run that day: no request, not a byte changed.
    assert (again.snapshotted, again.already, again.requests) == (0, 1, 0)
    assert files_of(store, ALICES_DAILY) == files


def test_a_run_that_died_after_the_snapshot_is_finished_without_a_request(
    server: SandboxServer, store: FolderStore, settings: Settings
) -> None:
    track(server, store, settings, "alice", ALICES_DAILY)
    run(server, store, settings)
    history, _ = load_history(store, ALICES_DAILY)
    folder = chart_folder(ALICES_DAILY)
    store.delete(f"{folder}history.csv")
    store.delete(f"{folder}about.json")

    again = run(server, store, settings)

    assert (again.already, again.requests) == (1, 0)
    pd.testing.assert_frame_equal(load_history(store, ALICES_DAILY)[0], history)
    about = load_about(store, ALICES_DAILY)
    assert (about.last_day, about.last_status) == (day_of(server), "already")


def test_the_next_day_adds_a_snapshot_and_the_history_grows_with_previous_ranks(
    server: SandboxServer, store: FolderStore, settings: Settings
) -> None:
    track(server, store, settings, "alice", ALICES_DAILY)
    run(server, store, settings)
    first_day, before = day_of(server), sandbox_chart(server, ALICES_DAILY)
    advance_day(server)

    later = run(server, store, settings)

    second_day, after = day_of(server), sandbox_chart(server, ALICES_DAILY)
    assert later.snapshotted == 1 and snapshot_days(store, ALICES_DAILY) == [first_day, second_day]
    assert before != after  # the sandbox's chart churned
    history, _ = load_history(store, ALICES_DAILY)
    today = history[history["day"] == second_day].sort_values("rank")
    assert list(today["track_id"]) == after
    was = {track_id: rank for rank, track_id in enumerate(before, start=1)}
    for row in today.itertuples():
        assert row.previous_rank == (str(was[row.track_id]) if row.track_id in was else "")
        assert row.days_on_chart == (2 if row.track_id in was else 1)
        assert row.last_seen == second_day


def test_a_missed_day_stays_a_gap_and_the_next_compares_with_the_last_taken(
    server: SandboxServer, store: FolderStore, settings: Settings
) -> None:
    track(server, store, settings, "alice", ALICES_DAILY)
    run(server, store, settings)
    first_day, before = day_of(server), sandbox_chart(server, ALICES_DAILY)
    advance_day(server, 2)  # no run on the day between

    run(server, store, settings)

    third_day = day_of(server)
    assert snapshot_days(store, ALICES_DAILY) == [first_day, third_day]
    history, _ = load_history(store, ALICES_DAILY)
    assert sorted(set(history["day"])) == [first_day, third_day]
    was = {track_id: rank for rank, track_id in enumerate(before, start=1)}
    today = history[history["day"] == third_day]
    assert all(
        p == (str(was[t]) if t in was else "")
        for t, p in zip(today["track_id"], today["previous_rank"], strict=True)
    )


def test_requests_are_one_per_100_entries_and_the_name_costs_none(
    server: SandboxServer, store: FolderStore, settings: Settings, small_world: dict[str, Any]
) -> None:
    saves = saves_of(small_world, "alice")["id"]
    alice = user_client(server, "alice")
    more = [f"spotify:track:{t}" for t in list(server.sandbox.catalog.tracks)[:150]]
    alice.playlist_add_items(saves, more[:100])
    alice.playlist_add_items(saves, more[100:])
    track(server, store, settings, "alice", ALICES_DAILY, OFFICE_CHART, saves)
    sizes = {
        p: len(server.sandbox.playlists.get(p).track_ids)  # type: ignore[union-attr]
        for p in (ALICES_DAILY, OFFICE_CHART, saves)
    }

    summary = run(server, store, settings)

    assert sizes[saves] > 100
    expected = {p: max(1, math.ceil(n / 100)) for p, n in sizes.items()}
    assert summary.requests_by_playlist == expected
    assert summary.requests == sum(expected.values())
    assert {p: load_about(store, p).requests for p in sizes} == expected
    assert load_about(store, saves).name == saves_of(small_world, "alice")["name"]


def test_episodes_local_files_and_removed_items_are_skipped_and_counted(
    server: SandboxServer, store: FolderStore, settings: Settings, small_world: dict[str, Any]
) -> None:
    saves = saves_of(small_world, "alice")
    refs = saves["track_ids"]
    episodes = sum(1 for r in refs if isinstance(r, str) and r.startswith("spotify:episode:"))
    local = sum(1 for r in refs if isinstance(r, str) and r.startswith("spotify:local:"))
    track(server, store, settings, "alice", saves["id"])

    summary = run(server, store, settings)

    snapshot = load_snapshot(store, saves["id"], day_of(server))
    about = load_about(store, saves["id"])
    assert episodes and local and None in refs
    assert about.skipped["episode"] == episodes and about.skipped["local"] == local
    assert sum(about.skipped.values()) + len(snapshot) == len(refs)
    assert dict(summary.skipped_items) == about.skipped
    assert snapshot["track_id"].str.fullmatch(r"[0-9A-Za-z]{22}").all()
    assert list(snapshot["position"]) == sorted(snapshot["position"])


class RecordedClient:
    """spotipy's place, answering a recorded page wrapped in the playlist object around it."""

    def __init__(self, page: dict[str, Any]) -> None:
        self.page = page

    def playlist(self, playlist_id: str, **options: Any) -> dict[str, Any]:
        return {"id": playlist_id, "name": "Recorded", "owner": {"id": "x"}, "items": self.page}

    def next(self, page: dict[str, Any]) -> None:
        raise AssertionError("a last page has no next")


@pytest.mark.parametrize(
    ("recording", "tracks", "skipped"),
    [
        ("spotify/joostlek__playlist_items.json", 1, {}),  # `item` and `track` both
        ("spotify/java__GetPlaylistsItemsRequest_Episode.json", 0, {"episode": 1}),
    ],
)
def test_real_recorded_entries_go_through_the_reader(
    recording: str, tracks: int, skipped: dict[str, int]
) -> None:
    from shared.charts import snapshot_rows

    api = SpotifyApi(RecordedClient(load_real(recording)))  # type: ignore[arg-type]

    read = fetch_chart_playlist(api, ALICES_DAILY)
    frame, counted = snapshot_rows(read.items, captured_at="2026-11-02T10:30:00Z")

    assert (read.name, read.owner) == ("Recorded", "x")
    assert (len(frame), dict(counted)) == (tracks, skipped)
    assert api.ledger.spent == 1


@pytest.mark.parametrize(
    "answer",
    [None, [], {"items": {"items": []}}, {"name": 3}, {"name": "x", "items": {"items": "no"}}],
)
def test_an_answer_of_another_shape_is_a_shape_error(answer: Any) -> None:
    with pytest.raises(SpotifyShapeError):
        api = SpotifyApi(RecordedClient({}))  # type: ignore[arg-type]
        api.client.playlist = lambda *a, **k: answer  # type: ignore[method-assign]
        fetch_chart_playlist(api, ALICES_DAILY)


def test_entries_summarised_without_a_list_are_refused_without_another_request() -> None:
    with pytest.raises(SpotifyRefusedError) as refused:
        parse_chart_playlist({"name": "x", "items": {"href": "h", "total": 40}})
    assert refused.value.status == 403
    # The older shape (`tracks`) is read as well as the 2026 one.
    assert parse_chart_playlist({"name": "x", "tracks": {"items": []}})[2] == {"items": []}


# Failures stay with their playlist or their person.


def test_one_failing_playlist_never_stops_the_others(
    server: SandboxServer,
    store: FolderStore,
    settings: Settings,
    small_world: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bobs = saves_of(small_world, "bob")["id"]  # alice may not read its tracks: 403
    garbled = OFFICE_CHART
    track(server, store, settings, "alice", bobs, garbled, ALICES_DAILY)
    real_fetch = fetch_chart_playlist

    def garbling(api: SpotifyApi, playlist_id: str) -> ChartRead:
        if playlist_id == garbled:
            raise SpotifyShapeError("playlist items page: the page has no list of items")
        return real_fetch(api, playlist_id)

    monkeypatch.setattr("etl.chart_people.fetch_chart_playlist", garbling)

    summary = run(server, store, settings)

    # Bob's playlist is not alice's: it is taken off her record, and no file is written for it.
    assert (summary.snapshotted, summary.failed, summary.untracked) == (1, 1, 1)
    assert (dict(summary.failed_by_reason), summary.taken_off_records) == ({"bad_answer": 1}, 1)
    assert files_of(store, bobs) == {}
    assert load_about(store, garbled).last_status == "failed"
    assert "could not be taken" in load_about(store, garbled).problem
    assert snapshot_days(store, ALICES_DAILY) == [day_of(server)]
    record = CHART_PEOPLE.load(store, "alice")
    assert record is not None and record[0].status == ACTIVE  # not the grant's fault
    assert not record[0].tracks(bobs) and record[0].tracks(garbled)
    name = saves_of(small_world, "bob")["name"]
    assert record[0].status_reason == NOT_YOURS_REASON.format(name=name)


def test_a_revoked_grant_pauses_only_that_person_and_another_grant_reads_shared_playlists(
    server: SandboxServer, store: FolderStore, settings: Settings
) -> None:
    track(server, store, settings, "alice", ALICES_DAILY, OFFICE_CHART)
    track(server, store, settings, "bob", OFFICE_CHART)
    requests.post(f"{server.url}/_sandbox/revoke", json={"user": "alice"}, timeout=10)

    summary = run(server, store, settings)

    alice = CHART_PEOPLE.load(store, "alice")
    assert alice is not None and alice[0].status == NEEDS_SIGN_IN
    assert alice[0].status_reason == REVOKED
    bob = CHART_PEOPLE.load(store, "bob")
    assert bob is not None and bob[0].status == ACTIVE
    assert summary.newly_paused == 1 and summary.snapshotted == 1
    assert snapshot_days(store, OFFICE_CHART) == [day_of(server)]  # read once, with bob's
    assert load_about(store, ALICES_DAILY).problem == SIGN_IN_PROBLEM
    # Paused, alice costs nothing the next day.
    advance_day(server)
    later = run(server, store, settings)
    assert (later.waiting_for_sign_in, later.playlists, later.requests) == (1, 1, 1)


def test_a_spent_quota_stops_the_run_and_the_next_run_does_the_rest(
    server: SandboxServer, store: FolderStore, settings: Settings
) -> None:
    track(server, store, settings, "alice", ALICES_DAILY, OFFICE_CHART)
    server.sandbox.options.daily_quota = server.sandbox.limits.quota_used()[1] + 1

    stopped = run(server, store, settings)
    server.sandbox.options.daily_quota = None
    resumed = run(server, store, settings)

    assert (stopped.stopped, stopped.snapshotted) == ("quota", 1)
    assert stopped.as_report()["stopped_quota"] is True
    assert (resumed.stopped, resumed.snapshotted, resumed.already) == ("", 1, 1)
    assert resumed.requests_by_playlist == {ALICES_DAILY: 0, OFFICE_CHART: 1}
    record = CHART_PEOPLE.load(store, "alice")
    assert record is not None and record[0].status == ACTIVE


# The history can always be rebuilt from the snapshots.


def test_rebuild_gives_the_history_the_days_built(
    server: SandboxServer,
    store: FolderStore,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from etl.__main__ import main

    track(server, store, settings, "alice", ALICES_DAILY)
    for step in (1, 1, 3, 1, 1, 1, 2, 1):  # gaps of two and one missed days
        run(server, store, settings)
        advance_day(server, step)
    incremental, _ = load_history(store, ALICES_DAILY)
    store.delete(f"{chart_folder(ALICES_DAILY)}history.csv")
    for name, value in {**BASE_ENV, **server.settings_env()}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEY", settings.token_encryption_key)
    used = server.sandbox.limits.quota_used()[1]

    assert main(["charts", "--rebuild", "--data", str(store.root)]) == 0

    assert "1 histories rebuilt, 0 failed" in capsys.readouterr().out
    assert server.sandbox.limits.quota_used()[1] == used  # no Spotify request
    rebuilt, _ = load_history(store, ALICES_DAILY)
    pd.testing.assert_frame_equal(rebuilt, incremental)
    # A re-entry is a track on an earlier snapshot, but not on the previous one.
    days = sorted(set(incremental["day"]))
    assert len(days) == 8
    charted = {d: set(incremental.loc[incremental["day"] == d, "track_id"]) for d in days}
    reentries = incremental[incremental["previous_rank"] == RE_ENTRY]
    assert len(reentries)
    for row in reentries.itertuples():
        at = days.index(row.day)
        assert row.track_id not in charted[days[at - 1]]
        assert any(row.track_id in charted[d] for d in days[: at - 1])


# The operator's playlists, read with the app's own token.


def test_a_top_50_in_development_mode_says_it_needs_extended_quota(
    server: SandboxServer, store: FolderStore
) -> None:
    settings = settings_for(server, store, f"{TOP_50_GLOBAL_ID}, {VIRAL_50_GLOBAL_ID}")

    summary = run(server, store, settings)

    assert (summary.snapshotted, dict(summary.failed_by_reason)) == (0, {"not_found": 2})
    about = load_about(store, TOP_50_GLOBAL_ID)
    assert (about.last_status, about.problem) == ("not_found", DEVELOPMENT_MODE_PROBLEM)
    assert "Extended Quota" in about.problem and "Development Mode" in about.problem
    assert summary.requests_by_playlist == {TOP_50_GLOBAL_ID: 1, VIRAL_50_GLOBAL_ID: 1}
    assert snapshot_days(store, TOP_50_GLOBAL_ID) == []
    # A 404 holds all day: a second run asks nothing; the next day asks again.
    again = run(server, store, settings)
    assert (again.requests, dict(again.failed_by_reason)) == (0, {"not_found": 2})
    advance_day(server)
    assert run(server, store, settings).requests == 2


def test_a_top_50_with_extended_quota_is_snapshotted_with_the_app_token(
    server: SandboxServer, store: FolderStore
) -> None:
    answer = requests.post(f"{server.url}/_sandbox/config", json={"mode": "extended"}, timeout=10)
    assert answer.status_code == 200, answer.text
    settings = settings_for(server, store, TOP_50_GLOBAL_ID)

    summary = run(server, store, settings)

    assert (summary.snapshotted, summary.requests) == (1, 1)
    snapshot = load_snapshot(store, TOP_50_GLOBAL_ID, day_of(server))
    assert list(snapshot["track_id"]) == sandbox_chart(server, TOP_50_GLOBAL_ID)
    assert load_about(store, TOP_50_GLOBAL_ID).name == "Top 50 - Global"


def test_a_playlist_is_read_once_whoever_tracks_it() -> None:
    record = ChartsRecord("bob", "sealed", playlists=(TrackedPlaylist(ALICES_DAILY, "", ""),))
    paused = ChartsRecord("eve", "sealed", status=NEEDS_SIGN_IN, playlists=record.playlists)
    alice = ChartsRecord("alice", "sealed", playlists=record.playlists)

    plan = plan_playlists(
        (TOP_50_GLOBAL_ID, ALICES_DAILY), {"bob": record, "eve": paused, "alice": alice}
    )

    assert plan == {TOP_50_GLOBAL_ID: [""], ALICES_DAILY: ["", "alice", "bob"]}


@pytest.mark.parametrize("raw", ["37i9dQZEVXbMDoHDwVN2tF, not-a-playlist", "spotify:album:x"])
def test_a_bad_chart_playlists_entry_names_the_setting_and_the_entry(raw: str) -> None:
    with pytest.raises(ConfigError, match="CHART_PLAYLISTS") as error:
        load_settings({**BASE_ENV, "CHART_PLAYLISTS": raw})
    assert raw.rsplit(", ", maxsplit=1)[-1][:10] in str(error.value)


# The endpoint and the command line.


def test_the_job_answers_only_cron_and_has_its_own_lease(
    server: SandboxServer, store: FolderStore, settings: Settings
) -> None:
    track(server, store, settings, "alice", ALICES_DAILY)
    etl = create_etl_app(settings, store).test_client()

    assert etl.get("/tasks/charts").status_code == 403
    answer = etl.get("/tasks/charts", headers=CRON)
    assert answer.status_code == 200, answer.get_json()
    assert (answer.get_json()["snapshotted"], answer.get_json()["status"]) == (1, "ok")
    assert store.generation(CHARTS_LEASE_NAME) is None  # released
    take_lease(store, "other", now=clock_now(), name=CHARTS_LEASE_NAME)
    assert etl.get("/tasks/charts", headers=CRON).status_code == 409


def test_the_cli_runs_the_day_and_says_what_it_did(
    server: SandboxServer,
    store: FolderStore,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from etl.__main__ import main

    track(server, store, settings, "alice", ALICES_DAILY)
    for name, value in {**BASE_ENV, **server.settings_env()}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEY", settings.token_encryption_key)

    assert main(["charts", "--data", str(store.root)]) == 0
    assert "1 of 1 playlists snapshotted" in capsys.readouterr().out


def test_the_cli_takes_the_run_time_so_the_demo_follows_the_sandbox_day(
    server: SandboxServer,
    store: FolderStore,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from etl.__main__ import main

    track(server, store, settings, "alice", ALICES_DAILY)
    for name, value in {**BASE_ENV, **server.settings_env()}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEY", settings.token_encryption_key)
    data = ["charts", "--data", str(store.root)]

    assert main([*data, "--now", server.sandbox.clock.now().isoformat()]) == 0
    advance_day(server, 2)
    assert main([*data, "--now", server.sandbox.clock.now().isoformat()]) == 0

    first = START.date().isoformat()
    third = (START + pd.Timedelta(days=2)).date().isoformat()
    assert snapshot_days(store, ALICES_DAILY) == [first, third]
    assert "1 of 1 playlists snapshotted" in capsys.readouterr().out
    for bad in ("yesterday", "2026-11-02T10:00:00"):
        with pytest.raises(SystemExit) as exit_info:
            main([*data, "--now", bad])
        assert exit_info.value.code == 2
    assert "has no zone" in capsys.readouterr().err
