"""Form schemas for questions: the flat subset of JSON Schema that MCP elicitation allows.

Pure: no Redis, no Slack, no ``mcp``. A question's form is an object of flat fields, each one of:

* ``string``, with ``minLength`` / ``maxLength``, ``pattern`` and the formats ``email``, ``uri``,
  ``date`` and ``date-time``;
* ``number`` or ``integer``, with ``minimum`` / ``maximum``;
* ``boolean``;
* a single-select enum (``enum``, or ``oneOf`` of titled ``const`` values);
* a multi-select enum (``type: array`` whose ``items`` are such an enum, with ``minItems`` /
  ``maxItems``);

each with a ``title``, a ``description`` and a ``default``, and the object's ``required`` list
(MCP's 2025-11-25 revision). Minus what Slack cannot render: a text over 3,000 characters, more
than 100 options, more than 10 checkboxes, more than :data:`MAX_FIELDS` fields. :func:`form_of`
reads such a schema, from a dict or a pydantic model class, into a :class:`Form` (refusing
anything else with a message naming the field); :meth:`Form.validate_answer` checks an answer.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hitl_slack.errors import InvalidRequest

__all__ = [
    "MAX_CHECKBOXES",
    "MAX_FIELDS",
    "MAX_OPTIONS",
    "MAX_TEXT",
    "Form",
    "FormField",
    "Option",
    "form_of",
]

#: Longest text a Slack input takes.
MAX_TEXT: Final = 3000
#: Most options of a Slack select.
MAX_OPTIONS: Final = 100
#: Most options of a Slack checkbox group.
MAX_CHECKBOXES: Final = 10
#: Most fields of one form (a modal holds 100 blocks; the rest is the question).
MAX_FIELDS: Final = 50

FieldType = Literal["string", "number", "integer", "boolean", "enum", "multi"]
StringFormat = Literal["email", "uri", "date", "date-time"]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Option(_Frozen):
    """One choice: the value the agent gets, and the label a person sees (a label longer
    than Slack's 75 characters is cut, with a visible marker)."""

    value: Annotated[str, Field(min_length=1, max_length=150)]
    label: Annotated[str, Field(min_length=1, max_length=75)]

    @field_validator("label", mode="before")
    @classmethod
    def _cut(cls, label: Any) -> Any:
        return label[:74] + "…" if isinstance(label, str) and len(label) > 75 else label


class FormField(_Frozen):
    """One field of a form, as a person fills it in."""

    name: Annotated[str, Field(pattern=_NAME.pattern)]
    type: FieldType
    title: Annotated[str, Field(max_length=2000)]
    description: Annotated[str | None, Field(max_length=2000)] = None
    required: bool = False
    default: Any = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    format: StringFormat | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    options: tuple[Option, ...] = ()
    min_items: int | None = None
    max_items: int | None = None

    def check(self, value: Any) -> str | None:
        """What is wrong with ``value`` for this field (None: nothing; None value: absent)."""
        if value is None:
            return "This field is required." if self.required else None
        check = _CHECKS[self.type]
        return check(self, value)


class Form(_Frozen):
    """A question's form: its fields, in order."""

    title: Annotated[str | None, Field(max_length=150)] = None
    fields: Annotated[tuple[FormField, ...], Field(min_length=1, max_length=MAX_FIELDS)]

    def validate_answer(self, answer: Any) -> dict[str, str]:
        """What is wrong with ``answer`` (a dict of field name to value), by field name."""
        if not isinstance(answer, dict):
            return {"": "the answer must be an object of the form's fields"}
        known = {f.name for f in self.fields}
        errors = {k: "not a field of this form" for k in answer if k not in known}
        for f in self.fields:
            if (problem := f.check(answer.get(f.name))) is not None:
                errors[f.name] = problem
        return errors


# -- checking a value -----------------------------------------------------------------------------


def _check_string(f: FormField, value: Any) -> str | None:
    if not isinstance(value, str):
        return "Enter text."
    if f.min_length is not None and len(value) < f.min_length:
        return f"Enter at least {f.min_length} characters."
    if f.max_length is not None and len(value) > f.max_length:
        return f"Enter at most {f.max_length} characters."
    if f.pattern is not None and re.search(f.pattern, value) is None:
        return "This does not have the expected form."
    return _check_format(f.format, value)


def _check_format(fmt: StringFormat | None, value: str) -> str | None:
    if fmt == "email" and not _EMAIL.match(value):
        return "Enter an email address."
    if fmt == "uri" and not _URI.match(value):
        return "Enter a URL (https://...)."
    try:
        if fmt == "date":
            date.fromisoformat(value)
        elif fmt == "date-time":
            datetime.fromisoformat(value)
    except ValueError:
        return "Enter a date (YYYY-MM-DD)." if fmt == "date" else "Enter a date and time."
    return None


def _check_number(f: FormField, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "Enter a number."
    if f.type == "integer" and not float(value).is_integer():
        return "Enter a whole number."
    if f.minimum is not None and value < f.minimum:
        return f"Enter {f.minimum:g} or more."
    if f.maximum is not None and value > f.maximum:
        return f"Enter {f.maximum:g} or less."
    if f.exclusive_minimum is not None and value <= f.exclusive_minimum:
        return f"Enter more than {f.exclusive_minimum:g}."
    if f.exclusive_maximum is not None and value >= f.exclusive_maximum:
        return f"Enter less than {f.exclusive_maximum:g}."
    return None


def _check_boolean(f: FormField, value: Any) -> str | None:
    return None if isinstance(value, bool) else "Choose yes or no."


def _check_enum(f: FormField, value: Any) -> str | None:
    return None if value in {o.value for o in f.options} else "Choose one of the options."


def _check_multi(f: FormField, value: Any) -> str | None:
    allowed = {o.value for o in f.options}
    if not isinstance(value, list) or not all(v in allowed for v in value):
        return "Choose among the options."
    if f.min_items is not None and len(value) < f.min_items:
        return f"Choose at least {f.min_items}."
    if f.max_items is not None and len(value) > f.max_items:
        return f"Choose at most {f.max_items}."
    return None


_CHECKS = {
    "string": _check_string,
    "number": _check_number,
    "integer": _check_number,
    "boolean": _check_boolean,
    "enum": _check_enum,
    "multi": _check_multi,
}

# -- reading a schema ------------------------------------------------------------------------------


class _Refused(ValueError):
    """A schema outside the subset: ``where`` names the field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where


def _resolve(node: Any, defs: dict[str, Any], where: str) -> dict[str, Any]:
    """``node`` with a local ``$ref`` and an ``Optional`` (``anyOf`` with null) unwrapped."""
    if not isinstance(node, dict):
        raise _Refused(where, "must be a JSON Schema object")
    if "$ref" in node:
        ref = node["$ref"]
        name = ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ""
        if not isinstance(ref, str) or not ref.startswith("#/$defs/") or name not in defs:
            raise _Refused(where, f"unsupported reference {str(ref)[:60]!r}")
        return {
            **_resolve(defs[name], defs, where),
            **{k: v for k, v in node.items() if k != "$ref"},
        }
    variants = node.get("anyOf")
    if isinstance(variants, list):
        real = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        if len(real) == 1 and len(real) < len(variants):
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            return {**_resolve(real[0], defs, where), **rest}
    return node


def _options(node: dict[str, Any], where: str) -> tuple[Option, ...]:
    if isinstance(node.get("enum"), list):
        values = node["enum"]
        names = node.get("enumNames")
        labels = names if isinstance(names, list) and len(names) == len(values) else values
        pairs = list(zip(values, labels, strict=True))
    elif isinstance(choices := node.get("oneOf") or node.get("anyOf"), list):
        if not all(isinstance(c, dict) and "const" in c for c in choices):
            raise _Refused(where, "every choice of oneOf / anyOf must be {const, title}")
        pairs = [(c["const"], c.get("title", c["const"])) for c in choices]
    else:
        raise _Refused(where, "an enum needs enum, or oneOf / anyOf of {const, title}")
    if not pairs:
        raise _Refused(where, "an enum needs at least one value")
    if len(pairs) > MAX_OPTIONS:
        raise _Refused(where, f"has {len(pairs)} options; Slack shows at most {MAX_OPTIONS}")
    if not all(isinstance(v, str) for v, _ in pairs):
        raise _Refused(where, "enum values must be strings")
    try:
        return tuple(Option(value=v, label=str(label)) for v, label in pairs)
    except ValidationError as exc:
        raise _Refused(where, exc.errors()[0]["msg"]) from None


def _string_bounds(node: dict[str, Any], where: str) -> dict[str, Any]:
    fmt = node.get("format")
    if fmt is not None and fmt not in ("email", "uri", "date", "date-time"):
        raise _Refused(where, f"format {fmt!r} is not one of email, uri, date, date-time")
    longest = node.get("maxLength")
    if longest is not None and (not isinstance(longest, int) or longest > MAX_TEXT):
        raise _Refused(where, f"maxLength must be at most {MAX_TEXT} (Slack's longest input)")
    pattern = node.get("pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except (re.error, TypeError):
            raise _Refused(where, "pattern is not a regular expression") from None
    return {
        "min_length": node.get("minLength"),
        "max_length": longest if longest is not None else MAX_TEXT,
        "pattern": pattern,
        "format": fmt,
    }


def _field(name: str, raw: Any, defs: dict[str, Any], required: bool) -> FormField:
    where = name
    node = _resolve(raw, defs, where)
    kind = node.get("type")
    spec: dict[str, Any] = {}
    field_type: FieldType
    if kind == "array":
        items = _resolve(node.get("items"), defs, where)
        spec["options"] = _options(items, where)
        if len(spec["options"]) > MAX_OPTIONS:
            raise _Refused(where, f"has more than {MAX_OPTIONS} options")
        spec |= {"min_items": node.get("minItems"), "max_items": node.get("maxItems")}
        field_type = "multi"
    elif "enum" in node or "oneOf" in node or ("anyOf" in node and kind in (None, "string")):
        spec["options"] = _options(node, where)
        field_type = "enum"
    elif kind == "string":
        spec = _string_bounds(node, where)
        field_type = "string"
    elif kind in ("number", "integer"):
        spec = {
            "minimum": node.get("minimum"),
            "maximum": node.get("maximum"),
            "exclusive_minimum": node.get("exclusiveMinimum"),
            "exclusive_maximum": node.get("exclusiveMaximum"),
        }
        field_type = "number" if kind == "number" else "integer"
    elif kind == "boolean":
        field_type = "boolean"
    else:
        shown = kind if isinstance(kind, str) else "no type"
        raise _Refused(
            where,
            f"type {shown!r} is not in the form subset (string, number, integer, boolean, "
            "an enum, or an array of an enum)",
        )
    try:
        made = FormField(
            name=name,
            type=field_type,
            title=str(node.get("title") or name)[:2000],
            description=node.get("description"),
            required=required,
            default=node.get("default"),
            **spec,
        )
    except ValidationError as exc:
        raise _Refused(where, exc.errors()[0]["msg"]) from None
    if made.default is not None and (problem := made.check(made.default)):
        raise _Refused(where, f"the default does not fit the field: {problem}")
    return made


def _schema(schema: Any) -> dict[str, Any]:
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    if isinstance(schema, dict):
        return schema
    raise _Refused("schema", "must be a pydantic model class or a JSON Schema dict")


def _read(schema: Any) -> Form:
    raw = _schema(schema)
    if raw.get("type", "object") != "object" or not isinstance(raw.get("properties"), dict):
        raise _Refused("schema", "must be an object schema with properties")
    props: dict[str, Any] = raw["properties"]
    if not props:
        raise _Refused("schema", "has no fields")
    if len(props) > MAX_FIELDS:
        raise _Refused("schema", f"has {len(props)} fields; a form holds {MAX_FIELDS}")
    found = raw.get("$defs")
    defs: dict[str, Any] = found if isinstance(found, dict) else {}
    required = set(raw.get("required") or ())
    for name in props:
        if not isinstance(name, str) or not _NAME.match(name):
            raise _Refused(str(name)[:64], "field names are letters, digits, _ . - (64 max)")
    fields = tuple(_field(n, p, defs, n in required) for n, p in props.items())
    title = raw.get("title")
    return Form(title=str(title)[:150] if title else None, fields=fields)


def form_of(schema: Any) -> Form:
    """Read a form schema (a JSON Schema dict, or a pydantic model class).

    Raises:
        InvalidRequest: the schema is outside the subset; the message names the field
            (``schema.<field>``) and what is wrong.
    """
    try:
        return _read(schema)
    except _Refused as exc:
        where = exc.where if exc.where == "schema" else f"schema.{exc.where}"
        raise InvalidRequest(f"invalid question: {where}: {exc}", [(where, str(exc))]) from None
