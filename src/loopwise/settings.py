"""Runtime settings: one pydantic-settings class, read from ``LOOPWISE_*`` environment variables.

SQLite under the user's data directory is the default, so ``pip install loopwise`` works with no
configuration; production points ``LOOPWISE_DATABASE_URL`` at PostgreSQL
(``postgresql+psycopg://user@host/db``) and ``LOOPWISE_ARTIFACT_DIR`` at storage shared by every
worker.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """Return the per-user data directory loopwise uses when nothing else is configured."""
    return Path(platformdirs.user_data_dir("loopwise", appauthor=False))


class Settings(BaseSettings):
    """Every knob loopwise reads at start-up.

    Tests and embedding applications build their own instance (``Settings(database_url=...)``)
    instead of mutating globals.
    """

    model_config = SettingsConfigDict(env_prefix="LOOPWISE_", extra="forbid")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""
    artifact_dir: Path | None = None
    max_payload_bytes: int = Field(default=64 * 1024, gt=0)
    max_batch_items: int = Field(default=10_000, gt=0)
    max_request_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    """Largest HTTP request body the API reads (10,000 items of a few kB fit)."""
    lease_seconds: int = Field(default=300, gt=0)
    db_pool_size: int = Field(default=10, gt=0, le=200)
    """Database connections each process keeps open; the HTTP server runs at most this many
    requests' database work at once per worker (more would open and close connections)."""
    echo_sql: bool = False
    compute_threads: int = Field(default=1, gt=0, le=256)
    """BLAS and OpenMP threads each server process (``loopwise serve``) lets numerical code
    use. One by default: a server already runs one request per core, and idle BLAS threads
    spin-wait on the CPU the other requests and the database need (on 2 cores the server's CPU
    per ingested item went from 209 to 118 µs with one thread, ``bench/api.py``)."""

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'loopwise.db'}"
        if self.artifact_dir is None:
            self.artifact_dir = self.data_dir / "artifacts"
        return self

    @property
    def artifacts(self) -> Path:
        """The directory model artifacts are written to (always set after validation)."""
        assert self.artifact_dir is not None
        return self.artifact_dir
