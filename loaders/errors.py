"""Errors a person can act on. Each message names the file, field or value at fault."""

from __future__ import annotations


class SearchlightError(Exception):
    """Base of every error the CLI and API turn into a one-line message."""


class MappingError(SearchlightError):
    """A column mapping (CLI `--map`, a mapping file) that cannot be used."""


class SourceError(SearchlightError):
    """A source file that cannot be read at all; nothing from it is applied."""
