"""The study configuration (`study.toml`): the study, its sites and the protocol.

These are pure, validated types. Reading the file is the caller's business
(`bot.config.load_study_file`); `parse_study_config` turns a parsed TOML mapping into a
`StudyConfig` or raises `ConfigError` with one readable line per problem, naming the key,
the value and what is expected.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from study.errors import ConfigError

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
# The study team's roles; `on_call` people only acknowledge and resolve alerts, and only in
# their site's escalation chat (they use no team command).
SITE_CODE = re.compile(r"[A-Za-z0-9_-]{1,16}")
Role = Literal["coordinator", "investigator", "admin", "on_call"]
ON_CALL: Role = "on_call"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("expected an IANA time zone such as 'Asia/Shanghai'") from exc
    return value


class LocalizedText(_Strict):
    """A short text a participant reads, in each language."""

    zh: str
    en: str

    def get(self, language: Language) -> str:
        return self.zh if language == "zh" else self.en


class RedoseRule(_Strict):
    """Thresholds of the individualised arm's re-dose rule (any criterion fires a dose)."""

    cd19_percent_at_least: float = Field(default=1.0, ge=0)
    dsdna_increase_percent_over: float = Field(default=100.0, ge=0)
    c3_decrease_percent_over: float = Field(default=50.0, ge=0, le=100)


class EscalationClock(_Strict):
    """When unacknowledged alerts are re-sent and escalated (CLINICAL.md): a round every
    `*_resend_minutes` until someone acknowledges, and from `*_escalate_minutes` on each
    round goes to the escalation chat too (see `study.escalation`)."""

    t1_resend_minutes: int = Field(default=30, gt=0)
    t1_escalate_minutes: int = Field(default=60, gt=0)
    t2_resend_minutes: int = Field(default=240, gt=0)
    t2_escalate_minutes: int = Field(default=240, gt=0)
    digest_hour: int = Field(default=9, ge=0, le=23)


class ProtocolConfig(_Strict):
    """The protocol of NCT04127747 unless `[protocol]` in study.toml overrides a value."""

    duration_months: int = Field(default=24, gt=0, le=240)
    visit_interval_months: int = Field(default=3, gt=0, le=24)
    visit_window_days: int = Field(default=14, ge=0, le=60)
    visit_window_before_days: int | None = Field(default=None, ge=0, le=60)
    visit_window_after_days: int | None = Field(default=None, ge=0, le=60)
    standard_infusion_months: tuple[int, ...] = (0, 6, 12, 18, 24)
    individualized_infusion_months: tuple[int, ...] = (0,)
    infusion_dose_mg: int = Field(default=500, gt=0)
    redose: RedoseRule = RedoseRule()
    preferred_hour: int = Field(default=9, ge=0, le=23)
    quiet_hours: tuple[int, int] = (21, 8)
    visit_reminder_days: tuple[int, ...] = (7, 2, 0)
    confirmation_deadline_hours: int = Field(default=48, ge=0)
    confirmation_answer_hours: int = Field(default=24, ge=0)  # after the first reminder
    checkin_interval_days: int = Field(default=14, gt=0)
    checkin_nudge_hours: int = Field(default=24, gt=0)
    checkin_expire_hours: int = Field(default=72, gt=0)
    post_infusion_checkin_hours: tuple[int, ...] = (24, 168)
    contraception_interval_days: int = Field(default=28, gt=0)
    contraception_months_after_last_infusion: int = Field(default=12, ge=0)
    previsit_summary_days: int = Field(default=3, ge=0)
    enrollment_code_days: int = Field(default=14, gt=0, le=90)
    escalation: EscalationClock = EscalationClock()

    @field_validator("quiet_hours")
    @classmethod
    def _hours_of_day(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not all(0 <= hour <= 23 for hour in value):
            raise ValueError("expected two hours of the day [start, end], each 0-23")
        return value

    @field_validator("visit_reminder_days", "post_infusion_checkin_hours")
    @classmethod
    def _non_negative(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(v < 0 for v in value):
            raise ValueError("expected numbers of 0 or more")
        return tuple(sorted(set(value), reverse=True))

    @model_validator(mode="after")
    def _months_on_the_calendar(self) -> ProtocolConfig:
        visits = set(self.visit_months)
        for name in ("standard_infusion_months", "individualized_infusion_months"):
            months = getattr(self, name)
            stray = [m for m in months if m not in visits]
            if stray:
                raise ValueError(
                    f"{name} = {list(months)}: every month must be a visit month ({sorted(visits)})"
                )
        # Consecutive visits are at least 28 days per month of interval apart, so windows
        # narrower than that can never overlap.
        if self.window_before_days + self.window_after_days >= 28 * self.visit_interval_months:
            raise ValueError(
                "visit windows (before + after days) must be shorter than "
                f"{28 * self.visit_interval_months} days so that they never overlap"
            )
        return self

    @property
    def visit_months(self) -> tuple[int, ...]:
        return tuple(range(0, self.duration_months + 1, self.visit_interval_months))

    @property
    def window_before_days(self) -> int:
        if self.visit_window_before_days is None:
            return self.visit_window_days
        return self.visit_window_before_days

    @property
    def window_after_days(self) -> int:
        if self.visit_window_after_days is None:
            return self.visit_window_days
        return self.visit_window_after_days


class CoordinatorConfig(_Strict):
    telegram_user_id: int = Field(gt=0)
    role: Role = "coordinator"


class SiteConfig(_Strict):
    name: str = Field(min_length=1, max_length=200)
    timezone: str | None = None
    phone: str = Field(min_length=3, max_length=40)
    emergency_number: str = Field(default="120", min_length=2, max_length=10)
    crisis_phone: str | None = Field(default=None, min_length=3, max_length=40)
    language: Language | None = None
    alert_chat_id: int
    escalation_chat_id: int | None = None
    address: LocalizedText | None = None
    visit_instructions: LocalizedText | None = None
    coordinators: tuple[CoordinatorConfig, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _check_timezone(value)

    @field_validator("coordinators")
    @classmethod
    def _on_call_needs_an_escalation_chat(
        cls, value: tuple[CoordinatorConfig, ...], info: ValidationInfo
    ) -> tuple[CoordinatorConfig, ...]:
        if info.data.get("escalation_chat_id") is None and any(c.role == ON_CALL for c in value):
            raise ValueError(
                "people of role 'on_call' need the site's escalation_chat_id: they "
                "acknowledge alerts in the escalation chat"
            )
        return value


class StudyInfo(_Strict):
    name: str = Field(min_length=1, max_length=200)
    registry_id: str = Field(default="NCT04127747", min_length=1, max_length=40)
    timezone: str = "Asia/Shanghai"
    language: Language = "zh"
    forward_free_text: bool = False

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_timezone(value)


class StudyConfig(_Strict):
    """Everything `study.toml` says, with the protocol defaults filled in."""

    study: StudyInfo
    sites: dict[str, SiteConfig] = Field(min_length=1)
    protocol: ProtocolConfig = ProtocolConfig()

    @field_validator("sites")
    @classmethod
    def _site_codes(cls, value: dict[str, SiteConfig]) -> dict[str, SiteConfig]:
        for code in value:
            # ASCII: a site code travels in commands, file names and button data.
            if not SITE_CODE.fullmatch(code):
                raise ValueError(
                    f"site code {code!r}: expected 1-16 ASCII letters, digits, '-' or '_'"
                )
        return value

    def site_timezone(self, site_code: str) -> str:
        return self.sites[site_code].timezone or self.study.timezone

    def site_language(self, site_code: str) -> Language:
        """The language the site team reads (their alerts and notices)."""
        return self.sites[site_code].language or self.study.language

    def roles_of(self, telegram_user_id: int) -> dict[str, Role]:
        """The sites this Telegram user coordinates, with their role at each (never
        `on_call`: see `on_call_sites`).

        An admin anywhere is an admin of every site.
        """
        roles: dict[str, Role] = {}
        for code, site in self.sites.items():
            for coordinator in site.coordinators:
                if coordinator.telegram_user_id == telegram_user_id and coordinator.role != ON_CALL:
                    roles[code] = coordinator.role
        if "admin" in roles.values():
            return {code: "admin" for code in self.sites}
        return roles

    def chat_sites(self, chat_id: int | None) -> frozenset[str]:
        """The sites whose alert or escalation chat this is: what a team command given in
        that group may see and change (a group sees only its own site)."""
        return frozenset(
            code
            for code, site in self.sites.items()
            if chat_id is not None and chat_id in (site.alert_chat_id, site.escalation_chat_id)
        )

    def on_call_sites(self, telegram_user_id: int) -> frozenset[str]:
        """The sites where this Telegram user is on call: they may acknowledge and resolve
        those sites' alerts in the sites' escalation chats."""
        return frozenset(
            code
            for code, site in self.sites.items()
            for person in site.coordinators
            if person.telegram_user_id == telegram_user_id and person.role == ON_CALL
        )


def parse_study_config(data: dict[str, Any], *, source: str = "study.toml") -> StudyConfig:
    """Validate a parsed study.toml; raise ConfigError listing every problem readably."""
    try:
        return StudyConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [_describe(error) for error in exc.errors()]) from None


def _describe(error: Any) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{key}: missing; it is required"
    if error["type"] == "extra_forbidden":
        return f"{key} = {error['input']!r}: unknown key (check the spelling)"
    return f"{key} = {error['input']!r}: {message}"
