"""Votes: one approver's approval or rejection of a request that several people decide.

A request whose policy needs a quorum (or has no veto) is not decided by a click: each click
is a :class:`~hitl_slack.models.Vote` bound to the digest of the arguments the voter saw,
recorded by :data:`VOTE` in one atomic step (the vote, its ``voted`` audit entry, and a
refresh of the message queued on the outcomes stream, unless this vote decides: the
decision's update shows it, one ``chat.update`` fewer). The decision itself is written by
the one step every decision goes through (:func:`hitl_slack.lifecycle.transition.decide`),
by whichever voter's step found the votes enough: the first such step wins, and every caller
names the same voters (the first ones, in order), so 20 people clicking at once on a 2-of-N
request give one approval by exactly two.

Once the votes for the current arguments are enough, the step records nothing more
(``reached``): no vote, and no edit, can slip in between the last vote and the decision.
An edit (``payload``) makes the edited arguments the ones voted on: votes for the earlier
ones stay in the record and no longer count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from hitl_slack.errors import AlreadyDecided, RequestNotFound
from hitl_slack.lifecycle.auditing import audit_args
from hitl_slack.lifecycle.commands import AUDIT_LUA, NOW_LUA, STANDING_LUA, Eval, Gen, LuaScript
from hitl_slack.lifecycle.config import StoreConfig
from hitl_slack.lifecycle.transition import expire, standing_decision
from hitl_slack.models import AuditEvent, RequestState, Vote, digest

__all__ = ["VOTE", "Tally", "vote"]

VOTE = LuaScript(
    "vote",
    """
-- KEYS[1] = request hash       KEYS[2] = outcomes stream    KEYS[3] = audit stream
-- ARGV[1] = request id         ARGV[2] = the vote (JSON)    ARGV[3] = the voter
-- ARGV[4] = "approve" | "reject"
-- ARGV[5] = the digest of the arguments the voter saw ("" = whatever is current)
-- ARGV[6] = the digest of the request's own arguments
-- ARGV[7] = edited arguments (JSON, "" for none)             ARGV[8] = their digest
-- ARGV[9] = quorum             ARGV[10] = rejections that reject (0: never)
-- ARGV[11] = outcomes MAXLEN   ARGV[12..] = audit entries (canonical JSON bodies)
-- returns {"voted", approvals, rejections} | {"reached", approvals, rejections}
--       | {"already", what} | {"stale", current digest} | {"not_found"}
--       | {"decided", status, decision JSON, unconfirmed} | {"past_deadline"}
"""
    + AUDIT_LUA
    + NOW_LUA
    + STANDING_LUA
    + """
local stop = standing(KEYS[1])
if stop then return stop end
if now_ms() >= tonumber(redis.call('HGET', KEYS[1], 'deadline')) then
  return {'past_deadline'}
end
local stored = redis.call('HGET', KEYS[1], 'votes') or '[]'
local votes = cjson.decode(stored)
local function count(current)
  local seen, approvals, rejections, mine = {}, 0, 0, false
  for _, v in ipairs(votes) do
    if v.args_digest == current and not seen[v.who] then
      seen[v.who] = v.what
      if v.what == 'approve' then approvals = approvals + 1 else rejections = rejections + 1 end
    end
  end
  return approvals, rejections, seen[ARGV[3]]
end
local current = redis.call('HGET', KEYS[1], 'proposed_digest') or ARGV[6]
local approvals, rejections, mine = count(current)
local quorum, reject_at = tonumber(ARGV[9]), tonumber(ARGV[10])
if approvals >= quorum or (reject_at > 0 and rejections >= reject_at) then
  return {'reached', approvals, rejections}
end
local edit = ARGV[7] ~= '' and ARGV[8] ~= current
if edit then
  current = ARGV[8]
  approvals, rejections, mine = count(current)
elseif ARGV[5] ~= '' and ARGV[5] ~= current then
  return {'stale', current}
end
if mine then return {'already', mine} end
if edit then
  redis.call('HSET', KEYS[1], 'proposed', ARGV[7], 'proposed_digest', ARGV[8])
end
if stored == '[]' then
  stored = '[' .. ARGV[2] .. ']'
else
  stored = string.sub(stored, 1, -2) .. ',' .. ARGV[2] .. ']'
end
redis.call('HSET', KEYS[1], 'votes', stored)
if ARGV[4] == 'approve' then approvals = approvals + 1 else rejections = rejections + 1 end
audit_all(KEYS[3], 12)
-- The message shows the vote, unless it is the one that decides: the decision's update will.
if approvals < quorum and not (reject_at > 0 and rejections >= reject_at) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[11], '*', 'id', ARGV[1], 'status', 'pending')
end
return {'voted', approvals, rejections}
""",
)


@dataclass(frozen=True, slots=True)
class Tally:
    """What a vote found.

    Attributes:
        outcome: ``voted`` (recorded), ``reached`` (nothing recorded: the votes standing are
            enough and the decision is due), ``already`` (this person voted on these
            arguments), ``stale`` (the arguments changed since the voter saw them).
        approvals: counted approvals for the current arguments, this vote included.
        rejections: counted rejections, likewise.
        already: the earlier vote's ``what``, for ``already``.
    """

    outcome: Literal["voted", "reached", "already", "stale"]
    approvals: int = 0
    rejections: int = 0
    already: str | None = None


def _reply(request_id: str, result: list[Any]) -> Tally | None:
    """Every return code of VOTE but ``decided``: a tally, None for past the deadline; the
    rest raise."""
    code = result[0]
    if code in ("voted", "reached"):
        return Tally(code, int(result[1]), int(result[2]))
    if code == "already":
        return Tally("already", already=str(result[1]))
    if code == "stale":
        return Tally("stale")
    if code == "past_deadline":
        return None
    if code == "not_found":
        raise RequestNotFound(request_id)
    raise ValueError(f"vote: unexpected reply {result!r}")


def vote(
    cfg: StoreConfig,
    state: RequestState,
    cast: Vote,
    *,
    seen: str | None,
    payload: dict[str, Any] | None = None,
    reject_at: int = 0,
) -> Gen[Tally]:
    """Record ``cast`` on a pending request decided by several people.

    Args:
        state: the request as read before (its policy gives the quorum).
        cast: the vote; its ``args_digest`` is the digest of the arguments it is for (the
            edited ones, with ``payload``).
        seen: the digest of the arguments the voter was shown (None: the current ones).
        payload: edited arguments: the vote is for them, and they become the ones voted on.
        reject_at: counted rejections that reject (0: never, e.g. before the last escalation).

    Raises:
        AlreadyDecided: a decision stands (the deadline passed: the request is expired first).
        RequestNotFound: no such request.
    """
    policy = state.policy
    assert policy is not None, "a request is voted on once posted"
    rid = state.request.id
    event = AuditEvent(
        event="voted",
        request_id=rid,
        actor=f"slack:{cast.who}",
        args_digest=cast.args_digest,
        reason=cast.reason,
        data={"vote": cast.what, "quorum": policy.quorum}
        | ({"payload": payload} if payload is not None else {}),
        policy_digest=policy.digest(),
    )
    k = cfg.keys
    result = yield Eval(
        VOTE,
        (k.request(rid), k.outcomes, k.audit),
        (
            rid,
            cast.model_dump_json(),
            cast.who,
            cast.what,
            seen or "",
            digest(state.request.payload),
            "" if payload is None else _json(payload),
            cast.args_digest if payload is not None else "",
            policy.quorum,
            reject_at,
            cfg.queue_maxlen,
            *audit_args([event]),
        ),
    )
    if result[0] == "decided":
        raise AlreadyDecided((yield from standing_decision(cfg, result)))
    tally = _reply(rid, result)
    if tally is None:
        expired = yield from expire(cfg, rid)
        raise AlreadyDecided(expired)
    return tally


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
