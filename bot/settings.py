"""Configuration from the environment (and a .env file), with the documented names."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

import content


class Settings(BaseSettings):
    """Every setting the bot reads; names match the environment variables."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = "sqlite:///data/bot.sqlite3"
    bot_admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    content_dir: Path = Field(default_factory=lambda: content.DEFAULT_DIR)
    max_concurrent_updates: Annotated[int, Field(ge=1, le=1024)] = 64
    log_level: str = "INFO"
    send_per_second: Annotated[float, Field(gt=0, le=1000)] = 30.0
    send_per_chat_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0
    send_per_group_per_minute: Annotated[float, Field(gt=0, le=600)] = 20.0

    @field_validator("bot_admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            return frozenset(int(p) for p in parts if p)
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def token(self) -> str:
        """Return the bot token in clear (empty when unset), for the Telegram client only."""
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else ""
