"""A decrypted WeCom push (XML) and the canonical events it makes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.settings import Settings
from api.wecom.pushes import (
    DEFAULT_STATE_PATTERN,
    PushError,
    StateGrammar,
    event_id,
    events_of,
    parse_push,
)
from tests.api.wecom_pushes import chat_xml, contact_xml

AT = 1_772_000_000  # 2026-02-25 06:13:20 UTC
AT_ISO = "2026-02-25T06:13:20+00:00"
DEFAULT = StateGrammar.of(DEFAULT_STATE_PATTERN)


def made(xml: str, grammar: StateGrammar = DEFAULT) -> list[dict]:
    return events_of(parse_push(xml), grammar)


@pytest.mark.parametrize("change", ["add_external_contact", "add_half_external_contact"])
def test_an_added_contact_is_a_join_under_the_staff_member(change):
    [event] = made(contact_xml(change, "zhangsan", "wmNEW", AT, state="double11_wmINVITER"))
    assert event == {
        "event_id": event["event_id"],
        "type": "join",
        "invitee_id": "wmNEW",
        "inviter_id": "wmINVITER",
        "campaign": "double11",
        "channel": None,
        "staff_id": "zhangsan",
        "occurred_at": AT_ISO,
    }
    assert event["event_id"].startswith("wecom-")


def test_a_contact_without_state_or_with_another_state_keeps_the_code():
    [bare] = made(contact_xml("add_external_contact", "s1", "wmA", AT))
    assert (bare["inviter_id"], bare["campaign"], bare["channel"]) == (None, None, None)
    [other] = made(contact_xml("add_external_contact", "s1", "wmB", AT, state="poster9"))
    assert (other["inviter_id"], other["campaign"], other["channel"]) == (None, None, "poster9")


@pytest.mark.parametrize(
    ("pattern", "state", "expected"),
    [
        # MoChat's 任务宝: fission-<parent id>
        (r"^fission-(?P<inviter>.+)$", "fission-wmPARENT_1", ("wmPARENT_1", None, None)),
        # kj-scrm: <prefix>_<campaign id>_<inviter external id>
        (
            r"^(?P<channel>[^_]+)_(?P<campaign>[^_]+)_(?P<inviter>.+)$",
            "kjfission_42_wmAB_cd",
            ("wmAB_cd", "42", "kjfission"),
        ),
        # the default: <campaign>_<inviter>, the inviter may hold underscores
        (DEFAULT_STATE_PATTERN, "d11_wm_X_y", ("wm_X_y", "d11", None)),
        # an optional part left out
        (
            r"^(?P<campaign>[a-z0-9]+)(-(?P<channel>[a-z]+))?:(?P<inviter>.+)$",
            "d11:u9",
            ("u9", "d11", None),
        ),
    ],
)
def test_state_grammars_of_the_common_scrms(pattern, state, expected):
    [event] = made(
        contact_xml("add_external_contact", "s", "wmNEW", AT, state=state), StateGrammar.of(pattern)
    )
    assert (event["inviter_id"], event["campaign"], event["channel"]) == expected


@pytest.mark.parametrize("change", ["del_external_contact", "del_follow_user"])
def test_a_deleted_contact_is_churn(change):
    [event] = made(contact_xml(change, "zhangsan", "wmGONE", AT))
    assert {k: event[k] for k in ("type", "invitee_id", "staff_id", "occurred_at")} == {
        "type": "churn",
        "invitee_id": "wmGONE",
        "staff_id": "zhangsan",
        "occurred_at": AT_ISO,
    }


def test_a_hand_over_an_edit_and_other_events_make_none():
    transfer = contact_xml("del_external_contact", "s1", "wmX", AT, source="DELETE_BY_TRANSFER")
    assert made(transfer) == []
    assert made(contact_xml("edit_external_contact", "s1", "wmX", AT)) == []
    assert made(contact_xml("transfer_fail", "s1", "wmX", AT)) == []
    rename = chat_xml("change_name", "wrCHAT", [], AT)
    assert made(rename) == []
    unknown = "<xml><MsgType>event</MsgType><Event>change_external_tag</Event></xml>"
    assert made(unknown) == [] and parse_push(unknown).kind == "change_external_tag"
    assert parse_push(rename).kind == "change_external_chat/update/change_name"


def test_group_members_join_and_leave_with_the_group_as_channel():
    joined = made(
        chat_xml("add_member", "wrCHAT", ["wmA", "wmB"], AT, state="d11_wmHOST", join_scene=3)
    )
    assert [
        (e["type"], e["invitee_id"], e["channel"], e["inviter_id"], e["campaign"]) for e in joined
    ] == [
        ("join", "wmA", "wrCHAT", "wmHOST", "d11"),
        ("join", "wmB", "wrCHAT", "wmHOST", "d11"),
    ]
    assert len({e["event_id"] for e in joined}) == 2
    left = made(chat_xml("del_member", "wrCHAT", ["wmA"], AT + 60))
    assert [(e["type"], e["invitee_id"], e["channel"]) for e in left] == [
        ("churn", "wmA", "wrCHAT")
    ]
    plain = made(chat_xml("add_member", "wrCHAT", ["wmC"], AT))
    assert (plain[0]["inviter_id"], plain[0]["campaign"]) == (None, None)


def test_the_old_comma_separated_member_list_is_read():
    xml = chat_xml("add_member", "wrCHAT", [], AT).replace(
        "<MemChangeList></MemChangeList>", "<MemChangeList><![CDATA[wmA,wmB]]></MemChangeList>"
    )
    assert [e["invitee_id"] for e in made(xml)] == ["wmA", "wmB"]


def test_event_ids_are_the_same_for_the_same_push_and_differ_otherwise():
    add = contact_xml("add_external_contact", "s1", "wmA", AT, state="c_i")
    assert made(add)[0]["event_id"] == made(add)[0]["event_id"]
    others = [
        contact_xml("add_external_contact", "s1", "wmA", AT + 1, state="c_i"),
        contact_xml("add_external_contact", "s2", "wmA", AT, state="c_i"),
        contact_xml("add_external_contact", "s1", "wmB", AT, state="c_i"),
        contact_xml("del_external_contact", "s1", "wmA", AT),
        contact_xml("add_external_contact", "s1", "wmA", AT, corp="wwother"),
    ]
    ids = {made(xml)[0]["event_id"] for xml in [add, *others]}
    assert len(ids) == 6
    push = parse_push(add)
    assert event_id(push, "m1") != event_id(push, "m2") != event_id(push)


@pytest.mark.parametrize(
    "xml",
    [
        "not xml",
        "<xml><Event>change_external_contact</Event>",
        # entities are refused, never expanded (billion laughs, external files)
        '<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><xml><UserID>&b;</UserID></xml>',
        '<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><UserID>&x;</UserID></xml>',
    ],
)
def test_what_is_not_a_push_is_refused(xml):
    with pytest.raises(PushError, match="not XML WeCom sends"):
        parse_push(xml)


def test_a_push_time_that_is_no_number_is_left_for_ingest_to_reject():
    xml = contact_xml("add_external_contact", "s1", "wmA", AT).replace(str(AT), "yesterday")
    assert made(xml)[0]["occurred_at"] == "yesterday"


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("(?P<campaign>[", "not a regular expression"),
        ("^(?P<who>.+)$", "who are not among"),
        ("^(.+)_(.+)$", "names none of the groups"),
    ],
)
def test_a_bad_state_pattern_is_a_settings_error(pattern, problem):
    with pytest.raises(ValidationError, match=problem):
        Settings(wecom_state_pattern=pattern)
