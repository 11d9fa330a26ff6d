"""The fake Slack's Socket Mode side: the WebSocket a real ``SocketModeClient`` connects to,
and what a test does with it (send an envelope and wait for its ack, ask for a reconnect).

A mixin of :class:`fakeslack.FakeSlack`: its ``apps.connections.open`` hands out the ticket this
side checks. Socket Mode is the tests' alone: the playground's bot runs in HTTP mode.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
import uuid

from aiohttp import WSMsgType, web

from hitl_slack.localslack.records import JSON


class FakeSocketMode:
    """Socket Mode connections and envelopes (see ``FakeSlack``)."""

    app_id: str
    socket_connections: int
    _cond: threading.Condition
    _loop: asyncio.AbstractEventLoop | None
    _tickets: set[str]
    _sockets: list[web.WebSocketResponse]
    _acks: dict[str, JSON]
    _port: int

    def _m_apps_connections_open(self, p: JSON) -> JSON:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return {
            "ok": True,
            "url": f"ws://127.0.0.1:{self._port}/link/?ticket={ticket}&app_id={self.app_id}",
        }

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self._tickets:
            return web.Response(status=401, text="unknown ticket: call apps.connections.open")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "fake"},
                "connection_info": {"app_id": self.app_id},
            }
        )
        with self._cond:
            self._sockets.append(ws)
            self.socket_connections += 1
            self._cond.notify_all()
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(frame.data)
                except ValueError:
                    data = {"unparsable": frame.data}
                with self._cond:
                    if "envelope_id" in data:
                        self._acks[data["envelope_id"]] = data
                    self._cond.notify_all()
        finally:
            with self._cond:
                if ws in self._sockets:
                    self._sockets.remove(ws)
                self._cond.notify_all()
        return ws

    # -- the test's side -----------------------------------------------------------------------
    def socket_connected(self, timeout: float = 5.0) -> bool:
        """Wait until a Socket Mode client is connected and has been sent ``hello``."""
        with self._cond:
            return self._cond.wait_for(lambda: bool(self._sockets), timeout)

    def _send_frame(self, frame: JSON, timeout: float) -> web.WebSocketResponse:
        if not self.socket_connected(timeout):
            raise TimeoutError(f"no Socket Mode client connected within {timeout}s")
        assert self._loop is not None
        with self._cond:
            ws = self._sockets[-1]
        asyncio.run_coroutine_threadsafe(ws.send_json(frame), self._loop).result(timeout)
        return ws

    def send_envelope(
        self,
        type: str,
        payload: JSON,
        *,
        timeout: float = 5.0,
        accepts_response_payload: bool | None = None,
    ) -> JSON:
        """Send an envelope to the newest client and block until it is acked; return the ack."""
        deadline = time.monotonic() + timeout
        if accepts_response_payload is None:
            accepts_response_payload = type == "slash_commands" or (
                type == "interactive"
                and (payload.get("type") in ("view_submission", "block_suggestion"))
            )
        envelope_id = str(uuid.uuid4())
        frame: JSON = {
            "envelope_id": envelope_id,
            "type": type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if type == "events_api":
            frame.update(retry_attempt=0, retry_reason="")
        self._send_frame(frame, timeout)
        with self._cond:
            left = max(0.0, deadline - time.monotonic())
            if not self._cond.wait_for(lambda: envelope_id in self._acks, left):
                raise TimeoutError(f"envelope {envelope_id} ({type}) not acked within {timeout}s")
            return copy.deepcopy(self._acks[envelope_id])

    async def async_send_envelope(
        self,
        type: str,
        payload: JSON,
        *,
        timeout: float = 5.0,
        accepts_response_payload: bool | None = None,
    ) -> JSON:
        return await asyncio.to_thread(
            self.send_envelope,
            type,
            payload,
            timeout=timeout,
            accepts_response_payload=accepts_response_payload,
        )

    async def async_socket_connected(self, timeout: float = 5.0) -> bool:
        return await asyncio.to_thread(self.socket_connected, timeout)

    def send_disconnect(self, reason: str = "refresh_requested", timeout: float = 5.0) -> None:
        """Ask the newest client to reconnect; it stops counting as connected."""
        ws = self._send_frame(
            {
                "type": "disconnect",
                "reason": reason,
                "num_connections": 1,
                "debug_info": {"host": "fake"},
                "connection_info": {"app_id": self.app_id},
            },
            timeout,
        )
        with self._cond:
            if ws in self._sockets:
                self._sockets.remove(ws)
