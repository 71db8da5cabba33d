"""The sandbox search engine ranks as a search engine would: exact, prefix, contains, fuzzy."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.catalog import (
    CONTAINS,
    EXACT,
    FUZZY,
    PREFIX,
    Catalog,
    name_score,
    normalize,
    parse_query,
)


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("Beyoncé", "beyonce"),
        ("AC/DC", "acdc"),
        ("Guns N' Roses", "guns n roses"),
        ("Simon & Garfunkel", "simon and garfunkel"),
        ("Florence + The Machine", "florence and the machine"),
        ("  Sigur   Rós ", "sigur ros"),
    ],
)
def test_normalize(text: str, normalized: str) -> None:
    assert normalize(text) == normalized


@pytest.mark.parametrize(
    ("query", "name", "tier"),
    [
        ("sting", "sting", EXACT),
        ("acdc", "ac dc", EXACT),
        ("sting", "stingray", PREFIX),
        ("weezer", "the weezer experience", CONTAINS),
        ("national the", "the national", CONTAINS),
    ],
)
def test_tiers(query: str, name: str, tier: float) -> None:
    assert name_score(query, name) == tier


def test_fuzzy_tier_is_below_contains_and_unrelated_names_score_zero() -> None:
    assert 0 < name_score("radiohed", "radiohead") < CONTAINS
    assert name_score("radiohed", "radiohead") >= FUZZY
    assert name_score("weezer", "fleetwood mac") == 0


def test_parse_query_fields_phrases_and_text() -> None:
    query = parse_query('artist:"The National" track:Bloodbuzz year:2010 live')

    assert query.fields == {"artist": "The National", "track": "Bloodbuzz", "year": "2010"}
    assert query.text == "live"


def artist(artist_id: str, name: str, popularity: int) -> dict[str, object]:
    return {"id": artist_id, "name": name, "popularity": popularity, "genres": []}


def test_tiers_order_results_of_equal_popularity() -> None:
    catalog = Catalog(
        [
            artist("d", "Stiing", 50),
            artist("c", "The Sting Ops", 50),
            artist("b", "Stingray", 50),
            artist("a", "Sting", 50),
        ],
        [],
    )

    ranked = [a["name"] for a in catalog.search_artists(parse_query('artist:"Sting"'))]

    assert ranked == ["Sting", "Stingray", "The Sting Ops", "Stiing"]


def test_a_popular_prefix_match_can_outrank_an_obscure_exact_one() -> None:
    # PLATFORM.md: relevance is strongly weighted by popularity, so a matcher must look at
    # every candidate, not take the first.
    catalog = Catalog([artist("a", "Sting", 5), artist("b", "Stingray", 95)], [])

    ranked = [a["name"] for a in catalog.search_artists(parse_query('artist:"Sting"'))]

    assert ranked == ["Stingray", "Sting"]


def _every_name_scored(catalog: Catalog, wanted: str) -> tuple[str, ...]:
    """Rank as the search did before it pre-selected names: name_score on every artist."""
    scored = []
    for artist_id, name in catalog.artist_names.items():
        score = name_score(wanted, name)
        if score > 0:
            scored.append(
                (score + catalog.artists[artist_id].get("popularity", 0) * 0.5, artist_id)
            )
    scored.sort(key=lambda pair: -pair[0])
    return tuple(artist_id for _, artist_id in scored)


@pytest.fixture(scope="module")
def world_catalog(small_world: dict[str, Any]) -> Catalog:
    return Catalog(small_world["spotify"]["artists"], small_world["spotify"]["tracks"])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_preselecting_names_ranks_exactly_as_scoring_every_name(
    world_catalog: Catalog, data: st.DataObject
) -> None:
    names = sorted(world_catalog.name_list)
    wanted = data.draw(
        st.one_of(
            st.sampled_from(names),
            st.sampled_from(names).map(lambda name: name[:-1]),
            st.sampled_from(names).map(lambda name: name.split()[0]),
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", max_size=20).map(normalize),
        )
    )

    assert world_catalog._ranked_artists(wanted, "") == _every_name_scored(world_catalog, wanted)
