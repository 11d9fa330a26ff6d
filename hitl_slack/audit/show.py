"""``hitl-slack audit show``: every event of one request, then the policy that judged it.

Each event is one line (time, event, actor, reason, the digest of the arguments, the entry
and the digest of the policy that judged it, flagged when it is not the posted one); then the
policy each ``posted`` entry carries: route, channel, approvers, reason rule, deadline cap, and
the policy keys that differ from their defaults (a plain policy prints as it always did).
"""

from __future__ import annotations

import contextlib
import json
import sys

import redis
from pydantic import ValidationError

from hitl_slack.audit import trail as audit
from hitl_slack.keys import Keys
from hitl_slack.models import AuditEvent, lenient
from hitl_slack.policy import Policy, legacy

__all__ = ["show"]


#: Events a decision policy judges: each names the policy's digest (``policy=-``: none).
_JUDGED = frozenset(
    {
        "approved",
        "rejected",
        "edited",
        "expired",
        "cancelled",
        "answered",
        "unauthorized",
        "voted",
        "reminded",
        "escalated",
    }
)


def show(r: redis.Redis, keys: Keys, request_id: str) -> int:
    """``audit show``: every event of one request, then the policy its decisions were judged by."""
    events = [
        (entry.id, event)
        for entry in audit.read_entries(r, keys)
        if (event := entry.event()).request_id == request_id
    ]
    if not events:
        print(f"no audit events for {request_id}", file=sys.stderr)
        return 4
    posted = {e.policy_digest for _, e in events if e.event == "posted" and e.policy_digest}
    for entry_id, event in events:
        reason = f" reason={event.reason!r}" if event.reason else ""
        line = (
            f"{event.ts.isoformat()} {event.event:<12} {event.actor}{reason} "
            f"digest={event.args_digest or '-'} entry={entry_id}"
        )
        if event.policy_digest:
            line += f" policy={event.policy_digest[:12]}"
            line += "" if event.policy_digest in posted else " (not the posted policy)"
        elif event.event in _JUDGED:
            line += " policy=-"
        print(line)
    for entry_id, event in events:
        if event.event == "posted":
            print("\n".join(_policy_lines(entry_id, event)))
    return 0


def _policy_lines(entry_id: str, posted: AuditEvent) -> list[str]:
    """The policy a ``posted`` entry carries (or, before snapshots, its message record held)."""
    data = posted.data
    policy: Policy | None = None
    if "policy" in data:
        head = f"policy {posted.policy_digest} (posted, entry {entry_id}):"
        with contextlib.suppress(ValidationError):  # a newer bot's policy this one cannot read
            policy = lenient(Policy, json.dumps(data["policy"]))
    else:
        head = f"policy recorded with the message, before snapshots (entry {entry_id}):"
        policy = legacy(json.dumps(data), str(data.get("channel", "")))
    if policy is None:
        return [f"no readable policy recorded (entry {entry_id})"]
    cap = policy.timeout_cap
    return [
        head,
        f"  route:         {policy.route or '(none matched: the defaults)'}",
        f"  channel:       {policy.channel}",
        f"  approvers:     {', '.join(policy.approvers) or 'anyone in the channel'}",
        f"  reject reason: {'required' if policy.reject_reason_required else 'optional'}",
        f"  deadline cap:  {'none' if cap is None else f'{cap:g} s'}",
        *_policy_more(policy),
    ]


def _policy_more(policy: Policy) -> list[str]:
    """The lines of the policy keys that differ from their defaults (several people, the
    clock, confirmation), so a plain policy prints as it always did."""
    default = Policy(channel=policy.channel)
    shown = {
        "requested by": policy.requested_by,
        "quorum": policy.quorum,
        "veto": policy.veto,
        "self approval": policy.self_approval,
        "reminders": ", ".join(o.label() for o in policy.reminders),
        "escalate": "; ".join(
            f"after {lvl.after:g} s: {', '.join(lvl.approvers) or '-'}"
            + (f" in {lvl.channel}" if lvl.channel else "")
            for lvl in policy.escalate
        ),
        "on timeout": policy.on_timeout,
        "notify": ", ".join(policy.notify),
        "confirm": policy.confirm.value if policy.confirm else "off",
        "typed confirm": policy.typed_confirm.value if policy.typed_confirm else "off",
    }
    fields: tuple[str, ...] = (
        "requested_by",
        "quorum",
        "veto",
        "self_approval",
        "reminders",
        "escalate",
        "on_timeout",
        "notify",
        "confirm",
        "typed_confirm",
    )
    return [
        f"  {label + ':':<15}{value}"
        for (label, value), name in zip(shown.items(), fields, strict=True)
        if getattr(policy, name) != getattr(default, name)
    ]
