"""The Listening page: consent only on opt-in, import of real-format exports, download, delete."""

from __future__ import annotations

import csv
import html
import io
import json
import zipfile
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.listening import HISTORY_SCOPE, LISTENING
from shared.plays import EXPORT, load_plays, month_objects
from shared.storage import FolderStore
from shared.tokens import TokenBox
from tests.contract import REAL_API
from tests.web_helpers import LEFT_AFTER_DELETE, csrf_token, sign_in, turn_history_on

EXTENDED = REAL_API / "exports" / "extended"
ACCOUNT = REAL_API / "exports" / "account"
MICA = EXTENDED / "mica-92__Streaming_History_Audio_2024_4.json"
ENDSONG = EXTENDED / "erickmay__endsong_1.json"
BASIC = ACCOUNT / "hobbies-w-erin__StreamingHistory_music_0.json"


def upload(client: FlaskClient, files: list[tuple[str, bytes]], **form: str) -> Any:
    """Upload files as the import form does, saying "This export is mine" unless told (mine="")."""
    token = csrf_token(client.get("/listening"))
    data: dict[str, Any] = {
        "csrf_token": token,
        "files": [(io.BytesIO(body), name) for name, body in files],
        **{"mine": "1", **form},
    }
    return client.post("/listening/import", data=data, content_type="multipart/form-data")


def scope_asked(client: FlaskClient, path: str = "/login", **params: str) -> set[str]:
    answer = client.get(path, query_string=params)
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    return set(query["scope"][0].split())


@pytest.fixture
def store(app: Flask) -> FolderStore:
    found: FolderStore = app.extensions["store"]
    return found


@pytest.fixture
def alice(app: Flask) -> FlaskClient:
    client = app.test_client()
    sign_in(client, "alice")
    return client


def test_people_who_never_opt_in_are_never_asked_for_their_plays(
    app: Flask, alice: FlaskClient
) -> None:
    client = app.test_client()

    assert HISTORY_SCOPE not in scope_asked(client)
    # Only the Listening page's form asks, with its CSRF token: no link can turn history on,
    # even for someone who granted it before (Spotify would then skip the dialog).
    assert HISTORY_SCOPE not in scope_asked(client, add="history")
    assert alice.post("/listening/on").status_code == 400  # no CSRF token
    answer = alice.post("/listening/on", data={"csrf_token": csrf_token(alice.get("/listening"))})
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert HISTORY_SCOPE in query["scope"][0].split()
    assert query["show_dialog"] == ["True"] or query["show_dialog"] == ["true"]


def test_turning_history_on_asks_once_and_seals_the_grant(
    alice: FlaskClient, store: FolderStore, app: Flask
) -> None:
    before = alice.get("/listening").get_data(as_text=True)
    assert 'id="history-off"' in before and "Turn history on" in before

    answer = turn_history_on(alice, "alice")

    assert answer.status_code == 302 and answer.headers["Location"].endswith("/listening")
    loaded = LISTENING.load(store, "alice")
    assert loaded is not None
    record = loaded[0]
    assert record.status == "active" and record.granted_at and record.opted_in_at
    key = app.extensions["settings"].token_encryption_key
    assert TokenBox(key).open(record.sealed_refresh_token)["refresh_token"]
    assert "refresh" not in record.sealed_refresh_token
    page = alice.get("/listening").get_data(as_text=True)
    assert 'id="history-on"' in page and "Spotify ends the permission you gave on" in page
    assert "Turn history on" not in page


def test_saying_no_to_spotify_turns_nothing_on(alice: FlaskClient, store: FolderStore) -> None:
    start = alice.post("/listening/on", data={"csrf_token": csrf_token(alice.get("/listening"))})
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]

    answer = alice.get(f"/callback?state={state}&error=access_denied")

    assert answer.status_code == 302
    assert LISTENING.load(store, "alice") is None
    page = alice.get("/listening").get_data(as_text=True)
    assert "Spotify did not give the permission" in page


def test_turning_off_forgets_the_grant_and_keeps_the_plays(
    alice: FlaskClient, store: FolderStore
) -> None:
    turn_history_on(alice, "alice")
    upload(alice, [(MICA.name, MICA.read_bytes())])

    answer = alice.post("/listening/off", data={"csrf_token": csrf_token(alice.get("/listening"))})

    assert answer.status_code == 303
    assert LISTENING.load(store, "alice") is None
    assert month_objects(store, "alice")
    page = alice.get("/listening").get_data(as_text=True)
    assert "History is off: no more plays are read." in page and "Turn history on" in page


def test_importing_a_real_extended_export_keeps_its_music_plays_once(
    alice: FlaskClient, store: FolderStore
) -> None:
    rows = json.loads(MICA.read_text())
    music = [r for r in rows if r.get("spotify_track_uri")]

    first = upload(alice, [(MICA.name, MICA.read_bytes())])
    kept = load_plays(store, "alice")
    second = upload(alice, [(MICA.name, MICA.read_bytes())])

    assert first.status_code == 303 and second.status_code == 303
    assert 0 < len(kept) <= len(music) < len(rows) + 1
    assert set(kept["source"]) == {EXPORT}
    assert len(load_plays(store, "alice")) == len(kept)  # the same file twice changes nothing
    page = alice.get("/listening").get_data(as_text=True)
    assert 'id="last-import"' in page and "0 new plays kept" in page


def test_a_zip_of_mixed_exports_imports_the_history_and_leaves_the_rest(
    alice: FlaskClient, store: FolderStore
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"Spotify Extended Streaming History/{ENDSONG.name}", ENDSONG.read_bytes())
        archive.writestr("Spotify Account Data/StreamingHistory_music_0.json", BASIC.read_bytes())
        archive.writestr("Spotify Account Data/Playlist1.json", b'{"playlists": []}')

    answer = upload(alice, [("my_spotify_data.zip", buffer.getvalue())])

    assert answer.status_code == 303
    page = alice.get("/listening").get_data(as_text=True)
    assert "2 files" in page and "Playlist1.json" in page
    assert len(load_plays(store, "alice")) > 2000


def test_someone_elses_export_is_refused_unless_the_person_confirms(
    alice: FlaskClient, store: FolderStore
) -> None:
    refused = upload(alice, [(ENDSONG.name, ENDSONG.read_bytes())], mine="")

    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "user-redacted" in page and "This export is mine" in page
    assert load_plays(store, "alice").empty

    confirmed = upload(alice, [(ENDSONG.name, ENDSONG.read_bytes())], mine="1")
    assert confirmed.status_code == 303
    assert len(load_plays(store, "alice")) > 0


@pytest.mark.parametrize(
    ("name", "body", "said"),
    [
        ("Streaming_History_Audio_2024.json", b"{not json", "is not JSON"),
        ("Streaming_History_Audio_2024.json", b'{"a": 1}', "Streaming_History_Audio_2024.json"),
        ("StreamingHistory0.json", b"[1, 2, 3]", "StreamingHistory0.json"),
        ("export.zip", b"PK\x03\x04 broken", "export.zip"),
        ("photo.png", b"\x89PNG\r\n", "photo.png"),
    ],
)
def test_a_file_of_the_wrong_shape_is_refused_by_name(
    alice: FlaskClient, store: FolderStore, name: str, body: bytes, said: str
) -> None:
    answer = upload(alice, [(name, body)])

    assert answer.status_code == 400
    assert said in answer.get_data(as_text=True)
    assert month_objects(store, "alice") == []


def test_a_good_file_is_kept_when_another_in_the_same_upload_is_broken(
    alice: FlaskClient, store: FolderStore
) -> None:
    answer = upload(alice, [(BASIC.name, BASIC.read_bytes()), ("StreamingHistory1.json", b"[{}]")])

    assert answer.status_code == 303
    page = alice.get("/listening").get_data(as_text=True)
    assert "StreamingHistory1.json" in page and "1 file with" in page
    # Its 35 tracks played again within their minute, with other lengths, are plays of their own.
    assert "1,977 new plays kept." in page
    assert len(load_plays(store, "alice")) > 0


def test_an_upload_over_the_request_limit_is_a_clear_413(
    alice: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("web.listening.IMPORT_LIMIT_BYTES", 1024)

    answer = upload(alice, [(BASIC.name, BASIC.read_bytes())])

    assert answer.status_code == 413
    assert "one by one" in answer.get_data(as_text=True)


def test_an_import_without_the_form_token_is_refused(alice: FlaskClient) -> None:
    answer = alice.post(
        "/listening/import",
        data={"files": [(io.BytesIO(BASIC.read_bytes()), BASIC.name)]},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 400


def test_the_download_is_the_persons_own_history_with_formulas_escaped(
    app: Flask, alice: FlaskClient, store: FolderStore
) -> None:
    evil = [
        {
            "endTime": "2026-01-02 03:04",
            "artistName": "=HYPERLINK(1)",
            "trackName": "+x",
            "msPlayed": 200000,
        }
    ]
    upload(alice, [("StreamingHistory_music_0.json", json.dumps(evil).encode())])
    bob = app.test_client()
    sign_in(bob, "bob")

    rows = list(csv.reader(io.StringIO(alice.get("/listening/history.csv").get_data(as_text=True))))
    bobs = list(csv.reader(io.StringIO(bob.get("/listening/history.csv").get_data(as_text=True))))

    assert rows[0][0] == "played_at" and len(rows) == 2
    assert "'+x" in rows[1] and '\'["=HYPERLINK(1)"]' not in rows[1]
    assert any(cell.startswith("'") for cell in rows[1])
    assert len(bobs) == 1  # only the header: bob sees none of alice's plays


def test_deleting_the_history_removes_plays_and_grant(
    alice: FlaskClient, store: FolderStore
) -> None:
    turn_history_on(alice, "alice")
    upload(alice, [(BASIC.name, BASIC.read_bytes())])
    confirm = alice.get("/listening/delete")
    assert "month" in confirm.get_data(as_text=True)

    answer = alice.post(
        "/listening/delete", data={"csrf_token": csrf_token(confirm), "confirm": "yes"}
    )

    assert answer.status_code == 303
    assert store.list("plays/alice/") == [] and LISTENING.load(store, "alice") is None


def test_delete_my_data_removes_the_history_too(alice: FlaskClient, store: FolderStore) -> None:
    turn_history_on(alice, "alice")
    upload(alice, [(BASIC.name, BASIC.read_bytes())])
    confirm = alice.get("/backups/delete-my-data")
    assert "your listening history" in confirm.get_data(as_text=True)

    alice.post("/backups/delete-my-data", data={"csrf_token": csrf_token(confirm)})

    assert [n for n in store.list() if "alice" in n] == LEFT_AFTER_DELETE


def test_the_pages_ask_for_sign_in(app: Flask) -> None:
    client = app.test_client()
    for path in ["/listening", "/listening/stats", "/listening/history.csv", "/listening/delete"]:
        assert client.get(path).status_code == 302


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=st.text(min_size=0, max_size=40),
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "ts",
                            "endTime",
                            "ms_played",
                            "msPlayed",
                            "trackName",
                            "artistName",
                            "spotify_track_uri",
                            "username",
                            "x",
                        ]
                    ),
                    inner,
                    max_size=6,
                )
            ),
            max_leaves=12,
        ).map(lambda v: json.dumps(v).encode()),
    ),
)
def test_any_upload_is_a_clear_answer_never_a_500(
    alice: FlaskClient, name: str, body: bytes
) -> None:
    answer = upload(alice, [(name or "x.json", body)])

    assert answer.status_code in (303, 400, 413)


def test_the_stats_page_draws_the_persons_own_plays_in_their_timezone(
    app: Flask, alice: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    monkeypatch.setattr("web.listening.utc_now", lambda: datetime(2026, 2, 1, tzinfo=UTC))
    efrrowini = EXTENDED / "Efrrowini__Streaming_History_Audio_2026.json"
    upload(alice, [(efrrowini.name, efrrowini.read_bytes())])
    bob = app.test_client()
    sign_in(bob, "bob")

    page = alice.get("/listening/stats?tz=Asia/Kolkata")
    text = page.get_data(as_text=True)
    guessed = alice.get("/listening/stats?tz=Not/AZone")
    bobs = bob.get("/listening/stats").get_data(as_text=True)

    assert 'data-tz-chosen="1"' in text and "Asia/Kolkata" in text
    rows = json.loads(efrrowini.read_text())
    favourite = Counter(
        r["master_metadata_album_artist_name"]
        for r in rows
        if r.get("spotify_track_uri") and r["ms_played"] >= 30_000
    ).most_common(1)[0][0]
    assert page.status_code == 200
    assert text.count("<svg") >= 4
    assert html.escape(favourite) in text  # the export's most played artist, in alice's tops
    assert guessed.status_code == 200  # a bad zone falls back to the one remembered
    assert "Asia/Kolkata" in guessed.get_data(as_text=True)
    assert 'id="no-plays"' in bobs and html.escape(favourite) not in bobs


def test_a_record_with_a_time_without_zone_still_shows(
    alice: FlaskClient, store: FolderStore
) -> None:
    turn_history_on(alice, "alice")
    raw = json.loads(store.read("listening/alice.json").data)
    raw["granted_at"] = "2026-01-01T00:00:00"
    store.write("listening/alice.json", json.dumps(raw).encode())

    page = alice.get("/listening")

    assert page.status_code == 200 and "Spotify ends the permission" in page.get_data(as_text=True)
