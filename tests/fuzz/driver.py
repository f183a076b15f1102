"""Play an action in the sandbox, wait until the bot has dealt with it, and keep the score.

Waiting is event-driven: the sandbox forgets an update once the bot's next getUpdates
confirms it, and PTB puts an update on its queue before confirming it, so once the update
is confirmed `update_queue.join()` returns when it has been processed (updates are processed
one at a time). Then the outbox dispatcher is woken and awaited until idle, so that what the
update caused is sent before the next action, and every run sees the same chats.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from telegram.ext import Application

from bot.runner import running_of
from bot.services import Services
from sandbox import SandboxError, SandboxServer
from sandbox.html import command_entities
from sandbox.models import SandboxMessage
from tests.fuzz.actions import Action, Block, Edit, Press, Raw, Say, Send
from tests.fuzz.callbacks import mangled
from tests.fuzz.cast import CHANNEL

WAIT_SECONDS = 30.0
REPLY_METHODS = frozenset(
    {"sendmessage", "editmessagetext", "editmessagereplymarkup", "answercallbackquery"}
)
SEND_METHODS = frozenset({"sendmessage", "editmessagetext", "editmessagereplymarkup"})
ANONYMOUS_ADMIN = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
# Loggers whose errors mean an exception escaped a handler (or the error handler itself).
HANDLER_LOGGERS = ("bot.errors", "telegram.ext.Application")


def describe(action: Action | None, limit: int = 240) -> str:
    text = repr(action)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Problem:
    """Something that went wrong, and the action being played (None: the set-up)."""

    line: str
    action: Action | None
    pressed: str | None = None  # the callback data, when the action was a press

    def __str__(self) -> str:
        return self.line


@dataclass
class Figures:
    """The score of a run; the lists hold the problems seen."""

    actions: int = 0
    skipped: int = 0
    updates_sent: int = 0
    replies_sent: int = 0
    updates_unanswered: int = 0
    callbacks_unanswered: int = 0
    messages_to_silent_chats: int = 0  # caused by an update from another chat
    private_messages: int = 0  # texts and media that people wrote to the bot in private
    group_chatter: int = 0  # texts and media in groups by people not on that group's team
    handler_exceptions: list[Problem] = field(default_factory=list)
    other_errors: list[Problem] = field(default_factory=list)
    rejections: list[Problem] = field(default_factory=list)
    # What a person would notice (see `Driver._expect`):
    private_unanswered: list[Problem] = field(default_factory=list)
    group_chatter_answered: list[Problem] = field(default_factory=list)
    callbacks_left_unanswered: list[Problem] = field(default_factory=list)


class ErrorLog(logging.Handler):
    """Every ERROR logged while the run is on, with the action being played."""

    def __init__(self, driver: Driver) -> None:
        super().__init__(logging.ERROR)
        self.driver = driver

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        line = (
            f"{record.name}: {record.getMessage()} ({type(error).__name__}: {error}) "
            f"during {self.driver.context}"
        )
        driver = self.driver
        figures, problem = driver.figures, Problem(line, driver.action, driver.pressed)
        if record.name in HANDLER_LOGGERS:
            figures.handler_exceptions.append(problem)
        else:
            figures.other_errors.append(problem)


class Driver:
    """Plays actions against the real bot polling the sandbox."""

    def __init__(
        self,
        sandbox: SandboxServer,
        application: Application,  # type: ignore[type-arg]
        services: Services,
        silent_chats: frozenset[int],
    ) -> None:
        self.sandbox = sandbox
        self.world = sandbox.world
        self.application = application
        self.services = services
        self.silent_chats = {str(c) for c in silent_chats}
        self.site_of_chat = {
            chat: code
            for code, site in services.config.sites.items()
            for chat in (site.alert_chat_id, site.escalation_chat_id)
            if chat is not None
        }
        self.figures = Figures()
        self.action: Action | None = None  # what is being played, for the error log
        self.pressed: str | None = None  # and the callback data it pressed
        self.context = "the set-up"
        self.sweep_every = 0  # run the calendar sweeps after every so many actions (0: never)
        self.channel_message_id = 0

    async def run(self, action: Action) -> list[SandboxMessage]:
        """Play `action`, wait until the bot is done with it; the bot's messages it caused
        in the chat where it happened."""
        figures = self.figures
        figures.actions += 1
        self.action, self.context, self.pressed = action, describe(action), None
        account = self.world.resolve_bot()
        first_update, first_call = account.next_update_id, len(self.world.calls)
        chat = getattr(action, "chat", None)
        already = len(self.world.transcript(chat)) if chat is not None else 0
        try:
            query_id = await self._apply(action)
        except SandboxError:
            figures.skipped += 1  # not something Telegram would let this person do
            return []
        last_update = account.next_update_id - 1
        if last_update < first_update:
            figures.skipped += 1
            return []
        figures.updates_sent += last_update - first_update + 1
        await self.settle(last_update)
        self._score(action, query_id, self.world.calls[first_call:])
        if self.sweep_every and figures.actions % self.sweep_every == 0:
            self.context = f"the sweeps after {describe(action)}"
            await self.sweep()
        if chat is None:
            return []
        return [m.snapshot() for m in self.world.transcript(chat)[already:] if m.from_bot]

    async def settle(self, last_update: int | None = None) -> None:
        """Until the bot has processed every update up to `last_update` and the dispatcher
        has sent what is due."""
        account = self.world.resolve_bot()
        if last_update is not None:
            await self.sandbox.wait_until(
                lambda: all(u["update_id"] > last_update for u in account.updates),
                WAIT_SECONDS,
                f"the bot to fetch update {last_update}",
            )
        await asyncio.wait_for(self.application.update_queue.join(), WAIT_SECONDS)
        scheduler = running_of(self.application).scheduler
        scheduler.wake()
        await asyncio.wait_for(scheduler.idle.wait(), WAIT_SECONDS)

    async def sweep(self) -> None:
        """The periodic jobs, at the (fixed) test time: what the data typed so far does to
        them shows. At a fixed time they change nothing that was settled before."""
        scheduler = running_of(self.application).scheduler
        await scheduler.sweep()
        await scheduler.escalate()
        await self.settle()

    def _score(self, action: Action, query_id: str | None, calls: list[Any]) -> None:
        figures = self.figures
        chat = str(getattr(action, "chat", getattr(action, "actor", "")))
        replied = False
        for call in calls:
            method, params = call.method.lower(), call.params
            target = str(params.get("chat_id"))
            if method in SEND_METHODS and target != chat and target in self.silent_chats:
                figures.messages_to_silent_chats += 1
            if not call.ok and not call.injected:
                if "blocked by the user" not in (call.description or ""):
                    line = (
                        f"{call.method} {call.error_code} {call.description!r} "
                        f"(params {describe(params)}) during {describe(action)}"
                    )
                    figures.rejections.append(Problem(line, action, self.pressed))
                continue
            if method not in REPLY_METHODS:
                continue
            if str(params.get("chat_id")) == chat or params.get("callback_query_id") == query_id:
                replied = True
                figures.replies_sent += 1
        if not replied:
            figures.updates_unanswered += 1
        query = self.world.callback_queries.get(query_id or "")
        unanswered_query = query is not None and not query.answered
        if unanswered_query:
            figures.callbacks_unanswered += 1
        self._expect(action, calls, replied, unanswered_query)

    def _expect(
        self, action: Action, calls: list[Any], replied: bool, unanswered_query: bool
    ) -> None:
        """The outcome each kind of update must have: whoever writes to the bot in private
        (text or media) gets an answer; chatter in a group (not a command, by someone not on
        that group's site team) gets none there; every button press is answered."""
        figures = self.figures
        problem = Problem(describe(action), action, self.pressed)
        if unanswered_query:
            figures.callbacks_left_unanswered.append(problem)
        if not isinstance(action, Say | Send):
            return
        if action.chat == action.actor:
            figures.private_messages += 1
            if not replied:
                figures.private_unanswered.append(problem)
            return
        if action.chat > 0 or (isinstance(action, Say) and action.text.startswith("/")):
            return
        site = self.site_of_chat.get(action.chat)
        if site is not None and site in self.services.config.roles_of(action.actor):
            return  # the team may be in the middle of a guided command there
        figures.group_chatter += 1
        answers = [
            call
            for call in calls
            if call.method.lower() in SEND_METHODS
            and str(call.params.get("chat_id")) == str(action.chat)
        ]
        if answers:
            figures.group_chatter_answered.append(problem)

    # playing the actions

    async def _apply(self, action: Action) -> str | None:
        sandbox = self.sandbox
        if isinstance(action, Block):
            if self.world.user(action.actor).blocked:
                sandbox.unblock(action.actor)
            else:
                sandbox.block(action.actor)
            return None
        if self.world.user(action.actor).blocked:
            sandbox.unblock(action.actor)  # a blocked person who acts again unblocked first
        if isinstance(action, Say):
            await sandbox.send_text(action.actor, action.text, chat_id=action.chat)
        elif isinstance(action, Send):
            await self._send(action)
        elif isinstance(action, Edit):
            await self._edit(action)
        elif isinstance(action, Press):
            return await self._press(action)
        else:
            return await self._raw(action)
        return None

    async def _send(self, action: Send) -> None:
        if action.kind == "sticker":
            emoji = action.caption[:2] or "👍"
            await self.sandbox.send_sticker(action.actor, action.chat, emoji=emoji)
        elif action.kind == "photo":
            await self.sandbox.send_photo(action.actor, action.chat, caption=action.caption[:1024])
        else:
            await self.sandbox.send_voice(action.actor, action.chat)

    async def _edit(self, action: Edit) -> None:
        mine = [
            m
            for m in self.world.transcript(action.chat)
            if not m.from_bot and m.user_id == action.actor and m.kind == "text" and not m.deleted
        ]
        if not mine:
            raise SandboxError("nothing of theirs to edit here")
        message = mine[-1 - action.pick % len(mine)]
        await self.sandbox.edit_text(action.actor, action.chat, message.message_id, action.text)

    async def _press(self, action: Press) -> str:
        genuine = action.data is None and not action.replay  # a real button is needed
        shown = [
            m
            for m in self.world.transcript(action.chat)
            if m.from_bot and not m.deleted and (m.button_data() or not genuine)
        ]
        if not shown:
            raise SandboxError("no message (with buttons) of the bot's here")
        message = shown[-1 - action.pick % len(shown)]
        data, forge = action.data, True
        if action.replay:
            seen = self.seen_data()
            data = seen[action.button % len(seen)]
        if data is None:
            buttons = message.button_data()
            data, forge = buttons[action.button % len(buttons)], False
            if action.mangle is not None:
                data, forge = mangled(data, action.mangle), True
        private_elsewhere = action.chat > 0 and action.chat != action.actor
        self.pressed = data
        return await self.sandbox.press(
            action.actor, action.chat, message.message_id, data, forge=forge or private_elsewhere
        )

    def seen_data(self) -> list[str]:
        """Every callback data the bot ever showed, in the order it first appeared."""
        seen: dict[str, None] = {}
        for transcript in self.world.transcripts.values():
            for message in transcript:
                for edit in message.edits:
                    for row in (edit.reply_markup or {}).get("inline_keyboard", []):
                        seen.update({b["callback_data"]: None for b in row if "callback_data" in b})
                seen.update(dict.fromkeys(message.button_data()))
        return list(seen)

    async def _raw(self, action: Raw) -> str | None:
        if action.kind == "channel_press":
            self.pressed = action.payload
            return await self.sandbox.press(
                action.actor, CHANNEL, self.channel_message_id, action.payload, forge=True
            )
        if action.chat == action.actor:
            self.world.user(action.actor).started = True  # they wrote to the bot themselves
        await self.sandbox.send_raw_update(raw_update(self, action))
        return None


def raw_update(driver: Driver, action: Raw) -> dict[str, Any]:
    """member: the bot's membership changes; anonymous: a group admin writes as the group;
    service: a location, contact, dice, document, poll or new members; forwarded: a
    forwarded text; reply: a text replying to the bot's last message there."""
    world = driver.world
    chat = world.chat_api(world.chat(action.chat))
    user = world.user(action.actor).to_api()
    if action.kind == "member":
        bot = world.resolve_bot().to_api()
        old, new = ("left", action.payload) if action.payload != "left" else ("member", "left")
        member = {"status": new, "user": bot, **({"until_date": 0} if new == "kicked" else {})}
        return {
            "my_chat_member": {
                "chat": chat,
                "from": user,
                "date": world.now(),
                "old_chat_member": {"status": old, "user": bot},
                "new_chat_member": member,
            }
        }
    message: dict[str, Any] = {
        "message_id": world.next_message_id(action.chat),
        "date": world.now(),
        "chat": chat,
        "from": user,
    }
    if action.kind == "service":
        message.update(_service(action.payload, user))
        return {"message": message}
    message["text"] = action.payload
    entities = command_entities(action.payload)
    if entities:
        message["entities"] = entities
    if action.kind == "anonymous":
        message.update({"from": ANONYMOUS_ADMIN, "sender_chat": chat})
    elif action.kind == "forwarded":
        message["forward_origin"] = {
            "type": "hidden_user",
            "sender_user_name": "Someone",
            "date": world.now(),
        }
    else:
        shown = [m for m in world.transcript(action.chat) if m.from_bot and not m.deleted]
        if shown:
            message["reply_to_message"] = world.message_api(shown[-1])
    return {"message": message}


def _service(kind: str, user: dict[str, Any]) -> dict[str, Any]:
    file = {"file_id": "fuzz-file", "file_unique_id": "fuzz0001"}
    contents: dict[str, dict[str, Any]] = {
        "location": {"location": {"latitude": 30.27, "longitude": 120.15}},
        "contact": {"contact": {"phone_number": "+8613800000000", "first_name": "X"}},
        "dice": {"dice": {"emoji": "🎲", "value": 3}},
        "document": {"document": {**file, "file_name": "labs.pdf", "mime_type": "application/pdf"}},
        "new_chat_members": {"new_chat_members": [user]},
        "poll": {
            "poll": {
                "id": "1",
                "question": "?",
                "options": [
                    {"text": text, "voter_count": 0, "persistent_id": text} for text in "ab"
                ],
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
                "allows_revoting": False,
                "members_only": False,
            }
        },
    }
    return contents[kind]
