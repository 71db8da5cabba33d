"""The deletion protocol against every writer: a delete that runs whole while a writer works
leaves nothing of the person behind (shared/people/deletion.py).

Each test starts a writer on the sandbox as the person would, and runs "Delete my data" in
another tab, as it were, in the middle of the writer's work (monkeypatched into a function the
writer calls midway). Afterwards only the tombstone is left (and the session version when
"Delete my data" signed the person out everywhere): no sealed grant, no liner-notes page of
theirs, no record of playlists made, no plays.
"""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from etl import backups as etl_backups
from etl import plays as etl_plays
from etl import refresh_areas as etl_refresh_areas
from etl import taste as etl_taste
from etl.backups import back_up_everyone
from etl.plays import collect_everyone
from etl.refresh_areas import refresh_saved_areas
from etl.taste import collect
from sandbox.server import SandboxServer
from sandbox.world import daily_playlist_id
from shared import history_import, taste_read
from shared.charts import CHART_PEOPLE
from shared.config import Settings, load_settings
from shared.listening import LISTENING, ListeningRecord
from shared.people.deletion import (
    Writes,
    delete_person,
    features,
    forget_old_tombstones,
    tombstone_object,
)
from shared.plays import month_objects
from shared.saved_areas import SAVED_AREAS
from shared.shows_data import load_shows
from shared.spotify import RequestLedger
from shared.storage import FolderStore, Store
from shared.taste import TASTE
from tests.clock import clock_now
from tests.conftest import BASE_ENV, web_app
from tests.contract import REAL_API
from tests.test_backups import MONDAY, OPTED_IN, opt_in
from tests.test_etl_saved_areas import busiest_city, save_area
from tests.test_taste import age, taste_on
from tests.test_web_shows import make_form
from tests.web_helpers import (
    LEFT_AFTER_DELETE,
    csrf_token,
    follow_sign_in,
    sign_in,
    turn_history_on,
)
from web import charts as web_charts
from web import create_app
from web import shows as web_shows
from web import taste as web_taste

BASIC = REAL_API / "exports" / "account" / "hobbies-w-erin__StreamingHistory_music_0.json"
ALICE_DAILY = daily_playlist_id("alice-daily-50")  # alice owns it in the sandbox
TOMBSTONE = tombstone_object("alice")


@pytest.fixture
def store(tmp_path: Any) -> FolderStore:
    return FolderStore(tmp_path / "data")


@pytest.fixture
def settings(sandbox: SandboxServer, store: FolderStore) -> Settings:
    return load_settings({**BASE_ENV, **sandbox.settings_env(), "DATA_URL": str(store.root)})


@pytest.fixture
def web(settings: Settings, store: FolderStore) -> Flask:
    return create_app(settings, store)


def owned_notes(store: Store, person: str) -> list[str]:
    """The liner-notes pages (named by token) whose JSON says the person owns them."""
    owned = []
    for name in store.list("notes/"):
        raw = json.loads(store.read(name).data)
        if isinstance(raw, dict) and raw.get("owner_id") == person:
            owned.append(name)
    return owned


def left_of(store: Store, person: str = "alice") -> list[str]:
    """Everything of the person in the store: their names, and the notes pages they own."""
    return sorted({n for n in store.list() if person in n} | set(owned_notes(store, person)))


def deleting_midway(
    monkeypatch: pytest.MonkeyPatch,
    module: Any,
    name: str,
    store: Store,
    settings: Settings,
    *,
    before: bool = False,
) -> list[int]:
    """Make `module.name` run "Delete my data" whole after (or before) its own work, once; return
    a list that counts the deletes run (a writer that never got there fails its test)."""
    real: Callable[..., Any] = getattr(module, name)
    ran: list[int] = []

    def delete() -> None:
        if not ran:
            ran.append(1)
            delete_person(store, "alice", settings, now=clock_now())

    def while_deleting(*args: Any, **kwargs: Any) -> Any:
        if before:
            delete()
        answer = real(*args, **kwargs)
        if not before:
            delete()
        return answer

    monkeypatch.setattr(module, name, while_deleting)
    return ran


def history_on(web: Flask, user: str = "alice") -> FlaskClient:
    client = web.test_client()
    sign_in(client, user)
    answer = turn_history_on(client, user)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return client


def deleted_items(page: str) -> list[str]:
    found = re.search(r'<ul class="deleted" id="deleted">(.*?)</ul>', page, re.S)
    assert found, "the page lists nothing deleted"
    return [re.sub(r"\s+", " ", item).strip() for item in re.findall(r"<li>(.*?)</li>", found[1])]


# The ETL's writers.


def test_the_hourly_plays_job_keeps_nothing_of_a_person_deleted_while_it_appended(
    web: Flask,
    store: FolderStore,
    settings: Settings,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history_on(web)
    ran = deleting_midway(monkeypatch, etl_plays, "append_plays", store, settings)

    summary = collect_everyone(
        store, settings, RequestLedger(), now=clock_now(), sleep=lambda s: None
    )

    assert ran and summary.deleted_meanwhile == 1 and summary.plays_added > 0
    assert left_of(store) == [TOMBSTONE]
    assert month_objects(store, "alice") == [] and not LISTENING.kept(store, "alice")


def test_the_daily_taste_keeps_nothing_of_a_person_deleted_while_it_read(
    web: Flask,
    store: FolderStore,
    settings: Settings,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    taste_on(web, "alice")
    age(store, "alice", 21)
    ran = deleting_midway(monkeypatch, etl_taste, "read_profile", store, settings)

    summary = collect(store, settings, RequestLedger(), now=clock_now(), sleep=lambda s: 0)

    assert ran and summary.deleted_meanwhile == 1
    assert left_of(store) == [TOMBSTONE]
    assert not TASTE.kept(store, "alice")


def test_the_weekly_backups_keep_nothing_of_a_person_deleted_while_backing_up(
    store: FolderStore,
    settings: Settings,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("web.backups.utc_now", lambda: OPTED_IN)  # the first backup, a week ago
    opt_in(create_app(settings, store), "alice", "playlist:", archive=True)
    ran = deleting_midway(monkeypatch, etl_backups, "back_up_user", store, settings)

    summary = back_up_everyone(store, settings, RequestLedger(), now=MONDAY, sleep=lambda s: None)

    assert ran and summary.deleted_meanwhile == 1
    assert left_of(store) == [TOMBSTONE]


@pytest.mark.parametrize("during", ["write_area_playlist", "save_notes", "remember_playlist"])
def test_the_saved_areas_refresh_keeps_nothing_of_a_person_deleted_while_it_wrote(
    data_copy: FolderStore,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    during: str,
) -> None:
    store = data_copy
    settings = load_settings({**BASE_ENV, **sandbox.settings_env(), "DATA_URL": str(store.root)})
    already = left_of(store)  # the built world's own names that happen to say "alice"
    save_area(store, settings, "alice", busiest_city(load_shows(store)))
    ran = deleting_midway(monkeypatch, etl_refresh_areas, during, store, settings)

    summary = refresh_saved_areas(
        store, settings, RequestLedger(), now=clock_now(), sleep=lambda s: None
    )

    assert ran and summary.deleted_meanwhile == 1
    assert [n for n in left_of(store) if n not in already] == [TOMBSTONE]
    assert not SAVED_AREAS.kept(store, "alice")


# The web's writers.


def test_a_history_import_keeps_nothing_of_a_person_deleted_while_it_appended(
    web: Flask,
    store: FolderStore,
    settings: Settings,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = history_on(web)
    ran = deleting_midway(monkeypatch, history_import, "append_plays", store, settings)

    token = csrf_token(client.get("/listening"))
    answer = client.post(
        "/listening/import",
        data={
            "csrf_token": token,
            "mine": "1",
            "files": [(io.BytesIO(BASIC.read_bytes()), BASIC.name.split("__", 1)[1])],
        },
        content_type="multipart/form-data",
    )

    assert ran and answer.status_code < 500
    assert left_of(store) == [TOMBSTONE]


@pytest.mark.parametrize(
    ("during", "before"),
    [
        ("write_area_playlist", False),  # the playlist made in Spotify, nothing kept yet
        ("save_notes", False),  # the notes page written
        ("remember_playlist", False),  # the record of playlists made written
        ("keep_fresh", False),  # the area kept fresh, with its sealed grant
        ("keep_fresh", True),  # the delete just before the area is kept
    ],
)
def test_make_keeping_fresh_keeps_nothing_of_a_person_deleted_while_it_made(
    data_copy: FolderStore,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    during: str,
    before: bool,
) -> None:
    store = data_copy
    app = web_app(store, sandbox)
    settings: Settings = app.extensions["settings"]
    client = app.test_client()
    already = left_of(store)
    sent = make_form(client, store)
    ran = deleting_midway(monkeypatch, web_shows, during, store, settings, before=before)

    answer = client.post("/shows/playlist", data={**sent, "keep_fresh": "1"})

    assert ran and answer.status_code == 303, answer.get_data(as_text=True)[:500]
    assert [n for n in left_of(store) if n not in already] == [TOMBSTONE]
    assert owned_notes(store, "alice") == [] and store.list("requests/alice/") == []


def test_taste_refresh_now_keeps_nothing_of_a_person_deleted_while_it_read(
    web: Flask,
    store: FolderStore,
    settings: Settings,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = taste_on(web, "alice")
    sign_in(client, "alice")
    age(store, "alice", 21)
    ran = deleting_midway(monkeypatch, taste_read, "read_profile", store, settings)

    answer = client.post("/taste/refresh", data={"csrf_token": csrf_token(client.get("/taste"))})

    assert ran and answer.status_code == 303
    assert left_of(store) == [TOMBSTONE]


def test_turning_taste_on_keeps_nothing_of_a_person_deleted_while_it_read(
    web: Flask,
    store: FolderStore,
    settings: Settings,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran = deleting_midway(monkeypatch, web_taste, "read_profile", store, settings)

    taste_on(web, "alice")

    assert ran
    assert left_of(store) == [TOMBSTONE]


def test_tracking_a_chart_keeps_nothing_of_a_person_deleted_while_it_checked(
    web: Flask,
    store: FolderStore,
    settings: Settings,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = web.test_client()
    sign_in(client, "alice")
    ran = deleting_midway(monkeypatch, web_charts, "verify_playlist", store, settings)

    page = client.get("/charts")
    asked = client.post(
        "/charts/add", data={"csrf_token": csrf_token(page), "playlist_id": ALICE_DAILY}
    )
    follow_sign_in(client, asked)

    assert ran
    assert left_of(store) == [TOMBSTONE]
    assert not CHART_PEOPLE.kept(store, "alice")


# What the person is told, and what stays of others.


def test_the_page_after_delete_my_data_says_what_was_deleted(
    web: Flask, store: FolderStore, sandbox: SandboxServer
) -> None:
    client = taste_on(web, "alice")
    turn_history_on(client, "alice")
    collect_everyone(
        store, web.extensions["settings"], RequestLedger(), now=clock_now(), sleep=lambda s: None
    )
    months = len(month_objects(store, "alice"))
    assert months > 0

    confirm = client.get("/backups/delete-my-data")
    done = client.post("/backups/delete-my-data", data={"csrf_token": csrf_token(confirm)})

    page = done.get_data(as_text=True)
    assert done.status_code == 200 and "Your data is deleted" in page
    assert deleted_items(page) == [
        f"your listening history ({months} month{'s' if months > 1 else ''} of plays)",
        "the Spotify permission kept to read your plays",
        "your taste: the artists Local Shows knows you love, and the Spotify permission kept "
        "to read them",
    ]
    assert "You are signed out, on every device." in page
    assert left_of(store) == LEFT_AFTER_DELETE
    # Every registered feature is named, with what it deleted: a new one shows by itself.
    swept = re.search(r'<p id="swept">(.*?)</p>', page, re.S)
    assert swept is not None
    for keeps in features().values():
        assert keeps.label in html.unescape(swept.group(1))
    history = re.search(r"listening history \((\d+) files?\)", swept.group(1))
    assert history is not None and int(history.group(1)) > months  # the months and the record


def test_deleting_one_person_leaves_another_persons_data_as_it_was(
    web: Flask, store: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    for person in ("alice", "bob"):
        taste_on(web, person)
        history_on(web, person)
    collect_everyone(store, settings, RequestLedger(), now=clock_now(), sleep=lambda s: None)
    bob_before = {n: store.generation(n) for n in left_of(store, "bob")}
    assert month_objects(store, "bob") and TASTE.kept(store, "bob")

    delete_person(store, "alice", settings, now=clock_now())

    assert {n: store.generation(n) for n in left_of(store, "bob")} == bob_before
    assert left_of(store) == [TOMBSTONE]


def test_forgetting_an_old_tombstone_neither_sweeps_live_work_nor_hides_a_new_delete(
    store: FolderStore,
) -> None:
    # Found in review: with counters, forgetting a tombstone made a live writer's snapshot look
    # like a fresh delete (its new history swept), and a new delete after it could repeat the
    # old count (missed). Delete ids are never repeated; a forgotten tombstone is no delete.
    settings = load_settings(BASE_ENV)
    long_ago = clock_now() - timedelta(days=3)
    delete_person(store, "alice", settings, now=long_ago, feature="listening")
    LISTENING.create(store, ListeningRecord("alice", "sealed"))  # history on again
    writer = Writes(store, "alice", settings, feature="listening")

    assert forget_old_tombstones(store, clock_now()) == 1
    assert not writer.finish() and LISTENING.load(store, "alice") is not None

    delete_person(store, "alice", settings, now=clock_now(), feature="listening")
    LISTENING.create(store, ListeningRecord("alice", "sealed"))  # written after the sweep
    assert writer.finish() and LISTENING.load(store, "alice") is None


def test_a_tombstone_written_meanwhile_is_not_forgotten(store: FolderStore) -> None:
    settings = load_settings(BASE_ENV)
    delete_person(store, "alice", settings, now=clock_now() - timedelta(days=3))
    stale = store.read(TOMBSTONE)
    delete_person(store, "alice", settings, now=clock_now())  # a new delete, a new version

    assert forget_old_tombstones(store, clock_now()) == 0
    assert store.read(TOMBSTONE).generation != stale.generation


def test_a_page_view_keeps_nothing_of_a_person_deleted_while_it_listed(
    web: Flask,
    store: FolderStore,
    settings: Settings,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Found in review: a GET writes too (the playlists listed for /backups, kept 10 minutes,
    # and the day's count of requests), so every signed-in request holds a Writes.
    from web import backups as web_backups

    client = web.test_client()
    sign_in(client, "alice")
    ran = deleting_midway(monkeypatch, web_backups, "_list_sources", store, settings)

    page = client.get("/backups")

    assert ran and page.status_code == 200
    assert left_of(store) == [TOMBSTONE]
