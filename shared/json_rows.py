"""Read a JSON array of flat objects a row at a time: memory bounded by a row, whatever the file.

`json.loads` builds the whole document before anything can be checked, so 39 MB of `[{},{},...]`
becomes 13 million dicts (over a gigabyte) before the first row is refused. Here the bytes are
parsed as a stream of events (ijson, on its yajl C backend), each row is built from its scalar
fields alone and handed on, and a file whose shape is wrong is refused at its first wrong row.
A list or object inside a row is never built: it stands as a `Nested` marker, which readers of
that field refuse and everyone else passes over. Work is linear in the file's bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import ijson
import numpy as np

# Spotify's rows have 4 (account export) to 23 (extended, 2025) fields; room for later ones.
MAX_ROW_FIELDS = 200
# Spotify's longest texts are names of a few hundred bytes, and its rows have a quote every few
# dozen bytes. A token longer than MAX_TOKEN_BYTES (a string: bytes between two unescaped quotes;
# a number, a run of brackets or of spaces) is no export's; it is refused before any parsing,
# because yajl re-reads a token that spans two of ijson's buffers from its start (one 16 MB
# string took 12 s in 64 KB buffers) and each copy of it (row, frame, month file) costs its size.
# Buffers are 1 MB: ijson gathers a whole buffer's events before it yields the first (a buffer
# of the whole file was 500 MB of events for 400,000 small rows). A list or object inside a row
# (none of Spotify's) is passed over up to MAX_NESTED_VALUES values, then refused.
MAX_TOKEN_BYTES = 10_000
MAX_NESTED_VALUES = 10_000
PARSE_BUFFER_BYTES = 1024 * 1024
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_SCAN_BYTES = 4 * 1024 * 1024


def _longest_without_a_quote(data: bytes) -> int:
    """Return the most bytes between two quotes that end or start a JSON string.

    A quote after a backslash is taken for an escaped one (a string ending in an escaped
    backslash then joins two stretches: never 10,000 bytes in an export). Done by numpy over
    the bytes, 4 MB at a time: a few tens of ms for 32 MB.
    """
    view = np.frombuffer(data, dtype=np.uint8)
    previous, longest = -1, 0
    for start in range(0, len(view), _SCAN_BYTES):
        chunk = view[start : start + _SCAN_BYTES]
        quotes = np.flatnonzero(chunk == _QUOTE)
        before = chunk[np.maximum(quotes - 1, 0)]
        if len(quotes) and quotes[0] == 0:
            before[0] = view[start - 1] if start else 0
        ends = quotes[before != _BACKSLASH] + start
        if len(ends):
            longest = max(
                longest, int(ends[0]) - previous - 1, int(np.diff(ends).max(initial=1)) - 1
            )
            previous = int(ends[-1])
    return max(longest, len(view) - previous - 1)


_BOM = b"\xef\xbb\xbf"
_SCALARS = {"null", "boolean", "integer", "double", "number", "string"}


class JsonRowsError(ValueError):
    """The bytes are not a JSON array of objects: the message ends a sentence about the file."""


class Nested:
    """A list or an object found as a row's field: its kind only, never its content."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __bool__(self) -> bool:
        return False  # never taken for a present uri or name

    def __repr__(self) -> str:
        return self.kind


def json_kind(value: Any) -> str:
    """Name a JSON value's kind for a person: "a number", "text", "a list", ..."""
    if isinstance(value, Nested):
        return value.kind
    kinds = {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list"}
    return "null" if value is None else kinds.get(type(value), "an object")


def iter_rows(data: bytes) -> Iterator[dict[str, Any]]:
    """Yield each object of the top-level array of `data`, with its scalar fields.

    JsonRowsError, as soon as it is seen: bytes that are not JSON (or not UTF-8), a document
    that is not an array (" is a list of playlists" for the account export's playlist file), a
    row that is not an object, a row of more than MAX_ROW_FIELDS fields.
    """
    body = data.removeprefix(_BOM)
    if _longest_without_a_quote(body) >= MAX_TOKEN_BYTES:
        raise JsonRowsError(
            f" is not JSON Spotify writes ({MAX_TOKEN_BYTES:,} bytes or more between two quotes)"
        )
    events = ijson.basic_parse(io.BytesIO(body), use_float=True, buf_size=PARSE_BUFFER_BYTES)
    rows = 0
    try:
        for row in _rows(events):
            rows += 1
            yield row
    except (ijson.JSONError, UnicodeDecodeError):
        where = f" (at row {rows + 1})" if rows else ""
        raise JsonRowsError(f" is not JSON Spotify writes{where}") from None


def _rows(events: Iterator[tuple[str, Any]]) -> Iterator[dict[str, Any]]:
    first = next(events, None)
    if first is None:
        raise JsonRowsError(" is not JSON Spotify writes")
    event, _ = first
    if event == "start_map":
        if _has_top_level_key(events, "playlists"):
            raise JsonRowsError(" is a list of playlists, not listening history")
        raise JsonRowsError(" is not a list of plays")
    if event != "start_array":
        raise JsonRowsError(" is not a list of plays")
    for number, (event, value) in enumerate(events, start=1):
        if event == "end_array":
            break
        if event != "start_map":
            kind = json_kind(value) if event in _SCALARS else _container_kind(event)
            raise JsonRowsError(f": row {number} is not a play but {kind}")
        yield _row(events, number)
    if next(events, None) is not None:
        raise JsonRowsError(" is not JSON Spotify writes")


def _row(events: Iterator[tuple[str, Any]], number: int) -> dict[str, Any]:
    """Build one row from the events after its start_map, up to its end_map."""
    row: dict[str, Any] = {}
    key = ""
    for event, value in events:
        if event == "end_map":
            return row
        if event == "map_key":
            key = value
            if len(row) >= MAX_ROW_FIELDS:
                raise JsonRowsError(f": row {number} has more than {MAX_ROW_FIELDS} fields")
        elif event in _SCALARS:
            row[key] = value
        else:  # a list or an object: passed over, event by event, never built
            row[key] = Nested(_container_kind(event))
            if not _skip_container(events):
                raise JsonRowsError(
                    f": row {number} has {MAX_NESTED_VALUES:,} values or more nested in {key!r}"
                )
    raise JsonRowsError(" is not JSON Spotify writes")


def _skip_container(events: Iterator[tuple[str, Any]]) -> bool:
    """Pass over a list or object to its end; False when it holds MAX_NESTED_VALUES or more."""
    depth = 1
    for count, (event, _) in enumerate(events):
        if count >= MAX_NESTED_VALUES:
            return False
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return True
    return True  # the document ended inside it: the caller finds it is not JSON


def _has_top_level_key(events: Iterator[tuple[str, Any]], wanted: str) -> bool:
    """Read a top-level object's keys (its values passed over) and tell whether one is `wanted`."""
    depth = 1
    for event, value in events:
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return False
        elif event == "map_key" and depth == 1 and value == wanted:
            return True
    return False


def _container_kind(event: str) -> str:
    return "a list" if event == "start_array" else "an object"
