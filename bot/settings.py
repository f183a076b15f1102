"""Process settings from the environment and `.env` (names fixed by the interface contract)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from study.database import async_url
from study.errors import ConfigError

TELEGRAM_API = "https://api.telegram.org"
WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{16,256}$")


class Settings(BaseSettings):
    """Everything trialbot reads from its environment; see `.env.example`."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = TELEGRAM_API
    database_url: str = "sqlite:///trialbot.db"
    trialbot_study_file: Path = Path("study.toml")
    trialbot_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    trialbot_log_json: bool = False
    trialbot_sandbox_host: str = "127.0.0.1"
    trialbot_sandbox_port: int = Field(default=8080, ge=0, le=65535)
    trialbot_updates: Literal["polling", "webhook", "none"] = "polling"
    trialbot_webhook_url: str | None = None
    trialbot_webhook_listen: str = "127.0.0.1:8443"
    trialbot_webhook_secret: SecretStr | None = None
    trialbot_health_listen: str | None = None
    trialbot_poll_seconds: float = Field(default=30.0, gt=0, le=3600)
    trialbot_sweep_seconds: float = Field(default=300.0, gt=0, le=86400)
    trialbot_send_concurrency: int = Field(default=12, ge=1, le=64)
    trialbot_clock_start: datetime | None = None
    trialbot_clock_speed: float = Field(default=1.0, gt=0, le=1_000_000)

    @field_validator("telegram_bot_token", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            bot_id, _, secret = value.get_secret_value().partition(":")
            if not bot_id.isdigit() or len(secret) < 20:
                raise ValueError("expected a token from @BotFather, like 123456:ABC-DEF...")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        try:
            async_url(value)
        except ConfigError:
            raise ValueError("expected sqlite:///path or postgresql://user@host/db") from None
        return value

    @field_validator("trialbot_log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("trialbot_webhook_listen", "trialbot_health_listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            host, _, port = value.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("expected HOST:PORT, like 127.0.0.1:8443")
        return value

    @field_validator("trialbot_webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not WEBHOOK_SECRET.match(value.get_secret_value()):
            raise ValueError("expected 16-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("trialbot_clock_start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expected a time with its zone, like 2026-03-02T09:00:00+08:00")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.trialbot_updates == "webhook":
            # Telegram posts updates only to https; a sandbox or test server may use http.
            schemes = (
                ("https://",) if self.telegram_api_url == TELEGRAM_API else ("https://", "http://")
            )
            if not (self.trialbot_webhook_url or "").startswith(schemes):
                raise ValueError(
                    "TRIALBOT_UPDATES=webhook (or run --webhook URL) needs TRIALBOT_WEBHOOK_URL, "
                    "an https:// address Telegram can reach"
                )
            if self.trialbot_webhook_secret is None:
                raise ValueError(
                    "TRIALBOT_UPDATES=webhook needs TRIALBOT_WEBHOOK_SECRET, so that only "
                    "Telegram's requests are accepted"
                )
        simulated = self.trialbot_clock_start is not None or self.trialbot_clock_speed != 1.0
        if simulated and self.token is not None and self.telegram_api_url == TELEGRAM_API:
            raise ValueError(
                "TRIALBOT_CLOCK_START / TRIALBOT_CLOCK_SPEED simulate time: only against the "
                "sandbox or a test server, never with real Telegram"
            )
        return self

    @property
    def token(self) -> str | None:
        return (
            None if self.telegram_bot_token is None else self.telegram_bot_token.get_secret_value()
        )


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, or ConfigError naming each bad variable. `overrides`
    (field names, from command-line options) take precedence over the environment."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            if not name:  # a rule about several settings together
                problems.append(message)
                continue
            secret = name in {"TELEGRAM_BOT_TOKEN", "TRIALBOT_WEBHOOK_SECRET"}
            shown = "(hidden)" if secret else repr(error["input"])
            problems.append(f"{name} = {shown}: {message}")
        raise ConfigError("the environment / .env", problems) from None
