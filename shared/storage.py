"""Keep objects in a folder or a Cloud Storage bucket, whole, with generation preconditions."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from google.api_core import exceptions as google_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[attr-defined,import-untyped,unused-ignore]  # no py.typed; which error depends on mypy's cache

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Precondition meaning "only if the object does not exist yet" (Cloud Storage's own convention).
IF_ABSENT = 0

_TEMP_PREFIX = ".tmp-"
_LOCK_NAME = ".store.lock"


class StorageError(Exception):
    """Base of the store's errors."""


class NotFoundError(StorageError):
    """The object does not exist."""


class ConflictError(StorageError):
    """A write's or delete's precondition failed: another writer got there first."""


@dataclass(frozen=True)
class StoredObject:
    """An object's content and the generation it was read at."""

    data: bytes
    generation: int


class Store(Protocol):
    """Where datasets, run reports, locks and user settings live."""

    def read(self, name: str) -> StoredObject:
        """Return the object's content and generation; raise NotFoundError when absent."""

    def generation(self, name: str) -> int | None:
        """Return the object's current generation, or None when absent (cheap: no content)."""

    def write(
        self,
        name: str,
        data: bytes,
        *,
        if_generation_match: int | None = None,
        content_type: str = "application/octet-stream",
    ) -> int:
        """Replace the object whole and return its new generation.

        With `if_generation_match`, write only if the object is still at that generation
        (IF_ABSENT: only if it does not exist), else raise ConflictError.
        """

    def delete(self, name: str, *, if_generation_match: int | None = None) -> None:
        """Delete the object; NotFoundError when absent, ConflictError on a failed precondition."""

    def list(self, prefix: str = "") -> list[str]:
        """Return the names of the objects that start with `prefix`, sorted."""

    def generations(self, prefix: str = "") -> dict[str, int]:
        """Return each object under `prefix` with its generation, in one listing (no content)."""


def delete_under(store: Store, prefix: str) -> int:
    """Delete every object whose name starts with `prefix`; return how many this call deleted.

    An object someone else deleted first is gone either way, and not counted.
    """
    deleted = 0
    for name in store.list(prefix):
        try:
            store.delete(name)
        except NotFoundError:
            continue
        deleted += 1
    return deleted


def retry_on_conflict(name: str, attempt: Callable[[], T], attempts: int = 5) -> T:
    """Run a read-change-write of one object again while another writer gets there first.

    `attempt` reads the object, changes it and writes it with its generation as precondition;
    a ConflictError means someone else wrote in between, so it reads again.
    """
    for _ in range(attempts):
        try:
            return attempt()
        except ConflictError:
            continue
    raise ConflictError(f"{name} kept changing; gave up after {attempts} tries")


def check_name(name: str) -> str:
    """Refuse object names that could escape the store or that it keeps for itself."""
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(part in ("", ".", "..") or part.startswith(".") for part in parts)
    ):
        raise ValueError(f"invalid object name {name!r}")
    return name


def open_store(data_url: str) -> Store:
    """Open the store a DATA_URL names: gs://bucket/prefix, or a folder path."""
    if data_url.startswith("gs://"):
        bucket_name, _, prefix = data_url[len("gs://") :].partition("/")
        if not bucket_name:
            raise ValueError(f"DATA_URL {data_url!r} names no bucket")
        if os.environ.get("STORAGE_EMULATOR_HOST"):
            # The emulator needs no credentials; looking for some would wait on a metadata server.
            client = storage.Client(project="local", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
        else:
            client = storage.Client()
        return GcsStore(client.bucket(bucket_name), prefix)
    return FolderStore(Path(data_url))


class FolderStore:
    """A store in a local folder: the default, and what tests and the demo use."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"FolderStore({str(self.root)!r})"

    def _path(self, name: str) -> Path:
        return self.root / check_name(name)

    def read(self, name: str) -> StoredObject:
        path = self._path(name)
        try:
            with path.open("rb") as handle:
                generation = os.fstat(handle.fileno()).st_mtime_ns
                return StoredObject(handle.read(), generation)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFoundError(name) from None

    def generation(self, name: str) -> int | None:
        try:
            return self._path(name).stat().st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write(
        self,
        name: str,
        data: bytes,
        *,
        if_generation_match: int | None = None,
        content_type: str = "application/octet-stream",
    ) -> int:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write a temporary file beside the target, then rename over it: readers see the old
        # or the new content, never half, and a crash leaves only a stray temporary file.
        handle, temp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as temp_file:
                temp_file.write(data)
                temp_file.flush()
                os.fsync(temp_file.fileno())
            with self._lock():
                current = self.generation(name)
                _check_precondition(name, current, if_generation_match)
                # The generation is the file's mtime in ns, forced to grow on every write so
                # that two writes within one clock tick still differ.
                generation = max(time.time_ns(), (current or 0) + 1)
                os.utime(temp_name, ns=(generation, generation))
                os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return generation

    def delete(self, name: str, *, if_generation_match: int | None = None) -> None:
        path = self._path(name)
        with self._lock():
            current = self.generation(name)
            if current is None:
                raise NotFoundError(name)
            _check_precondition(name, current, if_generation_match)
            path.unlink()

    def list(self, prefix: str = "") -> list[str]:
        return sorted(self._walk(prefix))

    def generations(self, prefix: str = "") -> dict[str, int]:
        found = {}
        for name, path in self._walk(prefix).items():
            try:
                found[name] = path.stat().st_mtime_ns
            except FileNotFoundError:  # deleted meanwhile
                continue
        return dict(sorted(found.items()))

    def _walk(self, prefix: str) -> dict[str, Path]:
        # Walk only the folder the prefix names ("plays/alice/" walks that folder, not the store).
        folder = self.root
        if "/" in prefix:
            with contextlib.suppress(ValueError):  # an odd prefix walks the whole store
                folder = self.root / check_name(prefix.rsplit("/", 1)[0])
        names = {}
        for path in folder.rglob("*"):
            relative = path.relative_to(self.root).as_posix()
            hidden = any(part.startswith(".") for part in relative.split("/"))
            if path.is_file() and not hidden and relative.startswith(prefix):
                names[relative] = path
        return names

    @contextmanager
    def _lock(self) -> Iterator[None]:
        # One lock for the whole folder makes check-then-replace atomic across processes.
        with (self.root / _LOCK_NAME).open("a") as lock_file:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


def _check_precondition(name: str, current: int | None, if_generation_match: int | None) -> None:
    if if_generation_match is None:
        return
    if if_generation_match == IF_ABSENT and current is not None:
        raise ConflictError(f"{name} already exists")
    if if_generation_match not in (IF_ABSENT, current):
        raise ConflictError(
            f"{name} is at generation {current}, not {if_generation_match}"
            if current is not None
            else f"{name} no longer exists"
        )


class GcsStore:
    """A store in a Cloud Storage bucket, under an optional prefix."""

    def __init__(self, bucket: storage.Bucket, prefix: str = "") -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def __repr__(self) -> str:
        return f"GcsStore('gs://{self.bucket.name}/{self.prefix}')"

    def _blob_name(self, name: str) -> str:
        return self.prefix + check_name(name)

    def read(self, name: str) -> StoredObject:
        blob = self.bucket.get_blob(self._blob_name(name))
        if blob is None or blob.generation is None:
            raise NotFoundError(name)
        generation = int(blob.generation)
        try:
            # Pinning the generation keeps content and generation consistent under a rewrite.
            data = blob.download_as_bytes(if_generation_match=generation)
        except google_exceptions.NotFound:
            raise NotFoundError(name) from None
        except google_exceptions.PreconditionFailed:
            return self.read(name)
        return StoredObject(data, generation)

    def generation(self, name: str) -> int | None:
        blob = self.bucket.get_blob(self._blob_name(name))
        return None if blob is None or blob.generation is None else int(blob.generation)

    def write(
        self,
        name: str,
        data: bytes,
        *,
        if_generation_match: int | None = None,
        content_type: str = "application/octet-stream",
    ) -> int:
        blob = self.bucket.blob(self._blob_name(name))
        options: dict[str, Any] = {}
        if if_generation_match is not None:
            options["if_generation_match"] = if_generation_match
        try:
            blob.upload_from_string(data, content_type=content_type, **options)
        except google_exceptions.PreconditionFailed:
            raise ConflictError(
                f"{name} changed since generation {if_generation_match}"
                if if_generation_match
                else f"{name} already exists"
            ) from None
        return int(blob.generation or 0)

    def delete(self, name: str, *, if_generation_match: int | None = None) -> None:
        blob = self.bucket.blob(self._blob_name(name))
        options: dict[str, Any] = {}
        if if_generation_match is not None:
            options["if_generation_match"] = if_generation_match
        try:
            blob.delete(**options)
        except google_exceptions.NotFound:
            raise NotFoundError(name) from None
        except google_exceptions.PreconditionFailed:
            raise ConflictError(f"{name} changed since generation {if_generation_match}") from None

    def list(self, prefix: str = "") -> list[str]:
        names = [
            blob.name[len(self.prefix) :]
            for blob in self.bucket.list_blobs(prefix=self.prefix + prefix)
        ]
        return sorted(names)

    def generations(self, prefix: str = "") -> dict[str, int]:
        found = {
            blob.name[len(self.prefix) :]: int(blob.generation or 0)
            for blob in self.bucket.list_blobs(prefix=self.prefix + prefix)
        }
        return dict(sorted(found.items()))
