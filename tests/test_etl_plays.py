"""The hourly plays job against the sandbox: cursors, overlaps, gaps, paused grants, the lease."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from etl.lease import PLAYS_LEASE_NAME, take_lease
from etl.plays import collect_everyone
from etl.service import create_app as create_etl_app
from sandbox.listening import REACHABLE_PLAYS, ms_of
from sandbox.server import SandboxServer
from shared.config import Settings, load_settings
from shared.listening import ACTIVE, LISTENING, NEEDS_SIGN_IN
from shared.plays import RECENTLY_PLAYED, load_plays, month_objects
from shared.spotify import RequestLedger
from shared.storage import FolderStore
from tests.clock import clock_now
from tests.conftest import BASE_ENV
from tests.web_helpers import sign_in, turn_history_on
from web import create_app

CRON = {"X-Appengine-Cron": "true"}
HOUR_MS = 3_600_000


@pytest.fixture
def store(tmp_path: Any) -> FolderStore:
    return FolderStore(tmp_path / "data")


@pytest.fixture
def settings(sandbox: SandboxServer, store: FolderStore) -> Settings:
    return load_settings({**BASE_ENV, **sandbox.settings_env(), "DATA_URL": str(store.root)})


@pytest.fixture
def web(settings: Settings, store: FolderStore) -> Flask:
    return create_app(settings, store)


def history_on(web: Flask, user: str) -> FlaskClient:
    client = web.test_client()
    sign_in(client, user)
    answer = turn_history_on(client, user)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return client


def advance(sandbox: SandboxServer, hours: int) -> None:
    answer = requests.post(
        f"{sandbox.url}/_sandbox/advance-hours", json={"hours": hours}, timeout=10
    )
    assert answer.status_code == 200, answer.text


def hours_until_listed(sandbox: SandboxServer, user_id: str, plays: int) -> int:
    """Return the whole hours after the sandbox's now in which a user makes `plays` listed plays
    (the sandbox's listening is seeded: the test counts them instead of hoping for enough)."""
    listening, since = sandbox.sandbox.listening, ms_of(sandbox.sandbox.clock.now())
    for hours in range(1, 24 * 60):
        made = listening.plays_between(user_id, since + 1, since + hours * HOUR_MS)
        if sum(play.listed for play in made) >= plays:
            return hours
    raise AssertionError(f"{user_id} makes fewer than {plays} listed plays in 60 sandbox days")


def run(store: FolderStore, settings: Settings) -> Any:
    return collect_everyone(store, settings, RequestLedger(), now=clock_now(), sleep=lambda s: None)


def test_the_first_read_keeps_the_last_50_and_the_next_only_what_is_new(
    web: Flask, store: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    history_on(web, "alice")

    first = run(store, settings)
    kept = load_plays(store, "alice")
    again = run(store, settings)

    assert (first.read, first.plays_added, first.failed) == (1, len(kept), 0)
    assert 0 < len(kept) <= 50
    assert set(kept["source"]) == {RECENTLY_PLAYED}
    assert kept["played_at"].is_unique
    # Nothing new: one request, nothing added, nothing counted twice.
    assert (again.requests, again.plays_added) == (1, 0)
    assert len(load_plays(store, "alice")) == len(kept)
    record = LISTENING.load(store, "alice")
    assert record is not None and record[0].cursor_ms > 0 and record[0].status == ACTIVE


def test_new_plays_are_appended_without_doubles_after_the_overlap(
    web: Flask, store: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    history_on(web, "alice")
    run(store, settings)
    before = load_plays(store, "alice")

    # To the first hour with a new listed play: far fewer than 50, so no gap.
    advance(sandbox, hours_until_listed(sandbox, "alice", 1))
    later = run(store, settings)
    after = load_plays(store, "alice")

    assert later.plays_added > 0
    assert len(after) == len(before) + later.plays_added
    assert after["played_at"].is_unique
    assert later.doubles >= 1  # the sandbox, like Spotify, returns the newest play seen again
    assert later.gaps_found == 0


def test_more_than_50_plays_between_reads_are_a_gap_the_page_names(
    web: Flask, store: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    client = history_on(web, "alice")
    run(store, settings)

    advance(sandbox, hours_until_listed(sandbox, "alice", REACHABLE_PLAYS + 1))
    late = run(store, settings)

    record = LISTENING.load(store, "alice")
    assert late.gaps_found == 1 and record is not None and len(record[0].gaps) == 1
    page = client.get("/listening").get_data(as_text=True)
    assert 'id="gaps"' in page and "more than 50 plays happened between two reads" in page


def test_a_revoked_grant_pauses_that_person_only_and_they_are_told(
    web: Flask, store: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    alice = history_on(web, "alice")
    history_on(web, "bob")
    requests.post(f"{sandbox.url}/_sandbox/revoke", json={"user": "alice"}, timeout=10)

    summary = run(store, settings)

    assert (summary.newly_paused, summary.read, summary.failed) == (1, 1, 0)
    assert load_plays(store, "bob").shape[0] > 0
    assert load_plays(store, "alice").shape[0] == 0
    alice_record = LISTENING.load(store, "alice")
    assert alice_record is not None and alice_record[0].status == NEEDS_SIGN_IN
    sign_in(alice, "alice")  # their next visit
    page = alice.get("/listening").get_data(as_text=True)
    assert 'id="history-paused"' in page and "Renew the permission" in page
    # Paused people cost no request next hour.
    assert run(store, settings).waiting_for_sign_in == 1


def test_the_job_answers_only_cron_and_has_its_own_lease(
    web: Flask, store: FolderStore, settings: Settings
) -> None:
    history_on(web, "alice")
    etl = create_etl_app(settings, store).test_client()

    assert etl.get("/tasks/plays").status_code == 403
    answer = etl.get("/tasks/plays", headers=CRON)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["read"] == 1
    assert month_objects(store, "alice")
    assert store.generation(PLAYS_LEASE_NAME) is None  # released

    take_lease(store, "build", now=clock_now())  # the weekly build's lease: no matter
    assert etl.get("/tasks/plays", headers=CRON).status_code == 200
    take_lease(store, "other-hour", now=clock_now(), name=PLAYS_LEASE_NAME)
    assert etl.get("/tasks/plays", headers=CRON).status_code == 409


def test_a_spent_quota_stops_the_run_and_says_so(
    web: Flask, store: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    history_on(web, "alice")
    history_on(web, "bob")
    sandbox.sandbox.options.daily_quota = 0

    summary = run(store, settings)

    assert summary.stopped == "quota"
    assert summary.read == 0
    record = LISTENING.load(store, "alice")
    assert record is not None and record[0].status == ACTIVE  # not the person's fault


def test_the_cli_runs_one_hour_and_says_what_it_did(
    web: Flask,
    store: FolderStore,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from etl.__main__ import main

    history_on(web, "alice")
    for name, value in {**BASE_ENV, **sandbox.settings_env()}.items():
        monkeypatch.setenv(name, value)

    assert main(["plays", "--data", str(store.root)]) == 0
    assert "plays: 1 of 1 people read" in capsys.readouterr().out
    assert month_objects(store, "alice")


def test_a_link_to_login_with_the_feature_never_turns_history_on(
    web: Flask, store: FolderStore
) -> None:
    client = web.test_client()
    sign_in(client, "alice")
    start = client.get("/login?add=history&next=/listening")
    authorize = requests.get(
        start.headers["Location"] + "&sandbox_user=alice", allow_redirects=False, timeout=10
    )
    callback = authorize.headers["Location"]
    client.get(callback[callback.index("/callback") :])

    assert LISTENING.load(store, "alice") is None


def test_someone_deleting_their_history_during_a_read_keeps_nothing(
    web: Flask, store: FolderStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import etl.plays
    from shared.people.deletion import delete_person

    history_on(web, "alice")
    real_append = etl.plays.append_plays

    def append_while_deleting(*args: Any, **kwargs: Any) -> Any:
        # The person presses "Delete my history" while Spotify answers: the whole delete runs
        # (tombstone, sweep) before this run writes its page.
        delete_person(store, "alice", settings, now=clock_now(), feature="listening")
        return real_append(*args, **kwargs)

    monkeypatch.setattr(etl.plays, "append_plays", append_while_deleting)

    summary = run(store, settings)

    assert summary.deleted_meanwhile == 1
    assert store.list("plays/alice/") == [] and store.list("listening/") == []


def test_a_person_turned_off_after_the_run_started_is_not_read(
    web: Flask, store: FolderStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import etl.plays
    from shared.listening import LISTENING

    history_on(web, "alice")
    import etl.people_run

    real_oldest_first = etl.people_run.oldest_first

    def due_then_turned_off(*args: Any) -> Any:
        due = real_oldest_first(*args)
        LISTENING.delete(store, "alice")
        return due

    monkeypatch.setattr(etl.people_run, "oldest_first", due_then_turned_off)

    summary = run(store, settings)

    assert summary.read == 0 and month_objects(store, "alice") == []


def test_a_damaged_month_file_is_never_overwritten_and_the_page_says_so(
    web: Flask, store: FolderStore, settings: Settings
) -> None:
    client = history_on(web, "alice")
    run(store, settings)
    (name,) = month_objects(store, "alice")[-1:]
    store.write(name, b"played_at,track\nnot-a-time,x\n")

    summary = run(store, settings)

    assert summary.failed == 1
    assert store.read(name).data == b"played_at,track\nnot-a-time,x\n"
    page = client.get("/listening").get_data(as_text=True)
    assert 'id="history-problem"' in page and "nothing was overwritten" in page


def test_a_paused_person_is_told_on_any_page(
    web: Flask,
    store: FolderStore,
    settings: Settings,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice = history_on(web, "alice")
    alice.get("/backups")  # checked now: not paused
    requests.post(f"{sandbox.url}/_sandbox/revoke", json={"user": "alice"}, timeout=10)
    run(store, settings)
    monkeypatch.setattr("web.listening.PAUSED_CHECK_SECONDS", 0)

    page = alice.get("/backups").get_data(as_text=True)

    assert 'id="history-paused-notice"' in page and "Renew the permission" in page


@pytest.mark.parametrize(
    ("said", "refused"),
    [("invalid_grant", True), ("server_error", False), (None, False), ("<html>502</html>", False)],
)
def test_only_a_refused_grant_counts_as_revoked(said: str | None, refused: bool) -> None:
    """spotipy raises SpotifyOauthError for any failure of the token endpoint, a 502 page too:
    only Spotify saying the grant is no good may pause a person's history."""
    from unittest.mock import MagicMock

    from spotipy.oauth2 import SpotifyOauthError

    from shared.spotify import SpotifyApi, SpotifyRefusedError, SpotifyUnavailableError

    def token_endpoint() -> None:
        raise SpotifyOauthError("token endpoint failed", error=said)

    api = SpotifyApi(MagicMock(), max_attempts=3, sleep=lambda s: None)
    expected = SpotifyRefusedError if refused else SpotifyUnavailableError

    with pytest.raises(expected) as raised:
        api.call("recently_played", token_endpoint)

    if refused:
        assert raised.value.status == 401  # type: ignore[attr-defined]
    assert api.ledger.by_kind["recently_played"] == (1 if refused else 3)
