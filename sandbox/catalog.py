"""The sandbox's Spotify catalogue and its search engine, ranked as a search engine would."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

# Spotify search: accents, case and punctuation do not matter ("ACDC" finds "AC/DC").
_JOINERS = re.compile(r"\s*(?:&|\+)\s*")
_NOT_WORD = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")
_QUERY_TOKEN = re.compile(r'(\w+):"([^"]*)"|(\w+):(\S+)|"([^"]*)"|(\S+)')
FIELDS = {"artist", "track", "album", "genre", "year", "isrc"}

EXACT, PREFIX, CONTAINS, PHRASE, FUZZY = 100.0, 60.0, 45.0, 40.0, 20.0
STOPWORDS = {"the", "and", "a", "of", "with", "band", "feat", "ft"}


def normalize(text: str) -> str:
    """Fold case, accents, punctuation and '&'/'+' the way the search engine does."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = _JOINERS.sub(" and ", plain)
    plain = _NOT_WORD.sub("", plain.replace("_", " "))
    return _SPACES.sub(" ", plain).strip()


def name_score(
    query: str, name: str, similarity: float | None = None, close: float | None = None
) -> float:
    """Score how well a normalized name answers a normalized query (0: not at all).

    `similarity` (WRatio) and `close` (ratio) may be given when computed for many names at once.
    """
    if not query:
        return FUZZY
    if name == query or name.replace(" ", "") == query.replace(" ", ""):
        return EXACT
    if name.startswith(query):
        return PREFIX
    if query in name or set(query.split()) <= set(name.split()):
        return CONTAINS
    # The whole name as a phrase of the query ("Bruce Springsteen" in "Bruce Springsteen & The
    # E Street Band") is nearly as strong.
    if f" {name} " in f" {query} ":
        return PHRASE
    # A fuzzy hit must share a real word with the query (not just "the" or "and").
    if not (set(query.split()) - STOPWORDS) & (set(name.split()) - STOPWORDS):
        close = fuzz.ratio(query, name) if close is None else close
        return FUZZY + (close - 85) if close >= 85 else 0.0
    similarity = fuzz.WRatio(query, name) if similarity is None else similarity
    return FUZZY + (similarity - 85) if similarity >= 85 else 0.0


@dataclass
class SearchQuery:
    """A parsed search `q`: field filters and free text."""

    fields: dict[str, str]
    text: str


def parse_query(q: str) -> SearchQuery:
    """Split a search `q` into field filters (artist:"The National") and free text."""
    fields: dict[str, str] = {}
    words: list[str] = []
    for quoted_field, quoted_value, plain_field, plain_value, phrase, word in _QUERY_TOKEN.findall(
        q
    ):
        name = (quoted_field or plain_field).lower()
        if name in FIELDS:
            value = quoted_value if quoted_field else plain_value
            fields[name] = f"{fields[name]} {value}".strip() if name in fields else value
        else:
            words.append(phrase or word or f"{plain_field}:{plain_value}")
    return SearchQuery(fields, " ".join(words))


def year_range(value: str) -> tuple[int, int] | None:
    """Read a `year:` filter: "2024" or "2020-2026" (Spotify's search reference)."""
    low, _, high = value.partition("-")
    try:
        return (int(low), int(high or low)) if low else None
    except ValueError:
        return None


def _release_year(track: dict[str, Any]) -> int:
    try:
        return int(str(track.get("album", {}).get("release_date", ""))[:4])
    except ValueError:
        return 0


class Catalog:
    """Artists, tracks and podcast episodes of a world, indexed for lookup and search."""

    def __init__(
        self,
        artists: list[dict[str, Any]],
        tracks: list[dict[str, Any]],
        episodes: list[dict[str, Any]] | None = None,
    ) -> None:
        self.artists = {artist["id"]: artist for artist in artists}
        self.tracks = {track["id"]: track for track in tracks}
        self.episodes = {episode["id"]: episode for episode in episodes or []}
        self.album_sizes = Counter(track["album"]["id"] for track in tracks)
        self.artist_names = {artist["id"]: normalize(artist["name"]) for artist in artists}
        self.artist_ids = list(self.artist_names)
        self.name_list = list(self.artist_names.values())
        self.letters_list = [name.replace(" ", "") for name in self.name_list]
        self.track_names = {track["id"]: normalize(track["name"]) for track in tracks}
        self.tracks_by_artist: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for track in tracks:
            for credited in track["artists"]:
                self.tracks_by_artist[credited["id"]].append(track)
        for artist_tracks in self.tracks_by_artist.values():
            artist_tracks.sort(key=lambda track: -track.get("popularity", 0))

    def search_artists(self, query: SearchQuery) -> list[dict[str, Any]]:
        """Return the artists that answer the query, best first."""
        wanted = normalize(" ".join(filter(None, [query.fields.get("artist", ""), query.text])))
        genre = query.fields.get("genre", "").lower()
        return [self.artists[artist_id] for artist_id in self._ranked_artists(wanted, genre)]

    @functools.lru_cache(maxsize=4096)  # noqa: B019 (the catalogue lives as long as the server)
    def _ranked_artists(self, wanted: str, genre: str) -> tuple[str, ...]:
        scored = []
        indexes, similarity, close = self._could_answer(wanted)
        for index in indexes:
            artist_id = self.artist_ids[index]
            artist = self.artists[artist_id]
            if genre and genre not in artist.get("genres", []):
                continue
            score = name_score(
                wanted, self.name_list[index], float(similarity[index]), float(close[index])
            )
            if score > 0:
                scored.append((score + artist.get("popularity", 0) * 0.5, artist_id))
        scored.sort(key=lambda pair: -pair[0])
        return tuple(artist_id for _, artist_id in scored)

    def _could_answer(self, wanted: str) -> tuple[list[int], Any, Any]:
        """Return the indexes of the names name_score could give more than 0, and every name's
        fuzzy scores (WRatio, ratio).

        Scoring every name in Python made the sandbox, not the client, the slow side of a
        benchmark: the fuzzy scores come for all names at once (rapidfuzz, in C), and the other
        tiers need a word of the query in the name, the name in the query, or equal letters.
        """
        similarity = process.cdist([wanted], self.name_list, scorer=fuzz.WRatio)[0]
        close = process.cdist([wanted], self.name_list, scorer=fuzz.ratio)[0]
        if not wanted:
            return list(range(len(self.name_list))), similarity, close
        fuzzy = set(np.flatnonzero((similarity >= 85) | (close >= 85)).tolist())
        words = wanted.split()
        letters = wanted.replace(" ", "")
        plain = {
            index
            for index, name in enumerate(self.name_list)
            if name in wanted
            or all(word in name for word in words)
            or self.letters_list[index] == letters
        }
        return sorted(fuzzy | plain), similarity, close

    def search_tracks(self, query: SearchQuery) -> list[dict[str, Any]]:
        """Return the tracks that answer the query, best first; an artist's in popularity order."""
        artist_filter = query.fields.get("artist")
        track_filter = normalize(query.fields.get("track", ""))
        genre = query.fields.get("genre", "").lower()
        isrc = query.fields.get("isrc", "").upper()
        years = year_range(query.fields.get("year", ""))
        text = normalize(query.text)
        if artist_filter is not None or genre:
            artists = self.search_artists(
                SearchQuery({"artist": artist_filter or "", "genre": genre}, "")
            )
            candidates = [
                (rank, track)
                for rank, artist in enumerate(artists)
                for track in self.tracks_by_artist[artist["id"]]
            ]
        else:
            candidates = [(0, track) for track in self.tracks.values()]
        scored = []
        for artist_rank, track in candidates:
            score = 0.0
            if isrc and track.get("external_ids", {}).get("isrc", "").upper() != isrc:
                continue
            if years and not years[0] <= _release_year(track) <= years[1]:
                continue
            if track_filter:
                score = name_score(track_filter, self.track_names[track["id"]])
                if score <= 0:
                    continue
            if text:
                by_name = name_score(text, self.track_names[track["id"]])
                by_artist = max(
                    name_score(text, self.artist_names.get(a["id"], "")) for a in track["artists"]
                )
                best = max(by_name, by_artist)
                if best <= 0:
                    continue
                score += best
            scored.append((artist_rank, -score, -track.get("popularity", 0), track["id"]))
        scored.sort()
        return [self.tracks[track_id] for *_, track_id in scored]
