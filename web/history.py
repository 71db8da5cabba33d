"""A person's listening history, compacted and cached: what web/stats.py counts.

`HistoryCache.get` reads `plays/<user>/<YYYY-MM>.csv` (shared/plays.py) into a compact
`History`: numbers in numpy arrays, tracks and artists as int codes into small name tuples, the
text frame dropped month by month. It keeps the last few people's histories within a budget, and
with each, where every month's plays sit in it: a new version re-reads only the changed months.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from shared.plays import MONTH_RE, PLAY_COLUMNS, STREAM_MS, plays_prefix, read_month_frame
from shared.storage import NotFoundError, Store

logger = logging.getLogger(__name__)

UNKNOWN_TRACK = "Unknown track"
UNKNOWN_ARTIST = "Unknown artist"

_LISTENED_MAX = np.iinfo(np.int32).max
_KEY_COLUMNS = ["track_uri", "track", "artist_names"]

Ints = npt.NDArray[np.int32]


@dataclass(frozen=True, eq=False)
class History:
    """A person's plays, compact: one array entry a play, oldest first; names stored once."""

    played_ms: npt.NDArray[np.int64]  # when it ended, UTC, ms since 1970
    listened_ms: Ints  # ms_played, else duration_ms, else 0
    counted: npt.NDArray[np.bool_]  # a stream as Spotify counts one (30 s or more)
    track: Ints  # codes into track_names
    artist: Ints  # codes into artist_names: the play's first artist
    track_names: tuple[str, ...]
    track_artist: Ints  # each track's artist, as shown beside it
    artist_names: tuple[str, ...]
    track_order: Ints  # each track's place when sorted by name: ties rank by it
    artist_order: Ints
    skipped_rows: int = 0  # unparsable played_at, non-numeric or negative ms
    unreadable_months: int = 0  # month files that are not CSV

    @property
    def nbytes(self) -> int:
        """Return about how much memory the history holds."""
        arrays = (
            self.played_ms,
            self.listened_ms,
            self.counted,
            self.track,
            self.artist,
            self.track_artist,
            self.track_order,
            self.artist_order,
        )
        names = sum(sys.getsizeof(name) + 8 for name in (*self.track_names, *self.artist_names))
        return sum(array.nbytes for array in arrays) + names


def empty_history(skipped_rows: int = 0, unreadable_months: int = 0) -> History:
    """Return the history of someone with no plays yet."""
    nothing = np.zeros(0, dtype=np.int32)
    return History(
        played_ms=np.zeros(0, dtype=np.int64),
        listened_ms=nothing,
        counted=np.zeros(0, dtype=bool),
        track=nothing,
        artist=nothing,
        track_names=(),
        track_artist=nothing,
        artist_names=(),
        track_order=nothing,
        artist_order=nothing,
        skipped_rows=skipped_rows,
        unreadable_months=unreadable_months,
    )


@dataclass(frozen=True)
class _MonthPart:
    """One month file's good plays: numbers, and codes into its own (uri, track, artists) table."""

    played_ms: npt.NDArray[np.int64]
    listened_ms: Ints
    counted: npt.NDArray[np.bool_]
    combo: Ints  # codes into combos
    combos: pd.DataFrame
    skipped_rows: int


def _milliseconds(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return a column of ms as numbers (NaN when empty) and which rows hold a bad value."""
    stripped = text.astype(str).str.strip()
    numbers = pd.to_numeric(stripped, errors="coerce").astype(float)
    bad = (numbers.isna() & (stripped != "")) | (numbers < 0) | np.isinf(numbers)
    return numbers.where(~bad), bad


def _compact_months(frame: pd.DataFrame, row_counts: list[int]) -> list[_MonthPart]:
    """Turn months' plays (one text frame, each month's `row_counts[i]` rows in turn) into
    numbers at once, skipping (and counting) the bad rows.

    One pass over all of them, then a slice per month: a month's codes point into its own table
    (so that a month re-read later fits in), but pandas is called a few times in all, not a few
    times a month (128 months: 1.1 s one by one, a tenth of that at once).
    """
    if not row_counts:
        return []
    lengths = np.array(row_counts)
    frame = frame.reset_index(drop=True)
    month = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
    played = pd.to_datetime(frame["played_at"], utc=True, errors="coerce", format="ISO8601")
    ms_played, ms_bad = _milliseconds(frame["ms_played"])
    duration, duration_bad = _milliseconds(frame["duration_ms"])
    good = (played.notna() & ~ms_bad & ~duration_bad).to_numpy()
    ms_played, duration = ms_played[good], duration[good]
    # Spotify lists a recently-played track only once it counted it, so no length counts too.
    counted = (ms_played.isna() | (ms_played >= STREAM_MS)).to_numpy()
    listened = ms_played.fillna(duration).fillna(0).clip(upper=_LISTENED_MAX).to_numpy()
    played_ms = np.asarray(played[good].dt.as_unit("ms").astype("int64"), dtype=np.int64)
    keys = frame.loc[good, _KEY_COLUMNS].astype(str).reset_index(drop=True)
    good_month = month[good]
    # Numbered in order of first sight: the rows come month by month, so each month's
    # combinations are numbered in one run, and its own codes start at that run's first.
    keyed = keys.assign(_month=good_month)
    combo = np.asarray(keyed.groupby(["_month", *_KEY_COLUMNS], sort=False).ngroup(), np.int32)
    firsts = ~keyed.duplicated(["_month", *_KEY_COLUMNS]).to_numpy()
    # Interned: the same names month after month are one string each in the cache.
    table = keys[firsts].reset_index(drop=True).apply(lambda c: c.map(sys.intern))
    table_month = good_month[firsts]
    good_counts = np.bincount(good_month, minlength=len(lengths))
    table_counts = np.bincount(table_month, minlength=len(lengths))
    row_ends, table_ends = np.cumsum(good_counts), np.cumsum(table_counts)
    parts = []
    for index in range(len(lengths)):
        rows = slice(int(row_ends[index] - good_counts[index]), int(row_ends[index]))
        start, end = int(table_ends[index] - table_counts[index]), int(table_ends[index])
        parts.append(
            _MonthPart(
                played_ms=played_ms[rows],
                listened_ms=listened[rows].astype(np.int32),
                counted=counted[rows],
                combo=combo[rows] - np.int32(start),
                combos=table.iloc[start:end].reset_index(drop=True),
                skipped_rows=int(lengths[index] - good_counts[index]),
            )
        )
    return parts


def _first_artist(artist_names: str) -> str:
    """Return the first name of a JSON list of artist names (the text itself if not a list)."""
    try:
        names = json.loads(artist_names)
    except ValueError:
        return artist_names.strip()
    if isinstance(names, list):
        return str(names[0]).strip() if names else ""
    return artist_names.strip()


def _most_played_spelling(codes: pd.Series, spellings: pd.Series, weight: pd.Series) -> pd.Series:
    """Return, per code, the spelling with the most plays (ties: the first in sorted order)."""
    table = pd.DataFrame({"code": codes, "spelling": spellings, "weight": weight})
    summed = table.groupby(["code", "spelling"], sort=False)["weight"].sum().reset_index()
    best = summed.sort_values(["code", "weight", "spelling"], ascending=[True, False, True])
    return best.drop_duplicates("code").set_index("code")["spelling"].sort_index()


def _name_order(*columns: pd.Series) -> Ints:
    """Return each row's place when the rows are sorted by the casefolded columns, then by row."""
    table = pd.DataFrame(
        {f"c{index}": column.str.casefold() for index, column in enumerate(columns)}
    )
    table["row"] = np.arange(len(table))
    ranked = table.sort_values([*table.columns], kind="stable")["row"].to_numpy()
    order = np.empty(len(table), dtype=np.int32)
    order[ranked] = np.arange(len(table), dtype=np.int32)
    return order


def compact_history(frames: list[pd.DataFrame], unreadable_months: int = 0) -> History:
    """Build a compact history from month frames (shared.plays columns, all text)."""
    joined = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    parts = _compact_months(joined, [len(frame) for frame in frames])
    return _combine(parts, unreadable_months)[0]


def _combine(parts: list[_MonthPart], unreadable_months: int) -> tuple[History, list[Ints]]:
    """Join the months' parts: one code per (uri, track, artists) across months, then identify.

    Return the history and, per part, where its plays landed in it (they are sorted by time).
    """
    skipped = sum(part.skipped_rows for part in parts)
    lengths = [len(part.played_ms) for part in parts]
    if not sum(lengths):
        nowhere = np.zeros(0, dtype=np.int32)
        return empty_history(skipped, unreadable_months), [nowhere for _ in parts]
    offsets = np.cumsum([0, *(len(part.combos) for part in parts[:-1])])
    all_combos = pd.concat([part.combos for part in parts], ignore_index=True)
    global_codes = all_combos.groupby(_KEY_COLUMNS, sort=False).ngroup().to_numpy()
    combo = np.concatenate(
        [global_codes[offset + part.combo] for offset, part in zip(offsets, parts, strict=True)]
    )
    combos = all_combos.drop_duplicates().reset_index(drop=True)
    track_of_combo, artist_of_combo, names = _identify(combos, np.bincount(combo))
    played_ms = np.concatenate([part.played_ms for part in parts])
    by_time = np.argsort(played_ms, kind="stable")
    place = np.empty(len(by_time), dtype=np.int32)
    place[by_time] = np.arange(len(by_time), dtype=np.int32)
    history = History(
        played_ms=played_ms[by_time],
        listened_ms=np.concatenate([part.listened_ms for part in parts])[by_time],
        counted=np.concatenate([part.counted for part in parts])[by_time],
        track=track_of_combo[combo[by_time]],
        artist=artist_of_combo[combo[by_time]],
        skipped_rows=skipped,
        unreadable_months=unreadable_months,
        **names,
    )
    return history, np.split(place, np.cumsum(lengths)[:-1])


def _identify(combos: pd.DataFrame, plays: npt.NDArray[np.int64]) -> tuple[Ints, Ints, dict]:  # type: ignore[type-arg]
    """Give each (uri, track, artists) combination its track and artist code, and the names.

    A track is its uri; a name-only row (the basic export) takes the most played uri seen with
    the same casefolded track and first artist, else is keyed by those names. An artist is its
    casefolded first name, shown as it is most often spelled.
    """
    weight = pd.Series(plays, dtype=np.int64)
    uri = combos["track_uri"].str.strip()
    track = combos["track"].str.strip()
    firsts = {text: _first_artist(text) for text in combos["artist_names"].unique()}
    artist = combos["artist_names"].map(firsts)
    name_key = track.str.casefold() + "\x1f" + artist.str.casefold()
    has_uri = uri != ""
    uri_choices = pd.DataFrame({"name": name_key, "uri": uri, "weight": weight})[has_uri]
    summed = uri_choices.groupby(["name", "uri"], sort=False)["weight"].sum().reset_index()
    best = summed.sort_values(["name", "weight", "uri"], ascending=[True, False, True])
    uri_by_name = best.drop_duplicates("name").set_index("name")["uri"]
    track_key = uri.where(has_uri, name_key.map(uri_by_name))
    track_key = track_key.fillna("names:" + name_key)
    track_code = pd.Series(pd.factorize(track_key)[0], dtype=np.int32)
    artist_code = pd.Series(pd.factorize(artist.str.casefold())[0], dtype=np.int32)

    artist_names = _most_played_spelling(artist_code, artist, weight).replace("", UNKNOWN_ARTIST)
    track_names = _most_played_spelling(track_code, track, weight).replace("", UNKNOWN_TRACK)
    pairs = pd.DataFrame({"track": track_code, "artist": artist_code, "weight": weight})
    summed_pairs = pairs.groupby(["track", "artist"], sort=False)["weight"].sum().reset_index()
    track_artist = (
        summed_pairs.sort_values(["track", "weight", "artist"], ascending=[True, False, True])
        .drop_duplicates("track")
        .set_index("track")["artist"]
        .sort_index()
        .to_numpy(dtype=np.int32)
    )
    names = {
        "track_names": tuple(track_names),
        "artist_names": tuple(artist_names),
        "track_artist": track_artist,
        "track_order": _name_order(
            track_names.reset_index(drop=True),
            pd.Series(artist_names.to_numpy()[track_artist]),
        ),
        "artist_order": _name_order(artist_names.reset_index(drop=True)),
    }
    return track_code.to_numpy(), artist_code.to_numpy(), names


@dataclass(frozen=True, eq=False)
class _KeptMonth:
    """One month file as the cache keeps it beside the history: not its plays, only their places.

    Its plays' numbers are in the combined history at `rows`; its own (uri, track, artists)
    table stays, so that the names can be decided again when another month changes.
    """

    generation: int
    rows: Ints | None  # None: the file could not be read
    combo: Ints
    combos: pd.DataFrame  # interned text: its strings are counted once per person
    skipped_rows: int

    @property
    def nbytes(self) -> int:
        """Return the memory of its codes and its table's cells, not of the strings they share."""
        rows = self.rows.nbytes if self.rows is not None else 0
        return rows + self.combo.nbytes + 8 * self.combos.size

    def part(self, history: History) -> _MonthPart | None:
        """Return the month's plays again (None: unreadable), from the history rows point into."""
        if self.rows is None:
            return None
        return _MonthPart(
            played_ms=history.played_ms[self.rows],
            listened_ms=history.listened_ms[self.rows],
            counted=history.counted[self.rows],
            combo=self.combo,
            combos=self.combos,
            skipped_rows=self.skipped_rows,
        )


def _kept_month(generation: int, part: _MonthPart | None, rows: Ints | None) -> _KeptMonth:
    if part is None or rows is None:
        return _KeptMonth(generation, None, np.zeros(0, dtype=np.int32), pd.DataFrame(), 0)
    return _KeptMonth(generation, rows, part.combo, part.combos, part.skipped_rows)


def _month_generations(store: Store, user_id: str) -> dict[str, int]:
    """Return the person's month files with their generations, in one listing."""
    prefix = plays_prefix(user_id)
    return {
        name: generation
        for name, generation in store.generations(prefix).items()
        if name.endswith(".csv") and MONTH_RE.match(name.removeprefix(prefix).removesuffix(".csv"))
    }


# Months read as text at once before they are compacted (a decade is 128 months).
READ_BATCH_MONTHS = 48
SMALL_MONTH_BYTES = 16 * 1024  # read by the csv module: pandas costs more than the parsing


def _read_months(store: Store, names: list[str]) -> dict[str, tuple[int, _MonthPart | None]]:
    """Read and compact months: each one's generation and part (None: unreadable); a month
    deleted between listing and reading is left out (the next version has it right).

    Read a batch of months as text, then compacted together: the text of at most
    READ_BATCH_MONTHS months is held at once, never the years'. A small month file (an import
    of many months of a few plays each) is read by the csv module into the batch's rows, since
    pandas' fixed cost a file (about 1.5 ms) would be most of the work.
    """
    found: dict[str, tuple[int, _MonthPart | None]] = {}
    for first in range(0, len(names), READ_BATCH_MONTHS):
        generations: dict[str, int] = {}
        counts: list[int] = []
        pieces: list[pd.DataFrame] = []
        small_rows: list[list[str]] = []
        for name in names[first : first + READ_BATCH_MONTHS]:
            try:
                stored = store.read(name)
            except NotFoundError:
                continue
            try:
                rows = _small_month_rows(stored.data)
                if rows is None:
                    frame = read_month_frame(stored.data)
            except (ValueError, UnicodeDecodeError, csv.Error) as error:  # ParserError too
                logger.warning(
                    "skipped a month of plays", extra={"object": name, "error": str(error)}
                )
                found[name] = (stored.generation, None)
                continue
            if rows is None:
                pieces += [_rows_frame(small_rows), frame]
                small_rows = []
                counts.append(len(frame))
            else:
                small_rows += rows
                counts.append(len(rows))
            generations[name] = stored.generation
        pieces.append(_rows_frame(small_rows))
        parts = _compact_months(pd.concat(pieces, ignore_index=True), counts)
        for (name, generation), part in zip(generations.items(), parts, strict=True):
            found[name] = (generation, part)
    return found


def _rows_frame(rows: list[list[str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(PLAY_COLUMNS), dtype=str)


def _small_month_rows(data: bytes) -> list[list[str]] | None:
    """Return a small month file's rows in PLAY_COLUMNS order (None: a large one, for pandas).

    As read_month_frame reads it: a missing column is empty, an unknown one dropped, a short
    row filled with empty cells; ValueError (or csv.Error) when it cannot be read.
    """
    if len(data) > SMALL_MONTH_BYTES:
        return None
    text = data.decode("utf-8")
    if not text.strip():
        return []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = next(reader)
    if "played_at" not in header:
        raise ValueError("no played_at column")
    width = len(header)
    where = [header.index(column) if column in header else None for column in PLAY_COLUMNS]
    rows = []
    for record in reader:
        if not record:
            continue
        if len(record) > width:
            raise ValueError(f"a row of {len(record)} fields under {width} columns")
        padded = record + [""] * (width - len(record))
        rows.append(["" if at is None else padded[at] for at in where])
    return rows


@dataclass(frozen=True, eq=False)
class _KeptHistory:
    """A person's history at a version, with its months as they were read."""

    version: int
    history: History
    months: dict[str, _KeptMonth]
    nbytes: int  # about how much memory all of it holds: the cache's budget counts this


_STRING_HEADER = sys.getsizeof("")  # what CPython adds to each string's characters


def _kept_nbytes(history: History, months: dict[str, _KeptMonth]) -> int:
    """Return the memory of a history and its months, each shared string counted once.

    The strings are interned, so each distinct text is one object: its size is its length in
    bytes (UTF-8, near enough) and CPython's per-string header, counted without a Python loop.
    """
    tables = [month.combos for month in months.values() if len(month.combos)]
    texts = (
        pd.unique(pd.concat([table[column] for table in tables for column in table.columns]))
        if tables
        else np.array([], dtype=object)
    )
    strings = int(pd.Series(texts, dtype=object).str.len().sum()) + _STRING_HEADER * len(texts)
    return history.nbytes + sum(month.nbytes for month in months.values()) + strings


def _refresh(store: Store, user_id: str, version: int, kept: _KeptHistory | None) -> _KeptHistory:
    """Return the person's history now, reading only the months new or changed since `kept`."""
    generations = _month_generations(store, user_id)
    before = kept.months if kept is not None else {}
    if kept is not None and generations == {n: m.generation for n, m in before.items()}:
        return _KeptHistory(version, kept.history, before, kept.nbytes)
    found: dict[str, tuple[int, _MonthPart | None]] = {}
    to_read = []
    for name in sorted(generations):
        month = before.get(name)
        if kept is not None and month is not None and month.generation == generations[name]:
            found[name] = (month.generation, month.part(kept.history))
        else:
            to_read.append(name)
    found |= _read_months(store, to_read)
    found = {name: found[name] for name in sorted(found)}  # months in order, as before
    read = len(to_read)
    readable = [(name, part) for name, (_, part) in found.items() if part is not None]
    unreadable = len(found) - len(readable)
    history, places = _combine([part for _, part in readable], unreadable)
    rows_of = {name: rows for (name, _), rows in zip(readable, places, strict=True)}
    months = {
        name: _kept_month(generation, part, rows_of.get(name))
        for name, (generation, part) in found.items()
    }
    logger.info(
        "history refreshed",
        extra={"user_id": user_id, "months": len(found), "months_read": read},
    )
    return _KeptHistory(version, history, months, _kept_nbytes(history, months))


class HistoryCache:
    """Keep the compact histories of the last few people within a budget, a version each."""

    def __init__(self, max_bytes: int = 16 * 2**20, max_users: int = 4) -> None:
        self.max_bytes = max_bytes
        self.max_users = max_users
        self._entries: OrderedDict[str, _KeptHistory] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, store: Store, user_id: str, version: int) -> History:
        """Return the person's history at `version`, re-reading only the months that changed."""
        with self._lock:
            kept = self._entries.get(user_id)
            if kept is not None:
                self._entries.move_to_end(user_id)
                if kept.version == version:
                    return kept.history
        fresh = _refresh(store, user_id, version, kept)
        with self._lock:
            self._entries[user_id] = fresh  # an older version is never asked for again
            self._entries.move_to_end(user_id)
            while len(self._entries) > 1 and (
                len(self._entries) > self.max_users or self.nbytes > self.max_bytes
            ):
                self._entries.popitem(last=False)
        return fresh.history

    @property
    def nbytes(self) -> int:
        """Return about how much memory the kept histories and their months' tables hold."""
        return sum(kept.nbytes for kept in self._entries.values())

    def clear(self) -> None:
        """Forget every kept history."""
        with self._lock:
            self._entries.clear()


HISTORY_CACHE = HistoryCache()
