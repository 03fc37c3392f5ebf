"""Configuration from the environment (and a .env file), with the documented names."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

import content

# Telegram posts to webhooks only on these ports, and only over HTTPS.
WEBHOOK_PORTS = frozenset({80, 88, 443, 8443})
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class Settings(BaseSettings):
    """Every setting the bot reads; names match the environment variables."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = "sqlite:///data/bot.sqlite3"
    # PostgreSQL connections this process may open; SQLite uses one connection regardless.
    database_pool_size: Annotated[int, Field(ge=1, le=100)] = 10
    bot_admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    content_dir: Path = Field(default_factory=lambda: content.DEFAULT_DIR)
    max_concurrent_updates: Annotated[int, Field(ge=1, le=1024)] = 64
    log_level: str = "INFO"
    send_per_second: Annotated[float, Field(gt=0, le=1000)] = 30.0
    send_per_chat_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0
    send_per_group_per_minute: Annotated[float, Field(gt=0, le=600)] = 20.0
    # Off by default: deleting data must be a deliberate choice of whoever runs the bot.
    retention_enabled: bool = False
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    # All interfaces: a platform's router reaches the web process from outside its container.
    webhook_listen: str = "0.0.0.0"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080

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

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("must be an https:// URL (Telegram posts updates only over HTTPS)")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query string or a fragment")
        try:
            port = parts.port or 443
        except ValueError as exc:
            raise ValueError(f"has an invalid port: {exc}") from None
        if port not in WEBHOOK_PORTS:
            raise ValueError("port must be 443, 80, 88 or 8443 (the only ports Telegram posts to)")
        with_ip = _ip_or_none(parts.hostname)
        if with_ip is not None and not with_ip.is_global:
            raise ValueError(f"IP address {with_ip} is not reachable from Telegram")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not _SECRET_RE.match(value.get_secret_value()):
            raise ValueError("must be 1-256 characters among A-Z, a-z, 0-9, _ and -")
        return value

    @property
    def webhook_path(self) -> str:
        """Return the path the webhook server answers on: the path of WEBHOOK_URL."""
        path = urlsplit(self.webhook_url).path if self.webhook_url else ""
        return path or "/"

    @property
    def webhook_secret_token(self) -> str:
        """Return WEBHOOK_SECRET, or a secret derived from the bot token when it is unset."""
        if self.webhook_secret is not None:
            return self.webhook_secret.get_secret_value()
        # Derived, not random: it survives restarts and changes with the token, and nobody
        # without the token can compute it.
        digest = hmac.new(self.token.encode(), b"taller-bot webhook secret", hashlib.sha256)
        return digest.hexdigest()

    @property
    def token(self) -> str:
        """Return the bot token in clear (empty when unset), for the Telegram client only."""
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else ""


def _ip_or_none(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
