"""Form schemas for questions: the MCP elicitation subset, read from pydantic models and JSON
Schema dicts, refused outside it with the field named, and answers checked against it."""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from hitl_slack import InvalidRequest
from hitl_slack.forms import Form, form_of


class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Shipping(BaseModel):
    name: str = Field(min_length=2, max_length=80, title="Full name")
    email: str = Field(json_schema_extra={"format": "email"})
    site: str | None = Field(None, json_schema_extra={"format": "uri"})
    when: date
    qty: int = Field(ge=1, le=10)
    price: float = Field(gt=0)
    express: bool = False
    color: Color
    extras: list[Literal["gift", "insured"]] = []


def test_a_pydantic_model_becomes_a_form_of_every_field_type() -> None:
    form = form_of(Shipping)
    by = {f.name: f for f in form.fields}
    assert [f.name for f in form.fields] == list(Shipping.model_fields)
    assert (by["name"].type, by["name"].min_length, by["name"].max_length) == ("string", 2, 80)
    assert by["name"].title == "Full name"
    assert by["name"].required
    assert (by["email"].format, by["site"].format, by["when"].format) == ("email", "uri", "date")
    assert not by["site"].required  # Optional: anyOf with null
    assert (by["qty"].type, by["qty"].minimum, by["qty"].maximum) == ("integer", 1, 10)
    assert (by["price"].type, by["price"].exclusive_minimum) == ("number", 0)
    assert (by["express"].type, by["express"].default) == ("boolean", False)
    assert by["color"].type == "enum"
    assert [o.value for o in by["color"].options] == ["red", "blue"]
    assert by["extras"].type == "multi"
    assert by["extras"].default == []


def test_a_json_schema_dict_with_titled_enums() -> None:
    form = form_of(
        {
            "type": "object",
            "title": "Deploy",
            "properties": {
                "region": {
                    "type": "string",
                    "oneOf": [
                        {"const": "eu", "title": "Europe"},
                        {"const": "us", "title": "United States"},
                    ],
                    "default": "eu",
                },
                "at": {"type": "string", "format": "date-time"},
                "teams": {
                    "type": "array",
                    "items": {
                        "anyOf": [{"const": "a", "title": "A"}, {"const": "b", "title": "B"}]
                    },
                    "minItems": 1,
                },
            },
            "required": ["region"],
        }
    )
    region, at, teams = form.fields
    assert [(o.value, o.label) for o in region.options] == [
        ("eu", "Europe"),
        ("us", "United States"),
    ]
    assert region.required
    assert region.default == "eu"
    assert at.format == "date-time"
    assert not at.required
    assert teams.type == "multi"
    assert teams.min_items == 1


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            {"type": "object", "properties": {"addr": {"type": "object"}}},
            "schema.addr: type 'object'",
        ),
        (
            {"type": "object", "properties": {"n": {"type": "string", "maxLength": 5000}}},
            "schema.n: maxLength must be at most 3000",
        ),
        (
            {"type": "object", "properties": {"n": {"type": "string", "format": "ipv4"}}},
            "schema.n: format 'ipv4' is not one of",
        ),
        (
            {"type": "object", "properties": {"c": {"enum": [str(i) for i in range(101)]}}},
            "schema.c: has 101 options; Slack shows at most 100",
        ),
        (
            {
                "type": "object",
                "properties": {"q": {"type": "integer", "maximum": 3, "default": 9}},
            },
            "schema.q: the default does not fit the field",
        ),
        ({"type": "object", "properties": {"x": {"$ref": "http://x/y"}}}, "schema.x: unsupported"),
        ({"type": "object", "properties": {}}, "schema: has no fields"),
        ({"type": "array", "items": {}}, "schema: must be an object schema"),
        ({"type": "object", "properties": {"a b": {"type": "string"}}}, "schema.a b: field names"),
        (
            {"type": "object", "properties": {f"f{i}": {"type": "boolean"} for i in range(51)}},
            "schema: has 51 fields; a form holds 50",
        ),
        ("not a schema", "schema: must be a pydantic model class or a JSON Schema dict"),
    ],
)
def test_a_schema_outside_the_subset_is_refused_naming_the_field(
    schema: object, message: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        form_of(schema)
    assert message in str(refused.value)
    assert refused.value.errors[0][0].startswith("schema")


def test_answers_are_checked_field_by_field() -> None:
    form: Form = form_of(Shipping)
    good = {
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "site": None,
        "when": "2026-12-24",
        "qty": 3,
        "price": 9.5,
        "express": True,
        "color": "blue",
        "extras": ["gift"],
    }
    assert form.validate_answer(good) == {}
    bad = good | {
        "name": "A",
        "email": "nope",
        "when": "24/12",
        "qty": 11,
        "price": 0,
        "color": "green",
        "extras": ["cake"],
        "other": 1,
    }
    errors = form.validate_answer(bad)
    assert errors == {
        "name": "Enter at least 2 characters.",
        "email": "Enter an email address.",
        "when": "Enter a date (YYYY-MM-DD).",
        "qty": "Enter 10 or less.",
        "price": "Enter more than 0.",
        "color": "Choose one of the options.",
        "extras": "Choose among the options.",
        "other": "not a field of this form",
    }
    assert form.validate_answer(good | {"qty": None})["qty"] == "This field is required."
    assert form.validate_answer(good | {"qty": 2.5})["qty"] == "Enter a whole number."
