"""Ingest over HTTP: a JSON or NDJSON body, or an uploaded file, through the
same pipeline as `koc ingest` (validation, quarantine, one all-or-nothing
batch per request, event-id idempotency)."""

from __future__ import annotations

import csv
import json
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from api.i18n import _, notes_text
from api.i18n.rejections import reason_text
from api.models import IngestResult, Rejection
from api.service import Service
from graph.ingest import ingest_file
from loaders.errors import Note, SearchlightError
from loaders.mapping import Mapping, load_mapping_file
from loaders.presets import load_preset
from loaders.quarantine import Quarantine
from loaders.validate import check_timezone

# Rejected rows returned in the response; all of them are in the quarantine file.
REJECTIONS_SHOWN = 100
_UPLOAD_SUFFIXES = {
    ".csv",
    ".tsv",
    ".txt",
    ".xlsx",
    ".xlsm",
    ".jsonl",
    ".ndjson",
    ".json",
    ".parquet",
    ".pq",
}


class BadRequestError(SearchlightError):
    """The request body is not what the route takes."""

    def __init__(
        self, message: str, /, field: str = "body", location: str = "body", **params: object
    ) -> None:
        super().__init__(message, **params)
        self.field, self.location = field, location

    @classmethod
    def of(
        cls,
        error: SearchlightError,
        field: str = "body",
        location: str = "body",
        renames: dict[str, str] | None = None,
    ) -> BadRequestError:
        """`error` as a bad request with the same message, each server path
        among the keys of `renames` named by its value instead."""
        params = _renamed(error.params, renames or {})
        return cls(error.message, field=field, location=location, **params)


class TooManyEventsError(BadRequestError):
    """More events than one request may carry (413)."""


def events_body_to_jsonl(body: bytes, limit: int) -> bytes:
    """A JSON array of event objects, or NDJSON, as JSONL bytes; positions in
    the array become line numbers, so rejections name the element."""
    text = body.lstrip()
    if not text:
        raise BadRequestError("empty body: send a JSON array of events or NDJSON lines")
    if text[:1] == b"[":
        try:
            # Numbers stay text, as the file readers keep them: ids keep every digit.
            events = json.loads(body, parse_int=str, parse_float=str, parse_constant=str)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequestError("body is not valid JSON: {error}", error=exc) from None
        except RecursionError:
            raise BadRequestError(
                "body nests arrays or objects too deeply to read (about 1,000 levels): "
                "send an array of flat event objects"
            ) from None
        if len(events) > limit:
            raise TooManyEventsError(
                "{count:,} events in one request; at most {limit:,} "
                "(split the array, or upload a file to /v1/events/upload)",
                count=len(events),
                limit=limit,
            )
        if not events:
            raise BadRequestError("the array holds no events")
        lines = [json.dumps(e, ensure_ascii=False) for e in events]
        return ("\n".join(lines) + "\n").encode("utf-8")
    count = sum(1 for line in body.splitlines() if line.strip())
    if count > limit:
        raise TooManyEventsError(
            "{count:,} NDJSON lines in one request; at most {limit:,} "
            "(split them, or upload a file to /v1/events/upload)",
            count=count,
            limit=limit,
        )
    return body


def ingest_events(
    service: Service, body: bytes, campaign: str | None, timezone: str | None
) -> IngestResult:
    jsonl = events_body_to_jsonl(body, service.settings.max_events_per_request)
    with _workdir() as work:
        path = work / "events.jsonl"
        path.write_bytes(jsonl)
        return _ingest(service, path, "api:events", None, campaign, timezone)


def ingest_upload(
    service: Service,
    file: BinaryIO,
    filename: str,
    mapping_file: BinaryIO | None,
    mapping_filename: str | None,
    campaign: str | None,
    timezone: str | None,
    preset: str | None = None,
) -> IngestResult:
    name = _safe_name(filename)
    suffix = Path(name).suffix.lower()
    with _workdir() as work:
        path = work / ("upload" + (suffix if suffix in _UPLOAD_SUFFIXES else ""))
        with open(path, "wb") as out:
            shutil.copyfileobj(file, out, 1 << 20)
        mapping = None
        if mapping_file is not None:
            mapping_suffix = Path(_safe_name(mapping_filename or "")).suffix.lower()
            if mapping_suffix not in (".toml", ".json"):
                raise BadRequestError(
                    "the mapping file must be .toml or .json", field="mapping", location="file"
                )
            mapping_path = work / f"mapping{mapping_suffix}"
            with open(mapping_path, "wb") as out:
                shutil.copyfileobj(mapping_file, out)
            try:
                mapping = load_mapping_file(mapping_path)
            except SearchlightError as exc:
                raise BadRequestError.of(
                    exc, "mapping", "file", {str(mapping_path): _("the mapping file")}
                ) from None
        if preset is not None:
            mapping = _preset(preset, given_mapping=mapping is not None)
        return _ingest(service, path, f"upload:{name}", mapping, campaign, timezone)


def _ingest(
    service: Service,
    path: Path,
    source: str,
    mapping: Mapping | None,
    campaign: str | None,
    timezone: str | None,
) -> IngestResult:
    settings = service.settings
    try:
        zone = check_timezone(timezone or settings.timezone)
    except SearchlightError as exc:
        raise BadRequestError.of(exc, "timezone", "query") from None
    if campaign:
        mapping = (mapping or Mapping()).merged(Mapping(defaults={"campaign": campaign}))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    rejects = Quarantine(settings.quarantine_dir / f"api-{stamp}-{uuid.uuid4().hex[:8]}.csv")
    try:
        report = ingest_file(
            service.store,
            path,
            quarantine=rejects,
            mapping=mapping,
            timezone=zone,
            source=source,
            bounds=settings.time_bounds,
        )
    except SearchlightError as exc:
        # Name the upload, never the server's temporary path.
        raise BadRequestError.of(exc, renames={str(path): source}) from None
    service.changed(kept_latest=True)
    return IngestResult(
        **{**report.to_json(), "notes": notes_text(report.notes)},
        rejections=_first_rejections(rejects.path) if rejects.rows else [],
    )


def _preset(name: str, given_mapping: bool) -> Mapping:
    """The preset of an upload's `preset` query parameter (a 400 naming the
    known presets when there is no such one)."""
    if given_mapping:
        raise BadRequestError(
            "send a preset or a mapping file, not both", field="preset", location="query"
        )
    try:
        return load_preset(name)
    except SearchlightError as exc:
        raise BadRequestError.of(exc, "preset", "query") from None


def _first_rejections(path: Path) -> list[Rejection]:
    shown = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            reason = reason_text(row["reason"])  # the file keeps it in English
            shown.append(Rejection(line=int(row["line"]), field=row["field"], reason=reason))
            if len(shown) == REJECTIONS_SHOWN:
                break
    return shown


def _renamed(params: dict[str, object], renames: dict[str, str]) -> dict[str, object]:
    """An error's `params` with each text of `renames` replaced (a nested
    error's too): the client's names for the server's temporary paths."""
    out: dict[str, object] = {}
    for key, value in params.items():
        if isinstance(value, SearchlightError):
            value = SearchlightError(value.message, **_renamed(value.params, renames))
        elif isinstance(value, Note):
            value = Note(value.message, **_renamed(value.params, renames))
        elif any(old in str(value) for old in renames):
            value = str(value)
            for old, new in renames.items():
                value = value.replace(old, new)
        out[key] = value
    return out


def _safe_name(filename: str) -> str:
    """The last part of a client's file name, in safe characters."""
    base = re.split(r"[\\/]", filename or "")[-1]
    return re.sub(r"[^\w.\-]+", "_", base)[:120] or "upload"


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="searchlight-api-") as work:
        yield Path(work)
