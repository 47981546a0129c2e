"""The WeCom inbox: group-committed appends, the applied mark, a crash's
torn line, one writer; and the applier's micro-batches into a store."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from api.settings import Settings
from api.wecom.applier import Applier
from api.wecom.inbox import APPLIED_FILE, Inbox, InboxError
from graph.embedded import EmbeddedStore
from tests.api.wecom_pushes import WECOM_ENV, chat_xml, contact_xml

AT = 1_772_000_000


def test_concurrent_appends_are_each_written_whole_once(tmp_path):
    inbox = Inbox(tmp_path, writer=True)
    threads = [
        threading.Thread(
            target=lambda n=n: [inbox.append({"xml": f"<x>{n}-{i}</x>"}) for i in range(50)]
        )
        for n in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    inbox.close()
    lines = inbox.path.read_bytes().splitlines()
    assert sorted(json.loads(line)["xml"] for line in lines) == sorted(
        f"<x>{n}-{i}</x>" for n in range(8) for i in range(50)
    )
    assert inbox.appended == 400 and inbox.durable_size == inbox.path.stat().st_size


def test_read_returns_whole_records_in_batches_from_an_offset(tmp_path):
    inbox = Inbox(tmp_path, writer=True)
    for i in range(5):
        inbox.append({"xml": f"<x>{i}</x>"})
    first, after = inbox.read(0, limit=2)
    assert [r.record["xml"] for r in first] == ["<x>0</x>", "<x>1</x>"]
    rest, end = inbox.read(after, limit=10)
    assert [r.record["xml"] for r in rest] == ["<x>2</x>", "<x>3</x>", "<x>4</x>"]
    assert end == inbox.durable_size and inbox.read(end, limit=10) == ([], end)
    inbox.close()


def test_a_torn_last_line_is_cut_when_the_server_opens_the_inbox(tmp_path):
    inbox = Inbox(tmp_path, writer=True)
    inbox.append({"xml": "<x>kept</x>"})
    inbox.close()
    whole = inbox.path.stat().st_size
    with open(inbox.path, "ab") as f:
        f.write(b'{"xml":"<x>torn')  # a crash mid-write: never acknowledged
    reader = Inbox(tmp_path, writer=False)
    assert reader.durable_size == whole  # a reader stops before it
    again = Inbox(tmp_path, writer=True)
    assert inbox.path.stat().st_size == whole
    again.append({"xml": "<x>next</x>"})
    records, _ = again.read(0, limit=10)
    assert [r.record["xml"] for r in records] == ["<x>kept</x>", "<x>next</x>"]
    again.close()


def test_one_server_appends_to_an_inbox(tmp_path):
    first = Inbox(tmp_path, writer=True)
    with pytest.raises(InboxError, match="another server is writing"):
        Inbox(tmp_path, writer=True)
    Inbox(tmp_path, writer=False)  # reading alongside is fine
    first.close()
    Inbox(tmp_path, writer=True).close()  # the lock went with the first


def test_the_applied_mark_survives_and_a_broken_one_is_named(tmp_path):
    inbox = Inbox(tmp_path, writer=True)
    inbox.append({"xml": "<x/>"})
    assert inbox.applied() == 0
    inbox.mark_applied(inbox.durable_size)
    assert Inbox(tmp_path, writer=False).applied() == inbox.durable_size
    (tmp_path / APPLIED_FILE).write_text("{oops")
    with pytest.raises(InboxError, match="delete it to apply the whole inbox again"):
        inbox.applied()
    inbox.close()


def test_appending_to_a_closed_inbox_is_an_error_not_a_hang(tmp_path):
    inbox = Inbox(tmp_path, writer=True)
    inbox.close()
    with pytest.raises(InboxError, match="closed"):
        inbox.append({"xml": "<x/>"})


def _settings(tmp_path, **overrides) -> Settings:
    return Settings(
        quarantine_dir=tmp_path / "quarantine",
        wecom_corp_id=WECOM_ENV["KOC_WECOM_CORP_ID"],
        wecom_token=WECOM_ENV["KOC_WECOM_TOKEN"],
        wecom_aes_key=WECOM_ENV["KOC_WECOM_AES_KEY"],
        wecom_inbox_dir=tmp_path / "inbox",
        **overrides,
    )


def test_the_applier_batches_pushes_into_the_store_and_moves_the_mark(tmp_path):
    settings = _settings(tmp_path, wecom_batch_events=2)
    inbox = Inbox(settings.wecom_inbox_dir, writer=True)
    pushes = [
        contact_xml("add_external_contact", "s1", "wmA", AT, state="d11_wmROOT"),
        contact_xml("add_external_contact", "s1", "wmA", AT, state="d11_wmROOT"),  # a retry
        contact_xml("edit_external_contact", "s1", "wmA", AT + 5),
        chat_xml("add_member", "wrG", ["wmA", "wmB"], AT + 10),
        contact_xml("add_external_contact", "s1", "wmA", AT, state="d11_wmA"),  # self-referral
    ]
    for xml in pushes:
        inbox.append({"xml": xml})
    inbox.append({"xml": "<not xml"})
    with open(inbox.path, "ab") as f:  # not a record at all: a disk fault, say
        f.write(b"garbage\n")
    inbox._durable = inbox.path.stat().st_size
    changes = []
    with EmbeddedStore(tmp_path / "s.duckdb") as store:
        applier = Applier(store, inbox, settings, on_change=lambda: changes.append(1))
        report = applier.apply(0, move_mark=True)
        assert inbox.applied() == inbox.durable_size
        assert (report.pushes, report.unreadable) == (5, 2)
        assert (report.accepted, report.duplicates, report.rejected) == (3, 1, 1)
        [quarantine] = report.quarantine
        assert "self-referral" in Path(quarantine).read_text(encoding="utf-8-sig")
        assert report.kinds["change_external_contact/edit_external_contact"] == 1
        assert len(changes) == 3  # three batches of two records held events
        assert store.user("wmA").referred_by == "wmROOT"
        assert store.stats().users == 3  # wmROOT, wmA, wmB
        again = applier.apply(0, move_mark=False)
        assert (again.accepted, again.duplicates, again.rejected) == (0, 4, 1)
