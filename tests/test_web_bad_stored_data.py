"""Stored data that went bad (a broken file, a field of the wrong type) never breaks a page,
never blocks "Delete my data", and never gives a second "Back up now" a day."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask

from sandbox.server import SandboxServer
from shared.area_playlists import load_made, made_object
from shared.datasets import backups_of
from shared.liner_notes import load_notes, notes_object
from shared.storage import ConflictError, FolderStore
from shared.users import BACKUPS
from tests.test_backups import opt_in
from tests.web_helpers import csrf_token, sign_in

BROKEN_CSV = b"\xff\xfe not csv at all"


def test_opting_in_again_while_on_is_refused_and_keeps_the_settings(
    app: Flask, data_copy: FolderStore
) -> None:
    client = opt_in(app, "alice", "playlist:")
    before = BACKUPS.load(data_copy, "alice")
    page = client.get("/backups")

    again = client.post(
        "/backups/opt-in", data={"csrf_token": csrf_token(page), "source": "playlist:x"}
    )

    assert again.status_code == 400 and b"Backups are already on" in again.data
    assert BACKUPS.load(data_copy, "alice") == before


def test_a_broken_backups_file_shows_a_message_downloads_as_stored_and_can_be_deleted(
    app: Flask, data_copy: FolderStore
) -> None:
    client = opt_in(app, "alice", "playlist:")
    data_copy.write(backups_of("alice").name, BROKEN_CSV)

    page = client.get("/backups")
    download = client.get("/backups.csv")
    now = client.post("/backups/now", data={"csrf_token": csrf_token(page)})
    confirm = client.get("/backups/delete-my-data")
    deleted = client.post("/backups/delete-my-data", data={"csrf_token": csrf_token(confirm)})

    assert page.status_code == 200 and b"could not be read" in page.data
    assert download.status_code == 200 and download.data == BROKEN_CSV  # still theirs
    assert now.status_code == 502 and b"could not be read" in now.data
    assert confirm.status_code == 200 and deleted.status_code == 200
    assert data_copy.list("users/") == [] and data_copy.list("backups/") == []


def test_a_bad_token_in_the_record_does_not_stop_delete_my_data(
    app: Flask, data_copy: FolderStore
) -> None:
    client = opt_in(app, "alice", "playlist:")
    record = {"playlists": [{"playlist_id": "p1", "notes_token": "../../users/bob"}]}
    data_copy.write(made_object("alice"), json.dumps(record).encode())
    confirm = client.get("/backups/delete-my-data")

    deleted = client.post("/backups/delete-my-data", data={"csrf_token": csrf_token(confirm)})

    assert deleted.status_code == 200
    assert BACKUPS.object("alice") not in data_copy.list("users/")
    assert made_object("alice") not in data_copy.list("playlists/")
    assert client.get("/backups").status_code == 302  # signed out


def test_entries_of_the_wrong_type_in_the_record_are_skipped(
    app: Flask, data_copy: FolderStore
) -> None:
    client = app.test_client()
    sign_in(client)
    good = {
        "playlist_id": "p1",
        "name": "Local Shows: New York (NY) · Nov 23 – Dec 22",
        "area_prefix": "Local Shows: New York (NY) · ",
        "url": "https://open.spotify.com/playlist/p1",
        "notes_token": "T" * 22,
        "made_at": "2026-11-20T10:00:00Z",
        "updated_at": "2026-11-20T10:00:00Z",
        "tracks": 12,
    }
    entries = [good, {**good, "playlist_id": "p2", "updated_at": None}, {**good, "tracks": "x"}]
    data_copy.write(made_object("alice"), json.dumps({"playlists": entries}).encode())

    page = client.get("/shows?state=NY&days=30")

    assert [p.playlist_id for p in load_made(data_copy, "alice").playlists] == ["p1"]
    assert page.status_code == 200 and b'value="p1" id="update"' in page.data


def test_stored_liner_notes_with_a_script_link_show_no_link(data_copy: FolderStore) -> None:
    line = {
        "position": 1,
        "track_id": "t",
        "track": "T",
        "artist": "A",
        "starts_at_local": "2026-12-01",
        "time_tbd": True,
        "venue": "V",
        "city": "C",
        "event_url": "javascript:alert(1)",
        "event_title": "E",
    }
    notes = {"playlist_name": "P", "area": "A", "updated_at": "x", "lines": [line]}
    data_copy.write(notes_object("J" * 22), json.dumps(notes).encode())
    data_copy.write(
        notes_object("K" * 22), json.dumps({**notes, "lines": [{**line, "position": "1"}]}).encode()
    )

    read = load_notes(data_copy, "J" * 22)

    assert read is not None and read.lines[0].event_url == ""
    assert load_notes(data_copy, "K" * 22) is None


def test_a_playlist_made_while_the_store_fails_says_its_notes_were_not_saved(
    app: Flask, data_copy: FolderStore, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = app.test_client()
    sign_in(client)
    page = client.get("/shows?state=NY&days=90&tracks=1")

    def busy(*_: Any, **__: Any) -> None:
        raise ConflictError("busy")

    monkeypatch.setattr("web.shows.remember_playlist", busy)
    answer = client.post(
        "/shows/playlist",
        data={"state": "NY", "days": "90", "tracks": "1", "csrf_token": csrf_token(page)},
        follow_redirects=True,
    )

    assert answer.status_code == 200 and b'id="notes-not-saved"' in answer.data
    assert re.search(rb'id="playlist-link" href="[^"]+"', answer.data)
