"""The Charts pages (issue 18): exact page output on hand-made histories, access, add and stop.

Histories are built with the real storage code (save_snapshot + rebuild_history) in a folder
store; adding a playlist goes through the sandbox's consent and its users' playlists.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pandas as pd
import pytest
import requests
import yaml
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.charts import DEVELOPMENT_MODE_PROBLEM
from sandbox.server import SandboxServer
from sandbox.world import daily_playlist_id, discover_weekly_id
from shared.chart_history import HISTORY_COLUMNS
from shared.charts import (
    ACTIVE,
    CHART_PEOPLE,
    DAILY_RUN_TIME,
    DAILY_RUN_ZONE,
    MAX_TRACKED,
    NEEDS_SIGN_IN,
    ChartAbout,
    ChartsRecord,
    TrackedPlaylist,
    chart_folder,
    history_dataset,
    latest_run_day,
    rebuild_history,
    save_about,
    save_snapshot,
)
from shared.config import Settings, load_settings
from shared.storage import FolderStore
from shared.tokens import TokenBox
from tests.conftest import BASE_ENV
from tests.web_helpers import csrf_token, follow_sign_in, sign_in
from web import charts as charts_module
from web import create_app

OPERATOR = "operatorChart000000001"  # the operator's chart, with a history
TOP_50 = "37i9dQZEVXbMDoHDwVN2tF"  # the operator's Top 50, refused in Development Mode
BOBS = "bobsChart0000000000001"  # a playlist only bob tracks
ALICE_DAILY = daily_playlist_id("alice-daily-50")  # alice owns it in the sandbox
OFFICE = daily_playlist_id("office-chart")  # bob's, alice collaborates on it
HYPERLINK = '=HYPERLINK("http://evil.example","x")'


def tid(letter: str) -> str:
    return f"track{letter}".ljust(22, "0")


# Four snapshot days with a missed day (11-22): A B C D / B A E C / B A E C / E D A C F.
DAYS = {
    "2026-11-20": "ABCD",
    "2026-11-21": "BAEC",
    "2026-11-23": "BAEC",
    "2026-11-24": "EDACF",
}
NAMES = {"F": HYPERLINK}


def snapshot(letters: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "position": range(1, len(letters) + 1),
            "track_id": [tid(x) for x in letters],
            "track_name": [NAMES.get(x, f"Song {x}") for x in letters],
            "artist_names": ["-Minus" if x == "F" else f"Artist {x}" for x in letters],
            "album_name": "",
            "added_at": "",
            "duration_ms": 200_000,
            "captured_at": "",
        }
    )


def build_chart(store: FolderStore, playlist_id: str, days: dict[str, str] = DAYS) -> None:
    for day, letters in days.items():
        assert save_snapshot(store, playlist_id, day, snapshot(letters))
    rebuild_history(store, playlist_id)


@pytest.fixture
def store(tmp_path: Any) -> FolderStore:
    return FolderStore(tmp_path / "data")


@pytest.fixture
def app_settings(sandbox: SandboxServer, store: FolderStore) -> Settings:
    env = {
        **BASE_ENV,
        **sandbox.settings_env(),
        "DATA_URL": str(store.root),
        "CHART_PLAYLISTS": f"{OPERATOR},{TOP_50}",
    }
    return load_settings(env)


@pytest.fixture
def web(app_settings: Settings, store: FolderStore, monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setattr(charts_module, "utc_now", lambda: datetime(2026, 11, 24, 12, tzinfo=UTC))
    return create_app(app_settings, store)


def sealed(app_settings: Settings) -> str:
    return TokenBox(app_settings.token_encryption_key).seal({"refresh_token": "refresh-x"})


def track_for(
    store: FolderStore, app_settings: Settings, user: str, *playlists: str, status: str = ACTIVE
) -> None:
    """Write a person's record tracking these playlists, as the Charts page would."""
    tracked = tuple(TrackedPlaylist(p, f"List {p[:4]}", "2026-11-01T00:00:00Z") for p in playlists)
    record = ChartsRecord(user, sealed(app_settings), status=status, playlists=tracked)
    CHART_PEOPLE.put(store, record)


def signed_in(web: Flask, user: str = "alice") -> FlaskClient:
    client = web.test_client()
    sign_in(client, user)
    return client


def text(answer: Any) -> str:
    return str(answer.get_data(as_text=True))


def rows(page: str) -> list[tuple[str, str, str, str, str, str]]:
    """The latest chart's rows: rank, movement, its words, track, days on chart, peak."""
    found = re.findall(
        r'<td class="rank">(\d+)</td>\s*<td class="move[^"]*"><span aria-hidden="true">([^<]*)'
        r'</span><span class="visually-hidden">([^<]*)</span></td>\s*<td class="track"><a [^>]*>'
        r'([^<]*)</a>.*?<td class="num days">(\d+)</td>\s*<td class="num peak">(\d+)</td>',
        page,
        re.S,
    )
    return [tuple(row) for row in found]


# The chart page.


def test_the_latest_day_shows_rank_movement_days_on_chart_and_peak(
    web: Flask, store: FolderStore
) -> None:
    build_chart(store, OPERATOR)

    page = text(web.test_client().get(f"/charts/{OPERATOR}"))

    assert rows(page) == [
        ("1", "▲ 2", "up 2", "Song E", "3", "1"),
        ("2", "RE", "back on the chart", "Song D", "2", "2"),
        ("3", "▼ 1", "down 1", "Song A", "4", "1"),
        ("4", "=", "same place", "Song C", "4", "3"),
        (
            "5",
            "NEW",
            "new on the chart",
            "=HYPERLINK(&#34;http://evil.example&#34;,&#34;x&#34;)",
            "1",
            "5",
        ),
    ]
    assert "4 days charted; the latest is 2026-11-24, with 5 tracks." in page
    assert 'id="stale"' not in page and 'id="no-snapshot"' not in page


def test_churn_per_day_is_drawn_and_said_in_numbers(web: Flask, store: FolderStore) -> None:
    build_chart(store, OPERATOR)

    page = text(web.test_client().get(f"/charts/{OPERATOR}"))

    numbers = re.findall(
        r'<tr data-day="([\d-]+)"><td>[\d-]+</td><td class="num">(\d+)</td><td class="num">(\d+)',
        page,
    )
    assert numbers == [
        ("2026-11-24", "2", "1"),
        ("2026-11-23", "0", "0"),
        ("2026-11-21", "1", "1"),
    ]
    assert "On 2026-11-24: 2 entered, 1 left. Over the 3 days shown: 3 entered, 2 left." in page
    bars = re.findall(r'<g class="churn-day" data-day="([\d-]+)"><title>([^<]*)</title>', page)
    assert bars[0] == ("2026-11-21", "Nov 21, 2026: 1 entered, 1 left")
    assert len(bars) == 3


def test_a_tracks_rank_over_time_is_a_line_with_rank_1_on_top_and_gaps_off_the_chart(
    web: Flask, store: FolderStore
) -> None:
    build_chart(store, OPERATOR)
    client = web.test_client()

    # E: off the chart on the first day, then 3, 3, 1: one line of three points.
    e_page = text(client.get(f"/charts/{OPERATOR}", query_string={"track": tid("E")}))
    assert re.findall(r'<polyline class="rank-line" points="([^"]*)"', e_page) == [
        "151.5,70 232.5,70 313.5,10"
    ]
    assert "3 days on the chart, best rank 1." in e_page
    assert "<td>2026-11-20</td><td>off the chart</td>" in e_page

    # D: rank 4, off for two chart days, then 2: two points and no line across the gap.
    d_page = text(client.get(f"/charts/{OPERATOR}", query_string={"track": tid("D")}))
    assert 'class="rank-line"' not in d_page
    points = re.findall(r'<circle class="rank-point" cx="([\d.]+)" cy="([\d.]+)"', d_page)
    assert points == [("70.5", "100"), ("313.5", "40")]
    assert re.findall(r'class="rank-point"[^>]*><title>([^<]*)</title>', d_page) == [
        "Nov 20, 2026: rank 4",
        "Nov 24, 2026: rank 2",
    ]


def test_each_row_links_to_its_tracks_rank_chart(web: Flask, store: FolderStore) -> None:
    build_chart(store, OPERATOR)

    page = text(web.test_client().get(f"/charts/{OPERATOR}"))

    assert f'href="/charts/{OPERATOR}?track={tid("E")}#track-rank"' in page


def test_a_chart_without_a_snapshot_says_when_the_next_run_takes_the_first(web: Flask) -> None:
    page = text(web.test_client().get(f"/charts/{OPERATOR}"))

    assert "No snapshot yet: the first is taken by the next daily run, at 5:30 New York time." in (
        page
    )


def test_a_chart_whose_latest_day_is_not_today_says_so(
    web: Flask, store: FolderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_chart(store, OPERATOR)
    monkeypatch.setattr(charts_module, "utc_now", lambda: datetime(2026, 11, 26, tzinfo=UTC))

    page = text(web.test_client().get(f"/charts/{OPERATOR}"))

    assert '<p class="notice" id="stale">These are the charts of 2026-11-24' in page


def test_a_top_50_refused_in_development_mode_says_why_on_both_pages(
    web: Flask, store: FolderStore
) -> None:
    about = ChartAbout(TOP_50, last_run_day="2026-11-24", last_status="not_found")
    save_about(store, replace_problem(about, DEVELOPMENT_MODE_PROBLEM))
    client = signed_in(web)

    listing = text(client.get("/charts"))
    chart = text(client.get(f"/charts/{TOP_50}"))

    escaped = DEVELOPMENT_MODE_PROBLEM.replace('"', "&#34;").replace("'", "&#39;")
    assert f'<li data-playlist="{TOP_50}">' in listing and escaped in listing
    assert f'<p class="error" role="alert" id="chart-problem">{escaped}</p>' in chart
    assert "Development Mode" in escaped and "Extended Quota" in escaped


def replace_problem(about: ChartAbout, problem: str) -> ChartAbout:
    from dataclasses import replace

    return replace(about, problem=problem)


# The CSV download.


def test_the_history_downloads_as_csv_with_formula_cells_escaped(
    web: Flask, store: FolderStore
) -> None:
    build_chart(store, OPERATOR)

    answer = web.test_client().get(f"/charts/{OPERATOR}/history.csv")

    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"] == (
        f'attachment; filename="chart-{OPERATOR}-2026-11-24.csv"'
    )
    table = list(csv.reader(io.StringIO(text(answer))))
    assert table[0] == HISTORY_COLUMNS
    assert len(table) == 1 + 4 + 4 + 4 + 5
    f_row = next(row for row in table if row[2] == tid("F"))
    assert f_row[3] == "'" + HYPERLINK and f_row[4] == "'-Minus"
    assert f_row[:3] == ["2026-11-24", "5", tid("F")]
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in table for cell in row)


# Who sees what.


def test_another_persons_tracked_playlist_is_not_found(
    web: Flask, store: FolderStore, app_settings: Settings
) -> None:
    build_chart(store, BOBS)
    track_for(store, app_settings, "bob", BOBS)
    alice = signed_in(web)

    assert alice.get(f"/charts/{BOBS}").status_code == 404
    assert alice.get(f"/charts/{BOBS}/history.csv").status_code == 404
    assert web.test_client().get(f"/charts/{BOBS}").status_code == 404
    assert "Song E" not in text(alice.get(f"/charts/{BOBS}"))
    bob = signed_in(web, "bob")
    assert bob.get(f"/charts/{BOBS}").status_code == 200


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/charts/not-an-id", {}),
        ("/charts/short", {}),
        (f"/charts/{OPERATOR}x", {}),
        (f"/charts/{OPERATOR}", {"track": "not a track"}),
        (f"/charts/{OPERATOR}", {"track": tid("Z")}),  # never on this chart
        ("/charts/0000000000000000000000/history.csv", {}),
    ],
)
def test_unknown_or_malformed_ids_are_not_found(
    web: Flask, store: FolderStore, path: str, query: dict[str, str]
) -> None:
    build_chart(store, OPERATOR)

    assert web.test_client().get(path, query_string=query).status_code == 404


def test_a_damaged_history_is_a_clear_message_not_an_error(web: Flask, store: FolderStore) -> None:
    store.write(history_dataset(OPERATOR).name, b"day,rank\n2026-11-24,not-a-number\n\xff\xfe")
    client = web.test_client()

    page = client.get(f"/charts/{OPERATOR}")
    download = client.get(f"/charts/{OPERATOR}/history.csv")

    assert page.status_code == 200 and 'id="history-problem"' in text(page)
    assert download.status_code == 409


def test_a_damaged_record_is_a_clear_message_and_adding_replaces_it(
    web: Flask, store: FolderStore
) -> None:
    store.write(CHART_PEOPLE.object("alice"), b'{"user_id": 3}')
    client = signed_in(web)

    page = client.get("/charts")

    assert page.status_code == 200 and "could not be read" in text(page)
    assert client.get(f"/charts/{ALICE_DAILY}").status_code == 404
    answer = client.post(
        "/charts/add", data={"csrf_token": csrf_token(page), "playlist_id": ALICE_DAILY}
    )
    follow_sign_in(client, answer)
    record = CHART_PEOPLE.load(store, "alice")
    assert record is not None and record[0].tracks(ALICE_DAILY)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    value=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
    where=st.sampled_from(["id", "track", "csv"]),
)
def test_any_text_as_a_playlist_or_track_id_is_a_page_or_not_found(
    web: Flask, store: FolderStore, value: str, where: str
) -> None:
    if not store.list(chart_folder(OPERATOR)):
        build_chart(store, OPERATOR)
    client = web.test_client()
    if where == "track":
        path = f"/charts/{OPERATOR}"
        answer = client.get(path, query_string={"track": value})
    else:
        path = "/charts/{}" if where == "id" else "/charts/{}/history.csv"
        answer = client.get(path.format(quote(value, safe="")))

    # Werkzeug redirects a path with "//" in it (an empty or "/" id) to the path with one "/".
    merged = {308} if "//" in path.format(value) else set()
    assert answer.status_code in {200, 404} | merged, (value, answer.status_code)


# Adding and stopping, through the sandbox.


def scope_of(answer: Any) -> set[str]:
    return set(parse_qs(urlsplit(answer.headers["Location"]).query)["scope"][0].split())


def options(page: str) -> dict[str, str]:
    return dict(re.findall(r'<option value="([^"]+)">([^<]*)</option>', page))


def test_signed_out_the_page_says_what_charts_are_and_offers_a_sign_in(web: Flask) -> None:
    page = text(web.test_client().get("/charts"))

    assert 'id="charts-sign-in"' in page and 'id="add-form"' not in page
    assert OPERATOR not in page


def test_only_playlists_one_owns_or_collaborates_on_can_be_added(web: Flask) -> None:
    page = text(signed_in(web).get("/charts"))

    offered = options(page)
    assert offered[ALICE_DAILY] == "Alice&#39;s daily 50"
    assert offered[OFFICE] == "Office chart (collaborative)"
    assert discover_weekly_id("alice") not in offered  # Spotify's, merely followed


def test_adding_asks_spotify_once_then_keeps_the_sealed_grant(
    web: Flask, store: FolderStore, app_settings: Settings
) -> None:
    client = signed_in(web)
    page = client.get("/charts")
    assert client.post("/charts/add", data={"playlist_id": ALICE_DAILY}).status_code == 400

    asked = client.post(
        "/charts/add", data={"csrf_token": csrf_token(page), "playlist_id": ALICE_DAILY}
    )
    assert {"playlist-read-private", "playlist-read-collaborative"} <= scope_of(asked)
    back = follow_sign_in(client, asked)
    assert back.headers["Location"] == "/charts"

    record = CHART_PEOPLE.load(store, "alice")
    assert record is not None
    assert [p.playlist_id for p in record[0].playlists] == [ALICE_DAILY]
    assert "refresh-" not in store.read(CHART_PEOPLE.object("alice")).data.decode()
    opened = TokenBox(app_settings.token_encryption_key).open(record[0].sealed_refresh_token)
    assert str(opened["refresh_token"]).startswith("refresh-")
    listing = text(client.get("/charts"))
    assert "is tracked: its first snapshot is taken by the next daily run." in listing
    assert f'<li data-playlist="{ALICE_DAILY}">' in listing and ALICE_DAILY not in options(listing)

    # The session's grant has the scopes now: the next one is added without asking again.
    again = client.post("/charts/add", data={"csrf_token": csrf_token(page), "playlist_id": OFFICE})
    assert again.headers["Location"] == "/charts"
    record = CHART_PEOPLE.load(store, "alice")
    assert record is not None and [p.playlist_id for p in record[0].playlists] == [
        ALICE_DAILY,
        OFFICE,
    ]
    assert client.get(f"/charts/{OFFICE}").status_code == 200


def test_a_playlist_one_neither_owns_nor_collaborates_on_is_refused(web: Flask) -> None:
    client = signed_in(web)
    page = client.get("/charts")

    answer = client.post("/charts/add", data={"csrf_token": csrf_token(page), "playlist_id": BOBS})

    assert answer.status_code == 400


def test_no_more_than_max_tracked_playlists(
    web: Flask, store: FolderStore, app_settings: Settings
) -> None:
    many = [f"tracked{n}".ljust(22, "0") for n in range(MAX_TRACKED)]
    track_for(store, app_settings, "alice", *many)
    client = signed_in(web)

    page = client.get("/charts")
    assert 'id="tracked-full"' in text(page) and 'id="add-form"' not in text(page)
    answer = client.post(
        "/charts/add", data={"csrf_token": csrf_token(page), "playlist_id": ALICE_DAILY}
    )

    assert answer.status_code == 303
    assert f"You track {MAX_TRACKED} playlists, the most one person may" in text(
        client.get("/charts")
    )
    record = CHART_PEOPLE.load(store, "alice")
    assert record is not None and len(record[0].playlists) == MAX_TRACKED


def test_stop_tracking_forgets_the_files_unless_someone_else_keeps_them(
    web: Flask, store: FolderStore, app_settings: Settings
) -> None:
    build_chart(store, ALICE_DAILY)
    build_chart(store, OFFICE)
    track_for(store, app_settings, "alice", ALICE_DAILY, OFFICE)
    track_for(store, app_settings, "bob", OFFICE)
    client = signed_in(web)
    token = csrf_token(client.get("/charts"))

    client.post(f"/charts/{OFFICE}/stop", data={"csrf_token": token})
    assert store.list(chart_folder(OFFICE)), "bob still tracks it"
    client.post(f"/charts/{ALICE_DAILY}/stop", data={"csrf_token": token})

    assert store.list(chart_folder(ALICE_DAILY)) == []
    assert CHART_PEOPLE.load(store, "alice") is None  # tracking nothing keeps no grant
    assert client.post(f"/charts/{BOBS}/stop", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/charts/{OFFICE}/stop").status_code == 400  # no CSRF token


def test_a_paused_grant_says_so_and_signing_in_again_resumes_it(
    web: Flask, store: FolderStore, app_settings: Settings
) -> None:
    track_for(store, app_settings, "alice", ALICE_DAILY, status=NEEDS_SIGN_IN)
    client = signed_in(web)
    page = client.get("/charts")
    assert 'id="charts-paused"' in text(page)

    asked = client.post("/charts/grant", data={"csrf_token": csrf_token(page)})
    assert "playlist-read-collaborative" in scope_of(asked)
    follow_sign_in(client, asked)

    record = CHART_PEOPLE.load(store, "alice")
    assert record is not None and record[0].status == ACTIVE
    assert "Charts are on again" in text(client.get("/charts"))


def test_delete_my_data_deletes_the_persons_charts_and_says_so(
    web: Flask, store: FolderStore, app_settings: Settings
) -> None:
    for playlist in (ALICE_DAILY, OFFICE, OPERATOR):
        build_chart(store, playlist)
    track_for(store, app_settings, "alice", ALICE_DAILY, OFFICE, OPERATOR)
    track_for(store, app_settings, "bob", OFFICE)
    client = signed_in(web)

    confirm = client.get("/backups/delete-my-data")
    assert "your 3 tracked chart playlists on Charts" in text(confirm)
    done = client.post("/backups/delete-my-data", data={"csrf_token": csrf_token(confirm)})

    assert "your 3 tracked chart playlists on Charts" in text(done)
    assert store.generation(CHART_PEOPLE.object("alice")) is None
    assert store.list(chart_folder(ALICE_DAILY)) == []
    assert store.list(chart_folder(OFFICE)) and store.list(chart_folder(OPERATOR))


# The reviewer's findings (issue 18 follow-up).


def served(sandbox: SandboxServer, ending: str) -> int:
    """How many Spotify GET requests the sandbox served to a path ending so."""
    counts = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["requests"]
    return sum(n for key, n in counts.items() if " GET " in key and key.endswith(ending))


def test_another_account_signing_in_at_the_consent_does_not_get_the_playlist(
    web: Flask, store: FolderStore
) -> None:
    client = signed_in(web)  # alice
    page = client.get("/charts")
    asked = client.post(
        "/charts/add", data={"csrf_token": csrf_token(page), "playlist_id": ALICE_DAILY}
    )

    follow_sign_in(client, asked, user="bob")  # bob signs in through the consent dialog

    assert CHART_PEOPLE.load(store, "bob") is None
    assert CHART_PEOPLE.load(store, "alice") is None
    assert "another account than the one that chose the playlist" in text(client.get("/charts"))
    assert client.get(f"/charts/{ALICE_DAILY}").status_code == 404


def test_the_callback_checks_with_the_new_grant_that_the_playlist_is_ones_own(
    web: Flask, store: FolderStore
) -> None:
    client = signed_in(web)
    page = client.get("/charts")
    asked = client.post(
        "/charts/add", data={"csrf_token": csrf_token(page), "playlist_id": ALICE_DAILY}
    )
    with client.session_transaction() as kept:  # as if the choice were not hers to make
        kept[charts_module.PENDING_KEY] = {"id": discover_weekly_id("alice"), "user": "alice"}

    follow_sign_in(client, asked)

    assert CHART_PEOPLE.load(store, "alice") is None
    assert charts_module.NOT_ADDABLE.replace("'", "&#39;") in text(client.get("/charts"))


def test_the_list_of_ones_playlists_is_kept_for_minutes_and_adding_checks_one(
    web: Flask, store: FolderStore, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = signed_in(web)
    listed = served(sandbox, "/me/playlists")

    page = client.get("/charts")
    client.get("/charts")
    assert served(sandbox, "/me/playlists") == listed + 1
    assert 'id="refresh-form"' in text(page)

    # Adding (a grant with the scopes already): one request for the playlist, no listing.
    asked = client.post(
        "/charts/add", data={"csrf_token": csrf_token(page), "playlist_id": ALICE_DAILY}
    )
    follow_sign_in(client, asked)
    read_one = served(sandbox, "/playlists/<playlist_id>")
    client.post("/charts/add", data={"csrf_token": csrf_token(page), "playlist_id": OFFICE})
    assert served(sandbox, "/playlists/<playlist_id>") == read_one + 1
    assert served(sandbox, "/me/playlists") == listed + 1
    record = CHART_PEOPLE.load(store, "alice")
    assert record is not None and [p.playlist_id for p in record[0].playlists] == [
        ALICE_DAILY,
        OFFICE,
    ]

    # Ten minutes on, or asked to, the page lists them again.
    later = datetime(2026, 11, 24, 12, 10, tzinfo=UTC)
    monkeypatch.setattr(charts_module, "utc_now", lambda: later)
    client.get("/charts")
    assert served(sandbox, "/me/playlists") == listed + 2
    client.post("/charts/refresh", data={"csrf_token": csrf_token(page)})
    client.get("/charts")
    assert served(sandbox, "/me/playlists") == listed + 3


def test_a_replayed_cookie_does_not_list_ones_playlists_again(
    web: Flask, store: FolderStore, sandbox: SandboxServer
) -> None:
    alice = signed_in(web)
    cookie = alice.get_cookie("session")  # before the page kept any list
    assert cookie is not None
    listed = served(sandbox, "/me/playlists")

    for _ in range(20):
        alice.set_cookie("session", cookie.value)
        assert ALICE_DAILY in text(alice.get("/charts"))

    assert served(sandbox, "/me/playlists") == listed + 1
    assert store.list("quota/alice/answers/") == ["quota/alice/answers/chart-choices.json"]
    bobs = text(signed_in(web, "bob").get("/charts"))  # never alice's list
    assert served(sandbox, "/me/playlists") == listed + 2  # his own, listed once
    assert ALICE_DAILY not in bobs and OFFICE in bobs


def test_a_playlist_emptied_shows_its_empty_day_and_everything_that_left(
    web: Flask, store: FolderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_chart(store, OPERATOR, {**DAYS, "2026-11-25": ""})
    save_about(
        store,
        ChartAbout(
            OPERATOR, last_day="2026-11-25", last_run_day="2026-11-25", last_status="snapshot"
        ),
    )
    monkeypatch.setattr(charts_module, "utc_now", lambda: datetime(2026, 11, 25, 12, tzinfo=UTC))

    page = text(web.test_client().get(f"/charts/{OPERATOR}"))

    assert '<p id="emptied">The playlist was empty on 2026-11-25.</p>' in page
    assert "5 days charted; the latest is 2026-11-25, with no track." in page
    assert "On 2026-11-25: 0 entered, 5 left." in page
    assert 'id="stale"' not in page and "could not take one" not in page
    assert rows(page) == []


@pytest.mark.parametrize(
    ("now", "stale"),
    [
        (datetime(2026, 11, 25, 2, tzinfo=UTC), False),  # 21:00 in New York on the 24th
        (datetime(2026, 11, 25, 10, 29, tzinfo=UTC), False),  # 05:29 in New York: not yet
        (datetime(2026, 11, 25, 10, 30, tzinfo=UTC), True),  # 05:30: the 25th's run is due
        (datetime(2026, 11, 24, 23, 59, tzinfo=UTC), False),
    ],
)
def test_a_chart_is_stale_only_once_a_later_run_was_due(
    web: Flask, store: FolderStore, monkeypatch: pytest.MonkeyPatch, now: datetime, stale: bool
) -> None:
    build_chart(store, OPERATOR)  # the latest snapshot: 2026-11-24
    monkeypatch.setattr(charts_module, "utc_now", lambda: now)

    page = text(web.test_client().get(f"/charts/{OPERATOR}"))

    assert ('id="stale"' in page) is stale
    if stale:
        assert "The next is taken by the daily run at 5:30 New York time." in page


def test_the_run_day_follows_the_cron_schedule() -> None:
    cron = Path(__file__).parent.parent / "cron.yaml"
    jobs = yaml.safe_load(cron.read_text())["cron"]
    charts_job = next(job for job in jobs if job["url"] == "/tasks/charts")
    assert charts_job["schedule"] == f"every day {DAILY_RUN_TIME:%H:%M}"
    assert charts_job["timezone"] == str(DAILY_RUN_ZONE)
    # Summer and winter: 05:30 in New York is 09:30 or 10:30 UTC.
    assert latest_run_day(datetime(2026, 7, 1, 9, 29, tzinfo=UTC)) == "2026-06-30"
    assert latest_run_day(datetime(2026, 7, 1, 9, 30, tzinfo=UTC)) == "2026-07-01"
    assert latest_run_day(datetime(2026, 1, 1, 10, 29, tzinfo=UTC)) == "2025-12-31"
    assert latest_run_day(datetime(2026, 1, 1, 10, 30, tzinfo=UTC)) == "2026-01-01"


# What the daily job writes when one tracker's grant is refused (etl/chart_people.py).
SIGN_IN_PROBLEM = (
    "The person who tracks this playlist must sign in again: Spotify no longer accepts the "
    "permission they gave."
)


def test_one_trackers_trouble_is_not_shown_to_another(
    web: Flask, store: FolderStore, app_settings: Settings
) -> None:
    build_chart(store, OFFICE)
    track_for(store, app_settings, "alice", OFFICE)
    track_for(store, app_settings, "bob", OFFICE, status=NEEDS_SIGN_IN)
    about = ChartAbout(OFFICE, last_day="2026-11-24", last_run_day="2026-11-24")
    save_about(
        store, ChartAbout(**{**asdict(about), "problem": SIGN_IN_PROBLEM, "last_status": "refused"})
    )
    alice = signed_in(web)

    listing = text(alice.get("/charts"))
    chart = text(alice.get(f"/charts/{OFFICE}"))

    for page in (listing, chart):
        assert "must sign in again" not in page
        assert "was not let read this playlist&#39;s tracks" in page
    assert 'id="chart-paused"' not in chart and 'id="charts-paused"' not in listing


def test_ones_own_paused_grant_is_said_from_ones_own_record(
    web: Flask, store: FolderStore, app_settings: Settings
) -> None:
    build_chart(store, ALICE_DAILY)
    record = ChartsRecord(
        "alice",
        sealed(app_settings),
        status=NEEDS_SIGN_IN,
        status_reason="Spotify no longer accepts the permission you gave.",
        playlists=(TrackedPlaylist(ALICE_DAILY, "Mine", "2026-11-01T00:00:00Z"),),
    )
    CHART_PEOPLE.put(store, record)

    chart = text(signed_in(web).get(f"/charts/{ALICE_DAILY}"))

    assert (
        '<p class="notice" role="alert" id="chart-paused">Your charts are paused: Spotify no '
        "longer accepts the permission you gave."
    ) in chart


def test_the_first_day_is_left_out_of_the_churn_bars_and_said(
    web: Flask, store: FolderStore
) -> None:
    build_chart(store, OPERATOR)

    page = text(web.test_client().get(f"/charts/{OPERATOR}"))

    assert 'data-day="2026-11-20"' not in page
    assert '<text class="axis" x="0" y="18">+2</text>' in page  # not +4: day one's entries
    assert (
        "The first day, 2026-11-20, is left out: with no snapshot before it, its 4 tracks all "
        "count as entered."
    ) in page
