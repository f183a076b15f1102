"""The Bot API as PTB sees it: result shapes, Telegram's checks, and the call record."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
import telegram
import telegram.ext
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from sandbox import SandboxServer
from sandbox.spec import load_spec
from tests.sandbox.conftest import TOKEN, make_bot


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d, callback_data=d) for d in data]])


async def raw(
    sb: SandboxServer, method: str, token: str = TOKEN, **kwargs: object
) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(f"{sb.url}/bot{token}/{method}", **kwargs)  # type: ignore[arg-type]


async def test_get_me_describes_the_registered_bot(bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456789 and me.is_bot
    assert me.username == "trialbot_test_bot"
    assert me.can_join_groups is True and me.supports_inline_queries is False


async def test_any_well_formed_token_is_registered_on_first_use(sb: SandboxServer) -> None:
    other = "42:" + "x" * 30
    response = await raw(sb, "getMe", token=other)
    assert response.json()["result"]["username"] == "sandbox42_bot"
    assert [b.bot_id for b in sb.bots()] == [123456789, 42]


async def test_unknown_or_ill_formed_tokens_are_unauthorized() -> None:
    async with SandboxServer(auto_register=False) as sb:
        for token in ("42:" + "x" * 30, "not-a-token"):
            response = await raw(sb, "getMe", token=token)
            assert response.status_code == 401
            assert response.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
        bot = make_bot(sb)
        try:
            with pytest.raises(telegram.error.InvalidToken):
                await bot.initialize()
        finally:
            await bot.shutdown()


async def test_method_names_ignore_case_and_unknown_ones_are_404(sb: SandboxServer) -> None:
    assert (await raw(sb, "GETME")).json()["ok"] is True
    response = await raw(sb, "getMee")
    assert response.status_code == 404
    assert response.json() == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method not found",
    }
    unsupported = await raw(sb, "sendDice", data={"chat_id": "1"})
    assert unsupported.json()["description"] == "Bad Request: method not supported by the sandbox"


async def test_parameters_arrive_by_query_form_multipart_or_json(
    sb: SandboxServer, user: int
) -> None:
    async with httpx.AsyncClient() as client:
        url = f"{sb.url}/bot{TOKEN}/sendMessage"
        answers = [
            await client.get(url, params={"chat_id": user, "text": "query"}),
            await client.post(url, data={"chat_id": str(user), "text": "form"}),
            await client.post(
                url, data={"chat_id": str(user)}, files={"text": (None, "multipart")}
            ),
            await client.post(url, json={"chat_id": user, "text": "json"}),
        ]
    assert [a.json()["result"]["text"] for a in answers] == ["query", "form", "multipart", "json"]
    spec = load_spec()
    for answer in answers:
        assert spec.problems(answer.json()["result"], "Message") == []


async def test_sent_edited_and_deleted_messages_parse_in_ptb(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    sent = await bot.send_message(
        user, "<b>Hi</b> there", parse_mode="HTML", reply_markup=keyboard("a")
    )
    assert sent.text == "Hi there" and sent.from_user and sent.from_user.is_bot
    assert sent.chat.id == user and sent.chat.type == "private"
    assert sent.reply_markup == keyboard("a")
    edited = await bot.edit_message_text("<i>Bye</i>", user, sent.message_id, parse_mode="HTML")
    assert isinstance(edited, telegram.Message) and edited.text == "Bye" and edited.edit_date
    assert edited.reply_markup is None  # no reply_markup in an edit removes the keyboard
    marked = await bot.edit_message_reply_markup(user, sent.message_id, reply_markup=keyboard("b"))
    assert isinstance(marked, telegram.Message) and marked.reply_markup == keyboard("b")
    assert await bot.delete_message(user, sent.message_id) is True

    stored = sb.message(user, sent.message_id)
    assert stored.deleted and stored.text == "Bye" and stored.button_data() == ["b"]
    assert [e.html for e in stored.edits] == ["<b>Hi</b> there", "<i>Bye</i>"]
    with pytest.raises(telegram.error.BadRequest, match="Message to delete not found"):
        await bot.delete_message(user, sent.message_id)
    assert sb.rejections()[-1].method == "deleteMessage"


async def test_entity_offsets_are_utf16_for_emoji_and_cjk(bot: telegram.Bot, user: int) -> None:
    sent = await bot.send_message(user, "😀👍🏽 <b>中文</b> <i>ok</i>", parse_mode="HTML")
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 7, 2),
        ("italic", 10, 2),
    ]
    assert [sent.parse_entity(e) for e in sent.entities] == ["中文", "ok"]


@pytest.mark.parametrize(
    "source",
    [
        "a < b",
        "AT&T",
        "&nbsp;",
        "<div>x</div>",
        "<b>open",
        "x</b>",
        "<b><i>x</b></i>",
        "<a href=https://x.org>l</a>",
        '<a href="https://x.org>l</a>',
        "<span>x</span>",
        "<blockquote big>x</blockquote>",
    ],
)
async def test_bad_html_is_refused_by_telegram_check(
    sb: SandboxServer, bot: telegram.Bot, user: int, source: str
) -> None:
    with pytest.raises(
        telegram.error.BadRequest, match=r"(?i)can't parse entities: .* byte offset"
    ):
        await bot.send_message(user, source, parse_mode="HTML")
    rejection = sb.rejections()[-1]
    assert rejection.error_code == 400 and not rejection.injected


async def test_markdown_is_refused_with_a_clear_message(bot: telegram.Bot, user: int) -> None:
    # PTB lower-cases what follows the first letter of Telegram's description
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)use HTML or plain text"):
        await bot.send_message(user, "*bold*", parse_mode="MarkdownV2")


async def test_text_length_is_measured_after_entity_parsing(bot: telegram.Bot, user: int) -> None:
    assert (await bot.send_message(user, "x" * 4096)).text == "x" * 4096
    assert await bot.send_message(user, "<b>" + "&lt;" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(telegram.error.BadRequest, match="Message is too long"):
        await bot.send_message(user, "x" * 4097)
    with pytest.raises(telegram.error.BadRequest, match="Message text is empty"):
        await bot.send_message(user, "<b> </b>", parse_mode="HTML")


async def test_callback_data_is_limited_to_64_bytes(bot: telegram.Bot, user: int) -> None:
    assert await bot.send_message(user, "ok", reply_markup=keyboard("x" * 64))
    assert await bot.send_message(user, "ok", reply_markup=keyboard("中" * 21))
    for data in ("x" * 65, "中" * 22):
        with pytest.raises(telegram.error.BadRequest, match="Button_data_invalid"):
            await bot.send_message(user, "no", reply_markup=keyboard(data))


async def test_keyboard_buttons_are_checked(bot: telegram.Bot, user: int) -> None:
    bad_url = InlineKeyboardMarkup([[InlineKeyboardButton("x", url="javascript:alert(1)")]])
    with pytest.raises(telegram.error.BadRequest, match="Button_url_invalid"):
        await bot.send_message(user, "no", reply_markup=bad_url)
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)text buttons are unallowed"):
        await bot.send_message(
            user,
            "no",
            reply_markup={"inline_keyboard": [[{"text": "label only"}]]},  # type: ignore[arg-type]
        )
    reply_keyboard = telegram.ReplyKeyboardMarkup([["Yes", "No"]], one_time_keyboard=True)
    assert await bot.send_message(user, "ok", reply_markup=reply_keyboard)
    assert await bot.send_message(user, "ok", reply_markup=telegram.ReplyKeyboardRemove())


async def test_unknown_parameter_is_refused(bot: telegram.Bot, user: int) -> None:
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)unknown parameter colour"):
        await bot.send_message(user, "x", api_kwargs={"colour": "red"})


async def test_ptb_defaults_on_an_edit_are_ignored_like_telegram_does(
    sb: SandboxServer, user: int
) -> None:
    defaults = telegram.ext.Defaults(parse_mode="HTML", disable_notification=True)
    async with telegram.ext.ExtBot(TOKEN, base_url=f"{sb.url}/bot", defaults=defaults) as bot:
        sent = await bot.send_message(user, "<b>x</b>", reply_markup=keyboard("a"))
        assert await bot.edit_message_reply_markup(user, sent.message_id, reply_markup=None)


async def test_editing_to_the_same_content_is_not_modified(bot: telegram.Bot, user: int) -> None:
    sent = await bot.send_message(
        user, "<b>same</b>", parse_mode="HTML", reply_markup=keyboard("a")
    )
    with pytest.raises(telegram.error.BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "<b>same</b>", user, sent.message_id, parse_mode="HTML", reply_markup=keyboard("a")
        )
    with pytest.raises(telegram.error.BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(user, sent.message_id, reply_markup=keyboard("a"))
    assert await bot.edit_message_text("same", user, sent.message_id, reply_markup=keyboard("a"))


async def test_only_the_bots_own_existing_messages_can_be_edited(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    user_message = sb.messages(user)[0]
    for message_id in (user_message.message_id, 999):
        with pytest.raises(telegram.error.BadRequest, match="Message to edit not found"):
            await bot.edit_message_text("x", user, message_id)


async def test_who_the_bot_may_write_to(sb: SandboxServer, bot: telegram.Bot, user: int) -> None:
    sb.add_user(2002, "Stranger")
    sb.add_user(3003, "Gone")
    await sb.send_text(3003, "hi")
    sb.deactivate(3003)
    sb.add_group(-1001000000001, "ZJU2 team", members=[user], bot_member=True)
    sb.add_group(-1001000000002, "Elsewhere", members=[user], bot_member=False)

    with pytest.raises(telegram.error.BadRequest, match="Chat not found"):
        await bot.send_message(424242, "x")
    with pytest.raises(telegram.error.Forbidden, match="bot can't initiate conversation"):
        await bot.send_message(2002, "x")
    with pytest.raises(telegram.error.Forbidden, match="user is deactivated"):
        await bot.send_message(3003, "x")
    with pytest.raises(telegram.error.Forbidden, match="bot is not a member of the supergroup"):
        await bot.send_message(-1001000000002, "x")
    assert (await bot.send_message(-1001000000001, "team")).chat.title == "ZJU2 team"

    sb.block(user)
    with pytest.raises(telegram.error.Forbidden, match="bot was blocked by the user"):
        await bot.send_message(user, "x")
    sb.unblock(user)
    assert await bot.send_message(user, "back")


async def test_rejections_are_real_checks_only(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    await bot.send_message(user, "fine")
    assert sb.rejections() == []
    with pytest.raises(telegram.error.BadRequest):
        await bot.send_message(user, "<b>", parse_mode="HTML")
    [rejection] = sb.rejections()
    assert rejection.method == "sendMessage" and rejection.params["text"] == "<b>"
    assert [c.method for c in sb.calls("sendmessage")] == ["sendMessage", "sendMessage"]


async def test_set_time_sets_message_dates(sb: SandboxServer, bot: telegram.Bot, user: int) -> None:
    moment = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    sb.set_time(moment.timestamp())
    assert (await bot.send_message(user, "then")).date == moment
    assert (await sb.send_text(user, "me too")).date == int(moment.timestamp())
    sb.clear_time()
    assert (await bot.send_message(user, "now")).date > moment


async def test_commands_descriptions_and_chat_lookups(bot: telegram.Bot, user: int) -> None:
    await bot.set_my_commands([("start", "Begin"), ("checkin", "Answer the questions")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "checkin"]
    zh = await bot.get_my_commands(language_code="zh")
    assert zh == ()
    with pytest.raises(telegram.error.BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([("Start!", "x")])
    with pytest.raises(telegram.error.BadRequest, match="Bot_command_description_invalid"):
        await bot.set_my_commands([("start", "x" * 257)])
    assert await bot.delete_my_commands()
    assert await bot.set_my_description("A study companion")
    assert await bot.set_my_short_description("Study companion")
    assert await bot.set_chat_menu_button(menu_button=telegram.MenuButtonCommands())
    assert await bot.send_chat_action(user, "typing")
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)wrong parameter action"):
        await bot.send_chat_action(user, "dancing")
    chat = await bot.get_chat(user)
    assert chat.first_name == "Participant" and chat.type == "private"
    member = await bot.get_chat_member(user, user)
    assert member.status == "member" and member.user.language_code == "zh"


async def test_results_have_the_documented_shapes(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    sent = await bot.send_message(user, "pick", reply_markup=keyboard("a"))
    await sb.press(user, user, sent.message_id, "a")
    await sb.send_photo(user, caption="photo")
    sb.block(user)
    spec = load_spec()
    expected = [
        ("getMe", {}, "User"),
        ("getChat", {"chat_id": user}, "ChatFullInfo"),
        ("getChatMember", {"chat_id": user, "user_id": user}, "ChatMember"),
        ("getWebhookInfo", {}, "WebhookInfo"),
    ]
    for method, body, type_name in expected:
        answer = await raw(sb, method, json=body)
        assert spec.problems(answer.json()["result"], type_name) == [], method
    updates = (await raw(sb, "getUpdates")).json()["result"]
    assert {next(k for k in u if k != "update_id") for u in updates} == {
        "message",
        "callback_query",
        "my_chat_member",
    }
    for update in updates:
        assert spec.problems(update, "Update") == [], update


async def test_multipart_file_parts_are_accepted(sb: SandboxServer) -> None:
    files = {"certificate": ("cert.pem", b"-----BEGIN CERTIFICATE-----")}
    answer = await raw(sb, "setWebhook", data={"url": "http://127.0.0.1:9/hook"}, files=files)
    assert answer.json() == {"ok": True, "result": True}
    assert sb.calls("setWebhook")[0].params["certificate"] == {"file": "cert.pem"}
    assert (await raw(sb, "deleteWebhook")).json()["result"] is True


async def test_text_is_trimmed_like_telegram_does(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    sent = await bot.send_message(user, "\n <b>Visit</b> on Monday\n\n", parse_mode="HTML")
    assert sent.text == "Visit on Monday"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 5)]
    assert sb.bot_messages(user)[-1].html == "\n <b>Visit</b> on Monday\n\n"  # as sent


async def test_adding_a_known_user_updates_the_profile(sb: SandboxServer, user: int) -> None:
    updated = sb.add_user(user, "Renamed", language_code="en")
    assert updated.started and updated.first_name == "Renamed"
