"""Who is speaking: checked first on every update, before anything else happens."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Update

from study.config import Role, StudyConfig


@dataclass(frozen=True)
class Speaker:
    """The sender of an update as trialbot sees them (participants are found by chat)."""

    user_id: int | None
    chat_id: int | None
    private: bool
    roles: dict[str, Role]

    @property
    def is_coordinator(self) -> bool:
        return bool(self.roles)


def identify(update: Update, config: StudyConfig) -> Speaker:
    user = update.effective_user
    chat = update.effective_chat
    private = (
        chat is not None and chat.type == "private" and user is not None and user.id == chat.id
    )
    return Speaker(
        user_id=user.id if user else None,
        chat_id=chat.id if chat else None,
        private=private,
        roles=config.roles_of(user.id) if user and not user.is_bot else {},
    )
