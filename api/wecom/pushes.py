"""A decrypted WeCom push (its XML) and the canonical events it makes.

- `change_external_contact` / `add_external_contact`, `add_half_external_contact`:
  a `join` of `ExternalUserID` under the staff member `UserID` (`staff_id`),
  with inviter, campaign and channel read from the contact code's `State` by
  the state grammar (KOC_WECOM_STATE_PATTERN);
- `del_external_contact` (the staff member deleted the customer) and
  `del_follow_user` (the customer deleted the staff member): a `churn` of
  `ExternalUserID`; a deletion with `Source` DELETE_BY_TRANSFER is a hand-over
  to another staff member, not churn, and makes no event;
- `change_external_chat` / `update` with `UpdateDetail` `add_member`: a `join`
  of each member in `MemChangeList` into the group (`ChatId` is the channel;
  inviter and campaign from the group's `State` when it has one);
  `del_member`: a `churn` of each;
- anything else (`edit_external_contact`, `transfer_fail`, group renames,
  other events) is accepted and kept in the inbox, and makes no event.

Every event's `event_id` hashes WeCom's own fields naming the change (corp,
CreateTime, event, change type, users, chat, member), so a push WeCom sends
again is the same event, counted as a duplicate.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from loaders.errors import SearchlightError

DEFAULT_STATE_PATTERN = r"^(?P<campaign>[^_]+)_(?P<inviter>.+)$"
STATE_GROUPS = ("inviter", "campaign", "channel")
CONTACT_JOINS = ("add_external_contact", "add_half_external_contact")
CONTACT_CHURNS = ("del_external_contact", "del_follow_user")
TRANSFER_SOURCE = "DELETE_BY_TRANSFER"
# Fields hashed into an event id, in this order (missing ones as "").
_ID_FIELDS = (
    "ToUserName",
    "CreateTime",
    "Event",
    "ChangeType",
    "UpdateDetail",
    "UserID",
    "ExternalUserID",
    "ChatId",
)


class PushError(SearchlightError):
    """A decrypted push that is not WeCom's XML."""


@dataclass
class Push:
    """A push's top-level elements (text, stripped) and, for group-chat
    changes, the members listed in MemChangeList."""

    fields: dict[str, str]
    members: list[str] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        return self.fields.get(name) or None

    @property
    def kind(self) -> str:
        """`Event/ChangeType[/UpdateDetail]`, or the MsgType of a non-event."""
        parts = [self.get("Event") or self.get("MsgType") or "unknown"]
        parts += [p for p in (self.get("ChangeType"), self.get("UpdateDetail")) if p]
        return "/".join(parts)


def parse_push(xml: str) -> Push:
    """The push in a decrypted message. Entities and DTDs are refused, never
    expanded (defusedxml): a push has none."""
    try:
        root = fromstring(xml, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as exc:
        raise PushError("the decrypted push is not XML WeCom sends: {error}", error=exc) from None
    fields: dict[str, str] = {}
    members: list[str] = []
    for child in root:
        if child.tag == "MemChangeList":
            members = _members(child)
        elif len(child) == 0:
            fields[child.tag] = (child.text or "").strip()
    return Push(fields, members)


def _members(element: Element) -> list[str]:
    """MemChangeList as <Item>s, or (before WeCom's 2021 format) one
    comma-separated text."""
    items = [(item.text or "").strip() for item in element if item.tag == "Item"]
    if not items and element.text:
        items = [part.strip() for part in element.text.split(",")]
    return [item for item in items if item]


@dataclass(frozen=True)
class StateGrammar:
    """How a contact code's `state` names inviter, campaign and channel: a
    regular expression with named groups among `inviter`, `campaign` and
    `channel`, matched from the state's start. A state it does not match keeps no inviter or campaign; the
    whole state is then the channel, so the code is not lost."""

    pattern: re.Pattern[str]

    @classmethod
    def of(cls, pattern: str) -> StateGrammar:
        return cls(compile_state_pattern(pattern))

    def parse(self, state: str | None) -> dict[str, str | None]:
        parsed: dict[str, str | None] = dict.fromkeys(STATE_GROUPS)
        if not state:
            return parsed
        match = self.pattern.match(state)
        if match is None:
            parsed["channel"] = state
            return parsed
        for name, value in match.groupdict().items():
            parsed[name] = value or None
        return parsed


def compile_state_pattern(pattern: str) -> re.Pattern[str]:
    """The grammar's regular expression; ValueError saying what is wrong."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    names = set(compiled.groupindex)
    unknown = names - set(STATE_GROUPS)
    if unknown:
        raise ValueError(
            f"named group(s) {', '.join(sorted(unknown))} are not among {', '.join(STATE_GROUPS)}"
        )
    if not names:
        raise ValueError(f"the pattern names none of the groups {', '.join(STATE_GROUPS)}")
    return compiled


def event_id(push: Push, member: str = "") -> str:
    """The stable id of the change a push (and a member of it) reports."""
    parts = [push.fields.get(name, "") for name in _ID_FIELDS] + [member]
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"wecom-{digest[:32]}"


def events_of(push: Push, grammar: StateGrammar) -> list[dict[str, str | None]]:
    """The canonical events (field name -> value, as ingest reads JSON
    lines) a push makes; [] for a push that changes no user."""
    event = push.get("Event")
    if event == "change_external_contact":
        return _contact_events(push, grammar)
    if event == "change_external_chat" and push.get("ChangeType") == "update":
        return _chat_events(push, grammar)
    return []


def _occurred_at(push: Push) -> str | None:
    """CreateTime (epoch seconds) in ISO 8601, UTC; as given when not a
    number, so ingest quarantines it with its reason."""
    raw = push.get("CreateTime")
    if raw is None or not raw.isdigit():
        return raw
    return datetime.fromtimestamp(int(raw), UTC).isoformat()


def _contact_events(push: Push, grammar: StateGrammar) -> list[dict[str, str | None]]:
    change = push.get("ChangeType")
    base = {
        "event_id": event_id(push),
        "invitee_id": push.get("ExternalUserID"),
        "occurred_at": _occurred_at(push),
        "staff_id": push.get("UserID"),
    }
    if change in CONTACT_JOINS:
        state = grammar.parse(push.get("State"))
        return [
            {
                **base,
                "type": "join",
                "inviter_id": state["inviter"],
                "campaign": state["campaign"],
                "channel": state["channel"],
            }
        ]
    if change in CONTACT_CHURNS and push.get("Source") != TRANSFER_SOURCE:
        return [{**base, "type": "churn"}]
    return []


def _chat_events(push: Push, grammar: StateGrammar) -> list[dict[str, str | None]]:
    detail = push.get("UpdateDetail")
    if detail not in ("add_member", "del_member"):
        return []
    state = grammar.parse(push.get("State"))
    when = _occurred_at(push)
    events = []
    for member in push.members:
        event: dict[str, str | None] = {
            "event_id": event_id(push, member),
            "invitee_id": member,
            "occurred_at": when,
            "channel": push.get("ChatId"),
        }
        if detail == "add_member":
            event.update(type="join", inviter_id=state["inviter"], campaign=state["campaign"])
        else:
            event["type"] = "churn"
        events.append(event)
    return events
