"""Fair use of the app's Spotify quota on the web: each person draws from a daily share, answers
that cost requests are kept for minutes on the server, and the ETL's reserve stays.

Spotify requests are counted where Spotify would count them: in the sandbox.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from etl.pipeline import make_spotify
from sandbox.server import SandboxServer
from shared.config import load_settings
from shared.quota import ShareSpentError, add_requests, person_day_object, utc_day
from shared.storage import FolderStore
from shared.users import BACKUPS
from tests.clock import clock_now
from tests.conftest import BASE_ENV
from tests.test_backups import opt_in
from tests.web_helpers import csrf_token, sign_in
from web import create_app

PERSON_SHARE_SENTENCE = "You have used your share of Spotify requests for today"
DAY_FILE = re.compile(r"quota/[^/]+/\d{4}-\d{2}-\d{2}\.json")
WEB_SHARE_SENTENCE = "Local Shows' pages have made all the Spotify requests they may make today"


@pytest.fixture
def store(tmp_path: Any) -> FolderStore:
    return FolderStore(tmp_path / "data")


AppFor = Callable[..., Flask]


@pytest.fixture
def app_for(sandbox: SandboxServer, store: FolderStore) -> AppFor:
    """The web app with a share of `per_person` requests a person and `per_day` in all."""

    def make(per_person: int = 100, per_day: int = 400) -> Flask:
        env = {
            **BASE_ENV,
            **sandbox.settings_env(),
            "DATA_URL": str(store.root),
            "WEB_SPOTIFY_REQUESTS_PER_PERSON": str(per_person),
            "WEB_SPOTIFY_REQUESTS_PER_DAY": str(per_day),
        }
        return create_app(load_settings(env), store)

    return make


def spotify_requests(sandbox: SandboxServer) -> int:
    """Every Spotify Web API request the sandbox served or refused so far."""
    counts = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["requests"]
    return sum(n for endpoint, n in counts.items() if endpoint.startswith("spotify "))


def signed_in(app: Flask, user: str) -> FlaskClient:
    client = app.test_client()
    sign_in(client, user)
    return client


def text(answer: Any) -> str:
    return html.unescape(answer.get_data(as_text=True))


def counted(store: FolderStore, user: str) -> int:
    """The requests counted for a person (on whatever day the clock is)."""
    days = [name for name in store.list(f"quota/{user}/") if DAY_FILE.fullmatch(name)]
    return sum(int(json.loads(store.read(name).data)["requests"]) for name in days)


def list_again(client: FlaskClient) -> Any:
    """Press "Refresh the list" on the backups page, then view it: a listing that costs."""
    page = client.get("/backups")
    client.post("/backups/playlists", data={"csrf_token": csrf_token(page)})
    return client.get("/backups")


def test_150_reloads_of_backups_ask_spotify_for_the_playlists_once(
    app_for: AppFor, sandbox: SandboxServer, store: FolderStore
) -> None:
    alice = signed_in(app_for(), "alice")
    before = spotify_requests(sandbox)

    pages = [alice.get("/backups") for _ in range(150)]

    assert {page.status_code for page in pages} == {200}
    offered = [re.findall(r'name="source" value="([^"]+)"', text(page)) for page in pages]
    assert offered[0] and all(sources == offered[0] for sources in offered)
    assert spotify_requests(sandbox) - before <= 3  # a listing and a probe, once
    assert counted(store, "alice") == 1 + spotify_requests(sandbox) - before  # with the sign-in


def test_one_person_with_their_share_spent_is_told_plainly_and_others_are_not(
    app_for: AppFor, sandbox: SandboxServer, store: FolderStore
) -> None:
    app = app_for(per_person=5)
    alice = signed_in(app, "alice")  # 1 request
    assert alice.get("/backups").status_code == 200  # 2 more
    assert list_again(alice).status_code == 200  # 3 of 5 spent before: allowed, 2 more

    before = spotify_requests(sandbox)
    refused = [list_again(alice) for _ in range(5)]

    assert spotify_requests(sandbox) == before  # not one request more
    for answer in refused:
        assert answer.status_code == 429
        assert 0 < int(answer.headers["Retry-After"]) <= 24 * 3600
        found = re.search(r'<p class="error" role="alert" id="problem">([^<]*)</p>', text(answer))
        assert found and found.group(1).startswith(PERSON_SHARE_SENTENCE)
        assert "(5 a day for each person" in found.group(1)
    bob = signed_in(app, "bob")
    page = bob.get("/backups")
    assert page.status_code == 200
    assert 'name="source" value="playlist:' in text(page)
    assert "share" not in text(page)
    assert counted(store, "alice") == 5 and counted(store, "bob") == 3


def test_a_spent_share_refuses_back_up_now_and_gives_the_day_back(
    app_for: AppFor, sandbox: SandboxServer, store: FolderStore
) -> None:
    alice = opt_in(app_for(per_person=20), "alice", "playlist:")
    spent = counted(store, "alice")
    add_requests(
        store, person_day_object("alice", utc_day(clock_now())), 20 - spent, utc_day(clock_now())
    )
    before = spotify_requests(sandbox)

    answer = alice.post("/backups/now", data={"csrf_token": csrf_token(alice.get("/backups"))})

    assert answer.status_code == 429
    assert f"The backup failed: {PERSON_SHARE_SENTENCE}" in text(answer)
    assert spotify_requests(sandbox) == before
    user = BACKUPS.load(store, "alice")
    assert user is not None and user[0].last_manual_backup_at == ""  # not used up


def test_the_webs_total_keeps_the_etls_reserve_of_the_days_quota(
    app_for: AppFor, sandbox: SandboxServer, store: FolderStore
) -> None:
    quota, web_total = 30, 12
    sandbox.sandbox.options.daily_quota = quota  # Spotify's, for the whole app
    app = app_for(per_person=8, per_day=web_total)

    answers = []
    for user in ("alice", "bob"):
        client = signed_in(app, user)
        answers += [client.get("/backups")] + [list_again(client) for _ in range(10)]
    web_spent = spotify_requests(sandbox)
    etl = make_spotify(load_settings({**BASE_ENV, **sandbox.settings_env()}))
    for _ in range(quota - web_total - 2):
        etl.search_artists("Anyone")  # QuotaExhaustedError here: the web spent the ETL's part

    assert web_spent <= web_total + 2  # a page begun within the total finishes
    assert answers[-1].status_code == 429 and WEB_SHARE_SENTENCE in text(answers[-1])
    assert sandbox.sandbox.limits.quota_used()[1] <= quota


def test_the_share_comes_back_the_next_utc_day(
    app_for: AppFor, sandbox: SandboxServer, store: FolderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = signed_in(app_for(per_person=5), "alice")
    alice.get("/backups")
    list_again(alice)
    assert list_again(alice).status_code == 429

    tomorrow = utc_day(clock_now()) + timedelta(days=1)
    monkeypatch.setattr("web.quota.utc_now", lambda: clock_now() + timedelta(days=1))
    page = list_again(alice)

    assert page.status_code == 200 and 'name="source"' in text(page)
    assert store.list("quota/alice/") == [
        f"quota/alice/{tomorrow.isoformat()}.json",
        "quota/alice/answers/backup-sources.json",
    ]


def test_delete_my_data_deletes_the_persons_counts_and_kept_answers(
    app_for: AppFor, store: FolderStore
) -> None:
    app = app_for()
    alice, bob = signed_in(app, "alice"), signed_in(app, "bob")
    alice.get("/backups")
    bob.get("/backups")
    kept_for_bob = store.list("quota/bob/")
    assert len(store.list("quota/alice/")) == 2  # the day's count and the listed playlists

    alice.post(
        "/backups/delete-my-data",
        data={"csrf_token": csrf_token(alice.get("/backups/delete-my-data"))},
    )

    assert store.list("quota/alice/") == []
    assert store.list("quota/bob/") == kept_for_bob
    assert store.list("quota_web/") != []  # everyone's count, for the ETL's reserve, stays


def test_a_page_that_does_not_catch_a_spent_share_says_it_plainly(app_for: AppFor) -> None:
    app = app_for()

    @app.get("/spends")
    def spends() -> str:
        raise ShareSpentError(
            "You have used your share.", whole_web=False, resets_at=clock_now() + timedelta(hours=1)
        )

    answer = app.test_client().get("/spends")

    assert answer.status_code == 429
    assert 3500 <= int(answer.headers["Retry-After"]) <= 3600
    assert '<p class="error" role="alert" id="share-spent">You have used your share.</p>' in text(
        answer
    )
