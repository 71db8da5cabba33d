"""Liner notes: every playlist made links to a public page of its tracks and their shows."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from sandbox.server import SandboxServer
from shared.area_plan import PlannedArtist, PlannedShow, playlist_description
from shared.area_playlists import load_made, made_object
from shared.liner_notes import (
    build_notes,
    count_user_notes,
    delete_user_notes,
    load_notes,
    notes_object,
    save_notes,
)
from shared.shows_data import Track
from shared.storage import FolderStore
from tests.web_helpers import csrf_token, sign_in


def track(track_id: str, name: str) -> Track:
    return Track(track_id, name, 50)


def show(day: str, venue: str, url: str, *artists: PlannedArtist, tbd: bool = False) -> PlannedShow:
    return PlannedShow(day, venue, "Springfield", f"{venue} night", url, list(artists), tbd)


def artist(name: str, *added: Track) -> PlannedArtist:
    return PlannedArtist(name, f"id-{name}", list(added), "", list(added))


HAND_MADE = [
    show(
        "2026-12-01T20:30:00",
        "The Owl",
        "https://tickets.example/1",
        artist("Ada", track("t1", "One"), track("t2", "Two")),
        artist("Bo"),  # came with an earlier show: nothing of theirs goes in here
    ),
    show("2026-12-03", "Barn", "javascript:alert(1)", artist("Cy", track("t3", "Three")), tbd=True),
]


def test_notes_list_the_tracks_in_playlist_order_with_their_shows() -> None:
    notes = build_notes("Local Shows: X", "Springfield, IL", "2026-11-23T10:00:00Z", HAND_MADE, 3)

    assert [(n.position, n.track_id, n.artist, n.venue) for n in notes.lines] == [
        (1, "t1", "Ada", "The Owl"),
        (2, "t2", "Ada", "The Owl"),
        (3, "t3", "Cy", "Barn"),
    ]
    assert notes.lines[0].event_url == "https://tickets.example/1"
    assert notes.lines[2].event_url == "" and notes.lines[2].time_tbd  # only http(s) links


def test_notes_of_a_partly_made_playlist_list_only_what_went_in() -> None:
    notes = build_notes("P", "A", "2026-11-23T10:00:00Z", HAND_MADE, 2)

    assert [n.track_id for n in notes.lines] == ["t1", "t2"]


def test_the_description_always_carries_the_whole_link() -> None:
    url = "https://local-shows.example.com/notes/" + "A" * 22
    many = [show(f"2026-12-{d:02d}", "Venue " * 5, "", artist("Name " * 6)) for d in range(1, 29)]

    text = playlist_description(many, url)
    short = playlist_description(HAND_MADE[:1], url)

    assert len(text) <= 300 and text.endswith(f"Shows and tickets: {url}") and " … " in text
    assert short == f"Next: Dec 1 Ada at The Owl. Shows and tickets: {url}"


def test_a_stored_notes_page_reads_back_and_a_broken_one_reads_as_none(tmp_path: Any) -> None:
    store = FolderStore(tmp_path)
    notes = build_notes("P", "A", "2026-11-23T10:00:00Z", HAND_MADE, 3)
    save_notes(store, "T" * 22, notes, "alice")
    store.write(notes_object("B" * 22), b'{"lines": [{"position": "x"}]}')
    store.write(notes_object("C" * 22), b"\xff not json")

    assert load_notes(store, "T" * 22) == notes
    assert load_notes(store, "B" * 22) is None and load_notes(store, "C" * 22) is None
    assert load_notes(store, "D" * 22) is None


def made_for(client: FlaskClient, form: dict[str, str]) -> str:
    page = client.get("/shows?" + "&".join(f"{k}={v}" for k, v in form.items()))
    answer = client.post(
        "/shows/playlist", data={**form, "csrf_token": csrf_token(page)}, follow_redirects=True
    )
    assert answer.status_code == 200
    found = re.search(r'id="notes-link" href="([^"]+)"', answer.get_data(as_text=True))
    assert found
    return found.group(1)


def playlist_of(sandbox: SandboxServer, owner: str) -> dict[str, Any]:
    stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()
    mine: list[dict[str, Any]] = [p for p in stats["playlists"] if p["owner_id"] == owner]
    return mine[-1]


def test_a_playlist_made_links_to_its_public_notes_which_follow_its_tracks(
    client: FlaskClient, app: Flask, sandbox: SandboxServer
) -> None:
    sign_in(client)
    notes_url = made_for(client, {"state": "NY", "days": "90", "tracks": "2"})
    playlist = playlist_of(sandbox, "alice")
    path = notes_url[notes_url.index("/notes/") :]

    anonymous = app.test_client().get(path)  # public by its link: no sign-in needed

    page = anonymous.get_data(as_text=True)
    assert anonymous.status_code == 200
    assert playlist["description"].endswith(notes_url)
    listed = re.findall(r"<li><strong>([^<]+)</strong> · ", page)
    assert len(listed) == len(playlist["track_ids"])
    assert "anyone with its link can read it" in page and "Tickets" in page
    assert "alice" not in page.lower()  # never who made it


def test_updating_keeps_the_notes_link_and_refreshes_the_page(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    sign_in(client)
    form = {"state": "NY", "days": "90", "tracks": "3"}
    first = made_for(client, form)
    offer = client.get("/shows?state=NY&days=90&tracks=1").get_data(as_text=True)
    made_id = re.search(r'name="update" value="([^"]+)"', offer)
    assert made_id

    second = made_for(client, {**form, "tracks": "1", "update": made_id.group(1)})

    assert second == first
    page = client.get(second[second.index("/notes/") :]).get_data(as_text=True)
    assert len(re.findall(r"<li><strong>", page)) == len(playlist_of(sandbox, "alice")["track_ids"])


@pytest.mark.parametrize("token", ["N" * 22, "short", "../../users/alice", "A" * 65])
def test_unknown_or_malformed_notes_links_are_not_found(client: FlaskClient, token: str) -> None:
    answer = client.get(f"/notes/{token}")

    assert answer.status_code == 404
    if "/" not in token:  # a path of more parts is not a notes address at all
        assert b"There are no liner notes at this address" in answer.data


def test_deleting_a_persons_notes_removes_every_page_and_the_record(
    client: FlaskClient, data_copy: FolderStore
) -> None:
    sign_in(client)
    made_for(client, {"state": "NY", "days": "90", "tracks": "1"})
    made_for(client, {"state": "NY", "days": "30", "tracks": "1"})
    sign_in(client, "bob")
    made_for(client, {"state": "NY", "days": "30", "tracks": "1"})
    # A page whose record was lost still names its owner, and goes too.
    orphan = notes_object("O" * 22)
    data_copy.write(orphan, json.dumps({"owner_id": "alice", "lines": []}).encode())

    assert count_user_notes(data_copy, "alice") == 3
    assert delete_user_notes(data_copy, "alice") == 3

    assert count_user_notes(data_copy, "alice") == 0
    assert made_object("alice") not in data_copy.list("playlists/")
    assert load_made(data_copy, "alice").playlists == []
    assert count_user_notes(data_copy, "bob") == 1  # someone else's pages stay


def test_when_spotify_refuses_a_link_in_the_description_the_playlist_is_made_without_it(
    client: FlaskClient, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.options.description_links = "refused"
    sign_in(client)
    form = {"state": "NY", "days": "90", "tracks": "1"}
    page = client.get("/shows?" + "&".join(f"{k}={v}" for k, v in form.items()))

    answer = client.post(
        "/shows/playlist", data={**form, "csrf_token": csrf_token(page)}, follow_redirects=True
    )

    text = answer.get_data(as_text=True)
    playlist = playlist_of(sandbox, "alice")
    assert answer.status_code == 200 and 'id="description-refused"' in text
    assert playlist["description"].startswith("Next: ") and "http" not in playlist["description"]
    notes_url = re.search(r'id="notes-link" href="([^"]+)"', text).group(1)  # type: ignore[union-attr]
    assert client.get(notes_url[notes_url.index("/notes/") :]).status_code == 200
    assert playlist["track_ids"]
