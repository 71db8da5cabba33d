"""Taste, with consent (issue 17): parsers on real answers, the record, and the sandbox's users.

Real `top` and `following` answers (../shared/real-api/exports/api/) feed the parsers; the
consent, the profile, the daily job and the deletions run against the sandbox.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.lease import take_lease
from etl.plays import collect_everyone
from etl.service import create_app as create_etl_app
from etl.taste import TASTE_LEASE_NAME, collect
from sandbox.listening import ms_of
from sandbox.server import SandboxServer
from shared.config import Settings, load_settings
from shared.listening import HISTORY_SCOPE, LISTENING
from shared.plays import month_object
from shared.spotify import RequestLedger, SpotifyApi, SpotifyShapeError
from shared.storage import FolderStore
from shared.taste import (
    ACTIVE,
    MAX_PAGES,
    NEEDS_SIGN_IN,
    TASTE,
    TIME_RANGES,
    Known,
    TasteError,
    TasteRecord,
    build_profile,
    known_artists,
    parse_followed_artists,
    parse_top_artists,
    plays_by_artist,
)
from shared.taste_read import count_plays, read_profile
from shared.tokens import TokenBox
from tests.clock import clock_now
from tests.conftest import BASE_ENV
from tests.contract import load_real
from tests.web_helpers import csrf_token, follow_sign_in, sign_in, turn_history_on
from web import create_app

TOP = "exports/api/joostlek__top_artists__2026-03.json"
FOLLOWED = "exports/api/joostlek__followed_artists__2026-03.json"
CRON = {"X-Appengine-Cron": "true"}
TASTE_ENDPOINTS = ("spotify GET /spotify/v1/me/top/<kind>", "spotify GET /spotify/v1/me/following")


# The parsers, on real answers.


def test_a_real_top_artists_page_gives_its_48_artists_and_the_next_offset() -> None:
    page = parse_top_artists(load_real(TOP))

    assert len(page.artists) == 48 and page.skipped == 0
    assert page.artists[0] == ("6cmp7ut7okJAgJOSaMAVf3", "Machinae Supremacy")
    assert page.next_offset == 48


def test_a_real_followed_artists_page_gives_its_48_artists_and_the_cursor() -> None:
    page = parse_followed_artists(load_real(FOLLOWED))

    assert len(page.artists) == 48 and page.skipped == 0
    assert page.artists[0] == ("49RPyTk0BluLrg3scWFCOw", "The Excellent Man from Minneapolis")
    assert page.next_after == "7CajNmpbOovFoOoasH2HaY"


def test_the_last_pages_say_there_is_no_more() -> None:
    top, followed = load_real(TOP), load_real(FOLLOWED)
    top["next"] = None
    followed["artists"]["next"] = None

    assert parse_top_artists(top).next_offset is None
    assert parse_followed_artists(followed).next_after is None


def _items(answer: dict[str, Any]) -> list[Any]:
    items: list[Any] = answer["artists"]["items"] if "artists" in answer else answer["items"]
    return items


@pytest.mark.parametrize(
    ("recording", "parse"), [(TOP, parse_top_artists), (FOLLOWED, parse_followed_artists)]
)
def test_bad_items_are_skipped_and_counted(recording: str, parse: Any) -> None:
    answer = copy.deepcopy(load_real(recording))
    items = _items(answer)
    items[0] = None
    del items[1]["id"]
    items[2]["name"] = 42

    page = parse(answer)

    assert (len(page.artists), page.skipped) == (45, 3)


@pytest.mark.parametrize("answer", [None, [], "text", 3, {"artists": []}, {"items": "x"}])
@pytest.mark.parametrize("parse", [parse_top_artists, parse_followed_artists])
def test_an_answer_of_another_shape_is_a_shape_error(answer: Any, parse: Any) -> None:
    with pytest.raises(SpotifyShapeError):
        parse(answer)


# The record.


def test_a_record_is_read_back_as_it_was_written(folder_store: FolderStore) -> None:
    record = TasteRecord(
        "alice",
        "sealed",
        display_name="Alice",
        refreshed_at="2026-11-23T06:00:00Z",
        requests=4,
        artists={
            "a1": Known("Powerwolf", ("short_term", "long_term"), True, 212),
            "a2": Known("Nightwish", followed=True),
        },
    )
    TASTE.put(folder_store, record)

    assert TASTE.load(folder_store, "alice") == (
        record,
        folder_store.generation("taste/alice.json"),
    )
    assert known_artists(folder_store, "alice")["a1"].label == "you've played them 212 times"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"user_id": "alice"}',
        b'{"user_id": "alice", "sealed_refresh_token": "s", "status": "maybe"}',
        b'{"user_id": "alice", "sealed_refresh_token": "s", "requests": true}',
        b'{"user_id": "alice", "sealed_refresh_token": "s", "artists": {"a": []}}',
        b'{"user_id": "alice", "sealed_refresh_token": "s", "artists": {"a": {"plays": "9"}}}',
    ],
)
def test_a_damaged_record_is_a_taste_error_and_no_known_artists(
    folder_store: FolderStore, body: bytes
) -> None:
    folder_store.write(TASTE.object("alice"), body)

    with pytest.raises(TasteError):
        TASTE.load(folder_store, "alice")
    assert known_artists(folder_store, "alice") == {}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from([*TasteRecord.__dataclass_fields__, "top", "plays", "followed", "name"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        JSON,
        st.dictionaries(FIELDS, JSON, max_size=8),
        st.fixed_dictionaries(
            {"user_id": st.text(max_size=4), "sealed_refresh_token": st.text(max_size=4)},
            optional={
                "status": st.sampled_from([ACTIVE, NEEDS_SIGN_IN, "x"]),
                "artists": st.dictionaries(
                    st.text(max_size=4), st.dictionaries(FIELDS, JSON, max_size=4), max_size=3
                ),
            },
        ),
    )
)
def test_any_json_is_a_record_or_a_taste_error(raw: Any) -> None:
    try:
        record = TASTE.parse(json.dumps(raw).encode())
    except TasteError:
        return
    assert isinstance(record, TasteRecord)
    assert all(isinstance(known, Known) for known in record.artists.values())


# Plays and the profile.


def play(uri: str, ids: list[str], names: list[str], ms_played: str = "") -> dict[str, str]:
    return {
        "track_uri": uri,
        "artist_ids": json.dumps(ids) if ids else "",
        "artist_names": json.dumps(names) if names else "",
        "ms_played": ms_played,
    }


def test_export_rows_without_ids_count_for_the_artists_of_the_same_track() -> None:
    plays = pd.DataFrame(
        [
            play("spotify:track:t1", ["a1", "a2"], ["One", "Two"]),
            play("spotify:track:t1", [], ["One"], "200000"),  # an export row: names only
            play("spotify:track:t1", [], ["One"], "5000"),  # under 30 s: not a play
            play("spotify:track:t2", [], ["Three"], "200000"),  # no row with ids: not counted
        ]
    )

    counts, names = plays_by_artist(plays)

    assert counts == Counter({"a1": 2, "a2": 2})
    assert names == {"a1": "One", "a2": "Two"}


def test_the_profile_joins_top_followed_and_plays_with_labels() -> None:
    profile = build_profile(
        {"long_term": [("a1", "One"), ("a2", "Two")], "short_term": [("a2", "Two")]},
        [("a3", "Three"), ("a1", "One")],
        Counter({"a1": 212, "a4": 1}),
        {"a4": "Four"},
    )

    assert {artist_id: known.label for artist_id, known in profile.items()} == {
        "a1": "you've played them 212 times",
        "a2": "in your top artists (last 4 weeks)",
        "a3": "you follow them",
        "a4": "you've played them once",
    }
    assert profile["a2"].top == ("short_term", "long_term")
    assert profile["a1"].followed and not profile["a2"].followed


class EndlessSpotify:
    """spotipy answering full pages that always say there is more (a broken `next`)."""

    def current_user_top_artists(self, limit: int, offset: int, time_range: str) -> Any:
        answer = copy.deepcopy(load_real(TOP))
        answer["items"] = (answer["items"] * 2)[:limit]
        answer.update(offset=offset, limit=limit, total=10**6)
        return answer

    def current_user_followed_artists(self, limit: int, after: str | None) -> Any:
        answer = copy.deepcopy(load_real(FOLLOWED))
        answer["artists"]["items"] = (answer["artists"]["items"] * 2)[:limit]
        answer["artists"]["cursors"]["after"] = (after or "c") + "+"  # a cursor that moves on
        return answer


def test_every_list_stops_at_the_page_cap(folder_store: FolderStore) -> None:
    api = SpotifyApi(EndlessSpotify())  # type: ignore[arg-type]

    artists, spent = read_profile(api, folder_store, "alice")

    assert spent == (len(TIME_RANGES) + 1) * MAX_PAGES
    assert api.ledger.by_kind == Counter(
        {"top_artists": len(TIME_RANGES) * MAX_PAGES, "followed_artists": MAX_PAGES}
    )
    assert len(artists) == len(
        {a["id"] for a in load_real(TOP)["items"]}
        | {a["id"] for a in load_real(FOLLOWED)["artists"]["items"]}
    )


def test_a_damaged_history_month_leaves_out_only_that_month(folder_store: FolderStore) -> None:
    good = pd.DataFrame(
        [
            {
                "played_at": "2026-10-01T10:00:00.000Z",
                "ms_played": "",
                "track_uri": "spotify:track:t1",
                "artist_ids": '["a1"]',
                "artist_names": '["One"]',
            }
        ]
    )
    folder_store.write(month_object("alice", "2026-10"), good.to_csv(index=False).encode())
    folder_store.write(month_object("alice", "2026-11"), b"played_at,track\nnot-a-time,x\n")

    counts, _ = count_plays(folder_store, "alice")

    assert counts == Counter({"a1": 1})


# The sandbox's users.


@pytest.fixture
def store(tmp_path: Any) -> FolderStore:
    return FolderStore(tmp_path / "data")


@pytest.fixture
def app_settings(sandbox: SandboxServer, store: FolderStore) -> Settings:
    return load_settings({**BASE_ENV, **sandbox.settings_env(), "DATA_URL": str(store.root)})


@pytest.fixture
def web(app_settings: Settings, store: FolderStore) -> Flask:
    return create_app(app_settings, store)


def scope_of(answer: Any) -> set[str]:
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    return set(query["scope"][0].split())


def start_taste(client: FlaskClient) -> Any:
    return client.post("/taste/on", data={"csrf_token": csrf_token(client.get("/taste"))})


def taste_on(web: Flask, user: str) -> FlaskClient:
    client = web.test_client()
    sign_in(client, user)
    answer = follow_sign_in(client, start_taste(client), user)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return client


def sandbox_artists(sandbox: SandboxServer, user: str) -> set[str]:
    """The artists the sandbox itself holds as the user's top (all ranges) and followed."""
    listening = sandbox.sandbox.listening
    now = ms_of(sandbox.sandbox.clock.now())
    top = {a for r in TIME_RANGES for a in listening.top(user, now, r)[0]}
    return top | set(listening.followed_artists(user))


def taste_requests(sandbox: SandboxServer) -> int:
    served = sandbox.sandbox.stats.as_dict()["requests"]
    return sum(served.get(endpoint, 0) for endpoint in TASTE_ENDPOINTS)


def age(store: FolderStore, user: str, hours: float) -> None:
    """Make a profile read `hours` ago."""
    moment = (clock_now() - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    TASTE.update(store, user, lambda r: replace(r, refreshed_at=moment))


def run(store: FolderStore, app_settings: Settings) -> Any:
    return collect(store, app_settings, RequestLedger(), now=clock_now(), sleep=lambda s: 0)


def test_people_who_never_opt_in_are_never_asked_for_their_artists(web: Flask) -> None:
    client = web.test_client()

    assert not {"user-top-read", "user-follow-read"} & scope_of(client.get("/login"))
    assert not {"user-top-read"} & scope_of(client.get("/login", query_string={"add": "taste"}))
    sign_in(client, "alice")
    assert client.post("/taste/on").status_code == 400  # no CSRF token
    asked = start_taste(client)
    assert {"user-top-read", "user-follow-read"} <= scope_of(asked)
    assert HISTORY_SCOPE not in scope_of(asked)  # history is off
    assert parse_qs(urlsplit(asked.headers["Location"]).query)["show_dialog"][0].lower() == "true"


def test_turning_taste_on_seals_the_grant_and_reads_the_sandbox_users_artists(
    web: Flask, store: FolderStore, sandbox: SandboxServer, app_settings: Settings
) -> None:
    sandbox.sandbox.stats.reset()

    client = taste_on(web, "alice")

    loaded = TASTE.load(store, "alice")
    assert loaded is not None
    record = loaded[0]
    assert record.status == ACTIVE and record.refreshed_at and not record.problem
    assert "refresh-" not in store.read(TASTE.object("alice")).data.decode()  # sealed
    opened = TokenBox(app_settings.token_encryption_key).open(record.sealed_refresh_token)
    assert str(opened["refresh_token"]).startswith("refresh-")
    assert set(record.artists) == sandbox_artists(sandbox, "alice")
    assert record.requests == taste_requests(sandbox)
    assert record.requests <= len(TIME_RANGES) * MAX_PAGES + MAX_PAGES
    print(f"Spotify requests to build alice's profile: {record.requests}")
    page = client.get("/taste").get_data(as_text=True)
    assert 'id="taste-on"' in page
    assert f'<dd id="count-known">{len(record.artists)}</dd>' in page


def test_with_history_on_taste_asks_for_plays_too_and_counts_them(
    web: Flask, store: FolderStore, sandbox: SandboxServer, app_settings: Settings
) -> None:
    client = web.test_client()
    sign_in(client, "alice")
    turn_history_on(client, "alice")
    history_token = LISTENING.load(store, "alice")[0].sealed_refresh_token  # type: ignore[index]
    collect_everyone(store, app_settings, RequestLedger(), now=clock_now())

    asked = start_taste(client)
    assert {"user-top-read", "user-follow-read", HISTORY_SCOPE} <= scope_of(asked)
    follow_sign_in(client, asked, "alice")

    record = TASTE.load(store, "alice")[0]  # type: ignore[index]
    assert any(known.plays for known in record.artists.values())
    # Each feature keeps its own grant: history's is the one it was given.
    assert LISTENING.load(store, "alice")[0].sealed_refresh_token == history_token  # type: ignore[index]


def test_turning_history_on_with_taste_on_asks_for_both_and_keeps_each_grant(
    web: Flask, store: FolderStore
) -> None:
    client = taste_on(web, "alice")
    taste_token = TASTE.load(store, "alice")[0].sealed_refresh_token  # type: ignore[index]

    asked = client.post("/listening/on", data={"csrf_token": csrf_token(client.get("/listening"))})
    # The newest consent covers everything the person uses.
    assert {"user-top-read", "user-follow-read", HISTORY_SCOPE} <= scope_of(asked)
    follow_sign_in(client, asked, "alice")

    assert LISTENING.load(store, "alice") is not None
    assert TASTE.load(store, "alice")[0].sealed_refresh_token == taste_token  # type: ignore[index]


def test_a_second_refresh_within_a_day_asks_spotify_nothing(
    web: Flask, store: FolderStore, sandbox: SandboxServer
) -> None:
    client = taste_on(web, "alice")
    before = TASTE.load(store, "alice")
    sandbox.sandbox.stats.reset()

    answer = client.post("/taste/refresh", data={"csrf_token": csrf_token(client.get("/taste"))})

    assert answer.status_code == 303
    assert taste_requests(sandbox) == 0
    assert TASTE.load(store, "alice") == before
    assert "at most once a day" in client.get("/taste").get_data(as_text=True)


def test_refresh_now_reads_a_day_old_profile_with_the_stored_grant(
    web: Flask, store: FolderStore, sandbox: SandboxServer
) -> None:
    client = taste_on(web, "alice")
    sign_in(client, "alice")  # a plain sign-in since: the session's token lacks taste's scopes
    age(store, "alice", 21)
    sandbox.sandbox.stats.reset()

    client.post("/taste/refresh", data={"csrf_token": csrf_token(client.get("/taste"))})

    record = TASTE.load(store, "alice")[0]  # type: ignore[index]
    assert taste_requests(sandbox) == record.requests > 0
    assert not record.due(clock_now())
    assert set(record.artists) == sandbox_artists(sandbox, "alice")


def test_the_daily_job_refreshes_due_profiles_only(
    web: Flask, store: FolderStore, sandbox: SandboxServer, app_settings: Settings
) -> None:
    taste_on(web, "alice")
    taste_on(web, "bob")
    age(store, "bob", 21)
    alice_before = TASTE.load(store, "alice")
    sandbox.sandbox.stats.reset()

    summary = run(store, app_settings)

    assert (summary.people, summary.refreshed, summary.not_due) == (2, 1, 1)
    assert (summary.newly_paused, summary.failed, summary.stopped) == (0, 0, "")
    assert summary.requests == taste_requests(sandbox) > 0
    assert TASTE.load(store, "alice") == alice_before
    assert not TASTE.load(store, "bob")[0].due(clock_now())  # type: ignore[index]


def test_a_revoked_grant_pauses_only_that_person(
    web: Flask, store: FolderStore, sandbox: SandboxServer, app_settings: Settings
) -> None:
    alice = taste_on(web, "alice")
    taste_on(web, "bob")
    age(store, "alice", 21)
    age(store, "bob", 21)
    requests.post(f"{sandbox.url}/_sandbox/revoke", json={"user": "alice"}, timeout=10)

    summary = run(store, app_settings)

    assert (summary.newly_paused, summary.refreshed, summary.failed) == (1, 1, 0)
    assert TASTE.load(store, "alice")[0].status == NEEDS_SIGN_IN  # type: ignore[index]
    assert TASTE.load(store, "bob")[0].status == ACTIVE  # type: ignore[index]
    assert run(store, app_settings).waiting_for_sign_in == 1  # no request for a paused person
    sign_in(alice, "alice")
    page = alice.get("/taste").get_data(as_text=True)
    assert 'id="taste-paused"' in page and "Give the permission again" in page
    follow_sign_in(alice, start_taste(alice), "alice")
    assert TASTE.load(store, "alice")[0].status == ACTIVE  # type: ignore[index]


def test_a_spent_quota_stops_the_run_and_pauses_nobody(
    web: Flask, store: FolderStore, sandbox: SandboxServer, app_settings: Settings
) -> None:
    taste_on(web, "alice")
    age(store, "alice", 21)
    sandbox.sandbox.options.daily_quota = 0

    summary = run(store, app_settings)

    assert (summary.stopped, summary.refreshed, summary.newly_paused) == ("quota", 0, 0)
    assert TASTE.load(store, "alice")[0].status == ACTIVE  # type: ignore[index]


def test_the_job_answers_only_cron_and_has_its_own_lease(
    web: Flask, store: FolderStore, app_settings: Settings
) -> None:
    taste_on(web, "alice")
    age(store, "alice", 21)
    etl = create_etl_app(app_settings, store).test_client()

    assert etl.get("/tasks/taste").status_code == 403
    answer = etl.get("/tasks/taste", headers=CRON)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["refreshed"] == 1
    assert store.generation(TASTE_LEASE_NAME) is None  # released
    take_lease(store, "another", now=clock_now(), name=TASTE_LEASE_NAME)
    assert etl.get("/tasks/taste", headers=CRON).status_code == 409


def test_the_cli_runs_once_and_says_what_it_did(
    web: Flask,
    store: FolderStore,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from etl.__main__ import main

    taste_on(web, "alice")
    for name, value in {**BASE_ENV, **sandbox.settings_env()}.items():
        monkeypatch.setenv(name, value)

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        assert main(["taste", "--data", str(store.root)]) == 0
    finally:  # the CLI sends logs to this test's captured stdout: give the root logger back
        root.handlers[:] = handlers
        root.setLevel(level)
    assert "taste: 0 of 1 people refreshed, 1 not due" in capsys.readouterr().out


def test_turning_taste_off_and_delete_my_data_remove_the_record(
    web: Flask, store: FolderStore
) -> None:
    alice = taste_on(web, "alice")
    alice.post("/taste/off", data={"csrf_token": csrf_token(alice.get("/taste"))})
    assert store.generation(TASTE.object("alice")) is None
    assert 'id="taste-off"' in alice.get("/taste").get_data(as_text=True)

    bob = taste_on(web, "bob")
    token = csrf_token(bob.get("/backups/delete-my-data"))
    assert bob.post("/backups/delete-my-data", data={"csrf_token": token}).status_code == 200
    assert store.generation(TASTE.object("bob")) is None


def test_a_person_sees_only_their_own_profile(web: Flask, store: FolderStore) -> None:
    taste_on(web, "alice")
    bob = taste_on(web, "bob")
    alice_only = set(known_artists(store, "alice")) - set(known_artists(store, "bob"))

    page = bob.get("/taste").get_data(as_text=True)

    shown = set(re.findall(r'data-artist="([^"]+)"', page))
    assert shown and shown <= set(known_artists(store, "bob"))
    assert not shown & alice_only
    assert "Alice Sandbox" not in page


def test_a_profile_that_cannot_be_read_at_once_is_read_later_never_a_500(
    web: Flask, store: FolderStore, sandbox: SandboxServer
) -> None:
    client = web.test_client()
    sign_in(client, "alice")
    asked = start_taste(client)
    # Spotify's quota ends right after the sign-in's own /me: the first top page is refused.
    sandbox.sandbox.options.daily_quota = sandbox.sandbox.limits.quota_used()[1] + 1

    answer = follow_sign_in(client, asked, "alice")

    assert answer.status_code == 302
    record = TASTE.load(store, "alice")[0]  # type: ignore[index]
    assert record.status == ACTIVE and record.due(clock_now()) and record.problem
    page = client.get("/taste").get_data(as_text=True)
    assert "reads them again within a day" in page
