"""The agent's side of the playground: test requests sent with the real client, and what the
agent receives.

Each request from the page's form goes through :class:`~hitl_slack.AsyncHITLClient` exactly as
an agent's would (``submit``, then ``wait``), so the panel shows the agent's own view: waiting,
then the decision as it arrives, and how long after the last click or submit it arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from hitl_slack.agent.async_client import AsyncHITLClient
from hitl_slack.errors import HITLError
from hitl_slack.logs import get_logger
from hitl_slack.models import Decision, Status

__all__ = ["AgentPanel", "QuestionForm", "RequestForm", "Sent"]

log = get_logger(__name__)

#: Requests the panel remembers (the oldest are forgotten first; their waits go on).
KEPT = 50


class RequestForm(BaseModel):
    """The page's "send a test request" form: its shape only; the client checks the values
    as it checks any agent's (its :class:`~hitl_slack.errors.InvalidRequest` names the field)."""

    model_config = ConfigDict(extra="forbid")

    summary: str
    action: str
    payload: Any = None
    risk: str = "medium"
    timeout: float = 600
    details: str | None = None
    requested_by: str | None = None


class QuestionForm(BaseModel):
    """The page's "ask a question" form (checked by the client, like any agent's question)."""

    model_config = ConfigDict(extra="forbid")

    question: str
    options: list[str] = []
    multiple: bool = False
    timeout: float = 600

    def as_request(self) -> RequestForm:
        """How the panel lists it: the question as its summary, its action ``question``."""
        return RequestForm(summary=self.question, action="question", timeout=self.timeout)


@dataclass
class Sent:
    """One test request and what its agent has received so far."""

    request_id: str
    form: RequestForm
    submitted_at: float = field(default_factory=time.time)
    submitted_mono: float = field(default_factory=time.monotonic)
    decision: Decision | None = None
    error: str | None = None
    latency_ms: float | None = None

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        if self.decision is None:
            return "waiting"
        if self.form.action == "question" and self.decision.status is Status.REJECTED:
            return "declined"  # a question is declined, not rejected
        return str(self.decision.status)

    def as_json(self) -> dict[str, Any]:
        d = self.decision
        return {
            "request_id": self.request_id,
            "summary": self.form.summary,
            "action": self.form.action,
            "risk": self.form.risk,
            "status": self.status,
            "submitted_at": self.submitted_at,
            "decision": None if d is None else d.model_dump(mode="json"),
            "answer": d.payload.get("answer")
            if d is not None and d.status is Status.ANSWERED
            else None,
            "latency_ms": self.latency_ms,
            "error": self.error,
        }


class AgentPanel:
    """Test requests of the page: submitted and awaited with the real async client."""

    def __init__(
        self,
        client: AsyncHITLClient,
        *,
        changed: Callable[[], None],
        last_sent: Callable[[], float | None],
    ) -> None:
        self.client = client
        self._changed = changed
        self._last_sent = last_sent
        self._sent: list[Sent] = []
        self._waits: set[asyncio.Task[None]] = set()

    def entries(self) -> list[dict[str, Any]]:
        """Newest first."""
        return [s.as_json() for s in reversed(self._sent)]

    async def submit(self, form: RequestForm) -> str:
        """Submit ``form`` as an agent would and start waiting for its decision.

        Raises:
            InvalidRequest: the client refused it (the message says which field and why).
            StoreUnavailable: Redis did not answer.
        """
        ticket = await self.client.submit(
            form.summary,
            form.action,
            form.payload,
            risk=form.risk,
            timeout=form.timeout,
            details=form.details or None,
            requested_by=form.requested_by or None,
        )
        return self._track(Sent(ticket.request_id, form))

    async def ask(self, form: QuestionForm) -> str:
        """Ask ``form``'s question as an agent would and start waiting for its answer.

        Raises:
            InvalidRequest: the client refused it (the message says which field and why).
            StoreUnavailable: Redis did not answer.
        """
        ticket = await self.client.submit_question(
            form.question,
            options=[o.strip() for o in form.options if o.strip()] or None,
            multiple=form.multiple,
            timeout=form.timeout,
        )
        return self._track(Sent(ticket.request_id, form.as_request()))

    def _track(self, sent: Sent) -> str:
        self._sent = [*self._sent, sent][-KEPT:]
        task = asyncio.create_task(self._wait(sent), name=f"agent-wait-{sent.request_id}")
        self._waits.add(task)
        task.add_done_callback(self._waits.discard)
        self._changed()
        return sent.request_id

    async def _wait(self, sent: Sent) -> None:
        try:
            sent.decision = await self.client.wait(sent.request_id)
        except HITLError as exc:
            sent.error = f"{type(exc).__name__}: {exc}"
        else:
            last = self._last_sent()
            if last is not None and last > sent.submitted_mono:
                sent.latency_ms = round((time.monotonic() - last) * 1000, 1)
        log.info("agent_received", request_id=sent.request_id, status=sent.status)
        self._changed()

    async def aclose(self) -> None:
        """Stop waiting (the requests stay in Redis, decided or not)."""
        for task in list(self._waits):
            task.cancel()
        for task in list(self._waits):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.aclose()
