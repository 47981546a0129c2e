"""Errors a person can act on. Each message names the file, field or value at fault."""

from __future__ import annotations


class SearchlightError(Exception):
    """Base of every error the CLI and API turn into a one-line message.

    The message is English text with `{fields}` filled from `params`, so the
    API and the CLI can show it in the reader's language (`api.i18n.error_text`);
    `str(error)` is the English:

    >>> str(SourceError("{path}: not a CSV file", path="a.txt"))
    'a.txt: not a CSV file'
    """

    def __init__(self, message: str = "", /, **params: object) -> None:
        self.message = message
        self.params = params
        super().__init__(message.format(**params) if params else message)


class MappingError(SearchlightError):
    """A column mapping (CLI `--map`, a mapping file) that cannot be used."""


class SourceError(SearchlightError):
    """A source file that cannot be read at all; nothing from it is applied."""


def N_(message: str, /) -> str:
    """Marks an error message for the Chinese catalogue where it is not the
    first argument of an error class (an error's own `__init__` passing it on
    to `super().__init__`); the text is unchanged, as `api.i18n.N_`."""
    return message


class Note(str):
    """Text for a person that is not an error: a note beside a result, a
    stage's name. Its value is the English text, so it stays a plain string
    everywhere (JSON, comparisons); `message` is the English template and
    `params` fill it, so `api.i18n.note_text` shows it in the reader's
    language. As with errors, never pass an f-string as the message; a
    field may itself be a Note (translated too):

    >>> note = Note("only {picked} of k={k} picked", picked=3, k=5)
    >>> note, note.message, note.params
    ('only 3 of k=5 picked', 'only {picked} of k={k} picked', {'picked': 3, 'k': 5})
    """

    message: str
    params: dict[str, object]

    def __new__(cls, message: str, /, **params: object) -> Note:
        note = super().__new__(cls, message.format(**params) if params else message)
        note.message, note.params = message, params
        return note

    def __getnewargs_ex__(self) -> tuple[tuple[str], dict[str, object]]:
        return (self.message,), self.params  # pickled and copied as a Note

    def to_json(self) -> dict:
        """The template and its fields, to save beside the English text
        (`from_json` reads it back); a field that is not a JSON scalar is
        saved as its text."""
        return {
            "message": self.message,
            "params": {k: _json_field(v) for k, v in self.params.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> Note:
        params = {
            k: cls.from_json(v) if isinstance(v, dict) else v
            for k, v in (data.get("params") or {}).items()
        }
        return cls(str(data["message"]), **params)


def _json_field(value: object) -> object:
    if isinstance(value, Note):
        return value.to_json()
    if value is None or isinstance(value, bool | int | float) or type(value) is str:
        return value
    return str(value)


# A list in one line: the same in both languages, so not in the catalogue.
_JOINED = "{first}; {rest}"


def joined(parts: list[str], /) -> str:
    """`parts` joined by "; ", as a Note whose fields are the parts, so each
    part that is a Note is still translated."""
    if not parts:
        return ""
    text = parts[-1]
    for part in reversed(parts[:-1]):
        text = Note(_JOINED, first=part, rest=text)
    return text
