"""What a person does on the playground's page, sent to the bot exactly as Slack sends it.

A click becomes a signed ``block_actions`` payload built from the message the bot really posted,
a modal's submit a ``view_submission``, a ``/hitl`` line a slash command, opening the Home tab an
``app_home_opened`` event (:mod:`hitl_slack.localslack.payloads`). The bot's immediate answers
are then applied as Slack applies them: a submission's ``response_action`` (errors shown under
their inputs, the modal updated, pushed or closed), a command's reply shown to its sender only.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from hitl_slack.localslack import payloads
from hitl_slack.localslack.records import JSON
from hitl_slack.localslack.server import LocalSlack

__all__ = ["Interactions", "Sent", "Unknown"]

_FORM = "application/x-www-form-urlencoded"


class Unknown(LookupError):
    """What the page named is not there (any more): a message, a view, a button."""


@dataclass(frozen=True)
class Sent:
    """The bot's HTTP answer to one request."""

    status: int
    body: str

    def json(self) -> Any:
        """The body as JSON, or None when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body.strip() else None
        except ValueError:
            return None


class Interactions:
    """Sends people's actions to the bot at ``bot_url``, signed with ``secret``."""

    def __init__(self, slack: LocalSlack, *, bot_url: str, secret: str) -> None:
        self.slack = slack
        self.bot_url = bot_url
        self._secret = secret
        self._http: aiohttp.ClientSession | None = None
        #: ``time.monotonic()`` of the last click or submit sent (the agent panel's latency).
        self.last_sent: float | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def _send(self, body: str, content_type: str) -> Sent:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        headers = {"Content-Type": content_type, **payloads.sign(self._secret, body)}
        try:
            async with self._http.post(self.bot_url, data=body.encode(), headers=headers) as r:
                return Sent(r.status, await r.text())
        except (aiohttp.ClientError, TimeoutError) as exc:  # the bot is down or stuck
            return Sent(502, f"the bot did not answer ({type(exc).__name__})")

    async def _interactive(self, payload: JSON) -> Sent:
        self.last_sent = time.monotonic()
        return await self._send(payloads.form_body(payload), _FORM)

    # -- clicks ------------------------------------------------------------------------------
    async def click(self, user: str, container: JSON, action_id: str) -> Sent:
        """A click of ``user`` on the button ``action_id`` of a message, an ephemeral reply, a
        modal or the Home tab (``container["type"]``: message, ephemeral, view, home).

        Raises:
            Unknown: no such message, view or button.
        """
        trigger = self.slack.trigger_for(user)
        kind = container.get("type")
        try:
            if kind == "message":
                message = self.slack.message(str(container["channel"]), str(container["ts"]))
                body = payloads.block_actions_body(
                    message, action_id, user_id=user, trigger_id=trigger
                )
            elif kind == "ephemeral":
                body = self._ephemeral_click(user, container, action_id, trigger)
            elif kind in ("view", "home"):
                view = self._view(user, container)
                body = payloads.button_click_body(
                    view.get("blocks"), action_id, user_id=user, view=view, trigger_id=trigger
                )
            else:
                raise Unknown(f"container type {kind!r}: message, ephemeral, view or home")
        except (KeyError, LookupError) as exc:
            raise Unknown(str(exc)) from None
        return await self._interactive(body)

    def _ephemeral_click(self, user: str, container: JSON, action_id: str, trigger: str) -> JSON:
        channel, ts = str(container.get("channel")), str(container.get("ts"))
        found = [
            e for e in self.slack.ephemerals(user) if (e.channel, e.message_ts) == (channel, ts)
        ]
        if not found:
            raise Unknown(f"no ephemeral message {ts} for {user} in {channel}")
        return payloads.button_click_body(
            found[-1].blocks,
            action_id,
            user_id=user,
            channel_id=channel,
            message_ts=ts,
            trigger_id=trigger,
            response_base=self.slack.base_url,
        )

    def _view(self, user: str, container: JSON) -> JSON:
        if container.get("type") == "home":
            published = self.slack.published_views(user)
            if not published:
                raise Unknown(f"no App Home published for {user}")
            return published[-1]
        return self.view_of(user, str(container.get("view_id")))

    def view_of(self, user: str, view_id: str) -> JSON:
        """The modal ``view_id`` open on ``user``'s screen.

        Raises:
            Unknown: it is not open there.
        """
        for view in self.slack.views_of(user):
            if view["id"] == view_id:
                return view
        raise Unknown(f"no modal {view_id} open for {user}")

    # -- modals ------------------------------------------------------------------------------
    async def submit(self, user: str, view_id: str, values: dict[str, Any]) -> dict[str, str]:
        """Submit a modal with ``values`` (``view.state.values``); the errors the bot showed
        under its inputs (empty: the modal was accepted and closed, updated or pushed)."""
        view = self.view_of(user, view_id)
        body = payloads.view_submission_body(
            view, values, user_id=user, trigger_id=self.slack.trigger_for(user)
        )
        sent = await self._interactive(body)
        answer = sent.json() if sent.status == 200 else None
        action = answer.get("response_action") if isinstance(answer, dict) else None
        if sent.status != 200:
            return {"": f"the bot answered HTTP {sent.status}"}
        if action == "errors":
            errors = answer.get("errors") if isinstance(answer, dict) else None
            return {str(k): str(v) for k, v in (errors or {}).items()}
        if action == "update" and isinstance(answer, dict) and isinstance(answer.get("view"), dict):
            self.slack.replace_view(view_id, answer["view"])
        elif action == "clear":
            for open_view in self.slack.views_of(user):
                self.slack.replace_view(open_view["id"], None)
        elif action != "push":  # a push opens on top (the bot's views.push); else: closed
            self.slack.replace_view(view_id, None)
        return {}

    def close(self, user: str, view_id: str) -> None:
        """Cancel, or the close button, on a modal: it closes (the bot asks for no
        ``view_closed``)."""
        self.slack.replace_view(self.view_of(user, view_id)["id"], None)

    # -- commands and the Home tab ------------------------------------------------------------
    async def command(self, user: str, channel: str, command: str, text: str) -> Sent:
        """A slash command; its immediate reply is shown to ``user`` only (or posted, when
        ``response_type`` is ``in_channel``)."""
        body = payloads.slash_command_body(
            text,
            command=command,
            user_id=user,
            channel_id=channel,
            trigger_id=self.slack.trigger_for(user),
            response_base=self.slack.base_url,
        )
        sent = await self._send(body, _FORM)
        answer = sent.json()
        if sent.status == 200 and isinstance(answer, dict):
            text_, blocks = answer.get("text"), answer.get("blocks")
            if text_ or blocks:
                self.slack.add_ephemeral(channel, user, text_, blocks)
        elif sent.status == 200 and sent.body.strip():
            self.slack.add_ephemeral(channel, user, sent.body, None)
        return sent

    async def open_home(self, user: str) -> Sent:
        """``user`` opens the app's Home tab."""
        published = self.slack.published_views(user)
        event = payloads.app_home_opened_body(
            user,
            team_id=self.slack.team_id,
            view=published[-1] if published else None,
            bot_user_id=self.slack.bot_user_id,
        )
        return await self._send(json.dumps(event), "application/json")
