"""Settings: one pydantic-settings class, read from `KOC_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from graph.analysis.fraud import FraudRules
from graph.store import DEFAULT_STORE_URL
from loaders.canonical import DEFAULT_TIMEZONE
from loaders.errors import SearchlightError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOC_", env_nested_delimiter="__", extra="ignore")

    store_url: str = Field(
        DEFAULT_STORE_URL, description="a file path or duckdb:///path (embedded store)"
    )
    timezone: str = Field(DEFAULT_TIMEZONE, description="zone of naive times in source files")
    quarantine_dir: Path = Field(
        Path("./data/quarantine"), description="where rejected rows are written"
    )
    duckdb_memory_limit: str = Field("1GB", description="DuckDB's memory limit for the store")
    fraud: FraudRules = Field(
        default_factory=FraudRules,
        description="fraud screening thresholds, e.g. KOC_FRAUD__BURST_JOINS=20 (docs/fraud.md)",
    )


class SettingsError(SearchlightError):
    """A KOC_* setting has a value we cannot use."""


def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"KOC_{'__'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise SettingsError(f"bad setting: {problems}") from None
