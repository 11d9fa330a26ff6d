"""Reading Slack interaction payloads: clicks, modal submissions, list pages.

Pure. A payload is signed by Slack, but its fields are still read defensively: a button value
or ``private_metadata`` that is not what the bot wrote, a missing user or garbled
``view.state`` raise :class:`BadPayload` naming the field, so a listener can tell the person
and decide nothing, instead of failing with a ``KeyError`` after its ack.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hitl_slack.errors import HITLError

__all__ = [
    "BadPayload",
    "Click",
    "PageClick",
    "Submission",
    "click",
    "malformed",
    "metadata",
    "page_click",
    "submission",
    "who",
]

_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,30}")
_USER = re.compile(r"[UW][A-Z0-9]{2,30}")
_MAX_OFFSET = 1_000_000
#: The actions block id of a request's message: the digest of the arguments it shows
#: (:func:`hitl_slack.slack.policyface.args_block_id`).
_ARGS_BLOCK = re.compile(r"hitl\.args:([0-9a-f]{64})")
_DIGEST = re.compile(r"[0-9a-f]{64}")


class BadPayload(HITLError):
    """A Slack payload lacks a field the bot needs, or the field is not what the bot wrote."""


@dataclass(frozen=True, slots=True)
class Click:
    """A click on a request's button.

    Attributes:
        seen: the digest of the arguments the clicked message showed (its actions block id);
            None for a message posted by a version that did not write it.
    """

    request_id: str
    user: str
    channel: str | None
    trigger_id: str | None
    seen: str | None = None


@dataclass(frozen=True, slots=True)
class Submission:
    """A modal submitted for a request; ``values`` checked to be inputs of text.

    Attributes:
        seen: the digest of the arguments shown when the modal opened (its metadata's
            ``seen``); None for a modal opened by a version that did not write it.
    """

    request_id: str
    user: str
    channel: str | None
    values: dict[str, dict[str, dict[str, Any]]]
    seen: str | None = None


@dataclass(frozen=True, slots=True)
class PageClick:
    """A click on "next page" of a listing."""

    user: str
    offset: int


def who(body: Any) -> tuple[str | None, str | None]:
    """``(user, channel)`` of any payload, as far as they can be read; never raises.

    Used to tell the person about a failure whatever went wrong with the rest.
    """
    if not isinstance(body, dict):
        return None, None
    user = body.get("user")  # an object in interactions, an id in events
    user_id = user.get("id") if isinstance(user, dict) else user or body.get("user_id")
    channel = body.get("channel")
    channel_id = channel.get("id") if isinstance(channel, dict) else body.get("channel_id")
    container = body.get("container")
    if channel_id is None and isinstance(container, dict):
        channel_id = container.get("channel_id")
    if channel_id is None and isinstance(body.get("view"), dict):
        channel_id = _meta_channel(body["view"].get("private_metadata"))
    return _match(_USER, user_id), _match(_CHANNEL, channel_id)


def _match(pattern: re.Pattern[str], value: Any) -> str | None:
    return value if isinstance(value, str) and pattern.fullmatch(value) else None


def _meta_channel(text: Any) -> str | None:
    try:
        data = json.loads(text) if isinstance(text, str) else None
    except (ValueError, RecursionError):
        return None
    return _match(_CHANNEL, data.get("channel")) if isinstance(data, dict) else None


def _user(body: dict[str, Any]) -> str:
    user = body.get("user")
    if not isinstance(user, dict) or _match(_USER, user.get("id")) is None:
        raise BadPayload("the payload names no valid user (user.id)")
    return str(user["id"])


def malformed(body: Any) -> str | None:
    """What is wrong with an interaction's shape, before Bolt's matchers read it; else None.

    Bolt indexes ``actions[0]``, ``view.callback_id`` and ``user.id`` while routing a request,
    so a signed body of the wrong shape would fail inside Bolt (a 500, or an exception out of
    ``async_dispatch``) before any listener could answer. Events and slash commands pass.
    """
    if not isinstance(body, dict):
        return "the payload is not a JSON object"
    kind = body.get("type")
    if kind is None and "command" not in body:
        return "the payload has no type"
    if kind not in ("block_actions", "view_submission", "view_closed"):
        return _ids_problem(body)
    user = body.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        return "user.id is missing or not text"
    if kind == "block_actions":
        actions = body.get("actions")
        if (
            not isinstance(actions, list)
            or not actions
            or not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions)
        ):
            return "actions must be a non-empty list of actions with an action_id"
        return None
    view = body.get("view")
    if not isinstance(view, dict) or not all(
        isinstance(view.get(k), str) for k in ("type", "callback_id")
    ):
        return "view must be an object with a type and a callback_id"
    return None


#: Top-level ids Bolt's matchers compare (or search with a pattern) in the other
#: interactions: ``interactive_message`` and ``dialog_*`` route by ``callback_id``,
#: ``block_suggestion`` by ``action_id``; one of another type fails inside Bolt (a 500).
_MATCHED_IDS = ("callback_id", "action_id", "block_id")


def _ids_problem(body: dict[str, Any]) -> str | None:
    for key in _MATCHED_IDS:
        if key in body and not isinstance(body[key], str):
            return f"{key} is not text"
    return None


def _action(body: dict[str, Any]) -> dict[str, Any]:
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise BadPayload("the payload has no action (actions[0])")
    return actions[0]


def click(body: dict[str, Any]) -> Click:
    """Read a click on Approve / Reject / Edit.

    Raises:
        BadPayload: no user, no action, or a button value that is not a request id.
    """
    action = _action(body)
    value = action.get("value")
    if not isinstance(value, str) or not _REQUEST_ID.fullmatch(value):
        raise BadPayload("the button's value is not a request id")
    user, channel = _user(body), who(body)[1]
    trigger = body.get("trigger_id")
    block = action.get("block_id")
    found = _ARGS_BLOCK.fullmatch(block) if isinstance(block, str) else None
    return Click(
        value,
        user,
        channel,
        trigger if isinstance(trigger, str) else None,
        found.group(1) if found else None,
    )


def page_click(body: dict[str, Any]) -> PageClick:
    """Read a click on "next page".

    Raises:
        BadPayload: no user, or a value that is not a page offset.
    """
    value = _action(body).get("value")
    if not isinstance(value, str) or not value.isdigit() or int(value) > _MAX_OFFSET:
        raise BadPayload("the button's value is not a page offset")
    return PageClick(_user(body), int(value))


def metadata(request_id: str, channel: str | None, *, seen: str | None = None) -> str:
    """The ``private_metadata`` of a request's modal: which request, where to answer, and
    the digest of the arguments shown (``seen``, when known).

    Versions that wrote only ``id`` and ``channel`` are read as having no ``seen``; an older
    version reading this ignores the key.
    """
    meta: dict[str, str | None] = {"id": request_id, "channel": channel}
    if seen is not None:
        meta["seen"] = seen
    return json.dumps(meta)


def submission(body: dict[str, Any]) -> Submission:
    """Read a modal submission: the request in ``private_metadata``, the inputs' text.

    Raises:
        BadPayload: no user, metadata that is not what :func:`metadata` wrote, or
            ``view.state.values`` that are not inputs of text.
    """
    view = body.get("view")
    if not isinstance(view, dict):
        raise BadPayload("the payload has no view")
    try:
        meta = json.loads(view.get("private_metadata") or "")
    except (ValueError, TypeError, RecursionError):
        meta = None
    if (
        not isinstance(meta, dict)
        or not _REQUEST_ID.fullmatch(str(meta.get("id", "")))
        or not isinstance(meta.get("id"), str)
    ):
        raise BadPayload("the form's private_metadata does not name a request")
    channel = _match(_CHANNEL, meta.get("channel"))
    state = view.get("state")
    return Submission(
        meta["id"],
        _user(body),
        channel,
        _values(state.get("values") if isinstance(state, dict) else None),
        _match(_DIGEST, meta.get("seen")),
    )


def _values(values: Any) -> dict[str, dict[str, dict[str, Any]]]:
    if not isinstance(values, dict):
        raise BadPayload("the form's state (view.state.values) is missing")
    for block_id, inputs in values.items():
        if not isinstance(inputs, dict) or not all(isinstance(i, dict) for i in inputs.values()):
            raise BadPayload(f"the form's state for {str(block_id)[:50]!r} is not a set of inputs")
        for action_id, field in inputs.items():
            value = field.get("value")
            if value is not None and not isinstance(value, str):
                raise BadPayload(
                    f"the input {str(block_id)[:50]}.{str(action_id)[:50]} is not text"
                )
    return values
