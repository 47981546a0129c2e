"""The WeCom inbox: an append-only JSON-lines file in KOC_WECOM_INBOX_DIR
that every accepted push is written to, and synced to disk, before WeCom
gets its answer; and the mark of how far it has been applied to the store.

- `inbox.jsonl`: one record a line, `{"received_at": ..., "xml": ...}`, the
  decrypted push as WeCom sent it (unknown kinds too: the audit trail);
- `applied.json`: `{"offset": N}`, the bytes of inbox.jsonl already applied,
  replaced atomically after each applied batch;
- `inbox.lock`: held by the one server that appends.

Appends are group-committed: a writer thread puts every record queued
meanwhile in one write and one fsync, and each push is answered once its
own line is on disk. Only synced bytes are
handed to the applier, so the applied mark never passes what a crash could
lose. A line torn by a crash mid-write (never acknowledged) is cut off when
the server opens the inbox again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loaders.errors import SearchlightError

INBOX_FILE = "inbox.jsonl"
APPLIED_FILE = "applied.json"
LOCK_FILE = "inbox.lock"
_TAIL_CHUNK = 1 << 16
Done = Callable[["OSError | None"], object]


class InboxError(SearchlightError):
    """The inbox cannot be opened or written."""


@dataclass
class InboxRecord:
    """One line: where it starts, its record (None when unreadable) and,
    for an unreadable one, why."""

    offset: int
    record: dict[str, Any] | None
    problem: str = ""


class Inbox:
    """The inbox in `folder`. `writer` (the server) takes the lock, cuts a
    torn last line and appends; a reader (`koc wecom replay`, `status`) only
    reads, up to the last whole line."""

    def __init__(self, folder: Path, *, writer: bool) -> None:
        self.folder = Path(folder)
        self.path = self.folder / INBOX_FILE
        self._cond = threading.Condition()
        self._queue: list[tuple[bytes, Done]] = []
        self._accepting = False
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._writer: threading.Thread | None = None
        self.appended = 0  # records synced since this inbox was opened
        try:
            if writer:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._open_for_writing()
                self._durable = os.fstat(self._fd).st_size  # type: ignore[arg-type]
            else:
                self._durable = _whole_lines_size(self.path)
        except OSError as exc:
            self.close()
            raise InboxError(
                "cannot open the WeCom inbox {folder}: {reason}",
                folder=self.folder,
                reason=exc.strerror,
            ) from None
        if writer:
            self._accepting = True
            self._writer = threading.Thread(
                target=self._write_loop, name="wecom-inbox", daemon=True
            )
            self._writer.start()

    def _open_for_writing(self) -> None:
        self._lock_fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InboxError(
                "another server is writing the WeCom inbox {folder}; one server per inbox "
                "(KOC_WECOM_INBOX_DIR)",
                folder=self.folder,
            ) from None
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        whole = _whole_lines_size(self.path)
        if os.fstat(self._fd).st_size > whole:
            os.ftruncate(self._fd, whole)  # a line a crash tore: it was never acknowledged
            os.fsync(self._fd)

    @property
    def durable_size(self) -> int:
        """Bytes of inbox.jsonl on disk, whole lines only."""
        return self._durable

    def submit(self, record: dict[str, Any], done: Done) -> None:
        """Queue one record; `done(None)` runs (in the writer's thread) once
        it is synced to disk, `done(error)` when it could not be written."""
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        with self._cond:
            if not self._accepting:
                raise InboxError("the WeCom inbox is closed (the server is stopping)")
            self._queue.append((line, done))
            self._cond.notify()

    def append(self, record: dict[str, Any]) -> None:
        """Write one record and return once it is synced to disk."""
        synced = threading.Event()
        outcome: list[OSError | None] = []
        self.submit(record, lambda error: (outcome.append(error), synced.set()))
        synced.wait()
        self._raise(outcome[0])

    async def append_async(self, record: dict[str, Any]) -> None:
        """`append` for the event loop: it waits without holding a thread."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[OSError | None] = loop.create_future()
        self.submit(record, lambda error: _wake(loop, future, error))
        self._raise(await future)

    def _raise(self, error: OSError | None) -> None:
        if error is not None:
            raise InboxError(
                "cannot write the WeCom inbox {path}: {reason}",
                path=self.path,
                reason=error.strerror,
            )

    def _write_loop(self) -> None:
        """The writer's thread: everything queued meanwhile in one write and
        one fsync (group commit), until closed and drained."""
        while True:
            with self._cond:
                while not self._queue and self._accepting:
                    self._cond.wait()
                batch, self._queue = self._queue, []
            if not batch:
                return
            error = self._write(b"".join(line for line, _ in batch))
            if error is None:
                self.appended += len(batch)
            for _, done in batch:
                done(error)

    def _write(self, data: bytes) -> OSError | None:
        fd = self._fd
        assert fd is not None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):  # take back what was half written (503s)
                os.ftruncate(fd, self._durable)
            return exc
        self._durable += len(data)
        return None

    def stop_appending(self) -> None:
        """Take no more records; return once those queued are on disk."""
        with self._cond:
            self._accepting = False
            self._cond.notify()
        if self._writer is not None:
            self._writer.join()

    def read(self, start: int, limit: int, end: int | None = None) -> tuple[list[InboxRecord], int]:
        """At most `limit` records from byte `start` up to `end` (default:
        what is on disk), and the offset after the last one."""
        stop = self._durable if end is None else min(end, self._durable)
        records: list[InboxRecord] = []
        offset = start
        if offset >= stop:
            return records, offset
        with open(self.path, "rb") as f:
            f.seek(offset)
            while offset < stop and len(records) < limit:
                line = f.readline()
                if not line.endswith(b"\n"):
                    break
                records.append(_decoded(offset, line))
                offset += len(line)
        return records, offset

    def applied(self) -> int:
        """The applied mark: bytes of the inbox already in the store."""
        try:
            mark = json.loads((self.folder / APPLIED_FILE).read_text())
            offset = int(mark["offset"])
        except FileNotFoundError:
            return 0
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InboxError(
                "{path} is unreadable ({error}); delete it to apply the whole inbox again "
                "(duplicates are counted, not added)",
                path=self.folder / APPLIED_FILE,
                error=exc,
            ) from None
        return max(0, min(offset, self._durable))

    def mark_applied(self, offset: int) -> None:
        """Move the applied mark, atomically (a crash leaves the old or the new)."""
        target = self.folder / APPLIED_FILE
        temporary = target.with_suffix(".tmp")
        with open(temporary, "w") as f:
            json.dump({"offset": offset}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def close(self) -> None:
        """Stop appending (after writing what is queued) and let the lock go."""
        self.stop_appending()
        for handle in (self._fd, self._lock_fd):
            if handle is not None:
                os.close(handle)
        self._fd = self._lock_fd = None


def _wake(loop: asyncio.AbstractEventLoop, future: asyncio.Future, error: OSError | None) -> None:
    """Hand a write's outcome to the loop its request waits on (in the
    writer's thread; a loop already closed has nobody waiting)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, future, error)


def _settle(future: asyncio.Future, error: OSError | None) -> None:
    if not future.done():  # its request may have been cancelled (the client left)
        future.set_result(error)


def _decoded(offset: int, line: bytes) -> InboxRecord:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return InboxRecord(offset, None, f"not JSON: {exc}")
    if not isinstance(record, dict) or not isinstance(record.get("xml"), str):
        return InboxRecord(offset, None, "not an inbox record (no xml)")
    return InboxRecord(offset, record)


def _whole_lines_size(path: Path) -> int:
    """The size of `path` up to and including its last line break (0 when
    there is no such file)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    with open(path, "rb") as f:
        end = size
        while end > 0:
            start = max(0, end - _TAIL_CHUNK)
            f.seek(start)
            chunk = f.read(end - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                return start + cut + 1
            end = start
    return 0
