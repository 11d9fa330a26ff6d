"""Asking a human a question: ``ask`` blocks until the answer, ``submit_question`` returns at once.

Mixins of :class:`~hitl_slack.HITLClient` and :class:`~hitl_slack.AsyncHITLClient`: a question
is a request of kind ``question`` (:class:`~hitl_slack.models.QuestionRequest`), stored, routed,
posted, audited and exported like an approval; only how it is answered differs. Its outcome is
an :class:`~hitl_slack.answers.Answer`::

    a = hitl.ask("Which region should I deploy to?", options=["eu-west-1", "us-east-1"])
    a = hitl.ask("Pick the tables to drop", options=tables, multiple=True)
    a = hitl.ask("What should the subject line say?")              # free text
    a = hitl.ask("Shipping details", schema=ShippingForm)          # a form; answer: a ShippingForm
    if a.answered:
        use(a.answer)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ValidationError

from hitl_slack.answers import Answer, answer_of
from hitl_slack.errors import InvalidRequest
from hitl_slack.forms import Form, form_of
from hitl_slack.jsonvalues import validation_message
from hitl_slack.lifecycle.store import AsyncStore, Store
from hitl_slack.models import QuestionRequest

if TYPE_CHECKING:
    from hitl_slack.agent.async_client import AsyncHITLClient
    from hitl_slack.agent.client import HITLClient

__all__ = ["Asking", "AsyncAsking", "AsyncQuestionTicket", "QuestionTicket", "build_question"]


def _model_of(schema: Any) -> type[BaseModel] | None:
    return schema if isinstance(schema, type) and issubclass(schema, BaseModel) else None


def build_question(
    question: str,
    *,
    options: Sequence[Any] | None = None,
    multiple: bool = False,
    schema: Any = None,
    **fields: Any,
) -> QuestionRequest:
    """Validate a question's arguments; nothing is written.

    Args:
        question: what is asked (the message's header, at most 500 characters; longer
            context goes in ``details``).
        options: the choices: strings, or ``{"value": ..., "label": ...}`` (at most 100; up to
            5 single choices are buttons, more a menu).
        multiple: several options may be chosen.
        schema: a form: a pydantic model class or a JSON Schema dict of flat fields
            (:mod:`hitl_slack.forms`).
        **fields: as for approvals: ``details``, ``agent``, ``risk``, ``tags``, ``route``,
            ``channel``, ``timeout``, ``idempotency_key``, ``payload`` (context shown).

    Raises:
        InvalidRequest: an argument, or a field of the schema, is invalid (named).
    """
    if "action" in fields:
        raise InvalidRequest(
            "invalid question: action: a question's action is always 'question' (route "
            'questions with match = { kind = "question" })',
            [("action", "not settable")],
        )
    form: Form | None = form_of(schema) if schema is not None else None
    data: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    data["options"] = () if options is None else options  # strings or options: validated
    try:
        return QuestionRequest(summary=question, multiple=multiple, form=form, **data)
    except ValidationError as exc:
        raise validation_message(exc, "question") from None


@dataclass(frozen=True)
class QuestionTicket:
    """A submitted question: wait for its answer later, or check on it."""

    client: HITLClient
    request_id: str
    model: type[BaseModel] | None = None

    def wait(self, timeout: float | None = None) -> Answer[Any]:
        """Block until it is answered, declined, expired or cancelled (see
        :meth:`HITLClient.wait` for ``timeout`` and the errors)."""
        return answer_of(self.client.wait(self.request_id, timeout), self.model)

    def poll(self) -> Answer[Any] | None:
        """The answer if one stands, else None (one read, no waiting)."""
        decision = self.client.get(self.request_id).decision
        return None if decision is None else answer_of(decision, self.model)


@dataclass(frozen=True)
class AsyncQuestionTicket:
    """A submitted question, for :class:`~hitl_slack.AsyncHITLClient`."""

    client: AsyncHITLClient
    request_id: str
    model: type[BaseModel] | None = None

    async def wait(self, timeout: float | None = None) -> Answer[Any]:
        """See :meth:`QuestionTicket.wait`."""
        return answer_of(await self.client.wait(self.request_id, timeout), self.model)

    async def poll(self) -> Answer[Any] | None:
        """See :meth:`QuestionTicket.poll`."""
        decision = (await self.client.get(self.request_id)).decision
        return None if decision is None else answer_of(decision, self.model)


class Asking:
    """``ask`` and ``submit_question`` for :class:`~hitl_slack.HITLClient`."""

    store: Store

    def _after_submit(self) -> None:
        raise NotImplementedError  # HITLClient's

    def ask(
        self,
        question: str,
        *,
        options: Sequence[Any] | None = None,
        multiple: bool = False,
        schema: Any = None,
        **fields: Any,
    ) -> Answer[Any]:
        """Ask a human and block until answered, declined, expired or cancelled.

        Arguments as :func:`build_question`. Returns the :class:`~hitl_slack.answers.Answer`:
        ``answer`` is the text, the chosen value(s), or the form (an instance of ``schema``
        when it is a pydantic model).

        Raises:
            InvalidRequest: an argument or a schema field is invalid (named).
            StoreUnavailable: Redis is unreachable.
        """
        ticket = self.submit_question(
            question, options=options, multiple=multiple, schema=schema, **fields
        )
        return ticket.wait()

    def submit_question(
        self,
        question: str,
        *,
        options: Sequence[Any] | None = None,
        multiple: bool = False,
        schema: Any = None,
        **fields: Any,
    ) -> QuestionTicket:
        """Queue a question and return at once; arguments as :meth:`ask`."""
        request = build_question(
            question, options=options, multiple=multiple, schema=schema, **fields
        )
        state, _ = self.store.create(request)
        self._after_submit()
        return QuestionTicket(cast("HITLClient", self), state.request.id, _model_of(schema))


class AsyncAsking:
    """``ask`` and ``submit_question`` for :class:`~hitl_slack.AsyncHITLClient`."""

    store: AsyncStore

    async def _after_submit(self) -> None:
        raise NotImplementedError  # AsyncHITLClient's

    async def ask(
        self,
        question: str,
        *,
        options: Sequence[Any] | None = None,
        multiple: bool = False,
        schema: Any = None,
        **fields: Any,
    ) -> Answer[Any]:
        """See :meth:`Asking.ask`."""
        ticket = await self.submit_question(
            question, options=options, multiple=multiple, schema=schema, **fields
        )
        return await ticket.wait()

    async def submit_question(
        self,
        question: str,
        *,
        options: Sequence[Any] | None = None,
        multiple: bool = False,
        schema: Any = None,
        **fields: Any,
    ) -> AsyncQuestionTicket:
        """See :meth:`Asking.submit_question`."""
        request = build_question(
            question, options=options, multiple=multiple, schema=schema, **fields
        )
        state, _ = await self.store.create(request)
        await self._after_submit()
        client = cast("AsyncHITLClient", self)
        return AsyncQuestionTicket(client, state.request.id, _model_of(schema))
