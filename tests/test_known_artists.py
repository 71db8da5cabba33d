"""The artists a person knows, on the area page and on "Your artists on tour" (issue 17): marks,
"maybe" for uncertain matches, known first, only known, the known/new mix, the tour page and
its playlist kept fresh, and nobody sees another person's taste."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.refresh_areas import refresh_saved_areas
from sandbox.server import SandboxServer
from shared import area_plan
from shared.area_query import KNOWN_SHARE, MIXES, AreaQuery, FormError, parse_area
from shared.datasets import ARTISTS, load_dataset, save_dataset
from shared.saved_areas import SAVED_AREAS
from shared.serving import shape_rows
from shared.shows_data import PackedTracks, ShowsData, ShowTexts, load_shows
from shared.spotify import RequestLedger
from shared.storage import FolderStore
from shared.taste import TASTE, Known, TasteRecord
from tests.clock import clock_now
from tests.test_web_saved_areas import created_playlists, keep
from tests.web_helpers import csrf_token, rebuild_serving, sign_in, state_of
from web.saved_areas import area_id_of, query_fields, query_of

TODAY = clock_now().date()


# The mix, pure


def known_of(ids: list[str]) -> dict[str, Known]:
    return {artist_id: Known(f"name {artist_id}", plays=5) for artist_id in ids}


def test_the_mix_takes_the_share_of_known_artists_soonest_first() -> None:
    artists = [f"a{i}" for i in range(12)]
    known = known_of(["a1", "a4", "a9"])

    assert area_plan.choose_mix(artists, known, "all_known") == ["a1", "a4", "a9"]
    assert area_plan.choose_mix(artists, known, "all_new") == [a for a in artists if a not in known]
    assert area_plan.choose_mix(artists, known, "half") == ["a0", "a1", "a2", "a3", "a4", "a9"]
    mostly_new = area_plan.choose_mix(artists, known, "mostly_new")
    assert sum(a in known for a in mostly_new) == 3 and len(mostly_new) == 12
    mostly_known = area_plan.choose_mix(artists, known, "mostly_known")
    assert mostly_known == ["a0", "a1", "a4", "a9"]
    assert area_plan.choose_mix(artists, known, "") == artists


@settings(max_examples=150, deadline=None)
@given(
    order=st.lists(st.integers(0, 39), unique=True, max_size=40),
    known_mask=st.lists(st.booleans(), min_size=40, max_size=40),
    mix=st.sampled_from(sorted(KNOWN_SHARE)),
)
def test_any_mix_keeps_the_order_and_its_share(
    order: list[int], known_mask: list[bool], mix: str
) -> None:
    artists = [f"a{i}" for i in order]
    known = known_of([f"a{i}" for i in order if known_mask[i]])
    chosen = area_plan.choose_mix(artists, known, mix)

    assert chosen == [a for a in artists if a in set(chosen)]  # a subset, in order
    familiar = [a for a in chosen if a in known]
    new = [a for a in chosen if a not in known]
    share = KNOWN_SHARE[mix]
    all_known = [a for a in artists if a in known]
    all_new = [a for a in artists if a not in known]
    assert familiar == all_known[: len(familiar)] and new == all_new[: len(new)]  # soonest
    if share == 1:
        assert (familiar, new) == (all_known, [])
    elif share == 0:
        assert (familiar, new) == ([], all_new)
    elif familiar:
        # The share holds to a rounding, unless the new artists ran out first.
        wanted_new = len(familiar) * (1 - share) / share
        assert abs(len(new) - wanted_new) <= 0.5 + 1e-9 or len(new) == len(all_new)
        # And the known side is taken whole unless more would break the share.
        assert len(familiar) == len(all_known) or (len(familiar) + 1) * (1 - share) / share > (
            len(all_new) + 0.5
        )


def rows_of(bills: list[list[tuple[str, str]]]) -> pd.DataFrame:
    """Rows as the serving layout gives them: one show per bill of (name, artist id)."""
    records = []
    for show, bill in enumerate(bills):
        for order, (name, artist_id) in enumerate(bill):
            records.append(
                {
                    "show_key": f"s:{show}",
                    "performer_key": name.lower(),
                    "performer_name": name,
                    "starts_at_local": f"2026-12-{show + 1:02d}T20:00:00",
                    "venue_name": "Hall",
                    "venue_city": "Town",
                    "event_title": name,
                    "event_url": "https://example.com/e",
                    "spotify_artist_id": artist_id,
                    "checked": True,
                    "uncertain": name.startswith("Maybe"),
                    "time_tbd": False,
                    "billing_order": order,
                }
            )
    return pd.DataFrame(records)


def test_marks_maybe_and_only_known_keep_whole_bills() -> None:
    rows = rows_of(
        [
            [("Stranger", "x1")],
            [("Loved", "k1"), ("Opener", "x2")],
            [("Maybe Loved", "k2")],
            [("Unmatched", "")],
        ]
    )
    known = {"k1": Known("Loved", plays=212), "k2": Known("Maybe Loved", followed=True)}
    tracks = PackedTracks.of({})

    state = state_of(rows)
    shows, _ = area_plan.plan_playlist(
        state.rows, tracks, 2, texts=ShowTexts.of(state), known=known
    )
    marks = {a.name: (a.known, a.maybe) for s in shows for a in s.artists}
    assert marks == {
        "Stranger": ("", False),
        "Loved": ("you've played them 212 times", False),
        "Opener": ("", False),
        "Maybe Loved": ("you follow them", True),
        "Unmatched": ("", False),
    }
    only = area_plan.only_known_shows(state.rows, known)
    assert list(dict.fromkeys(only["show"])) == [1, 2]
    assert list(only["performer_name"]) == ["Loved", "Opener", "Maybe Loved"]
    assert area_plan.only_known_shows(state.rows, {}).empty
    by_known = area_plan.sort_shows(shows, "known")
    assert [s.artists[0].name for s in by_known][:2] == ["Loved", "Maybe Loved"]


def test_uncertain_matches_come_from_the_matchings_low_confidence() -> None:
    concerts = pd.DataFrame(
        {
            "event_id": ["1", "2"],
            "source": ["sg", "sg"],
            "event_title": ["A", "B"],
            "event_url": ["", ""],
            "starts_at": ["2026-12-01T01:00:00Z", "2026-12-02T01:00:00Z"],
            "starts_at_local": ["2026-11-30T20:00:00", "2026-12-01T20:00:00"],
            "venue_name": ["V", "V"],
            "venue_city": ["C", "C"],
            "venue_state": ["NY", "NY"],
            "venue_lat": [40.0, 40.0],
            "venue_lon": [-74.0, -74.0],
            "performer_name": ["Sure", "Unsure"],
            "is_headliner": [True, True],
            "billing_order": [0, 0],
            "genres": ["", ""],
            "performer_key": ["sure", "unsure"],
        }
    )
    artists = pd.DataFrame(
        {
            "performer_key": ["sure", "unsure"],
            "spotify_artist_id": ["s1", "u1"],
            "match_confidence": ["high", "low"],
        }
    )
    shaped = shape_rows(concerts, artists)
    assert dict(zip(shaped["performer_name"], shaped["uncertain"], strict=True)) == {
        "Sure": False,
        "Unsure": True,
    }
    older = shape_rows(concerts, artists.drop(columns=["match_confidence"]))
    assert not older["uncertain"].any()


# The form


def test_the_form_reads_the_mix_and_refuses_one_it_does_not_offer(data_copy: FolderStore) -> None:
    data = load_shows(data_copy)
    state = next(iter(data.states))
    form = {"state": state, "known": "1", "mix": "half"}
    query = parse_area(form, lambda name: [], data, TODAY)
    assert (query.known_only, query.mix) == (True, "half")
    assert query.as_form()["known"] == "1" and query.as_form()["mix"] == "half"
    with pytest.raises(FormError, match="Mix must be one of"):
        parse_area({**form, "mix": "everything"}, lambda name: [], data, TODAY)
    fields = query_fields(query, TODAY)
    assert query_of(fields) == AreaQuery(state, days=30, known_only=True, mix="half")
    # Areas saved before the choice existed keep their ids.
    plain = query_fields(AreaQuery(state), TODAY)
    assert "mix" not in plain and "known_only" not in plain
    assert area_id_of(plain) == area_id_of(
        {"state": state, "city": "", "radius_miles": 0, "days": 30, "genres": [],
         "tracks_per_artist": 3, "headliners_only": False}
    )  # fmt: skip
    assert set(MIXES) >= {"", "all_known", "all_new"}


# The pages, on the built sandbox world


def busiest_city_with_tracks(data: ShowsData) -> tuple[str, str, list[str]]:
    """Return the state, city and artist ids (with tracks, next 30 days) of the busiest city."""
    best: tuple[int, str, str, list[str]] = (-1, "", "", [])
    for state, summary in sorted(data.states.items()):
        for city, _, _ in summary.cities:
            selection = area_plan.select(data, AreaQuery(state, city, days=30), TODAY)
            ids = [
                a
                for a in dict.fromkeys(selection.rows["spotify_artist_id"].astype(str))
                if a and selection.tracks_of.get(a)
            ]
            if len(ids) > best[0]:
                best = (len(ids), state, city, ids)
    assert best[0] >= 4, "the built world has no city with four artists with tracks"
    return best[1], best[2], best[3]


def give_taste(store: FolderStore, user: str, known: dict[str, Known]) -> None:
    TASTE.put(store, TasteRecord(user, "sealed-but-unused", artists=known))


@pytest.fixture
def place(data_copy: FolderStore) -> tuple[str, str, list[str]]:
    return busiest_city_with_tracks(load_shows(data_copy))


def marks(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<span class="known">([^<]*)</span>', page)]


def test_the_area_page_marks_known_artists_for_their_owner_only(
    client: FlaskClient, data_copy: FolderStore, place: tuple[str, str, list[str]]
) -> None:
    state, city, ids = place
    give_taste(
        data_copy, "alice", {ids[1]: Known("Two", plays=212), ids[2]: Known("Three", followed=True)}
    )
    form = {"state": state, "city": city, "days": "30"}

    sign_in(client, "alice")
    page = client.get("/shows", query_string=form).get_data(as_text=True)
    assert "you've played them 212 times" in marks(page)
    assert "you follow them" in marks(page)
    assert 'id="known-count"' in page and 'id="mix"' in page

    client.post("/logout", data={"csrf_token": csrf_token(client.get("/shows"))})
    sign_in(client, "bob")
    other = client.get("/shows", query_string=form).get_data(as_text=True)
    assert marks(other) == [] and 'id="taste-off"' in other and 'id="mix"' not in other


def test_only_known_and_known_first_and_the_mix_on_the_page(
    client: FlaskClient, data_copy: FolderStore, place: tuple[str, str, list[str]]
) -> None:
    state, city, ids = place
    loved = ids[-1]  # the last to play: sorting must bring it up
    give_taste(data_copy, "alice", {loved: Known("Loved", plays=40)})
    sign_in(client, "alice")
    form = {"state": state, "city": city, "days": "30"}

    known_first = client.get("/shows", query_string={**form, "sort": "known"}).get_data(
        as_text=True
    )
    first_show = known_first.split('<li class="show">')[1]
    assert "you've played them 40 times" in marks(first_show)

    only = client.get("/shows", query_string={**form, "known": "1"}).get_data(as_text=True)
    shows = only.split('<li class="show">')[1:]
    assert shows and all('class="known"' in show for show in shows)

    mixed = client.get("/shows", query_string={**form, "mix": "half"}).get_data(as_text=True)
    counts = re.search(r"takes <strong>(\d+)</strong> artists? you know and <strong>(\d+)", mixed)
    assert counts and counts.groups() == ("1", "1")


def test_an_all_known_playlist_holds_only_known_artists_and_refreshes_with_the_taste(
    client: FlaskClient,
    data_copy: FolderStore,
    sandbox: SandboxServer,
    place: tuple[str, str, list[str]],
) -> None:
    state, city, ids = place
    give_taste(data_copy, "alice", {ids[0]: Known("One", plays=3), ids[1]: Known("Two", plays=3)})
    sign_in(client, "alice")
    form = {"state": state, "city": city, "days": "30", "tracks": "2", "mix": "all_known"}

    answer = keep(client, form)

    assert answer.status_code == 200, answer.get_data(as_text=True)[:400]
    loaded = SAVED_AREAS.load(data_copy, "alice")
    assert loaded is not None
    [area] = loaded[0].areas
    assert area.query["mix"] == "all_known"
    data = load_shows(data_copy)
    tracks_of = area_plan.select(data, AreaQuery(state, city, days=30), TODAY).tracks_of
    allowed = {t.track_id for a in ids[:2] for t in tracks_of[a][:2]}
    [playlist] = [p for p in created_playlists(sandbox) if p["id"] == area.playlist_id]
    assert playlist["track_ids"] and set(playlist["track_ids"]) <= allowed

    # The person comes to know a third artist: the refresh follows their taste.
    give_taste(
        data_copy,
        "alice",
        {a: Known(a, plays=3) for a in ids[:3]},
    )
    settings_ = client.application.extensions["settings"]
    summary = refresh_saved_areas(
        data_copy, settings_, RequestLedger(), now=clock_now(), sleep=lambda s: None
    )
    assert summary.updated == 1
    [playlist] = [p for p in created_playlists(sandbox) if p["id"] == area.playlist_id]
    third = {t.track_id for t in tracks_of[ids[2]][:2]}
    assert third & set(playlist["track_ids"])


def test_your_artists_on_tour_lists_their_shows_near_a_saved_area_or_in_a_state(
    client: FlaskClient, data_copy: FolderStore, place: tuple[str, str, list[str]]
) -> None:
    state, city, ids = place
    sign_in(client, "alice")
    off = client.get("/tour").get_data(as_text=True)
    assert 'id="tour-taste-off"' in off

    give_taste(data_copy, "alice", {ids[0]: Known("One", plays=9)})
    keep(client, {"state": state, "city": city, "days": "30", "tracks": "1"})
    page = client.get("/tour").get_data(as_text=True)  # the first saved area, 50 miles
    assert 'id="tour-counts"' in page
    shows = page.split('<li class="show">')[1:]
    assert shows and all("you've played them 9 times" in marks(show) for show in shows)
    assert 'id="tour-make"' in page and 'name="mix" value="all_known"' in page
    dates = re.findall(r'<time datetime="([0-9-]+)">', page)
    assert dates == sorted(dates)  # soonest first

    in_state = client.get("/tour", query_string={"near": "state", "state": state})
    assert in_state.status_code == 200
    assert len(in_state.get_data(as_text=True).split('<li class="show">')) >= len(shows) + 1

    for bad in ({"near": "nope"}, {"radius": "3"}, {"near": "state", "state": "ZZ"}):
        assert client.get("/tour", query_string=bad).status_code == 400


def test_the_tour_playlist_is_made_and_kept_fresh_from_the_tour_page(
    client: FlaskClient,
    data_copy: FolderStore,
    sandbox: SandboxServer,
    place: tuple[str, str, list[str]],
) -> None:
    state, _, ids = place
    give_taste(data_copy, "alice", {a: Known(a, followed=True) for a in ids[:2]})
    sign_in(client, "alice")
    page = client.get("/tour", query_string={"near": "state", "state": state})
    fields = dict(
        re.findall(
            r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.get_data(as_text=True)
        )
    )
    fields["keep_fresh"] = "1"

    made = client.post("/shows/playlist", data=fields, follow_redirects=True)

    assert made.status_code == 200, made.get_data(as_text=True)[:400]
    loaded = SAVED_AREAS.load(data_copy, "alice")
    assert loaded is not None
    [area] = loaded[0].areas
    assert area.query["known_only"] is True and area.query["mix"] == "all_known"


def test_a_damaged_taste_record_is_no_taste_not_a_500(
    client: FlaskClient, data_copy: FolderStore, place: tuple[str, str, list[str]]
) -> None:
    state, city, _ = place
    data_copy.write("taste/alice.json", b"{not json")
    sign_in(client, "alice")
    assert client.get("/shows", query_string={"state": state, "city": city}).status_code == 200
    assert client.get("/tour").status_code == 200


def test_uncertain_matches_show_maybe_on_the_page(
    client: FlaskClient, data_copy: FolderStore, place: tuple[str, str, list[str]]
) -> None:
    state, city, ids = place
    artists, _ = load_dataset(data_copy, ARTISTS)
    artists.loc[artists["spotify_artist_id"] == ids[0], "match_confidence"] = "low"
    save_dataset(data_copy, ARTISTS, artists)
    rebuild_serving(data_copy)
    give_taste(data_copy, "alice", {ids[0]: Known("One", plays=5)})
    sign_in(client, "alice")

    page = client.get("/shows", query_string={"state": state, "city": city}).get_data(as_text=True)

    assert "maybe: you've played them 5 times" in marks(page)


def test_the_empty_form_offers_the_taste_choices_and_a_changed_profile_is_read_again(
    client: FlaskClient, data_copy: FolderStore, place: tuple[str, str, list[str]]
) -> None:
    state, city, ids = place
    give_taste(data_copy, "alice", {ids[0]: Known("One", plays=5)})
    sign_in(client, "alice")

    empty = client.get("/shows")
    assert empty.status_code == 200 and 'id="mix"' in empty.get_data(as_text=True)
    form = {"state": state, "city": city}
    assert "you've played them 5 times" in marks(client.get("/shows", query_string=form).text)
    give_taste(data_copy, "alice", {ids[0]: Known("One", plays=6)})  # a new generation
    assert "you've played them 6 times" in marks(client.get("/shows", query_string=form).text)


@settings(max_examples=60, deadline=None)
@given(
    bills=st.lists(
        st.lists(st.sampled_from(["a1", "a2", "a3", "a4", ""]), min_size=1, max_size=3),
        max_size=8,
    ),
    known_ids=st.sets(st.sampled_from(["a1", "a2", "a3"])),
    as_category=st.booleans(),
)
def test_only_known_shows_keeps_the_whole_bills_of_known_artists(
    bills: list[list[str]], known_ids: set[str], as_category: bool
) -> None:
    rows = pd.DataFrame(
        {
            "show": [n for n, bill in enumerate(bills) for _ in bill],
            "spotify_artist_id": [artist for bill in bills for artist in bill],
        }
    )
    if as_category:  # as a state holds them
        rows = rows.astype({"spotify_artist_id": "category"})
    known = known_of(sorted(known_ids))

    kept = area_plan.only_known_shows(rows, known)

    wanted = [n for n, bill in enumerate(bills) if set(bill) & known_ids]
    assert list(kept["show"]) == [n for n, bill in enumerate(bills) for _ in bill if n in wanted]
