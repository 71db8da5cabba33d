"""The backups page: first backup at opt-in, "Back up now", the weekly date, stop and delete."""

from __future__ import annotations

import calendar
import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
import yaml
from flask import Flask
from flask.testing import FlaskClient

from sandbox.server import SandboxServer
from shared.backups import (
    WEEKLY_RUN_TIME,
    WEEKLY_RUN_WEEKDAY,
    WEEKLY_RUN_ZONE_NAME,
    backup_week,
    next_weekly_run,
)
from shared.config import Settings, load_settings
from shared.datasets import backups_of, load_dataset
from shared.storage import FolderStore
from shared.users import BACKUPS, NEEDS_SIGN_IN, BackupSettings
from tests.conftest import BASE_ENV, REPO_ROOT
from tests.test_backups import opt_in, own_playlist, seed_backups
from tests.web_helpers import LEFT_AFTER_DELETE, csrf_token, sign_in
from web import create_app

NEW_YORK = ZoneInfo("America/New_York")
NOON_MONDAY = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # 12:00 in New York: week 2026-W48


@pytest.fixture
def store(tmp_path: Any) -> FolderStore:
    return FolderStore(tmp_path / "data")


@pytest.fixture
def settings(sandbox: SandboxServer, store: FolderStore) -> Settings:
    return load_settings({**BASE_ENV, **sandbox.settings_env(), "DATA_URL": str(store.root)})


@pytest.fixture
def app(settings: Settings, store: FolderStore) -> Flask:
    return create_app(settings, store)


class Clock:
    """The web's clock, moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    at = Clock(NOON_MONDAY)
    monkeypatch.setattr("web.backups.utc_now", lambda: at.now)
    return at


def text(answer: Any) -> str:
    return html.unescape(answer.get_data(as_text=True))


def messages(page: str) -> list[str]:
    return [
        " ".join(m.split()) for m in re.findall(r'class="[^"]*backup-message"[^>]*>(.*?)</p>', page)
    ]


def deleted_items(page: str) -> list[str]:
    found = re.search(r'<ul class="deleted" id="deleted">(.*?)</ul>', page, re.S)
    assert found, "the page lists nothing to delete"
    return [" ".join(item.split()) for item in re.findall(r"<li>(.*?)</li>", found.group(1), re.S)]


def week_labels(page: str) -> list[str]:
    return re.findall(r'<li data-week="[^"]+">.*?>(Week of [^<]*)<', page, re.S)


def rows_of(store: FolderStore, user: str, week: str) -> Any:
    frame, _ = load_dataset(store, backups_of(user))
    return frame[frame["week"] == week].sort_values("position")


def track_entries(playlist: Any) -> list[str]:
    """The entries of a sandbox playlist that are tracks (not episodes, local files, removed)."""
    return [e for e in playlist.track_ids if e and not e.startswith("spotify:")]


def new_playlist(sandbox: SandboxServer, user: str, name: str, track_ids: list[str]) -> str:
    from tests.sandbox_clients import user_client

    spotify = user_client(sandbox, user)
    made = spotify.current_user_playlist_create(name, public=False)
    spotify.playlist_add_items(made["id"], [f"spotify:track:{t}" for t in track_ids])
    return str(made["id"])


def add_tracks(sandbox: SandboxServer, user: str, playlist_id: str, track_ids: list[str]) -> None:
    from tests.sandbox_clients import user_client

    user_client(sandbox, user).playlist_add_items(
        playlist_id, [f"spotify:track:{t}" for t in track_ids]
    )


def back_up_now(client: FlaskClient) -> Any:
    return client.post("/backups/now", data={"csrf_token": csrf_token(client.get("/backups"))})


def settings_of(store: FolderStore, user: str) -> BackupSettings | None:
    loaded = BACKUPS.load(store, user)
    return loaded[0] if loaded else None


# When the weekly run is


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Monday in New York, just before, at and after 06:00 (EST, UTC-5)
        (datetime(2026, 11, 23, 10, 59, tzinfo=UTC), datetime(2026, 11, 23, 6, 0)),
        (datetime(2026, 11, 23, 11, 0, tzinfo=UTC), datetime(2026, 11, 30, 6, 0)),
        (datetime(2026, 11, 23, 11, 1, tzinfo=UTC), datetime(2026, 11, 30, 6, 0)),
        # Sunday night in New York is already Monday in UTC
        (datetime(2026, 11, 23, 4, 0, tzinfo=UTC), datetime(2026, 11, 23, 6, 0)),
        (datetime(2026, 11, 25, 12, 0, tzinfo=UTC), datetime(2026, 11, 30, 6, 0)),
        # Across the start of daylight saving time (Sunday March 8, 2026): still 06:00 local
        (datetime(2026, 3, 3, 12, 0, tzinfo=UTC), datetime(2026, 3, 9, 6, 0)),
        # ... and across its end (Sunday November 1, 2026)
        (datetime(2026, 10, 27, 12, 0, tzinfo=UTC), datetime(2026, 11, 2, 6, 0)),
        # Monday 06:00 EDT is 10:00 UTC: 10:30 UTC in summer is after the run
        (datetime(2026, 7, 6, 10, 30, tzinfo=UTC), datetime(2026, 7, 13, 6, 0)),
    ],
)
def test_the_next_weekly_run(now: datetime, expected: datetime) -> None:
    assert next_weekly_run(now) == expected.replace(tzinfo=NEW_YORK)
    assert next_weekly_run(now).astimezone(NEW_YORK).hour == 6


def test_the_next_weekly_run_in_utc_follows_daylight_saving_time() -> None:
    assert next_weekly_run(datetime(2026, 3, 3, tzinfo=UTC)).astimezone(UTC).hour == 10  # EDT
    assert next_weekly_run(datetime(2026, 10, 27, tzinfo=UTC)).astimezone(UTC).hour == 11  # EST


@pytest.mark.parametrize(
    ("now", "week"),
    [
        (datetime(2026, 11, 23, 10, 59, tzinfo=UTC), "2026-W47"),  # before Monday's run
        (datetime(2026, 11, 23, 11, 0, tzinfo=UTC), "2026-W48"),
        (datetime(2026, 11, 29, 23, 0, tzinfo=UTC), "2026-W48"),  # Sunday evening
        (datetime(2026, 11, 30, 4, 0, tzinfo=UTC), "2026-W48"),  # Sunday night in New York
    ],
)
def test_a_backup_belongs_to_the_week_of_the_latest_weekly_run(now: datetime, week: str) -> None:
    assert backup_week(now) == week


def test_cron_yaml_runs_the_build_when_the_page_says() -> None:
    jobs = yaml.safe_load((REPO_ROOT / "cron.yaml").read_text())["cron"]
    build = next(job for job in jobs if job["url"] == "/tasks/build")

    day = calendar.day_name[WEEKLY_RUN_WEEKDAY].lower()
    assert build["schedule"] == f"every {day} {WEEKLY_RUN_TIME:%H:%M}"
    assert build["timezone"] == WEEKLY_RUN_ZONE_NAME


def test_old_settings_without_a_manual_backup_time_still_load() -> None:
    old = (
        b'{"user_id": "alice", "display_name": "A", "source_kind": "playlist", '
        b'"source_playlist_id": "p", "source_name": "Saves", "sealed_refresh_token": "x"}'
    )

    assert BACKUPS.parse(old).last_manual_backup_at == ""


# Opting in takes the first backup


def test_opting_in_takes_the_first_backup_at_once(
    app: Flask, store: FolderStore, sandbox: SandboxServer, clock: Clock
) -> None:
    alice = opt_in(app, "alice", "playlist:")
    playlist = own_playlist(sandbox, "alice")

    page = text(alice.get("/backups"))

    tracks = track_entries(playlist)
    assert rows_of(store, "alice", "2026-W48")["track_id"].tolist() == tracks
    assert (
        settings_of(store, "alice") or BackupSettings("", "", "", "", "", "")
    ).last_backup_week == ("2026-W48")
    assert messages(page) == [
        f"Backups are on. Backed up {len(tracks)} tracks of {playlist.meta['name']} "
        "as the week of Mon Nov 23, 2026."
    ]
    assert week_labels(page) == [
        f"Week of Mon Nov 23, 2026 · {len(tracks)} tracks · {len(tracks)} new"
    ]
    assert "Next weekly backup: " in page and "Mon Nov 30, 2026, 6:00 AM New York time" in page
    assert "<table" not in page  # a list of weeks fits a phone; a wide table does not


def test_opting_in_is_kept_when_the_first_backup_fails(
    app: Flask, store: FolderStore, sandbox: SandboxServer, clock: Clock
) -> None:
    client = app.test_client()
    sign_in(client, "alice")
    limits = sandbox.sandbox.limits
    page = client.get("/backups")
    values = re.findall(r'name="source" value="([^"]+)"', page.get_data(as_text=True))
    # The quota is up now: opting in checks the choice against the list the page kept.
    sandbox.sandbox.options.daily_quota = limits.spotify_today

    answer = client.post(
        "/backups/opt-in",
        data={
            "csrf_token": csrf_token(page),
            "source": next(v for v in values if "playlist:" in v),
        },
    )
    shown = text(client.get("/backups"))

    assert answer.status_code == 302
    assert settings_of(store, "alice") is not None
    assert store.list("backups/") == []
    (message,) = messages(shown)
    assert message.startswith("Backups are on, but the first backup failed: Spotify's daily")
    assert message.endswith(
        '"Back up now" or the weekly run (Mon Nov 30, 2026, 6:00 AM New York time) will try again.'
    )


# Back up now


def test_back_up_now_adds_what_the_week_lacks_once_a_day(
    app: Flask,
    store: FolderStore,
    sandbox: SandboxServer,
    small_world: dict[str, Any],
    clock: Clock,
) -> None:
    ids = [t["id"] for t in small_world["spotify"]["tracks"][200:205]]
    playlist_id = new_playlist(sandbox, "alice", "Saves for back up now", ids[:3])
    alice = opt_in(app, "alice", f"playlist:{playlist_id}")
    assert rows_of(store, "alice", "2026-W48")["track_id"].tolist() == ids[:3]
    add_tracks(sandbox, "alice", playlist_id, [ids[3], ids[1], ids[4]])  # ids[1]: kept already

    clock.now = NOON_MONDAY + timedelta(hours=1)
    first = back_up_now(alice)
    after_first = text(alice.get("/backups"))
    clock.now = NOON_MONDAY + timedelta(hours=2)
    second = back_up_now(alice)
    rows_after_second = rows_of(store, "alice", "2026-W48")

    assert first.status_code == 303
    assert "disabled" in after_first.split('id="back-up-now"')[1].split("</form>")[0]
    assert messages(after_first) == [
        "Added 2 new tracks to the week of Mon Nov 23, 2026; the 3 kept before stay as they were."
    ]
    assert rows_after_second["track_id"].tolist() == ids  # appended, each once
    assert rows_after_second["position"].tolist() == [0, 1, 2, 3, 4]
    assert second.status_code == 429
    assert second.headers["Retry-After"] == str(23 * 3600)
    assert "You can back up by hand again after Tue Nov 24, 2026, 1:00 PM New York time" in (
        text(second)
    )

    generation = store.generation(backups_of("alice").name)
    clock.now = NOON_MONDAY + timedelta(hours=25)  # a day later, still the same week
    third = back_up_now(alice)
    assert third.status_code == 303
    assert messages(text(alice.get("/backups"))) == [
        "Nothing to add: every track now in Saves for back up now is already kept for the week "
        "of Mon Nov 23, 2026."
    ]
    assert store.generation(backups_of("alice").name) == generation

    clock.now = NOON_MONDAY + timedelta(days=7)  # a week without a snapshot gets a whole one
    back_up_now(alice)
    whole_playlist = [*ids[:3], ids[3], ids[1], ids[4]]
    assert rows_of(store, "alice", "2026-W49")["track_id"].tolist() == whole_playlist
    assert rows_of(store, "alice", "2026-W48")["track_id"].tolist() == ids  # untouched


def test_a_spotify_failure_on_back_up_now_says_why_and_leaves_the_day_unused(
    app: Flask, store: FolderStore, sandbox: SandboxServer, clock: Clock
) -> None:
    alice = opt_in(app, "alice", "playlist:")
    token = csrf_token(alice.get("/backups"))
    sandbox.sandbox.options.daily_quota = sandbox.sandbox.limits.spotify_today

    failed = alice.post("/backups/now", data={"csrf_token": token})
    sandbox.sandbox.options.daily_quota = None
    retried = alice.post("/backups/now", data={"csrf_token": token})

    assert failed.status_code == 502
    assert "The backup failed: Spotify's daily request quota for this app is used up" in text(
        failed
    )
    assert retried.status_code == 303


def test_a_revoked_grant_on_back_up_now_pauses_backups_until_sign_in(
    app: Flask, store: FolderStore, sandbox: SandboxServer, clock: Clock
) -> None:
    bob = opt_in(app, "bob", "playlist:")
    token = csrf_token(bob.get("/backups"))
    requests.post(f"{sandbox.url}/_sandbox/revoke", json={"user": "bob"}, timeout=5)

    answer = bob.post("/backups/now", data={"csrf_token": token})

    page = text(answer)
    assert answer.status_code == 502
    assert "Your Spotify sign-in has ended. Please sign in again." in page
    assert 'id="needs-sign-in"' in page
    assert (settings_of(store, "bob") or BackupSettings("", "", "", "", "", "")).status == (
        NEEDS_SIGN_IN
    )


def test_back_up_now_without_opting_in_says_to_opt_in(app: Flask, clock: Clock) -> None:
    client = app.test_client()
    sign_in(client, "alice")

    answer = back_up_now(client)

    assert answer.status_code == 400 and "Start weekly backups first" in text(answer)


def test_work_that_takes_a_while_says_so(
    app: Flask, store: FolderStore, sandbox: SandboxServer, clock: Clock
) -> None:
    client = app.test_client()
    sign_in(client, "alice")
    before = text(client.get("/backups"))
    alice = opt_in(app, "alice", "playlist:")
    after = text(alice.get("/backups"))

    busy = r'<form[^>]*id="{}"[^>]*data-busy="{}"'
    assert re.search(busy.format("opt-in", "Backing up your playlist…"), before)
    assert re.search(busy.format("back-up-now", "Backing up your playlist…"), after)
    assert re.search(busy.format("weeks-form", "Making your playlist…"), after)
    assert after.count('<span class="working"></span>') == 2


# Stop backups, delete my data: a confirm step that says what goes


@pytest.fixture
def alice_with_weeks(app: Flask, store: FolderStore, clock: Clock) -> FlaskClient:
    """Alice, opted in to backups of her playlist, with 3 weeks kept (6 tracks)."""
    alice = opt_in(app, "alice", "playlist:")
    seed_backups(
        store,
        "alice",
        {
            "2026-W46": [("a1", "one"), ("a2", "two")],
            "2026-W47": [("a1", "one"), ("a3", "three"), ("a4", "four")],
            "2026-W48": [("a5", "five")],
        },
    )
    alice.get("/backups")  # where opting in said how the first backup went
    return alice


def test_the_page_links_to_the_confirm_steps_apart_from_the_main_actions(
    alice_with_weeks: FlaskClient,
) -> None:
    page = text(alice_with_weeks.get("/backups"))

    zone = page[page.index('<section class="danger-zone"') :]
    assert '<a class="button danger" id="opt-out" href="/backups/stop">' in zone
    assert '<a class="button danger" id="delete-my-data" href="/backups/delete-my-data">' in zone
    assert 'id="back-up-now"' not in zone and 'id="weeks-form"' not in zone
    assert week_labels(page) == [
        "Week of Mon Nov 9, 2026 · 2 tracks · 2 new",
        "Week of Mon Nov 16, 2026 · 3 tracks · 2 new",
        "Week of Mon Nov 23, 2026 · 1 track · 1 new",
    ]


def test_the_confirm_pages_say_exactly_what_goes_and_what_stays(
    alice_with_weeks: FlaskClient,
    store: FolderStore,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("web.account.count_user_notes", lambda _store, user_id: 4)
    source = own_playlist(sandbox, "alice").meta["name"]
    stored = {name: store.generation(name) for name in store.list()}

    stop = alice_with_weeks.get("/backups/stop")
    delete = alice_with_weeks.get("/backups/delete-my-data")

    assert {name: store.generation(name) for name in store.list()} == stored  # GET deletes nothing
    stop_page, delete_page = text(stop), text(delete)
    assert deleted_items(stop_page) == [
        f"your backup settings (source: {source})",
        "the Spotify permission Local Shows keeps to back up for you while you are away",
    ]
    assert "Your 3 weeks of backups (6 tracks) can stay" in stop_page
    assert ">Stop, keep the 3 weeks</button>" in stop_page
    assert ">Stop, delete the 3 weeks</button>" in stop_page
    assert "playlists already in your Spotify account" in stop_page and "stay there" in stop_page
    assert deleted_items(delete_page) == [
        f"your backup settings (source: {source})",
        "your stored Spotify sign-in",
        "3 weeks of backups (6 tracks)",
        "4 liner-notes pages of the playlists you made",
    ]
    assert "playlists already in your Spotify account" in delete_page
    assert 'class="danger confirm" id="confirm-delete"' in delete_page
    for page in (stop_page, delete_page):
        assert 'href="/backups" id="cancel">Cancel</a>' in page and "confirm(" not in page


def test_stop_and_keep_keeps_the_weeks_and_opting_in_again_works(
    app: Flask, alice_with_weeks: FlaskClient, store: FolderStore
) -> None:
    alice = alice_with_weeks
    weeks_generation = store.generation(backups_of("alice").name)

    stopped = alice.post(
        "/backups/stop",
        data={"csrf_token": csrf_token(alice.get("/backups/stop")), "weeks": "keep"},
    )
    page = text(alice.get("/backups"))
    download = alice.get("/backups.csv")

    assert stopped.status_code == 303
    assert settings_of(store, "alice") is None
    assert store.generation(backups_of("alice").name) == weeks_generation
    assert messages(page) == ["Backups are stopped. Your 3 weeks stay here."]
    assert len(week_labels(page)) == 3 and 'id="download"' in page and 'id="weeks-form"' in page
    assert 'id="stopped-note"' in page and 'id="opt-in"' in page and 'id="opt-out"' not in page
    assert download.status_code == 200 and download.get_data(as_text=True).count("\n") == 7

    opt_in(app, "alice", "playlist:")  # again: the week's backup gains what it lacks

    assert settings_of(store, "alice") is not None
    assert len(week_labels(text(alice.get("/backups")))) == 3


def test_stop_and_delete_deletes_the_weeks_and_a_bad_choice_deletes_nothing(
    alice_with_weeks: FlaskClient, store: FolderStore
) -> None:
    alice = alice_with_weeks
    token = csrf_token(alice.get("/backups/stop"))

    unclear = alice.post("/backups/stop", data={"csrf_token": token, "weeks": "maybe"})
    assert unclear.status_code == 400 and "Choose whether to keep or delete" in text(unclear)
    assert settings_of(store, "alice") is not None and store.list("backups/") == [
        "backups/alice.csv"
    ]

    stopped = alice.post("/backups/stop", data={"csrf_token": token, "weeks": "delete"})

    assert stopped.status_code == 303
    assert settings_of(store, "alice") is None and store.list("backups/") == []
    page = text(alice.get("/backups"))
    assert messages(page) == ["Backups are stopped and your 3 weeks are deleted."]
    assert week_labels(page) == []


def test_delete_my_data_deletes_settings_backups_sessions_and_liner_notes(
    app: Flask, alice_with_weeks: FlaskClient, store: FolderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    deleted_notes: list[str] = []

    def delete_user_notes(_store: Any, user_id: str) -> int:
        deleted_notes.append(user_id)
        return 2

    monkeypatch.setattr("shared.liner_notes.delete_user_notes", delete_user_notes)
    monkeypatch.setattr("web.account.count_user_notes", lambda _store, user_id: 2)
    bob = opt_in(app, "bob", "playlist:")
    bob_before = [name for name in store.list() if "bob" in name]
    alice = alice_with_weeks

    answer = alice.post(
        "/backups/delete-my-data",
        data={"csrf_token": csrf_token(alice.get("/backups/delete-my-data"))},
    )

    page = text(answer)
    assert answer.status_code == 200
    assert deleted_notes == ["alice"]
    assert [name for name in store.list() if "alice" in name] == LEFT_AFTER_DELETE
    assert [name for name in store.list() if "bob" in name] == bob_before
    assert deleted_items(page)[2:] == [
        "3 weeks of backups (6 tracks)",
        "2 liner-notes pages of the playlists you made",
    ]
    with alice.session_transaction() as session:
        assert "user" not in session
    assert alice.get("/backups").status_code in (302, 401)  # signed out
    assert bob.get("/backups").status_code == 200


def test_a_user_never_sees_another_users_weeks(
    app: Flask, alice_with_weeks: FlaskClient, store: FolderStore
) -> None:
    bob = opt_in(app, "bob", "playlist:")
    seed_backups(store, "bob", {"2026-W48": [("b1", "bob's only track")]})

    page = text(bob.get("/backups"))
    delete = text(bob.get("/backups/delete-my-data"))
    stop = text(bob.get("/backups/stop"))

    assert week_labels(page) == ["Week of Mon Nov 23, 2026 · 1 track · 1 new"]
    assert "1 week of backups (1 track)" in deleted_items(delete)
    assert ">Stop, keep the 1 week</button>" in stop
