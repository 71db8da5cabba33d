"""Performer names read out of an event's title, for listings that name no performers."""

from __future__ import annotations

import pytest

from etl.sources.titles import names_in_title


@pytest.mark.parametrize(
    ("title", "names"),
    [
        # Real attraction-less Ticketmaster events (../shared/real-api/ticketmaster/).
        ("NB RIDAZ LIVE IN CONCERT AR DON QUIXOTE IN LOS ANGELES", ("NB RIDAZ",)),
        (
            "JONATHAN KARRANT & FRIENDS! : A HOLIDAY CONCERT (Acclaimed Jazz Recording Artist)",
            ("JONATHAN KARRANT",),
        ),
        (
            "ALISAN PORTER (Winner of NBC's The Voice, Singer, Actor & Songwriter): "
            '"THE RIDE" EP Release Concert Event',
            ("ALISAN PORTER",),
        ),
        ("Max Styler", ("Max Styler",)),
        ("MAX POLLACK & AFRO-CUBAN JAZZ TAP", ("MAX POLLACK & AFRO-CUBAN JAZZ TAP",)),
        ("Melt", ("Melt",)),
        ("Coughlin", ("Coughlin",)),
        # Real titles of events that do list attractions: what the rules make of them.
        ("ThxSoMch with Max Fry", ("ThxSoMch", "Max Fry")),
        ("Shakira - Las Mujeres Ya No Lloran - World Tour", ("Shakira",)),
        ("It's Murph, Never Dull, Max Low, Naar", ("It's Murph, Never Dull, Max Low, Naar",)),
        (
            'SHELLY BERG TRIO | "ALEGRIA" CD Release Concert with special guests '
            "CARLITOS DEL PUERTO & DAFNIS PRIETO",
            ("SHELLY BERG TRIO", "CARLITOS DEL PUERTO & DAFNIS PRIETO"),
        ),
        ("Flasher with Kan Kan", ("Flasher", "Kan Kan")),
        # Never split on commas or "&".
        ("Earth, Wind & Fire", ("Earth, Wind & Fire",)),
        ("Hall & Oates with Squeeze", ("Hall & Oates", "Squeeze")),
        ("A w/ B featuring C feat. D", ("A", "B", "C", "D")),
        ("An Evening With Sigur Ros", ("Sigur Ros",)),
        ("Live", ("Live",)),
        ("P!nk", ("P!nk",)),
        ("Sting with Sting", ("Sting",)),
        ("(TBA)", ()),
        ("", ()),
    ],
)
def test_names_in_title(title: str, names: tuple[str, ...]) -> None:
    assert names_in_title(title) == names
