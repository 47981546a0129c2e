"""`koc wecom status` and `koc wecom replay`: the WeCom inbox (docs/wecom.md).

Registered on `api.cli.app` when that module loads (it imports this one last).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from api.cli import JsonOption, StoreOption, _errors, _settings, _store, app, out
from api.i18n import _, current_lang
from api.i18n.formats import integer
from api.wecom.applier import Applier
from api.wecom.inbox import Inbox

wecom_app = typer.Typer(
    help=_("The WeCom callback inbox: see what it holds, apply it again."),
    no_args_is_help=True,
)
app.add_typer(wecom_app, name="wecom")


def _lines(inbox: Inbox, start: int) -> int:
    """Records in the inbox from byte `start` (line breaks counted)."""
    if not inbox.path.exists():
        return 0
    count, left = 0, inbox.durable_size - start
    with open(inbox.path, "rb") as f:
        f.seek(start)
        while left > 0:
            chunk = f.read(min(1 << 20, left))
            if not chunk:
                break
            count += chunk.count(b"\n")
            left -= len(chunk)
    return count


@wecom_app.command(help=_("The inbox's records and how many of them wait to be applied."))
def status(json_: JsonOption = False) -> None:
    settings = _settings()
    with _errors():
        inbox = Inbox(settings.wecom_inbox_dir, writer=False)
        applied = inbox.applied()
    row = {
        "inbox": str(inbox.path),
        "records": _lines(inbox, 0),
        "bytes": inbox.durable_size,
        "applied_bytes": applied,
        "waiting": _lines(inbox, applied),
    }
    if json_:
        typer.echo(json.dumps(row))
        return
    out.print(
        _(
            "{inbox}: {records} push(es), {bytes} bytes; {waiting} not yet applied",
            inbox=row["inbox"],
            records=integer(row["records"]),
            bytes=integer(row["bytes"]),
            waiting=integer(row["waiting"]),
        ),
        markup=False,
        highlight=False,
    )


@wecom_app.command(
    help=_(
        "Apply the inbox to the store again, from its start (or from the applied mark). "
        "Pushes already in the store are counted as duplicates, never added twice. The "
        "embedded store is the server's while it runs: stop it first."
    )
)
def replay(
    store: StoreOption = None,
    from_mark: Annotated[
        bool,
        typer.Option(
            "--from-mark",
            help=_("only what the server has not applied yet (default: everything)"),
        ),
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Apply the inbox to the store again, from its start (or from the
    applied mark). Pushes already in the store are counted as duplicates,
    never added twice. The embedded store is the server's while it runs:
    stop it first."""
    settings = _settings()
    with _errors():
        inbox = Inbox(settings.wecom_inbox_dir, writer=False)
        start = inbox.applied() if from_mark else 0
        with _store(settings, store) as the_store:
            report = Applier(the_store, inbox, settings).apply(start, move_mark=False)
        if inbox.durable_size > inbox.applied():
            inbox.mark_applied(inbox.durable_size)
    if json_:
        typer.echo(json.dumps({"inbox": str(inbox.path), "from": start, **report.to_json()}))
        return
    parts = [
        _(
            "replayed {pushes} push(es) from {inbox}: {events} event(s), {accepted} new, "
            "{duplicates} duplicate(s), {rejected} rejected, {conflicts} conflicting",
            pushes=integer(report.pushes),
            inbox=inbox.path,
            events=integer(report.events),
            accepted=integer(report.accepted),
            duplicates=integer(report.duplicates),
            rejected=integer(report.rejected),
            conflicts=integer(report.conflicts),
        )
    ]
    if report.quarantine:
        parts.append(_("quarantine: {files}", files=", ".join(report.quarantine)))
    if report.unreadable:
        parts.append(_("{n} unreadable line(s), see the log", n=integer(report.unreadable)))
    out.print(("；" if current_lang() == "zh" else "; ").join(parts), markup=False, highlight=False)
