"""The study.toml the tests use: two sites, so that cross-site refusals can be tested."""

from __future__ import annotations

from bot.config import parse_study_text
from study.config import StudyConfig

ZJU2_ALERTS = -1001000000001
ZJU2_ESCALATION = -1001000000002
PUMCH_ALERTS = -1001000000003
ZJU2_COORDINATOR = 111111
ZJU2_INVESTIGATOR = 222222
PUMCH_COORDINATOR = 333333
ADMIN = 444444
ZJU2_ON_CALL = 555555  # acknowledges and resolves ZJU2's alerts in its escalation chat only

STUDY_TOML = f"""
[study]
name = "Individualized rituximab in SLE"
registry_id = "NCT04127747"
timezone = "Asia/Shanghai"
language = "zh"

[sites.ZJU2]
name = "Second Affiliated Hospital, Zhejiang University"
phone = "+86 571 0000 0000"
crisis_phone = "+86 571 0000 0009"
alert_chat_id = {ZJU2_ALERTS}
escalation_chat_id = {ZJU2_ESCALATION}
address = {{ zh = "门诊楼 3 楼", en = "Outpatient building, 3rd floor" }}
visit_instructions = {{ zh = "请空腹。", en = "Please come fasting." }}
coordinators = [
  {{ telegram_user_id = {ZJU2_COORDINATOR}, role = "coordinator" }},
  {{ telegram_user_id = {ZJU2_INVESTIGATOR}, role = "investigator" }},
  {{ telegram_user_id = {ADMIN}, role = "admin" }},
  {{ telegram_user_id = {ZJU2_ON_CALL}, role = "on_call" }},
]

[sites.PUMCH]
name = "Peking Union Medical College Hospital"
phone = "+86 10 0000 0000"
alert_chat_id = {PUMCH_ALERTS}
coordinators = [{{ telegram_user_id = {PUMCH_COORDINATOR}, role = "coordinator" }}]
"""


def study_config() -> StudyConfig:
    return parse_study_text(STUDY_TOML, source="tests/support/study.py")
