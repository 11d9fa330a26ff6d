"""``hitl-slack``: the service and operator commands.

Usage::

    hitl-slack serve [--socket | --http] [--port N] [--host ADDR]
    hitl-slack dev [--port N] [--reset]
    hitl-slack up
    hitl-slack mcp [--http [--host ADDR] [--port N]] [--agent NAME] [--tag TAG]... [--route NAME]
                   [--min-risk RISK] [--requested-by WHO] [--hold SECONDS] [--ask MODE]
    hitl-slack mcp-gateway [--routes-file GATES.toml] -- COMMAND [ARG...]
    hitl-slack audit show REQUEST_ID
    hitl-slack audit export [--since ISO] [--format jsonl|csv] [--dataset]
    hitl-slack audit verify [--expect-head HASH] [--allow-empty]
    hitl-slack mcp-gateway [--routes-file GATES.toml] -- COMMAND [ARG...]

Exit codes: see :data:`EXIT_CODES`; ``audit verify`` has its own (its ``--help``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from typing import NoReturn

import redis
from redis.exceptions import RedisError

from hitl_slack import __version__
from hitl_slack.audit import show as audit_show
from hitl_slack.audit import trail as audit
from hitl_slack.audit.chain import UnreadableEntry
from hitl_slack.errors import ConfigError, StoreUnavailable
from hitl_slack.keys import Keys
from hitl_slack.lifecycle.store import sync_redis
from hitl_slack.logs import configure, get_logger
from hitl_slack.mcp import command as mcp_command
from hitl_slack.settings import Settings, load_settings

__all__ = ["EXIT_CODES", "main"]

#: What each exit status means (printed by ``--help``).
EXIT_CODES = (
    (0, "ok (serve: stopped by SIGTERM or SIGINT)"),
    (
        2,
        "bad usage or configuration: a setting, a port, a refused Slack token, the routes file, "
        "mcp without the [mcp] extra or (--http) without HITL_MCP_TOKEN",
    ),
    (3, "Redis unreachable"),
    (4, "no such request (audit show)"),
    (5, "an audit entry is not an audit event (audit show, export): run audit verify"),
    (130, "serve stopped at once by a second SIGINT (143: a second SIGTERM)"),
)
#: ``audit verify`` has its own codes: ``hitl-slack audit verify --help``.

#: Environment variables read (also from a .env file in the working directory).
ENVIRONMENT = (
    ("REDIS_URL", "redis://localhost:6379/0", "where requests, decisions and the audit live"),
    ("HITL_KEY_PREFIX", "hitl", "namespace of every key; agents and bot must agree"),
    ("SLACK_BOT_TOKEN", "", "xoxb-... bot token (both modes)"),
    ("SLACK_APP_TOKEN", "", "xapp-... app-level token: Socket Mode"),
    ("SLACK_SIGNING_SECRET", "", "signing secret: HTTP mode"),
    ("SLACK_API_URL", "https://slack.com/api/", "Web API base URL"),
    ("HITL_DEFAULT_CHANNEL", "", "channel id for requests no route matches"),
    ("HITL_ROUTES_FILE", "", "TOML routes file"),
    ("PORT", "3000", "HTTP mode port"),
    ("HITL_DEV_PORT", "3030", "port of the local playground (dev)"),
    ("HITL_HEALTH_PORT", "PORT", "port of /healthz, /readyz, /metrics (both modes)"),
    ("HITL_CONSUMER_NAME", "host name", "this replica's name in the consumer groups"),
    ("HITL_CLAIM_IDLE", "60", "seconds before another replica takes over stalled work"),
    ("HITL_SLACK_TIMEOUT", "10", "seconds per Slack Web API call"),
    ("HITL_REDIS_CONNECT_TIMEOUT", "2", "seconds before Redis counts as unreachable"),
    ("HITL_REDIS_MIN_REPLICAS", "0", "replicas that must confirm a decision (WAIT) first"),
    ("HITL_REDIS_REPLICA_TIMEOUT", "1", "seconds that WAIT may take"),
    ("HITL_RETENTION", "604800", "seconds a request is kept after its deadline"),
    ("HITL_QUEUE_MAXLEN", "100000", "cap of the queue and outcome streams"),
    ("HITL_AUDIT_MAXLEN", "1000000", "audit entries kept"),
    ("LOG_LEVEL", "INFO", "DEBUG | INFO | WARNING | ERROR (tracebacks of outages at DEBUG)"),
    ("LOG_FORMAT", "json", "json | console"),
)


def _epilog() -> str:
    width = max(len(name) for name, _, _ in ENVIRONMENT)
    env = "\n".join(
        f"  {name:<{width}}  {what}" + (f" (default {default})" if default else "")
        for name, default, what in ENVIRONMENT
    )
    codes = "\n".join(f"  {code}  {what}" for code, what in EXIT_CODES)
    return f"environment variables (or .env):\n{env}\n\nexit codes:\n{codes}"


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def port_number(text: str) -> int:
    """A TCP port, 1-65535."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return value


def _version() -> str:
    try:
        return metadata.version("hitl-slack")
    except metadata.PackageNotFoundError:  # running from a source tree
        return __version__


def iso_time(text: str) -> datetime:
    """An ISO date or time; UTC unless it names its offset."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


VERIFY_EXIT_CODES = """exit codes of verify:
  0   chain intact (an unsealed tail is reported on its own line)
  1   nothing to verify under the prefix (no entries, no head, no requests): wrong
      HITL_KEY_PREFIX or REDIS_URL? (0 with --allow-empty)
  2   bad usage or configuration        3   Redis unreachable
  5   chain broken: an entry edited, removed or reordered, or a checkpoint that differs
  6   entries exist but the sealed head or its checkpoints are missing, or the head
      is not the newest checkpoint (rewritten)
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
    parser = _Parser(
        prog="hitl-slack",
        description="Human-in-the-loop approvals for AI "
        "agents, in Slack: the service and operator commands.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hitl-slack {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    serve = sub.add_parser(
        "serve",
        help="run the Slack bot, the relay and the scheduler",
        description="Run the Slack bot, the relay and the scheduler until SIGTERM or SIGINT.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument("--socket", action="store_true", help="Socket Mode (needs SLACK_APP_TOKEN)")
    mode.add_argument("--http", action="store_true", help="HTTP mode on $PORT at /slack/events")
    serve.add_argument("--port", type=port_number, help="HTTP port (default $PORT or 3000)")
    serve.add_argument("--host", default="0.0.0.0", help="HTTP bind address")  # noqa: S104
    dev = sub.add_parser(
        "dev",
        help="the local playground: the bot, Redis and a Slack-like page, no Slack needed",
        description="Run the real bot against a local Slack-like page on 127.0.0.1 (no Slack "
        "workspace), with the Redis at REDIS_URL or a throwaway redis-server, under the key "
        "prefix hitl-dev (unless HITL_KEY_PREFIX is set), until SIGINT or SIGTERM.",
    )
    dev.add_argument("--port", type=port_number, help="page port (default $HITL_DEV_PORT or 3030)")
    dev.add_argument(
        "--reset",
        action="store_true",
        help="delete every key under the playground's prefix at start (earlier runs' requests)",
    )
    sub.add_parser(
        "up",
        help="serve Slack if Slack tokens are configured, else the local playground (make run)",
        description="With Slack tokens in the environment or .env: hitl-slack serve. Without "
        "any: hitl-slack dev. Says which it chose.",
    )
    mcp_command.add_parser(sub, port=port_number)
    _audit_parser(sub.add_parser("audit", help="read, export and verify the audit trail"))
    _mcp_gateway_parser(sub)
    return parser


MCP_INSTALL = "hitl-slack mcp-gateway needs the MCP SDK: pip install 'hitl-slack[mcp]'"


def _mcp_gateway_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    gateway = sub.add_parser(
        "mcp-gateway",
        help="an MCP server in front of another one, holding gated tool calls for Slack approval",
        description="Spawn the MCP server COMMAND (stdio) and serve its tools, unchanged, on "
        "stdio; hold every call a gate rule fits until it is approved in Slack (rejected, "
        "expired or cancelled: a tool error, the call is not made). Without a rules file every "
        "call is held. Elicitations of the wrapped server are asked in Slack. Environment: "
        "REDIS_URL, HITL_KEY_PREFIX, HITL_MCP_HOLD (seconds a call is held before the client "
        "is told to retry, default 50), HITL_MCP_AGENT, HITL_MCP_REQUESTED_BY (a Slack user id or "
        "email: on whose behalf), HITL_MCP_TAGS, HITL_MCP_ROUTE.",
        epilog="exit codes: 0 the client disconnected; 1 the wrapped server failed to start or "
        "to complete the MCP handshake; 2 bad usage, settings or rules file, or no MCP SDK",
    )
    gateway.add_argument(
        "--routes-file",
        "--gates-file",
        dest="gates_file",
        metavar="GATES.toml",
        help="the gate rules (TOML): which calls are held, and how they are asked",
    )
    gateway.add_argument(
        "upstream", nargs="+", metavar="COMMAND", help="the wrapped MCP server, after --"
    )


def _mcp_gateway(args: argparse.Namespace) -> int:
    """``mcp-gateway``: exit 2 with how to install the SDK when ``mcp`` is missing."""
    try:
        from hitl_slack.mcpgateway.main import main as gateway_main
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] not in ("mcp", "mcp_types"):
            raise
        print(MCP_INSTALL, file=sys.stderr)
        return 2
    return gateway_main(args.gates_file, args.upstream)


def _audit_parser(aud: argparse.ArgumentParser) -> None:
    asub = aud.add_subparsers(dest="audit_command", required=True)
    show = asub.add_parser("show", help="every event of one request")
    show.add_argument("request_id")
    export = asub.add_parser("export", help="events as JSON lines or CSV")
    export.add_argument("--since", type=iso_time, help="ISO date or time (UTC unless given)")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument(
        "--dataset",
        action="store_true",
        help="one row per decided request: original and final payload, outcome",
    )
    verify = asub.add_parser(
        "verify",
        help="check the hash chain against its checkpoints",
        description="Recompute the audit hash chain from the entries and check it against every "
        "checkpoint the bot sealed. Entries after the sealed head are reported as an unsealed "
        "tail (not a failure). Keep the printed head outside Redis and pass it back with "
        "--expect-head: whoever can write Redis could rewrite the whole chain.",
        epilog=VERIFY_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument(
        "--expect-head",
        metavar="HASH",
        type=_hex64,
        help="a head printed by an earlier verify; it must still be in the chain",
    )
    verify.add_argument(
        "--allow-empty",
        action="store_true",
        help="no entries, no head and no requests is ok (a new deployment)",
    )


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    r = sync_redis(
        settings.redis_url.get_secret_value(), connect_timeout=settings.hitl_redis_connect_timeout
    )
    keys = Keys(settings.hitl_key_prefix)
    if args.audit_command == "verify":
        return _verify(r, keys, settings.hitl_audit_maxlen, args)
    if args.audit_command == "show":
        return audit_show.show(r, keys, args.request_id)
    return _export(r, keys, args)


def _verify(r: redis.Redis, keys: Keys, maxlen: int, args: argparse.Namespace) -> int:
    result = audit.verify(
        audit.load_trail(r, keys),
        maxlen=maxlen,
        expect_head=args.expect_head,
        allow_empty=args.allow_empty,
    )
    print(result.describe(), file=sys.stdout if result.ok else sys.stderr)
    if result.ok and result.head:
        # Keep this outside Redis: whoever can write Redis could rewrite the whole chain.
        print(f"head: {result.head}")
    return int(result.verdict)


def _export(r: redis.Redis, keys: Keys, args: argparse.Namespace) -> int:
    entries = audit.read_entries(r, keys, since=args.since)
    if args.dataset:
        rows = audit.dataset_rows(entries)
        lines = (
            audit.dataset_csv(rows)
            if args.format == "csv"
            else (json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)
        )
    elif args.format == "csv":
        lines = audit.to_csv(entries)
    else:
        lines = (line + "\n" for line in audit.to_jsonl(entries))
    try:
        for line in lines:
            sys.stdout.write(line)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head` closed the pipe: not an error
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _up(settings: Settings) -> argparse.Namespace:
    """``up``: the arguments of ``serve`` with Slack tokens, else of ``dev``; says which."""
    if settings.has_slack_tokens:
        print("Slack tokens are configured: serving your workspace (hitl-slack serve)", flush=True)
        return _parser().parse_args(["serve"])
    print(
        "no Slack tokens are configured: starting the local playground (hitl-slack dev); "
        "the README's 'Connect a real workspace' says how to serve Slack",
        flush=True,
    )
    return _parser().parse_args(["dev"])


def _dev(settings: Settings, port: int, *, reset: bool = False) -> int:
    from hitl_slack.playground.dev import run_dev  # the page and its server load only here

    try:
        return run_dev(settings, port=port, say=lambda line: print(line, flush=True), reset=reset)
    except StoreUnavailable as exc:  # no Redis and none to start: one line saying how to get one
        print(str(exc), file=sys.stderr)
        return 3


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hitl-slack`` command."""
    args = _parser().parse_args(argv)
    if args.command == "mcp-gateway":  # an agent-side process: no bot settings
        return _mcp_gateway(args)
    try:
        if args.command == "mcp":
            return mcp_command.run(args)
        settings = load_settings()
        configure(settings.log_level, settings.log_format)
        if args.command == "up":
            args = _up(settings)
        if args.command == "serve":
            from hitl_slack.service.serve import serve  # Bolt and aiohttp load only for the service

            return serve(
                settings, socket=args.socket, http=args.http, port=args.port, host=args.host
            )
        if args.command == "dev":
            return _dev(settings, args.port or settings.hitl_dev_port, reset=args.reset)
        return _audit(settings, args)
    except UnreadableEntry as exc:
        print(
            f"{exc} (hitl-slack audit verify tells whether the trail was tampered with)",
            file=sys.stderr,
        )
        return 5
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except (StoreUnavailable, RedisError) as exc:
        # redis-py's messages name host and port, never the password of the URL.
        print(f"Redis unavailable: {type(exc).__name__}: {exc}", file=sys.stderr)
        get_logger("hitl_slack.cli").debug("redis_unavailable", exc_info=True)
        return 3


if __name__ == "__main__":
    sys.exit(main())
