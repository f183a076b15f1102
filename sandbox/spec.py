"""The Telegram Bot API specification, and checking a call's parameters against it.

`telegram_api.json` is the machine-readable Bot API description published by
PaulSonOfLars/telegram-bot-api-spec (MIT licence), scraped from Telegram's own documentation.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sandbox.errors import ApiError, bad_request

__all__ = ["ApiSpec", "FieldSpec", "FileUpload", "MethodSpec", "TypeSpec", "load_spec"]

_INTEGER = re.compile(r"-?\d+")
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
_ARRAY = "Array of "


# PTB's shared send/edit path passes these to every such method (with `Defaults`, filled
# in); Telegram ignores them where a method has no such field, and so does the sandbox.
# Any other unknown parameter is refused, to catch typos.
SHARED_SEND_OPTIONS = frozenset(
    {
        "allow_paid_broadcast",
        "business_connection_id",
        "caption",
        "caption_entities",
        "direct_messages_topic_id",
        "disable_notification",
        "link_preview_options",
        "message_effect_id",
        "message_thread_id",
        "parse_mode",
        "protect_content",
        "reply_markup",
        "reply_parameters",
        "suggested_post_parameters",
    }
)


@dataclass(frozen=True)
class FileUpload:
    """A file sent as a multipart part, for the length of the call (a method that checks
    the file, such as sendPhoto, reads `content`; only the name and size are recorded)."""

    filename: str
    size: int
    content: bytes = dataclasses.field(default=b"", repr=False)


@dataclass(frozen=True)
class FieldSpec:
    """One parameter of a method, or one field of a type."""

    name: str
    types: tuple[str, ...]
    required: bool


@dataclass(frozen=True)
class MethodSpec:
    """One Bot API method."""

    name: str
    fields: Mapping[str, FieldSpec]
    returns: tuple[str, ...]


@dataclass(frozen=True)
class TypeSpec:
    """One Bot API type: either fields, or a list of subtypes it may be."""

    name: str
    fields: Mapping[str, FieldSpec]
    subtypes: tuple[str, ...]


class _Mismatch(Exception):
    """A value does not have the type the spec asks for."""


def _fields(raw: list[dict[str, Any]]) -> dict[str, FieldSpec]:
    return {f["name"]: FieldSpec(f["name"], tuple(f["types"]), bool(f["required"])) for f in raw}


class ApiSpec:
    """The methods and types of the Bot API, with parameter coercion and validation."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version: str = str(data.get("version", ""))
        self.methods: dict[str, MethodSpec] = {
            name.lower(): MethodSpec(name, _fields(m.get("fields", [])), tuple(m["returns"]))
            for name, m in data["methods"].items()
        }
        self.types: dict[str, TypeSpec] = {
            name: TypeSpec(name, _fields(t.get("fields", [])), tuple(t.get("subtypes", [])))
            for name, t in data["types"].items()
        }

    def method(self, name: str) -> MethodSpec | None:
        """The method called `name`, ignoring case as Telegram does."""
        return self.methods.get(name.lower())

    def parse_params(self, method: MethodSpec, raw: Mapping[str, object]) -> dict[str, object]:
        """Coerce raw call parameters to their spec types; raise `ApiError` as Telegram would.

        A string is parsed according to the field type (PTB sends numbers, booleans, objects
        and arrays JSON-encoded in form fields); other values must already have that type.
        """
        for name in raw:
            if name not in method.fields and name not in SHARED_SEND_OPTIONS:
                raise bad_request(f"unknown parameter {name}")
        params: dict[str, object] = {}
        for field in method.fields.values():
            value = raw.get(field.name)
            if value is None or value == "":
                if field.required:
                    raise bad_request(_empty_message(field.name))
                if value == "" and "String" in field.types:
                    params[field.name] = ""
                continue
            try:
                params[field.name] = self._coerce(value, field.types, field.name)
            except _Mismatch as exc:
                raise bad_request(str(exc)) from None
        return params

    def problems(self, value: object, type_name: str, path: str = "") -> list[str]:
        """What keeps `value` from being a valid `type_name` (empty when it is valid)."""
        try:
            self._coerce(value, (type_name,), path or type_name)
        except _Mismatch as exc:
            return [str(exc)]
        return []

    def _coerce(self, value: object, types: tuple[str, ...], path: str) -> object:
        if len(types) == 1:
            return self._coerce_one(value, types[0], path)
        preferred: _Mismatch | None = None
        for type_name in types:
            try:
                return self._coerce_one(value, type_name, path)
            except _Mismatch as exc:
                if preferred is None and self._looks_like(value, type_name):
                    preferred = exc
        if preferred is not None:
            raise preferred
        raise _Mismatch(f'field "{path}" must be {" or ".join(types)}')

    def _looks_like(self, value: object, type_name: str) -> bool:
        """Whether a JSON object has every required key of `type_name` (to pick its error)."""
        spec = self.types.get(type_name)
        obj = _maybe_json(value)
        if spec is None or not spec.fields or not isinstance(obj, dict):
            return False
        return all(f.name in obj for f in spec.fields.values() if f.required)

    def _coerce_one(self, value: object, type_name: str, path: str) -> object:
        scalar = _SCALARS.get(type_name)
        if scalar is not None:
            return scalar(value, path)
        if type_name.startswith(_ARRAY):
            items = _maybe_json(value)
            if not isinstance(items, list):
                raise _Mismatch(f'field "{path}" must be an array')
            item_type = (type_name.removeprefix(_ARRAY),)
            return [self._coerce(v, item_type, f"{path}[{i}]") for i, v in enumerate(items)]
        spec = self.types.get(type_name)
        obj = _maybe_json(value)
        if spec is None or not isinstance(obj, dict):
            raise _Mismatch(f'field "{path}" must be a JSON object of type {type_name}')
        if spec.subtypes:
            problems = [s for s in spec.subtypes if not self._fits(obj, s, path)]
            if len(problems) == len(spec.subtypes):
                raise _Mismatch(f'field "{path}" must be one of {", ".join(spec.subtypes)}')
            return obj
        result = dict(obj)
        for field in spec.fields.values():
            if field.name not in obj:
                if field.required:
                    raise _Mismatch(f'field "{path}.{field.name}" is required')
                continue
            result[field.name] = self._coerce(obj[field.name], field.types, f"{path}.{field.name}")
        return result

    def _fits(self, obj: dict[str, Any], type_name: str, path: str) -> bool:
        try:
            self._coerce_one(obj, type_name, path)
        except _Mismatch:
            return False
        return True


def _empty_message(name: str) -> str:
    if name == "text":
        return "message text is empty"
    return f"{name} is empty"


def _maybe_json(value: object) -> object:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _integer(value: object, path: str) -> int:
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _Mismatch(f'field "{path}" must be an Integer')


def _float(value: object, path: str) -> float:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise _Mismatch(f'field "{path}" must be a Float')


def _boolean(value: object, path: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise _Mismatch(f'field "{path}" must be a Boolean')


def _string(value: object, path: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _Mismatch(f'field "{path}" must be a String')


def _input_file(value: object, path: str) -> object:
    if isinstance(value, FileUpload | str):
        return value
    raise _Mismatch(f'field "{path}" must be a file or a String')


_SCALARS: dict[str, Any] = {
    "Integer": _integer,
    "Float": _float,
    "Boolean": _boolean,
    "String": _string,
    "InputFile": _input_file,
}


@functools.cache
def load_spec() -> ApiSpec:
    """The bundled Bot API specification (loaded once)."""
    text = resources.files("sandbox").joinpath("telegram_api.json").read_text(encoding="utf-8")
    return ApiSpec(json.loads(text))


def require_method(spec: ApiSpec, name: str) -> MethodSpec:
    """The method `name`, or Telegram's 404 answer for an unknown method."""
    method = spec.method(name)
    if method is None:
        raise ApiError(404, "Not Found: method not found")
    return method
