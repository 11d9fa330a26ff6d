"""The registry of request kinds: a kind's name (the ``kind`` field) to what the kind means.

Pure: no Redis, no Slack. How a kind shows in Slack is the Slack edge's business, registered
under the same name in :mod:`hitl_slack.slack.kinds`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, NamedTuple, Protocol, TypeVar, cast

from pydantic import ValidationError

from hitl_slack.errors import InvalidRequest
from hitl_slack.jsonvalues import validation_message
from hitl_slack.models import AuditEvent, Request, Status
from hitl_slack.requests import RequestBase

__all__ = [
    "DATASET_FIELDS",
    "DEFAULT_KIND",
    "Kind",
    "Settled",
    "dataset_row",
    "get",
    "names",
    "of",
    "parse_request",
    "register",
    "unregister",
    "validate",
]

#: The kind of a request (or an audit entry) that names none: everything written before kinds.
DEFAULT_KIND: Final = "approval"

#: The columns of the feedback data set, the same for every kind (a kind leaves the ones that
#: mean nothing for it ``None``), so one file holds every decision.
DATASET_FIELDS: Final = (
    "request_id",
    "action",
    "agent",
    "summary",
    "original_payload",
    "final_payload",
    "edited",
    "decision",
    "reason",
    "decided_by",
    "decided_at",
    "votes",
)

R = TypeVar("R", bound=RequestBase)


class Settled(NamedTuple):
    """What a decision leaves the agent with.

    Attributes:
        payload: the value the agent acts on (an approval's arguments, as edited if they were).
        edited: whether a human changed it.
    """

    payload: dict[str, Any]
    edited: bool


class Kind(Protocol[R]):
    """What one kind of request means, apart from how it is shown.

    Implemented by a small class per kind (:class:`hitl_slack.kinds.approval.Approval`) and
    registered once with :func:`register`.
    """

    @property
    def name(self) -> str:
        """The kind's tag, the value of its requests' ``kind`` field."""
        ...

    @property
    def request(self) -> type[R]:
        """The request model: a :class:`~hitl_slack.requests.RequestBase` with this tag."""
        ...

    def settle(self, request: R, status: Status, payload: dict[str, Any] | None) -> Settled:
        """What a decision with ``status`` and the human's ``payload`` (None: none given) means."""
        ...

    def audit_data(self, request: R) -> dict[str, Any]:
        """What the ``created`` audit entry records of a request (the data set reads it back).

        Every kind but the default one includes ``"kind"``, so the trail says which it was.
        """
        ...

    def dataset_row(self, created: Mapping[str, Any], decided: AuditEvent) -> dict[str, Any]:
        """One data-set row (:data:`DATASET_FIELDS`) from the created entry's data and the
        decision's entry (``created`` is empty when the trail no longer holds it)."""
        ...


_KINDS: dict[str, Kind[Any]] = {}


def register(kind: Kind[Any]) -> None:
    """Add a kind: its requests are then parsed, validated, audited and exported through it.

    Raises:
        ValueError: another kind has the name, or the request model's tag is not the name.
    """
    field = kind.request.model_fields.get("kind")
    if field is None or field.default != kind.name:
        raise ValueError(f"{kind.request.__name__}.kind must default to {kind.name!r}")
    if _KINDS.get(kind.name, kind) is not kind:
        raise ValueError(f"request kind {kind.name!r} is already registered")
    _KINDS[kind.name] = kind


def unregister(name: str) -> None:
    """Remove a kind (tests and reloaded plug-ins); the built-in ones are better left alone."""
    _KINDS.pop(name, None)


def names() -> tuple[str, ...]:
    """The registered kinds' names, in the order they were registered."""
    return tuple(_KINDS)


def get(name: str) -> Kind[Any]:
    """The kind registered under ``name``.

    Raises:
        InvalidRequest: no such kind (a request written by a newer version, or a typo).
    """
    kind = _KINDS.get(name)
    if kind is None:
        known = ", ".join(repr(n) for n in _KINDS)
        raise InvalidRequest(
            f"unknown request kind {name!r} (known: {known})", [("kind", "unknown kind")]
        )
    return kind


def of(request: RequestBase) -> Kind[Any]:
    """The kind of ``request``."""
    return get(request.kind)


def _kind_of(data: Mapping[str, Any]) -> Kind[Any]:
    name = data.get("kind", DEFAULT_KIND)
    if not isinstance(name, str):
        raise InvalidRequest(
            f"request kind must be a string, not {type(name).__name__}",
            [("kind", "must be a string")],
        )
    return get(name)


def validate(value: Any) -> Request:
    """A request of any registered kind, validated by its kind's model (unknown fields refused).

    A request object of a registered kind is returned as it is. What :class:`RequestState`
    calls for its ``request``.

    Raises:
        InvalidRequest: an unknown kind (pydantic's errors propagate for the kind's model).
    """
    if isinstance(value, RequestBase):
        kind = of(value)
        if not isinstance(value, kind.request):
            raise InvalidRequest(f"a {type(value).__name__} is not a {kind.name!r} request")
        return cast("Request", value)  # Request names only the kinds shipped, not plug-ins
    if not isinstance(value, Mapping):
        raise InvalidRequest(f"a request must be an object, not {type(value).__name__}")
    return _kind_of(value).request.model_validate(value)  # type: ignore[no-any-return]


def parse_request(stored: str | Mapping[str, Any], what: str = "stored request") -> Request:
    """Read a request written by any version: dispatched on ``kind``, unknown fields dropped.

    Args:
        stored: the request's JSON (or its decoded object), as the store keeps it.
        what: names the request in an error, e.g. ``"stored request req_1"``.

    Raises:
        InvalidRequest: not JSON, an unknown kind, or invalid for its kind's model (each field
            and problem named).
    """
    try:
        data = json.loads(stored) if isinstance(stored, str) else stored
    except ValueError as exc:
        raise InvalidRequest(f"invalid {what}: not JSON ({exc})") from None
    if not isinstance(data, Mapping):
        raise InvalidRequest(f"invalid {what}: not a JSON object")
    model = _kind_of(data).request
    try:
        return model.model_validate(  # type: ignore[no-any-return]
            {k: v for k, v in data.items() if k in model.model_fields}
        )
    except ValidationError as exc:
        raise validation_message(exc, what) from None


def dataset_row(created: Mapping[str, Any], decided: AuditEvent) -> dict[str, Any]:
    """The data-set row of one decision, by the kind its ``created`` entry names.

    A kind this version does not know is written by the default kind: the shared columns
    (action, agent, summary, payloads, outcome) mean the same for every kind. A column a
    kind's row leaves out (one written before ``votes`` existed) is filled in: no votes.
    """
    kind = _KINDS.get(str(created.get("kind", DEFAULT_KIND))) or _KINDS[DEFAULT_KIND]
    row = kind.dataset_row(created, decided)
    return {field: row.get(field, [] if field == "votes" else None) for field in DATASET_FIELDS}
