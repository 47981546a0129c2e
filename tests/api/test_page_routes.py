"""The pages as the server sends them (no browser: tests/api/test_pages.py
drives them in Chromium): each in the reader's language, its scripts'
messages with it, everything it loads served by the app."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "api" / "static"


def messages(html: str) -> dict[str, str]:
    block = re.search(r'<script type="application/json" id="messages">(.*?)</script>', html, re.S)
    assert block
    return json.loads(block[1])


@pytest.mark.parametrize(
    ("path", "lang", "header", "title", "said"),
    [
        ("/dashboard", "zh-CN", "活动看板", "New joins", "新增"),
        ("/dashboard", "en-US", "Campaign dashboard", "New joins", "New joins"),
        ("/explorer", "zh-CN", "探照灯关系图", "Why this score", "分数构成"),
        ("/explorer", "en-US", "Searchlight explorer", "Why this score", "Why this score"),
    ],
)
def test_a_page_comes_in_the_readers_language(client, path, lang, header, title, said):
    page = client.get(path, headers={"Accept-Language": lang})
    assert page.status_code == 200
    assert f'<html lang="{lang if lang == "zh-CN" else "en"}"' in page.text
    assert f"<h1>{header}</h1>" in page.text
    assert messages(page.text)[title] == said
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # Everything it loads is this server's.
    for src in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert src.startswith(("/", "?", "data:")), src


def test_the_switch_is_remembered_and_the_scripts_are_served(client):
    page = client.get("/explorer?lang=en", headers={"Accept-Language": "zh-CN"})
    assert "<h1>Searchlight explorer</h1>" in page.text
    assert page.cookies.get("koc_lang") == "en"
    again = client.get("/dashboard", headers={"Accept-Language": "zh-CN"})
    assert "<h1>Campaign dashboard</h1>" in again.text  # the cookie wins
    for src in re.findall(r'<script src="/static/explorer/([^"]+)"', page.text + again.text):
        served = client.get(f"/static/explorer/{src}")
        assert served.status_code == 200 and served.content == (STATIC / src).read_bytes()
    assert "echarts/echarts.min.js" in again.text
