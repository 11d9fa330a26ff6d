"""The local Slack's Web API methods: what each call does to the workspace, and its answer.

``_m_<method>`` (dots as underscores) answers ``params`` as Slack would, with Slack's error codes
for unknown channels and messages; a method without one answers ``{"ok": true}``. Called by
:class:`~hitl_slack.localslack.http.HttpSide` with the workspace's lock held.

People: any ``U…`` id is a user (``users.info`` synthesizes one); ``users`` holds overrides
merged over it, and a user's email is ``users[uid]["profile"]["email"]`` (what
``users.lookupByEmail`` finds, and ``users.info`` shows). Direct messages: posting to a user id,
or to the ``D…`` channel ``conversations.open`` gives, posts in ``D`` + the id's tail.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import time
from typing import Any

from hitl_slack.localslack.records import CHANNEL_RE, JSON, USER_RE, Ephemeral, PostedMessage, err

__all__ = ["WebApi"]


class WebApi:
    """The Web API methods the bot calls (see ``LocalSlack``)."""

    bot_user_id: str
    bot_id: str
    app_id: str
    team_id: str
    known_channels: set[str] | None
    channels_not_found: set[str]
    not_in_channel: set[str]
    usergroups: dict[str, list[str]]
    users: dict[str, JSON]
    channel_names: dict[str, str]
    permalink_base: str | None
    _port: int
    _seq: itertools.count[int]
    _last_ts: int
    _messages: dict[tuple[str, str], PostedMessage]
    _ephemerals: list[Ephemeral]
    _views: dict[str, JSON]
    _view_users: dict[str, str]
    _trigger_users: dict[str, str]
    _published: dict[str, list[JSON]]
    _changed: Any  # LocalSlack's

    @property
    def base_url(self) -> str:
        """Where the workspace is served (its hooks and, under ``api/``, its Web API)."""
        return f"http://127.0.0.1:{self._port}/"

    def _next_ts(self) -> str:
        # Slack's ts is the Unix time of the post (conversations.history filters on it), unique
        # per channel: the wall clock in microseconds, kept strictly increasing.
        micros = self._last_ts = max(int(time.time() * 1_000_000), self._last_ts + 100)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _channel_error(self, channel: str | None) -> str | None:
        if not channel or channel in self.channels_not_found:
            return "channel_not_found"
        known = self.known_channels
        valid = channel in known if known is not None else bool(CHANNEL_RE.match(channel))
        if not valid:
            return "channel_not_found"
        return "not_in_channel" if channel in self.not_in_channel else None

    @staticmethod
    def _dm(channel: Any) -> Any:
        """Posting to a user id posts to the app's DM with that user."""
        return "D" + channel[1:] if isinstance(channel, str) and USER_RE.match(channel) else channel

    def _post(self, channel: str, p: JSON) -> PostedMessage:
        metadata = p.get("metadata") if isinstance(p.get("metadata"), dict) else None
        msg = PostedMessage(
            channel,
            self._next_ts(),
            p.get("text"),
            p.get("blocks"),
            thread_ts=p.get("thread_ts"),
            attachments=p.get("attachments"),
            metadata=metadata,
            bot_user_id=self.bot_user_id,
            bot_id=self.bot_id,
            app_id=self.app_id,
            team_id=self.team_id,
            base_url=self.base_url,
        )
        self._messages[(channel, msg.ts)] = msg
        return msg

    def _m_auth_test(self, p: JSON) -> JSON:
        return {
            "ok": True,
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "hitl",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, p: JSON) -> JSON:
        channel = self._dm(p.get("channel"))
        if error := self._channel_error(channel):
            return err(error)
        if not (p.get("text") or p.get("blocks") or p.get("attachments")):
            return err("no_text")
        msg = self._post(channel, p)
        return {"ok": True, "channel": channel, "ts": msg.ts, "message": msg.as_payload()}

    def _m_chat_update(self, p: JSON) -> JSON:
        channel, ts = p.get("channel"), p.get("ts")
        msg = self._messages.get((channel, ts))  # type: ignore[arg-type]
        if msg is None:
            return err(self._channel_error(channel) or "message_not_found")
        for key in ("text", "blocks", "attachments", "metadata"):  # omitted: kept as they were
            if key in p:
                setattr(msg, key, (p[key] or None) if key == "metadata" else p[key])
        msg.updates += 1
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": msg.text or "",
            "message": msg.as_payload(),
        }

    def _m_chat_delete(self, p: JSON) -> JSON:
        if self._messages.pop((p.get("channel"), p.get("ts")), None) is None:  # type: ignore[arg-type]
            return err("message_not_found")
        return {"ok": True, "channel": p["channel"], "ts": p["ts"]}

    def _m_chat_postEphemeral(self, p: JSON) -> JSON:
        channel = self._dm(p.get("channel"))
        if error := self._channel_error(channel):
            return err(error)
        if not p.get("user"):
            return err("user_not_in_channel")
        ts = self._next_ts()
        self._ephemerals.append(Ephemeral(channel, p["user"], p.get("text"), p.get("blocks"), ts))
        return {"ok": True, "message_ts": ts}

    def _m_chat_getPermalink(self, p: JSON) -> JSON:
        channel, ts = str(p.get("channel", "")), str(p.get("message_ts", ""))
        if (channel, ts) not in self._messages:
            return err("message_not_found")
        base = self.permalink_base or "https://fake.slack.com/"
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"{base}archives/{channel}/p{ts.replace('.', '')}",
        }

    def _m_conversations_history(self, p: JSON) -> JSON:
        """Newest first, ``oldest`` / ``latest`` exclusive, paged by ``limit`` and ``cursor``."""
        channel = p.get("channel")
        if error := self._channel_error(channel):
            return err(error)
        oldest, latest = float(p.get("oldest") or 0), float(p.get("latest") or "inf")
        limit = max(1, min(int(p.get("limit") or 100), 999))
        start = int(p.get("cursor") or 0)
        metadata = str(p.get("include_all_metadata", "")).lower() in ("1", "true")
        found = sorted(
            (
                m
                for m in self._messages.values()
                if m.channel == channel and m.thread_ts is None and oldest < float(m.ts) < latest
            ),
            key=lambda m: float(m.ts),
            reverse=True,
        )
        page = found[start : start + limit]
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": [m.as_payload(metadata=metadata) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _m_conversations_open(self, p: JSON) -> JSON:
        first = str(p.get("users", "")).split(",")[0]
        if not first:
            return err("users_list_not_supplied")
        return {"ok": True, "channel": {"id": self._dm(first)}}

    def _m_conversations_info(self, p: JSON) -> JSON:
        channel = p.get("channel")
        if (error := self._channel_error(channel)) and error != "not_in_channel":
            return err(error)
        assert isinstance(channel, str)
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": self.channel_names.get(channel, channel.lower()),
                "is_channel": channel[0] == "C",
                "is_private": channel[0] == "G",
                "is_im": channel[0] == "D",
                "is_member": channel not in self.not_in_channel,
            },
        }

    def _user(self, user: str) -> JSON:
        """A user object: a synthesized user with ``users[user]`` merged over it (its
        ``profile`` merged over the synthesized profile)."""
        override = self.users.get(user, {})
        base = {
            "id": user,
            "team_id": self.team_id,
            "name": user.lower(),
            "real_name": f"User {user}",
            "deleted": False,
            "is_bot": False,
            "tz": "UTC",
        }
        profile = {"display_name": user.lower(), "real_name": f"User {user}"}
        return {**base, **override, "profile": {**profile, **override.get("profile", {})}}

    def _m_users_info(self, p: JSON) -> JSON:
        user = str(p.get("user", ""))
        if user not in self.users and not USER_RE.match(user):
            return err("user_not_found")
        return {"ok": True, "user": self._user(user)}

    def _m_users_lookupByEmail(self, p: JSON) -> JSON:
        """The user whose ``users[uid]["profile"]["email"]`` is ``email`` (case-insensitive,
        as Slack's); nobody else has an email here."""
        email = str(p.get("email", "")).strip().lower()
        if not email:
            return err("invalid_arguments")
        for uid, override in self.users.items():
            if str(override.get("profile", {}).get("email", "")).lower() == email:
                return {"ok": True, "user": self._user(uid)}
        return err("users_not_found")

    def _m_usergroups_users_list(self, p: JSON) -> JSON:
        members = self.usergroups.get(str(p.get("usergroup")))
        return err("no_such_subteam") if members is None else {"ok": True, "users": list(members)}

    def _stored_view(
        self,
        view: JSON,
        *,
        view_id: str | None = None,
        root: str | None = None,
        previous: str | None = None,
    ) -> JSON:
        view_id = view_id or f"V{next(self._seq):08d}"
        defaults = {
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "state": {"values": {}},
            "clear_on_close": False,
            "notify_on_close": False,
        }
        return {
            **defaults,
            **copy.deepcopy(view),
            "id": view_id,
            "team_id": self.team_id,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
            "app_installed_team_id": self.team_id,
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "root_view_id": root or view_id,
            "previous_view_id": previous,
        }

    def _open_view(self, p: JSON, previous: str | None = None) -> JSON:
        if not p.get("trigger_id") or not isinstance(p.get("view"), dict):
            return err("invalid_arguments")
        root = self._views[previous]["root_view_id"] if previous in self._views else None
        stored = self._stored_view(p["view"], root=root, previous=previous)
        self._views[stored["id"]] = stored
        user = self._trigger_users.pop(str(p["trigger_id"]), None) or (
            self._view_users.get(previous or "")
        )
        if user:  # whose screen it opens on: the person whose click made the trigger
            self._view_users[stored["id"]] = user
        return {"ok": True, "view": copy.deepcopy(stored)}

    def _m_views_open(self, p: JSON) -> JSON:
        return self._open_view(p)

    def _m_views_push(self, p: JSON) -> JSON:
        return self._open_view(p, previous=next(reversed(self._views), None))

    def _m_views_update(self, p: JSON) -> JSON:
        external = p.get("external_id")
        current = self._views.get(str(p.get("view_id"))) or next(
            (v for v in self._views.values() if external and v["external_id"] == external), None
        )
        if current is None or not isinstance(p.get("view"), dict):
            return err("not_found" if current is None else "invalid_arguments")
        if p.get("hash") and p["hash"] != current["hash"]:
            return err("hash_conflict")
        stored = self._stored_view(
            p["view"],
            view_id=current["id"],
            root=current["root_view_id"],
            previous=current["previous_view_id"],
        )
        self._views[stored["id"]] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}

    def _m_views_publish(self, p: JSON) -> JSON:
        user, view = str(p.get("user_id", "")), p.get("view")
        if not USER_RE.match(user) or not isinstance(view, dict):
            return err("invalid_arguments")
        history = self._published.setdefault(user, [])
        if history and p.get("hash") and p["hash"] != history[-1]["hash"]:
            return err("hash_conflict")
        stored = self._stored_view(view, view_id=history[-1]["id"] if history else None)
        history.append(stored)
        return {"ok": True, "view": copy.deepcopy(stored)}
