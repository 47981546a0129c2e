"""WeCom pushes for the tests, built and sealed as WeCom builds them: the
XML of its callback documentation, encrypted and signed with the published
algorithm (api.wecom.crypto, itself checked against WeCom's sample vectors)."""

from __future__ import annotations

import time

from api.wecom.crypto import WeComCrypto

TOKEN = "searchlightTestToken2026"
AES_KEY = "pYHQdkbV4GSeq6y5pr45jz3qUyN7qwnBoituxgmc+cM"
CORP_ID = "wwsearchlighttest01"
CRYPTO = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
WECOM_ENV = {
    "KOC_WECOM_CORP_ID": CORP_ID,
    "KOC_WECOM_TOKEN": TOKEN,
    "KOC_WECOM_AES_KEY": AES_KEY,
}


def _cdata(name: str, value: str | None) -> str:
    return "" if value is None else f"<{name}><![CDATA[{value}]]></{name}>"


def contact_xml(
    change: str,
    staff: str,
    external: str,
    at: int,
    state: str | None = None,
    source: str | None = None,
    corp: str = CORP_ID,
) -> str:
    """A change_external_contact push."""
    return (
        f"<xml>{_cdata('ToUserName', corp)}{_cdata('FromUserName', 'sys')}"
        f"<CreateTime>{at}</CreateTime>{_cdata('MsgType', 'event')}"
        f"{_cdata('Event', 'change_external_contact')}{_cdata('ChangeType', change)}"
        f"{_cdata('UserID', staff)}{_cdata('ExternalUserID', external)}"
        f"{_cdata('State', state)}{_cdata('Source', source)}"
        f"{_cdata('WelcomeCode', 'WELCOMECODE' if change.startswith('add') else None)}</xml>"
    )


def chat_xml(
    detail: str,
    chat: str,
    members: list[str],
    at: int,
    state: str | None = None,
    join_scene: int | None = None,
) -> str:
    """A change_external_chat update push listing its members as <Item>s."""
    items = "".join(f"<Item><![CDATA[{m}]]></Item>" for m in members)
    return (
        f"<xml>{_cdata('ToUserName', CORP_ID)}{_cdata('FromUserName', 'sys')}"
        f"<CreateTime>{at}</CreateTime>{_cdata('MsgType', 'event')}"
        f"{_cdata('Event', 'change_external_chat')}{_cdata('ChatId', chat)}"
        f"{_cdata('ChangeType', 'update')}{_cdata('UpdateDetail', detail)}"
        + (f"<JoinScene>{join_scene}</JoinScene>" if join_scene is not None else "")
        + f"<QuitScene>0</QuitScene><MemChangeCnt>{len(members)}</MemChangeCnt>"
        f"<MemChangeList>{items}</MemChangeList>{_cdata('State', state)}</xml>"
    )


def sealed(
    xml: str,
    timestamp: int | None = None,
    nonce: str = "1372623149",
    crypto: WeComCrypto = CRYPTO,
) -> tuple[dict[str, str], str]:
    """The query and body WeCom POSTs for a push."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    encrypted = crypto.encrypt(xml)
    body = (
        f"<xml>{_cdata('ToUserName', crypto.corp_id)}{_cdata('Encrypt', encrypted)}"
        f"{_cdata('AgentID', '1000002')}</xml>"
    )
    return {
        "msg_signature": crypto.sign(ts, nonce, encrypted),
        "timestamp": ts,
        "nonce": nonce,
    }, body


def verification(echo: str, timestamp: int | None = None, nonce: str = "47744683") -> dict:
    """The query of WeCom's URL verification GET."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    encrypted = CRYPTO.encrypt(echo)
    return {
        "msg_signature": CRYPTO.sign(ts, nonce, encrypted),
        "timestamp": ts,
        "nonce": nonce,
        "echostr": encrypted,
    }
