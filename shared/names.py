"""Clean the names sources and Spotify send, and normalise them so that one name compares equal."""

from __future__ import annotations

import re
import unicodedata

_JOINERS = re.compile(r"\s*(?:&|\+)\s*")
_NOT_WORD = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")

# Line breaks and tabs become spaces (a name is one line); every other C0/C1 control, NUL
# included, goes; so do the bidirectional embeddings, overrides and isolates, which a name can
# leave open to reverse whatever text follows it on a page or in a playlist description.
_WHITESPACE_CONTROLS = "\t\n\v\f\r"
_CLEAN_TEXT = str.maketrans(
    {
        **{chr(code): None for code in [*range(0x20), *range(0x7F, 0xA0)]},
        **{character: " " for character in _WHITESPACE_CONTROLS},
        **{chr(code): None for code in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]},
    }
)


def clean_text(text: str) -> str:
    """Return text without control characters or bidirectional controls; line breaks are spaces."""
    return text.translate(_CLEAN_TEXT)


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
