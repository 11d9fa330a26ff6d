"""How each request kind shows in Slack, by the kind's name (the ``kind`` field).

Pure, like :mod:`hitl_slack.slack.layout`. The Slack half of :mod:`hitl_slack.kinds`: a kind
registered there (what it means) gets its face registered here (how it is shown and read back),
so the pure core never imports Slack code. :mod:`hitl_slack.slack.blocks` and
:mod:`hitl_slack.slack.views` dispatch through :func:`of`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypeVar

from slack_sdk.models.views import View

from hitl_slack import kinds
from hitl_slack.errors import InvalidRequest
from hitl_slack.models import RequestBase, RequestState
from hitl_slack.slack.approval import APPROVAL
from hitl_slack.slack.editing import FormValues
from hitl_slack.slack.layout import Message
from hitl_slack.slack.question import QUESTION

__all__ = ["FormValues", "SlackKind", "of", "register", "unregister"]

R = TypeVar("R", bound=RequestBase, contravariant=True)


class SlackKind(Protocol[R]):
    """What one kind looks like in Slack and how a person's input is read back."""

    @property
    def name(self) -> str:
        """The kind's name, as registered in :mod:`hitl_slack.kinds`."""
        ...

    def message(self, state: RequestState, *, note: str | None, now: datetime) -> Message:
        """The message asking for a decision (with the kind's buttons)."""
        ...

    def decided_message(self, state: RequestState, *, note: str | None) -> Message:
        """The message once decided: no buttons, the outcome."""
        ...

    def modal(self, request: R, *, private_metadata: str) -> View:
        """The modal the kind's form button opens (an approval's Edit)."""
        ...

    def parse_submission(
        self, request: R, values: FormValues
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The modal's submission as a payload, and errors by block id (empty: valid)."""
        ...


_FACES: dict[str, SlackKind[Any]] = {}


def register(face: SlackKind[Any]) -> None:
    """Add a kind's Slack face.

    Raises:
        InvalidRequest: no kind of that name is registered in :mod:`hitl_slack.kinds`.
        ValueError: another face is registered under the name.
    """
    kinds.get(face.name)
    if _FACES.get(face.name, face) is not face:
        raise ValueError(f"request kind {face.name!r} already has a Slack face")
    _FACES[face.name] = face


def unregister(name: str) -> None:
    """Remove a kind's face (tests and reloaded plug-ins)."""
    _FACES.pop(name, None)


def of(request: RequestBase) -> SlackKind[Any]:
    """The Slack face of ``request``'s kind.

    Raises:
        InvalidRequest: the kind has no face in this version of the bot.
    """
    face = _FACES.get(request.kind)
    if face is None:
        raise InvalidRequest(
            f"request {request.id} is of kind {request.kind!r}, which this bot cannot show",
            [("kind", "no Slack face")],
        )
    return face


register(APPROVAL)
register(QUESTION)
