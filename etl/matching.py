"""Decide which Spotify artist a performer is: pure functions, no network."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein
from thefuzz import fuzz

from shared.names import normalize_name
from shared.spotify_records import ArtistRecord, TrackRecord

# Words that mark an act as playing someone else's music: never the artist they name.
TRIBUTE_WORDS = {"tribute", "experience", "salute", "covers", "cover", "revival", "legacy",
                 "celebration", "impersonator", "unplugged", "symphonic", "orchestral"}  # fmt: skip
# "X & The Y Band", "X and the Y", "X with Y", "X feat. Y": X is often the Spotify artist.
_LEAD = re.compile(
    r"^(?P<lead>.+?)\s+(?:and the|and his|and her|with|featuring|feat|ft|x|vs)\s+.+$"
)
_LEET = str.maketrans({"!": "i", "$": "s", "@": "a", "0": "o", "3": "e"})

FUZZY_MIN_RATIO = 92
LEAD_MIN_WORDS = 2


# What told namesakes apart (or that nothing did); kept in artists.csv as `match_evidence`.
ONLY_CANDIDATE = "only candidate"
BY_GENRES = "genres"
BY_TITLE = "album or track in the show's title"
BY_BILL = "records with another act on the bill"
BY_RECENT = "recent releases"
SEARCH_ORDER = "search order only"
FROM_TITLE = "name read from the event's title"
HIGH, MEDIUM, LOW = "high", "medium", "low"
# A namesake chosen on search order alone (Spotify ranks by popularity) is right about as often
# as the popular act is the one on tour: kept, but marked low so it is never taken as certain.
LOW_CONFIDENCE_SCORE = 50.0
# "Only one of them released anything lately" is good evidence, not proof (the other may be
# between records): medium.
RECENT_SCORE = 80.0
# Words of titles and records that name no one: a tour or a city in both says nothing.
GENERIC_WORDS = {"live", "in", "concert", "tour", "world", "the", "a", "an", "and", "of", "at",
                 "show", "night", "evening", "with", "special", "guests", "guest", "presents",
                 "edition", "anniversary", "greatest", "hits", "deluxe", "remastered", "version",
                 "acoustic", "christmas", "holiday", "los", "angeles", "new", "york", "city",
                 "san", "francisco", "las", "vegas", "chicago", "nashville"}  # fmt: skip
_SUBTITLE = re.compile(r"[:|]|\s[-\u2013\u2014]\s")


@dataclass(frozen=True)
class Match:
    """The outcome of matching one performer: the artist (or none), how, and how sure."""

    spotify_artist_id: str
    spotify_artist_name: str
    method: str  # source_link | exact | fuzzy | override | none
    score: float
    confidence: str = HIGH  # high | medium (recent releases) | low (nothing told them apart)
    evidence: str = ""
    tied: tuple[str, ...] = ()  # namesakes (ids) still tied: a recency check may part them

    @property
    def found(self) -> bool:
        return bool(self.spotify_artist_id)


NO_MATCH = Match("", "", "none", 0.0, evidence="")


@dataclass(frozen=True)
class ShowFacts:
    """What the shows say of a performer, beyond its name: evidence for telling namesakes apart."""

    genres: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()  # the events' titles ("Shinedown: Planet Zero World Tour")
    co_performers: tuple[str, ...] = ()  # the other acts on its bills
    from_title: bool = False  # the name was read from an event's title: exact matches only
    recent_since: str = ""  # a release on or after this date (YYYY-MM-DD) counts as recent


def name_variants(name: str) -> set[str]:
    """Return the forms of a name that count as the same: normalised, unspaced, de-leeted."""
    plain = normalize_name(name)
    leet = normalize_name(name.translate(_LEET)) if re.search(r"\w[!$@03]\w", name) else plain
    return {plain, plain.replace(" ", ""), leet, leet.replace(" ", "")}


def lead_name(name: str) -> str | None:
    """Return X of "X & The Y Band" / "X with Y" (normalised), or None."""
    found = _LEAD.match(normalize_name(name))
    if not found:
        return None
    lead = found.group("lead").strip()
    return lead if len(lead.split()) >= LEAD_MIN_WORDS else None


def is_tribute(name: str) -> bool:
    """Tell whether a name says the act plays someone else's music."""
    words = set(normalize_name(name).split())
    return bool(words & TRIBUTE_WORDS) or "music of" in normalize_name(name)


def _genre_overlap(candidate: ArtistRecord, genres: Sequence[str]) -> int:
    """Count the candidate's genres that name one of the show's as a whole word.

    "indie" is in "indie rock"; "pop" is not in "k-pop", nor "rap" in "trap".
    """
    wanted = {genre.lower() for genre in genres if genre}
    return sum(
        1
        for genre in candidate.genres
        if genre.lower() in wanted or wanted & set(genre.lower().split())
    )


def _subtitles(name: str, titles: Sequence[str]) -> list[str]:
    """Return what the titles say beside the name: "Shinedown: Planet Zero World Tour" gives
    " planet zero world tour "."""
    performer = normalize_name(name)
    found = []
    for title in titles:
        parts = _SUBTITLE.split(title, maxsplit=1)
        if len(parts) == 2:
            found.append(f" {normalize_name(parts[1]).replace(performer, ' ')} ")
    return found


def _title_mentions(
    candidate: ArtistRecord, name: str, facts: ShowFacts, tracks: Sequence[TrackRecord]
) -> int:
    """Count the candidate's album and track names a show's subtitle names (a tour name)."""
    subtitles = _subtitles(name, facts.titles)
    performer = normalize_name(name)
    names = {
        normalize_name(text)
        for track in tracks
        if candidate.id in track.artist_ids
        for text in (track.album_name, track.name)
    }
    # A self-titled album says nothing, nor a name made of generic words ("Live in Concert",
    # "Los Angeles"): only names of two words or more with a word of their own count.
    names = {
        text
        for text in names
        if text != performer and " " in text and set(text.split()) - GENERIC_WORDS
    }
    return sum(1 for text in names if any(f" {text} " in sub for sub in subtitles))


def _shares_records_with_bill(
    candidate: ArtistRecord, facts: ShowFacts, tracks: Sequence[TrackRecord]
) -> int:
    """Count the candidate's tracks made with another act of the same bills."""
    others = {normalize_name(other) for other in facts.co_performers} - {""}
    return sum(
        1
        for track in tracks
        if candidate.id in track.artist_ids
        and others & {normalize_name(credited) for credited in track.artist_names}
    )


def _released_since(release_date: str, since: str) -> bool:
    """Compare a release date of any precision ("2023", "2023-11", "2023-11-23") with a day:
    a year or month counts as its last day, so a release in the window's first month counts."""
    if not release_date:
        return False
    padded = release_date + "-12-31"[len(release_date) - 4 :] if len(release_date) < 10 else ""
    return (padded or release_date) >= since


def _recent_releases(
    candidate: ArtistRecord, facts: ShowFacts, tracks: Sequence[TrackRecord]
) -> int:
    """Count the candidate's tracks released since `recent_since` (an act on tour has them)."""
    if not facts.recent_since:
        return 0
    return sum(
        1
        for track in tracks
        if candidate.id in track.artist_ids
        and _released_since(track.release_date, facts.recent_since)
    )


def choose_namesake(
    name: str, candidates: Sequence[ArtistRecord], facts: ShowFacts, tracks: Sequence[TrackRecord]
) -> tuple[ArtistRecord, str, tuple[str, ...]]:
    """Choose among artists of the same name: (artist, evidence, ids still tied).

    In 2026 most Spotify artists have no genres, so genres alone rarely tell; each signal
    narrows the field in turn, and when none tells, search order (popularity) decides and the
    tie is returned so that the match is kept with low confidence, never as a silent guess.
    """
    if len(candidates) == 1:
        return candidates[0], ONLY_CANDIDATE, ()
    field = list(candidates)
    signals: list[tuple[str, Callable[[ArtistRecord], int]]] = [
        (BY_GENRES, lambda c: _genre_overlap(c, facts.genres)),
        (BY_TITLE, lambda c: _title_mentions(c, name, facts, tracks)),
        (BY_BILL, lambda c: _shares_records_with_bill(c, facts, tracks)),
        (BY_RECENT, lambda c: _recent_releases(c, facts, tracks)),
    ]
    # Each signal is present or absent, never counted: a search lists the popular namesake's
    # tracks first and most, so a count would mostly measure popularity.
    for evidence, score in signals:
        with_signal = [candidate for candidate in field if score(candidate) > 0]
        if len(with_signal) == 1:
            return with_signal[0], evidence, ()
        if with_signal:
            field = with_signal
    return field[0], SEARCH_ORDER, tuple(candidate.id for candidate in field)


def break_tie(
    match: Match,
    candidates: Sequence[ArtistRecord],
    recent_tracks: Sequence[TrackRecord],
    facts: ShowFacts,
) -> Match:
    """Part namesakes by which of them released tracks lately; otherwise keep the low match."""
    tied = [candidate for candidate in candidates if candidate.id in match.tied]
    recent = [c for c in tied if _recent_releases(c, facts, recent_tracks) > 0]
    if len(recent) != 1:
        return match
    chosen = recent[0]
    return Match(chosen.id, chosen.name, match.method, RECENT_SCORE, MEDIUM, BY_RECENT)


def _exact(
    name: str,
    chosen: tuple[ArtistRecord, str, tuple[str, ...]],
) -> Match:
    artist, evidence, tied = chosen
    if tied:
        return Match(artist.id, artist.name, "exact", LOW_CONFIDENCE_SCORE, LOW, evidence, tied)
    if evidence == BY_RECENT:
        return Match(artist.id, artist.name, "exact", RECENT_SCORE, MEDIUM, evidence)
    return Match(artist.id, artist.name, "exact", 100.0, HIGH, evidence)


def _fuzzy_acceptable(performer: str, candidate: str) -> bool:
    """Guard fuzzy matches: the same words but for a typo (one edit in a long word).

    Refused: another word count, one name inside the other ("Sting"/"Stingray"), a plural
    ("Silver Owl"/"Silver Owls": often a different act), another word ("Tundra"/"Thunder").
    """
    performer_words, candidate_words = performer.split(), candidate.split()
    if len(performer_words) != len(candidate_words) or len(performer) < 5:
        return False
    if performer in candidate or candidate in performer:
        return False
    differing = [(p, c) for p, c in zip(performer_words, candidate_words, strict=True) if p != c]
    return len(differing) == 1 and all(
        p.rstrip("s") != c.rstrip("s")
        and min(len(p), len(c)) >= 5
        and Levenshtein.distance(p, c) == 1
        for p, c in differing
    )


def match_performer(
    name: str,
    candidates: Sequence[ArtistRecord],
    *,
    source_artist_id: str = "",
    override_artist_id: str = "",
    facts: ShowFacts | None = None,
    tracks: Sequence[TrackRecord] = (),
) -> Match:
    """Match a performer to one of the search's candidates, or to none.

    Preference: a hand-made override; the id the event source gave; an exact normalised name;
    the lead name of "X & The Y Band"; then a guarded fuzzy match.
    """
    by_id = {candidate.id: candidate for candidate in candidates}
    if override_artist_id:
        return Match(
            override_artist_id,
            by_id.get(override_artist_id, ArtistRecord("", "")).name,
            "override",
            100.0,
            evidence="override",
        )
    if source_artist_id:
        return Match(
            source_artist_id,
            by_id.get(source_artist_id, ArtistRecord("", "")).name,
            "source_link",
            100.0,
            evidence="the event source's link",
        )
    return match_by_name(name, candidates, facts or ShowFacts(), tracks)


def match_by_name(
    name: str,
    candidates: Sequence[ArtistRecord],
    facts: ShowFacts | None = None,
    tracks: Sequence[TrackRecord] = (),
) -> Match:
    """Match on names: exact (normalised), the lead of "X & The Y", then guarded fuzzy.

    A name read from an event's title ("NB RIDAZ LIVE IN CONCERT ...", cleaned) may be no
    act's name at all: it gets exact matches only.
    """
    facts = facts or ShowFacts()
    variants = name_variants(name)
    exact = [c for c in candidates if name_variants(c.name) & variants]
    if exact:
        match = _exact(name, choose_namesake(name, exact, facts, tracks))
        if facts.from_title:
            # "Sleeping With Sirens" read as "Sleeping" and "Sirens" would match real artists:
            # a name read from a title is never better than a guess.
            return dataclasses.replace(
                match,
                score=min(match.score, LOW_CONFIDENCE_SCORE),
                confidence=LOW,
                evidence=f"{FROM_TITLE}; {match.evidence}",
            )
        return match
    if is_tribute(name) or facts.from_title:
        return NO_MATCH
    lead = lead_name(name)
    if lead:
        leads = [c for c in candidates if lead in name_variants(c.name)]
        if leads:
            chosen, evidence, tied = choose_namesake(lead, leads, facts, tracks)
            return Match(
                chosen.id,
                chosen.name,
                "fuzzy",
                float(fuzz.token_set_ratio(lead, normalize_name(name))),
                LOW if tied else HIGH,
                f"lead name; {evidence}",
                tied,
            )
    performer = normalize_name(name)
    best: tuple[int, ArtistRecord] | None = None
    for candidate in candidates:
        other = normalize_name(candidate.name)
        score = fuzz.ratio(performer, other)
        acceptable = score >= FUZZY_MIN_RATIO and not is_tribute(candidate.name)
        if acceptable and _fuzzy_acceptable(performer, other) and (best is None or score > best[0]):
            best = (score, candidate)
    if best is not None:
        return Match(best[1].id, best[1].name, "fuzzy", float(best[0]), evidence="one typo")
    return NO_MATCH


def tracks_of(artist_id: str, tracks: Sequence[TrackRecord], limit: int = 10) -> list[TrackRecord]:
    """Keep the tracks whose artists include the artist, in the order given, at most `limit`."""
    kept = [track for track in tracks if artist_id in track.artist_ids]
    return kept[:limit]
