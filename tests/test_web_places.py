"""How the pages say places, days, times and counts."""

from __future__ import annotations

import pytest

from shared.places import plural, show_day, show_time, state_label


@pytest.mark.parametrize(
    ("code", "label"),
    [("NY", "New York (NY)"), ("dc", "District of Columbia (DC)"), ("ZZ", "ZZ")],
)
def test_states_read_by_name(code: str, label: str) -> None:
    assert state_label(code) == label


@pytest.mark.parametrize(
    ("count", "words"),
    [(0, "0 shows"), (1, "1 show"), (2, "2 shows"), (1204, "1,204 shows")],
)
def test_counts_agree_with_their_noun(count: int, words: str) -> None:
    assert plural(count, "show") == words


@pytest.mark.parametrize(
    ("starts_at_local", "time_tbd", "day", "time"),
    [
        ("2026-11-24T20:30:00", False, "Tue, Nov 24", "8:30 PM"),
        ("2026-11-24T12:05:00", False, "Tue, Nov 24", "12:05 PM"),
        ("2026-11-24T09:00:00", False, "Tue, Nov 24", "9:00 AM"),
        ("2026-11-24T20:30:00", True, "Tue, Nov 24", "time TBA"),
        ("2026-11-24", False, "Tue, Nov 24", "time TBA"),
        ("2026-11-24T00:00:00", False, "Tue, Nov 24", "time TBA"),  # older datasets' unknown
        ("soon", False, "soon", "time TBA"),
    ],
)
def test_shows_say_weekday_date_and_time_or_tba(
    starts_at_local: str, time_tbd: bool, day: str, time: str
) -> None:
    assert (show_day(starts_at_local), show_time(starts_at_local, time_tbd)) == (day, time)
