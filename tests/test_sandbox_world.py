"""Generated worlds: deterministic, in the APIs' own shapes, with every trap and its truth."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import requests

from etl.sources import OutsideUSError
from etl.sources import seatgeek as sg
from etl.sources import ticketmaster as tm
from sandbox.geo import STATE_CODES
from sandbox.world import generate_world
from shared.names import performer_key
from tests.clock import TEST_DAY, TEST_NOW
from tests.conftest import REPO_ROOT, free_port


def artist_ids_named(world: dict[str, Any], name: str) -> list[str]:
    return [a["id"] for a in world["spotify"]["artists"] if a["name"] == name]


def test_same_seed_same_world_other_seed_other_world() -> None:
    start = date(2026, 11, 20)

    first = generate_world(120, 300, seed=3, start=start)
    again = generate_world(120, 300, seed=3, start=start)
    other = generate_world(120, 300, seed=4, start=start)

    assert json.dumps(first) == json.dumps(again)
    assert json.dumps(first) != json.dumps(other)


def test_events_cover_every_state_and_dc(small_world: dict[str, Any]) -> None:
    # SeatGeek also lists a few venues abroad, with `state: null`.
    states = {e["venue"]["state"] for e in small_world["seatgeek"]["events"]} - {None}
    states |= {
        e["_embedded"]["venues"][0]["state"]["stateCode"]
        for e in small_world["ticketmaster"]["events"]
    }

    assert states == set(STATE_CODES)
    assert len(STATE_CODES) == 51


def test_lineups_have_one_to_four_performers_headliner_first(small_world: dict[str, Any]) -> None:
    sizes = Counter(len(e["performers"]) for e in small_world["seatgeek"]["events"])

    assert set(sizes) == {1, 2, 3, 4}
    for event in small_world["seatgeek"]["events"]:
        # As in real answers, only the headliner has `primary`; the others lack the key.
        assert [p.get("primary") for p in event["performers"]] == [True] + [None] * (
            len(event["performers"]) - 1
        )
        assert event["title"].startswith(event["performers"][0]["name"])


def test_few_seatgeek_performers_have_spotify_links(small_world: dict[str, Any]) -> None:
    performers = {p["id"]: p for e in small_world["seatgeek"]["events"] for p in e["performers"]}
    truth = small_world["truth"]["performers"]
    on_spotify = [p for p in performers.values() if truth[p["name"]]]
    # Real answers carry no `links` key at all but for rare performers (none in the recordings).
    linked = [p for p in performers.values() if "links" in p]

    assert 0 < len(linked) / len(on_spotify) < 0.05
    assert all(link["provider"] == "spotify" for p in linked for link in p["links"])
    for performer in linked:
        assert performer["links"][0]["id"] == f"spotify:artist:{truth[performer['name']]}"


def test_ticketmaster_attractions_carry_spotify_links_where_known(
    small_world: dict[str, Any],
) -> None:
    truth = small_world["truth"]["performers"]
    attractions = {
        a["id"]: a
        for e in small_world["ticketmaster"]["events"]
        for a in e["_embedded"].get("attractions", [])
    }
    on_spotify = [a for a in attractions.values() if truth[a["name"]]]
    linked = [a for a in attractions.values() if "externalLinks" in a]

    # Real pages: 9 of 13 performers on Spotify linked on one, 1 of 13 on another.
    assert 0.25 < len(linked) / len(on_spotify) < 0.55
    for attraction in linked:
        assert attraction["externalLinks"]["spotify"][0]["url"].endswith(
            "/" + truth[attraction["name"]]
        )


def test_events_hold_what_real_answers_hold_at_about_their_rates(
    small_world: dict[str, Any],
) -> None:
    seatgeek = small_world["seatgeek"]["events"]
    ticketmaster = small_world["ticketmaster"]["events"]
    seatgeek_tbd = [e for e in seatgeek if e["time_tbd"]]
    ticketmaster_tbd = [e for e in ticketmaster if e["dates"]["start"]["timeTBA"]]
    abroad = [e for e in seatgeek if e["venue"]["state"] is None]

    assert 0.05 < len(seatgeek_tbd) / len(seatgeek) < 0.14
    assert 0.05 < len(ticketmaster_tbd) / len(ticketmaster) < 0.14
    # SeatGeek's shape: the 03:30 placeholder, the UTC time derived from it.
    assert all(e["datetime_local"].endswith("T03:30:00") for e in seatgeek_tbd)
    assert all(e["date_tbd"] is False and e["datetime_tbd"] is False for e in seatgeek)
    # Ticketmaster's: neither a local time nor a UTC one.
    assert not any({"localTime", "dateTime"} & set(e["dates"]["start"]) for e in ticketmaster_tbd)
    no_attractions = [e for e in ticketmaster if "attractions" not in e["_embedded"]]
    assert 0.05 < len(no_attractions) / len(ticketmaster) < 0.16
    no_timezone = [e for e in ticketmaster if "timezone" not in e["dates"]]
    assert 0.05 < len(no_timezone) / len(ticketmaster) < 0.16
    assert abroad and all(e["venue"]["country"] != "US" for e in abroad)
    performers = [p for e in seatgeek for p in e["performers"]]
    assert all(p["genres"] for p in performers if "genres" in p)
    assert any("genres" not in p for p in performers)


def test_every_name_the_parsers_read_from_a_sandbox_event_has_its_truth(
    small_world: dict[str, Any],
) -> None:
    truth = small_world["truth"]["performers"]
    events = []
    for raw in small_world["seatgeek"]["events"]:
        try:
            events.append(sg.parse_event(raw))
        except OutsideUSError:
            continue
    events += [tm.parse_event(raw) for raw in small_world["ticketmaster"]["events"]]

    from_title = [p.name for e in events for p in e.performers if p.from_title]
    assert from_title  # attraction-less events name their acts in the title
    # Keyed as artists.csv keys them: a title may give the name in capitals.
    assert {performer_key(p.name) for e in events for p in e.performers} <= {
        performer_key(name) for name in truth
    }


def test_traps_are_present_with_their_truth(small_world: dict[str, Any]) -> None:
    truth = small_world["truth"]["performers"]
    names = Counter(a["name"] for a in small_world["spotify"]["artists"])

    # "X & The Y Band" listed against "X"
    assert truth["Bruce Springsteen & The E Street Band"] in artist_ids_named(
        small_world, "Bruce Springsteen"
    )
    assert any(" & The " in n or " and The " in n for n in truth if truth[n])
    # tribute bands are not the band they pay tribute to
    tributes = [n for n in truth if "Tribute" in n or "Experience" in n]
    assert tributes and all(truth[n] is None for n in tributes)
    assert names["Weezer"] == 1
    # short names beside longer, more popular ones
    assert truth["Sting"] in artist_ids_named(small_world, "Sting")
    assert names["Stingray"] == 1 and names["Yes Tribute"] == 1
    # leading "The", accents, "and" against "&", punctuation
    assert any(n.startswith("The ") for n in names) and any(n.startswith("The ") for n in truth)
    assert truth["Beyonce"] in artist_ids_named(small_world, "Beyoncé")
    assert truth["Sigur Ros"] in artist_ids_named(small_world, "Sigur Rós")
    assert truth["Simon and Garfunkel"] in artist_ids_named(small_world, "Simon & Garfunkel")
    assert truth["ACDC"] in artist_ids_named(small_world, "AC/DC")
    # two different artists with the same name; the performer is one of them
    duplicated = [n for n, count in names.items() if count > 1 and n in truth]
    assert duplicated
    assert all(truth[n] in artist_ids_named(small_world, n) for n in duplicated)
    # performers who are not on Spotify
    assert sum(1 for v in truth.values() if v is None) > 20


def test_users_playlists_hold_episodes_a_local_file_and_removed_tracks_spread_out(
    small_world: dict[str, Any],
) -> None:
    tracks = {t["id"] for t in small_world["spotify"]["tracks"]}
    episodes = {e["uri"] for e in small_world["spotify"]["episodes"]}

    for playlist in small_world["spotify"]["playlists"]:
        refs = playlist["track_ids"]
        others = [n for n, ref in enumerate(refs) if ref not in tracks]
        kinds = Counter(
            "removed" if ref is None else ref.split(":")[1] for ref in refs if ref not in tracks
        )

        assert len(refs) - len(others) == 25
        assert 1 <= kinds["episode"] <= 2 and kinds["local"] == 1 and 1 <= kinds["removed"] <= 2
        assert set(kinds) == {"episode", "local", "removed"}
        assert {ref for ref in refs if ref and ref.startswith("spotify:episode:")} <= episodes
        local = next(ref for ref in refs if ref and ref.startswith("spotify:local:"))
        assert len(local.split(":")) == 6 and local.split(":")[5].isdigit()
        assert max(others) - min(others) > len(refs) // 3


def test_episodes_are_podcast_episodes_with_their_show(small_world: dict[str, Any]) -> None:
    episodes = small_world["spotify"]["episodes"]

    assert episodes
    for episode in episodes:
        assert episode["type"] == "episode" and episode["uri"] == f"spotify:episode:{episode['id']}"
        assert episode["show"]["type"] == "show" and "artists" not in episode


def test_comedians_play_concert_venues(small_world: dict[str, Any]) -> None:
    comedians = [
        (event, p)
        for event in small_world["seatgeek"]["events"]
        for p in event["performers"]
        if p["type"] == "comedy"
    ]

    assert comedians
    assert all(event["type"] == "concert" for event, _ in comedians)


def test_world_command_prints_the_same_world_for_the_same_seed() -> None:
    command = [
        sys.executable,
        "-m",
        "sandbox",
        "world",
        "--artists",
        "60",
        "--events",
        "120",
        "--seed",
        "5",
        "--start",
        "2026-11-20",
    ]

    first = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    second = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60
    )

    world = json.loads(first.stdout)
    assert first.stdout == second.stdout
    assert set(world) >= {"spotify", "seatgeek", "ticketmaster", "truth"}
    assert {u["id"] for u in world["spotify"]["users"]} == {"alice", "bob", "mallory"}


def test_serve_command_serves_a_world_file(tmp_path: Path) -> None:
    world_file = tmp_path / "world.json"
    world_file.write_text(json.dumps(generate_world(60, 120, seed=2, start=TEST_DAY)))
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "serve",
            "--port",
            str(port),
            "--world",
            str(world_file),
            "--mode",
            "extended",
            "--now",
            TEST_NOW.isoformat(),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        while True:  # until it listens, or has died; a hang is pytest-timeout's
            try:
                stats = requests.get(f"http://127.0.0.1:{port}/_sandbox/stats", timeout=2).json()
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                time.sleep(0.2)
        answer = requests.get(
            f"http://127.0.0.1:{port}/seatgeek/2/events",
            params={"client_id": "sandbox-seatgeek", "per_page": 50},
            timeout=5,
        )

        assert stats["options"]["mode"] == "extended"
        assert answer.json()["meta"]["total"] == len(
            json.loads(world_file.read_text())["seatgeek"]["events"]
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
