"""Settings: one pydantic-settings class, read from `KOC_*` environment variables."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from api.i18n import DEFAULT_LANG, Lang
from api.wecom.crypto import aes_key
from api.wecom.pushes import DEFAULT_STATE_PATTERN, compile_state_pattern
from graph.analysis.fraud import FraudRules
from graph.analysis.snapshot_tables import SCORE_KINDS
from graph.store import Store
from graph.store_url import DEFAULT_STORE_URL, open_store
from loaders.canonical import DEFAULT_TIMEZONE
from loaders.errors import SearchlightError
from loaders.validate import DEFAULT_TIME_BOUNDS, TimeBounds

ROLES = ("viewer", "admin")
# Short keys can be guessed; 16 characters of a random token is the floor.
MIN_KEY_LENGTH = 16
DEFAULT_REWARD_TIERS = {"A": 80.0, "B": 60.0, "C": 40.0}


class ApiKey(BaseModel):
    role: str
    key: str


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOC_", env_nested_delimiter="__", extra="ignore")

    store_url: str = Field(
        DEFAULT_STORE_URL, description="a file path or duckdb:///path (embedded store)"
    )
    timezone: str = Field(
        DEFAULT_TIMEZONE,
        description="zone of naive times in source files, and of every time shown to a person",
    )
    lang: Lang = Field(
        DEFAULT_LANG,
        description="language of what people read (zh or en): the CLI without --lang, pages "
        "and API errors without ?lang, the koc_lang cookie or Accept-Language (docs/i18n.md)",
    )
    event_earliest: datetime = Field(
        DEFAULT_TIME_BOUNDS.earliest,
        description="events before this time are rejected at ingest (ISO 8601 with a zone)",
    )
    event_latest: datetime = Field(
        DEFAULT_TIME_BOUNDS.latest,
        description="events at or after this time are rejected at ingest (ISO 8601 with a zone)",
    )
    quarantine_dir: Path = Field(
        Path("./data/quarantine"), description="where rejected rows are written"
    )
    duckdb_memory_limit: str = Field("1GB", description="DuckDB's memory limit for the store")
    keep_snapshots: int = Field(
        10,
        ge=1,
        description="analysis snapshots kept after each analysis: the newest this many, plus "
        "every one an export was made from; older ones are deleted (docs/analysis.md)",
    )
    neo4j_password: SecretStr | None = Field(
        None, description="the Neo4j password when the store URL carries none"
    )
    neo4j_batch_size: int = Field(
        10_000, ge=1, le=1_000_000, description="rows per UNWIND batch written to Neo4j"
    )
    neo4j_retry_seconds: float = Field(
        10.0,
        ge=0,
        le=300,
        description="how long the Neo4j driver retries a transaction that failed for a "
        "transient reason (server unreachable, leader switch) before the error is reported",
    )
    analysis_engine: Literal["searchlight", "gds"] = Field(
        "searchlight",
        description="where analyses run their graph kernels: searchlight (Python, any "
        "store) or gds (Graph Data Science inside Neo4j; Neo4j stores only, docs/analysis.md)",
    )
    score: str = Field(
        "learned",
        description="the KOC score analyses compute: learned (predicts what each user brings "
        "over the next horizon, learned from the store's history; the weighted score when "
        "there is under two horizons of it) or weighted (docs/koc-score.md)",
    )
    score_horizon_days: float = Field(
        30.0,
        ge=1,
        le=3650,
        description="days ahead the learned KOC score predicts (docs/koc-score.md)",
    )
    analysis_worker: bool = Field(
        True,
        description="run the server's analyses and the explorer's layouts in worker "
        "processes, so requests are answered meanwhile (igraph holds Python's lock for "
        "seconds); off: in server threads",
    )
    fraud: FraudRules = Field(
        default_factory=FraudRules,
        description="fraud screening thresholds, e.g. KOC_FRAUD__BURST_JOINS=20 (docs/fraud.md)",
    )
    api_keys: Annotated[list[ApiKey], NoDecode] = Field(
        default_factory=list,
        description="ROLE:KEY pairs, comma-separated, ROLE viewer or admin "
        "(e.g. KOC_API_KEYS=admin:KEY1,viewer:KEY2); none means loopback only",
    )
    reward_tiers: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_REWARD_TIERS),
        description="reward tier by minimum KOC score, JSON (KOC_REWARD_TIERS='{\"A\": 80}')",
    )
    max_events_per_request: int = Field(
        100_000, ge=1, description="events one POST /v1/events may carry"
    )
    max_body_bytes: int = Field(
        64 << 20, ge=1024, description="largest request body except uploads, in bytes"
    )
    max_upload_bytes: int = Field(
        1 << 30, ge=1024, description="largest POST /v1/events/upload body, in bytes"
    )
    analysis_wait_seconds: float = Field(
        5.0, ge=0, description="POST /v1/analyses answers 202 when it runs longer than this"
    )

    cache_check_seconds: float = Field(
        2.0,
        ge=0,
        description="how often the server looks for writes by other processes (0: never)",
    )
    warm_up: bool = Field(
        True, description="load the latest analysis and default KOC list when the server starts"
    )
    max_expensive_jobs: int = Field(
        2,
        ge=1,
        le=64,
        description="KOC lists with new parameters (strategy, k, seed, exclude, ...) computed "
        "at once; beyond it the server answers 503 with Retry-After (docs/api.md)",
    )
    cache_mb: int = Field(
        512,
        ge=1,
        description="memory for cached answers, in MiB (about), least recently used dropped "
        "first; the latest snapshot and its graph are kept besides",
    )
    live_index: bool = Field(
        True,
        description="keep the live reads (rankings by live counts for any window, user pages, "
        "networks) in memory per store version, built in the background after each change; "
        "off: every such read asks the store",
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="koc serve closes a connection whose request headers are not all in "
        "within this long (from connecting, or from the previous response)",
    )
    max_header_bytes: int = Field(
        64 << 10,
        ge=1024,
        le=16 << 20,
        description="koc serve answers 431 and closes a connection whose request line and "
        "headers pass this many bytes",
    )
    keep_alive_seconds: float = Field(
        5.0, gt=0, le=3600, description="koc serve closes an idle kept-alive connection after this"
    )
    max_connections: int = Field(
        1000,
        ge=1,
        description="open connections koc serve takes; past it, requests get 503",
    )
    # WeCom callbacks (docs/wecom.md): all three set, or none (the routes answer 404).
    wecom_corp_id: str | None = Field(
        None, description="the corp id (企业ID) WeCom's callbacks must be sealed for"
    )
    wecom_token: SecretStr | None = Field(
        None, description="the callback Token from the WeCom admin console (a secret)"
    )
    wecom_aes_key: SecretStr | None = Field(
        None, description="the callback EncodingAESKey, 43 characters (a secret)"
    )
    wecom_state_pattern: str = Field(
        DEFAULT_STATE_PATTERN,
        description="regular expression reading a contact code's state: named groups among "
        "inviter, campaign and channel (docs/wecom.md, 'The state grammar')",
    )
    wecom_max_skew_seconds: int = Field(
        300,
        ge=1,
        le=86_400,
        description="callbacks whose timestamp is further than this from the server's clock "
        "are refused (403): a replayed old push",
    )
    wecom_inbox_dir: Path = Field(
        Path("./data/wecom-inbox"),
        description="the durable inbox every accepted WeCom push is written to before it is "
        "answered",
    )
    wecom_batch_events: int = Field(
        1000, ge=1, le=100_000, description="inbox pushes applied to the store in one batch"
    )
    wecom_batch_seconds: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="the longest an accepted push waits in the inbox before it is applied",
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        keys = []
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            role, sep, key = item.partition(":")
            if not sep:
                raise ValueError(f"{_masked(item)!r} is not ROLE:KEY")
            keys.append({"role": role.strip(), "key": key.strip()})
        return keys

    @field_validator("api_keys")
    @classmethod
    def _check_keys(cls, keys: list[ApiKey]) -> list[ApiKey]:
        for k in keys:
            if k.role not in ROLES:
                raise ValueError(f"role {k.role!r} is not one of {', '.join(ROLES)}")
            if len(k.key) < MIN_KEY_LENGTH:
                raise ValueError(
                    f"the {k.role} key {_masked(k.key)!r} is shorter than {MIN_KEY_LENGTH} "
                    "characters"
                )
        if len({k.key for k in keys}) < len(keys):
            raise ValueError("the same key is listed twice")
        return keys

    @field_validator("score")
    @classmethod
    def _check_score(cls, score: str) -> str:
        if score not in SCORE_KINDS:
            raise ValueError(f"unknown score {score!r}; choose one of {', '.join(SCORE_KINDS)}")
        return score

    @field_validator("reward_tiers")
    @classmethod
    def _check_tiers(cls, tiers: dict[str, float]) -> dict[str, float]:
        for name, floor in tiers.items():
            if not name.strip():
                raise ValueError("a reward tier needs a name")
            if not 0 <= floor <= 100:
                raise ValueError(f"tier {name!r}: minimum KOC score {floor} is not in 0..100")
        return dict(sorted(tiers.items(), key=lambda kv: -kv[1]))

    @field_validator("wecom_aes_key")
    @classmethod
    def _check_aes_key(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None:
            aes_key(key.get_secret_value())  # a ValueError naming no part of the key
        return key

    @field_validator("wecom_state_pattern")
    @classmethod
    def _check_state_pattern(cls, pattern: str) -> str:
        compile_state_pattern(pattern)
        return pattern

    @model_validator(mode="after")
    def _check_wecom(self) -> Settings:
        given = [self.wecom_corp_id, self.wecom_token, self.wecom_aes_key]
        if any(given) and not all(given):
            raise ValueError(
                "set KOC_WECOM_CORP_ID, KOC_WECOM_TOKEN and KOC_WECOM_AES_KEY together "
                "(or none of them: no WeCom callbacks)"
            )
        return self

    @property
    def wecom_enabled(self) -> bool:
        """Whether the WeCom callback routes are on (all three of corp id,
        token and EncodingAESKey are set)."""
        return bool(self.wecom_corp_id and self.wecom_token and self.wecom_aes_key)

    @property
    def time_bounds(self) -> TimeBounds:
        """The event times ingest accepts (KOC_EVENT_EARLIEST, KOC_EVENT_LATEST)."""
        return TimeBounds(self.event_earliest, self.event_latest)

    @model_validator(mode="after")
    def _check_bounds(self) -> Settings:
        self.time_bounds  # noqa: B018 - raises on naive or reversed bounds
        return self

    def open_store(self, url: str | None = None, *, read_only: bool = False) -> Store:
        """The store these settings (or `url`) name."""
        return open_store(
            url or self.store_url,
            read_only=read_only,
            memory_limit=self.duckdb_memory_limit,
            neo4j_password=self.neo4j_password.get_secret_value() if self.neo4j_password else None,
            neo4j_batch_size=self.neo4j_batch_size,
            neo4j_retry_seconds=self.neo4j_retry_seconds,
        )


def _masked(secret: str) -> str:
    """Enough of a key to recognise it in an error, not enough to use it."""
    return secret[:3] + "…" if len(secret) > 3 else "…"


class SettingsError(SearchlightError):
    """A KOC_* setting has a value we cannot use."""


def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"KOC_{'__'.join(str(p) for p in e['loc'] if not isinstance(p, int)).upper()}: "
            f"{e['msg']}"
            for e in exc.errors()
        )
        raise SettingsError("bad setting: {problems}", problems=problems) from None
