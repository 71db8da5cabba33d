"""Plan which performers to look up, and in what order."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from etl.concerts import ISO_UTC, with_performer_keys
from etl.matching import ShowFacts
from shared.datasets import OVERRIDES, load_dataset
from shared.names import performer_key
from shared.storage import Store

MISS_RETRY_AFTER = timedelta(days=90)
# An act on tour nearly always released something in the last three years; a namesake that did
# not is rarely the one on the bill. Used only to part namesakes nothing else told apart.
RECENT_RELEASES = timedelta(days=3 * 365)
FACTS_KEPT = 20  # titles and co-performers kept per performer as evidence


@dataclass(frozen=True)
class PerformerTodo:
    """A performer to look up: its name, what the sources said of it, and its first show."""

    key: str
    name: str
    first_show: str
    source_artist_id: str = ""
    facts: ShowFacts = field(default_factory=ShowFacts)


def plan_performers(
    concerts: pd.DataFrame,
    artists: pd.DataFrame,
    overrides: dict[str, str],
    now: datetime,
    wanted: Mapping[str, int] | None = None,
) -> list[PerformerTodo]:
    """Return the performers to look up (new, old misses, overridden), in look-up order."""
    if concerts.empty:
        return []
    cached = {row.performer_key: row for row in artists.itertuples(index=False)}
    retry_misses_before = (now - MISS_RETRY_AFTER).strftime(ISO_UTC)
    recent_since = (now - RECENT_RELEASES).strftime("%Y-%m-%d")
    frame = with_performer_keys(concerts)
    from_title = (
        frame["performer_from_title"]
        if "performer_from_title" in frame.columns
        else pd.Series(False, index=frame.index)
    )
    bills: dict[tuple[str, str], list[tuple[str, str]]] = {}  # event -> (name, key) on its bill
    for source, event_id, name, name_key in zip(
        frame["source"],
        frame["event_id"],
        frame["performer_name"],
        frame["performer_key"],
        strict=True,
    ):
        bills.setdefault((str(source), str(event_id)), []).append((str(name), str(name_key)))
    todo = []
    for key, group in frame.groupby("performer_key", sort=False):
        if not key:
            continue
        row = cached.get(key)
        override = overrides.get(str(key), "")
        if row is not None:
            overridden = bool(override) and override != row.spotify_artist_id
            stale_miss = row.match_method == "none" and str(row.checked_at) < retry_misses_before
            if not (overridden or stale_miss):
                continue
        links = [link for link in group["source_spotify_artist_id"] if link]
        name = str(group["performer_name"].mode().iloc[0])
        events = set(zip(group["source"].astype(str), group["event_id"].astype(str), strict=True))
        others = dict.fromkeys(
            other for event in events for other, other_key in bills[event] if other_key != key
        )
        facts = ShowFacts(
            genres=tuple(
                dict.fromkeys(g for cell in group["genres"] for g in str(cell).split("|") if g)
            ),
            titles=tuple(dict.fromkeys(str(t) for t in group["event_title"]))[:FACTS_KEPT],
            co_performers=tuple(others)[:FACTS_KEPT],
            from_title=bool(from_title[group.index].all()),
            recent_since=recent_since,
        )
        todo.append(
            PerformerTodo(
                key=str(key),
                name=name,
                first_show=str(group["starts_at"].min()),
                source_artist_id=links[0] if links else "",
                facts=facts,
            )
        )
    return order_performers(todo, wanted)


def order_performers(
    todo: list[PerformerTodo], wanted: Mapping[str, int] | None = None
) -> list[PerformerTodo]:
    """Return the performers in the order to look them up: wanted first, soonest show first.

    The one place that decides the order: a run that stops on quota or budget leaves the
    tail of this list for the next run. `wanted` maps a performer key to its tier (see
    `wanted_first`); within a tier, and for everyone else after the tiers, soonest show first.
    """
    tier = wanted_first(wanted)
    return sorted(
        todo, key=lambda performer: (tier(performer.key), performer.first_show, performer.key)
    )


def wanted_first(wanted: Mapping[str, int] | None) -> Callable[[str], tuple[bool, int]]:
    """Return a sort key for a performer key: tier 0 (saved areas), 1 (previewed), ..., none.

    Performers in no tier come after every tier, so a tier's number is free to grow.
    """
    tiers = wanted or {}
    return lambda key: (key not in tiers, tiers.get(key, 0))


def load_overrides(store: Store) -> dict[str, str]:
    """Return the hand-made performer → artist fixes, keyed by performer key."""
    frame, _ = load_dataset(store, OVERRIDES)
    return {
        performer_key(str(row.performer_key)): str(row.spotify_artist_id).strip()
        for row in frame.itertuples(index=False)
        if str(row.performer_key).strip() and str(row.spotify_artist_id).strip()
    }
