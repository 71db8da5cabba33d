"""The web app: sign-in, the area form, preview, and playlists made in the sandbox's Spotify."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from sandbox.server import SandboxServer
from shared import area_plan, form_once
from shared.area_playlists import load_made
from shared.area_query import DAY_CHOICES, AreaQuery
from shared.config import STATE_NAMES, load_settings
from shared.datasets import CONCERTS, load_dataset, save_dataset
from shared.storage import FolderStore
from shared.tokens import TokenBox
from tests.clock import clock_now
from tests.conftest import APP_ENGINE_ENV
from tests.web_helpers import csrf_token, rebuild_serving, sign_in
from web import create_app
from web.data import DatasetCache

TODAY = clock_now().date()


def busiest_state(store: FolderStore) -> str:
    concerts, _ = load_dataset(store, CONCERTS)
    return str(concerts.groupby("venue_state")["event_id"].nunique().idxmax())


def created_playlists(sandbox: SandboxServer) -> list[dict[str, Any]]:
    playlists: list[dict[str, Any]] = requests.get(
        f"{sandbox.url}/_sandbox/stats", timeout=5
    ).json()["playlists"]
    return playlists


# Sign-in


def test_sign_in_keeps_only_an_encrypted_token_in_the_cookie(
    client: FlaskClient, app: Flask
) -> None:
    answer = sign_in(client)

    assert answer.status_code == 302 and answer.headers["Location"].endswith("/shows")
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    with client.session_transaction() as session:
        sealed = session["spotify_token"]
        assert session["user"]["id"] == "alice"
    token = TokenBox(app.extensions["settings"].token_encryption_key).open(sealed)
    assert token["access_token"].startswith("access-") and token["access_token"] not in sealed
    assert set(token["scope"].split()) == {"playlist-read-private", "playlist-modify-private"}


def test_a_state_that_does_not_match_is_refused_and_no_token_kept(client: FlaskClient) -> None:
    login = client.get("/login")
    authorize = requests.get(
        login.headers["Location"] + "&sandbox_user=alice", allow_redirects=False, timeout=10
    )
    callback = authorize.headers["Location"]
    forged = re.sub(r"state=[^&]+", "state=forged", callback[callback.index("/callback") :])

    answer = client.get(forged)

    assert answer.status_code == 400
    assert b"did not match" in answer.data
    with client.session_transaction() as session:
        assert "spotify_token" not in session


def test_refusing_consent_gets_a_clear_page(client: FlaskClient, sandbox: SandboxServer) -> None:
    login = client.get("/login")
    url = login.headers["Location"]
    form = {
        k: v[0] for k, v in __import__("urllib.parse").parse.parse_qs(url.split("?", 1)[1]).items()
    }
    refused = requests.post(
        url.split("?")[0], data={**form, "decision": "cancel"}, allow_redirects=False, timeout=10
    )
    callback = refused.headers["Location"]

    answer = client.get(callback[callback.index("/callback") :])

    assert answer.status_code == 200
    assert b"You chose not to connect Spotify" in answer.data


def test_a_user_not_on_the_allowlist_gets_a_clear_page(client: FlaskClient) -> None:
    answer = sign_in(client, "mallory")

    assert answer.status_code == 403
    assert b"Development Mode" in answer.data and b"5" in answer.data
    with client.session_transaction() as session:
        assert "spotify_token" not in session


def test_sign_out_needs_the_csrf_token_and_clears_the_session(client: FlaskClient) -> None:
    sign_in(client)
    page = client.get("/shows")

    refused = client.post("/logout")
    signed_out = client.post("/logout", data={"csrf_token": csrf_token(page)})

    assert refused.status_code == 400
    assert signed_out.status_code == 302
    with client.session_transaction() as session:
        assert dict(session) == {}


def test_cookies_are_secure_outside_local_runs(
    sandbox: SandboxServer, data_copy: FolderStore
) -> None:
    env = {
        **APP_ENGINE_ENV,
        **sandbox.settings_env(),
        "DATA_URL": "gs://bucket/x",
        "SPOTIFY_REDIRECT_URI": "https://example.appspot.com/callback",
    }
    client = create_app(load_settings(env), data_copy).test_client()

    answer = client.get("/login")

    assert "Secure" in answer.headers["Set-Cookie"]


# The area form and the preview


def test_the_form_offers_only_states_with_shows_and_their_counts(
    client: FlaskClient, data_copy: FolderStore
) -> None:
    concerts, _ = load_dataset(data_copy, CONCERTS)
    counts = concerts.groupby("venue_state")["event_id"].nunique()
    artists = concerts.groupby("venue_state")["performer_name"].nunique()

    page = client.get("/shows").get_data(as_text=True)

    offered = re.findall(
        r'<option value="([A-Z]{2})" >[A-Za-z ]+ \(\1\): ([\d,]+) shows?, ([\d,]+) artists?', page
    )
    assert {state for state, _, _ in offered} == set(counts.index)
    assert all(int(n.replace(",", "")) == counts[state] for state, n, _ in offered)
    assert all(int(a.replace(",", "")) <= artists[state] for state, _, a in offered)


def test_preview_shows_counts_chart_tracks_and_reasons(
    client: FlaskClient, data_copy: FolderStore
) -> None:
    state = busiest_state(data_copy)

    page = client.get(f"/shows?state={state}&days=90&tracks=2").get_data(as_text=True)

    assert re.search(r'id="counts"><strong>\d+</strong> shows, <strong>\d+</strong> artists', page)
    assert "<svg" in page and "Shows per week" in page
    first_monday = TODAY - timedelta(days=TODAY.weekday())
    last = TODAY + timedelta(days=89)
    weeks = (last - first_monday).days // 7 + 1
    assert page.count("<rect") == weeks
    assert re.search(
        r"<strong>[^<]+</strong><span class=\"tracks\">: [^<]+", page
    )  # an artist with its tracks
    assert "(not found on Spotify)" in page or "(no tracks yet)" in page
    assert "Sign in with Spotify to make this playlist" in page
    windows = re.findall(r"next (\d+) days \((\d+) shows\)", page)
    assert [int(days) for days, _ in windows] == list(DAY_CHOICES)
    assert [int(n) for _, n in windows] == sorted(
        int(n) for _, n in windows
    )  # longer windows hold more


def test_a_show_without_a_time_says_time_tba_and_only_http_links_are_links(
    client: FlaskClient, data_copy: FolderStore
) -> None:
    state = busiest_state(data_copy)
    concerts, _ = load_dataset(data_copy, CONCERTS)
    soonest = concerts[concerts["venue_state"] == state].sort_values("starts_at").iloc[0]
    first = concerts["event_id"] == soonest["event_id"]
    concerts.loc[first, "time_tbd"] = True
    concerts.loc[first, "starts_at_local"] = str(soonest["starts_at_local"])[:10]
    concerts.loc[first, "event_url"] = "javascript:alert(document.cookie)"
    save_dataset(data_copy, CONCERTS, concerts)
    rebuild_serving(data_copy)

    page = client.get(f"/shows?state={state}&days=90").get_data(as_text=True)

    card = page[page.index('<li class="show">') :].split("</li>\n    <li")[0]
    day = date.fromisoformat(str(soonest["starts_at_local"])[:10])
    assert f'{day:%a}, {day:%b} {day.day}</time> · <span class="time">time TBA</span>' in card
    assert "javascript:" not in page and str(soonest["venue_name"]) in card
    assert "No ticket link" in card


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("state=ZZ", "no upcoming shows in"),
        ("state={s}&radius=-5&city={c}", "Radius"),
        ("state={s}&radius=25", "needs a city"),
        ("state={s}&from={later}&to={today}", "before the"),
        ("state={s}&from={today}", "both dates"),
        ("state={s}&tracks=50", "Tracks per artist"),
        ("state={s}&days=8", "Days must be one of"),
        ("state={s}&days=lots", "whole number"),
        ("state={s}&city=" + "x" * 10_000, "too long"),
        ("state={s}&city=Atlantis", "No shows are listed in"),
        ("state={s}&from=2020-01-01&to=2020-02-01", "past"),
        ("state={s}&from=not-a-date&to={today}", "a date like"),
    ],
)
def test_bad_input_shows_the_form_again_with_a_message(
    client: FlaskClient, data_copy: FolderStore, query: str, message: str
) -> None:
    concerts, _ = load_dataset(data_copy, CONCERTS)
    state = busiest_state(data_copy)
    city = concerts[concerts["venue_state"] == state]["venue_city"].iloc[0]
    filled = query.format(
        s=state, c=city, today=TODAY.isoformat(), later=(TODAY + timedelta(days=9)).isoformat()
    )

    answer = client.get(f"/shows?{filled}")

    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)
    assert 'id="area-form"' in answer.get_data(as_text=True)


def test_missing_fields_in_the_create_form_get_400(client: FlaskClient) -> None:
    sign_in(client)
    token = csrf_token(client.get("/shows"))

    answer = client.post("/shows/playlist", data={"csrf_token": token})

    assert answer.status_code == 400
    assert b"Pick a state" in answer.data


def test_radius_reaches_cities_nearby(client: FlaskClient, data_copy: FolderStore) -> None:
    concerts, _ = load_dataset(data_copy, CONCERTS)
    in_ny = concerts[concerts["venue_state"] == "NY"]
    assert "New York" in set(in_ny["venue_city"])  # the seeded world has shows in New York City
    city_only = client.get("/shows?state=NY&city=New+York&days=90").get_data(as_text=True)
    with_radius = client.get("/shows?state=NY&city=New+York&radius=30&days=90").get_data(
        as_text=True
    )

    shows = lambda page: int(re.search(r'id="counts"><strong>(\d+)</strong>', page).group(1))  # noqa: E731
    assert shows(with_radius) > shows(city_only)
    assert "Brooklyn" in with_radius or "Hoboken" in with_radius or "Newark" in with_radius


# Making the playlist


def make(client: FlaskClient, form: dict[str, str]) -> Any:
    page = client.get("/shows?" + "&".join(f"{k}={v}" for k, v in form.items()))
    return client.post(
        "/shows/playlist", data={**form, "csrf_token": csrf_token(page)}, follow_redirects=True
    )


def test_making_a_playlist_needs_csrf_and_sign_in(
    client: FlaskClient, data_copy: FolderStore
) -> None:
    state = busiest_state(data_copy)
    anonymous = client.post("/shows/playlist", data={"state": state})
    sign_in(client)
    no_token = client.post("/shows/playlist", data={"state": state})
    token = csrf_token(client.get(f"/shows?state={state}"))
    with client.session_transaction() as session:
        session.pop("user")  # the sign-in has lapsed, the CSRF token has not

    lapsed = client.post("/shows/playlist", data={"state": state, "csrf_token": token})

    assert anonymous.status_code == 400 and no_token.status_code == 400
    assert lapsed.status_code == 302 and "/login" in lapsed.headers["Location"]


def test_playlist_is_made_in_order_and_refreshed_in_place(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore, app: Flask
) -> None:
    sign_in(client)
    state = busiest_state(data_copy)
    form = {"state": state, "days": "90", "tracks": "5"}
    before = {p["id"] for p in created_playlists(sandbox)}

    first = make(client, form)
    offer = client.get("/shows?" + "&".join(f"{k}={v}" for k, v in {**form, "tracks": "2"}.items()))
    made_id = re.search(r'name="update" value="([^"]+)" id="update"', offer.get_data(as_text=True))
    assert made_id, "the preview offers to update the playlist made for this area"
    second = make(client, {**form, "tracks": "2", "update": made_id.group(1)})

    assert first.status_code == 200 and second.status_code == 200
    mine = [p for p in created_playlists(sandbox) if p["id"] not in before]
    assert len(mine) == 1  # the second time refreshed the same playlist
    playlist = mine[0]
    assert playlist["id"] == made_id.group(1)
    assert playlist["owner_id"] == "alice" and playlist["public"] is False
    assert playlist["name"].startswith(f"Local Shows: {STATE_NAMES[state]} ({state}) · ")
    assert len(playlist["description"]) <= 300 and playlist["description"].startswith("Next: ")
    assert re.search(
        r"Shows and tickets: http://127\.0\.0\.1:\d+/notes/[\w-]{22}$", playlist["description"]
    )
    with app.test_request_context():
        data = app.extensions["datasets"].shows()
        query = AreaQuery(state, days=90, tracks_per_artist=2)
        _, uris = area_plan.plan(data, query, TODAY)
    assert [f"spotify:track:{t}" for t in playlist["track_ids"]] == uris
    assert len(uris) == len(set(uris)) > 100  # more than one write of 100
    assert b"Updated: " in second.data and b'id="playlist-link"' in second.data
    assert b"updated in place" in second.data


def test_make_a_new_one_leaves_the_earlier_playlist_as_it_is(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore
) -> None:
    sign_in(client)
    form = {"state": busiest_state(data_copy), "days": "30", "tracks": "1"}
    before = {p["id"] for p in created_playlists(sandbox)}

    make(client, form)
    again = make(client, form)  # "Make a new one": no update field

    mine = [p for p in created_playlists(sandbox) if p["id"] not in before]
    assert len(mine) == 2 and mine[0]["track_ids"] == mine[1]["track_ids"]
    assert b"A new playlist is in your Spotify account" in again.data
    offer = client.get("/shows?" + "&".join(f"{k}={v}" for k, v in form.items()))
    assert offer.get_data(as_text=True).count('id="update"') == 1  # the newest is offered


def test_updating_a_playlist_deleted_in_spotify_makes_it_again_and_says_so(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore
) -> None:
    sign_in(client)
    form = {"state": busiest_state(data_copy), "days": "30", "tracks": "1"}
    make(client, form)
    offer = client.get("/shows?" + "&".join(f"{k}={v}" for k, v in form.items()))
    made_id = re.search(r'name="update" value="([^"]+)"', offer.get_data(as_text=True)).group(1)
    sandbox.sandbox.playlists.playlists.pop(made_id)  # the person deleted it in Spotify

    again = make(client, {**form, "update": made_id})

    assert again.status_code == 200 and b"Made again: " in again.data
    assert b"no longer in your Spotify account" in again.data
    mine = [p for p in created_playlists(sandbox) if p["owner_id"] == "alice"]
    assert made_id not in {p["id"] for p in mine}


def test_update_of_a_playlist_not_made_for_this_area_is_refused(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore
) -> None:
    sign_in(client)
    state = busiest_state(data_copy)
    make(client, {"state": state, "days": "30", "tracks": "1"})
    offer = client.get(f"/shows?state={state}&days=30&tracks=1")
    made_id = re.search(r'name="update" value="([^"]+)"', offer.get_data(as_text=True)).group(1)
    other_state = "WY" if state != "WY" else "AL"
    before = {p["id"]: p["track_ids"] for p in created_playlists(sandbox)}

    answer = make(client, {"state": other_state, "days": "30", "update": made_id})
    forged = make(client, {"state": state, "days": "30", "update": "someone-elses"})

    assert answer.status_code == 400 and forged.status_code == 400
    assert b"not one you made for this area" in answer.data
    assert {p["id"]: p["track_ids"] for p in created_playlists(sandbox)} == before


def test_a_spotify_refusal_is_said_plainly(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore
) -> None:
    sign_in(client)
    sandbox.sandbox.options.daily_quota = 0

    answer = make(client, {"state": busiest_state(data_copy), "days": "90"})

    assert answer.status_code == 502
    assert b"daily request quota" in answer.data


def test_an_expired_token_is_refreshed_without_the_user_noticing(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore, app: Flask
) -> None:
    sign_in(client)
    box = TokenBox(app.extensions["settings"].token_encryption_key)
    with client.session_transaction() as session:
        token = box.open(session["spotify_token"])
        old_access = token["access_token"]
        token["expires_at"] = 0
        session["spotify_token"] = box.seal(token)
    requests.post(f"{sandbox.url}/_sandbox/expire-tokens", timeout=5)

    answer = make(client, {"state": busiest_state(data_copy), "days": "30"})

    assert answer.status_code == 200
    with client.session_transaction() as session:
        assert box.open(session["spotify_token"])["access_token"] != old_access


def test_a_revoked_grant_asks_to_sign_in_again(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore, app: Flask
) -> None:
    sign_in(client)
    box = TokenBox(app.extensions["settings"].token_encryption_key)
    with client.session_transaction() as session:
        token = box.open(session["spotify_token"])
        token["expires_at"] = 0
        session["spotify_token"] = box.seal(token)
    requests.post(f"{sandbox.url}/_sandbox/revoke", json={"user": "alice"}, timeout=5)

    answer = make(client, {"state": busiest_state(data_copy), "days": "30"})

    assert answer.status_code == 502
    assert b"sign in again" in answer.data


# The dataset cache


def test_the_cache_rereads_a_state_only_when_its_files_change(data_copy: FolderStore) -> None:
    cache = DatasetCache(data_copy, check_every=0)
    state = busiest_state(data_copy)

    cache.shows().state(state)
    cache.shows().state(state)
    loads_before = cache.loads
    concerts, _ = load_dataset(data_copy, CONCERTS)
    save_dataset(data_copy, CONCERTS, concerts[concerts["venue_state"] == state].head(10))
    rebuild_serving(data_copy)
    changed = cache.shows()

    assert loads_before == 1 and cache.mode == "layout"
    assert len(changed.all_rows()) == 10 and list(changed.states) == [state]


def test_the_cache_looks_at_generations_at_most_every_few_seconds(data_copy: FolderStore) -> None:
    now = [0.0]
    cache = DatasetCache(data_copy, check_every=10, clock=lambda: now[0])
    before = cache.shows().state_counts
    concerts, _ = load_dataset(data_copy, CONCERTS)
    save_dataset(data_copy, CONCERTS, concerts.head(10))
    rebuild_serving(data_copy)

    soon = cache.shows()
    now[0] = 11.0
    later = cache.shows()

    assert soon.state_counts == before  # the index is not looked at again within 10 s
    assert len(later.all_rows()) == 10


def test_description_fits_300_characters() -> None:
    shows = [
        area_plan.PlannedShow(
            f"{date(2026, 12, 1) + timedelta(days=i)}T20:00:00",
            f"Venue {i}",
            "City",
            "t",
            "",
            [area_plan.PlannedArtist(f"A very long artist name number {i}", "")],
        )
        for i in range(40)
    ]

    text = area_plan.playlist_description(shows)

    assert (
        len(text) <= 300
        and text.startswith("Next: Dec 1 A very long")
        and text.endswith("(made by Local Shows)")
    )


def test_a_write_that_keeps_failing_says_what_was_made(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore
) -> None:
    sign_in(client)
    sandbox.sandbox.options.item_writes_before_outage = 1  # the first 100 go in, then Spotify fails

    answer = make(client, {"state": busiest_state(data_copy), "days": "90", "tracks": "5"})

    page = answer.get_data(as_text=True)
    playlist_id = re.search(r'id="playlist-link" href="[^"]*/playlist/([^"]+)"', page).group(1)
    made = next(p for p in created_playlists(sandbox) if p["id"] == playlist_id)
    assert answer.status_code == 200
    assert "Partly made" in page and re.search(r"with 100 of \d+ tracks", page)
    assert len(made["track_ids"]) == 100
    served = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()
    assert (
        served["faults"]["spotify POST /spotify/v1/playlists/<playlist_id>/items 503"] == 3
    )  # retried


def test_shows_sort_by_artist_and_back_by_date(client: FlaskClient, data_copy: FolderStore) -> None:
    state = busiest_state(data_copy)
    headliner = re.compile(r'<ul class="artists">\s*<li><strong>([^<]+)</strong>')
    day = re.compile(r'<time datetime="([\d-]+)">')

    by_date = client.get(f"/shows?state={state}&days=90").get_data(as_text=True)
    by_artist = client.get(f"/shows?state={state}&days=90&sort=artist").get_data(as_text=True)

    names = [html.unescape(n) for n in headliner.findall(by_artist)]
    folded = [n.casefold().removeprefix("the ").strip() for n in names]
    assert len(names) > 5 and folded == sorted(folded)
    assert day.findall(by_date) == sorted(day.findall(by_date))
    assert '<strong aria-current="true">artist</strong>' in by_artist
    assert "sort=date" in by_artist and "sort=artist" in by_date
    counts = re.compile(r'id="counts">.*?</p>', re.S)
    assert counts.search(by_date).group(0) == counts.search(by_artist).group(0)  # same shows


def test_the_when_list_says_dates_of_ones_own(client: FlaskClient, data_copy: FolderStore) -> None:
    state = busiest_state(data_copy)
    start, end = TODAY + timedelta(days=2), TODAY + timedelta(days=12)

    page = client.get(f"/shows?state={state}&days=30&from={start}&to={end}").get_data(as_text=True)

    label = f"{start:%b} {start.day} to {end:%b} {end.day}"
    assert f'<option value="" selected>{label} (your dates)</option>' in page
    assert re.search(r'<option value="30" >next 30 days', page)  # offered, not selected
    assert f"<h2>{STATE_NAMES[state]} ({state}), {label}</h2>" in page


def test_the_result_page_can_be_reloaded_without_making_the_playlist_again(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore
) -> None:
    sign_in(client)
    form = {"state": busiest_state(data_copy), "days": "30", "tracks": "1"}
    before = len(created_playlists(sandbox))
    page = client.get("/shows?" + "&".join(f"{k}={v}" for k, v in form.items()))

    posted = client.post("/shows/playlist", data={**form, "csrf_token": csrf_token(page)})
    shown = client.get(posted.headers["Location"])
    again = client.get(posted.headers["Location"])

    assert posted.status_code == 303 and posted.headers["Location"].endswith("/shows/made")
    assert shown.status_code == 200 and again.data == shown.data and b"Made: " in shown.data
    assert len(created_playlists(sandbox)) == before + 1


def test_the_result_page_with_nothing_made_goes_to_the_shows(client: FlaskClient) -> None:
    sign_in(client)

    answer = client.get("/shows/made")

    assert answer.status_code == 302 and answer.headers["Location"].endswith("/shows")


def test_a_ticked_genre_stays_in_sight_when_the_dates_leave_it_no_shows(
    client: FlaskClient, data_copy: FolderStore
) -> None:
    page = client.get("/shows?state=NY&days=7&genre=no-such-genre").get_data(as_text=True)

    assert 'value="no-such-genre" checked' in page and "no-such-genre (0)" in page
    assert re.search(r'id="counts"><strong>0</strong> shows', page)


def test_states_are_listed_by_name(client: FlaskClient) -> None:
    page = client.get("/shows").get_data(as_text=True)

    names = re.findall(r'<option value="[A-Z]{2}" >([^:(]+) \(', page)
    assert len(names) > 5 and names == sorted(names)


def test_playlists_made_before_the_record_are_offered_for_update_once_taken_in(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore
) -> None:
    older = sandbox.sandbox.playlists.create(
        "alice", "Local Shows: New York, NY · Oct 1 – Oct 30", "", False, False
    )
    bobs = sandbox.sandbox.playlists.create(
        "bob", "Local Shows: New York, NY · Oct 1 – Oct 30", "", False, False
    )
    sign_in(client)

    page = client.get("/shows?state=NY&city=New+York&days=30").get_data(as_text=True)

    adopted = load_made(data_copy, "alice").for_area("", "Local Shows: New York, NY · ")
    assert older.meta["id"] in {p.playlist_id for p in adopted}  # (earlier tests' may be too)
    assert all(p.name.startswith("Local Shows: New York, NY · ") for p in adopted)
    assert 'id="update"' in page and "made before Local Shows kept a record of it" in page
    everything = {p.playlist_id for p in load_made(data_copy, "alice").playlists}
    assert bobs.meta["id"] not in everything  # only one's own playlists are taken in
    answer = make(
        client, {"state": "NY", "city": "New York", "days": "30", "update": older.meta["id"]}
    )
    assert b"Updated: " in answer.data
    assert next(p for p in created_playlists(sandbox) if p["id"] == older.meta["id"])["track_ids"]


def test_the_next_person_on_the_same_browser_sees_nothing_the_first_made(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore
) -> None:
    sign_in(client, "alice")
    form = {"state": busiest_state(data_copy), "days": "30", "tracks": "1"}
    page = client.get("/shows?" + "&".join(f"{k}={v}" for k, v in form.items()))
    client.post("/shows/playlist", data={**form, "csrf_token": csrf_token(page)})
    alices = client.get("/shows/made")
    assert alices.status_code == 200 and b"Made: " in alices.data

    sign_in(client, "bob")  # without alice signing out
    bobs = client.get("/shows/made")

    assert bobs.status_code == 302 and bobs.headers["Location"].endswith("/shows")
    with client.session_transaction() as kept:
        assert kept["user"]["id"] == "bob"
        assert not [key for key in kept if key.startswith("made")]


def make_form(client: FlaskClient, data_copy: FolderStore) -> dict[str, str]:
    """Sign alice in and return the Make form of the busiest state's area as its page fills it."""
    sign_in(client)
    form = {"state": busiest_state(data_copy), "days": "30", "tracks": "1"}
    page = client.get("/shows?" + "&".join(f"{k}={v}" for k, v in form.items()))
    key = re.search(r'name="form_key" value="([^"]+)"', page.get_data(as_text=True))
    assert key, "the Make form carries no form key"
    return {**form, "csrf_token": csrf_token(page), "form_key": key.group(1)}


def test_the_same_make_sent_twice_makes_one_playlist(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore
) -> None:
    sent = make_form(client, data_copy)
    before = len(created_playlists(sandbox))

    first = client.post("/shows/playlist", data=sent)
    first_page = client.get("/shows/made").data
    second = client.post("/shows/playlist", data=sent)  # a double click, a second tab

    assert first.status_code == second.status_code == 303
    assert client.get("/shows/made").data == first_page
    assert len(created_playlists(sandbox)) == before + 1
    assert data_copy.list("requests/alice/")  # the claim, with its result


def test_a_make_that_failed_may_be_sent_again(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore
) -> None:
    sent = make_form(client, data_copy)
    sandbox.sandbox.options.daily_quota = 0  # Spotify says no

    refused = client.post("/shows/playlist", data=sent)
    sandbox.sandbox.options.daily_quota = None
    again = client.post("/shows/playlist", data=sent)

    assert refused.status_code == 502 and again.status_code == 303


def test_a_make_sent_while_the_first_is_still_making_says_so_and_delete_my_data_forgets_it(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore
) -> None:
    sent = make_form(client, data_copy)
    assert form_once.claim(data_copy, "alice", sent["form_key"]).mine  # the first, still at work
    before = len(created_playlists(sandbox))

    second = client.post("/shows/playlist", data=sent)

    assert second.status_code == 409 and "being made already" in second.get_data(as_text=True)
    assert len(created_playlists(sandbox)) == before
    token = csrf_token(client.get("/backups/delete-my-data"))
    assert client.post("/backups/delete-my-data", data={"csrf_token": token}).status_code == 200
    assert data_copy.list("requests/alice/") == []


def offered_ids(client: FlaskClient, form: dict[str, str]) -> set[str]:
    page = client.get("/shows?" + "&".join(f"{k}={v}" for k, v in form.items()))
    return set(re.findall(r'name="update" value="([^"]+)"', page.get_data(as_text=True)))


def test_update_it_offers_only_playlists_made_for_the_same_area(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore
) -> None:
    # Issue 27, third attack: two areas of one state (30 days; 90 days) each have a playlist;
    # "Update it" for the first must never offer (nor take) the second's.
    sign_in(client)
    state = busiest_state(data_copy)
    month = {"state": state, "days": "30", "tracks": "1"}
    season = {"state": state, "days": "90", "tracks": "1"}
    make(client, month)
    (month_id,) = offered_ids(client, month)
    make(client, season)
    (season_id,) = offered_ids(client, season)
    before = {p["id"]: p["track_ids"] for p in created_playlists(sandbox)}

    assert offered_ids(client, month) == {month_id} and month_id != season_id
    taken = make(client, {**month, "update": season_id})

    assert taken.status_code == 400 and b"not one you made for this area" in taken.data
    assert {p["id"]: p["track_ids"] for p in created_playlists(sandbox)} == before


def test_a_playlist_another_saved_area_keeps_is_never_offered_nor_kept_twice(
    client: FlaskClient, data_copy: FolderStore
) -> None:
    from dataclasses import replace

    from shared.saved_areas import SAVED_AREAS, SavedAreasError

    sign_in(client)
    state = busiest_state(data_copy)
    month = {"state": state, "days": "30", "tracks": "1"}
    make(client, {**month, "keep_fresh": "1"})
    loaded = SAVED_AREAS.load(data_copy, "alice")
    assert loaded is not None
    (kept,) = loaded[0].areas
    # A second area that would keep the same playlist is refused at write.
    twin = replace(kept, area_id="another-area", query={**kept.query, "days": 90})
    with pytest.raises(SavedAreasError, match="two saved areas"):
        SAVED_AREAS.update(data_copy, "alice", lambda r: replace(r, areas=(*r.areas, twin)))
    # The kept playlist is offered to its own area only: a made record naming it for another
    # area (as an old record could) does not bring it to that area's page.
    made = load_made(data_copy, "alice")
    assert made.for_area("another-area", "", {kept.playlist_id}) == []
    assert offered_ids(client, month) == {kept.playlist_id}


def test_a_made_playlist_in_the_session_is_shown_only_to_its_maker(
    client: FlaskClient, data_copy: FolderStore
) -> None:
    from shared.saved_areas import SAVED_AREAS

    sign_in(client, "bob")
    with client.session_transaction() as state:  # left by alice, however it got there
        state["made_playlist"] = {"owner": "alice", "id": "x", "name": "Alice's", "area": {}}

    shown = client.get("/shows/made")
    page = client.get("/shows")
    kept = client.post("/shows/made/keep", data={"csrf_token": csrf_token(page)})

    assert shown.status_code == 302 and kept.status_code == 303
    assert SAVED_AREAS.load(data_copy, "bob") is None


def test_a_notes_page_is_never_overwritten_by_another_person(tmp_path: Any) -> None:
    from shared.liner_notes import NotYourNotesError, build_notes, load_notes, save_notes

    store = FolderStore(tmp_path)
    alices = build_notes("Alice's list", "New York", "2026-06-10T16:00:00Z", [], 0)
    save_notes(store, "token-1", alices, "alice")
    save_notes(store, "token-1", alices, "alice")  # its owner rewrites it at will

    with pytest.raises(NotYourNotesError):
        save_notes(store, "token-1", build_notes("Bob's", "Ohio", "", [], 0), "bob")
    assert load_notes(store, "token-1") == alices
