"""``hitl-slack``: the service and operator commands.

::

    hitl-slack serve [--socket | --http] [--port N]
    hitl-slack audit show REQUEST_ID
    hitl-slack audit export [--since ISO] [--format jsonl|csv] [--dataset]
    hitl-slack audit verify [--expect-head HASH] [--allow-empty]

Exit codes: 0 ok, 2 bad usage or configuration, 3 Redis unreachable, 4 no such request
(``audit show``); ``audit verify`` has its own (``hitl-slack audit verify --help``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from redis.exceptions import RedisError

from hitl_slack import audit
from hitl_slack.errors import ConfigError, StoreUnavailable
from hitl_slack.keys import Keys
from hitl_slack.logs import configure, get_logger
from hitl_slack.settings import Settings, load_settings
from hitl_slack.store import sync_redis

__all__ = ["main"]


def iso_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


VERIFY_EXIT_CODES = """exit codes of verify:
  0   chain intact (an unsealed tail is reported on its own line)
  1   nothing to verify under the prefix (no entries, no head, no requests): wrong
      HITL_KEY_PREFIX or REDIS_URL? (0 with --allow-empty)
  2   bad usage or configuration        3   Redis unreachable
  5   chain broken: an entry edited, removed or reordered, or a checkpoint that differs
  6   entries exist but the sealed head or its checkpoints are missing
  7   tail truncated: entries after the newest kept one were sealed, then deleted
  8   the trail is empty but requests or a sealed head exist under the prefix
  9   --expect-head is not in the chain, which is kept whole: entries removed or rewritten
  10  --expect-head is not in the kept chain, which retention has trimmed
"""


def _hex64(text: str) -> str:
    value = text.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise argparse.ArgumentTypeError("must be a 64-character hex hash printed by verify")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hitl-slack", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the Slack bot, the relay and the scheduler")
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument("--socket", action="store_true", help="Socket Mode (needs SLACK_APP_TOKEN)")
    mode.add_argument("--http", action="store_true", help="HTTP mode on $PORT at /slack/events")
    serve.add_argument("--port", type=int, help="HTTP port (default $PORT or 3000)")
    serve.add_argument("--host", default="0.0.0.0", help="HTTP bind address")  # noqa: S104

    aud = sub.add_parser("audit", help="read, export and verify the audit trail")
    asub = aud.add_subparsers(dest="audit_command", required=True)
    show = asub.add_parser("show", help="every event of one request")
    show.add_argument("request_id")
    export = asub.add_parser("export", help="events as JSON lines or CSV")
    export.add_argument("--since", type=iso_time, help="ISO date or time (UTC unless given)")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--dataset", action="store_true",
                        help="one row per decided request: original and final payload, outcome")
    verify = asub.add_parser(
        "verify", help="check the hash chain against its checkpoints",
        description="Recompute the audit hash chain from the entries and check it against every "
        "checkpoint the bot sealed. Entries after the sealed head are reported as an unsealed "
        "tail (not a failure). Keep the printed head outside Redis and pass it back with "
        "--expect-head: whoever can write Redis could rewrite the whole chain.",
        epilog=VERIFY_EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    verify.add_argument("--expect-head", metavar="HASH", type=_hex64,
                        help="a head printed by an earlier verify; it must still be in the chain")
    verify.add_argument("--allow-empty", action="store_true",
                        help="no entries, no head and no requests is ok (a new deployment)")
    return parser


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    r = sync_redis(settings.redis_url.get_secret_value(),
                   connect_timeout=settings.hitl_redis_connect_timeout)
    keys = Keys(settings.hitl_key_prefix)
    out = sys.stdout
    if args.audit_command == "verify":
        result = audit.verify(audit.load_trail(r, keys), maxlen=settings.hitl_audit_maxlen,
                              expect_head=args.expect_head, allow_empty=args.allow_empty)
        print(result.describe(), file=out if result.ok else sys.stderr)
        if result.ok and result.head:
            # Keep this outside Redis: whoever can write Redis could rewrite the whole chain.
            print(f"head: {result.head}", file=out)
        return int(result.verdict)
    if args.audit_command == "show":
        found = 0
        for entry in audit.read_entries(r, keys):
            event = entry.event()
            if event.request_id == args.request_id:
                found += 1
                reason = f" reason={event.reason!r}" if event.reason else ""
                print(f"{event.ts.isoformat()} {event.event:<12} {event.actor}{reason} "
                      f"digest={event.args_digest or '-'} entry={entry.id}", file=out)
        if not found:
            print(f"no audit events for {args.request_id}", file=sys.stderr)
            return 4
        return 0
    entries = audit.read_entries(r, keys, since=args.since)
    if args.dataset:
        rows = audit.dataset_rows(entries)
        lines = audit.dataset_csv(rows) if args.format == "csv" else (
            json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)
    elif args.format == "csv":
        lines = audit.to_csv(entries)
    else:
        lines = (line + "\n" for line in audit.to_jsonl(entries))
    try:
        for line in lines:
            out.write(line)
        out.flush()
    except BrokenPipeError:  # `| head` closed the pipe: not an error
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hitl-slack`` command."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        configure(settings.log_level, settings.log_format)
        if args.command == "serve":
            from hitl_slack.serve import serve  # Bolt and aiohttp load only for the service

            return serve(settings, socket=args.socket, http=args.http, port=args.port,
                         host=args.host)
        return _audit(settings, args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except (StoreUnavailable, RedisError) as exc:
        # redis-py's messages name host and port, never the password of the URL.
        print(f"Redis unavailable: {type(exc).__name__}: {exc}", file=sys.stderr)
        get_logger("hitl_slack.cli").debug("redis unavailable", exc_info=True)
        return 3


if __name__ == "__main__":
    sys.exit(main())
