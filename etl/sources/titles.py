"""Read performer names out of an event's title, for listings that name no performers."""

from __future__ import annotations

import re

# An aside in brackets: "(Acclaimed Jazz Recording Artist)", "(Winner of NBC's The Voice ...)".
_ASIDE = re.compile(r"\s*\([^()]*\)")
# "An Evening with X": X is the act, not "An Evening".
_EVENING_WITH = re.compile(r"^an?\s+(?:evening|night|afternoon)\s+with\s+", re.IGNORECASE)
# Headliner, then support: "X with Y", "X w/ Y", "X featuring Y", "X feat. Y". Never commas or
# "&", which are inside names ("Earth, Wind & Fire", "Hall & Oates").
_SUPPORT = re.compile(r"\s+(?:with|w/|featuring|feat\.)\s+", re.IGNORECASE)
# What follows a name without being one, removed in turn until nothing changes.
_NOT_NAME = (
    re.compile(r"\s+live in concert\b.*$", re.IGNORECASE),  # "X LIVE IN CONCERT AT DON QUIXOTE"
    re.compile(r"\s*[:|]\s.*$"),  # a subtitle: "X: A HOLIDAY CONCERT", "X | "ALEGRIA" CD ..."
    re.compile(r"\s+[-\u2013\u2014]\s.*\btour\b.*$", re.IGNORECASE),  # "X - Some Name - World Tour"
    re.compile(r"!+$"),  # "FRIENDS!"
    re.compile(r"\s+(?:&|and)\s+friends$", re.IGNORECASE),  # "X & Friends"
    re.compile(r"^special\s+guests?\s*:?\s+", re.IGNORECASE),  # "with special guests Y"
)
_EDGES = " \t-\u2013\u2014,;:|/"
_NO_ONE = re.compile(r"^(?:(?:very\s+)?special\s+guests?|guests?|friends|tba|tbd)$", re.IGNORECASE)
# A tribute named in the subtitle ("The Concert: A Tribute To ABBA") would leave "The Concert":
# the title is kept whole, so that it is never taken for an act. ("X Tribute with Y" splits.)
_SUBTITLE_MARK = re.compile(r"\s*[:|]\s|\s[-\u2013\u2014]\s")
_TRIBUTE = re.compile(r"\b(?:tribute|salute|experience|music of)\b", re.IGNORECASE)


def names_in_title(title: str) -> tuple[str, ...]:
    """Return the names an event title gives, headliner first, without what is not a name.

    'JONATHAN KARRANT & FRIENDS! : A HOLIDAY CONCERT (Acclaimed ...)' gives ('JONATHAN KARRANT',);
    'Flasher with Kan Kan' gives ('Flasher', 'Kan Kan').
    """
    text = str(title or "")
    while True:
        shorter = _ASIDE.sub("", text)
        if shorter == text:
            break
        text = shorter
    text = _EVENING_WITH.sub("", " ".join(text.split()))
    subtitle = _SUBTITLE_MARK.split(text, maxsplit=1)
    if len(subtitle) == 2 and _TRIBUTE.search(subtitle[1]):
        whole = text.strip(_EDGES)
        return (whole,) if whole else ()
    names: list[str] = []
    for part in _SUPPORT.split(text):
        name = _clean(part)
        if (
            name
            and not _NO_ONE.match(name)
            and name.casefold() not in {n.casefold() for n in names}
        ):
            names.append(name)
    return tuple(names)


def _clean(part: str) -> str:
    name = part.strip(_EDGES)
    while True:
        cleaned = name
        for pattern in _NOT_NAME:
            cleaned = pattern.sub("", cleaned).strip(_EDGES)
        if cleaned == name:
            return name
        name = cleaned
