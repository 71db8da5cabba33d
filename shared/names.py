"""Normalise performer, venue and artist names so that the same name compares equal."""

from __future__ import annotations

import re
import unicodedata

_JOINERS = re.compile(r"\s*(?:&|\+)\s*")
_NOT_WORD = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")


def normalize_name(name: str) -> str:
    """Fold case, accents, '&'/'+' (to 'and'), hyphens, punctuation, spacing and a leading 'the'."""
    decomposed = unicodedata.normalize("NFKD", name.casefold().replace("ø", "o"))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = _JOINERS.sub(" and ", plain)
    plain = _NOT_WORD.sub("", plain.replace("_", " ").replace("-", " "))
    plain = _SPACES.sub(" ", plain).strip()
    return plain.removeprefix("the ") if plain != "the" else plain


def performer_key(name: str) -> str:
    """Return the key of a performer in artists.csv: the normalised name."""
    return normalize_name(name)
