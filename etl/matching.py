"""Decide which Spotify artist a performer is: pure functions, no network."""

from __future__ import annotations

import re
from collections.abc import Sequence
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


@dataclass(frozen=True)
class Match:
    """The outcome of matching one performer: the artist (or none), how, and how sure."""

    spotify_artist_id: str
    spotify_artist_name: str
    method: str  # source_link | exact | fuzzy | override | none
    score: float

    @property
    def found(self) -> bool:
        return bool(self.spotify_artist_id)


NO_MATCH = Match("", "", "none", 0.0)


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
    wanted = {genre.lower() for genre in genres if genre}
    return sum(
        1
        for genre in candidate.genres
        if genre.lower() in wanted or any(w in genre.lower() for w in wanted)
    )


def _choose(candidates: list[ArtistRecord], genres: Sequence[str]) -> ArtistRecord:
    """Among candidates of the same name, prefer the one whose genres match the show's."""
    if len(candidates) == 1 or not genres:
        return candidates[0]
    return max(candidates, key=lambda candidate: _genre_overlap(candidate, genres))


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
    genres: Sequence[str] = (),
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
        )
    if source_artist_id:
        return Match(
            source_artist_id,
            by_id.get(source_artist_id, ArtistRecord("", "")).name,
            "source_link",
            100.0,
        )
    return match_by_name(name, candidates, genres)


def match_by_name(
    name: str, candidates: Sequence[ArtistRecord], genres: Sequence[str] = ()
) -> Match:
    """Match on names alone: exact (normalised), the lead of "X & The Y", then guarded fuzzy."""
    variants = name_variants(name)
    exact = [c for c in candidates if name_variants(c.name) & variants]
    if exact:
        chosen = _choose(exact, genres)
        return Match(chosen.id, chosen.name, "exact", 100.0)
    if is_tribute(name):
        return NO_MATCH
    lead = lead_name(name)
    if lead:
        leads = [c for c in candidates if lead in name_variants(c.name)]
        if leads:
            chosen = _choose(leads, genres)
            return Match(
                chosen.id,
                chosen.name,
                "fuzzy",
                float(fuzz.token_set_ratio(lead, normalize_name(name))),
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
        return Match(best[1].id, best[1].name, "fuzzy", float(best[0]))
    return NO_MATCH


def tracks_of(artist_id: str, tracks: Sequence[TrackRecord], limit: int = 10) -> list[TrackRecord]:
    """Keep the tracks whose artists include the artist, in the order given, at most `limit`."""
    kept = [track for track in tracks if artist_id in track.artist_ids]
    return kept[:limit]
