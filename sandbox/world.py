"""Generate a sandbox world: Spotify catalogue, users, and concerts, with name-matching traps."""

from __future__ import annotations

import hashlib
import json
import random
import string
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

from sandbox.geo import CITIES, City
from shared.config import STATE_NAMES

BASE62 = string.digits + string.ascii_letters
GENRES = [
    "rock",
    "indie",
    "pop",
    "hip-hop",
    "country",
    "jazz",
    "electronic",
    "folk",
    "punk",
    "metal",
    "r&b",
    "blues",
    "latin",
    "soul",
    "classical",
]

_ADJECTIVES = [
    "Silver",
    "Broken",
    "Electric",
    "Velvet",
    "Hollow",
    "Golden",
    "Midnight",
    "Paper",
    "Neon",
    "Wild",
    "Quiet",
    "Crimson",
    "Lucky",
    "Glass",
    "Northern",
    "Young",
    "Cosmic",
    "Rusty",
    "Lonely",
    "Bright",
    "Atomic",
    "Sleepy",
    "Savage",
    "Tender",
    "Static",
    "Burning",
    "Frozen",
    "Hidden",
    "Little",
    "Modern",
    "Amber",
    "Blue",
    "Copper",
    "Distant",
    "Empty",
    "Faded",
    "Gentle",
    "Heavy",
    "Iron",
    "Jade",
    "Kind",
    "Lost",
    "Magic",
    "Noble",
    "Open",
    "Pale",
    "Restless",
    "Secret",
    "Tired",
    "Wandering",
]
_NOUNS = [
    "Owl",
    "Harbor",
    "Signal",
    "Garden",
    "River",
    "Canyon",
    "Echo",
    "Lantern",
    "Wolf",
    "Engine",
    "Mirror",
    "Comet",
    "Orchard",
    "Parade",
    "Tiger",
    "Satellite",
    "Ghost",
    "Pilot",
    "Meadow",
    "Thunder",
    "Arrow",
    "Daisy",
    "Monarch",
    "Violet",
    "Raven",
    "Highway",
    "Anchor",
    "Falcon",
    "Prairie",
    "Cathedral",
    "Bison",
    "Compass",
    "Dynamo",
    "Ember",
    "Fox",
    "Glacier",
    "Hornet",
    "Island",
    "Jackal",
    "Kite",
    "Lagoon",
    "Magnet",
    "Nomad",
    "Otter",
    "Pebble",
    "Quarry",
    "Rocket",
    "Sparrow",
    "Tundra",
    "Voyager",
]
_FIRST = [
    "Maya",
    "Jonah",
    "Lucia",
    "Theo",
    "Ada",
    "Marcus",
    "Nina",
    "Elliot",
    "Rosa",
    "Caleb",
    "Ivy",
    "Dante",
    "June",
    "Felix",
    "Hazel",
    "Omar",
    "Greta",
    "Levi",
    "Clara",
    "Ezra",
]
_LAST = [
    "Hart",
    "Vance",
    "Okafor",
    "Lindqvist",
    "Moreno",
    "Castillo",
    "Whitfield",
    "Nakamura",
    "Brennan",
    "Delacroix",
    "Sato",
    "Quinn",
    "Abernathy",
    "Kowalski",
    "Reyes",
    "Holloway",
    "Fairbanks",
    "Ashby",
    "Mercer",
    "Sinclair",
]
_ACCENTED = [
    "Björk Sørensen",
    "Sigur Rós",
    "Beyoncé",
    "Mötley Crüe",
    "Zoë Ångström",
    "Céline Ménard",
    "Jóhann Jónsson",
    "Renée Fleur",
    "Amélie Noël",
    "Åsa Lindén",
    "Ólafur Arnalds",
    "Léa Sérénade",
]
_SHORT = [
    ("Yes", ["Yes Tribute", "Yesterday's Kids"]),
    ("Sting", ["Stingray"]),
    ("Low", ["Lowlife", "Low Cut Connie"]),
    ("Air", ["Airborne Toxic"]),
    ("Muse", ["Museum Piece"]),
    ("Hum", ["Humble Pie Revival"]),
    ("Tool", ["Toolbox Kid"]),
    ("Cake", ["Cakewalk"]),
    ("Live", ["Live Wire"]),
    ("Kiss", ["Kissing Cousins"]),
]
_FAMOUS = [
    "Weezer",
    "Fleetwood Mac",
    "Pink Floyd",
    "The Beatles",
    "Led Zeppelin",
    "Queen",
    "ABBA",
    "Nirvana",
    "Radiohead",
    "The Eagles",
    "Journey",
    "Metallica",
]
_AND_PAIRS = [
    ("Simon & Garfunkel", "Simon and Garfunkel"),
    ("Hall & Oates", "Hall and Oates"),
    ("Mumford and Sons", "Mumford & Sons"),
    ("Earth, Wind & Fire", "Earth Wind and Fire"),
    ("Sly and the Family Stone", "Sly & The Family Stone"),
]
_PUNCTUATED = [
    ("AC/DC", "ACDC"),
    ("Guns N' Roses", "Guns N Roses"),
    ("P!nk", "Pink"),
    ("Florence + The Machine", "Florence and the Machine"),
]
_COMEDIANS = [
    "Dana Whitlock",
    "Ravi Chandran",
    "Molly Prosser",
    "Gus Tremblay",
    "Ines Batista",
    "Walt Kerrigan",
]
# Share of Spotify artists whose `genres` is not empty: in real 2026 search answers most are
# empty (../shared/real-api/spotify: 8 of 10 in a search, the artist object too).
ARTISTS_WITH_GENRES = 0.25
# Share of touring acts whose newest release is under three years old (an assumption).
TOURING_WITH_RECENT_RELEASE = 0.85
OTHERS_WITH_RECENT = 0.3  # of artists not on any bill
# How much busier a state's concert market is than a small state's.
MARKET_WEIGHT = {"CA": 20.0, "NY": 20.0, "TX": 10.0, "FL": 8.0, "IL": 8.0, "TN": 8.0, "GA": 4.0,
                 "WA": 4.0, "MA": 4.0, "PA": 4.0, "CO": 4.0}  # fmt: skip
DEFAULT_USERS = [
    ("alice", "Alice Sandbox", True),
    ("bob", "Bob Sandbox", True),
    ("mallory", "Mallory Outsider", False),
]


def strip_accents(text: str) -> str:
    """Return the text without accents, as a ticket site might list it."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ø", "o").replace("Ø", "O"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def spotify_id(rng: random.Random) -> str:
    """Return a random 22-character base62 id, as Spotify's are."""
    return "".join(rng.choice(BASE62) for _ in range(22))


def discover_weekly_id(user_id: str) -> str:
    """Return the id of a user's Discover Weekly (stable, Spotify-owned)."""
    digest = hashlib.sha256(f"discover-weekly:{user_id}".encode()).hexdigest()
    return "37i9dQZEVXcDW" + "".join(
        BASE62[int(digest[i : i + 2], 16) % 62] for i in range(0, 18, 2)
    )


def daily_playlist_id(key: str) -> str:
    """Return the id of a user's churning playlist (stable, whatever the world's seed)."""
    digest = hashlib.sha256(f"daily-playlist:{key}".encode()).hexdigest()
    return "".join(BASE62[int(digest[i : i + 2], 16) % 62] for i in range(0, 44, 2))


# Users' playlists whose contents change every sandbox day (sandbox/charts.py), so that a
# Development Mode app has playlists it may read that change daily: (key, name, owner,
# collaborators, size, churn). The collaborative one is private, as Spotify requires.
DAILY_PLAYLISTS = [
    ("alice-daily-50", "Alice's daily 50", "alice", (), 50, "top"),
    ("office-chart", "Office chart", "bob", ("alice",), 40, "viral"),
]


def _daily_playlists() -> list[dict[str, Any]]:
    """Return the world's churning user playlists: ids, owners, collaborators and churn."""
    return [
        {
            "id": daily_playlist_id(key),
            "name": name,
            "description": "Changes every day.",
            "public": False,
            "collaborative": bool(collaborators),
            "type": "playlist",
            "uri": f"spotify:playlist:{daily_playlist_id(key)}",
            "owner_id": owner,
            "collaborators": list(collaborators),
            "size": size,
            "churn": churn,
        }
        for key, name, owner, collaborators, size, churn in DAILY_PLAYLISTS
    ]


@dataclass
class _Performer:
    """A performer as event sources list them, and the Spotify artist they truly are."""

    name: str
    truth: str | None
    genres: list[str]
    kind: str = "band"
    link: bool = False
    seatgeek_id: int = 0
    ticketmaster_id: str = ""


@dataclass
class _Builder:
    rng: random.Random
    artists: list[dict[str, Any]] = field(default_factory=list)
    tracks: list[dict[str, Any]] = field(default_factory=list)
    performers: list[_Performer] = field(default_factory=list)
    used_names: set[str] = field(default_factory=set)
    albums_of: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    not_acts: set[str] = field(default_factory=set)  # event names that name no act

    def add_artist(
        self, name: str, popularity: int, genres: list[str], n_tracks: int | None = None
    ) -> str:
        artist_id = spotify_id(self.rng)
        count = n_tracks if n_tracks is not None else self.rng.randint(3, 12)
        rng = self.rng
        artist = {
            "id": artist_id,
            "name": name,
            "type": "artist",
            "uri": f"spotify:artist:{artist_id}",
            # In 2026 search answers most artists have `genres: []` (real-api/spotify).
            "genres": genres if rng.random() < ARTISTS_WITH_GENRES else [],
            "popularity": popularity,
            "followers": {"href": None, "total": popularity * rng.randint(100, 5000)},
            "images": [],
            "top_track_ids": [],
        }
        # One to three albums; release dates are set once it is known who tours (date_releases).
        albums = [
            {
                "id": spotify_id(rng),
                "name": f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}s",
                "album_type": "album",
                "release_date": "",
                "release_date_precision": "day",
            }
            for _ in range(min(max(count, 1), rng.randint(1, 3)))
        ]
        self.albums_of[artist_id] = albums
        track_ids = []
        for number in range(count):
            track_id = spotify_id(rng)
            track_ids.append(track_id)
            self.tracks.append(
                {
                    "id": track_id,
                    "name": f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}",
                    "type": "track",
                    "uri": f"spotify:track:{track_id}",
                    "artists": [
                        {"id": artist_id, "name": name, "type": "artist", "uri": artist["uri"]}
                    ],
                    "album": albums[number % len(albums)],
                    "duration_ms": rng.randint(120_000, 420_000),
                    "explicit": rng.random() < 0.15,
                    "popularity": max(0, popularity - rng.randint(0, 30)),
                    "track_number": number // len(albums) + 1,
                    "is_local": False,
                    "external_ids": {"isrc": f"USX{rng.randint(10**9, 10**10 - 1)}"},
                    "available_markets": ["US", "CA", "MX"],
                }
            )
        by_popularity = sorted(
            (track for track in self.tracks[-count:] if count), key=lambda t: -t["popularity"]
        )
        artist["top_track_ids"] = [track["id"] for track in by_popularity[:10]]
        self.artists.append(artist)
        return artist_id

    def date_releases(self, start: date) -> None:
        """Date every album: acts on tour mostly have a recent one; the rest are older.

        An act that tours in 2026 has usually released something in the last three years, and
        many that do not tour have too (both shares are our assumptions, not measured): so
        "only one of two namesakes released lately" is evidence, not proof.
        """
        rng = self.rng
        touring = {performer.truth for performer in self.performers if performer.truth}
        for artist_id, albums in self.albums_of.items():
            share = TOURING_WITH_RECENT_RELEASE if artist_id in touring else OTHERS_WITH_RECENT
            newest_recent = rng.random() < share
            for number, album in enumerate(albums):
                if number == 0 and newest_recent:
                    day = start - timedelta(days=rng.randint(30, 900))
                else:  # 4 to 60 years back: the same draws whatever the start's year
                    year = start.year - rng.randint(4, 60)
                    day = date(year, rng.randint(1, 12), 1) + timedelta(days=rng.randint(0, 27))
                album["release_date"] = day.isoformat()

    def use(self, name: str) -> bool:
        """Reserve a name; False when it (or the same name with/without "The") is taken."""
        key = name.lower().removeprefix("the ")
        if key in self.used_names:
            return False
        self.used_names.add(key)
        return True

    def unique_name(self, make: Any) -> str:
        # Only the traps may share a name: an accidental twin would be a trap with no truth.
        for _ in range(1000):
            name: str = make()
            if self.use(name):
                return name
        raise RuntimeError("ran out of generated names")

    def add_performer(self, performer: _Performer) -> None:
        self.use(performer.name)
        self.performers.append(performer)


def _plural(noun: str) -> str:
    if noun.endswith(("s", "x", "ch")):
        return noun + "es"
    return noun[:-1] + "ves" if noun.endswith("f") else noun + "s"


def _band_name(rng: random.Random) -> str:
    pattern = rng.randrange(6)
    adjective, noun = rng.choice(_ADJECTIVES), rng.choice(_NOUNS)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    if pattern == 0:
        return f"{adjective} {_plural(noun)}"
    if pattern == 1:
        return f"The {adjective} {_plural(noun)}"
    if pattern == 2:
        return f"{first} {last}"
    if pattern == 3:
        return f"{noun} {rng.choice(_NOUNS)}"
    if pattern == 4:
        return f"{first} {last} Trio" if rng.random() < 0.5 else f"DJ {adjective} {noun}"
    return f"{adjective} {noun} {rng.choice(['Club', 'Society', 'Collective', 'Revival', 'Union'])}"


def _genres(rng: random.Random) -> list[str]:
    return rng.sample(GENRES, rng.randint(1, 2))


def _add_namesakes(builder: _Builder, scale: int) -> None:
    """Add performers whose name two or three Spotify artists share."""
    rng, add = builder.rng, builder.add_artist
    for index in range(max(4, scale // 80)):
        # Namesakes: two (sometimes three, as Spotify has "Muse", "MUSE" and "M.U.S.E.") artists
        # of one name. The act on the bill is the popular one or the obscure one, as in life;
        # most have no genres, so genres rarely tell them apart.
        name = builder.unique_name(lambda: _band_name(rng))
        genres_true = rng.sample(GENRES, 2)
        # Namesakes may share a genre (two rock bands of one name): then genres cannot tell.
        other_genre = genres_true[0] if rng.random() < 0.3 else rng.choice(GENRES)
        genres_other = [other_genre]
        popular, obscure = rng.randint(45, 90), rng.randint(5, 40)
        true_is_popular = rng.random() < 0.5
        true_id = add(name, popular if true_is_popular else obscure, genres_true)
        add(name, obscure if true_is_popular else popular, genres_other)
        if index % 3 == 0:
            add(name.upper(), rng.randint(0, 20), [])
        builder.add_performer(_Performer(name, true_id, genres_true, link=rng.random() < 0.5))


def _add_traps(builder: _Builder, scale: int) -> None:
    """Add the performers that break naive name matching, each with its true Spotify artist."""
    rng = builder.rng
    add, perf = builder.add_artist, builder.add_performer
    for name, decoys in _SHORT:
        genres = _genres(rng)
        perf(_Performer(name, add(name, rng.randint(40, 70), genres), genres))
        for decoy in decoys:
            add(decoy, rng.randint(60, 95), _genres(rng))
            builder.use(decoy)
    for famous in _FAMOUS:
        genres = _genres(rng)
        famous_id = add(famous, rng.randint(75, 95), genres)
        builder.use(famous)
        base = famous.removeprefix("The ")
        tribute = rng.choice(
            [f"{famous} Tribute", f"{base} Tribute Band", f"The {base} Experience"]
        )
        perf(_Performer(tribute, None, genres, kind="tribute"))
        if rng.random() < 0.5:
            perf(_Performer(famous, famous_id, genres, link=rng.random() < 0.3))
    for accented in _ACCENTED:
        genres = _genres(rng)
        plain = strip_accents(accented)
        perf(_Performer(plain, add(accented, rng.randint(30, 90), genres), genres))
    boss = add("Bruce Springsteen", 85, ["rock"])
    builder.use("Bruce Springsteen")
    perf(_Performer("Bruce Springsteen & The E Street Band", boss, ["rock"]))
    for spotify_name, listed in _AND_PAIRS + _PUNCTUATED:
        genres = _genres(rng)
        perf(_Performer(listed, add(spotify_name, rng.randint(50, 90), genres), genres))
    for index in range(max(6, scale // 40)):
        genres = _genres(rng)
        leader = builder.unique_name(lambda: f"{rng.choice(_FIRST)} {rng.choice(_LAST)}")
        band = rng.choice(
            [
                "The E Street Band",
                f"The {rng.choice(_NOUNS)} Band",
                f"The {rng.choice(_ADJECTIVES)} {_plural(rng.choice(_NOUNS))}",
            ]
        )
        joiner = "&" if index % 2 == 0 else "and"
        perf(
            _Performer(
                f"{leader} {joiner} {band}", add(leader, rng.randint(20, 80), genres), genres
            )
        )
    for _ in range(max(6, scale // 40)):
        genres = _genres(rng)
        name = builder.unique_name(
            lambda: f"The {rng.choice(_ADJECTIVES)} {_plural(rng.choice(_NOUNS))}"
        )
        listed = name.removeprefix("The ") if rng.random() < 0.5 else name
        spotify_name = name if listed != name else name.removeprefix("The ")
        perf(_Performer(listed, add(spotify_name, rng.randint(10, 70), genres), genres))
    _add_namesakes(builder, scale)
    for _ in range(max(10, scale // 12)):
        name = builder.unique_name(lambda: _band_name(rng))
        perf(_Performer(name, None, _genres(rng), kind="local"))
        if rng.random() < 0.5:
            near = (
                name.removeprefix("The ").rstrip("s") if rng.random() < 0.5 else f"{name} Revival"
            )
            if builder.use(near):
                add(near, rng.randint(20, 70), _genres(rng))
    for comedian in _COMEDIANS:
        on_spotify = rng.random() < 0.5
        truth = (
            add(comedian, rng.randint(10, 50), ["comedy"], n_tracks=rng.randint(2, 6))
            if on_spotify
            else None
        )
        perf(_Performer(comedian, truth, [], kind="comedian"))


def generate_world(
    artists: int = 400, events: int = 1200, seed: int = 1, start: date | None = None
) -> dict[str, Any]:
    """Generate a world of about `artists` performers and `events` events, deterministically."""
    rng = random.Random(seed)
    start = start or datetime.now(UTC).date()
    builder = _Builder(rng)
    _add_traps(builder, artists)
    while len(builder.performers) < artists:
        genres = _genres(rng)
        name = builder.unique_name(lambda: _band_name(rng))
        popularity = int(rng.triangular(0, 100, 30))
        builder.add_performer(
            _Performer(
                name, builder.add_artist(name, popularity, genres), genres, link=rng.random() < 0.15
            )
        )
    for _ in range(max(20, artists // 4)):
        name = builder.unique_name(lambda: _band_name(rng))
        builder.add_artist(name, int(rng.triangular(0, 100, 40)), _genres(rng))
    builder.date_releases(start)
    for index, performer in enumerate(builder.performers):
        performer.seatgeek_id = 100_000 + index
        performer.ticketmaster_id = (
            "K8vZ917" + "".join(rng.choice(BASE62) for _ in range(5)) + str(index)
        )
    seatgeek_events, ticketmaster_events = _events(builder, events, start)
    world = {
        "generated": {
            "artists": artists,
            "events": events,
            "seed": seed,
            "start": start.isoformat(),
        },
        "spotify": {
            "artists": builder.artists,
            "tracks": builder.tracks,
            "users": [
                {
                    "id": uid,
                    "display_name": name,
                    "account_id": hashlib.sha256(uid.encode()).hexdigest()[:24],
                    "allowlisted": allowlisted,
                }
                for uid, name, allowlisted in DEFAULT_USERS
            ],
            "playlists": _user_playlists(builder),
            "episodes": _podcast_episodes(),
            "daily_playlists": _daily_playlists(),
        },
        "seatgeek": {"events": seatgeek_events},
        "ticketmaster": {"events": ticketmaster_events},
        "truth": {
            "performers": {
                **{name: None for name in sorted(builder.not_acts)},
                **{p.name: p.truth for p in builder.performers},
            }
        },
    }
    return world


_SHOWS = [
    ("Opening Act Radio", "Sandbox Audio", "Interviews with the bands opening tonight."),
    ("Setlist Stories", "Tour Bus Media", "One concert, one setlist, every song's story."),
    ("The Green Room", "Backstage Pods", "What happens before the lights go down."),
]
EPISODES_PER_SHOW = 4
LOCAL_ALBUMS = ["Home Recordings", "Live at the Tavern", "Demos", "Voice Memos"]


def _podcast_episodes() -> list[dict[str, Any]]:
    """Return the sandbox's podcast episodes in the API's shape, each with its show.

    The same in every world (their own seed), so that `_user_playlists` can pick from them.
    """
    rng = random.Random("sandbox-podcasts")
    episodes = []
    for show_name, publisher, about in _SHOWS:
        show_id = spotify_id(rng)
        show = {
            "id": show_id,
            "name": show_name,
            "publisher": publisher,
            "description": about,
            "type": "show",
            "uri": f"spotify:show:{show_id}",
            "media_type": "audio",
            "explicit": False,
            "is_externally_hosted": False,
            "languages": ["en-US"],
            "copyrights": [],
        }
        for number in range(1, EPISODES_PER_SHOW + 1):
            episode_id = spotify_id(rng)
            episodes.append(
                {
                    "id": episode_id,
                    "name": f"{show_name} {number}: {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}",
                    "type": "episode",
                    "uri": f"spotify:episode:{episode_id}",
                    "description": f"{about} Part {number}.",
                    "duration_ms": rng.randint(20, 90) * 60_000,
                    "explicit": False,
                    "release_date": f"2026-{rng.randint(1, 10):02d}-{rng.randint(1, 28):02d}",
                    "release_date_precision": "day",
                    "language": "en-US",
                    "languages": ["en-US"],
                    "is_externally_hosted": False,
                    "is_playable": True,
                    "audio_preview_url": f"https://p.scdn.co/mp3-preview/{episode_id.lower()}",
                    "show": show,
                }
            )
    return episodes


def _local_file_uri(rng: random.Random) -> str:
    """Return the URI Spotify gives a local file: spotify:local:artist:album:title:seconds."""
    parts = [
        f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
        rng.choice(LOCAL_ALBUMS),
        f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} (demo)",
    ]
    seconds = rng.randint(120, 360)
    return ":".join(["spotify:local", *(quote_plus(part) for part in parts), str(seconds)])


def _user_playlists(builder: _Builder) -> list[dict[str, Any]]:
    """Give each user a playlist of their own, with what real playlists hold besides tracks.

    A playlist's `track_ids` entries are a track id, a `spotify:episode:<id>` URI (a podcast
    episode of `spotify.episodes`), a `spotify:local:...` URI (a local file), or null (a track
    removed from Spotify). Each user's holds 25 tracks, 1-2 episodes, 1 local file and 1-2
    removed tracks, the others spread through the list, one in each stretch of it.
    """
    rng = builder.rng
    episode_uris = [episode["uri"] for episode in _podcast_episodes()]
    playlists = []
    for user_id, display_name, _ in DEFAULT_USERS:
        tracks = iter(track["id"] for track in rng.sample(builder.tracks, 25))
        others: list[str | None] = [
            *rng.sample(episode_uris, rng.randint(1, 2)),
            _local_file_uri(rng),
            *[None] * rng.randint(1, 2),
        ]
        rng.shuffle(others)
        total = 25 + len(others)
        stretch = total // len(others)
        at = {index * stretch + rng.randrange(stretch): other for index, other in enumerate(others)}
        track_ids = [at[position] if position in at else next(tracks) for position in range(total)]
        playlist_id = spotify_id(rng)
        playlists.append(
            {
                "id": playlist_id,
                "name": f"{display_name.split()[0]}'s Discover Weekly saves",
                "description": "",
                "public": False,
                "collaborative": False,
                "type": "playlist",
                "uri": f"spotify:playlist:{playlist_id}",
                "owner_id": user_id,
                "track_ids": track_ids,
            }
        )
    return playlists


# How often real answers hold what a naive stand-in would leave out (see ../shared/real-api/):
# The recordings' SeatGeek pages list 7 of 20 shows with no time (T03:30 placeholders), but they
# are first pages sorted by time, where those 03:30 placeholders sort first: a whole listing
# holds far fewer. 9% keeps TBD shows common enough to matter, as real users meet them.
TIME_TBD_SHARE = 0.09
# About one Ticketmaster music event in ten names no attractions (PLATFORM.md; 7 of 30 on the
# recorded pages); the act is then only in the event's name.
NO_ATTRACTIONS_SHARE = 0.10
# Ticketmaster events without `dates.timezone` (2 of 20 on one recorded page; the venue has it).
NO_EVENT_TIMEZONE_SHARE = 0.10
# SeatGeek performer `links` are rare: none in the recordings (PLATFORM.md: "for some performers
# only"). About 2% of the performers on Spotify carry one.
SEATGEEK_LINKED_SHARE = 0.02
# Ticketmaster attractions with `externalLinks.spotify`, of the performers on Spotify: 9 of 13
# on one recorded page, 1 of 13 on another.
TICKETMASTER_LINKED_SHARE = 0.40
# Venues outside the US that SeatGeek lists too (its venues there have `state: null`); they are
# served only to queries without a state, as SeatGeek's own would be.
_FOREIGN_CITIES = [
    ("Toronto", "Canada", "America/Toronto", 43.65, -79.38, "M5V 2T6"),
    ("Mexico City", "Mexico", "America/Mexico_City", 19.43, -99.13, "06000"),
    ("Brasilia", "Brazil", "America/Sao_Paulo", -15.79, -47.88, "70070701"),
]


def _events(
    builder: _Builder, count: int, start: date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    # Events draw from a stream of their own, so that changing them leaves the rest of the world
    # (catalogue, playlists) as it was for a seed.
    rng = random.Random(builder.rng.getrandbits(64))
    venues = _venues(rng)
    seatgeek: list[dict[str, Any]] = []
    ticketmaster: list[dict[str, Any]] = []
    performers = builder.performers
    on_spotify = [p.name for p in performers if p.truth]
    seatgeek_linked = set(
        rng.sample(on_spotify, max(1, round(len(on_spotify) * SEATGEEK_LINKED_SHARE)))
    )
    ticketmaster_linked = set(
        rng.sample(on_spotify, max(1, round(len(on_spotify) * TICKETMASTER_LINKED_SHARE)))
    )
    popular = [1.0 / (1 + index % 50) for index in range(len(performers))]
    booked: set[tuple[int, date, time]] = set()
    headlining: set[tuple[int, date, str]] = set()
    weights = [MARKET_WEIGHT.get(venue["city"].state, 1.0) for venue in venues]
    for index in range(count):
        # Every venue gets a show first; then big markets get many more, as they do.
        venue = venues[index] if index < len(venues) else rng.choices(venues, weights)[0]
        city: City = venue["city"]
        lineup_size = rng.choices([1, 2, 3, 4], weights=[4, 4, 2, 1])[0]
        lineup: list[_Performer] = []
        while len(lineup) < lineup_size:
            candidate = (
                rng.choices(performers, weights=popular)[0]
                if rng.random() < 0.3
                else rng.choice(performers)
            )
            if candidate not in lineup:
                lineup.append(candidate)
        # A venue holds one show at a time, and an act headlines a venue once a day (so that a
        # show whose time one source does not know yet is still one show): draw again until free.
        for _ in range(200):
            day = start + timedelta(days=rng.randint(-3, 120))
            slot = time(rng.choice([13, 16, 18, 19, 20, 21, 22]), rng.choice([0, 30]))
            if (venue["id"], day, slot) not in booked and (
                venue["id"],
                day,
                lineup[0].name,
            ) not in headlining:
                break
        booked.add((venue["id"], day, slot))
        headlining.add((venue["id"], day, lineup[0].name))
        local = datetime.combine(day, slot, ZoneInfo(city.timezone))
        where = rng.random()
        title = lineup[0].name + (
            f" with {', '.join(p.name for p in lineup[1:])}" if len(lineup) > 1 else ""
        )
        # Each source learns the time on its own: one may list a show as TBD, the other not.
        if where < 0.65:
            seatgeek.append(
                _seatgeek_event(
                    7_000_000 + index,
                    title,
                    venue,
                    local=local,
                    lineup=lineup,
                    time_tbd=rng.random() < TIME_TBD_SHARE,
                    linked=seatgeek_linked,
                )
            )
        if where >= 0.45:
            ticketmaster.append(
                _ticketmaster_event(
                    rng,
                    title,
                    venue,
                    local=local,
                    lineup=lineup,
                    time_tbd=rng.random() < TIME_TBD_SHARE,
                    linked=ticketmaster_linked,
                    not_acts=builder.not_acts,
                )
            )
    for number in range(max(2, count // 300)):
        name, country, timezone, lat, lon, postal = _FOREIGN_CITIES[number % len(_FOREIGN_CITIES)]
        venue = {
            "id": 90_000 + number,
            "name": f"Estadio {rng.choice(_NOUNS)}",
            "city": City(name, "", lat, lon, timezone, postal),
            "country": country,
            "lat": lat,
            "lon": lon,
            "address": f"{rng.randint(1, 999)} Avenida {rng.choice(_NOUNS)}",
        }
        day = start + timedelta(days=rng.randint(1, 120))
        headliner = rng.choice(performers)
        seatgeek.append(
            _seatgeek_event(
                7_900_000 + number,
                headliner.name,
                venue,
                local=datetime.combine(day, time(20, 0), ZoneInfo(timezone)),
                lineup=[headliner],
                time_tbd=rng.random() < TIME_TBD_SHARE,
                linked=seatgeek_linked,
            )
        )
    return seatgeek, ticketmaster


def _venues(rng: random.Random) -> list[dict[str, Any]]:
    venues = []
    kinds = ["Ballroom", "Music Hall", "Theater", "Amphitheater", "Tavern", "Arena", "Lounge"]
    for index, city in enumerate(CITIES):
        for number in range(rng.randint(2, 4)):
            venues.append(
                {
                    "id": 50_000 + index * 10 + number,
                    "name": f"The {rng.choice(_NOUNS)} {rng.choice(kinds)}",
                    "city": city,
                    "country": "US",
                    "lat": round(city.lat + rng.uniform(-0.05, 0.05), 5),
                    "lon": round(city.lon + rng.uniform(-0.05, 0.05), 5),
                    "address": f"{rng.randint(1, 999)} {rng.choice(_NOUNS)} St",
                }
            )
    return venues


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")


def _seatgeek_event(
    event_id: int,
    title: str,
    venue: dict[str, Any],
    *,
    local: datetime,
    lineup: list[_Performer],
    time_tbd: bool,
    linked: set[str],
) -> dict[str, Any]:
    """Return an event as SeatGeek's /events lists it, in the shape of its recorded answers.

    Only the headliner has `primary`; a performer with no genres has no `genres` key and one
    without a Spotify link no `links` key. A show with no time yet is at the 03:30 placeholder,
    its UTC time derived from that.
    """
    city: City = venue["city"]
    if time_tbd:
        local = datetime.combine(local.date(), time(3, 30), local.tzinfo)
    performers = []
    for order, performer in enumerate(lineup):
        entry: dict[str, Any] = {
            "id": performer.seatgeek_id,
            "name": performer.name,
            "short_name": performer.name,
            "slug": _slug(performer.name),
            "type": "comedy" if performer.kind == "comedian" else "band",
            "score": 0.5,
        }
        if order == 0:
            entry["primary"] = True
        if performer.genres:
            entry["genres"] = [
                {"name": genre.title(), "slug": genre, "primary": i == 0}
                for i, genre in enumerate(performer.genres)
            ]
        if performer.truth and performer.name in linked:
            entry["links"] = [{"id": f"spotify:artist:{performer.truth}", "provider": "spotify"}]
        performers.append(entry)
    return {
        "id": event_id,
        "title": title,
        "short_title": title[:40],
        "url": f"https://seatgeek.com/{_slug(title)}-tickets/{event_id}",
        "datetime_utc": local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "datetime_local": local.strftime("%Y-%m-%dT%H:%M:%S"),
        "datetime_tbd": False,
        "date_tbd": False,
        "time_tbd": time_tbd,
        "type": "concert",
        "score": 0.5,
        "taxonomies": [{"id": 2000000, "name": "concert", "parent_id": None}],
        "venue": {
            "id": venue["id"],
            "name": venue["name"],
            "city": city.name,
            "state": city.state or None,
            "postal_code": city.postal_code,
            "country": venue["country"],
            "address": venue["address"],
            "timezone": city.timezone,
            "location": {"lat": venue["lat"], "lon": venue["lon"]},
        },
        "performers": performers,
        "stats": {},
    }


def _title_without_attractions(
    rng: random.Random, lineup: list[_Performer], venue: dict[str, Any], not_acts: set[str]
) -> str:
    """Return the name of an event that lists no attractions, in the shapes real ones take
    (real-api/ticketmaster: "NB RIDAZ LIVE IN CONCERT AR DON QUIXOTE IN LOS ANGELES",
    "JONATHAN KARRANT & FRIENDS! : A HOLIDAY CONCERT (...)", "Max Styler", and "Cheap Peach",
    a night whose act, The Kicks, the name does not give)."""
    headliner = lineup[0].name
    city = venue["city"].name
    shapes = [
        headliner,
        f"{headliner} with {lineup[1].name}" if len(lineup) > 1 else headliner,
        f"{headliner.upper()} LIVE IN CONCERT AT {venue['name'].upper()} IN {city.upper()}",
        f"{headliner} & Friends! : A Holiday Concert (Acclaimed Recording Artist)",
        f"{headliner} (Winner of a Songwriting Award): Album Release Concert Event",
        f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} Night",  # names no act
    ]
    title = rng.choices(shapes, weights=[4, 2, 1, 1, 1, 1])[0]
    if title == shapes[-1]:
        not_acts.add(title)  # the truth: no act of this name
    return title


def _ticketmaster_event(
    rng: random.Random,
    title: str,
    venue: dict[str, Any],
    *,
    local: datetime,
    lineup: list[_Performer],
    time_tbd: bool,
    linked: set[str],
    not_acts: set[str],
) -> dict[str, Any]:
    """Return an event as Ticketmaster's Discovery API lists it, in its recorded answers' shape.

    Some name no attractions (the event name then says the act in the shapes real ones use), some
    have no `dates.timezone`, and a show with no time yet has neither `localTime` nor `dateTime`.
    """
    city: City = venue["city"]
    event_id = "vvG1" + "".join(rng.choice(BASE62) for _ in range(10))
    attractions = []
    for performer in lineup:
        genre = performer.genres[0].title() if performer.genres else "Comedy"
        attraction: dict[str, Any] = {
            "name": performer.name,
            "type": "attraction",
            "id": performer.ticketmaster_id,
            "url": f"https://www.ticketmaster.com/{_slug(performer.name)}-tickets/artist/{performer.seatgeek_id}",
            "classifications": [
                {
                    "primary": True,
                    "segment": {
                        "name": "Arts & Theatre" if performer.kind == "comedian" else "Music"
                    },
                    "genre": {"name": genre},
                }
            ],
        }
        if performer.truth and performer.name in linked:
            attraction["externalLinks"] = {
                "spotify": [{"url": f"https://open.spotify.com/artist/{performer.truth}"}]
            }
        attractions.append(attraction)
    named_only = rng.random() < NO_ATTRACTIONS_SHARE
    if named_only:
        title = _title_without_attractions(rng, lineup, venue, not_acts)
    start: dict[str, Any] = {
        "localDate": local.strftime("%Y-%m-%d"),
        "dateTBD": False,
        "dateTBA": False,
        "timeTBA": time_tbd,
        "noSpecificTime": time_tbd and rng.random() < 0.5,
    }
    if not time_tbd:
        start["localTime"] = local.strftime("%H:%M:%S")
        start["dateTime"] = local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    dates: dict[str, Any] = {"start": start, "status": {"code": "onsale"}}
    if rng.random() >= NO_EVENT_TIMEZONE_SHARE:
        dates["timezone"] = city.timezone
    embedded: dict[str, Any] = {
        "venues": [
            {
                "name": venue["name"],
                "type": "venue",
                "id": f"KovZpZA{venue['id']}",
                "postalCode": city.postal_code,
                "timezone": city.timezone,
                "city": {"name": city.name},
                "state": {"name": STATE_NAMES[city.state], "stateCode": city.state},
                "country": {"name": "United States Of America", "countryCode": "US"},
                "address": {"line1": venue["address"]},
                "location": {"longitude": str(venue["lon"]), "latitude": str(venue["lat"])},
            }
        ],
    }
    if not named_only:
        embedded["attractions"] = attractions
    return {
        "name": title,
        "type": "event",
        "id": event_id,
        "url": f"https://www.ticketmaster.com/event/{event_id}",
        "locale": "en-us",
        "dates": dates,
        "classifications": [
            {
                "primary": True,
                "segment": {"name": "Music"},
                "genre": {"name": lineup[0].genres[0].title() if lineup[0].genres else "Other"},
            }
        ],
        "_embedded": embedded,
    }


def load_world(path: Path) -> dict[str, Any]:
    """Read a world file."""
    world: dict[str, Any] = json.loads(Path(path).read_text())
    return world
