"""Each person's daily share of the app's Spotify requests, and the answers kept for them.

In Development Mode the daily quota is the app's, counted per developer account, perhaps
1,000-2,000 requests (PLATFORM.md): one person reloading a page that lists their playlists
could spend it all, and everyone else, the ETL's jobs included, would be told "quota used up".
So every Spotify request the web makes for a person is drawn from two counts of the UTC day
(the day of the injected clock, `settings.clock`):

- the person's own, at most `WEB_SPOTIFY_REQUESTS_PER_PERSON` (100 by default), in
  `quota/<user_id>/<YYYY-MM-DD>.json`;
- all people's together, at most `WEB_SPOTIFY_REQUESTS_PER_DAY` (400 by default), in
  `quota_web/<YYYY-MM-DD>.json`. The rest of the day's quota is the ETL's: at the low end of
  what projects report (about 1,100) that leaves 700 for the hourly plays (24 a day for each
  person who keeps a history), the daily taste and charts reads, and the matching.

Answers that cost requests and change slowly (a person's playlists) are kept for the person
for ANSWER_MINUTES in `quota/<user_id>/answers/<what>.json`: on the server, under their id,
never in a cookie that could be replayed to ask again. "Delete my data" deletes the whole
`quota/<user_id>/` prefix (the day's count with it: the total across people, which keeps the
ETL's reserve, is not a person's data and stays).

Why counter objects in the bucket, and not Flask-Limiter: Flask-Limiter counts route hits in a
storage shared by the instances, Redis or Memcached in production; its in-memory storage is per
process, so N workers allow N times the limit (alisaifee/flask-limiter#40, #441). App Engine
standard reaches Memorystore only through a Serverless VPC Access connector, paid for by the
hour (Memorystore's supported-environments page), and the legacy bundled memcache may evict a
value at any time (App Engine's Memcache overview), which would give a person their share
again. The bucket is already there, shared by every instance, and its generation preconditions
make a read-change-write safe between instances (`retry_on_conflict`). And what is scarce is
Spotify requests, not page views: a cached view costs none, a "Make" several; so the count is
of requests, taken from the request ledger every Spotify call already goes through.

What that costs, and its limits: a page view reads the two counts before its first Spotify
request (none when it asks Spotify nothing) and writes both once after it, when it spent any.
Cloud Storage takes about one write a second to one object name (its quotas page), so the
total across people is one object only while the web makes fewer than about one Spotify-asking
page a second (Development Mode allows 5 people). A page that has begun asking Spotify
finishes (a playlist is never left half-written for the share), so a person may end a day
over their share by one page's requests (at most about 25: a listing of 20 pages, a playlist
of a few hundred tracks), and pages sent at the same moment may each pass the check before
either is counted.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from shared.people.deletion import register
from shared.spotify import RequestLedger
from shared.spotify_errors import SpotifyError
from shared.storage import (
    IF_ABSENT,
    NotFoundError,
    StorageError,
    Store,
    delete_under,
    retry_on_conflict,
)

if TYPE_CHECKING:
    from shared.config import Settings

logger = logging.getLogger(__name__)

QUOTA_FOLDER = "quota"
WEB_TOTAL_FOLDER = "quota_web"
ANSWERS_FOLDER = "answers"
ANSWER_MINUTES = 10
_DAY_FILE = re.compile(r"\d{4}-\d{2}-\d{2}\.json")
_ANSWER_NAME = re.compile(r"[a-z][a-z0-9-]*")


class ShareSpentError(SpotifyError):
    """A person's share of the day's Spotify requests is spent, or all people's together.

    A SpotifyError, so that every page already handles it as Spotify not to be asked now
    (nothing half-done: it is raised before a page's first request); its text is for people.
    """

    def __init__(self, message: str, *, whole_web: bool, resets_at: datetime) -> None:
        super().__init__(message)
        self.whole_web = whole_web
        self.resets_at = resets_at


@dataclass(frozen=True)
class Share:
    """How many Spotify requests the web may make in a UTC day: per person, and in all."""

    per_person: int
    per_day: int


def person_prefix(user_id: str) -> str:
    """The prefix of everything kept for a person's share: their daily counts and answers."""
    return f"{QUOTA_FOLDER}/{user_id}/"


def person_day_object(user_id: str, day: date) -> str:
    """The count of a person's Spotify requests on a UTC day."""
    return f"{person_prefix(user_id)}{day.isoformat()}.json"


def web_day_object(day: date) -> str:
    """The count of all people's Spotify requests on a UTC day."""
    return f"{WEB_TOTAL_FOLDER}/{day.isoformat()}.json"


def answer_object(user_id: str, what: str) -> str:
    """Where an answer kept for a person lives ("backup-sources", "chart-choices")."""
    if not _ANSWER_NAME.fullmatch(what):
        raise ValueError(f"not an answer's name: {what!r}")
    return f"{person_prefix(user_id)}{ANSWERS_FOLDER}/{what}.json"


def utc_day(now: datetime) -> date:
    """The UTC day a moment falls in: the day a count belongs to."""
    return now.astimezone(UTC).date()


def next_day_starts(now: datetime) -> datetime:
    """When the next UTC day begins, and a spent share with it."""
    return datetime.combine(utc_day(now) + timedelta(days=1), time(0), tzinfo=UTC)


def requests_on(store: Store, name: str) -> tuple[int, int | None]:
    """Return a count and its generation; 0 and None when there is none yet.

    A count that cannot be read is 0 at its generation (logged): the next write replaces it.
    """
    try:
        stored = store.read(name)
    except NotFoundError:
        return 0, None
    try:
        count = json.loads(stored.data)["requests"]
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise TypeError(f"requests is {count!r}")
    except (ValueError, TypeError, KeyError) as error:
        logger.warning(
            "an unreadable request count is counted anew",
            extra={"object": name, "error": str(error)},
        )
        return 0, stored.generation
    return count, stored.generation


def add_requests(store: Store, name: str, requests: int, day: date) -> int:
    """Add requests to a day's count under its generation (again when another writer got
    there first); return the new count. The first write of a day deletes the days before it
    under the same prefix, so that a count is kept one day."""
    created = False

    def attempt() -> int:
        nonlocal created
        count, generation = requests_on(store, name)
        total = count + requests
        data = json.dumps({"day": day.isoformat(), "requests": total}).encode()
        store.write(
            name,
            data,
            if_generation_match=IF_ABSENT if generation is None else generation,
            content_type="application/json",
        )
        created = generation is None
        return total

    total = retry_on_conflict(name, attempt)
    if created:
        _delete_days_before(store, name.rsplit("/", 1)[0] + "/", day)
    return total


def _delete_days_before(store: Store, prefix: str, day: date) -> None:
    for name in store.list(prefix):
        file_name = name[len(prefix) :]
        if _DAY_FILE.fullmatch(file_name) and file_name < f"{day.isoformat()}.json":
            try:
                store.delete(name)
            except NotFoundError:
                continue


def delete_person_quota(store: Store, user_id: str, settings: Settings | None = None) -> int:
    """Delete a person's counts and kept answers ("Delete my data"); return how many."""
    return delete_under(store, person_prefix(user_id))


register("quota", "the day's count of your Spotify requests and the answers kept for minutes",
         delete_person_quota)  # fmt: skip


class ShareLedger(RequestLedger):
    """A web request's Spotify requests, drawn from its person's share of the day.

    Before the first request it checks that the person (when known) and all people together
    have some left, else raises ShareSpentError and no request is made; the requests made are
    added to both counts by `settle`, once, when the page is done. A store that cannot be read
    lets the page go on (logged): a storage hiccup should not stop every page.
    """

    def __init__(self, store: Store, share: Share, *, now: datetime, user_id: str = "") -> None:
        super().__init__()
        self.store = store
        self.share = share
        self.now = now
        self.day = utc_day(now)
        self.user_id = user_id
        self.refused: ShareSpentError | None = None
        self._checked = False

    def charge(self, kind: str) -> None:
        if not self._checked:
            self.check()
        super().charge(kind)

    def check(self) -> None:
        """Refuse a page's first Spotify request when a share of the day is spent."""
        try:
            person = (
                requests_on(self.store, person_day_object(self.user_id, self.day))[0]
                if self.user_id
                else 0
            )
            everyone = requests_on(self.store, web_day_object(self.day))[0]
        except StorageError as error:
            logger.warning("the Spotify share could not be read", extra={"error": str(error)})
            self._checked = True
            return
        if self.user_id and person >= self.share.per_person:
            self.refused = self._spent(whole_web=False)
        elif everyone >= self.share.per_day:
            self.refused = self._spent(whole_web=True)
        if self.refused is not None:
            logger.info(
                "a Spotify share is spent",
                extra={"user_id": self.user_id, "whole_web": self.refused.whole_web},
            )
            raise self.refused
        self._checked = True

    def settle(self) -> None:
        """Add the requests made to the person's count and to all people's."""
        if self.spent == 0:
            return
        if self.user_id:
            add_requests(
                self.store, person_day_object(self.user_id, self.day), self.spent, self.day
            )
        add_requests(self.store, web_day_object(self.day), self.spent, self.day)

    def _spent(self, *, whole_web: bool) -> ShareSpentError:
        resets_at = next_day_starts(self.now)
        when = f"{resets_at:%a %b} {resets_at.day}, {resets_at.year}, 00:00 UTC"
        if whole_web:
            message = (
                f"Local Shows' pages have made all the Spotify requests they may make today "
                f"({self.share.per_day} a day for everyone together; the rest is kept for the "
                f"nightly backups, histories and charts). Pages that ask Spotify work again "
                f"from {when}; everything else works as usual."
            )
        else:
            message = (
                f"You have used your share of Spotify requests for today "
                f"({self.share.per_person} a day for each person, so that no one can use up "
                f"what everyone shares). Pages that ask Spotify work again from {when}; "
                f"everything else works as usual."
            )
        return ShareSpentError(message, whole_web=whole_web, resets_at=resets_at)


def load_answer(
    store: Store, user_id: str, what: str, *, now: datetime, fresh_for: timedelta | None
) -> Any:
    """Return an answer kept for the person, or None when there is none, it is older than
    `fresh_for` (None: any age), it was kept "later" than now (a clock moved back), or it
    cannot be read."""
    try:
        stored = json.loads(store.read(answer_object(user_id, what)).data)
        kept_at = datetime.fromisoformat(stored["at"])
        value = stored["value"]
        age = now - kept_at  # a time without its zone is a TypeError here
    except NotFoundError:
        return None
    except (StorageError, ValueError, TypeError, KeyError) as error:
        logger.warning("a kept answer could not be read", extra={"what": what, "error": str(error)})
        return None
    if fresh_for is not None and not timedelta(0) <= age < fresh_for:
        return None
    return value


def save_answer(store: Store, user_id: str, what: str, value: Any, *, now: datetime) -> None:
    """Keep an answer for the person (a failure is logged: the page has its answer anyway)."""
    data = json.dumps({"at": now.isoformat(), "value": value}).encode()
    try:
        store.write(answer_object(user_id, what), data, content_type="application/json")
    except StorageError as error:
        logger.warning("an answer could not be kept", extra={"what": what, "error": str(error)})


def forget_answer(store: Store, user_id: str, what: str) -> None:
    """Drop a kept answer: the next page asks Spotify again."""
    try:
        store.delete(answer_object(user_id, what))
    except NotFoundError:
        return
