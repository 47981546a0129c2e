"""Inbox records into the store, in micro-batches: each batch's pushes
become canonical events (api.wecom.pushes) and go through the same ingest
as a file (validation, quarantine, one all-or-nothing batch, event-id
idempotency); then the applied mark moves past them.

In the server, `run` applies a batch whenever KOC_WECOM_BATCH_EVENTS pushes
wait or the oldest has waited KOC_WECOM_BATCH_SECONDS; it starts by applying
whatever an earlier run left past the mark (a crash between receiving and
applying loses nothing), and drains the inbox when the server stops.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from api.settings import Settings
from api.wecom.inbox import Inbox, InboxRecord
from api.wecom.pushes import PushError, StateGrammar, events_of, parse_push
from graph.ingest import ingest_file
from graph.store import Store
from loaders.canonical import FIELDS
from loaders.quarantine import Quarantine

log = logging.getLogger("searchlight.wecom")
POLL_SECONDS = 0.05  # how often the applier looks at the inbox
RETRY_SECONDS = 5.0  # after a failed batch (the store is away, say)
APPLIER_NICE = 10  # the applier's CPU priority, below the event loop's (0)


@dataclass
class ApplyReport:
    """What applying part of the inbox did."""

    pushes: int = 0
    events: int = 0
    accepted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    unreadable: int = 0  # inbox lines that are no record (logged with their offset)
    kinds: Counter[str] = field(default_factory=Counter)  # pushes by Event/ChangeType
    quarantine: list[str] = field(default_factory=list)

    def add(self, other: ApplyReport) -> None:
        for name in ("pushes", "events", "accepted", "duplicates", "conflicts", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.unreadable += other.unreadable
        self.kinds.update(other.kinds)
        self.quarantine += other.quarantine

    def to_json(self) -> dict:
        return {**self.__dict__, "kinds": dict(sorted(self.kinds.items()))}


class Applier:
    """Applies `inbox` to `store`; `on_change` runs after each batch that
    reached the store (the server drops its cache there)."""

    def __init__(
        self,
        store: Store,
        inbox: Inbox,
        settings: Settings,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.store, self.inbox, self.settings = store, inbox, settings
        self.grammar = StateGrammar.of(settings.wecom_state_pattern)
        self.on_change = on_change
        self.total = ApplyReport()

    def apply(self, start: int, end: int | None = None, *, move_mark: bool) -> ApplyReport:
        """Apply the inbox from byte `start` to `end` (default: all on disk),
        batch by batch; with `move_mark`, the applied mark follows each batch."""
        report = ApplyReport()
        offset = start
        while True:
            records, after = self.inbox.read(offset, self.settings.wecom_batch_events, end)
            if not records:
                return report
            report.add(self._apply_batch(records))
            if move_mark:
                self.inbox.mark_applied(after)
            offset = after

    def _apply_batch(self, records: list[InboxRecord]) -> ApplyReport:
        report = ApplyReport()
        events: list[dict] = []
        for item in records:
            if item.record is None:
                report.unreadable += 1
                log.error(
                    "WeCom inbox %s, byte %d: %s; skipped",
                    self.inbox.path,
                    item.offset,
                    item.problem,
                )
                continue
            try:
                push = parse_push(item.record["xml"])
            except PushError as exc:
                report.unreadable += 1
                log.error("WeCom inbox %s, byte %d: %s", self.inbox.path, item.offset, exc)
                continue
            report.pushes += 1
            report.kinds[push.kind] += 1
            events += events_of(push, self.grammar)
        if events:
            self._ingest(events, records[0].offset, report)
            self.on_change()
        return report

    def _ingest(self, events: list[dict], offset: int, report: ApplyReport) -> None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        settings = self.settings
        rejects = Quarantine(settings.quarantine_dir / f"wecom-{stamp}-{uuid.uuid4().hex[:8]}.csv")
        source = f"wecom:inbox@{offset}"
        with tempfile.TemporaryDirectory(prefix="searchlight-wecom-") as work:
            path = Path(work) / "events.jsonl"
            with open(path, "w", encoding="utf-8") as f:
                for event in events:
                    row = {name: event.get(name) for name in FIELDS}
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
            result = ingest_file(
                self.store,
                path,
                quarantine=rejects,
                timezone=settings.timezone,
                source=source,
                bounds=settings.time_bounds,
            )
        report.events += result.events
        report.accepted += result.accepted
        report.duplicates += result.duplicates
        report.conflicts += result.conflicts
        report.rejected += result.rejected
        if result.quarantine:
            report.quarantine.append(result.quarantine)
            log.warning(
                "WeCom %s: %d event(s) rejected and %d conflicting, in %s",
                source,
                result.rejected,
                result.conflicts,
                result.quarantine,
            )

    def run(self, stop: threading.Event) -> None:
        """The server's loop: apply in micro-batches until `stop`, then drain."""
        _lower_priority()
        self._apply_safely()  # what an earlier run received but did not apply
        seen, waiting_since = self.inbox.appended, None
        while not stop.wait(min(POLL_SECONDS, self.settings.wecom_batch_seconds)):
            waiting = self.inbox.appended - seen
            if not waiting:
                continue
            now = time.monotonic()
            waiting_since = waiting_since or now
            due = now - waiting_since >= self.settings.wecom_batch_seconds
            if waiting >= self.settings.wecom_batch_events or due:
                appended = self.inbox.appended
                if self._apply_safely():
                    seen, waiting_since = appended, None
                else:
                    stop.wait(RETRY_SECONDS)  # still waiting: tried again after the pause
        self._apply_safely()

    def _apply_safely(self) -> bool:
        """Apply everything past the mark; False (logged) when that failed."""
        try:
            report = self.apply(self.inbox.applied(), move_mark=True)
        except Exception:  # the store is away, the disk is full: keep the server up
            log.exception("applying the WeCom inbox failed; it is retried")
            return False
        if report.pushes or report.unreadable:
            self.total.add(report)
            log.info(
                "WeCom: applied %d push(es): %d event(s), %d new, %d duplicate(s), %d rejected",
                report.pushes,
                report.events,
                report.accepted,
                report.duplicates,
                report.rejected,
            )
        return True


def _lower_priority() -> None:
    """Run this thread at nice APPLIER_NICE (Linux: a thread's own
    priority), so the CPU goes to answering callbacks first: on a 2-core
    machine a batch into a 1M-user store takes most of a second, and at the
    same priority it doubled the p99 of the acknowledgements (docs/benchmarks.md)."""
    with contextlib.suppress(AttributeError, OSError):  # elsewhere: the same priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), APPLIER_NICE)
