"""Matching a performer to a Spotify artist: preference order, and the traps it must not fall in."""

from __future__ import annotations

import pytest

from etl.matching import NO_MATCH, ShowFacts, break_tie, is_tribute, lead_name, match_performer
from shared.names import performer_key
from shared.spotify_records import ArtistRecord, TrackRecord


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

    folk = match_performer("Nirvana", candidates, facts=ShowFacts(genres=("folk",)))
    rock = match_performer("Nirvana", candidates, facts=ShowFacts(genres=("rock",)))

    assert (folk.spotify_artist_id, folk.confidence, folk.evidence) == ("sixties", "high", "genres")
    assert rock.spotify_artist_id == "popular"


# The Muse case of a real 2026 search (real-api/spotify/java__SearchItemRequest.json): three
# artists of one normalised name, none with genres. Tracks as a search gives them.
MUSES = [
    ArtistRecord("popular", "Muse"),
    ArtistRecord("dotted", "M.U.S.E."),
    ArtistRecord("capitals", "MUSE"),
]


def _track(
    artist_id: str, released: str, album: str = "Some Album", *, with_: str = ""
) -> TrackRecord:
    names = ("Muse", with_) if with_ else ("Muse",)
    ids = (artist_id, "guest") if with_ else (artist_id,)
    return TrackRecord(f"t-{artist_id}-{released}", "A Song", ids, names, album, released)


@pytest.mark.parametrize(
    ("facts", "tracks", "chosen", "evidence", "confidence"),
    [
        # The show's title names an album of one of them (a tour name).
        (
            ShowFacts(titles=("MUSE: Will of the People Tour",)),
            [
                _track("popular", "2022-08-26", "Will of the People"),
                _track("capitals", "2024-01-01"),
            ],
            "popular",
            "album or track in the show's title",
            "high",
        ),
        # One of them made a record with another act of the same bill.
        (
            ShowFacts(co_performers=("Dana Whitlock",)),
            [
                _track("popular", "2022-08-26"),
                _track("dotted", "2019-05-01", with_="Dana Whitlock"),
            ],
            "dotted",
            "records with another act on the bill",
            "high",
        ),
        # Only one released anything in the last three years.
        (
            ShowFacts(recent_since="2023-11-23"),
            [_track("popular", "2009-09-14"), _track("capitals", "2025-02-01")],
            "capitals",
            "recent releases",
            "medium",  # evidence, not proof: the other may be between records
        ),
        # A release of the window's first month, dated to the month only, still counts.
        (
            ShowFacts(recent_since="2023-11-23"),
            [_track("popular", "2009-09-14"), _track("dotted", "2023-11")],
            "dotted",
            "recent releases",
            "medium",
        ),
    ],
)
def test_namesakes_without_genres_are_told_apart_by_what_the_shows_say(
    facts: ShowFacts, tracks: list[TrackRecord], chosen: str, evidence: str, confidence: str
) -> None:
    match = match_performer("Muse", MUSES, facts=facts, tracks=tracks)

    assert (match.spotify_artist_id, match.evidence, match.confidence) == (
        chosen,
        evidence,
        confidence,
    )
    assert match.tied == ()


@pytest.mark.parametrize(
    ("facts", "tracks"),
    [
        # Both released lately: the popular one has more tracks in the answer, which says
        # nothing but its popularity.
        (
            ShowFacts(recent_since="2023-11-23"),
            [
                _track("popular", "2024-01-01"),
                _track("popular", "2025-01-01"),
                _track("dotted", "2024-06-01"),
            ],
        ),
        # A city or "Live in Concert" in both the title and a record names no one.
        (
            ShowFacts(titles=("Muse Live in Los Angeles",)),
            [_track("dotted", "2019-01-01", "Live in Los Angeles")],
        ),
        (
            ShowFacts(titles=("MUSE - Live in Concert",)),
            [_track("capitals", "2019-01-01", "Live in Concert")],
        ),
        # Genres match whole words: "pop" is not "k-pop".
        (ShowFacts(genres=("pop",)), []),
    ],
)
def test_signals_that_only_look_like_evidence_leave_namesakes_tied(
    facts: ShowFacts, tracks: list[TrackRecord]
) -> None:
    namesakes = [*MUSES[:2], ArtistRecord("capitals", "MUSE", ("k-pop",))]

    match = match_performer("Muse", namesakes, facts=facts, tracks=tracks)

    assert match.confidence == "low" and len(match.tied) >= 2


def test_namesakes_nothing_tells_apart_are_kept_with_low_confidence_and_their_tie() -> None:
    match = match_performer("Muse", MUSES, facts=ShowFacts(recent_since="2023-11-23"))

    assert match.spotify_artist_id == "popular"  # search order: Spotify ranks by popularity
    assert (match.confidence, match.evidence, match.score) == ("low", "search order only", 50.0)
    assert match.tied == ("popular", "dotted", "capitals")


def test_a_recency_search_breaks_a_tie_only_when_exactly_one_released_lately() -> None:
    facts = ShowFacts(recent_since="2023-11-23")
    tied = match_performer("Muse", MUSES, facts=facts)

    parted = break_tie(tied, MUSES, [_track("dotted", "2025-06-01")], facts)
    still = break_tie(
        tied, MUSES, [_track("dotted", "2025-06-01"), _track("popular", "2024-01-01")], facts
    )

    assert (parted.spotify_artist_id, parted.confidence, parted.evidence) == (
        "dotted",
        "medium",
        "recent releases",
    )
    assert still == tied


def test_a_name_read_from_an_event_title_gets_exact_matches_only() -> None:
    candidates = artists("Radiohead", "Max Styler Band")
    from_title = ShowFacts(from_title=True)

    assert match_performer("Radiohed", candidates, facts=from_title) == NO_MATCH
    assert match_performer("Max Styler", candidates, facts=from_title) == NO_MATCH
    exact = match_performer("RADIOHEAD", candidates, facts=from_title)
    # Found, but a title may split a band's name ("Sleeping With Sirens"): never more than low.
    assert (exact.method, exact.confidence) == ("exact", "low")
    assert exact.evidence.startswith("name read from the event's title")


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
