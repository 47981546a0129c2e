"""Which messages the code uses, and which of them the Chinese catalogue lacks.

Babel's extractors read `_("…")`, `N_("…")` and `ngettext("…", "…", n)` from
the Python code, the pages' scripts and their Jinja2 templates, plus the
first argument of every `SearchlightError` raised in `graph/` and `loaders/`
(`error_keywords`) and of every `Note` they make. Run it to see what a change left untranslated:

    .venv/bin/python -m api.i18n.extract            # missing ones, as .po entries
    .venv/bin/python -m api.i18n.extract --unused   # catalogue entries no code uses
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from babel.messages.extract import extract_from_dir

from api.i18n import catalog

ROOT = Path(__file__).resolve().parent.parent.parent
# Where person-readable text is written.
SOURCE_DIRS = ("api", "graph", "loaders")
METHOD_MAP = [
    ("**/i18n/extract.py", "ignore"),
    ("**.py", "python"),
    ("**/static/**.js", "javascript"),
    ("**/templates/**.html", "jinja2.ext:babel_extract"),
]
# `Note` (loaders.errors): a note graph/ or loaders/ makes for a person.
KEYWORDS: dict[str, tuple[int, ...] | None] = {
    "_": None,
    "N_": None,
    "ngettext": (1, 2),
    "Note": None,
}
FIELD = re.compile(r"\{(\w*)[^{}]*\}")


@dataclass(frozen=True)
class Message:
    msgid: str
    where: str  # path:line of its first use


def error_keywords() -> dict[str, None]:
    """Every `SearchlightError` subclass: its first argument is a message."""
    import api.app  # noqa: F401  (imports every module that defines an error)
    from loaders.errors import SearchlightError

    seen: dict[str, None] = {"SearchlightError": None}
    todo = [SearchlightError]
    while todo:
        for sub in todo.pop().__subclasses__():
            seen[sub.__name__] = None
            todo.append(sub)
    return seen


def used_messages() -> dict[str, Message]:
    """Every message the code uses, by msgid (the English text)."""
    keywords = {**KEYWORDS, **error_keywords()}
    found: dict[str, Message] = {}
    for top in SOURCE_DIRS:
        results = extract_from_dir(
            ROOT / top,
            METHOD_MAP,
            keywords=keywords,
            options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        )
        for filename, line, msgid, _comments, _context in results:
            for text in msgid if isinstance(msgid, tuple) else (msgid,):
                if text and text.strip():
                    found.setdefault(text, Message(text, f"{top}/{filename}:{line}"))
    return found


def fields(text: str) -> set[str]:
    """The `{fields}` a message fills."""
    return {m.group(1) for m in FIELD.finditer(text.replace("{{", "").replace("}}", ""))}


def missing(lang: str = "zh") -> list[Message]:
    """Used messages without a translation in `lang`."""
    have = catalog(lang)  # type: ignore[arg-type]
    return [m for m in used_messages().values() if m.msgid not in have]


def _po_entry(message: Message) -> str:
    escaped = message.msgid.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'#: {message.where}\nmsgid "{escaped}"\nmsgstr ""\n'


def main(argv: list[str]) -> int:
    if "--unused" in argv:
        used = used_messages()
        unused = sorted(set(catalog("zh")) - set(used))
        print("\n".join(unused))
        return 1 if unused else 0
    gaps = missing()
    print("\n".join(_po_entry(m) for m in gaps))
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
