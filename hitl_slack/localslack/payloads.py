"""Slack's payloads, built as Slack sends them (reference section 2), and signed requests.

Clicks on a message's buttons, clicks in an ephemeral reply, an App Home or a modal, modal
submissions, slash commands and ``app_home_opened`` events; the form and signing of HTTP mode
(:func:`form_body`, :func:`sign`, :func:`post_signed`); and :func:`block_text` /
:func:`find_button` to read blocks. ``response_url`` values point at the local Slack whose base
URL is given (``response_base``; a clicked message carries its own), so a reply through them is
recorded there; without one they point at Slack's hooks.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import aiohttp
from slack_sdk.signature import SignatureVerifier

from hitl_slack.localslack.records import JSON, PostedMessage

__all__ = [
    "app_home_opened_body",
    "async_post_signed",
    "block_actions_body",
    "block_text",
    "button_click_body",
    "find_button",
    "form_body",
    "new_trigger_id",
    "post_signed",
    "sign",
    "slash_command_body",
    "slash_command_payload",
    "view_submission_body",
]


def new_trigger_id() -> str:
    """A ``trigger_id`` shaped like Slack's."""
    return f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def _user(user_id: str, team_id: str) -> JSON:
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id}


def _response_url(kind: str, channel: str, ts: str, user: str, base: str | None) -> str:
    if not base:
        return f"https://hooks.slack.com/{kind}/T111/1/{secrets.token_hex(8)}"
    return f"{base}webhook/{kind}/{channel}/{ts}/{user}/{secrets.token_hex(8)}"


def _find(blocks: list[JSON], action_id: str) -> tuple[JSON, JSON] | None:
    for block in blocks:
        for element in [block.get("accessory"), *block.get("elements", [])]:
            if (
                isinstance(element, dict)
                and element.get("type") == "button"
                and element.get("action_id") == action_id
            ):
                return block, element
    return None


def find_button(blocks: list[JSON] | None, action_id: str) -> JSON | None:
    """The button element with ``action_id`` (in an actions block or a section accessory)."""
    found = _find(blocks or [], action_id)
    return found[1] if found else None


def block_text(blocks: list[JSON] | None) -> str:
    """Every ``text`` string inside ``blocks``, newline-joined, for substring assertions."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks or [])
    return "\n".join(out)


def _click(
    button: JSON,
    action_id: str,
    block_id: str,
    user_id: str,
    team_id: str,
    app_id: str,
) -> JSON:
    """The fields every click on a button has (``block_actions``)."""
    action = {
        "action_id": action_id,
        "block_id": block_id,
        "text": button.get("text"),
        "value": button.get("value"),
        "type": "button",
        "action_ts": f"{time.time():.6f}",
    }
    return {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": app_id,
        "token": "verification_token",
        "trigger_id": new_trigger_id(),
        "team": {"id": team_id, "domain": "fake"},
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": {}},
        "actions": [action],
    }


def block_actions_body(
    message: PostedMessage,
    action_id: str,
    *,
    user_id: str = "U0ALICE",
    team_id: str = "T111",
    trigger_id: str | None = None,
) -> JSON:
    """A click on the button ``action_id`` of a message the app posted.

    Raises:
        LookupError: the message has no such button (names the ones it has).
    """
    found = _find(message.blocks or [], action_id)
    if found is None:
        present = [
            e.get("action_id")
            for b in message.blocks or []
            for e in [b.get("accessory"), *b.get("elements", [])]
            if isinstance(e, dict)
        ]
        raise LookupError(f"no button {action_id!r} in message {message.ts}; action_ids: {present}")
    block, button = found
    block_id = (
        block.get("block_id")
        or hashlib.sha1(json.dumps(block).encode(), usedforsecurity=False).hexdigest()[:5]
    )
    body = _click(button, action_id, block_id, user_id, team_id, message.app_id)
    if "style" in button:
        body["actions"][0]["style"] = button["style"]
    return body | {
        "trigger_id": trigger_id or body["trigger_id"],
        "container": {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": False,
        },
        "channel": {"id": message.channel, "name": message.channel.lower()},
        "message": message.as_payload(),
        "response_url": _response_url(
            "actions", message.channel, message.ts, user_id, message.base_url or None
        ),
    }


def button_click_body(
    blocks: list[JSON] | None,
    action_id: str,
    *,
    user_id: str = "U0ALICE",
    channel_id: str | None = None,
    view: JSON | None = None,
    team_id: str = "T111",
    trigger_id: str | None = None,
    response_base: str | None = None,
    message_ts: str = "-",
) -> JSON:
    """A click on a button outside a channel message: in an ephemeral reply posted in
    ``channel_id`` (``message_ts``, with a ``response_url``), or in ``view`` (an App Home tab
    or a modal)."""
    found = _find(blocks or [], action_id)
    if found is None:
        raise LookupError(f"no button {action_id!r} in these blocks")
    block, button = found
    body = _click(button, action_id, block.get("block_id", "b"), user_id, team_id, "A111")
    body["trigger_id"] = trigger_id or body["trigger_id"]
    if view is not None:
        return body | {"container": {"type": "view", "view_id": view.get("id")}, "view": view}
    assert channel_id is not None, "an ephemeral reply lives in a channel"
    return body | {
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": True,
        },
        "channel": {"id": channel_id, "name": channel_id.lower()},
        "response_url": _response_url("actions", channel_id, message_ts, user_id, response_base),
    }


def view_submission_body(
    view: JSON,
    values: dict[str, dict[str, JSON]],
    *,
    user_id: str = "U0ALICE",
    trigger_id: str | None = None,
) -> JSON:
    """A submit of ``view`` (as stored by the fake) with ``state.values`` = ``values``."""
    submitted = {**copy.deepcopy(view), "state": {"values": copy.deepcopy(values)}}
    team_id = view.get("team_id", "T111")
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "fake"},
        "user": _user(user_id, team_id),
        "api_app_id": view.get("app_id", "A111"),
        "token": "verification_token",
        "trigger_id": trigger_id or new_trigger_id(),
        "view": submitted,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def form_body(payload: JSON) -> str:
    """The interactivity transport: ``payload=<urlencoded JSON>``."""
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def slash_command_payload(
    text: str,
    *,
    command: str = "/hitl",
    user_id: str = "U0ALICE",
    channel_id: str = "C0APPROVALS",
    team_id: str = "T111",
    trigger_id: str | None = None,
    response_base: str | None = None,
) -> dict[str, str]:
    """Slash command fields (the Socket Mode ``slash_commands`` payload)."""
    return {
        "token": "verification_token",
        "team_id": team_id,
        "team_domain": "fake",
        "channel_id": channel_id,
        "channel_name": channel_id.lower(),
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A111",
        "is_enterprise_install": "false",
        "response_url": _response_url("commands", channel_id, "-", user_id, response_base),
        "trigger_id": trigger_id or new_trigger_id(),
    }


def slash_command_body(text: str, **fields: Any) -> str:
    """The same fields urlencoded, as Slack POSTs them in HTTP mode (``fields``: as
    :func:`slash_command_payload` takes them)."""
    return urllib.parse.urlencode(slash_command_payload(text, **fields))


def app_home_opened_body(
    user_id: str,
    *,
    team_id: str = "T111",
    tab: str = "home",
    view: JSON | None = None,
    bot_user_id: str = "U0BOT",
) -> JSON:
    """An ``event_callback`` for ``app_home_opened`` (``view``: the last published one, if any)."""
    event: JSON = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": "D" + user_id[1:],
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }
    if view is not None:
        event["view"] = view
    return {
        "token": "verification_token",
        "team_id": team_id,
        "api_app_id": "A111",
        "event": event,
        "type": "event_callback",
        "event_id": "Ev" + secrets.token_hex(5).upper(),
        "event_time": int(time.time()),
        "is_ext_shared_channel": False,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
    }


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request-signing headers for ``body`` (v0 HMAC-SHA256)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    if signature is None:  # only without a secret
        raise ValueError("no signing secret to sign with")
    return {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": ts}


def post_signed(
    url: str,
    body: str,
    *,
    secret: str,
    content_type: str,
    timestamp: int | None = None,
    timeout: float = 10.0,
) -> tuple[int, str]:
    """POST a signed request like Slack does; returns (status, body) without raising on 4xx/5xx."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url[:100]!r}")
    headers = {"Content-Type": content_type, **sign(secret, body, timestamp)}
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")  # noqa: S310 (http(s) only, checked above)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


async def async_post_signed(
    url: str, body: str, *, secret: str, content_type: str, timestamp: int | None = None
) -> tuple[int, str]:
    """``post_signed`` for async tests whose app runs in the test's own event loop."""
    headers = {"Content-Type": content_type, **sign(secret, body, timestamp)}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body.encode(), headers=headers) as response,
    ):
        return response.status, await response.text()
