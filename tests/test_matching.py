"""Matching a performer to a Spotify artist: preference order, and the traps it must not fall in."""

from __future__ import annotations

import pytest

from etl.matching import NO_MATCH, is_tribute, lead_name, match_performer
from shared.names import performer_key
from shared.spotify_records import ArtistRecord


def artists(*names: str) -> list[ArtistRecord]:
    return [ArtistRecord(f"id-{index}-{name}", name) for index, name in enumerate(names)]


@pytest.mark.parametrize(
    ("performer", "candidates", "expected"),
    [
        ("Beyonce", ["Beyoncé", "Beyoncé Tribute"], "Beyoncé"),
        ("Sigur Ros", ["Sigur Rós"], "Sigur Rós"),
        ("ACDC", ["AC/DC", "ACDC Tribute"], "AC/DC"),
        ("Guns N Roses", ["Guns N' Roses"], "Guns N' Roses"),
        ("Simon and Garfunkel", ["Simon & Garfunkel"], "Simon & Garfunkel"),
        (
            "Florence and the Machine",
            ["Florence + The Machine", "Florence"],
            "Florence + The Machine",
        ),
        ("National", ["The National", "National Parks"], "The National"),
        ("The Killers", ["Killers"], "Killers"),
        ("Pink", ["Pinkerton", "P!nk"], "P!nk"),
        ("Sting", ["Stingray", "Sting"], "Sting"),
        ("Yes", ["Yes Tribute", "Yesterday's Kids", "Yes"], "Yes"),
        (
            "Bruce Springsteen & The E Street Band",
            ["The E Street Band Revival", "Bruce Springsteen"],
            "Bruce Springsteen",
        ),
        (
            "Nina Whitfield and The Lost Harbors",
            ["Lost Harbors", "Nina Whitfield"],
            "Nina Whitfield",
        ),
        ("Radiohed", ["Radiohead"], "Radiohead"),
    ],
)
def test_finds_the_right_artist(performer: str, candidates: list[str], expected: str) -> None:
    match = match_performer(performer, artists(*candidates))

    assert match.spotify_artist_name == expected
    assert match.method in ("exact", "fuzzy")


@pytest.mark.parametrize(
    ("performer", "candidates"),
    [
        ("Yes", ["Yes Tribute", "Yesterday's Kids"]),
        ("The", ["The Beatles", "Theory of a Deadman"]),
        ("Sting", ["Stingray"]),
        ("Weezer Tribute", ["Weezer"]),
        ("Weezer Tribute Band", ["Weezer", "Weezer Tribute Band Revival"]),
        ("The Fleetwood Mac Experience", ["Fleetwood Mac"]),
        ("Silver Owls", ["Silver Owl"]),
        ("Hidden Tundra Collective", ["Hidden Thunder Collective"]),
        ("Neon Harbors", ["Neon Harbors Revival", "Neon"]),
        ("Dana Whitlock", ["Dana Whitlock Trio", "Dana"]),
        ("Low", ["Lowlife", "Low Cut Connie"]),
    ],
)
def test_does_not_fall_for_traps(performer: str, candidates: list[str]) -> None:
    assert match_performer(performer, artists(*candidates)) == NO_MATCH


def test_the_alone_matches_only_an_artist_called_the() -> None:
    assert match_performer("The", artists("The Beatles", "The")).spotify_artist_name == "The"


def test_same_name_twice_is_decided_by_the_shows_genres() -> None:
    candidates = [
        ArtistRecord("popular", "Nirvana", ("grunge", "rock")),
        ArtistRecord("sixties", "Nirvana", ("psychedelic", "folk")),
    ]

    assert match_performer("Nirvana", candidates, genres=["folk"]).spotify_artist_id == "sixties"
    assert match_performer("Nirvana", candidates, genres=["rock"]).spotify_artist_id == "popular"
    assert (
        match_performer("Nirvana", candidates).spotify_artist_id == "popular"
    )  # search order otherwise


def test_source_link_then_override_win() -> None:
    candidates = artists("Sting")

    linked = match_performer("Sting", candidates, source_artist_id="linked-id")
    overridden = match_performer(
        "Sting", candidates, source_artist_id="linked-id", override_artist_id="fixed-id"
    )

    assert (linked.spotify_artist_id, linked.method, linked.score) == (
        "linked-id",
        "source_link",
        100.0,
    )
    assert (overridden.spotify_artist_id, overridden.method) == ("fixed-id", "override")


def test_method_and_score_are_recorded() -> None:
    exact = match_performer("Beyonce", artists("Beyoncé"))
    lead = match_performer("Bruce Springsteen & The E Street Band", artists("Bruce Springsteen"))
    miss = match_performer("Nobody Here", artists("Somebody Else"))

    assert (exact.method, exact.score) == ("exact", 100.0)
    assert lead.method == "fuzzy" and 0 < lead.score <= 100
    assert (miss.method, miss.score, miss.found) == ("none", 0.0, False)


def test_helpers() -> None:
    assert performer_key("The Killers") == performer_key("KILLERS")
    assert lead_name("Bruce Springsteen & The E Street Band") == "bruce springsteen"
    assert lead_name("Florence and the Machine") is None  # a one-word lead is too weak
    assert is_tribute("The Music of Queen") and is_tribute("Weezer Tribute Band")
    assert not is_tribute("The Killers")
