"""Make names from the sources and Spotify safe to show and to send: no controls, no bidi spill."""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL and C1 controls: they have no place in a name, and a NUL
# cuts some clients' text short.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): one left open turns
# the rest of a line around (a "Trojan Source" name). Dropping them keeps the letters readable.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def clean_name(text: object) -> str:
    """Return a name without control characters and bidirectional embedding controls."""
    return _BIDI_CONTROLS.sub("", _CONTROLS.sub("", str(text)))
