"""Say places and times as people read them: state names, weekdays, "time TBA", plurals."""

from __future__ import annotations

from datetime import date, datetime

from shared.config import STATE_NAMES


def state_label(code: str) -> str:
    """Name a state with its code: "New York (NY)"; an unknown code as it is."""
    name = STATE_NAMES.get(code.upper())
    return f"{name} ({code.upper()})" if name else code


def noun(count: int, singular: str, plural_form: str = "") -> str:
    """Return the word that agrees with count: "show" for 1, "shows" for 0 or 2."""
    return singular if count == 1 else (plural_form or f"{singular}s")


def plural(count: int, singular: str, plural_form: str = "") -> str:
    """Count a thing in words: "1 show", "2 shows", "1,204 shows"."""
    return f"{count:,} {noun(count, singular, plural_form)}"


def short_day(day: date) -> str:
    """Return a day as "Nov 24"."""
    return f"{day:%b} {day.day}"


def long_day(day: date) -> str:
    """Return a day with its weekday: "Tue, Nov 24"."""
    return f"{day:%a}, {day:%b} {day.day}"


def clock(moment: datetime) -> str:
    """Return a time of day as "8:30 PM" (US style, as the venues print it)."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment:%M} {'AM' if moment.hour < 12 else 'PM'}"


def show_day(starts_at_local: str) -> str:
    """Return a show's local date with its weekday ("Tue, Nov 24"), else the text as it is."""
    try:
        return long_day(date.fromisoformat(starts_at_local[:10]))
    except ValueError:
        return starts_at_local[:10]


def show_time(starts_at_local: str, time_tbd: bool) -> str:
    """Return a show's local start ("8:30 PM"), or "time TBA" when it is not announced.

    Midnight reads as not announced too: older datasets wrote an unknown time as 00:00.
    """
    if time_tbd or len(starts_at_local) < 16:
        return "time TBA"
    try:
        moment = datetime.fromisoformat(starts_at_local[:16])
    except ValueError:
        return "time TBA"
    if (moment.hour, moment.minute) == (0, 0):
        return "time TBA"
    return clock(moment)
