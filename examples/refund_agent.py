"""A tiny agent that asks a human before refunding, then acts on the decision.

Run the bot (``make run``), then: ``python examples/refund_agent.py ACME 420``.
Needs REDIS_URL / HITL_KEY_PREFIX to match the bot's (defaults: local Redis, prefix ``hitl``).
"""

from __future__ import annotations

import sys

from hitl_slack import ApprovalDenied, HITLClient

hitl = HITLClient.from_env()


@hitl.require_approval(
    risk="high",
    tags=["finance"],
    timeout=600,
    summary=lambda customer, amount: f"Refund ${amount} to {customer}",
)
def refund_payment(customer: str, amount: int) -> str:
    # The real side effect goes here; it runs only once a human approved,
    # with the arguments as they approved them (possibly edited).
    return f"refunded ${amount} to {customer}"


def main() -> int:
    customer, amount = sys.argv[1], int(sys.argv[2])
    try:
        print(refund_payment(customer, amount))
    except ApprovalDenied as denied:
        print(f"not refunded: {denied.decision.status} ({denied.reason or 'no reason given'})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
