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

from sandbox.geo import STATE_CODES
from sandbox.world import generate_world
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
    states = {e["venue"]["state"] for e in small_world["seatgeek"]["events"]}
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
        assert [p["primary"] for p in event["performers"]] == [True] + [False] * (
            len(event["performers"]) - 1
        )
        assert event["title"].startswith(event["performers"][0]["name"])


def test_some_performers_have_spotify_links_most_do_not(small_world: dict[str, Any]) -> None:
    performers = {p["id"]: p for e in small_world["seatgeek"]["events"] for p in e["performers"]}
    linked = [
        p for p in performers.values() if any(link["provider"] == "spotify" for link in p["links"])
    ]

    assert 0.03 < len(linked) / len(performers) < 0.4
    truth = small_world["truth"]["performers"]
    for performer in linked:
        assert performer["links"][0]["id"] == f"spotify:artist:{truth[performer['name']]}"


def test_ticketmaster_attractions_carry_spotify_links_where_known(
    small_world: dict[str, Any],
) -> None:
    truth = small_world["truth"]["performers"]
    linked = [
        a
        for e in small_world["ticketmaster"]["events"]
        for a in e["_embedded"]["attractions"]
        if "externalLinks" in a
    ]

    assert linked
    for attraction in linked:
        assert attraction["externalLinks"]["spotify"][0]["url"].endswith(
            "/" + truth[attraction["name"]]
        )


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
    world_file.write_text(json.dumps(generate_world(60, 120, seed=2)))
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
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                stats = requests.get(f"http://127.0.0.1:{port}/_sandbox/stats", timeout=2).json()
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline
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
