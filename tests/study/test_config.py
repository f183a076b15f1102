"""study.toml: defaults, overrides, and errors that name the key, the value and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_study_file, parse_study_text
from study.errors import ConfigError

MINIMAL = """
[study]
name = "S"
[sites.A]
name = "Site A"
phone = "+86 1"
alert_chat_id = -100
"""


def test_the_example_file_is_valid_and_documents_the_defaults() -> None:
    config = load_study_file(Path(__file__).parents[2] / "study.example.toml")
    assert config.study.registry_id == "NCT04127747"
    assert config.protocol.visit_window_days == 14
    assert config.protocol.quiet_hours == (21, 8)
    assert config.roles_of(222222) == {"ZJU2": "investigator"}
    assert config.on_call_sites(333333) == {"ZJU2"}
    assert config.roles_of(333333) == {}
    escalation = config.protocol.escalation
    assert (escalation.t1_resend_minutes, escalation.t1_escalate_minutes) == (30, 60)
    assert (escalation.t2_resend_minutes, escalation.t2_escalate_minutes) == (240, 240)


def test_defaults_are_the_nct04127747_protocol() -> None:
    config = parse_study_text(MINIMAL, source="study.toml")
    assert config.study.timezone == "Asia/Shanghai"
    assert config.study.language == "zh"
    assert config.site_timezone("A") == "Asia/Shanghai"
    protocol = config.protocol
    assert protocol.visit_months == (0, 3, 6, 9, 12, 15, 18, 21, 24)
    assert protocol.standard_infusion_months == (0, 6, 12, 18, 24)
    assert protocol.individualized_infusion_months == (0,)
    assert protocol.preferred_hour == 9
    assert protocol.visit_reminder_days == (7, 2, 0)
    assert config.sites["A"].emergency_number == "120"


def test_protocol_overrides_apply() -> None:
    config = parse_study_text(
        MINIMAL + "[protocol]\nvisit_window_days = 7\npreferred_hour = 10\nquiet_hours = [22, 7]\n",
        source="study.toml",
    )
    assert config.protocol.window_before_days == 7
    assert config.protocol.preferred_hour == 10
    assert config.protocol.quiet_hours == (22, 7)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[protocol]\npreferred_hour = 25\n", "protocol.preferred_hour = 25: Input should be less"),
        ("[protocol]\nvisit_window_dayz = 7\n", "protocol.visit_window_dayz = 7: unknown key"),
        ("[protocol]\nvisit_window_days = 50\n", "never overlap"),
        ("[protocol]\nquiet_hours = [21, 24]\n", "protocol.quiet_hours = [21, 24]: expected two"),
        ('[sites.B]\nname = "B"\nphone = "1234"\n', "sites.B.alert_chat_id: missing"),
        (
            '[sites.C]\nname = "C"\nphone = "123"\nalert_chat_id = 1\ntimezone = "Mars/Base"\n',
            "sites.C.timezone = 'Mars/Base': expected an IANA time zone",
        ),
        (
            '[sites.D]\nname = "D"\nphone = "123"\nalert_chat_id = 1\n'
            'coordinators = [{ telegram_user_id = 5, role = "boss" }]\n',
            "sites.D.coordinators.0.role = 'boss': Input should be 'coordinator'",
        ),
        (
            '[sites.E]\nname = "E"\nphone = "123"\nalert_chat_id = 1\n'
            'coordinators = [{ telegram_user_id = 5, role = "on_call" }]\n',
            "sites.E.coordinators = [{'telegram_user_id': 5, 'role': 'on_call'}]: people of "
            "role 'on_call' need the site's escalation_chat_id",
        ),
        (
            "[protocol.escalation]\nt2_resend_minutes = 0\n",
            "protocol.escalation.t2_resend_minutes = 0: Input should be greater than 0",
        ),
    ],
)
def test_bad_values_are_named_with_what_is_expected(extra: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_study_text(MINIMAL + extra, source="study.toml")
    message = str(caught.value)
    assert message.startswith("Configuration problem in study.toml:")
    assert expected in message
    assert "Traceback" not in message


def test_broken_toml_says_where() -> None:
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 2"):
        parse_study_text('[study]\nname = "unterminated\n', source="study.toml")


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"copy study\.example\.toml to study\.toml"):
        load_study_file(tmp_path / "study.toml")


def test_an_admin_of_one_site_is_admin_of_all() -> None:
    config = parse_study_text(
        MINIMAL
        + '[sites.B]\nname = "B"\nphone = "123"\nalert_chat_id = -200\n'
        + 'coordinators = [{ telegram_user_id = 9, role = "admin" }]\n',
        source="study.toml",
    )
    assert config.roles_of(9) == {"A": "admin", "B": "admin"}
    assert config.roles_of(10) == {}
