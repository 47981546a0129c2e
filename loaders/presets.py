"""Mapping presets: the mapping files of common SCRM exports, in the package.

Each preset is `loaders/presets/<name>.toml`, a mapping file like any other
(docs/ingest.md, "Presets", lists each one's headers and where they come
from). `koc ingest --preset NAME` and the upload API's `preset` use them.
"""

from __future__ import annotations

from pathlib import Path

from loaders.errors import MappingError
from loaders.mapping import Mapping, load_mapping_file

PRESET_DIR = Path(__file__).with_name("presets")


def preset_names() -> list[str]:
    """The presets shipped, sorted."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_preset(name: str) -> Mapping:
    """The preset `name`; a `MappingError` naming the known ones when there is
    no such preset (the name never becomes a path unless it is one of them)."""
    names = preset_names()
    if name not in names:
        raise MappingError(
            "unknown preset {name!r}; presets are: {presets}", name=name, presets=", ".join(names)
        )
    return load_mapping_file(PRESET_DIR / f"{name}.toml")
