"""An area's shows, selected once (a page, a refresh), and the playlist planned from them. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from shared.area_query import DAY_CHOICES, KNOWN_SHARE, AreaQuery
from shared.places import short_day
from shared.shows_data import (
    ShowsData,
    ShowTexts,
    Track,
    Tracks,
    TracksOf,
    may_reach,
)
from shared.taste import Known
from shared.text import clean_name

MAX_TRACKS = 1000  # a playlist this long is already 60+ hours of music
# A description names the next shows within 300 characters: never more than this many.
DESCRIBED_SHOWS = 30
DESCRIPTION_LIMIT = 300
NAME_PREFIX = "Local Shows: "


@dataclass
class Counts:
    """How many shows and artists a choice leaves."""

    shows: int
    artists: int


def count(rows: pd.DataFrame) -> Counts:
    """Count distinct shows and artists in rows (a show's rows are together: a run each)."""
    return Counts(len(_show_runs(rows)[0]), int(rows["performer_key"].nunique()))


def unchecked_artists(rows: pd.DataFrame) -> int:
    """Count the distinct performers in rows the matching has not looked up yet."""
    return int(rows.loc[~rows["checked"].astype(bool), "performer_key"].nunique())


@dataclass
class Selection:
    """An area's shows, selected once: the rows chosen, and what the page's figures need."""

    query: AreaQuery
    first: date
    last: date
    rows: pd.DataFrame  # in the area, dates, billing and genres chosen; by start
    without_genres: pd.DataFrame  # the same but for genres: what the genre list counts
    window_counts: dict[int, int]  # shows each preset window would leave, the rest kept
    tracks_of: Tracks = field(default_factory=lambda: TracksOf([]))
    texts: ShowTexts = field(default_factory=ShowTexts)  # the shows' titles and links


def select(data: ShowsData, query: AreaQuery, today: date) -> Selection:
    """Select the area's rows once, then derive every figure of the page from them."""
    rows, tracks_of, texts = _in_area(data, query)
    if query.headliners_only:
        rows = rows.loc[rows["is_headliner"].astype(bool)]
    genre_mask = _genre_mask(rows, query.genres)
    first, last = query.window(today)
    local_day = rows["local_day"].to_numpy()
    starts = rows["starts"].to_numpy()  # UTC, naive: as a state holds them
    in_window = _window_mask(local_day, starts, first, last)
    # A show's rows share its start and day: the windows are counted show by show (its first
    # row), a show with the genres when any of its rows has them.
    runs, _ = _show_runs(rows)
    show_day, show_start = local_day[runs], starts[runs]
    if not query.genres or not len(runs):
        show_genre = np.ones(len(runs), dtype=bool)
    else:  # a show has the genres when one of its rows has them
        show_genre = np.maximum.reduceat(genre_mask.view(np.uint8), runs).astype(bool)
    window_counts = {}
    for days in DAY_CHOICES:
        mask = _window_mask(show_day, show_start, today, today + timedelta(days=days - 1))
        window_counts[days] = int(np.count_nonzero(mask & show_genre))
    without_genres = _where(rows, in_window)
    chosen = without_genres if query.genres == () else _where(rows, in_window & genre_mask)
    return Selection(query, first, last, chosen, without_genres, window_counts, tracks_of, texts)


def _in_area(data: ShowsData, query: AreaQuery) -> tuple[pd.DataFrame, Tracks, ShowTexts]:
    """Return the area's rows, the tracks of their artists, and where their titles are.

    A radius reaches into the states whose venues may lie within it (by the index's boxes):
    distances are computed for their rows only.
    """
    home = data.state(query.state)
    rows = home.rows
    if not query.city:
        return rows, home.tracks_of, ShowTexts.of(home)
    in_city = (rows["venue_city"] == query.city).to_numpy()
    if not query.radius_miles:
        return _where(rows, in_city), home.tracks_of, ShowTexts.of(home)
    lat, lon = home.center(in_city)
    parts, tracks, texts = [], [], []
    shift = 0  # each state's show numbers come after the previous state's
    for code, summary in sorted(data.states.items()):
        if code != query.state and not may_reach(lat, lon, summary.bbox, query.radius_miles):
            continue
        state = home if code == query.state else data.state(code)
        part = _where(state.rows, state.near(lat, lon, query.radius_miles))
        if len(part):
            parts.append(part.assign(show=part["show"] + shift) if shift else part)
            texts.append((shift, state))
            tracks.append(state.tracks_of)
            shift += state.shows
    tracks_of = TracksOf(tracks)
    if not parts:  # the city's venues have no coordinates: nothing is known to be near
        return rows.iloc[:0], tracks_of, ShowTexts(tuple(texts))
    if len(parts) == 1:
        return parts[0], tracks_of, ShowTexts(tuple(texts))
    merged = _concat(parts).sort_values(["starts", "show"], kind="stable")
    return merged, tracks_of, ShowTexts(tuple(texts))


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Return the frames one after the other, categories kept as categories (their union)."""
    merged = pd.concat(parts, ignore_index=True)
    for column in parts[0].select_dtypes("category").columns:
        merged[column] = union_categoricals([part[column] for part in parts], ignore_order=True)
    return merged


def _where(rows: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """Return the rows where mask is true: a slice of them, not a copy, when those rows are
    one run, as a window of dates is in rows ordered by start (a copy of a big state's 90 days
    was most of a preview's memory)."""
    kept = np.flatnonzero(mask)
    if len(kept) and int(kept[-1]) - int(kept[0]) + 1 == len(kept):
        return rows.iloc[int(kept[0]) : int(kept[-1]) + 1]
    return rows.iloc[kept]


def _window_mask(local_day: np.ndarray, starts: np.ndarray, first: date, last: date) -> np.ndarray:
    """Say which rows fall from first to last: by the venue's local day, within a day's slack.

    Takes the rows' `local_day` and `starts` as arrays: a selection asks for five windows.
    """
    start = pd.Timestamp(datetime.combine(first, time.min, UTC)) - pd.Timedelta(hours=14)
    end = pd.Timestamp(datetime.combine(last + timedelta(days=1), time.min, UTC)) + pd.Timedelta(
        hours=10
    )
    # Local evenings in US time zones fall on the next UTC day: compare local dates when known.
    in_days = (local_day >= int(f"{first:%Y%m%d}")) & (local_day <= int(f"{last:%Y%m%d}"))
    # A missing start (NaT) is in no window, as in pandas' comparisons.
    known_start = ~np.isnat(starts)
    in_time = known_start & (starts >= _as_of(start)) & (starts < _as_of(end))
    mask: np.ndarray = in_days & in_time
    return mask


def _as_of(moment: pd.Timestamp) -> np.datetime64:
    """Return a UTC moment as numpy compares it with the starts (naive UTC; units may differ)."""
    value: np.datetime64 = moment.tz_convert(None).to_datetime64()
    return value


def _genre_mask(rows: pd.DataFrame, genres: tuple[str, ...]) -> np.ndarray:
    """Say which rows carry one of the genres (every row when none is chosen).

    Rows share a few hundred genre lists ("rock|indie"): each list is split once, not each row.
    """
    if not genres:
        return np.ones(len(rows), dtype=bool)
    wanted = set(genres)
    lists = rows["genres"].astype("category").cat.categories
    hit = [text for text in lists if wanted & set(str(text).split("|"))]
    mask: np.ndarray = rows["genres"].isin(hit).to_numpy(dtype=bool)
    return mask


def genre_counts(rows: pd.DataFrame) -> list[tuple[str, int]]:
    """Return the genres present in rows with their number of shows, most shows first.

    Rows share a few hundred genre lists ("rock|indie"): each list is split once and becomes a
    set of bits (64 genres a word); a show's genres are its rows' bits or-ed together (its rows
    are together), and shows are counted by their distinct sets: a few thousand, not a row each.
    """
    genre_lists = rows["genres"].astype("category")
    categories = genre_lists.cat.categories
    names: dict[str, int] = {}
    genres_of = [
        [names.setdefault(g, len(names)) for g in str(text).split("|") if g] for text in categories
    ]
    if not names or not len(rows):
        return []
    list_codes = genre_lists.cat.codes.to_numpy()  # -1: no list, the last (empty) set below
    runs, _ = _show_runs(rows)
    per_genre = [0] * len(names)
    for word in range(0, len(names), 64):
        bits = [0] * (len(categories) + 1)
        for code, ids in enumerate(genres_of):
            for genre in ids:
                if word <= genre < word + 64:
                    bits[code] |= 1 << (genre - word)
        as_array = np.array(bits, dtype=np.uint64)
        show_bits = np.bitwise_or.reduceat(as_array[list_codes], runs)
        combos, shows = np.unique(show_bits, return_counts=True)
        for bit in range(min(64, len(names) - word)):
            has = (combos >> np.uint64(bit)) & np.uint64(1)
            per_genre[word + bit] += int(shows[has.astype(bool)].sum())
    counts = [(name, per_genre[code]) for name, code in names.items() if per_genre[code]]
    return sorted(counts, key=lambda item: (-item[1], item[0]))


def city_counts(data: ShowsData, state: str) -> list[tuple[str, int, int]]:
    """Return the cities of a state with their numbers of upcoming shows and artists."""
    summary = data.states.get(state)
    return list(summary.cities) if summary else []


def weekly_counts(rows: pd.DataFrame, first: date, last: date) -> list[tuple[date, int]]:
    """Return shows per week (weeks starting Monday) from first to last, zeros included."""
    days = rows["local_day"].to_numpy()[_show_runs(rows)[0]]
    per_week: dict[date, int] = {}
    for day, shows in zip(*np.unique(days, return_counts=True), strict=True):
        try:
            local = date(int(day) // 10000, int(day) // 100 % 100, int(day) % 100)
        except ValueError:  # 0: the day was unreadable
            continue
        monday = local - timedelta(days=local.weekday())
        per_week[monday] = per_week.get(monday, 0) + int(shows)
    weeks, monday = [], first - timedelta(days=first.weekday())
    while monday <= last:
        weeks.append((monday, per_week.get(monday, 0)))
        monday += timedelta(weeks=1)
    return weeks


@dataclass
class PlannedArtist:
    """One performer in the preview: the tracks that will go in, or why there are none."""

    name: str
    spotify_artist_id: str
    tracks: list[Track] = field(default_factory=list)
    reason: str = ""
    # The tracks that go into the playlist from this row: none when the artist already came
    # with an earlier show, a track is already in, the playlist is full, or the mix left them out.
    in_playlist: list[Track] = field(default_factory=list)
    known: str = ""  # how the person knows them ("you follow them"), "" when they do not
    known_weight: int = 0
    maybe: bool = False  # the match to this Spotify artist is uncertain


@dataclass
class PlannedShow:
    """A show in the preview."""

    starts_at_local: str
    venue: str
    city: str
    title: str
    url: str
    artists: list[PlannedArtist]
    time_tbd: bool = False  # the start time is not announced yet: show the date alone


def plan_playlist(
    rows: pd.DataFrame,
    tracks_of: Tracks,
    tracks_per_artist: int,
    preview_shows: int | None = None,
    *,
    texts: ShowTexts,
    known: dict[str, Known] | None = None,
    mix: str = "",
    order: str = "date",
    first_rows: dict[str, int] | None = None,
) -> tuple[list[PlannedShow], list[str]]:
    """Return the shows (the first preview_shows in `order`, as `sort_shows` orders them) with
    their artists' tracks, and the playlist's track URIs in order: by show date, headliners
    first; each artist and track once. Without preview_shows, in date order (the whole
    playlist), the shows run through the last that brings a track (and the first
    DESCRIBED_SHOWS at least).

    With the person's known artists, each is marked; with a mix, only the artists it chooses
    (`choose_mix`) bring tracks.

    Rows come ordered by start, show and billing already. The playlist needs each artist once,
    at their first row; the shows shown need only their own rows: a whole state's rows are
    never turned into objects one by one, even when another order picks the shows shown.
    """
    first_row = first_rows if first_rows is not None else artist_first_rows(rows)
    chosen = (
        set(choose_mix(list(first_row), known or {}, mix)) if mix and known is not None else None
    )
    uris: list[str] = []
    seen_tracks: set[str] = set()
    # A first row -> the ids of the tracks its artist brings in (ids only: Track objects are
    # made for the shows shown alone).
    added_at: dict[int, set[str]] = {}
    for artist_id, index in first_row.items():  # in the order artists first play
        if len(uris) >= MAX_TRACKS:
            break
        if chosen is not None and artist_id not in chosen:
            continue
        added: set[str] = set()
        for track_id in tracks_of.top_ids(artist_id, tracks_per_artist):
            if track_id not in seen_tracks and len(uris) < MAX_TRACKS:
                seen_tracks.add(track_id)
                uris.append(f"spotify:track:{track_id}")
                added.add(track_id)
        added_at[index] = added
    starts, ends = _show_runs(rows)
    picked = _ordered_shows(rows, starts, ends, order, known or {})[:preview_shows]
    if preview_shows is None and order == "date":
        # The whole playlist: the shows after the last that brings a track give nothing to it,
        # its liner notes or its description (which names the first few), and a big state's
        # 90 days has 15,000 of them.
        last_row = max((index for index, added in added_at.items() if added), default=-1)
        through = int(np.searchsorted(starts, last_row, side="right"))
        picked = picked[: max(through, DESCRIBED_SHOWS)]
    shows = _planned_shows(
        rows,
        [(int(starts[show]), int(ends[show])) for show in picked],
        texts=texts,
        tracks_of=tracks_of,
        tracks_per_artist=tracks_per_artist,
        added_at=added_at,
        known=known or {},
    )
    return shows, uris


def choose_mix(artists: list[str], known: dict[str, Known], mix: str) -> list[str]:
    """Return the artists (Spotify ids, in the order they first play) a mix puts in the playlist.

    The mix is a share of known artists: as many artists as the two lists allow at that share,
    the soonest of each; "all_known" and "all_new" take every artist of their side.
    """
    share = KNOWN_SHARE.get(mix)
    if share is None:
        return list(artists)
    familiar = [a for a in artists if a in known]
    new = [a for a in artists if a not in known]
    if share >= 1:
        return familiar
    if share <= 0:
        return new
    # The most known artists whose share of new ones, rounded, the new side still has.
    new_per_known = (1 - share) / share
    take_known = len(familiar)
    while take_known and round(take_known * new_per_known) > len(new):
        take_known -= 1
    take_new = round(take_known * new_per_known)
    chosen = set(familiar[:take_known]) | set(new[:take_new])
    return [a for a in artists if a in chosen]


@dataclass(frozen=True)
class MixCounts:
    """What the person knows of an area's artists, and what a mix takes of them."""

    known: int  # distinct artists with shows here that the person knows
    new: int  # distinct matched artists here new to them
    chosen_known: int
    chosen_new: int


def mix_counts(
    rows: pd.DataFrame,
    known: dict[str, Known],
    mix: str,
    *,
    first_rows: dict[str, int] | None = None,
) -> MixCounts:
    """Count the area's known and new artists, and those the mix chooses."""
    artists = list(first_rows if first_rows is not None else artist_first_rows(rows))
    chosen = choose_mix(artists, known, mix) if mix else artists
    familiar = sum(1 for a in artists if a in known)
    chosen_known = sum(1 for a in chosen if a in known)
    return MixCounts(familiar, len(artists) - familiar, chosen_known, len(chosen) - chosen_known)


def only_known_shows(rows: pd.DataFrame, known: dict[str, Known]) -> pd.DataFrame:
    """Return the rows of the shows with at least one artist the person knows (whole bills)."""
    if not known or rows.empty:
        return rows.iloc[:0]
    artist_ids, artist_texts = _text_codes(rows["spotify_artist_id"])
    is_known = np.array([text in known for text in artist_texts], dtype=bool)[artist_ids]
    show_ids = _show_ids(rows)
    known_show = np.zeros(int(show_ids.max()) + 1, dtype=bool)
    known_show[show_ids[is_known]] = True
    kept: pd.DataFrame = rows.loc[known_show[show_ids]]
    return kept


def _planned_shows(
    rows: pd.DataFrame,
    spans: list[tuple[int, int]],
    *,
    texts: ShowTexts,
    tracks_of: Tracks,
    tracks_per_artist: int,
    added_at: dict[int, set[str]],
    known: dict[str, Known],
) -> list[PlannedShow]:
    """Return the shows whose rows the spans give (start, end), each artist with their tracks."""
    positions = [index for first, last in spans for index in range(first, last)]
    head = rows.iloc[positions]
    values = {
        column: _texts(head[column])
        for column in (
            "spotify_artist_id",
            "performer_name",
            "starts_at_local",
            "venue_name",
            "venue_city",
        )
    }
    numbers = [int(n) for n in rows["show"].to_numpy()[[first for first, _ in spans]]]
    titles, urls = texts.take("event_title", numbers), texts.take("event_url", numbers)
    time_tbd = head["time_tbd"].tolist()
    checked = head["checked"].tolist()
    uncertain = (
        head["uncertain"].astype(bool).tolist() if "uncertain" in head else [False] * len(head)
    )
    shows: list[PlannedShow] = []
    at = 0  # the row's place in head; `index` is its place in rows
    for number, (first, last) in enumerate(spans):
        shows.append(
            PlannedShow(
                values["starts_at_local"][at],
                values["venue_name"][at],
                values["venue_city"][at],
                titles[number],
                urls[number],
                [],
                bool(time_tbd[at]),
            )
        )
        for index in range(first, last):
            artist_id = values["spotify_artist_id"][at]
            tracks = tracks_of.top(artist_id, tracks_per_artist) if artist_id else []
            artist = PlannedArtist(
                values["performer_name"][at],
                artist_id,
                tracks,
                "",
                [track for track in tracks if track.track_id in added_at.get(index, ())],
            )
            knowing = known.get(artist_id) if artist_id else None
            if knowing is not None:
                artist.known, artist.known_weight = knowing.label, knowing.weight
            artist.maybe = bool(artist_id) and bool(uncertain[at])
            if not artist_id:
                artist.reason = "not found on Spotify" if checked[at] else "not matched yet"
            elif not tracks:
                artist.reason = "no tracks yet"
            shows[-1].artists.append(artist)
            at += 1
    return shows


def _show_runs(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return where each show's rows start and end: a show is a run of rows with its key."""
    show_ids = _show_ids(rows)
    changes = np.ones(len(show_ids), dtype=bool)
    changes[1:] = show_ids[1:] != show_ids[:-1]
    starts = np.flatnonzero(changes)
    return starts, np.append(starts[1:], len(show_ids)).astype(starts.dtype)


def _ordered_shows(
    rows: pd.DataFrame, starts: np.ndarray, ends: np.ndarray, order: str, known: dict[str, Known]
) -> Sequence[int]:
    """Return the shows (by their run's number) in `order`, as `sort_shows` would put them."""
    if order == "known" and len(starts):
        ids, texts = _text_codes(rows["spotify_artist_id"])
        weights = np.array(
            [known[text].weight if text and text in known else 0 for text in texts], dtype=np.int64
        )
        # A show's weight is its best-known artist's; an unknown artist weighs 0.
        best = np.maximum.reduceat(weights[ids], starts)
        return [int(show) for show in np.argsort(-best, kind="stable")]
    if order == "artist" and len(starts):
        names = _texts(rows["performer_name"].iloc[starts])
        keys = {name: _artist_key(name) for name in set(names)}
        return sorted(range(len(starts)), key=lambda show: keys[names[show]])
    return range(len(starts))


def _text_codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return an integer code per row and the text of each code, as `_texts` reads the column:
    the same text, the same code. Made from a category's codes, not row by row."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        # A category's codes are the codes already (its categories are distinct): only a
        # missing value (code -1) needs one, the code of "" (a category, or the place after
        # them). Nothing here walks the state's categories but one copy of their pointers.
        categories = column.cat.categories
        if categories.dtype != object:
            categories = categories.astype(str)
        empty = int(categories.get_indexer(pd.Index([""]))[0])
        codes = column.cat.codes.to_numpy().astype(np.int64)
        ids = np.where(codes >= 0, codes, empty if empty >= 0 else len(categories))
        return ids, np.append(categories.to_numpy(dtype=object), "")
    ids, texts = pd.factorize(column.astype(str).to_numpy(dtype=object))
    return ids, np.asarray(texts, dtype=object)


def _show_ids(rows: pd.DataFrame) -> np.ndarray:
    """Return each row's show number (distinct shows, distinct numbers; non-negative)."""
    ids: np.ndarray = rows["show"].to_numpy().astype(np.int64, copy=False)
    return ids


def _distinct_sorted(keys: np.ndarray) -> np.ndarray:
    """Return the distinct keys, sorted: by a stable sort, fast on keys nearly in order."""
    ordered = np.sort(keys, kind="stable")
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def _first_seen(codes: np.ndarray) -> np.ndarray:
    """Return the rows where each code first appears, in row order (by hashing, not sorting)."""
    return np.flatnonzero(~pd.Series(codes).duplicated().to_numpy())


def artist_first_rows(rows: pd.DataFrame) -> dict[str, int]:
    """Return each Spotify artist id of the rows with its first row, in the order they first
    play: what the playlist and the mix counts both start from (a page computes it once)."""
    return _first_rows(rows["spotify_artist_id"])


def _first_rows(column: pd.Series) -> dict[str, int]:
    """Return each non-empty text of the column with its first row, in the order they appear."""
    ids, texts = _text_codes(column)
    rows = _first_seen(ids)
    names = texts[ids[rows]]
    present = names != ""
    return dict(zip(names[present].tolist(), rows[present].tolist(), strict=True))


def _texts(column: pd.Series) -> list[str]:
    """Return a column's values as text; a category's text is made once, not once a row."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = column.cat.categories.astype(str).to_numpy(dtype=object)
        codes = column.cat.codes.to_numpy()
        if not len(categories):
            return [""] * len(codes)
        texts: list[str] = np.where(codes >= 0, categories[codes], "").tolist()
        return texts
    return column.astype(str).tolist()


def plan(
    data: ShowsData, query: AreaQuery, today: date, known: dict[str, Known] | None = None
) -> tuple[list[PlannedShow], list[str]]:
    """Select the area's shows and plan the whole playlist (what "Make" writes).

    `known` (the person's taste) is needed when the query chooses known artists or a mix.
    """
    return plan_selected(select(data, query, today), known)


def plan_selected(
    selection: Selection, known: dict[str, Known] | None = None
) -> tuple[list[PlannedShow], list[str]]:
    """Plan the whole playlist of an area already selected (a page that keeps its selection)."""
    query, rows = selection.query, selection.rows
    if query.known_only:
        rows = only_known_shows(rows, known or {})
    return plan_playlist(
        rows,
        selection.tracks_of,
        query.tracks_per_artist,
        texts=selection.texts,
        known=known,
        mix=query.mix,
    )


# As the page says them, after "Sort by".
SORTS = {"date": "date", "artist": "artist", "known": "artists I know first"}


def sort_shows(shows: list[PlannedShow], order: str) -> list[PlannedShow]:
    """Return the shows by date (as planned), by their first artist's name, A to Z, or with the
    shows of the artists the person knows best first (then by date)."""
    if order == "known":
        return sorted(
            shows, key=lambda show: -max((a.known_weight for a in show.artists), default=0)
        )
    if order != "artist":
        return shows
    return sorted(
        shows, key=lambda show: _artist_key(show.artists[0].name if show.artists else show.title)
    )


def _artist_key(name: str) -> tuple[str, str]:
    """Sort "The National" under N, as record shops do; the full name breaks ties."""
    folded = clean_name(name).casefold().strip()
    return folded.removeprefix("the ").lstrip(), folded


def playlist_name(query: AreaQuery, first: date, last: date) -> str:
    """Name a playlist by area and dates: "Local Shows: Brooklyn, NY · Nov 21 to Dec 20"."""
    return f"{NAME_PREFIX}{clean_name(query.area_label)} · {short_day(first)} – {short_day(last)}"


def name_prefix(query: AreaQuery) -> str:
    """Return what every playlist of this area is named with, whatever its dates."""
    return f"{NAME_PREFIX}{clean_name(query.area_label)} · "


def playlist_description(shows: list[PlannedShow], notes_url: str = "") -> str:
    """Name the next shows and link the liner notes, within Spotify's 300 characters.

    The link always fits whole: the list of shows is cut (at a show's end) to make room.
    """
    parts = []
    for show in shows:
        names = [clean_name(a.name) for a in show.artists] or [clean_name(show.title)]
        parts.append(f"{_short_local(show.starts_at_local)} {names[0]} at {clean_name(show.venue)}")
    tail = f" Shows and tickets: {notes_url}" if notes_url else " (made by Local Shows)"
    text = ("Next: " + "; ".join(parts) + "." if parts else "No shows in these dates yet.") + tail
    if len(text) <= DESCRIPTION_LIMIT:
        return text
    room = DESCRIPTION_LIMIT - len(tail) - len(" …")
    head = ("Next: " + "; ".join(parts))[:room]
    return (head.rsplit(";", 1)[0] if ";" in head else head) + " …" + tail


def _short_local(starts_at_local: str) -> str:
    try:
        return short_day(date.fromisoformat(starts_at_local[:10]))
    except ValueError:
        return clean_name(starts_at_local[:10])
