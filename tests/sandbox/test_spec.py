"""The bundled Bot API spec and the coercion of call parameters by field type."""

from __future__ import annotations

import pytest

from sandbox.errors import ApiError
from sandbox.spec import load_spec


def test_spec_knows_methods_case_insensitively_and_types() -> None:
    spec = load_spec()
    method = spec.method("SENDmessage")
    assert method is not None and method.name == "sendMessage"
    assert method.fields["chat_id"].types == ("Integer", "String")
    assert "InlineKeyboardButton" in spec.types


def test_form_fields_are_coerced_by_their_spec_type() -> None:
    spec = load_spec()
    method = spec.method("sendMessage")
    assert method is not None
    params = spec.parse_params(
        method,
        {
            "chat_id": "-1001000000001",
            "text": "123",
            "disable_notification": "true",
            "reply_markup": '{"inline_keyboard": [[{"text": "a", "callback_data": "x"}]]}',
            "entities": '[{"type": "bold", "offset": 0, "length": 1}]',
        },
    )
    assert params["chat_id"] == -1001000000001
    assert params["text"] == "123"
    assert params["disable_notification"] is True
    assert params["reply_markup"] == {"inline_keyboard": [[{"text": "a", "callback_data": "x"}]]}
    assert params["entities"] == [{"type": "bold", "offset": 0, "length": 1}]
    assert spec.parse_params(method, {"chat_id": "@channel", "text": "x"})["chat_id"] == "@channel"


@pytest.mark.parametrize(
    ("raw", "description"),
    [
        ({"chat_id": 1, "text": "x", "colour": "red"}, "Bad Request: unknown parameter colour"),
        ({"chat_id": 1}, "Bad Request: message text is empty"),
        ({"text": "x"}, "Bad Request: chat_id is empty"),
        ({"chat_id": 1, "text": "x", "disable_notification": "maybe"}, "disable_notification"),
        ({"chat_id": 1, "text": "x", "reply_markup": "{not json"}, "reply_markup"),
        (
            {"chat_id": 1, "text": "x", "reply_markup": {"inline_keyboard": [[{"url": "x"}]]}},
            'field "reply_markup.inline_keyboard[0][0].text" is required',
        ),
        ({"chat_id": [1], "text": "x"}, "chat_id"),
    ],
)
def test_bad_parameters_are_refused(raw: dict[str, object], description: str) -> None:
    spec = load_spec()
    method = spec.method("sendMessage")
    assert method is not None
    with pytest.raises(ApiError) as error:
        spec.parse_params(method, raw)
    assert error.value.code == 400
    assert description in error.value.description


def test_problems_reports_missing_required_fields_of_a_shape() -> None:
    spec = load_spec()
    assert spec.problems({"id": 1, "is_bot": False, "first_name": "A"}, "User") == []
    assert spec.problems({"id": 1, "is_bot": False}, "User") == [
        'field "User.first_name" is required'
    ]
