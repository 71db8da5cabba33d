"""Whatever JSON a source sends, a parser gives an Event or a MalformedEvent, nothing else."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from etl.sources import MalformedEvent
from etl.sources import seatgeek as sg
from etl.sources import ticketmaster as tm
from tests.test_event_sources import SEATGEEK_EVENT, TICKETMASTER_EVENT

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def json_paths_in(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Return the path of every value inside a JSON document, as key and index tuples."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        items = []
    for key, item in items:
        found += json_paths_in(item, (*prefix, key))
    return found


def set_at(raw: Any, path: tuple[Any, ...], value: Any) -> None:
    """Set the value at path, when an earlier change has not removed the way there."""
    target = raw
    try:
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        return


def mutated(base: dict[str, Any]) -> Any:
    """Return a strategy of events like base with a few fields, at any depth, set to anything."""

    def apply(changes: list[tuple[tuple[Any, ...], Any]]) -> dict[str, Any]:
        raw = copy.deepcopy(base)
        for path, value in changes:
            set_at(raw, path, value)
        return raw

    return st.lists(st.tuples(st.sampled_from(json_paths_in(base)), JSON_VALUES), max_size=4).map(
        apply
    )


@settings(max_examples=200, deadline=None)
@given(st.one_of(JSON_VALUES, mutated(SEATGEEK_EVENT)))
def test_any_json_through_seatgeek_parse_event_is_an_event_or_malformed(raw: Any) -> None:
    try:
        event = sg.parse_event(raw, state="NY")
    except MalformedEvent:
        return
    assert event.performers and event.url in ("", raw.get("url"))


@settings(max_examples=200, deadline=None)
@given(st.one_of(JSON_VALUES, mutated(TICKETMASTER_EVENT)))
def test_any_json_through_ticketmaster_parse_event_is_an_event_or_malformed(raw: Any) -> None:
    try:
        event = tm.parse_event(raw, state="NY")
    except MalformedEvent:
        return
    assert event.performers and event.url in ("", raw.get("url"))
