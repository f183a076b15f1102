"""Button presses: callback queries, answering them, and the checks around both."""

from __future__ import annotations

import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from sandbox import SandboxError, SandboxServer


async def send_with_buttons(bot: telegram.Bot, user: int) -> telegram.Message:
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("I will come", callback_data="v:1:yes")],
            [InlineKeyboardButton("Another date", callback_data="v:1:no")],
            [InlineKeyboardButton("Site", url="https://example.org")],
        ]
    )
    return await bot.send_message(user, "Visit on 2026-03-09", reply_markup=markup)


async def confirm_all(bot: telegram.Bot) -> tuple[telegram.Update, ...]:
    updates = await bot.get_updates()
    if updates:
        await bot.get_updates(offset=updates[-1].update_id + 1)
    return updates


async def test_press_reaches_the_bot_and_is_answered_once(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    sent = await send_with_buttons(bot, user)
    stored = sb.bot_messages(user)[-1]
    assert stored.button_texts() == ["I will come", "Another date", "Site"]
    assert stored.button_data() == ["v:1:yes", "v:1:no"]
    await confirm_all(bot)

    query_id = await sb.press(user, user, sent.message_id, "v:1:yes")
    [update] = await confirm_all(bot)
    query = update.callback_query
    assert query is not None and query.id == query_id and query.data == "v:1:yes"
    assert query.from_user.id == user
    assert (
        isinstance(query.message, telegram.Message) and query.message.message_id == sent.message_id
    )

    assert await query.answer("Thanks", show_alert=False)
    answer = await sb.wait_for_callback_answer(query_id, timeout=1)
    assert answer.text == "Thanks" and answer.user_id == user
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)query is too old"):
        await query.answer()


async def test_unknown_and_expired_queries_are_refused(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)query id is invalid"):
        await bot.answer_callback_query("12345")
    sent = await send_with_buttons(bot, user)
    sb.set_time(1_800_000_000)
    query_id = await sb.press(user, user, sent.message_id, "v:1:no")
    sb.advance_time(15 * 60 + 1)
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)response timeout expired"):
        await bot.answer_callback_query(query_id)
    fresh = await sb.press(user, user, sent.message_id, "v:1:no")
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)message_too_long"):
        await bot.answer_callback_query(fresh, text="x" * 201)
    assert await bot.answer_callback_query(fresh, text="x" * 200)


async def test_press_checks_the_button_exists_unless_forged(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    sent = await send_with_buttons(bot, user)
    with pytest.raises(SandboxError, match="no button with callback_data 'v:2:yes'"):
        await sb.press(user, user, sent.message_id, "v:2:yes")
    with pytest.raises(SandboxError, match="no message 999"):
        await sb.press(user, user, 999, "v:1:yes")
    await confirm_all(bot)
    await sb.press(user, user, sent.message_id, "v:2:yes", forge=True)
    await sb.press(user, user, 999, "anything", forge=True)
    forged, ghost = await confirm_all(bot)
    assert forged.callback_query and forged.callback_query.data == "v:2:yes"
    assert ghost.callback_query and ghost.callback_query.message
    assert not ghost.callback_query.message.is_accessible  # Telegram's InaccessibleMessage


async def test_edits_after_a_press_are_observed(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    sent = await send_with_buttons(bot, user)
    await bot.edit_message_text("Noted: you will come", user, sent.message_id)
    edited = await sb.wait_for_edit(user, sent.message_id, timeout=1)
    assert edited.text == "Noted: you will come" and edited.buttons == []
    assert edited.edits[0].text == "Visit on 2026-03-09"


async def test_other_user_input_becomes_updates(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    await confirm_all(bot)
    text = await sb.send_text(user, "typo")
    await sb.edit_text(user, user, text.message_id, "fixed")
    await sb.send_sticker(user)
    await sb.send_photo(user, caption="my rash")
    await sb.send_voice(user)
    await sb.send_raw_update(
        {"message": {"message_id": 99, "date": 0, "chat": {"id": user, "type": "private"}}}
    )
    _typo, *updates = await confirm_all(bot)
    assert updates[0].edited_message and updates[0].edited_message.text == "fixed"
    assert updates[1].message and updates[1].message.sticker
    assert (
        updates[2].message and updates[2].message.photo and updates[2].message.caption == "my rash"
    )
    assert updates[3].message and updates[3].message.voice
    assert updates[4].message and updates[4].message.message_id == 99
    sb.block(user)
    [blocked] = await confirm_all(bot)
    assert blocked.my_chat_member and blocked.my_chat_member.new_chat_member.status == "kicked"
