"""Weekly backups: the weekly run snapshots every week once, the archive copy, failures.

The web side (opt in, back up now, the page, stop and delete) is in test_web_backups.py.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import requests
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient

from etl.backups import back_up_everyone
from sandbox.server import SandboxServer
from sandbox.world import discover_weekly_id
from shared.backups import iso_week
from shared.config import Settings, load_settings
from shared.datasets import backups_of, load_dataset, save_dataset
from shared.spotify import RequestLedger
from shared.storage import FolderStore
from shared.tokens import TokenBox
from shared.users import ACTIVE, BACKUPS, NEEDS_SIGN_IN
from tests.conftest import BASE_ENV
from tests.web_helpers import csrf_token, sign_in
from web import create_app

MONDAY = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)  # 06:00 in New York: when cron.yaml runs
OPTED_IN = MONDAY - timedelta(weeks=1)  # the web's clock: people opt in the week before the runs


@pytest.fixture(autouse=True)
def web_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opting in takes a first backup at once: date it the week before the weekly runs."""
    monkeypatch.setattr("web.backups.utc_now", lambda: OPTED_IN)


@pytest.fixture
def store(tmp_path: Any) -> FolderStore:
    return FolderStore(tmp_path / "data")


@pytest.fixture
def settings(sandbox: SandboxServer, store: FolderStore) -> Settings:
    return load_settings({**BASE_ENV, **sandbox.settings_env(), "DATA_URL": str(store.root)})


@pytest.fixture
def app(settings: Settings, store: FolderStore) -> Flask:
    return create_app(settings, store)


def opt_in(app: Flask, user: str, source: str, archive: bool = False) -> FlaskClient:
    """Sign a user in with their own browser (client) and opt in to backups of source."""
    client = app.test_client()
    sign_in(client, user)
    page = client.get("/backups")
    assert page.status_code == 200
    values = re.findall(r'name="source" value="([^"]+)"', page.get_data(as_text=True))
    chosen = next(v for v in values if v.startswith(source))
    answer = client.post(
        "/backups/opt-in",
        data={
            "csrf_token": csrf_token(page),
            "source": chosen,
            **({"archive": "1"} if archive else {}),
        },
    )
    assert answer.status_code == 302
    return client


def run_week(store: FolderStore, settings: Settings, week: int) -> Any:
    return back_up_everyone(
        store, settings, RequestLedger(), now=MONDAY + timedelta(weeks=week), sleep=lambda s: None
    )


def week_rows(frame: pd.DataFrame, moment: datetime) -> pd.DataFrame:
    return frame[frame["week"] == iso_week(moment)]


def archive_of(sandbox: SandboxServer, store: FolderStore, user: str) -> dict[str, Any]:
    """Return the user's archive playlist (the sandbox's session keeps earlier tests' too)."""
    settings = (BACKUPS.load(store, user) or (None,))[0]
    assert settings is not None and settings.archive_playlist_id
    playlists = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["playlists"]
    return next(p for p in playlists if p["id"] == settings.archive_playlist_id)


def weekly_tracks(sandbox: SandboxServer, user: str) -> list[str]:
    return [t for t in sandbox.sandbox.playlists.discover_weekly(user).track_ids if t]


def own_playlist(sandbox: SandboxServer, user: str) -> Any:
    return next(
        p
        for p in sandbox.sandbox.playlists.playlists.values()
        if p.owner_id == user and not p.created_here
    )


def test_discover_weekly_is_offered_only_when_spotify_lets_the_app_read_it(
    app: Flask, sandbox: SandboxServer
) -> None:
    client = app.test_client()
    sign_in(client, "alice")

    page = client.get("/backups")
    development = page.get_data(as_text=True)
    sandbox.sandbox.options.mode = "extended"
    # The page keeps what it listed for minutes; "Refresh the list" asks Spotify again.
    client.post("/backups/playlists", data={"csrf_token": csrf_token(page)})
    extended = client.get("/backups").get_data(as_text=True)

    assert "discover_weekly:" not in development and "Development Mode" in development
    assert f'value="discover_weekly:{discover_weekly_id("alice")}"' in extended


def test_opting_in_keeps_the_choices_and_a_sealed_refresh_token(
    app: Flask, store: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    opt_in(app, "alice", "playlist:", archive=True)

    user, _ = BACKUPS.load(store, "alice") or (None, 0)
    assert user is not None
    assert (user.source_kind, user.source_playlist_id, user.archive, user.status) == (
        "playlist",
        own_playlist(sandbox, "alice").id,
        True,
        ACTIVE,
    )
    assert "refresh-" not in user.sealed_refresh_token
    assert (
        TokenBox(settings.token_encryption_key)
        .open(user.sealed_refresh_token)["refresh_token"]
        .startswith("refresh-")
    )
    assert "refresh-" not in store.read("users/alice.json").data.decode()


def test_two_users_over_three_weeks_complete_and_once_a_week(
    app: Flask, store: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.options.mode = "extended"
    opt_in(app, "alice", "discover_weekly:", archive=True)
    opt_in(app, "bob", "discover_weekly:")
    expected: dict[str, list[list[str]]] = {"alice": [], "bob": []}

    for week in range(3):
        for user, weeks in expected.items():
            weeks.append(weekly_tracks(sandbox, user))
        first = run_week(store, settings, week)
        generation = store.generation(backups_of("alice").name)
        again = run_week(store, settings, week)  # the same week twice changes nothing
        assert (first.snapshotted, again.snapshotted, again.already_done) == (2, 0, 2)
        assert store.generation(backups_of("alice").name) == generation
        requests.post(f"{sandbox.url}/_sandbox/advance-week", timeout=5)

    for user, weeks in expected.items():
        frame, _ = load_dataset(store, backups_of(user))
        assert sorted(set(frame["week"])) == [iso_week(OPTED_IN)] + [
            iso_week(MONDAY + timedelta(weeks=w)) for w in range(3)
        ]
        first = frame[frame["week"] == iso_week(OPTED_IN)].sort_values("position")
        assert first["track_id"].tolist() == weeks[0]  # taken at opt-in, before week 0 moved on
        for number, tracks in enumerate(weeks):
            rows = frame[frame["week"] == iso_week(MONDAY + timedelta(weeks=number))].sort_values(
                "position"
            )
            assert rows["track_id"].tolist() == tracks and len(tracks) == 30
        assert set(frame["user_id"]) == {user}
    archive = archive_of(sandbox, store, "alice")
    union = list(dict.fromkeys(t for week in expected["alice"] for t in week))
    assert archive["track_ids"] == union  # exact: every track once, in the order first seen


def test_a_revoked_grant_pauses_one_user_and_the_other_is_still_backed_up(
    app: Flask, store: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    opt_in(app, "alice", "playlist:")
    bob = opt_in(app, "bob", "playlist:")
    requests.post(f"{sandbox.url}/_sandbox/revoke", json={"user": "bob"}, timeout=5)

    summary = run_week(store, settings, 0)

    assert summary.snapshotted == 1 and summary.newly_paused == 1
    assert not load_dataset(store, backups_of("alice"))[0].empty
    bob_settings = (BACKUPS.load(store, "bob") or (None,))[0]
    assert bob_settings is not None and bob_settings.status == NEEDS_SIGN_IN
    assert run_week(store, settings, 0).waiting_for_sign_in == 1
    sign_in(bob, "bob")
    page = bob.get("/backups").get_data(as_text=True)
    assert "needs-sign-in" not in page  # signing in again resumed the backups
    assert (BACKUPS.load(store, "bob") or (None,))[0].status == ACTIVE  # type: ignore[union-attr]
    assert run_week(store, settings, 0).snapshotted == 1


def test_a_rotated_encryption_key_pauses_backups_until_sign_in_not_a_failure(
    app: Flask, store: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    opt_in(app, "alice", "playlist:")
    rotated = dataclasses.replace(settings, token_encryption_key=Fernet.generate_key().decode())

    summary = run_week(store, rotated, 0)

    assert (summary.failed, summary.newly_paused, summary.snapshotted) == (0, 1, 0)
    alice = (BACKUPS.load(store, "alice") or (None,))[0]
    assert alice is not None and alice.status == NEEDS_SIGN_IN
    assert "encryption key" in alice.status_reason


def test_the_user_sees_that_backups_are_paused(
    app: Flask, store: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    bob = opt_in(app, "bob", "playlist:")
    requests.post(f"{sandbox.url}/_sandbox/revoke", json={"user": "bob"}, timeout=5)
    run_week(store, settings, 0)

    page = bob.get("/backups")  # bob's next visit

    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="needs-sign-in"' in text and "Backups are paused" in text
    assert "Spotify no longer accepts the permission you gave" in text
    assert "Sign in again" in text


def test_episodes_local_files_and_removed_tracks_are_skipped_and_counted_by_kind(
    app: Flask, store: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    opt_in(app, "bob", "playlist:", archive=True)
    playlist = own_playlist(sandbox, "bob")

    def kind(entry: str | None) -> str:
        if entry is None:
            return "removed"
        return entry.split(":")[1] if entry.startswith("spotify:") else "track"

    kinds = [kind(entry) for entry in playlist.track_ids]

    summary = run_week(store, settings, 0)

    frame = week_rows(load_dataset(store, backups_of("bob"))[0], MONDAY)
    expected = {k: kinds.count(k) for k in ("episode", "local", "removed") if k in kinds}
    assert summary.items_skipped_by_kind == expected and len(expected) == 3
    assert summary.items_skipped == sum(expected.values())
    assert frame["position"].tolist() == [n for n, k in enumerate(kinds) if k == "track"]
    assert frame["track_id"].tolist() == [
        e for e, k in zip(playlist.track_ids, kinds, strict=True) if k == "track"
    ]
    archive = archive_of(sandbox, store, "bob")
    # Only tracks reach the archive: an episode's id never becomes a spotify:track URI.
    assert archive["track_ids"] == list(dict.fromkeys(frame["track_id"]))


def test_a_killed_run_loses_no_earlier_week(
    app: Flask,
    store: FolderStore,
    settings: Settings,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox.sandbox.options.mode = "extended"
    opt_in(app, "alice", "discover_weekly:")
    run_week(store, settings, 0)
    week_one = load_dataset(store, backups_of("alice"))[0]
    requests.post(f"{sandbox.url}/_sandbox/advance-week", timeout=5)

    def killed(*args: Any) -> None:
        raise KeyboardInterrupt  # the process dies in the middle of writing week two

    monkeypatch.setattr("shared.storage.os.replace", killed)
    with pytest.raises(KeyboardInterrupt):
        run_week(store, settings, 1)
    monkeypatch.undo()
    after_kill = load_dataset(store, backups_of("alice"))[0]
    run_week(store, settings, 1)

    pd.testing.assert_frame_equal(after_kill, week_one)
    assert len(set(load_dataset(store, backups_of("alice"))[0]["week"])) == 3  # opt-in, 0, 1


# The web side, with two users


def seed_backups(store: FolderStore, user: str, weeks: dict[str, list[tuple[str, str]]]) -> None:
    rows = [
        {
            "user_id": user,
            "source_kind": "playlist",
            "source_playlist_id": "p",
            "week": week,
            "position": n,
            "track_id": track_id,
            "track_name": name,
            "artist_names": "A",
            "album_name": "B",
            "added_at": "",
            "captured_at": "",
        }
        for week, tracks in weeks.items()
        for n, (track_id, name) in enumerate(tracks)
    ]
    save_dataset(store, backups_of(user), pd.DataFrame(rows))


def test_weeks_playlists_and_csv_show_only_the_users_own_data(
    app: Flask, store: FolderStore, sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    ids = [t["id"] for t in small_world["spotify"]["tracks"][:6]]
    alice = opt_in(app, "alice", "playlist:")
    seed_backups(  # in place of the first backup opting in took
        store,
        "alice",
        {
            "2026-W47": [(ids[0], '=HYPERLINK("x")'), (ids[1], "+1"), (ids[2], "ok")],
            "2026-W48": [(ids[2], "ok"), (ids[3], "-2"), (ids[4], "@a")],
        },
    )
    seed_backups(store, "bob", {"2026-W47": [(ids[5], "bob's secret track")]})

    page = alice.get("/backups").get_data(as_text=True)
    download = alice.get("/backups.csv")
    token = csrf_token(alice.get("/backups"))
    one = alice.post("/backups/playlist", data={"csrf_token": token, "week": "2026-W48"})
    every = alice.post("/backups/playlist", data={"csrf_token": token, "all": "1"})
    none = alice.post("/backups/playlist", data={"csrf_token": token})

    weeks = re.findall(r'<li data-week="(2026-W\d\d)">.*?>(Week of [^<]*)<', page, re.S)
    assert weeks == [
        ("2026-W47", "Week of Mon Nov 16, 2026 · 3 tracks · 3 new"),
        ("2026-W48", "Week of Mon Nov 23, 2026 · 3 tracks · 2 new"),
    ]
    assert "bob's secret track" not in page
    cells = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert {row[0] for row in cells[1:]} == {"alice"}
    names = [row[6] for row in cells[1:]]
    assert names == ['\'=HYPERLINK("x")', "'+1", "ok", "ok", "'-2", "'@a"]
    assert download.headers["Content-Type"].startswith("text/csv")
    made = {
        p["name"]: p["track_ids"]
        for p in requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["playlists"]
        if p["owner_id"] == "alice"
    }
    assert one.status_code == 200 and every.status_code == 200 and none.status_code == 400
    assert made["Backup: Playlist 2026-W48"] == [ids[2], ids[3], ids[4]]
    assert made["Backup: Playlist 2026-W47 to 2026-W48"] == ids[:5]  # deduped, in week order


def test_the_run_report_counts_backups(
    app: Flask, store: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    from etl.pipeline import make_spotify, run_etl
    from etl.sources.registry import make_sources

    opt_in(app, "alice", "playlist:")
    local = load_settings(
        {**BASE_ENV, **sandbox.settings_env(), "DATA_URL": str(store.root), "ETL_STATES": "RI"}
    )

    report = run_etl(
        store,
        make_sources(local),
        make_spotify(local),
        local.etl_states,
        settings=local,
        now=MONDAY,
    )

    assert report["backups"]["snapshotted"] == 1 and report["backups"]["people"] == 1


def test_a_long_playlist_is_read_page_by_page(
    app: Flask,
    store: FolderStore,
    settings: Settings,
    sandbox: SandboxServer,
    small_world: dict[str, Any],
) -> None:
    from tests.sandbox_clients import user_client

    spotify = user_client(sandbox, "alice")
    long_one = spotify.current_user_playlist_create("Long weekly saves", public=False)
    uris = [t["uri"] for t in small_world["spotify"]["tracks"][:150]]
    spotify.playlist_add_items(long_one["id"], uris[:100])
    spotify.playlist_add_items(long_one["id"], uris[100:])
    client = app.test_client()
    sign_in(client, "alice")
    page = client.get("/backups")
    client.post(
        "/backups/opt-in",
        data={"csrf_token": csrf_token(page), "source": f"playlist:{long_one['id']}"},
    )
    requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5)

    summary = run_week(store, settings, 0)

    frame = week_rows(load_dataset(store, backups_of("alice"))[0], MONDAY)
    assert summary.rows_written == 150
    assert frame["track_id"].tolist() == [u.split(":")[-1] for u in uris]
    served = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["requests"]
    assert served["spotify GET /spotify/v1/playlists/<playlist_id>/items"] == 2  # two pages of 100
