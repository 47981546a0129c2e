"""Settings: one pydantic-settings class, read from `KOC_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from graph.store import DEFAULT_STORE_URL
from loaders.canonical import DEFAULT_TIMEZONE


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOC_", extra="ignore")

    store_url: str = Field(
        DEFAULT_STORE_URL, description="a file path or duckdb:///path (embedded store)"
    )
    timezone: str = Field(DEFAULT_TIMEZONE, description="zone of naive times in source files")
    quarantine_dir: Path = Field(
        Path("./data/quarantine"), description="where rejected rows are written"
    )
    duckdb_memory_limit: str = Field("1GB", description="DuckDB's memory limit for the store")


def get_settings() -> Settings:
    return Settings()
