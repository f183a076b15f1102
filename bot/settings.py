"""Process settings from the environment and `.env` (names fixed by the interface contract)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from study.database import async_url
from study.errors import ConfigError

TELEGRAM_API = "https://api.telegram.org"


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

    @property
    def token(self) -> str | None:
        return (
            None if self.telegram_bot_token is None else self.telegram_bot_token.get_secret_value()
        )


def load_settings() -> Settings:
    """Settings from the environment, or ConfigError naming each bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            shown = "(hidden)" if name == "TELEGRAM_BOT_TOKEN" else repr(error["input"])
            problems.append(f"{name} = {shown}: {message}")
        raise ConfigError("the environment / .env", problems) from None
